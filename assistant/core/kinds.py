"""The kinds of document the assistant writes, in one place.

Each kind has one identity (``DocumentKind``, whose value is the preset file's ``kind``) and
every other way the app names it: the short word used by the check, the exports and the
command line (``note``, ``letter``, ``chat``), the label staff see, the exported document's
title and the stem of its file name. ``kind_of`` accepts any of the value or the short word.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DocumentKind(StrEnum):
    NOTE = "progress_note"
    LETTER = "prior_auth"
    CHAT = "chat"


@dataclass(frozen=True)
class KindWords:
    short: str  # check-draft --kind, review, export: note | letter | chat
    label: str  # what staff see: tabs, history, preset lists
    title: str  # the exported document's title
    file_stem: str  # exported file names: progress-note-2026-11-29.pdf


WORDS: dict[DocumentKind, KindWords] = {
    DocumentKind.NOTE: KindWords("note", "Progress note", "Progress note", "progress-note"),
    DocumentKind.LETTER: KindWords("letter", "Prior-auth letter", "Prior authorization letter", "prior-auth-letter"),
    DocumentKind.CHAT: KindWords("chat", "Chat", "Document", "chat-reply"),
}
_BY_NAME = {**{k.value: k for k in DocumentKind}, **{w.short: k for k, w in WORDS.items()}}


def kind_of(name: str) -> DocumentKind:
    """The kind named ``name`` (``progress_note`` or ``note``, ...). ValueError for anything else."""
    try:
        return _BY_NAME[str(name)]
    except KeyError:
        raise ValueError(f"not a kind of document: {name!r}") from None


def short(name: str) -> str:
    """``note`` for ``progress_note`` (or ``note``)."""
    return WORDS[kind_of(name)].short


SHORT_NAMES = tuple(w.short for w in WORDS.values())
CHECKED = ("note", "letter")  # the kinds the draft check knows: chat replies are not checked
