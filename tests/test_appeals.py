"""Appeal mode below the page: a denial pasted or given as a file becomes the appeal preset's
"Denial details" (dates, reference, each reason in the payer's words, the deadline); files that
cannot be used get one plain message naming the file, never its text."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from assistant.app import appeals
from assistant.core.documents import field_problems
from assistant.errors import InputError
from assistant.store.incoming import Unreadable, read_letter_file
from assistant.store.presets import load_presets, shipped_dir

DENIALS = Path(__file__).resolve().parent / "data" / "denials"
TODAY = dt.date(2026, 12, 2)


def expected(name: str) -> dict:
    return json.loads((DENIALS / f"{name}.json").read_text(encoding="utf-8"))


def test_pasted_letter_fills_the_denial_details():
    denial = appeals.read((DENIALS / "02-ma-ot-unsigned.txt").read_text(encoding="utf-8"), None, TODAY)
    details = appeals.denial_details(denial)
    want = expected("02-ma-ot-unsigned")
    assert want["reference"] in details
    deadline = dt.date.fromisoformat(want["deadline"]).strftime("%m/%d/%Y")
    assert details.splitlines()[-1] == f"Appeal deadline: {deadline}."
    assert "Reasons given by the payer, to answer one by one:" in details
    for number, reason in enumerate(denial.reasons, start=1):  # the payer's own words, quoted
        assert f'{number}. (' in details and reason.text[:60] in details
    preset = load_presets([shipped_dir()]).presets[appeals.APPEAL_PRESET]
    limit = next(f for f in preset.resolved_fields() if f.name == "denial_details").max_length
    assert len(details) <= limit


def test_an_uploaded_file_wins_over_the_box(tmp_path: Path):
    letter = tmp_path / "denial.txt"
    letter.write_text((DENIALS / "05-scanned-pt-knee-network.txt").read_text(encoding="utf-8"), encoding="utf-8")
    denial = appeals.read("this text is ignored when a file is given", str(letter), TODAY)
    assert denial.reference == expected("05-scanned-pt-knee-network")["reference"]


def test_the_details_fit_the_preset_even_for_a_long_letter():
    reasons = " ".join(f"Reason {n}: the plan of care dated 01/0{n % 9 + 1}/2026 was not signed by the physician, "
                       "and no progress notes were sent with the request, and the records are incomplete." * 3
                       for n in range(12))
    denial = appeals.read(f"Date: 03/14/2026\nReference: UR-2026-7781\n\nWe denied this request. {reasons}", None, TODAY)
    details = appeals.denial_details(denial)
    preset = load_presets([shipped_dir()]).presets[appeals.APPEAL_PRESET]
    assert field_problems(preset, {"denial_details": details}).get("denial_details") is None
    assert len(details) <= 4_000


def test_nothing_given_or_no_reason_found():
    with pytest.raises(InputError, match="Paste the denial letter"):
        appeals.read("   ", None, TODAY)
    denial = appeals.read("Date: 03/14/2026\nThank you for calling us today about your plan. We are glad to help you "
                          "with any question about your benefits.", None, TODAY)
    assert "not found in the letter" in appeals.denial_details(denial)


@pytest.mark.parametrize("name, content, words", [
    ("letter.txt", b"", "is empty"), ("letter.txt", b"\x00\x01\xff\xfe" * 50, "not a text file or a PDF"),
    ("letter.pdf", b"%PDF-1.7\n garbage that is no PDF", "could not be read"),
])
def test_files_that_cannot_be_used(tmp_path: Path, name: str, content: bytes, words: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Unreadable, match=words) as caught:
        read_letter_file(path, name)
    assert caught.value.message.startswith(f"{name}: ") and "\n" not in caught.value.message
    with pytest.raises(Unreadable, match="could not be read"):
        read_letter_file(tmp_path / "missing.txt", "missing.txt")
    with pytest.raises(Unreadable, match="folder"):
        read_letter_file(tmp_path, "folder")


def test_named_pdf_that_is_text(tmp_path: Path):
    path = tmp_path / "letter.pdf"
    path.write_text("Date: 03/14/2026\nWe denied it.", encoding="utf-8")
    with pytest.raises(Unreadable, match="named .pdf but is not a PDF"):
        read_letter_file(path)
