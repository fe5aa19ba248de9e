"""``assistant read-denial FILE [--json]``: the command-line adapter of ``read_denial``. Reads a
payer's denial letter (.txt, or a .pdf that has text in it), and prints what an appeal must answer:
the reasons, each in a category, the reference number, the letter's date and the appeal deadline.

Exit 0 when the letter was read (whatever it says); 2 with one plain "Problem: ..." line when the
file cannot be used: missing, empty, not text, a damaged PDF or a PDF that is only scanned pictures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from pathlib import Path

from assistant.checks.denial import CATEGORY_WORDS, Denial, read_denial
from assistant.cli.check_draft import emit
from assistant.errors import InputError
from assistant.store.incoming import read_letter_file

log = logging.getLogger(__name__)


def summary(denial: Denial) -> str:
    lines = [f"Denial letter: {len(denial.reasons)} reason(s) found." if denial.reasons else
             "Denial letter: no reason for the denial was found. Read the letter for the reason it gives, or call "
             "the payer and ask for it."]
    for number, reason in enumerate(denial.reasons, start=1):
        shown = reason.text if len(reason.text) <= 200 else reason.text[:197] + "..."
        lines.append(f"  {number}. {CATEGORY_WORDS[reason.category]}: \"{shown}\"")
    lines.append(f"Reference number: {denial.reference or 'not found'}")
    lines.append(f"Letter date: {denial.letter_date or 'not found'}")
    if denial.service_dates:
        lines.append("Dates of service or request: " + ", ".join(denial.service_dates))
    if denial.deadline:
        lines.append(f"Appeal deadline: {denial.deadline} (from: \"{denial.deadline_words}\")")
    elif denial.deadline_words:
        lines.append(f"Appeal deadline: not worked out, as the letter's date was not found. The letter says: "
                     f"\"{denial.deadline_words}\"")
    else:
        lines.append("Appeal deadline: not found. Check the letter's appeal section or ask the payer.")
    return "\n".join(lines)


def add(sub: argparse._SubParsersAction) -> None:
    read = sub.add_parser("read-denial", help="read a denial letter: the reasons, reference number and appeal deadline")
    read.add_argument("file", metavar="FILE", help="the denial letter: a .pdf with text in it, or a .txt file")
    read.add_argument("--json", action="store_true", help="print the result as JSON")


def run(config: object, args: argparse.Namespace) -> int:
    try:
        denial = read_denial(read_letter_file(Path(args.file).expanduser(), args.file), today=dt.date.today())
    except InputError as exc:
        emit(f"Problem: {exc.message}")
        log.error("read-denial: unusable letter: %s", type(exc).__name__)
        return 2
    log.info("read-denial: %d reason(s), reference %s, deadline %s", len(denial.reasons),
             "found" if denial.reference else "none", "found" if denial.deadline else "none")
    emit(json.dumps(denial.as_dict(), ensure_ascii=True) if args.json else summary(denial))
    return 0
