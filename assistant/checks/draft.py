"""One call that checks a draft against what the user gave: grounding flags,
missing sections and requested codes. Plain Python; the UI and the CLI show
the result (``DraftCheck.as_dict()`` is the ``check-draft --json`` shape).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from assistant.checks.checklist import ChecklistItem, check_letter
from assistant.checks.codes import UNKNOWN, CodeCheck, check_letter_codes, check_requested_codes
from assistant.checks.grounding import check_grounding
from assistant.checks.meaning import check_meaning
from assistant.checks.sections import check_sections
from assistant.checks.text import Flag, field_text
from assistant.core.kinds import CHECKED
from assistant.errors import InputError, where_failed

log = logging.getLogger(__name__)

KINDS = CHECKED
MAX_CHECKED_CHARS = 2_000_000
MAX_FLAGS = 1000
MAX_MEANING_CHARS = 100_000  # a note is a few thousand; reading meaning costs about 1 ms a sentence


@dataclass(frozen=True)
class DraftCheck:
    """``flags``: things to look at, by position in the draft. ``missing_sections``:
    required headings the draft lacks. ``codes``: each requested code (or piece
    of the code fields that could not be read) and what is known about it.
    ``notes``: what could not be checked, in plain language."""

    flags: list[Flag] = field(default_factory=list)
    missing_sections: list[str] = field(default_factory=list)
    codes: dict[str, CodeCheck] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checklist: list[ChecklistItem] = field(default_factory=list)  # letters only: "Ready to send?"

    def as_dict(self) -> dict[str, object]:
        shown = {
            "flags": [f.as_dict() for f in self.flags],
            "missing_sections": list(self.missing_sections),
            "codes": {code: check.as_dict() for code, check in self.codes.items()},
            "notes": list(self.notes),
        }
        if self.checklist:
            shown["checklist"] = [item.as_dict() for item in self.checklist]
        return shown


def _overlaps(flag: Flag, others: list[Flag]) -> bool:
    return any(flag.start < o.end and o.start < flag.end for o in others)


def check_draft(
    kind: str,
    fields: Mapping[str, object],
    draft: str,
    required_sections: list[str] | None = None,
    profile_text: str = "",
    *,
    today: dt.date | None = None,
    payer_policies: Sequence[str] = (),
) -> DraftCheck:
    """Check a note or letter draft. ``fields``: what the user typed, by field
    name (codes in ``cpt_codes`` and ``icd10_codes``). ``required_sections``:
    headings the draft must have, in order (None or [] for none).
    ``profile_text``: ``PracticeProfile.as_text()``. Today's date counts as
    supported (letters are dated today). A letter also gets its "Ready to send?" checklist, citing
    ``payer_policies`` (the chosen payer's policy numbers) when known."""
    if kind not in KINDS:
        raise InputError(f"'{kind}' is not a kind of draft the assistant checks. Use 'note' or 'letter'.")
    draft = draft if isinstance(draft, str) else field_text(draft)
    texts = {str(k): field_text(v) for k, v in (fields or {}).items()}
    notes: list[str] = []
    if not draft.strip():
        notes.append("The draft is empty, so there was nothing to check in it.")
    checked = draft
    if len(draft) > MAX_CHECKED_CHARS:
        checked = draft[:MAX_CHECKED_CHARS]
        notes.append(f"The draft is very long; only its first {MAX_CHECKED_CHARS:,} characters were checked.")
    if not any(t.strip() for t in texts.values()) and not (profile_text or "").strip():
        notes.append("Nothing was entered in the form, so every fact in the draft is flagged.")

    sources = [t for t in texts.values() if t] + [profile_text or "", (today or dt.date.today()).isoformat()]
    where = "your notes" if kind == "note" else "the form"
    flags: list[Flag] = []
    try:
        flags = check_grounding(checked, sources, where=where, limit=MAX_FLAGS + 1)
    except Exception as exc:  # the check must never take the caller down
        log.error("grounding check failed: %s", where_failed(exc))
        notes.append("The check for unsupported facts stopped unexpectedly, so the draft was not fully checked.")

    try:  # what the draft says differently: a side, a finding denied, a level of help, a goal's status, a body part
        meaning = check_meaning(checked[:MAX_MEANING_CHARS], sources)
        if len(checked) > MAX_MEANING_CHARS:
            notes.append(f"The draft is very long; sides, denied findings, levels of help, goals and body parts were "
                         f"checked in its first {MAX_MEANING_CHARS:,} characters only.")
        flags = [f for f in flags if not _overlaps(f, meaning)] + meaning
    except Exception as exc:
        log.error("meaning check failed: %s", where_failed(exc))
        notes.append("The check for changed meaning (sides, denied findings, levels of help, goals, body parts) "
                     "stopped unexpectedly, so read those in the draft yourself.")

    codes: dict[str, CodeCheck] = {}
    try:
        codes = check_requested_codes(texts.get("cpt_codes", ""), texts.get("icd10_codes", ""))
        if kind == "letter":
            requested = [c.code for c in codes.values() if c.system != UNKNOWN]
            letter = check_letter_codes(checked, requested)
            flags = [f for f in flags if not _overlaps(f, letter.flags)] + letter.flags
            for code in requested:
                missing = code in letter.missing
                extra = " The letter does not mention it." if missing else ""
                codes[code] = replace(codes[code], in_draft=not missing, message=codes[code].message + extra)
            if letter.missing:
                notes.append(f"The letter leaves out {len(letter.missing)} of the requested codes: "
                             f"{', '.join(letter.missing)}.")
    except Exception as exc:
        log.error("code check failed: %s", where_failed(exc))
        notes.append("The code check stopped unexpectedly; check the codes by hand.")
    unreadable = sum(c.system == UNKNOWN for c in codes.values())
    if unreadable:
        notes.append(f"{unreadable} piece(s) of the code fields could not be read as codes; see the code list.")

    checklist: list[ChecklistItem] = []
    if kind == "letter":
        try:
            checklist = check_letter(fields or {}, checked, payer_policies=payer_policies)
        except Exception as exc:
            log.error("letter checklist failed: %s", where_failed(exc))
            notes.append("The ready-to-send checklist stopped unexpectedly; go through the letter by hand.")
    missing_sections = check_sections(checked, required_sections or [])
    flags.sort(key=lambda f: (f.start, f.end))
    if len(flags) > MAX_FLAGS:
        notes.append(f"Showing the first {MAX_FLAGS} flags; there may be more further on in the draft.")
        flags = flags[:MAX_FLAGS]
    log.info("draft check (%s): %d chars, %d flags, %d missing sections, %d codes",
             kind, len(draft), len(flags), len(missing_sections), len(codes))
    return DraftCheck(flags, missing_sections, codes, notes, checklist)
