"""Reading a letter someone gives the assistant as a file: a payer's denial, as a .pdf that has
text in it or a .txt file. Used by ``assistant read-denial`` and the letter tab's appeal upload.

``read_letter_file`` returns the text or raises ``Unreadable`` (an ``InputError``) whose message
says, in plain words, why the file cannot be used and what to do: missing, a folder, empty, too
big, not text, a damaged or password-protected PDF, or a PDF that is only scanned pictures.
Messages name the file as the caller gives it, never any of its text.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from assistant.errors import InputError, where_failed

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20_000_000
MAX_PAGES = 60


class Unreadable(InputError):
    """A given file cannot be used as a letter; the message says why and what to do."""


def pdf_text(name: str, data: bytes) -> str:
    """The text layer of a PDF, pages apart; ``Unreadable`` with a plain reason when there is none."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable(f"{name}: the PDF is protected by a password. Save a copy without the password and "
                             "try again.")
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PAGES]]
    except Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file; none may reach the person as a traceback
        log.warning("letter file: PDF not readable: %s", where_failed(exc))
        raise Unreadable(f"{name}: this PDF could not be read (it may be damaged). Open it and save it again, or "
                         "copy the letter's text and paste it in.") from exc
    text = "\n\f".join(pages)
    if not text.strip():
        raise Unreadable(f"{name}: this PDF has no text in it, only pictures of pages (a scan). Run it through text "
                         "recognition (OCR) first, or type or paste the letter in.")
    return text


def read_letter_file(path: Path, name: str | None = None) -> str:
    """The text of the letter in ``path`` (``name``: how to call it in a message, default the path)."""
    name = name or str(path)
    try:
        if path.is_dir():
            raise Unreadable(f"{name}: that is a folder. Give the letter's file instead.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise Unreadable(f"{name}: the file is larger than {MAX_FILE_BYTES // 1_000_000} MB, too big for a letter.")
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"{name}: the file could not be read ({exc.strerror or type(exc).__name__}).") from exc
    if not data.strip():
        raise Unreadable(f"{name}: the file is empty.")
    if data.lstrip()[:5] == b"%PDF-":
        return pdf_text(name, data)
    if path.suffix.lower() == ".pdf":
        raise Unreadable(f"{name}: this file is named .pdf but is not a PDF.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{name}: this is not a text file or a PDF. Give the letter as a .pdf or as a .txt file "
                         "saved as UTF-8.") from exc
