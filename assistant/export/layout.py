"""What goes on an exported page, whatever the format: letterhead lines, the
approved text, the signature block and an optional logo. Built from the
practice profile; knows nothing about .docx or PDF."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.core.profile import PracticeProfile
from assistant.export.files import clean_for_export

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    text: str
    letterhead: list[str] = field(default_factory=list)
    signature: str = ""
    logo_path: str = ""  # a readable file, or ""
    practice_name: str = ""

    def body_paragraphs(self) -> list[str]:
        """The text cut at blank lines; single line breaks stay inside a paragraph."""
        return [block.strip("\n") for block in re.split(r"\n[ \t]*\n", self.text) if block.strip()]

    def plain_text(self) -> str:
        parts = ["\n".join(self.letterhead)] if self.letterhead else []
        parts.append(self.text.strip("\n"))
        if self.signature:
            parts.append(self.signature)
        return "\n\n".join(parts) + "\n"


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


def build_layout(text: str, profile: PracticeProfile | None = None) -> Layout:
    """Raises InputError when there is no text. The signature block is left out
    when the text already ends with it."""
    text = clean_for_export(text)
    if profile is None:
        return Layout(text)
    signature = clean_for_export(profile.signature_block).strip() if profile.signature_block.strip() else ""
    if signature and _squash(text).endswith(_squash(signature)):
        signature = ""
    logo = ""
    if profile.logo_path:
        path = Path(profile.logo_path).expanduser()
        if path.is_file() and os.access(path, os.R_OK):
            logo = str(path)
        else:
            log.warning("the practice logo file is missing or unreadable; exporting without it")
    letterhead = [clean_for_export(line) for line in profile.letterhead_lines() if line.strip()]
    return Layout(text, letterhead, signature, logo, profile.name)
