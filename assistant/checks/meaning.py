"""The meaning check: where a draft says something the notes contradict though no new number appears. Each kind is
bound to what it qualifies, read in the notes and in the draft, and compared:

- ``laterality``: the side of a body part ("left shoulder" where the notes say R shoulder);
- ``negation``: a finding said present where the notes deny it, or the reverse (medspaCy's ConText, which also
  tells the past, a family member's history and a "what if" from what is so now);
- ``assistance``: the level of help for an activity ("sit to stand independently" for sit<>stand mod A);
- ``goal_status``: a goal's status ("Goal 1 met" for STG 1 not yet met);
- ``body_part``: a body part or region named in the draft and nowhere in the notes.

Frequencies ("three times a week" for 2x/wk) are read with the other facts (``facts.py``).
``check_meaning(draft, sources)`` returns ``Flag``s whose offsets index the draft.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict

from assistant.checks.context import findings
from assistant.checks.meaning_vocab import (
    ACTIVITIES,
    LEVELS,
    PARTS,
    REGIONS,
    SAFETY,
    SIDE_WORDS,
    SIDED,
    SIDES,
    STATUSES,
    WITHIN,
)
from assistant.checks.text import Flag, normalize, normalize_plain

log = logging.getLogger(__name__)
CATEGORIES = ("laterality", "negation", "assistance", "goal_status", "body_part")
_I = re.IGNORECASE


def _keyed(table: dict[str, str]) -> tuple[re.Pattern[str], list[str]]:
    forms = sorted(((w, key) for key, words in table.items() for w in words.split()), key=lambda f: -len(f[0]))
    alternatives = []
    for word, _key in forms:
        body = re.escape(word.rstrip("*")).replace("_", r"[\s-]+")
        alternatives.append(f"({body}{r'[a-z]*' if word.endswith('*') else ''})")
    return re.compile(r"(?<![\w/<>-])(?:" + "|".join(alternatives) + r")(?![\w<>-]|/\w)", _I), [k for _, k in forms]


_PART_RX, _PART_KEYS = _keyed(PARTS)
_LEVEL_RX, _LEVEL_KEYS = _keyed(LEVELS)
_ACT_RX, _ACT_KEYS = _keyed(ACTIVITIES)
_SIDE_RX = re.compile(r"(?<![\w/])(?:(right|left|rt|lt|bilateral(?:ly)?|both|b/l|bilat|bil)\b|([RLB])(?=\s*/?\s*[A-Za-z]))"
                      r"(?:[\s-]+sided)?", re.I)
_SIDE_AFTER = re.compile(r"^\s*(?:\(\s*|,\s*|on the\s+|to the\s+)?(right|left|R|L|B|bilateral(?:ly)?)\b\s*\)?")
_BRIDGE = re.compile(r"^(?:[\s,/&-]|and|or|upper|lower|anterior|posterior|lateral|medial|distal|proximal|mid|inner|"
                     r"outer|greater|lesser|side|sided|total|partial|dominant|non-?dominant|index|middle|ring|little|"
                     r"great|big|shoulder|hip|knee|ankle|elbow|wrist|hand|foot)*$", re.I)
_BACK_WORD = re.compile(r"\bback\b", re.I)
_BODY_BACK = re.compile(r"(?:low|lower|upper|mid)[\s-]+back|\bback\s+(?:pain|spasms?|stiffness|muscles?|extension|"
                        r"extensors?|flexion|strength|injury|surgery|brace)|\b(?:her|his|their|my|the)\s+back\b(?!\s+"
                        r"(?:to|home|in|on|at|into|up|from|and forth|out|later|again))", re.I)
_NOT_PART = re.compile(r"\bhand[\s-]+over[\s-]+hand\b|\bhands[\s-]+on\b|\bface[\s-]+to[\s-]+face\b|\bon the other hand\b"
                       r"|\b\d+(?:\.\d+)?\s*(?:feet|foot)\b|\bfeet\s+(?:away|of)\b|\bfirst hand\b|\bhead(?:ed|ing)\b"
                       r"|\bgrip strength\b", re.I)  # a measure, not a body part named
_GOAL = re.compile(r"\b(?:(?:short|long)[\s-]+term\s+goal|STG|LTG|goal)s?\s*#?\s*(\d{1,2})\b", re.I)
_STATUS = re.compile("|".join(f"(?P<s{i}>\\b(?:{words})\\b)" for i, words in enumerate(STATUSES.values())), re.I)
_STATUS_KEYS = list(STATUSES)
_GOAL_END = re.compile(r"\.(?=\s)|;|\n\s*\n|\n\s*(?:[-*\u2022]|\d+[.)])")
_RANGE = re.compile(r"\b(min|mod|max)(?:imal|erate|imum)?\s*(?:-|to)\s*(min|mod|max)(?:imal|erate|imum)?\s*(?:a\b|assist)",
                    re.I)
_CLAUSE = re.compile(r"[.;!?\n]")
_GOAL_TARGET = re.compile(r"\b(?:(?:short|long)[\s-]+term\s+goal|STG|LTG|goal)s?\s*#?\s*\d{0,2}\s*(?:\([^)\n]{0,160}\)"
                          r"|[^.;\n]{0,120}?(?=\s*[-:\u2013]?\s*(?:not\s|partially\s|met\b|progressing|achieved|ongoing)))",
                          re.I)  # "STG 2 (LB dressing min A)", "STG 1 orientation x3 indep - partially met": targets
_LONE_I = re.compile(r"(?<=[a-z0-9)'] )I(?=\s*(?:[.,;)\n]|w/|x\d|$))")
_FULL = {"min": "minimal assist", "mod": "moderate assist", "max": "maximal assist"}


def _spans(pattern: re.Pattern[str], keys: list[str], text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), keys[m.lastindex - 1]) for m in pattern.finditer(text) if m.lastindex]


def _clause_of(text: str, at: int) -> tuple[int, int]:
    starts = [m.end() for m in _CLAUSE.finditer(text, 0, at)]
    end = _CLAUSE.search(text, at)
    return (starts[-1] if starts else 0), (end.start() if end else len(text))


def body_parts(text: str) -> list[tuple[int, int, str]]:
    """(start, end, part) for each body part named; "back" only where it is the body's ("come back" is not)."""
    blocked = [m.span() for m in _NOT_PART.finditer(text)]
    out = []
    for start, end, part in _spans(_PART_RX, _PART_KEYS, text):
        if any(a <= start < b for a, b in blocked):
            continue
        if part == "back" and _BACK_WORD.fullmatch(text[start:end]) and not any(
                a <= start < b for a, b in (m.span() for m in _BODY_BACK.finditer(text))):
            continue
        out.append((start, end, part))
    return out


def sides(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, part, side) for each body part with its side: before it ("R hip and knee" gives both), after it
    ("knee (R)"), or in the word ("BLE"); also one-sided conditions ("right hemiparesis")."""
    marks = [(m.start(), m.end(), SIDES[(m[1] or m[2]).lower().replace("ly", "")]) for m in _SIDE_RX.finditer(text)]
    sided = [(m.start(), m.end(), "sided") for m in re.finditer(
        r"\b(?:" + "|".join(w.replace("_", r"[\s-]+") for w in SIDED.split()) + r")\b", text, _I)]
    out = []
    for start, end, part in [*body_parts(text), *sided]:
        word = text[start:end].lower()
        side = "B" if word in ("ble", "bue") else None
        before = [s for s in marks if s[1] <= start and _BRIDGE.match(text[s[1]:start]) and start - s[1] <= 30]
        if side is None and before:
            side, start = before[-1][2], before[-1][0]  # the flag covers "left shoulder"
        if side is None and (after := _SIDE_AFTER.match(text[end:end + 20])):
            side, end = SIDES.get(after[1].lower().replace("ly", "")), end + after.end()
        if side:
            out.append((start, end, part, side))
    return out


def _related(part: str) -> set[str]:
    """The part, the regions it lies in, and the parts in it."""
    return {part, *REGIONS.get(part, ()), *(region for region, inside in REGIONS.items() if part in inside)}


def levels(text: str, *, notes: bool = False) -> list[tuple[int, int, str, str]]:
    """(start, end, activity, level) for each level of help bound to the activity before it in the clause (else the
    one after it); "min-mod A" is two levels. In ``notes`` a lone capital I after an activity is independent
    ("Donning prosthesis I.")."""
    text = _GOAL_TARGET.sub(lambda m: " " * len(m[0]), text)  # "STG 2 (LB dressing min A)" is a target
    found = [(s, e, lvl) for s, e, lvl in _spans(_LEVEL_RX, _LEVEL_KEYS, text)]
    if notes:
        found += [(m.start(), m.end(), "independent") for m in _LONE_I.finditer(text)]
    for m in _RANGE.finditer(text):
        found = [f for f in found if not (m.start() <= f[0] < m.end())]
        found += [(m.start(), m.end(), _FULL[m[1].lower()]), (m.start(), m.end(), _FULL[m[2].lower()])]
    acts = _spans(_ACT_RX, _ACT_KEYS, text)
    out = []
    for start, end, level in found:
        low, high = _clause_of(text, start)
        before = [a for a in acts if low <= a[0] < start]
        after = [a for a in acts if end <= a[0] < high and a[0] - end <= 40]
        earlier = [a for a in acts if a[0] < low and low - a[1] <= 100]  # "Amb 200 ft CGA. SBA straight path."
        act = before[-1] if before else after[0] if after else earlier[-1] if earlier else None
        out.append((start, end, act[2] if act else "", level))
    return out


def goal_statuses(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, goal number, status) for each numbered goal given a status before the next goal is named."""
    goals = list(_GOAL.finditer(text))
    out = []
    for n, g in enumerate(goals):
        stop = min(goals[n + 1].start() if n + 1 < len(goals) else len(text), g.end() + 120)
        if sentence_end := _GOAL_END.search(text, g.end(), stop):  # a wrapped line goes on
            stop = sentence_end.start()
        if status := _STATUS.search(text, g.end(), stop):
            out.append((g.start(), status.end(), g[1].lstrip("0"), _STATUS_KEYS[int(status.lastgroup[1:])]))
    return out


Found = tuple[int, int, str, str]  # (start, end, category, reason) in the normalised draft


def check_meaning(draft: str, sources: list[str]) -> list[Flag]:
    """Flag what the draft says differently from ``sources`` (the clinician's notes and form), by kind."""
    if not draft or not draft.strip():
        return []
    notes = normalize_plain("\n".join(s for s in sources if s))
    norm = normalize(draft)
    text = norm.text
    found = [*_laterality(text, notes), *_body_parts(text, notes), *_assistance(text, notes), *_goals(text, notes),
             *_negation(text, notes)]
    flags = []
    for start, end, category, reason in found:
        start, end = norm.span(start, end)
        flags.append(Flag(start, end, draft[start:end], category, reason))
    log.info("meaning check: %d chars, %d flags", len(draft), len(flags))
    return flags


def _laterality(text: str, notes: str) -> list[Found]:
    known: dict[str, set[str]] = defaultdict(set)
    for *_, part, side in sides(notes):
        known[part].add(side)
    named = {part for *_, part in body_parts(notes)}
    flags = []
    for start, end, part, side in sides(text):  # the part's own sides, else those of the region it is part of
        said = known.get(part) or set().union(*(known.get(p, set()) for p in _related(part)))
        if not said:
            if part in named or part == "sided" and re.search(r"\b(?:hemi\w*|neglect|droop)\b", notes, _I):
                flags.append((start, end, "laterality",
                              f"The draft says {SIDE_WORDS[side]}; your notes do not say which side."))
            continue
        if side in said or side in "RL" and "B" in said or side == "B" and {"R", "L"} <= said:
            continue
        words = " and ".join(SIDE_WORDS[s] for s in sorted(said))
        flags.append((start, end, "laterality", f"The draft says {SIDE_WORDS[side]}; your notes say {words}."))
    return flags


def _body_parts(text: str, notes: str) -> list[Found]:
    named = {part for *_, part in body_parts(notes)}
    flags, seen = [], set()
    for start, end, part in body_parts(text):  # a region in the draft is named by a part of it in the notes;
        if part in named or set(REGIONS.get(part, ())) & named or part in seen:  # the notes' "UE" names no shoulder
            continue
        seen.add(part)
        flags.append((start, end, "body_part", "This body part is not in your notes."))
    return flags


def _assistance(text: str, notes: str) -> list[Found]:
    by_activity: dict[str, set[str]] = defaultdict(set)
    every: set[str] = set()
    for *_, act, level in levels(notes, notes=True):
        by_activity[act].add(level)
        every.add(level)
    flags = []
    for start, end, act, level in levels(text):
        act = act if act in by_activity else WITHIN.get(act, act)  # "LB dressing" is dressing where only that is said
        said = by_activity[act] if act in by_activity else every
        if not every or level in said:
            continue
        what = f" for {act}" if act and act in by_activity else ""
        words = " or ".join(sorted(said))
        flags.append((start, end, "assistance", f"The draft says {level}{what}; your notes say {words}."))
    return flags


def _goals(text: str, notes: str) -> list[Found]:
    known: dict[str, set[str]] = defaultdict(set)
    for *_, number, status in goal_statuses(notes):
        known[number].add(status)
    flags = []
    for start, end, number, status in goal_statuses(text):
        if number in known and status not in known[number]:
            words = " or ".join(sorted(known[number]))
            flags.append((start, end, "goal_status",
                          f"The draft says goal {number} is {status}; your notes say {words}."))
    return flags


def _negation(text: str, notes: str) -> list[Found]:
    said: dict[str, set[bool]] = defaultdict(set)
    ever: set[str] = set()
    for f in findings(notes):
        ever.add(f.concept)
        if f.when == "now":
            said[f.concept].add(f.present)
    flags = []
    for f in findings(text):
        if f.when != "now":
            continue
        if f.concept in said and f.present not in said[f.concept]:
            reason = (f"The draft says {f.concept} is present; your notes say it is not." if f.present else
                      f"The draft says there is no {f.concept}; your notes say there is.")
        elif f.concept not in ever and f.concept in SAFETY:
            reason = f"Your notes do not mention {f.concept}. Check this before you approve."
        elif f.concept in ever and f.concept not in said and f.present:
            reason = f"Your notes mention {f.concept} only in the past, for a family member, or as a possibility."
        else:
            continue
        flags.append((f.start, f.end, "negation", reason))
    return flags
