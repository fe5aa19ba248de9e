"""Export file names and text every format can hold.

Names carry the kind of document and the date, never a patient's name:
``progress-note-2026-11-29.docx`` (``store.exports`` adds ``-2`` and so on when
the name is taken). Pure functions: writing is the store's job.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from assistant.core.kinds import WORDS
from assistant.errors import InputError

log = logging.getLogger(__name__)

KIND_NAMES = {words.short: words.file_stem for words in WORDS.values()}
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
