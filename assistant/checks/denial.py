"""Reading a payer's denial letter: each reason given (one of the six ways payers deny, or "other"), the
reference number, the letter's date, the dates of service and the appeal deadline; rules, no model, and the
letter's own sentences kept. Reasons: after a "Reason for denial" heading, else after "Dear ..." where a
sentence also says what is lacking; up to the appeal rights; a generic "not medically necessary" only where
nothing more specific is named. Deadline: a date, or days counted from the letter's date even where it counts
from receipt (the earliest day, the safe side). How fast the plan decides (72 hours, 7 days after we get your
appeal), peer-to-peer talks and benefits during an appeal are no deadline.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import asdict, dataclass

from assistant.checks.denial_cues import (
    _BACK,
    _DEAR,
    _DEFICIT,
    _DESCRIBES,
    _FLAW,
    _FOLLOW,
    _HEAD,
    _NEG,
    _RULE,
    _SKIP,
    _STOP,
    _rx,
    categorize,
    sentences,
)
from assistant.checks.denial_dates import find_dates, find_deadline, find_reference
from assistant.errors import InputError

__all__ = ["CATEGORIES", "CATEGORY_WORDS", "Denial", "DenialReason", "categorize", "find_dates", "find_deadline",
           "find_reasons", "find_reference", "letter_units", "read_denial", "sentences"]

MAX_CHARS = 200_000
CATEGORIES = ("medical_necessity", "documentation", "prior_care", "coding", "function_goals", "administrative", "other")
CATEGORY_WORDS = {
    "medical_necessity": "Medical necessity not shown", "documentation": "Documentation incomplete",
    "prior_care": "Prior or conservative care not documented", "coding": "Codes do not match or are not valid",
    "function_goals": "No functional impact or measurable goals", "other": "Other (a benefit limit, a plan exclusion)",
    "administrative": "Administrative (eligibility, form, timing, network, referral)"}


@dataclass(frozen=True)
class DenialReason:
    category: str  # one of CATEGORIES
    text: str  # the letter's own sentence(s) for this reason, whitespace normalised


@dataclass(frozen=True)
class Denial:
    reasons: list[DenialReason]
    reference: str  # the case / reference / authorization / claim number, "" if none
    letter_date: str  # ISO date, "" if none found
    service_dates: list[str]  # ISO dates given for the service or the request
    deadline: str  # ISO date by which to appeal, "" if unknown
    deadline_words: str  # the letter's own words about the deadline

    def as_dict(self) -> dict:
        return asdict(self)  # {"reasons": [{"category", "text"}], "reference", "letter_date", ...}

_PAGE = _rx(r"^(?:.{0,80}\s)?(?:page\s*\d+(?:\s*(?:of|/)\s*\d+)?|-\s*\d+\s*-)$|^[-=_*\s]*(?:page break"
    r"|end of page)[-=_*\s]*$|^\d+\s*/\s*\d+$")
_PAGE_TAIL = re.compile(r"(?i)(?<=\S)\s+page\s*\d+\s*(?:of|/)\s*\d+$")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b|\b\d{1,2}/\d{1,2}/\d\d\b")


def _dated(line: str) -> str:
    """A page number after the letter's date ("Date of Notice: 12/09/2025  Page 1 of 3") goes; the date stays."""
    return _PAGE_TAIL.sub("", line) if _YEAR.search(line) and _PAGE.match(line) else line


_ITEM = re.compile(r"(?i)^(?:reason\s+\d{1,2}\s*(?:--|-|:|\.)|\(?\d{1,2}[.)]|\(?[a-hA-H][.)]|[-*•·▪●◦]|\u2013)\s+")
_LABEL = re.compile(r"^(?=.{0,79}$)[A-Z][\w/&().,'#-]*(?:\s+[\w/&().,'#-]+){0,4}\s*:\s*\S(?:\S*\s+){0,9}\S*$")
_KEEP_HYPHEN = {"self", "non", "follow", "out", "well", "peer", "step", "long", "short", "full", "part", "evidence"}



def _valid(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The letter is empty. Paste the denial letter's text, or give a PDF or text file.")
    if len(text) > MAX_CHARS:
        raise InputError(f"That is too long for one letter ({MAX_CHARS:,} characters at most). Give only the letter.")
    junk = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f" or ch in "\ufffd\x7f")
    if junk > max(2, len(text) // 200) or sum(map(str.isalpha, text)) < 0.4 * len(text.replace(" ", "")) \
            or len(re.findall("[A-Za-z]{2,}", text)) < 8:
        raise InputError("That does not look like a letter: it is not readable text. Give a PDF with text in it, or a "
                         "plain text file.")
    return text


def letter_units(text: str) -> list[tuple[str, bool]]:
    """The letter as (unit, is_list_item): paragraphs made whole, list items and headings kept apart."""
    text = re.sub(r"[\t\u00a0]", " ", re.sub(r"\r\n?", "\n", text).replace("\f", "\n\n"))
    lines = [_dated(" ".join(line.split())) for line in re.sub("[\u00ad\u200b]", "", text).split("\n")]
    counts = Counter(line.lower() for line in lines)  # a running header or footer: kept only in the letterhead
    joined = "\n".join(line for n, line in enumerate(lines) if not _PAGE.match(line) and not (
        counts[line.lower()] > 1 and n > 15 and len(line) <= 100 and len(line.split()) >= 2))
    keep = _KEEP_HYPHEN | {w.lower() for w in re.findall(r"\b[a-z]+-[a-z]+\b", joined, re.I)}  # "follow-up" stays
    rows = re.sub(r"([A-Za-z0-9]+)-[ ]*\n(?:[ ]*\n)*[ ]*(\S\w*)", lambda m: f"{m[1]}-{m[2]}" if not m[2][0].islower()
                  or {m[1].lower(), f"{m[1]}-{m[2]}".lower()} & keep else m[1] + m[2], joined).split("\n")
    caps = sum(r.isupper() for r in rows) < 0.5 * max(1, sum(map(bool, rows)))  # then a line in capitals is a heading
    units, prev, prev_short = [], "", False  # units: (text, is_list_item)
    for line in rows:
        item = bool(_ITEM.match(line))
        short = bool(line) and len(line.split()) <= 7 and line[-1] not in ".,;" and (not prev or prev[-1] in ".!?:")
        join = (units and units[-1][0][-1] not in ".!?:;" and line[:1].islower()) if not prev else not (  # a page break
            item or short or _LABEL.match(line) or prev[-1] == ":" or (prev_short or _LABEL.match(prev)) and not
            line[:1].islower() or any(_DEAR.match(s) or caps and s.isupper() for s in (line, prev)))
        if line and join:
            units[-1] = (units[-1][0] + " " + line, units[-1][1])
        elif line:
            units.append((_ITEM.sub("", line) if item else line, item))
        prev, prev_short = line, short
    return units


def find_reasons(units: list[tuple[str, bool]]) -> list[DenialReason]:
    flat = [(s, i, item) for i, (unit, item) in enumerate(units) for s in sentences(unit)]
    stops = [k for k, (s, _, item) in enumerate(flat) if not item and _STOP.search(s)]
    heads = [(k, m.end()) for k, (s, _, _) in enumerate(flat) if k not in stops and (m := _HEAD.search(s))
             and (m.start() == 0 or not s[m.end():].strip())]
    dear = next((k for k, (s, _, _) in enumerate(flat) if _DEAR.match(s)), -1)
    for first, cut in [*heads[:1], (dear + 1, 0)]:  # the heading's part, else the body after "Dear" (where the
        end = next((k for k in stops if k >= first + (0 if cut else 2)), len(flat))  # first lines may name the rights)
        if reasons := _reasons_in(flat[first:end], cut):
            return reasons
    return []


def _one(cats: list[str]) -> str:
    """The one thing a clause is about: missing records *of* earlier care or of function are about that care."""
    return next((c for c in cats if c != "documentation"), cats[0]) if "documentation" in cats and set(cats) & {
        "prior_care", "function_goals"} else cats[0]


def _clauses(sentence: str) -> list[str]:
    parts = re.split(r"(?<=;)\s+|,\s+(?=(?:and|but)\s+(?:the|there|no|not|it|they|we|you|your|this|that|these|those|his|her|their)\b)", sentence)
    return [c for c in parts if len(c.split()) >= 3] or [sentence]


def _reasons_in(flat: list[tuple[str, int, bool]], cut: int) -> list[DenialReason]:
    """One reason per distinct thing the letter says is lacking: the sentences of the paragraphs that restate one
    thing are one reason; each item of a list of reasons is a reason of its own."""
    gated = not cut  # in a letter's body (no heading) a sentence must say what is lacking
    found: list[dict] = []  # {cat, strong, block, item, first, last}
    intro: tuple[int, str, bool] | None = None  # (block, text, binds): a line ending in ":" before a list
    pending: dict | None = None  # a criterion stated, not (yet) said to be lacking
    texts = [s[cut:].lstrip(" :.-") if k == 0 and cut else s for k, (s, _, _) in enumerate(flat)]
    for k, ((_, unit, item), sentence) in enumerate(zip(flat, texts, strict=True)):
        if not sentence:
            continue
        if not item and sentence.endswith(":") and k + 1 < len(flat) and flat[k + 1][2]:
            binds = not _HEAD.search(sentence) and not re.search(r"(?i)\breasons?\b", sentence) and bool(
                _DEFICIT.search(sentence))  # "We did not get:" and then "- Hearing test results"
            intro = (unit, sentence, binds)
            continue
        intro = intro if item else None
        part = bool(item and intro and intro[2])
        block = intro[0] if part and intro else unit
        if _SKIP.search(sentence):
            continue
        mine = [f for f in found if f["block"] == block]
        for clause in _clauses(sentence):
            cats, strong = categorize(f"{intro[1]} {clause}" if part and intro else clause)
            rule = _RULE.search(clause) and not _NEG.search(clause) or not item and _DESCRIBES.search(
                clause) and not _NEG.search(clause)  # "We reviewed the notes, which document progress."
            ok = not rule and (not gated or _DEFICIT.search(clause) or part or "coding" in cats)
            if not cats or not ok:
                if not cats and pending and pending["block"] == block and _DEFICIT.search(clause) and _BACK.search(
                        clause):  # "The plan covers it when X was tried first." "The notes do not show this."
                    found.append({**pending, "last": k})
                    mine.append(found[-1])
                elif not cats and ok and mine and mine[-1]["last"] == k - 1 and _BACK.search(clause):
                    mine[-1]["last"] = k  # "We did not get them." goes with the reason before
                pending = {"cat": _one(cats), "strong": strong, "block": block, "item": item, "first": k,
                           "last": k} if cats else None
                continue
            pending, cat = None, _one(cats)
            if not strong and _FOLLOW.search(clause) and mine and mine[-1]["last"] >= k - 1:
                mine[-1]["last"] = k  # "Without them we cannot tell if it is necessary." is that reason's consequence
                continue
            pool = mine if item else [f for f in found if not f["item"]]  # paragraphs restate; list items add
            same = next((f for f in pool if f["cat"] == cat), None)
            if not same and cat == "documentation" and mine and mine[-1]["cat"] == "prior_care" and not _FLAW.search(
                    clause):  # "... not show that less intensive care was tried. There are no notes from it."
                same = mine[-1]
            if same:
                same.update(last=max(k, same["last"]), strong=same["strong"] or strong)
            else:
                found.append({"cat": cat, "strong": strong, "block": block, "item": item, "first": k, "last": k})
                mine.append(found[-1])
    keep = [f for n, f in enumerate(found) if f["strong"] or f["item"] or not any(  # "Coverage is denied." and then
        g["cat"] == f["cat"] and g["block"] != f["block"] for g in found[max(0, n - 1):n + 2])]  # why: one reason
    return [DenialReason(f["cat"], " ".join(" ".join(texts[f["first"]:f["last"] + 1]).split())) for f in keep]


def read_denial(text: str, *, today: dt.date | None = None) -> Denial:
    """What an appeal must answer, read from a denial letter's text. ``today`` dates a deadline given
    without a year when the letter has no date. Raises ``InputError`` for text that is no letter."""
    units = letter_units(_valid(text))
    letter, service = find_dates(units)
    return Denial(find_reasons(units), find_reference(units), letter.isoformat() if letter else "",
                  [d.isoformat() for d in service], *find_deadline(units, letter, today))
