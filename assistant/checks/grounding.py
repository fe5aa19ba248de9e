"""The grounding check: which facts in a draft are not supported by what the
user gave (form fields, session description, practice profile).

Plain functions over text. ``check_grounding(draft, sources)`` returns
``Flag``s whose offsets index the original draft.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from assistant.checks.facts import DIGITS, WORDNUM, find_mentions, num_key, word_tokens
from assistant.checks.text import Flag, normalize, normalize_plain

log = logging.getLogger(__name__)

REASONS = {
    "number": "This number is not in {where}.",
    "id": "This ID or reference number is not in {where}.",
    "measurement": "This measurement is not in {where}.",
    "score": "This score is not in {where}.",
    "percentage": "This percentage is not in {where}.",
    "frequency": "This frequency (how often) is not in {where}.",
    "date": "This date is not in {where}.",
    "time": "This time of day is not in {where}.",
    "duration": "This length of time is not in {where}.",
    "code": "This code is not in {where}.",
    "medication": "This medication is not in {where}.",
    "dose": "This dose is not in {where}.",
    "url": "This web address is not in {where}.",
    "email": "This email address is not in {where}.",
    "phone": "This phone number is not in {where}.",
    "name": "This name is not in {where}.",
}
CATEGORIES = tuple(REASONS)
_ANY_NUMBER = re.compile(rf"(?<![\d.]){DIGITS}(?!\d)|(?<![A-Za-z])(?:{WORDNUM}|once|twice|thrice)(?![A-Za-z])", re.IGNORECASE)
_ALNUM = re.compile(r"[^0-9A-Za-z]")
CHUNK = 100_000
_SPACED_ID = re.compile(r"(?<![\w-])(?:[A-Za-z]{1,5}[ -]?)?\d{1,12}(?:[ -]\d{1,12}){1,6}(?![\w-])")


_X_COUNT = re.compile(r"(?i)(?<=\bx)(?=\d)")
# A range of motion written without its unit in notes: the numbers after it are degrees.
_MOTION = re.compile(r"\b(?:AA?ROM|PROM|ROM|flex(?:ion)?|ext(?:ension)?|abd(?:uction)?|add(?:uction)?|ER|IR|sup(?:ination)?"
                     r"|pron(?:ation)?|DF|PF)\b[^.;\n]{0,80}", re.I)


@dataclass(frozen=True)
class SourceIndex:
    """Everything the sources support, as keys, plus their ordinary (lower-case) words."""

    keys: frozenset[str]
    common: frozenset[str]

    def supports(self, support: tuple[tuple[str, ...], ...]) -> bool:
        return any(all(key in self.keys for key in alternative) for alternative in support)


def build_index(sources: list[str]) -> SourceIndex:
    keys: set[str] = set()
    common: set[str] = set()
    for raw in sources:
        if not raw:
            continue
        text = _X_COUNT.sub("x ", normalize_plain(str(raw)))  # "2x/wk x4 wks": for 4 weeks
        for mention in find_mentions(text, in_source=True):
            keys.update(mention.keys)
        for motion in _MOTION.finditer(text):  # "R shoulder AROM flex 120, abd 100": 120 degrees
            keys.update(f"measurement:{int(n[0])}deg" for n in re.finditer(r"(?<![\d.])\d{1,3}(?![\d.])", motion[0]))
        for match in _ANY_NUMBER.finditer(text):
            word = match.group().lower()
            keys.add({"once": "num:1", "twice": "num:2", "thrice": "num:3"}.get(word) or num_key(match.group()))
        for _start, _end, word in word_tokens(text):
            low = word.lower()
            keys.add("word:" + low)
            keys.add("word:" + re.sub(r"'s$", "", low))
            if word[0].islower():
                common.add(low)
        for match in _SPACED_ID.finditer(text):  # "XYZ 123 456 789" supports "XYZ123456789"
            compact = _ALNUM.sub("", match.group()).upper()
            keys.add(f"id:{compact}")
            if compact.isdigit():
                keys.add(f"num:{compact}")
        compact = _ALNUM.sub("", text).upper()
        if 4 <= len(compact) <= 60:  # a short field such as a member ID typed with spaces or dashes
            keys.add(f"id:{compact}")
            if compact.isdigit():
                keys.add(f"num:{compact}")
    return SourceIndex(frozenset(keys), frozenset(common))


def reason_for(category: str, where: str = "your notes") -> str:
    return REASONS.get(category, "This is not in {where}.").format(where=where)


def _chunks(text: str, size: int = CHUNK) -> list[tuple[int, int]]:
    """Cut a long text at line ends (else at spaces) into pieces of about ``size``."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n", start + size // 2, end)
            if cut < 0:
                cut = max(text.rfind(" ", start + size // 2, end), text.rfind("\t", start + size // 2, end))
            end = cut + 1 if cut >= 0 else end
        spans.append((start, end))
        start = end
    return spans


def check_grounding(draft: str, sources: list[str], *, where: str = "your notes", limit: int | None = None) -> list[Flag]:
    """Flag each number, measurement, date, time, duration, percentage, code,
    medication or dose, web or email address, phone number, ID and person's
    name in ``draft`` that ``sources`` do not support.

    ``where`` names the sources in the reasons ("your notes", "the form").
    ``limit``: stop reading once this many flags are found (a long draft is
    read in pieces, in order, so the flags returned are the first ones).
    """
    if not draft or not draft.strip():
        return []
    index = build_index(sources)
    common = set(index.common)
    flags: list[Flag] = []
    for offset, chunk_end in _chunks(draft):
        piece = draft[offset:chunk_end]
        norm = normalize(piece)
        for mention in find_mentions(norm.text, common=common):
            if index.supports(mention.support):
                continue
            start, end = norm.span(mention.start, mention.end)
            start, end = start + offset, end + offset
            flags.append(Flag(start, end, draft[start:end], mention.category, reason_for(mention.category, where)))
        if limit is not None and len(flags) >= limit:
            break
    counts = Counter(flag.category for flag in flags)
    log.info("grounding check: %d chars, %d flags %s", len(draft), len(flags), dict(counts))
    return flags
