"""Appeal mode: a payer's denial letter in (pasted, or a .pdf/.txt file), what the appeal must
answer out, as the appeal preset's "Denial details" field.

The reading is ``checks.denial.read_denial`` (plain rules, no model); this module only joins the
two ways a letter arrives and writes the field's text. The field quotes the payer's own words for
each reason, so the drafted appeal answers the reasons as the payer gave them, and the grounding
check finds the reference number and dates in what the person gave.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from assistant.checks.denial import CATEGORY_WORDS, Denial, read_denial
from assistant.errors import InputError
from assistant.store.incoming import read_letter_file

log = logging.getLogger(__name__)

APPEAL_PRESET = "prior-auth-appeal"
MAX_REASON_CHARS = 600  # one reason's quoted words in the field; the field holds 4,000 characters in all
MAX_REASONS = 6


def read(pasted: str, upload: str | Path | None, today: dt.date | None = None) -> Denial:
    """The denial read from the uploaded file if one is given, else from the pasted text."""
    if upload:
        path = Path(upload)
        text = read_letter_file(path, path.name)
    else:
        text = pasted or ""
    if not text.strip():
        raise InputError("Paste the denial letter's text into the box, or upload the letter as a PDF or text file.")
    denial = read_denial(text, today=today or dt.date.today())
    log.info("appeal: denial read, %d reason(s), reference %s, deadline %s", len(denial.reasons),
             "found" if denial.reference else "none", "found" if denial.deadline else "none")
    return denial


def _us_date(iso: str) -> str:
    return dt.date.fromisoformat(iso).strftime("%m/%d/%Y") if iso else ""


def denial_details(denial: Denial) -> str:
    """The appeal preset's "Denial details" text: date, reference, each reason in the payer's words, deadline."""
    head = []
    if denial.letter_date:
        head.append(f"Denial letter dated {_us_date(denial.letter_date)}")
    if denial.reference:
        head.append(f"reference {denial.reference}")
    lines = [(", ".join(head) or "Denial letter") + "."]
    if denial.service_dates:
        lines.append("Dates of service or request in the letter: " + ", ".join(map(_us_date, denial.service_dates))
                     + ".")
    if denial.reasons:
        lines.append("Reasons given by the payer, to answer one by one:")
        for number, reason in enumerate(denial.reasons[:MAX_REASONS], start=1):
            words = reason.text if len(reason.text) <= MAX_REASON_CHARS else reason.text[:MAX_REASON_CHARS - 3] + "..."
            lines.append(f"{number}. ({CATEGORY_WORDS[reason.category]}) \"{words}\"")
    else:
        lines.append("Reason given: (not found in the letter; type the payer's reason here).")
    if denial.deadline:
        lines.append(f"Appeal deadline: {_us_date(denial.deadline)}.")
    return "\n".join(lines)
