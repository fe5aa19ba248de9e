"""The dates in a denial letter: its own date, the dates of service, the appeal deadline; and its reference."""

from __future__ import annotations

import datetime as dt
import re

from assistant.checks.denial_cues import _DEAR, _rx, sentences

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DATE = _rx(r"(?<![\w/.-])(?:(?P<a>\d{4}|\d{1,2})(?P<s>[/.-])(?P<b>\d{1,2})(?P=s)(?P<c>\d{4}|\d{1,2})"
    r"|(?P<mn><MON>)\.?\s+(?P<md>\d{1,2})(?:st|nd|rd|th)?(?P<my>(?:\s*,\s*|\s+)\d{4})?"
    r"|(?P<dd>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dm><MON>)\.?,?\s+(?P<dy>\d{4}))(?![\w/-])")
_LETTER_LABEL = _rx(r"(?:^|\b)(?:date of (?:this |the )?(?:letter|notice|notification|decision|determination)"
    r"|(?:letter|notice|notification|mail(?:ing)?|issue|print|determination|decision|review) date|date (?:mailed|sent"
    r"|issued|printed)|mailed(?: on)?|^date)\s*[:#-]?\s*$")
_SERVICE = _rx(r"\b(?:services?|dos|visits?|treatment|therapy|sessions?|admi(?:ssion|tted|t)|start(?:ing|s)?|begin"
    r"|began|requested|request|received|through|thru|until)\b[^.]{0,30}$|\b(?:from|between)\s+$")
_NOT_SERVICE = _rx(r"\b(?:birth|dob|born|coverage|ended|terminated|eligib\w*|dated|effective|renew\w*|replaced|by"
    r"|later than|before)\b[^.]{0,25}$|\b(?:is|was|are) from\s+$")
_REF = _rx(r"(?P<label>(?:\b(?:prior\s+)?(?:reference|ref|case|authori[sz]ation|auth|pre-?certification|precert"
    r"|certification|tracking|review|determination|notice|episode|um|confirmation|request"
    r"|claim)\b\.?[\s/&-]*){1,3})(?P<suffix>(?:number|num|no\.?|nbr|#|id|identifier)?)\s*(?P<sep>[:#]"
    r"|is)?\s*#?(?P<ref>[A-Z0-9][A-Z0-9-]{2,}[A-Z0-9])\b")
_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TENS = {"ten": 10, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
         "fifty": 50, "sixty": 60, "sixty-five": 65, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER = r"\d{1,3}|(?:one|two|three) hundred(?: and)?(?: (?:twenty|eighty|sixty|fifty|forty))?|" + "|".join(
    sorted(_TENS, key=len, reverse=True))
_DAYS = _rx(r"\b(?P<n>" + _NUMBER + r")(?:\s*\(\d{1,3}\))?\)?\s+(?:(?:calendar|business|working)\s+)?days?\b")
# The appeal's own deadline, counted from this letter (or its receipt, counted from its date: the safe side).
_ANCHOR = _rx(r"^\W*(?:of|from|after|following)\s+(?:the\s+)?(?:date\s+(?:of|on|shown\s+on|printed\s+on|above)?\s*)?"
    r"(?:(?:this|the|our|that)\s+|(?:(?:the\s+)?date\s+)?(?:you|your\s+\w+)\s+(?:receive|received|get|got)\s+(?:this"
    r"|the|our)\s+|(?:receiving|receipt\s+of)\s+(?:this|the|our)\s+)?(?:[\w'-]+\s+){0,3}?(?:letter|notice|notification"
    r"|decision|denial|determination|date|explanation)\b")
_BY_SUBJECT = _rx(r"\b(?:you|your|member|provider|must|may|can|have|submit|send|file|make|request|ask)\b[^.;]{0,80}"
    r"(?:within|have|has)\s+$")
_APPEAL_CUE = _rx(r"\b(?:appeal\w*|reconsider\w*|redetermination|grievance|dispute|review of (?:this|our|the) decision"
    r"|look at (?:this|the|our) decision|hearing|external review|independent review)\b")
_LATER_LEVEL = _rx(r"\b(?:fair hearing|external|independent|state hearing|second[- ]level|ombuds\w*)\b")
# What else a letter counts days for: our answer, keeping services during the appeal, a later level, another form.
_DECOY = _rx(r"\bcontinu\w*|\bkeep (?:them|it|(?:\w+ ){0,3}?(?:services?|benefits?|getting|receiving))\b"
    r"|\b(?:reduced|stopped)\b|\bpeer[- ]to[- ]peer\b|\bpeer (?:review|conversation|discussion)\b|\bcorrected claims?\b"
    r"|\bcobra\b|\bwe (?:will |must |may |usually )?(?:decide|make|answer|respond|send|give|tell|notify|process|review"
    r"|resolve|complete)\b|\b(?:decided|resolved|answered|processed|completed)\b|(?<!this )(?<!that )(?<!our )(?<!the )"
    r"\bdecisions?\s+(?:(?:is|are|will be|usually)\s+)?(?:made\s+|sent\s+|given\s+)?within\b|\bwaiting\b"
    r"|\bappeal (?:decision|letter)|\bhearing decision\b|\b(?:we|plan) (?:receive|get)s?\b|\b(?:receiv\w*|receipt of)"
    r" (?:your|the) (?:appeal|request)|\bnew request\b|\bre-?submit\b|\blevel (?:2|two|ii)\b|\bupheld\b")
_EXPLICIT = _rx(r"\b(?:by|no later than|on or before|before|deadline(?: (?:is|date))?|due(?: date)?|until"
    r"|postmarked)\s*[:,]?\s*$")
_APPEAL = _rx(r"\b(?:appeal\w*|reconsider\w*|redetermination|hearing|grievance|dispute|review)\b")
_CLAUSE_END = re.compile(r"(?i);|,\s+(?:and|but|or|and then)\s+|\s+but\s+")


def _date(m: re.Match[str], after: dt.date | None = None) -> dt.date | None:
    """The date a ``_DATE`` match names; one without a year is the first such day after ``after``."""
    try:
        if m["dm"]:
            return dt.date(int(m["dy"]), _MONTHS.index(m["dm"][:3].lower()) + 1, int(m["dd"]))
        if m["mn"]:
            month, day = _MONTHS.index(m["mn"][:3].lower()) + 1, int(m["md"])
            if m["my"] or not after:
                return dt.date(int(m["my"].strip(" ,")), month, day) if m["my"] else None
            return min(d for d in (dt.date(after.year, month, day), dt.date(after.year + 1, month, day)) if d > after)
        if len(m["a"]) == 4:
            return dt.date(int(m["a"]), int(m["b"]), int(m["c"]))
        year = int(m["c"]) + (2000 if len(m["c"]) == 2 and m["s"] == "/" else 0)  # 11/20/26; not 11.20.26
        return dt.date(year, int(m["a"]), int(m["b"])) if year > 1900 else None
    except ValueError:
        return None


def find_dates(units: list[tuple[str, bool]]) -> tuple[dt.date | None, list[dt.date]]:
    """The letter's date (labelled, or alone on a line of the letterhead) and the dates of the service or request."""
    labelled, alone, service = [], [], []
    dear = next((i for i, (u, _) in enumerate(units) if _DEAR.match(u)), 15)
    for i, (unit, _) in enumerate(units):
        for m, before in ((m, unit[max(0, m.start() - 60):m.start()]) for m in _DATE.finditer(unit) if _date(m)):
            lead = re.sub(r"(?i)^(?:mon|tues|wednes|thurs|fri|satur|sun)day\W*", "", unit[:m.start()])  # "Thursday, June 5"
            alone_here = i < min(dear, 15) and not lead.strip(" ,") and len(unit) - m.end() < 3
            kind = labelled if _LETTER_LABEL.search(before[-40:]) else alone if alone_here else service if (
                _SERVICE.search(before) and not _NOT_SERVICE.search(before)) else []
            kind.append(_date(m))
    letter = (labelled + alone or [None])[0]
    return letter, [d for d in dict.fromkeys(service) if d != letter]


def _number(words: str) -> int:
    if words.isdigit():
        return int(words)
    parts = words.lower().replace(" and", "").split()
    if "hundred" in parts:
        return 100 * _UNITS[parts[0]] + (_TENS[parts[2]] if len(parts) > 2 else 0)
    return _TENS[words.lower()]


def find_deadline(units: list[tuple[str, bool]], letter: dt.date | None, today: dt.date | None) -> tuple[str, str]:
    """(the ISO date by which to appeal or "", the sentence that says so). Each date or count of days is read in its
    clause: it is the appeal's deadline where the clause is about asking for the appeal, not about how fast the plan
    answers, keeping services meanwhile, a later level (fair hearing, external review) or another form."""
    found: list[tuple[int, dt.date | None, int, str]] = []  # (rank, date, order, words); a date given ranks first,
    # days counted next; a later level (a fair hearing where the plan has an appeal first) only where nothing else
    for unit_no, (unit, _) in enumerate(units):
        if not _APPEAL.search(unit) and not (unit_no and _APPEAL.search(units[unit_no - 1][0])):
            continue
        before = ""
        for sentence in sentences(unit):
            for m in [*_DATE.finditer(sentence), *_DAYS.finditer(sentence)]:
                head = sentence[:m.start()]
                head = head[max((c.end() for c in _CLAUSE_END.finditer(head)), default=0):]
                tail = sentence[m.end():]
                tail = tail[:next((c.start() for c in _CLAUSE_END.finditer(tail)), len(tail))]
                clause = head + m[0] + tail  # "You must ask within 10 days." leans on the sentence before
                context = clause if _APPEAL_CUE.search(clause) else f"{before} {clause}"
                if _DECOY.search(context) or not (_APPEAL_CUE.search(context) or _APPEAL_CUE.search(unit[:200])):
                    continue
                later = bool(_LATER_LEVEL.search(clause))
                if "n" in m.groupdict():  # a count of days
                    if _ANCHOR.match(tail) or _BY_SUBJECT.search(head[-100:]):
                        when = letter + dt.timedelta(days=_number(m["n"])) if letter else None
                        found.append((1 + 2 * later, when, len(found), sentence))
                elif (when := _date(m, letter or today)) and _EXPLICIT.search(head[-30:]) and (
                        not letter or when > letter):
                    found.append((2 * later, when, len(found), sentence))
            before = sentence
    _, when, _, words = min(found or [(0, None, 0, "")], key=lambda f: (f[0], f[1] or dt.date.max, f[2]))
    return (when.isoformat() if when else ""), " ".join(words.split())


def find_reference(units: list[tuple[str, bool]]) -> str:
    """The case, reference or authorization number; a claim number only where there is none of those."""
    found = [(int("claim" in m["label"].lower() and not re.search(r"(?i)ref|case|auth|cert|track|review|notice",
                                                                   m["label"])), pos, m["ref"].strip("-"))
             for pos, (unit, _) in enumerate(units) for m in _REF.finditer(unit)
             if sum(ch.isdigit() for ch in m["ref"]) >= 3 and not _DATE.fullmatch(m["ref"])
             and (m["suffix"] or m["sep"] or re.search(r"[A-Za-z].*\d|\d.*[A-Za-z]|-", m["ref"]))]
    return min(found)[2] if found else ""
