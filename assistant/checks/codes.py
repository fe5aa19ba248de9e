"""Medical codes: read CPT, HCPCS Level II and ICD-10-CM codes from what staff
typed, check ICD-10-CM codes against the official code set (the
``simple-icd-10-cm`` package, which answers offline), and check that a letter
names exactly the codes that were requested.

CPT and HCPCS codes are checked for their form only: the CPT list is licensed
by the AMA and neither list ships with the assistant, so ``valid`` is None
(not looked up) for them.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from types import ModuleType

from assistant.checks.facts import CODES
from assistant.checks.text import Flag, normalize, normalize_plain

log = logging.getLogger(__name__)

ICD10 = "ICD-10-CM"
CPT = "CPT"
HCPCS = "HCPCS"
UNKNOWN = "unknown"
MAX_SUGGESTIONS = 8

_LABELS = re.compile(r"\b(?:ICD[-\s]?10(?:[-\s]?CM)?|ICD|CPT|HCPCS(?:[-\s]?II)?|DX|CODES?)\b[:#]?", re.I)
_CPT = re.compile(r"(?<![0-9A-Z.])(\d{5}|\d{4}[FT])(?:-[0-9A-Z]{2}){0,4}(?![0-9A-Z])")
_HCPCS = re.compile(r"(?<![0-9A-Z.])([A-V]\d{4})(?:-[0-9A-Z]{2}){0,4}(?![0-9A-Z.])")
_ICD = re.compile(r"(?<![0-9A-Z.])([A-Z]\d[0-9A-Z])(?:\s?\.\s?([0-9A-Z]{1,4})|([0-9A-Z]{1,4}))?(?![0-9A-Z])")
_SPLIT = re.compile(r"[\s,;/|]+")
_TIMES = re.compile(r"X\d{1,3}")  # a count of units: "x4"
_COUNTED = {"UNIT", "UNITS", "VISIT", "VISITS", "SESSION", "SESSIONS"}
_CODE_LINE = re.compile(r"cpt|hcpcs|code|procedure|billing", re.I)


@dataclass(frozen=True)
class Suggestion:
    code: str
    description: str


@dataclass(frozen=True)
class CodeCheck:
    """What the assistant knows about one requested code.

    ``valid``: True/False for ICD-10-CM codes looked up in the official set;
    None for CPT/HCPCS (form checked only). ``billable``: for ICD-10-CM, whether
    the code is a billable leaf rather than a category. ``in_draft``: for a
    letter, whether the letter names the code.
    """

    code: str
    system: str
    valid: bool | None
    billable: bool | None
    description: str
    message: str
    suggestions: tuple[Suggestion, ...] = ()
    in_draft: bool | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ParsedCodes:
    codes: list[tuple[str, str]] = field(default_factory=list)  # (system, code), in order, no repeats
    unreadable: list[str] = field(default_factory=list)  # pieces with digits that are no code


@dataclass(frozen=True)
class LetterCodes:
    flags: list[Flag]  # codes in the letter that were not requested
    missing: list[str]  # requested codes that the letter does not name


def parse_codes(text: str, expect: str | None = None) -> ParsedCodes:
    """Codes in "f41.1 ,97110; G0283" (any case, stray spaces and punctuation).

    ``expect``: "icd10" (a letter and four digits is then ICD-10-CM, E11.65) or
    "procedure" (it is then HCPCS) or None (HCPCS unless it has a dot).
    """
    if not text:
        return ParsedCodes()
    upper = _LABELS.sub(" ", normalize_plain(str(text)).upper())
    found: list[tuple[int, int, str, str]] = []
    taken = bytearray(len(upper))
    order = [(_ICD, ICD10), (_CPT, CPT), (_HCPCS, HCPCS)] if expect == "icd10" else [(_CPT, CPT), (_HCPCS, HCPCS), (_ICD, ICD10)]
    for pattern, system in order:
        for m in pattern.finditer(upper):
            if 1 in taken[m.start():m.end()]:
                continue
            if system == ICD10:
                rest = m[2] or m[3]
                code = f"{m[1]}.{rest}" if rest else m[1]
            else:
                code = m[1]
            taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())
            found.append((m.start(), m.end(), system, code))
    found.sort()
    codes: list[tuple[str, str]] = []
    for _s, _e, system, code in found:
        if (system, code) not in codes:
            codes.append((system, code))
    leftover = "".join(" " if taken[i] else ch for i, ch in enumerate(upper))
    pieces = [p.strip(".:()[]-") for p in _SPLIT.split(leftover)]
    pieces = [p for p in pieces if p]
    unreadable = []
    for i, piece in enumerate(pieces):
        if not any(c.isdigit() for c in piece) or _TIMES.fullmatch(piece):
            continue
        before, after = (pieces[i - 1] if i else ""), (pieces[i + 1] if i + 1 < len(pieces) else "")
        if piece.isdigit() and len(piece) <= 3 and (before == "X" or after in _COUNTED):
            continue  # "x 4", "4 units"
        unreadable.append(piece)
    return ParsedCodes(codes, unreadable)


@functools.cache
def _icd() -> ModuleType:
    """The ICD-10-CM code set, loaded on first use (about 3 s)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm

    return simple_icd_10_cm


@functools.cache
def _all_leaves() -> tuple[str, ...]:
    cm = _icd()
    return tuple(code for code in cm.get_all_codes(True) if cm.is_leaf(code))


def _leaves(code: str, limit: int) -> list[str]:
    """Billable codes under ``code`` (itself if it is one), in code order, at most ``limit``."""
    cm = _icd()
    out: list[str] = []
    stack = [code]
    while stack and len(out) < limit:
        item = stack.pop()
        if cm.is_leaf(item):
            out.append(item)
        else:
            stack.extend(reversed(cm.get_children(item)))
    return out


def _billable_under(code: str) -> list[str]:
    """Billable codes under ``code``, spread over its branches: the first of each
    child, then the second of each, ... (M62: M62.00, M62.10, ..., M62.81, M62.9)."""
    cm = _icd()
    if cm.is_leaf(code):
        return [code]
    branches = [_leaves(child, MAX_SUGGESTIONS) for child in cm.get_children(code)]
    out: list[str] = []
    for rank in range(MAX_SUGGESTIONS):
        for branch in branches:
            if rank < len(branch) and len(out) < MAX_SUGGESTIONS:
                out.append(branch[rank])
    return out


def _suggest(codes: list[str]) -> tuple[Suggestion, ...]:
    cm = _icd()
    return tuple(Suggestion(code, cm.get_description(code)) for code in codes[:MAX_SUGGESTIONS])


def _listing(suggestions: tuple[Suggestion, ...]) -> str:
    return "; ".join(f"{s.code} ({s.description})" for s in suggestions)


def check_icd10(code: str) -> CodeCheck:
    """Look one ICD-10-CM code up: valid, billable, description, nearby codes."""
    cm = _icd()
    code = code.strip().upper()
    if cm.is_valid_item(code):
        code = cm.add_dot(code) if "." not in code and len(code) > 3 else code
        description = cm.get_description(code)
        if cm.is_leaf(code):
            return CodeCheck(code, ICD10, True, True, description,
                             f"{code} is a valid, billable ICD-10-CM code: {description}.")
        suggestions = _suggest(_billable_under(code))
        return CodeCheck(code, ICD10, True, False, description,
                         f"{code} ({description}) is a category, not a billable code. "
                         f"Use a more specific code, such as: {_listing(suggestions)}.", suggestions)
    plain = code.replace(".", "")
    nearby: list[str] = []
    for length in range(len(plain) - 1, 2, -1):
        if cm.is_valid_item(plain[:length]):
            nearby = _billable_under(cm.add_dot(plain[:length]) if length > 3 else plain[:length])
            break
    if not nearby and len(plain) >= 2:
        nearby = [c for c in _all_leaves() if c.startswith(plain[:2])][:MAX_SUGGESTIONS]
    suggestions = _suggest(nearby)
    if suggestions:
        message = f"{code} is not an ICD-10-CM code. Codes close to it: {_listing(suggestions)}."
    else:
        message = f"{code} is not an ICD-10-CM code, and no code close to it was found. Check the diagnosis code."
    return CodeCheck(code, ICD10, False, False, "", message, suggestions)


def check_code(system: str, code: str) -> CodeCheck:
    if system == ICD10:
        return check_icd10(code)
    if system == CPT:
        return CodeCheck(code, CPT, None, None, "",
                         f"{code} has the form of a CPT code. CPT codes cannot be looked up here "
                         "(the list is licensed by the AMA); check it against your fee schedule.")
    return CodeCheck(code, HCPCS, None, None, "",
                     f"{code} has the form of a HCPCS Level II code. Check it against the payer's HCPCS list.")


def unreadable_check(piece: str) -> CodeCheck:
    return CodeCheck(piece, UNKNOWN, False, False, "",
                     f"'{piece[:40]}' could not be read as a code. CPT codes have five digits (97110) or "
                     "four digits and F or T; HCPCS codes a letter and four digits (G0283); "
                     "ICD-10-CM codes a letter, two digits and up to four more characters (F41.1).")


def check_requested_codes(cpt_text: str = "", icd_text: str = "") -> dict[str, CodeCheck]:
    """Every code typed in the CPT/HCPCS and ICD-10 fields, by code; pieces that
    could not be read are listed too, under their own text."""
    result: dict[str, CodeCheck] = {}
    for text, expect in ((cpt_text, "procedure"), (icd_text, "icd10")):
        parsed = parse_codes(text, expect)
        for system, code in parsed.codes:
            if code not in result:
                result[code] = check_code(system, code)
        for piece in parsed.unreadable:
            result.setdefault(piece[:60], unreadable_check(piece))
    log.info("code check: %d codes, %d unreadable", sum(c.system != UNKNOWN for c in result.values()),
             sum(c.system == UNKNOWN for c in result.values()))
    return result


def _key(code: str) -> str:
    return code.upper().replace(".", "").replace(" ", "")


def _code_spans(norm: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in CODES.finditer(norm)]
    for m in re.finditer(r"(?<![\w.])\d{5}(?![\w])", norm):
        line = norm[max(0, m.start() - 200):m.start()].rsplit("\n", 1)[-1]
        clause = re.split(r"[.!?]\s", line)[-1]  # the sentence so far: not an address's ZIP code
        if _CODE_LINE.search(clause) or re.match(r"\s*(?:,|and|or)\s*\d{5}\b|-[0-9A-Z]{2}\b", norm[m.end():m.end() + 12]):
            spans.append(m.span())
    return sorted(spans)


def check_letter_codes(letter: str, requested_codes: Iterable[str]) -> LetterCodes:
    """The letter must name every requested code and no other code."""
    requested = [c for c in (str(r).strip() for r in requested_codes) if c]
    wanted = {_key(c) for c in requested}
    norm = normalize(letter or "")
    flags: list[Flag] = []
    for start, end in _code_spans(norm.text):
        if _key(norm.text[start:end]) in wanted:
            continue
        o_start, o_end = norm.span(start, end)
        flags.append(Flag(o_start, o_end, letter[o_start:o_end], "code",
                          "This code was not requested on the form. Remove it, or add it to the request."))
    missing = []
    for code in requested:
        key = _key(code)
        spelled = f"{re.escape(key[:3])}\\.?{re.escape(key[3:])}" if len(key) > 3 and key[0].isalpha() else re.escape(key)
        pattern = rf"(?<![\w.]){spelled}(?![\w]|\.\w)"
        if not re.search(pattern, norm.text, re.I):
            missing.append(code)
    return LetterCodes(flags, missing)
