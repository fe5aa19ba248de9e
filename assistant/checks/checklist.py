"""The "Ready to send?" checklist for a prior-authorization letter: twelve things a payer's reviewer looks for,
each found (or not) in the request form and the draft by plain rules, without a model. An item is present (True),
missing (False: the hint says what to add, ``field`` which form field to fill) or unknown (None); the rules never
write anything for the letter. Text is read a sentence at a time; a sentence that states a goal ("will walk 500 feet",
a line under a "Goals" heading) counts for the goals only, so a target is not taken for a measured starting point.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from assistant.checks.checklist_cues import (
    _ACTIVITIES,
    _BEFORE,
    _HARM,
    _IF_DENIED,
    _LIMITS,
    _MEASURE,
    _NOT_TARGET,
    _PREDICT,
    _RESULT,
    _SKILLED,
    _TIMEFRAME,
    _TREATED,
    DATE,
    N,
)
from assistant.checks.codes import ICD10, UNKNOWN, CodeCheck, check_code, check_letter_codes, parse_codes
from assistant.checks.facts import FREQ
from assistant.checks.text import field_text, normalize_plain

log = logging.getLogger(__name__)

LABELS = {  # item id -> what staff read, in the checklist's order
    "patient": "Patient name, date of birth and member ID", "provider_npi": "Provider name and a valid NPI",
    "codes_valid": "Diagnosis and procedure codes are valid",
    "codes_consistent": "Each diagnosis code matches what the letter describes",
    "units_dates": "How many visits (or how often, for how long) and the dates",
    "baseline": "Measured starting point (scores, range of motion, pain rating)",
    "function": "Daily activities the condition limits", "prior_treatment": "Treatment tried before, and how it went",
    "goals": "Goals with a number and a time frame", "skilled": "Why a licensed clinician is needed",
    "risk": "What is likely to happen if the request is denied", "payer_policy": "The payer's policy cited",
}
FIELDS = ("patient_name", "date_of_birth", "member_id", "provider_name", "provider_npi", "cpt_codes", "icd10_codes")
NARRATIVE_FIELDS = ("requested_service", "visits", "justification", "progress_to_date", "denial_details")
_I = re.IGNORECASE
Sentences = list[tuple[str, bool]]  # (sentence, states a goal)


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
    """Ten digits, the last a check digit: Luhn over "80840" + the NPI (CMS's rule). Spaces or dashes allowed."""
    digits = re.sub(r"[\s-]", "", str(npi or ""))
    doubled = [int(c) * (2 if i % 2 else 1) for i, c in enumerate(reversed("80840" + digits)) if c in "0123456789"]
    return bool(re.fullmatch(r"[0-9]{10}", digits)) and sum(d - 9 if d > 9 else d for d in doubled) % 10 == 0


def _item(item: str, ok: bool, found: str, missing: str, field: str = "justification") -> ChecklistItem:
    return ChecklistItem(item, LABELS[item], ok, found if ok else missing, "" if ok else field)


_SENTENCE_END = re.compile(r"(?<=[.!?;])(?<!^\d\.)(?<!\bM[rsx]\.)(?<!\bMrs\.)(?<!\bDr\.)(?<!e\.g\.)\s+"
                           r"|\s+(?=\(\d{1,2}\)\s)")
_GOAL_WORD = re.compile(r"\b(?:goals?|objectives|objective(?!\s+(?:findings|measures?|data|exam\w*|tests?|testing"
                        r"|results?|information|signs?|status|assessment))|targets?|STGs?|LTGs?|expected outcomes?)\b", _I)
_GOAL_CUE = re.compile(
    _GOAL_WORD.pattern + r"|\bwill\s+(?:be\s+able|independently|demonstrate|improve|increase|decrease|reduce|achieve"
    r"|return|walk|ambulate|tolerate|complete|report|produce|use|score|identify|lift|climb|perform|maintain|initiate"
    r"|follow|swallow|consume|dress|participate|read|name|answer|sit|stand|reach|carry|attend|engage|express)\b", _I)
_HEADING = re.compile(r"^[\W\d]{0,4}([A-Za-z][\w ()/&,'-]{0,60}):(.*)$")
_BULLET = re.compile(r"^(?:[-*\u2022]|\(?\d{1,2}[.)]|[A-Za-z][.)])\s")


def _is_heading(line: str) -> bool:
    return bool(_HEADING.match(line) or (len(line.split()) < 6 and not _BULLET.match(line) and line[-1] not in ".!?;"))


def _sentences(text: str) -> Sentences:
    """The sentences, a sentence wrapped over lines joined back, each with whether it states a goal."""
    lines: list[str] = []
    for raw in text.splitlines():
        line, prev = raw.strip(), (lines[-1] if lines else "")
        if line and prev and prev[-1] not in ".!?;:" and not _is_heading(prev) and not _BULLET.match(line) \
                and not _HEADING.match(line):
            lines[-1] = f"{prev} {line}"
        else:
            lines.append(line)
    out: Sentences = []
    in_goals = filled = False
    for line in lines:
        if not line:
            in_goals = in_goals and not filled  # a blank line ends a goals list, unless right under its heading
            continue
        heading, is_heading = _HEADING.match(line), _is_heading(line)
        in_goals = bool(_GOAL_WORD.search(heading[1] if heading else line)) if is_heading else in_goals
        filled = not is_heading or bool(heading and heading[2].strip())
        for s in filter(str.strip, _SENTENCE_END.split(line)):
            goal = _GOAL_CUE.search(s) or (re.search(r"\bwill\b", s) and _TIMEFRAME.search(s))
            out.append((s, in_goals or bool(goal)))
    return out


def _first(sentences: Sentences, *patterns: re.Pattern[str], goals_too: bool = False) -> str:
    """The first sentence (outside the goals unless ``goals_too``) that every pattern matches, shortened; or ""."""
    found = next((s for s, goal in sentences if (goals_too or not goal) and all(p.search(s) for p in patterns)), "")
    return found if len(found := re.sub(r"\s+", " ", found).strip()) <= 80 else found[:77] + "..."


_NAME = r"[A-Z][A-Za-z'.-]+(?:[ \t]+[A-Z][A-Za-z'.-]+){1,3}"
_PATIENT = re.compile(rf"\b(?i:patient|client|member|child|student)(?:'s)?(?:\s+(?i:name))?\s*[:,]\s*"
                      rf"(?:(?:Mr|Ms|Mrs|Mx)\.?\s+)?{_NAME}|^\s*(?i:name)\s*:\s*{_NAME}", re.M)
_DOB = re.compile(rf"\b(?:date of birth|dob|d\.o\.b\.?|birth ?date|born(?: on)?)\s*[:-]?\s*(?:is\s+|of\s+)?{DATE}", _I)
_MEMBER = re.compile(r"\b(?i:member|subscriber|insurance|policy|patient|plan|medicaid|medicare)\s*(?i:id|identification"
                     r"|number|no\.?|#)[\s:#]*(?i:number|is)?[\s:#]*(?=[\w -]{0,20}\d)[A-Za-z0-9][\w-]{3,}")
_PROVIDER = re.compile(rf"\b(?i:provider|therapist|clinician|physician|psychologist|pathologist|counselor)"
                       rf"(?:\s+(?i:name))?\s*:\s*{_NAME}|\b(?i:sincerely|respectfully|regards|thank you)[^\n]{{0,40}}"
                       rf"\n(?:[ \t]*\n)*[ \t]*{_NAME}")
_NPI = re.compile(r"\bNPI\s*(?:#|number|no\.?)?\s*[:#]?\s*(\d[\d -]{8,14}\d)", _I)


def _patient(values: dict[str, str], draft: str) -> ChecklistItem:
    words = {"patient_name": ("the patient's name", _PATIENT), "date_of_birth": ("date of birth", _DOB),
             "member_id": ("member ID", _MEMBER)}
    missing = [n for n, (_, pattern) in words.items() if not values[n].strip() and not pattern.search(draft)]
    what = [words[m][0] for m in missing]
    return _item("patient", not missing, "Name, date of birth and member ID are given.",
                 f"Add {' and '.join([', '.join(what[:-1]), *what[-1:]] if len(what) > 1 else what)}: not in the form "
                 "or the letter.", missing[0] if missing else "")


def _provider(values: dict[str, str], draft: str) -> ChecklistItem:
    named = values["provider_name"].strip() or _PROVIDER.search(draft)
    problems = [] if named else [("provider_name", "Add the provider's name and credentials.")]
    given = values["provider_npi"].strip()
    numbers = ([given] if given else []) + [m[1].strip() for m in _NPI.finditer(draft)]
    wrong = next((n for n in numbers if not npi_valid(n)), None)
    if not numbers:
        problems.append(("provider_npi", "Add the provider's 10-digit NPI."))
    elif wrong is not None:
        problems.append(("provider_npi", f"The NPI {wrong[:20]} {'on the form' if wrong == given else 'in the letter'}"
                                         " is not valid (its check digit does not match): check it for a typo."))
    return _item("provider_npi", not problems, "Provider named; the NPI passes the check.",
                 " ".join(p[1] for p in problems), problems[0][0] if problems else "")


def _requested(values: dict[str, str], draft: str) -> list[tuple[str, CodeCheck]]:
    """(field, check) for each code in the code fields; for an empty field, the codes of its kind in the draft."""
    found: list[tuple[str, CodeCheck]] = []
    in_draft = [f.text for f in check_letter_codes(draft, ()).flags]  # every code the draft names
    for name, expect in (("icd10_codes", "icd10"), ("cpt_codes", "procedure")):
        parsed = parse_codes(values[name], expect)
        codes = parsed.codes if values[name].strip() else [
            c for text in in_draft for c in parse_codes(text).codes if (c[0] == ICD10) == (name == "icd10_codes")]
        found += [(name, check_code(system, code)) for system, code in dict.fromkeys(codes)]
        found += [(name, CodeCheck(p, UNKNOWN, False, False, "", "")) for p in parsed.unreadable]
    return found


def _codes_valid(requested: list[tuple[str, CodeCheck]]) -> ChecklistItem:
    problems: list[tuple[str, str]] = []
    for name, c in requested:
        near = ", ".join(s.code for s in c.suggestions[:4])
        if c.system == UNKNOWN:
            problems.append((name, f"'{c.code[:30]}' is not a code (CPT: 97110; HCPCS: G0283; ICD-10: F41.1)."))
        elif (name == "icd10_codes") != (c.system == ICD10):
            kind, box = ("procedure", "CPT / HCPCS") if c.system != ICD10 else ("diagnosis", "ICD-10")
            problems.append((name, f"{c.code} is a {kind} code: move it to the {box} codes."))
        elif c.billable is False and c.valid:
            problems.append((name, f"{c.code} is a category, not a billable code: use a more specific one ({near})."))
        elif c.billable is False:
            problems.append((name, f"{c.code} is not an ICD-10-CM code" + (f"; close to it: {near}." if near else ".")))
    for name, words in (("icd10_codes", "a diagnosis (ICD-10) code"), ("cpt_codes", "a CPT or HCPCS code")):
        if not any(n == name and c.system != UNKNOWN for n, c in requested):
            problems.append((name, f"Add {words}."))
    more = f" ({len(problems) - 2} more)" if len(problems) > 2 else ""
    return _item("codes_valid", not problems, f"All codes check out: {', '.join(c.code for _, c in requested)}.",
                 " ".join(p for _, p in problems[:2]) + more, problems[0][0] if problems else "")


# Words of a code's description that say nothing about the condition, and words too common to tell codes apart.
_STOP = set("""unspecified other specified and the with due for from right left unilateral bilateral primary secondary
site initial subsequent complete incomplete encounter sequela type single recurrent episode current mild moderate severe
major mixed combined generalized part region upper lower end following affecting dominant nondominant non side presence
history phase uncomplicated routine healing ear elsewhere classified mention status onset childhood adult""".split())
_GENERIC = set("""pain disorder disorders disease syndrome difficulty lack deficit dysfunction dysfunctions weakness
muscle muscles tendon tendons joint limb abnormality abnormal symptoms condition""".split())
_SITES = set("""knee hip shoulder elbow wrist hand finger thumb ankle foot toe neck thigh leg arm forearm jaw""".split())
_SUFFIX = re.compile(r"(?<=\w{3})(?:ations?|ities|ness|ings?|ions?|ity|ive|ous|ful|ed|es|ic|al|ly|s|e|y)$")
# A description's word -> other words a letter may use for it ("_" is a space).
_SYNONYMS = {word: tuple(w.replace("_", " ") for w in alts.split(",")) for word, alts in (e.split("=") for e in """
osteoarthritis=arthritis,oa,djd,degenerative_joint back=lumbar,lbp,lumbosacral lumbar=low_back,lbp cervicalgia=neck
depressive=mdd traumatic=ptsd stress=ptsd autistic=asd attention=adhd hyperactivity=adhd,hyperactive
dysphagia=swallow,swallowing cruciate=acl unsteadiness=balance,unsteady phonological=articulation,speech_sound
dysphonia=voice,hoarse obsessional=ocd,obsessive,compulsive fluency=stutter,stuttering
aphasia=word_finding,word-finding anxiety=anxious,worry infarction=stroke,cva cerebral=stroke,cva
hemiplegia=hemiparesis femur=hip humerus=shoulder disc=disk,herniated,herniation intervertebral=disk,herniated
coordination=uncoordinated,clumsy,dyspraxia,motor_planning vertigo=dizzy,bppv dizziness=dizzy,vertigo muscle=muscular
phobia=fear,anxiety alcohol=drinking artificial=replacement,arthroplasty,tka,tha
knee=acl,mcl,pcl,meniscus,meniscal,patella,patellar,tka hip=femur,femoral,tha shoulder=rotator_cuff,humerus,glenohumeral
wrist=radius,radial,carpal hand=carpal,metacarpal ankle=achilles,talus,malleolus""".split())}


def _mentions(word: str, stems: set[str], low: str) -> bool:
    """The word, a close form of it ("autism" for "autistic", "walked" for "walking") or a synonym."""
    def close(stem: str) -> bool:
        return stem in stems or any(len(os.path.commonprefix([stem, o])) >= max(5, min(len(stem), len(o)) - 2)
                                    for o in stems)
    return any(close(_SUFFIX.sub("", w)) if len(w) > 4 and " " not in w else re.search(rf"\b{re.escape(w)}\b", low)
               for w in (word, *_SYNONYMS.get(word, ())))


def _concepts(description: str) -> list[str]:
    """The words of a code's description that the letter should echo: the specific ones, else the generic ones."""
    text = re.sub(r",\s*(?:initial|subsequent) encounter.*$|,\s*sequela.*$|\b(?:without|not)\b[^,]*", " ",
                  description.lower())  # what the code leaves out is not its condition
    words = [w for w in re.findall(r"[a-z]{3,}", text) if w not in _STOP]
    return [w for w in words if w not in _GENERIC] or words


def _codes_consistent(requested: list[tuple[str, CodeCheck]], text: str) -> ChecklistItem:
    checks = [c for name, c in requested if name == "icd10_codes" and c.system == ICD10 and c.billable]
    if not checks:
        return ChecklistItem("codes_consistent", LABELS["codes_consistent"], None, "No valid diagnosis code yet.")
    for check in checks:  # the code and the label written beside it ("M54.50 (low back pain)") do not count
        key = check.code.replace(".", "")
        label = rf"\s*\([^)\n]{{0,120}}\)|\s*[-:=][^;\n]{{0,120}}?(?=[;\n]|\.\s|\.?$)|\s+{re.escape(check.description)}"
        text = re.sub(rf"(?<![\w.]){re.escape(key[:3])}\.?{re.escape(key[3:])}(?!\w)(?:{label})?", " ", text, flags=_I)
    low = text.lower()
    stems = {_SUFFIX.sub("", w) for w in re.findall(r"[a-z]{3,}", low)}
    unmatched = [c for c in checks if not any(_mentions(w, stems, low) for w in _concepts(c.description)) or (
        sites := _SITES & set(re.findall(r"[a-z]+(?! of)\b", c.description.lower()))) and not any(  # M17.12 is the knee:
        _mentions(w, stems, low) for w in sites)]  # a letter about the hip does not describe it
    listed = "; ".join(f"{c.code} ({c.description})" for c in unmatched)
    return _item("codes_consistent", not unmatched, "The letter describes the condition each diagnosis code names.",
                 f"The letter does not describe {listed}: describe the condition, or check the code.")


_COUNT = re.compile(
    rf"{N}\s*(?:\(\s*\d+\s*\)\s*)?(?:(?:additional|more|total|individual|group|family|weekly|outpatient|therapy|"
    r"treatment|follow-up|PT|OT|ST|speech|psychotherapy|telehealth)\s+){0,3}(?:visits?|sessions?|units?|treatments?|"
    r"appointments?)\b(?!\s*(?:/|per|a|an|each|every)\s*(?:day|week|wk|month))"
    r"|\b(?:visits|sessions|units)(?:\s+requested)?\s*[:=]\s*\d|\b(?:purchase|rental|length of need|quantity)\b", _I)
_PER = re.compile(rf"{N}\s*(?:visits?|sessions?|treatments?)\s*(?:/|per|a|an|each|every)\s*(?:week|wk|month)"
                  r"|\b(?:weekly|biweekly|bi-weekly|daily|monthly)\b", _I)
_LASTING = re.compile(rf"(?:\bfor|\bx|\bover|\bduring|\bduration:?|\u00d7)\s*(?:the\s+next\s+)?{N}\s*"
                      rf"(?:weeks?|wks?|months?|mos?)\b|{N}[- ](?:week|month)\b", _I)
_RANGE = re.compile(rf"{DATE}\s*(?:-|to|through|thru|until)\s*{DATE}", _I)
_STARTS = re.compile(rf"\b(?:start\w*|begin\w*|from|through|thru|until|between|effective|commenc\w*|dates|dates? of "
                     rf"service|period|as of|on or after)\b[^.;\n]{{0,30}}?{DATE}", _I)
_NOT_SERVICE = re.compile(r"\b(?:birth|born|dob|injur\w*|surg\w*|onset|accident|eval\w*|deni\w*|referral|fall)\b", _I)
_TOKEN = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")  # a policy's words and numbers ("cpb", "0325", "8.03.01")



def _units_dates(visits: str, text: str, sentences: Sentences) -> ChecklistItem:
    plain = [s for s, _ in sentences]
    pairs = [" ".join(plain[i:i + 2]) for i in range(len(plain))]  # how long: in the sentence or the next
    count = bool(re.fullmatch(r"\s*\d{1,3}\s*", visits) or _COUNT.search(text)) or any(
        (FREQ.search(s) or _PER.search(s)) and _LASTING.search(pair) for s, pair in zip(plain, pairs, strict=True))
    dated = bool(re.search(DATE, visits, _I) or _RANGE.search(text)) or any(
        not _NOT_SERVICE.search(text[max(0, m.start() - 25):m.end()]) for m in _STARTS.finditer(text))
    lacking = [w for w, ok in (("how many visits or units (e.g. '12 visits' or '2 times a week for 6 weeks')", count),
                               ("the dates of service or a start date", dated)) if not ok]
    return _item("units_dates", not lacking, "Says how many visits and when.", f"Add {' and '.join(lacking)}.",
                 "visits")


_PLAN = re.compile(r"\b(?:will|plan(?:s|ned)?|going to|would)\b", _I)  # what is to come is no result


def _prior_treatment(sentences: Sentences) -> ChecklistItem:
    tried = result = False
    for index, (s, goal) in enumerate(sentences):
        if not goal and _TREATED.search(s) and _BEFORE.search(s):
            after = [t for t, goal in sentences[index + 1:index + 3] if not goal and not _PLAN.search(t)]
            tried, result = True, result or bool(_RESULT.search(" ".join([s, *after[:2]])))
    return _item("prior_treatment", result, "Says what was tried before and how it went.",
                 "Says what was tried before but not how it went: add the result (e.g. 'without improvement')." if tried
                 else "Add the treatment tried before (therapy, home exercise, medication...) and how it went.")


def _goals(sentences: Sentences) -> ChecklistItem:
    blocks: list[list[str]] = []  # runs of goal sentences: a heading's time frame serves the goals under it
    for index, (s, goal) in enumerate(sentences):
        if goal:
            blocks += [] if index and sentences[index - 1][1] else [[]]
            blocks[-1].append(s)
    timed = [any(_TIMEFRAME.search(s) for s in b) for b in blocks]
    counted = [any(re.search(rf"\d|{N}", _NOT_TARGET.sub(" ", _TIMEFRAME.sub(" ", s)), _I) for s in b) for b in blocks]
    lacking = " and ".join(w for w, ok in (("a number to reach", any(counted)), ("a time frame", any(timed))) if not ok)
    missing = (f"The goals need {lacking or 'a number and a time frame in the same goal'} (e.g. 'in 6 weeks')."
               if blocks else "Add goals with a number and a time frame (e.g. 'walk 500 feet unaided in 6 weeks').")
    together = any(t and c for t, c in zip(timed, counted, strict=True))
    return _item("goals", together, "Goals have a number and a time frame.", missing)


def _payer_policy(draft: str, policies: Sequence[str]) -> ChecklistItem:
    known = [p.strip() for p in policies if p and p.strip()]
    if not known:
        return ChecklistItem("payer_policy", LABELS["payer_policy"], None,
                             "No policy is on file for this payer; cite its medical policy if you know it.")
    squashed, tokens = re.sub(r"[^a-z0-9]", "", draft.lower()), set(_TOKEN.findall(draft.lower()))
    hit = next((p for p in known if re.sub(r"[^a-z0-9]", "", p.lower()) in squashed  # the name, or its number
                or any(len(t) >= 4 and re.search(r"\d", t) for t in set(_TOKEN.findall(p.lower())) & tokens)), None)
    return _item("payer_policy", hit is not None, f"Cites {hit}.",
                 f"Cite the payer's policy: {'; '.join(p[:80] for p in known[:5])}.", "")


def check_letter(fields: Mapping[str, object], draft: str, *,
                 payer_policies: Sequence[str] = ()) -> list[ChecklistItem]:
    """The twelve checklist items, in order, for a request form and its draft letter."""
    values = {name: normalize_plain(field_text(fields.get(name))) for name in (*FIELDS, *NARRATIVE_FIELDS)}
    draft = normalize_plain(draft or "")
    text = "\n\n".join([*(values[n] for n in NARRATIVE_FIELDS if values[n].strip()), draft])
    sentences, requested = _sentences(text), _requested(values, draft)
    measure, function = _first(sentences, _MEASURE), _first(sentences, _ACTIVITIES, _LIMITS)
    skilled = _first(sentences, _SKILLED, goals_too=True)
    headed = [(f"{s} {n}", g) for (s, _), (n, g) in zip(sentences, sentences[1:], strict=False) if _is_heading(s)]
    risk = _first(sentences, _IF_DENIED, _HARM, goals_too=True) or _first([*sentences, *headed], _IF_DENIED, _PREDICT)
    risk = risk or _first(headed, _IF_DENIED, _HARM)  # under an "If not approved" heading
    items = [
        _patient(values, draft), _provider(values, draft), _codes_valid(requested), _codes_consistent(requested, text),
        _units_dates(values["visits"], text, sentences),
        _item("baseline", bool(measure), f'Found: "{measure}".',
              "Add measured starting values (range of motion in degrees, pain 0-10, scores such as ODI or PHQ-9)."),
        _item("function", bool(function), f'Found: "{function}".',
              "Add the daily activities the condition limits (walking, stairs, dressing, work, school...)."),
        _prior_treatment(sentences), _goals(sentences),
        _item("skilled", bool(skilled), f'Found: "{skilled}".',
              "Say why the care needs a licensed clinician (e.g. it cannot be done safely by the patient alone)."),
        _item("risk", bool(risk), f'Found: "{risk}".',
              "Say what is likely to happen if the request is denied (falls, surgery, hospital stay, job loss...)."),
        _payer_policy(draft, payer_policies),
    ]
    log.info("letter checklist: %d present, %d missing, %d unknown", sum(i.present is True for i in items),
             sum(i.present is False for i in items), sum(i.present is None for i in items))
    return items
