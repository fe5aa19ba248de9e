"""Writing approved drafts into the exports folder: one new file each, never replacing one.

The bytes come from ``assistant.export``; the file goes to a temporary file beside its
place, is synced, then linked under a free name (``progress-note-2026-11-29-2.pdf`` when
the first is taken), so a crash or a full disk never leaves half a file under a real name.
Any failure becomes ``ExportError`` with a plain message that says the text is still there.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from assistant.core.profile import PracticeProfile
from assistant.errors import ExportError
from assistant.export import SUFFIXES, document_bytes, file_stem
from assistant.store.files import MAX_COPIES, write_new

log = logging.getLogger(__name__)


def write_export(data: bytes, folder: Path | str, kind: str, suffix: str, today: dt.date | None = None) -> Path:
    """Write ``data`` as a new file in ``folder`` and return its path."""
    stem = file_stem(kind, today)
    try:
        path = write_new(folder, stem, suffix, data)
    except FileExistsError as exc:
        raise ExportError(f"There are already {MAX_COPIES} exports named {stem}{suffix} in that folder. "
                          "Move some of them elsewhere, then try again.") from exc
    except OSError as exc:
        log.error("export failed: %s (%s)", type(exc).__name__, exc.errno)
        raise ExportError(
            f"The file could not be saved ({exc.strerror or type(exc).__name__}). Check that the disk is not "
            f"full and that you may write to the folder {folder}, then try again. Your text is still on the screen."
        ) from exc
    log.info("exported a %s as %s (%d bytes)", kind, suffix, len(data))
    return path


def export_as(fmt: str, text: str, folder: Path | str, kind: str, profile: PracticeProfile | None = None,
              today: dt.date | None = None, fonts: list[Path] | None = None) -> Path:
    """Build the document in ``fmt`` and write it as a new file in ``folder``."""
    return write_export(document_bytes(text, kind, fmt, profile, fonts), folder, kind, SUFFIXES[fmt], today)


def export_txt(text: str, folder: Path | str, kind: str, profile: PracticeProfile | None = None,
               today: dt.date | None = None) -> Path:
    """UTF-8 text: letterhead lines, the text, the signature block."""
    return export_as("txt", text, folder, kind, profile, today)


def export_docx(text: str, folder: Path | str, kind: str, profile: PracticeProfile | None = None,
                today: dt.date | None = None) -> Path:
    """A Word document: logo and letterhead at the top, the text, the signature block."""
    return export_as("docx", text, folder, kind, profile, today)


def export_pdf(text: str, folder: Path | str, kind: str, profile: PracticeProfile | None = None,
               today: dt.date | None = None, fonts: list[Path] | None = None) -> Path:
    """A PDF with the same content."""
    return export_as("pdf", text, folder, kind, profile, today, fonts)
