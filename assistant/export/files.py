"""Export file names and safe writing.

Names carry the kind of document and the date, never a patient's name:
``progress-note-2026-11-29.docx``, then ``progress-note-2026-11-29-2.docx``.
Files are written to a temporary file in the same folder, flushed, and then
put in place under a free name, so a crash or a full disk never leaves half a
file under a real name. Any failure becomes ``ExportError`` with a plain message.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
from pathlib import Path

from assistant.errors import ExportError, InputError

log = logging.getLogger(__name__)

KIND_NAMES = {
    "note": "progress-note",
    "letter": "prior-auth-letter",
    "chat": "chat-reply",
}
MAX_COPIES = 999
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def file_stem(kind: str, today: dt.date | None = None) -> str:
    """``progress-note-2026-11-29`` for a note written today."""
    if kind not in KIND_NAMES:
        raise InputError(f"'{kind}' is not a kind of document the assistant exports. Use one of: {', '.join(KIND_NAMES)}.")
    return f"{KIND_NAMES[kind]}-{(today or dt.date.today()).isoformat()}"


def clean_for_export(text: str) -> str:
    """Text that every format can hold: Windows line ends made plain, control
    characters (invisible, and not allowed in .docx) removed, broken surrogates
    shown as the replacement character."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("There is no text to export. Write or generate a draft first.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATE.sub("\ufffd", _BAD_XML.sub("", text))


def _put_in_place(tmp: str, folder: Path, stem: str, suffix: str) -> Path:
    for copy in range(1, MAX_COPIES + 1):
        target = folder / (f"{stem}{suffix}" if copy == 1 else f"{stem}-{copy}{suffix}")
        try:
            os.link(tmp, target)  # fails if the name is taken: no race with a second export
            return target
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if target.exists():
                continue
            os.replace(tmp, target)
            return target
    raise ExportError(f"There are already {MAX_COPIES} exports named {stem}{suffix} in that folder. "
                      "Move some of them elsewhere, then try again.")


def write_export(data: bytes, folder: Path | str, kind: str, suffix: str, today: dt.date | None = None) -> Path:
    """Write ``data`` as a new file in ``folder`` and return its path."""
    stem = file_stem(kind, today)
    folder = Path(folder)
    tmp = ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".export-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        path = _put_in_place(tmp, folder, stem, suffix)
    except OSError as exc:
        log.error("export failed: %s (%s)", type(exc).__name__, exc.errno)
        raise ExportError(
            f"The file could not be saved ({exc.strerror or type(exc).__name__}). Check that the disk is not "
            f"full and that you may write to the folder {folder}, then try again. Your text is still on the screen."
        ) from exc
    finally:
        if tmp and os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
    log.info("exported a %s as %s (%d bytes)", kind, suffix, len(data))
    return path
