"""Finding checkable facts in (normalised) text: numbers, measurements, dates,
times, durations, percentages, scores, frequencies, codes, medications, doses,
web and email addresses, phone numbers, IDs and people's names.

Each fact becomes a ``Mention`` with *keys*: canonical forms such as
``duration:32s`` or ``date:2026-03-05``, so that "32 sec" and "32 seconds" or
two spellings of one date compare equal. The grounding check asks whether a
draft's mention has its keys among a source's keys.

Every pattern starts at a word boundary (a look-behind) and has bounded
repetition, so a megabyte of any text is read in linear time.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.checks.names import find_names
from assistant.checks.vocab import (
    MEDICATION_LOOKUP,
    NUMBER_WORDS,
    NUMBERING_WORDS,
    QUIET_NUMBER_WORDS,
    TENS,
    UNIT_PATTERN,
    UNITS,
    UNITS_1_9,
)


@dataclass(frozen=True)
class Mention:
    """A fact at ``start:end`` of the normalised text.

    ``support``: alternatives, each a tuple of keys that must all be in the
    sources for the mention to count as supported. ``keys``: what this mention
    contributes when it is found in a source.
    """

    start: int
    end: int
    category: str
    support: tuple[tuple[str, ...], ...]
    keys: tuple[str, ...]


def _alt(*words: str) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


WORDNUM = rf"(?=[tfsenzhod])(?:(?:{_alt(*TENS)})(?:[- ](?:{_alt(*UNITS_1_9)}))?|{_alt(*NUMBER_WORDS)})"
DIGITS = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,40}(?:\.\d{1,10})?)"
NUM = rf"(?:(?=\d){DIGITS}|(?=[A-Za-z]){WORDNUM})"
B = r"(?<![\w.])(?<!\d,)(?<![A-Za-z]-)"  # a number starts here: not inside a word, code or number
MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
TLDS = r"(?:com|org|net|gov|edu|health|care|us|io|info|biz|co|uk|ca)"

ANY_CASE = re.IGNORECASE
URL = re.compile(r"(?<![\w@/])(?:https?://|www\.)[^\s<>\"'()\[\]{}]{1,2000}", ANY_CASE)
EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
DOMAIN = re.compile(rf"(?<![\w@./-])[a-z0-9-]{{1,63}}(?:\.[a-z0-9-]{{1,63}}){{0,4}}\.{TLDS}(?:/[^\s<>\"']{{0,2000}})?(?![\w])", ANY_CASE)
PHONE = re.compile(r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w])")
DATE_ISO = re.compile(r"(?<![\w.-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w])")
DATE_NUM = re.compile(r"(?<![\w./-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w]|[/.-]\d)")
DATE_MDY = re.compile(rf"(?<![\w])({MONTH})\.?\s(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s(\d{{4}}))?(?![\w])", ANY_CASE)
DATE_DMY = re.compile(rf"(?<![\w])(\d{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?({MONTH})\.?(?:,?\s(\d{{4}}))?(?![\w])", ANY_CASE)
DATE_MY = re.compile(rf"(?<![\w])({MONTH})\.?,?\s(\d{{4}})(?![\w])", ANY_CASE)
AMPM = r"\s?(?:([AaPp])\.\s?[Mm]\.|([AaPp])[Mm](?![\w]))"  # "p.m." or "pm"
TIME_HM = re.compile(rf"(?<![\w:.])(\d{{1,2}}):(\d{{2}})(?::\d{{2}})?(?:{AMPM})?(?![\w:])")
TIME_H = re.compile(rf"(?<![\w:.])(\d{{1,2}})(?:{AMPM})")
CODE_PATTERNS = (
    r"\d{4}[FT]",  # CPT category II / III
    r"[A-V]\d{4}",  # HCPCS level II
    r"[A-Z]\d[0-9A-Z]\.[0-9A-Z]{1,4}",  # ICD-10-CM with its dot
    r"[A-Z]\d\d[0-9A-Z]{1,4}",  # ICD-10-CM without the dot
)
CODES = re.compile(rf"(?<![\w.])(?=[A-Z\d])(?:{'|'.join(CODE_PATTERNS)})(?![\w])")
CODES_ANY_CASE = re.compile(CODES.pattern, ANY_CASE)
PERIODS = {"day": "d", "daily": "d", "week": "wk", "wk": "wk", "weekly": "wk", "month": "mo",
           "mo": "mo", "monthly": "mo", "visit": "visit", "session": "visit"}
TIMES_WORDS = {"once": 1, "twice": 2, "thrice": 3}
FREQ = re.compile(
    rf"{B}({NUM}|once|twice|thrice)\s?(?:(?:x|times)\s?)?(?:/|per|a|an|each|every)\s?(day|week|wk|month|mo|visit|session)(?![\w])"
    rf"|{B}({NUM}|once|twice|thrice)\s?(?:(?:x|times)\s)?(daily|weekly|monthly)(?![\w])", ANY_CASE)
# How often without a count: "weekly", "every other week", "every 2 weeks", "q4h" (a rate per period).
FREQ_WORDS = re.compile(
    rf"{B}(?:(daily|nightly|weekly|monthly|fortnightly|biweekly)|every\s+other\s+(day|week|wk|month|mo)"
    rf"|(?:once\s+)?every\s+({NUM})\s+(days|weeks|wks|months|hours|hrs|minutes|mins?)|(?:every|each)\s+(day|night|week"
    rf"|month)|q\s?({NUM})?\s?(h|hrs?|d|days?|wks?|weeks?|mos?|months?|min|mins|minutes))(?![\w])", ANY_CASE)
_PER_WORD = {"daily": (1, "d"), "nightly": (1, "d"), "weekly": (1, "wk"), "monthly": (1, "mo"),
             "fortnightly": (0.5, "wk"), "biweekly": (0.5, "wk")}
QUANTITY = re.compile(rf"{B}(?:({NUM})\s?(?:-|to)\s?)?({NUM})\s?-?\s?(?=[%a-zA-Z°μ])(%|percent|per\scent|{UNIT_PATTERN})(?![\w])", ANY_CASE)
RATIO = re.compile(rf"{B}({NUM})\s(?:out\sof)\s({NUM})(?![\w])|(?<![\w./])(\d{{1,3}})\s?/\s?(\d{{1,3}})(?![\w/]|\.\d)", ANY_CASE)
IDENT = re.compile(r"(?<![\w-])(?=[A-Za-z0-9-]{0,40}?[A-Za-z])(?=[A-Za-z0-9-]{0,40}?\d)[A-Za-z0-9][A-Za-z0-9-]{4,40}(?![\w-])")
PLAIN = re.compile(rf"(?:(?<=\dx)|{B})({DIGITS})(?:st|nd|rd|th)?(?=x\d|[^\w]|$)")
WORDS_NUM = re.compile(rf"(?<![\w-])({WORDNUM})(?![\w-])", ANY_CASE)
NUMBERING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:[-*•][ \t]*)?\(?(\d{1,2}(?:\.\d{1,2})*|[A-Za-z]|[ivxIVX]{1,4})[.)](?=[ \t])", re.M)
INLINE_NUMBER = re.compile(r"(?:^|(?<=[:;.] )|(?<=[:;.]  ))(\d{1,2})[.)](?=[ \t]+[A-Z(])", re.M)
NUMBERED_BY = re.compile(rf"(?<![\w])({'|'.join(sorted(NUMBERING_WORDS - {'#'}))})\.?\s?#?\s?(\d{{1,2}})(?![\w])|#(\d{{1,2}})(?![\w])", ANY_CASE)
CPT_MODIFIER = re.compile(r"\d{5}-[A-Za-z0-9]{2}$")
WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")
ASCII_WORD = re.compile(r"(?<![\w-])[A-Za-z]{4,20}(?![\w-])")


def number(text: str) -> float | None:
    """The value of "1,250", "2.5", "six" or "twenty-five"; None if it is not a number."""
    low = text.lower().replace(",", "")
    try:
        return float(low)
    except ValueError:
        pass
    parts = re.split(r"[- ]", low)
    if all(p in NUMBER_WORDS for p in parts) and parts:
        return float(sum(NUMBER_WORDS[p] for p in parts))
    return None


def canon(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def num_key(text: str) -> str:
    """``num:`` key; long digit strings (IDs, NPIs) keep their leading zeros."""
    digits = text.replace(",", "")
    if digits.isdigit() and len(digits) >= 5:
        return f"num:{digits}"
    value = number(text)
    return f"num:{canon(value)}" if value is not None else f"num:{digits}"


def _date_keys(year: int | None, month: int, day: int | None) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    if day is None:
        key = f"date:{year:04d}-{month:02d}"
        return ((key,),), (key,)
    md = f"date:--{month:02d}-{day:02d}"
    if year is None:
        return ((md,),), (md,)
    full = f"date:{year:04d}-{month:02d}-{day:02d}"
    return ((full,), (md, f"num:{year}")), (full, md, f"date:{year:04d}-{month:02d}", f"num:{year}")


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year if len(text) == 4 else (2000 + year if year < 70 else 1900 + year)


def _valid(month: int, day: int | None) -> bool:
    return 1 <= month <= 12 and (day is None or 1 <= day <= 31)


class Finder:
    """One pass over a text: claims spans so that each character belongs to one fact."""

    def __init__(self, text: str, *, in_source: bool) -> None:
        self.text = text
        self.in_source = in_source
        self.mask = bytearray(len(text))
        self.found: list[Mention] = []

    def free(self, start: int, end: int) -> bool:
        return 1 not in self.mask[start:end]

    def claim(self, start: int, end: int) -> None:
        self.mask[start:end] = b"\x01" * (end - start)

    def add(self, start: int, end: int, category: str, support: tuple[tuple[str, ...], ...],
            keys: tuple[str, ...] | None = None) -> None:
        self.claim(start, end)
        if keys is None:
            keys = tuple(k for alt in support for k in alt)
        self.found.append(Mention(start, end, category, support, keys))

    def each(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        for match in pattern.finditer(self.text):
            if match.end() > match.start() and self.free(*match.span()):
                yield match


def _urls(f: Finder) -> None:
    for m in f.each(URL):
        raw = m.group().rstrip(".,;:!?")
        key = re.sub(r"^(?:https?://)?(?:www\.)?", "", raw.lower()).rstrip("/")
        f.add(m.start(), m.start() + len(raw), "url", ((f"url:{key}",),))
    for m in f.each(EMAIL):
        raw = m.group().rstrip(".")
        f.add(m.start(), m.start() + len(raw), "email", ((f"email:{raw.lower()}",),))
    for m in f.each(DOMAIN):
        raw = m.group().rstrip(".,;:!?")
        key = re.sub(r"^www\.", "", raw.lower()).rstrip("/")
        f.add(m.start(), m.start() + len(raw), "url", ((f"url:{key}",),))


def _phones_dates_times(f: Finder) -> None:
    for m in f.each(PHONE):
        digits = re.sub(r"\D", "", m.group())[-10:]
        f.add(*m.span(), "phone", ((f"phone:{digits}",), (f"num:{digits}",)))
    for m in f.each(DATE_ISO):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if _valid(month, day):
            f.add(*m.span(), "date", *_date_keys(year, month, day))
    for m in f.each(DATE_NUM):
        first, second, year = int(m[1]), int(m[3]), _year(m[4])
        month, day = (second, first) if first > 12 else (first, second)  # US order unless impossible
        if _valid(month, day):
            f.add(*m.span(), "date", *_date_keys(year, month, day))
    for pattern, mi, di, yi in ((DATE_MDY, 1, 2, 3), (DATE_DMY, 2, 1, 3), (DATE_MY, 1, None, 2)):
        for m in f.each(pattern):
            if not m[mi][0].isupper():
                continue  # "may 5" is a verb and a number
            month = MONTHS[m[mi][:3].lower()]
            day = int(m[di]) if di else None
            if _valid(month, day):
                f.add(*m.span(), "date", *_date_keys(_year(m[yi]), month, day))
    for pattern in (TIME_HM, TIME_H):
        for m in f.each(pattern):
            hour, minute = int(m[1]), int(m[2]) if pattern is TIME_HM else 0
            half = (m[3] or m[4] if pattern is TIME_HM else m[2] or m[3]) or ""
            if hour > 23 or minute > 59 or (half and not 1 <= hour <= 12):
                continue
            if half:
                hours = [hour % 12 + (12 if half.lower() == "p" else 0)]
            else:
                hours = [hour] if hour == 0 or hour > 12 else [hour % 12, hour % 12 + 12]
            f.add(*m.span(), "time", tuple((f"time:{h:02d}:{minute:02d}",) for h in hours))


def _rate(m: re.Match[str]) -> tuple[float, str] | None:
    """(times, period) a ``FREQ_WORDS`` match names."""
    period = {"day": "d", "night": "d", "days": "d", "week": "wk", "weeks": "wk", "wk": "wk", "wks": "wk",
              "month": "mo", "months": "mo", "mo": "mo"}
    if m[1]:
        return _PER_WORD[m[1].lower()]
    if m[2]:
        return 0.5, period[m[2].lower()]
    if m[3]:
        every, unit = number(m[3]), m[4].lower()
        if not every:
            return None
        if unit.startswith("m") and unit != "months":
            return 60 / every, "h"
        return (24 / every, "d") if unit.startswith("h") else (1 / every, period[unit])
    if m[5]:
        return 1, period[m[5].lower()]
    every, unit = number(m[6]) if m[6] else 1, m[7].lower()
    if not every:
        return None
    if unit.startswith("h"):
        return 24 / every, "d"
    if unit.startswith("min"):
        return 60 / every, "h"
    return 1 / every, "d" if unit.startswith("d") else "wk" if unit.startswith("w") else "mo"


def _codes_and_quantities(f: Finder) -> None:
    for m in f.each(CODES_ANY_CASE if f.in_source else CODES):
        f.add(*m.span(), "code", ((f"code:{m.group().upper().replace('.', '')}",),))
    for m in f.each(FREQ):
        count, period = (m[1], m[2]) if m[1] else (m[3], m[4])
        value = TIMES_WORDS.get(count.lower()) or number(count)
        if value is not None:
            f.add(*m.span(), "frequency", ((f"freq:{canon(value)}/{PERIODS[period.lower()]}",),))
    for m in f.each(FREQ_WORDS):
        if rate := _rate(m):
            f.add(*m.span(), "frequency", ((f"freq:{canon(rate[0])}/{rate[1]}",),))
    for m in f.each(QUANTITY):
        unit = re.sub(r"\s+", " ", m[3].lower())
        if unit in ("%", "percent", "per cent"):
            category, suffix, factor = "percentage", "%", 1.0
        else:
            category, suffix, factor = UNITS[unit]
        if category == "duration" and suffix == "yr" and (unit in ("yo", "y/o") or "old" in unit
                                                           or f.text[m.end():m.end() + 4].lower() == "-old"):
            category = "number"  # an age: "45-year-old" is the number 45
        for group in (1, 2):
            value = number(m[group]) if m[group] else None
            if value is None:
                continue
            start = m.start(group)
            end = m.end() if group == 2 else m.end(1)
            key = num_key(m[group]) if category == "number" else f"{category}:{canon(value * factor)}{suffix}"
            f.add(start, end, category, ((key,),))
        f.claim(*m.span())
    for m in f.each(RATIO):
        a, b = (m[1], m[2]) if m[1] else (m[3], m[4])
        top, bottom = number(a), number(b)
        if top is None or bottom is None:
            continue
        keys = [f"ratio:{canon(top)}/{canon(bottom)}"]
        is_score = bottom in (4, 5, 10, 100) and top <= bottom
        if m[3] and _valid(int(top), int(bottom)):
            keys.append(f"date:--{int(top):02d}-{int(bottom):02d}")
        category = "score" if is_score else ("date" if len(keys) > 1 else "number")
        f.add(*m.span(), category, tuple((k,) for k in keys))


def _identifiers_and_numbers(f: Finder) -> None:
    for m in f.each(IDENT):
        token = m.group()
        if sum(c.isdigit() for c in token) >= 4 and not CPT_MODIFIER.match(token):
            f.add(*m.span(), "id", ((f"id:{token.replace('-', '').upper()}",),))
    for m in f.each(PLAIN):
        digits = m[1].replace(",", "")
        category = "id" if digits.isdigit() and len(digits) >= 7 else "number"
        if len(digits) == 5 and digits.isdigit():  # a CPT code or a plain number
            line = f.text[max(0, m.start() - 200):m.start()].rsplit("\n", 1)[-1].lower()
            category = "code" if ("cpt" in line or "code" in line) else category
            f.add(*m.span(1), category, ((f"code:{digits}",), (f"num:{digits}",)))
        else:
            f.add(*m.span(1), category, ((num_key(m[1]),),))
    for m in f.each(WORDS_NUM):
        if f.in_source or m.group().lower() not in QUIET_NUMBER_WORDS:
            f.add(*m.span(), "number", ((num_key(m.group()),),))


def _medications(f: Finder) -> None:
    present = {w.lower() for w in ASCII_WORD.findall(f.text)} & MEDICATION_LOOKUP.keys()
    if present:
        pattern = re.compile(rf"(?<![\w-])(?:{_alt(*present)})(?![\w-])", re.IGNORECASE)
        for m in f.each(pattern):
            f.add(*m.span(), "medication", ((f"med:{MEDICATION_LOOKUP[m.group().lower()]}",),))


def _inline_numbering(f: Finder) -> None:
    """A list written on one line, "Plan: 1. Walk. 2. Rest.": skip 1, then 2 if 1 came before."""
    breaks = [m.start() for m in re.finditer("\n", f.text)]
    line, expected = -1, 1
    for m in INLINE_NUMBER.finditer(f.text):
        here = bisect.bisect(breaks, m.start())
        if here != line:
            line, expected = here, 1
        if int(m[1]) == expected:
            f.claim(*m.span(1))
            expected += 1


def word_tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)]


def find_mentions(text: str, *, in_source: bool = False, common: set[str] | None = None) -> list[Mention]:
    """Every fact in ``text`` (already normalised), in order of position.

    In a draft, numbers that number the document itself (a list's "1.", "Goal 2")
    are skipped. ``common``: lower-case words known to be ordinary words, so
    that a capitalised one at a sentence start is not taken for a name.
    """
    f = Finder(text, in_source=in_source)
    if not in_source:
        for m in NUMBERING.finditer(text):
            f.claim(*m.span(1))
        _inline_numbering(f)
        for m in NUMBERED_BY.finditer(text):
            f.claim(*(m.span(2) if m[2] else m.span(3)))
    _urls(f)
    _phones_dates_times(f)
    _codes_and_quantities(f)
    _identifiers_and_numbers(f)
    _medications(f)
    if not in_source:
        for start, end, words in find_names(text, common or set(), f.free):
            f.add(start, end, "name", (words,))
    f.found.sort(key=lambda m: m.start)
    return f.found
