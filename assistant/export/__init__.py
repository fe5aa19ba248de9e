"""Exporting an approved draft as plain text, Word (.docx) or PDF, with the
practice's letterhead and signature block.

Each ``export_*`` writes one new file into ``folder`` (the app's exports
folder) and returns its path. File names carry the kind and the date, never a
patient's name (``progress-note-2026-11-29.pdf``). Failures raise
``ExportError`` (an ``InputError``) with a plain message; an empty text raises
``InputError``. No gradio, no torch.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from assistant.core.profile import PracticeProfile
from assistant.export.files import KIND_NAMES, file_stem, write_export
from assistant.export.layout import Layout, build_layout

TITLES = {"note": "Progress note", "letter": "Prior authorization letter", "chat": "Document"}

__all__ = ["KIND_NAMES", "Layout", "build_layout", "export_docx", "export_pdf", "export_txt", "file_stem"]


def export_txt(text: str, folder: Path | str, kind: str, profile: PracticeProfile | None = None,
               today: dt.date | None = None) -> Path:
    """UTF-8 text: letterhead lines, the text, the signature block."""
    file_stem(kind, today)  # an unknown kind fails before anything is built
    layout = build_layout(text, profile)
    return write_export(layout.plain_text().encode("utf-8"), folder, kind, ".txt", today)


def export_docx(text: str, folder: Path | str, kind: str, profile: PracticeProfile | None = None,
                today: dt.date | None = None) -> Path:
    """A Word document: logo and letterhead at the top, the text, the signature block."""
    from assistant.export.word import docx_bytes

    file_stem(kind, today)
    layout = build_layout(text, profile)
    return write_export(docx_bytes(layout, TITLES[kind]), folder, kind, ".docx", today)


def export_pdf(text: str, folder: Path | str, kind: str, profile: PracticeProfile | None = None,
               today: dt.date | None = None, fonts: list[Path] | None = None) -> Path:
    """A PDF with the same content. ``fonts``: TrueType files to use instead of
    the ones found on this computer (mainly for tests)."""
    from assistant.export.pdf import pdf_bytes

    file_stem(kind, today)
    layout = build_layout(text, profile)
    return write_export(pdf_bytes(layout, TITLES[kind], fonts), folder, kind, ".pdf", today)
