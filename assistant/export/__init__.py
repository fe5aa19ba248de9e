"""Exported documents as bytes: plain text, Word (.docx) or PDF, with the practice's
letterhead and signature block.

Pure functions over the approved text and the practice profile; ``store.exports`` writes
the bytes into the exports folder. File names carry the kind and the date, never a
patient's name. Failures raise ``ExportError`` (an ``InputError``) with a plain message;
an empty text raises ``InputError``. No gradio, no torch.
"""

from __future__ import annotations

from pathlib import Path

from assistant.core.kinds import WORDS
from assistant.core.profile import PracticeProfile
from assistant.export.files import KIND_NAMES, file_stem
from assistant.export.layout import Layout, build_layout

TITLES = {words.short: words.title for words in WORDS.values()}
SUFFIXES = {"txt": ".txt", "docx": ".docx", "pdf": ".pdf"}

__all__ = ["KIND_NAMES", "SUFFIXES", "Layout", "build_layout", "document_bytes", "file_stem"]


def document_bytes(text: str, kind: str, fmt: str, profile: PracticeProfile | None = None,
                   fonts: list[Path] | None = None) -> bytes:
    """The document in format ``fmt`` (txt, docx or pdf). ``fonts``: TrueType files to use
    for a PDF instead of the ones found on this computer (mainly for tests)."""
    file_stem(kind)  # an unknown kind fails before anything is built
    layout = build_layout(text, profile)
    if fmt == "txt":
        return layout.plain_text().encode("utf-8")
    if fmt == "docx":
        from assistant.export.word import docx_bytes

        return docx_bytes(layout, TITLES[kind])
    if fmt == "pdf":
        from assistant.export.pdf import pdf_bytes

        return pdf_bytes(layout, TITLES[kind], fonts)
    raise ValueError(f"unknown export format {fmt!r}")
