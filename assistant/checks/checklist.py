"""The "Ready to send?" checklist for a prior-authorization letter: twelve things
a payer's reviewer looks for, each found (or not) in the request form and the
draft by plain rules, without any model.

Each item is present (True), missing (False: its hint says what to add and its
``field`` names the form field to fill) or cannot be known (None). The rules
only look; they never write anything for the letter.

Text is read a sentence at a time. A sentence that states a goal ("will walk
500 feet", or a line under a "Goals" heading) counts toward the goals item
only, so a target number is not mistaken for a measured starting point.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from assistant.checks.codes import ICD10, UNKNOWN, CodeCheck, check_code, check_letter_codes, parse_codes
from assistant.checks.draft import field_text
from assistant.checks.facts import FREQ, MONTH, NUM
from assistant.checks.text import normalize_plain
from assistant.checks.vocab import MEDICATION_LOOKUP

log = logging.getLogger(__name__)

LABELS = {
    "patient": "Patient name, date of birth and member ID",
    "provider_npi": "Provider name and a valid NPI",
    "codes_valid": "Diagnosis and procedure codes are valid",
    "codes_consistent": "Each diagnosis code matches what the letter describes",
    "units_dates": "How many visits (or how often, for how long) and the dates",
    "baseline": "Measured starting point (scores, range of motion, pain rating)",
    "function": "Daily activities the condition limits",
    "prior_treatment": "Treatment tried before, and how it went",
    "goals": "Goals with a number and a time frame",
    "skilled": "Why a licensed clinician is needed",
    "risk": "What is likely to happen if the request is denied",
    "payer_policy": "The payer's policy cited",
}
NARRATIVE_FIELDS = ("requested_service", "visits", "justification", "progress_to_date", "denial_details")
I = re.IGNORECASE


@dataclass(frozen=True)
class ChecklistItem:
    item: str  # stable id: one of LABELS
    label: str  # plain words shown to staff
    present: bool | None  # None: cannot be known
    hint: str  # one line: what is missing and what to add, or what was found
    field: str = ""  # the form field to fill when missing, "" if none

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def npi_valid(npi: str) -> bool:
    """Ten digits whose last is the check digit: the Luhn formula over "80840" and
    the NPI (CMS's rule). Spaces and dashes between digits are allowed."""
    digits = re.sub(r"[\s-]", "", str(npi or ""))
    if not re.fullmatch(r"[0-9]{10}", digits):
        return False
    total = 0
    for index, char in enumerate(reversed("80840" + digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


# --- reading the text ---------------------------------------------------------------------------------------------

N = rf"(?<![\w.]){NUM}"
DATE = (rf"(?:(?<![\w/])\d{{1,2}}/\d{{1,2}}/(?:\d{{4}}|\d{{2}})(?![\w/])|(?<![\w-])\d{{4}}-\d{{2}}-\d{{2}}(?!\w)"
        rf"|\b{MONTH}\.?\s\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s\d{{4}})?\b|\b{MONTH}\.?,?\s\d{{4}}\b|\b\d{{1,2}}\s{MONTH}\s\d{{4}}\b)")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\s+(?=\(\d{1,2}\)\s)")
_GOAL_WORD = re.compile(r"\b(?:goals?|objectives?|targets?|STGs?|LTGs?|expected outcomes?)\b", I)
_GOAL_CUE = re.compile(
    _GOAL_WORD.pattern + r"|\bwill\s+(?:be\s+able|independently|demonstrate|improve|increase|decrease|reduce|achieve"
    r"|return|walk|ambulate|tolerate|complete|report|produce|use|score|identify|lift|climb|perform|maintain|initiate"
    r"|follow|swallow|consume|dress|participate|read|name|answer|sit|stand|reach|carry|attend|engage|express)\b", I)
_HEADING = re.compile(r"^[\W\d]{0,4}([A-Za-z][\w ()/&,'-]{0,60}):(.*)$")


def _sentences(text: str) -> list[tuple[str, bool]]:
    """(sentence, is a goal): a goal states it, or sits under a "Goals" heading."""
    out: list[tuple[str, bool]] = []
    in_goals = filled = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            in_goals = in_goals and not filled
            continue
        heading = _HEADING.match(line)
        if heading or (len(line.split()) <= 5 and not line.endswith((".", ","))):
            in_goals = bool(_GOAL_WORD.search(heading[1] if heading else line))
            filled = bool(heading and heading[2].strip())
        else:
            filled = True
        for sentence in _SENTENCE_END.split(line):
            if sentence.strip():
                out.append((sentence, in_goals or bool(_GOAL_CUE.search(sentence))))
    return out


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ities", "ness", "ings", "ing", "ions", "ion", "ity", "ive", "ous", "ful",
                   "ed", "es", "ic", "al", "ly", "s", "e", "y"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z]{3,}", text.lower())}


def _shared(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _has_stem(stem: str, stems: set[str]) -> bool:
    """``stem`` or a close form of it ("autism" for "autistic", "walked" for "walking")."""
    if stem in stems:
        return True
    return any(_shared(stem, o) >= max(5, min(len(stem), len(o)) - 2) for o in stems)
