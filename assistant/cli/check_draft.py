"""``assistant check-draft --input FIELDS.json --draft DRAFT.txt [--kind note|letter] [--json]``:
the command-line adapter of ``check_draft``. Reads the two files, finds the
required sections from ``note_format``, adds the saved practice profile as
supporting text, and prints JSON or a readable summary. A letter also gets the
"Ready to send?" checklist (``"checklist"`` in the JSON), citing the saved payer's
policies when the fields name a payer on file.

Exit 0 when the check ran (whatever it found); 2 with a plain message when a
file cannot be read or is not what is expected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from assistant.checks.draft import DraftCheck, check_draft
from assistant.core.kinds import CHECKED

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20_000_000
LETTER_HINTS = {"patient_name", "payer", "member_id", "cpt_codes", "icd10_codes", "justification", "requested_service"}


class Unreadable(Exception):
    """A file given on the command line cannot be used; the message says why."""


def emit(text: str) -> None:
    """Print, replacing what the console's encoding cannot show."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        print(text, file=stream, flush=True)
    except UnicodeEncodeError:
        encoding = stream.encoding or "ascii"
        print(text.encode(encoding, "replace").decode(encoding), file=stream, flush=True)


def read_text_file(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise Unreadable(f"{path}: {what} is larger than {MAX_FILE_BYTES // 1_000_000} MB.")
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"{path}: {what} could not be read ({exc.strerror or type(exc).__name__}).") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{path}: {what} is not UTF-8 text (save it as UTF-8 and try again).") from exc


def read_fields(path: Path) -> dict[str, object]:
    text = read_text_file(path, "the fields file")
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise Unreadable(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}).") from exc
    if not isinstance(data, dict):
        raise Unreadable(f"{path}: expected a JSON object that maps each field name to its text.")
    for name, value in data.items():
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict | list) for v in value)):
            raise Unreadable(f"{path}: field '{name[:60]}' must be text, a number or a list of them.")
    return data


def guess_kind(fields: dict[str, object]) -> str:
    if "session_description" in fields or "note_format" in fields:
        return "note"
    return "letter" if LETTER_HINTS & set(fields) else "note"


def required_sections(kind: str, fields: dict[str, object], notes: list[str]) -> list[str] | None:
    if kind != "note" or not str(fields.get("note_format") or "").strip():
        return None
    from assistant.core.documents.notes import NOTE_FORMATS

    given = str(fields["note_format"]).strip()
    for name, sections in NOTE_FORMATS.items():
        if name.lower() == given.lower():
            return sections
    notes.append(f"The note format '{given[:40]}' is not one the assistant knows "
                 f"({', '.join(NOTE_FORMATS)}), so sections were not checked.")
    return None


def summary(result: DraftCheck, draft: str, kind: str) -> str:
    lines = [f"Draft check ({kind}, {len(draft):,} characters): "
             f"{len(result.flags)} thing(s) to look at." if result.flags else
             f"Draft check ({kind}, {len(draft):,} characters): nothing unsupported found."]
    for flag in result.flags:
        line_no = draft.count("\n", 0, flag.start) + 1
        shown = flag.text if len(flag.text) <= 60 else flag.text[:57] + "..."
        lines.append(f"  line {line_no}: \"{shown}\" ({flag.category}): {flag.reason}")
    if result.missing_sections:
        lines.append("Missing sections: " + ", ".join(result.missing_sections))
    if result.codes:
        lines.append("Codes:")
        for code, check in result.codes.items():
            lines.append(f"  {code}: {check.message}")
    if result.checklist:
        lines.append("Ready to send?")
        for item in result.checklist:
            mark = {True: "yes", False: "MISSING", None: "unknown"}[item.present]
            lines.append(f"  [{mark}] {item.label}: {item.hint}")
    for note in result.notes:
        lines.append(f"Note: {note}")
    return "\n".join(lines)


def add(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check-draft", help="check a draft against what was typed: unsupported facts, sections, codes")
    check.add_argument("--input", required=True, metavar="FIELDS.json", help="JSON object: each field you filled, to its text")
    check.add_argument("--draft", required=True, metavar="DRAFT.txt", help="the draft to check (UTF-8 text)")
    check.add_argument("--kind", choices=CHECKED, default=None, help="default: guessed from the fields")
    check.add_argument("--json", action="store_true", help="print the result as JSON")


def run(config: object, args: argparse.Namespace) -> int:
    from assistant.store.profile import load_profile

    try:
        fields = read_fields(Path(args.input).expanduser())
        draft = read_text_file(Path(args.draft).expanduser(), "the draft")
    except Unreadable as exc:
        emit(f"Problem: {exc}")
        log.error("check-draft: unreadable input")
        return 2
    kind = args.kind or guess_kind(fields)
    extra: list[str] = []
    sections = required_sections(kind, fields, extra)
    root = getattr(getattr(config, "paths", None), "root", None)
    profile = load_profile(root) if root is not None else None
    payer = profile.payer(str(fields.get("payer") or "")) if profile is not None else None
    result = check_draft(kind, fields, draft, sections, profile.as_text() if profile is not None else "",
                         payer_policies=payer.policy_list() if payer is not None else ())
    result = replace(result, notes=[*result.notes, *extra])
    if args.json:
        emit(json.dumps(result.as_dict(), ensure_ascii=True))
    else:
        emit(summary(result, draft, kind))
    return 0
