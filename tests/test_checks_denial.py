"""``read_denial``: the reasons, reference, letter date and appeal deadline read from payers' denial
letters, measured on the fictional letters in tests/data/denials (NAME.txt with NAME.json holding
what is expected), and ``assistant read-denial`` on text files, real PDFs and files it cannot use."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from assistant.checks.denial import CATEGORIES, CATEGORY_WORDS, Denial, DenialReason, letter_units, read_denial
from assistant.cli import read_denial as command
from assistant.errors import InputError

FOLDER = Path(__file__).resolve().parent / "data" / "denials"
LETTERS = sorted(FOLDER.glob("*.txt"))
SIX = set(CATEGORIES) - {"other"}


def expected(letter: Path) -> dict:
    return json.loads(letter.with_suffix(".json").read_text(encoding="utf-8"))


def scanned(text: str) -> bool:
    """Text as it comes out of a scanned PDF: words hyphenated at hard line ends."""
    return len(re.findall(r"[a-z]-\n\s*[a-z]", text)) >= 2


def measure(field: str) -> tuple[float, list[str]]:
    lines, right = [], 0
    for letter in LETTERS:
        want, got = expected(letter), read_denial(letter.read_text(encoding="utf-8")).as_dict()
        if field == "categories":
            want_value, got_value = sorted(want["categories"]), sorted({r["category"] for r in got["reasons"]})
        else:
            want_value, got_value = want[field], got[field]
        right += want_value == got_value
        mark = "ok " if want_value == got_value else "BAD"
        lines.append(f"{mark} {letter.stem}: expected {want_value}, got {got_value}")
    return right / len(LETTERS), lines


def test_the_letters_cover_what_the_measurement_needs() -> None:
    assert len(LETTERS) >= 12
    wants = [expected(letter) for letter in LETTERS]
    texts = [letter.read_text(encoding="utf-8") for letter in LETTERS]
    assert set().union(*(w["categories"] for w in wants)) >= SIX
    assert sum(len(w["categories"]) >= 2 for w in wants) >= 6
    assert sum(len(w["categories"]) >= 3 for w in wants) >= 2
    assert sum(scanned(t) for t in texts) >= 4
    for kind in ("Medicare Advantage", "Medicaid"):
        assert sum(kind in t for t in texts) >= 3, kind
    for discipline in ("-pt-", "-ot-", "-slp-", "-bh-"):  # physical, occupational, speech therapy, behavioral health
        assert sum(discipline in letter.name for letter in LETTERS) >= 5, discipline
    for field in ("reference", "letter_date", "deadline"):
        assert all(field in w for w in wants)
    assert all(set(w["categories"]) <= set(CATEGORIES) for w in wants)


@pytest.mark.parametrize("field", ["categories", "reference", "letter_date", "deadline"])
def test_accuracy_on_the_letters(field: str) -> None:
    share, lines = measure(field)
    assert share >= 0.9, f"{field}: {share:.0%} right\n" + "\n".join(lines)


# Sets written later, each by a writer who had not seen the reader's rules (and, for the last, none of the other
# letters): their first-sight figures are in the README. The reader was corrected on the first two afterwards.
WRITTEN_BLIND = [FOLDER.parent / name for name in ("denials-unseen", "denials-holdout", "denials-blind")]


@pytest.mark.parametrize("folder", WRITTEN_BLIND, ids=lambda folder: folder.name)
def test_letters_written_without_seeing_the_rules(folder: Path) -> None:
    """The issue's measure: the reasons, the reference and the deadline all right in at least 90% of the letters."""
    letters, wrong = sorted(folder.glob("*.txt")), []
    assert len(letters) >= 10
    wants = [expected(letter) for letter in letters]
    assert set().union(*(w["categories"] for w in wants)) >= SIX
    for letter, want in zip(letters, wants, strict=True):
        got = read_denial(letter.read_text(encoding="utf-8"))
        found = (sorted({r.category for r in got.reasons}), got.reference, got.deadline)
        if found != (sorted(set(want["categories"])), want["reference"], want["deadline"]):
            wrong.append(f"{letter.stem}: expected {want}, got {found}")
    assert len(wrong) <= 0.1 * len(letters), "\n".join(wrong)


def test_the_api_shape() -> None:
    denial = read_denial((FOLDER / "01-commercial-pt-criteria.txt").read_text(encoding="utf-8"))
    shape = denial.as_dict()
    assert list(shape) == ["reasons", "reference", "letter_date", "service_dates", "deadline", "deadline_words"]
    assert all(set(r) == {"category", "text"} for r in shape["reasons"])
    assert json.loads(json.dumps(shape)) == shape
    assert set(CATEGORY_WORDS) == set(CATEGORIES) and all(CATEGORY_WORDS.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        denial.reasons[0].category = "other"  # type: ignore[misc]
    assert isinstance(denial, Denial) and isinstance(denial.reasons[0], DenialReason)
    assert shape["service_dates"] == ["2026-12-01", "2027-01-12"]
    assert shape["deadline_words"] == "You have 180 days from the date of this notice to request an appeal."


def test_reason_text_is_the_letters_own_words() -> None:
    for letter in LETTERS:
        flat = " ".join(unit for unit, _ in letter_units(letter.read_text(encoding="utf-8")))
        for reason in read_denial(letter.read_text(encoding="utf-8")).reasons:
            assert reason.text in flat, (letter.stem, reason.text)
            assert reason.text == " ".join(reason.text.split())


def test_scanned_text_is_made_whole() -> None:
    text = ("Keystone Health                                 Page 1 of 2\nThe records do not show that con-\n"
            "servative care was tried.  The notes were not\nsigned.\n\nKeystone Health - Confidential\n\f"
            "Keystone Health                                 Page 2 of 2\nYou have 60 days from the date of this "
            "notice to request an\nappeal.\n")
    joined = " ".join(u for u, _ in letter_units(text))
    assert "conservative care was tried. The notes were not signed." in joined
    assert "Page" not in joined
    reasons = read_denial(text).reasons
    assert [r.category for r in reasons] == ["prior_care", "documentation"]


@pytest.mark.parametrize("written", ["20 November 2026", "20th of November, 2026", "11/20/2026", "November 20, 2026", "2026-11-20", "Nov. 20, 2026", "Nov 20 2026",
                                     "November 20th, 2026", "11-20-2026", "11/20/26"])
def test_date_forms(written: str) -> None:
    letter = f"Acme Health Plan\nDate: {written}\nCase #: AC-20261120\n\nDear Member,\n\nYour request is denied " \
             f"because you were not eligible on the date of service.\nYou may appeal within 60 days of the date of " \
             f"this letter.\n"
    denial = read_denial(letter)
    assert (denial.letter_date, denial.deadline, denial.reference) == ("2026-11-20", "2027-01-19", "AC-20261120")
    assert [r.category for r in denial.reasons] == ["administrative"]


BODY = "Date: November 20, 2026\nReference: RF-5531200\n\nReason for denial: The plan of care is not signed.\n\n"


@pytest.mark.parametrize(("words", "deadline"), [
    ("You have 60 days from the date of this notice to request an appeal.", "2027-01-19"),
    ("Your appeal must be received within 180 calendar days.", "2027-05-19"),
    ("Your appeal must be received no later than 01/19/2027.", "2027-01-19"),
    ("You may appeal by January 19, 2027. We decide standard appeals within 7 calendar days and expedited appeals "
     "within 72 hours.", "2027-01-19"),
    ("You must file your appeal within sixty (60) days of the date on this notice.", "2027-01-19"),
    ("Please submit your appeal within 60 days.", "2027-01-19"),
    ("If you ask for an appeal within 10 days, your services will continue during the appeal. You have 60 days "
     "from the date of this notice to ask for an appeal.", "2027-01-19"),
    ("After the appeal you may ask for a State Fair Hearing within 120 days of the date of our appeal decision. "
     "You must ask for an appeal within 65 days of the date of this notice.", "2027-01-24"),
    ("We will decide your appeal within 30 days of receiving it. An expedited appeal is decided within 72 hours.",
     ""),
    ("Your provider may ask for a peer-to-peer review within 14 days of this notice.", ""),
])
def test_deadline_phrases(words: str, deadline: str) -> None:
    denial = read_denial(BODY + "Your appeal rights\n" + words + "\n")
    assert denial.deadline == deadline, denial.deadline_words
    assert [r.category for r in denial.reasons] == ["documentation"]


def test_a_deadline_without_a_year_or_a_letter_date() -> None:
    text = "Reference: RF-5531200\nReason: The plan of care is not signed.\nAppeals must be received by January 19.\n"
    assert read_denial(text, today=dt.date(2026, 12, 2)).deadline == "2027-01-19"
    counted = "Reason: The plan of care is not signed.\nYou may appeal within 60 days of the date of this letter.\n"
    denial = read_denial(counted, today=dt.date(2026, 12, 2))
    assert denial.deadline == "" and "60 days" in denial.deadline_words  # never counted from today: too late


@pytest.mark.parametrize(("sentence", "category"), [
    ("The CPT code 97530 is not valid with the modifier submitted.", "coding"),
    ("Medical necessity was not established based on the clinical information provided.", "medical_necessity"),
    ("The requested service was provided by an out-of-network therapist without a referral.", "administrative"),
    ("The request was received after the services were provided.", "administrative"),
    ("The documentation does not describe how the member's anxiety limits work or daily activities.",
     "function_goals"),
    ("There is no record of prior physical therapy or its outcome.", "prior_care"),
    ("Daily notes for the last 30 days were not received.", "documentation"),
    ("The member has reached a plateau and the services are maintenance in nature.", "medical_necessity"),
    ("Cognitive rehabilitation is not a covered benefit under the member's contract.", "other"),
])
def test_one_reason_each(sentence: str, category: str) -> None:
    denial = read_denial(f"Dear Provider,\n\nWe denied this request. {sentence}\n\nSincerely,\nUM Department\n")
    assert [(r.category, r.text) for r in denial.reasons] == [(category, sentence)]


def test_what_is_not_a_reason() -> None:
    text = ("Dear Member,\n\nWe reviewed your request for physical therapy using our medical policy. A licensed "
            "therapist made this decision. We received a referral from your doctor on 11/02/2026.\nReason for denial:"
            " The progress notes were not signed.\nThis is not a decision about whether the care is medically "
            "necessary.\n\nIf you disagree, you can ask for a copy of the criteria used and appeal within 60 days of "
            "the date of this letter.\n")
    assert [r.category for r in read_denial(text).reasons] == ["documentation"]


def test_rights_named_before_the_reason() -> None:
    text = ("Date: 01/05/2027\r\nCase #: AC-77120\r\n\r\nDear Member,\r\n\r\nThis letter explains our decision and your "
            "appeal rights. We denied physical therapy because the progress notes were not signed.\r\n\r\nYou may "
            "appeal within 60 days of the date of this letter.\r\n")
    denial = read_denial(text)
    assert [r.category for r in denial.reasons] == ["documentation"]
    assert (denial.letter_date, denial.deadline, denial.reference) == ("2027-01-05", "2027-03-06", "AC-77120")


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x01\x02binary\x03\x04" * 50, "%$#@! 12345 ... ;;;" * 40])
def test_not_a_letter(text: str) -> None:
    with pytest.raises(InputError) as raised:
        read_denial(text)
    assert "letter" in raised.value.message and "Traceback" not in raised.value.message


def test_too_long() -> None:
    with pytest.raises(InputError, match="too long for one letter"):
        read_denial("The notes were not signed. " * 10_000)


# The command line.

def run_command(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    command.add(parser.add_subparsers(dest="command"))
    code = command.run(None, parser.parse_args(["read-denial", *argv]))
    return code, capsys.readouterr().out


def make_pdf(text: str, path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    for line in text.split("\n"):
        if "page break" in line:
            pdf.add_page()
        else:
            pdf.multi_cell(0, 4.5, line or " ", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


@pytest.mark.parametrize("name", ["01-commercial-pt-criteria", "07-scanned-medicaid-bh-iop"])
def test_real_pdf_through_the_command(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdf = make_pdf((FOLDER / f"{name}.txt").read_text(encoding="utf-8"), tmp_path / f"{name}.pdf")
    code, out = run_command(capsys, str(pdf), "--json")
    assert code == 0, out
    got, want = json.loads(out), expected(FOLDER / f"{name}.txt")
    assert sorted({r["category"] for r in got["reasons"]}) == sorted(want["categories"])
    assert [got[k] for k in ("reference", "letter_date", "deadline")] == [want[k] for k in
                                                                          ("reference", "letter_date", "deadline")]


def test_summary_in_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_command(capsys, str(FOLDER / "08-scanned-commercial-ot-stroke.txt"))
    assert code == 0
    assert "3 reason(s)" in out and CATEGORY_WORDS["coding"] in out and "KMH-A-3390175" in out
    assert "Appeal deadline: 2027-01-19" in out
    code, out = run_command(capsys, str(FOLDER / "15-fax-medicaid-slp-undated.txt"))
    assert code == 0 and "letter's date was not found" in out


def bad_files(tmp_path: Path) -> dict[str, Path]:
    from fpdf import FPDF

    files = {"missing": tmp_path / "nowhere.txt", "folder": tmp_path}
    for name, data in {"empty.txt": b"", "blank.txt": b"  \n\n ", "binary.txt": bytes(range(256)) * 8,
                       "nul.txt": b"a\x00b\x00" * 300, "damaged.pdf": b"%PDF-1.7\n1 0 obj <<\n", "fake.pdf": b"hello",
                       "latin1.txt": "Dear Ren\xe9e, your request is denied.".encode("latin-1")}.items():
        (tmp_path / name).write_bytes(data)
        files[name] = tmp_path / name
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60)  # a page with a picture and no text, as a scan is
    pdf.output(str(tmp_path / "scan.pdf"))
    files["scan.pdf"] = tmp_path / "scan.pdf"
    return files


def test_bad_files_get_a_plain_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, path in bad_files(tmp_path).items():
        for extra in ([], ["--json"]):
            code, out = run_command(capsys, str(path), *extra)
            assert code == 2, (name, out)
            assert out.startswith("Problem: ") and out.count("\n") == 1, (name, out)
            assert "Traceback" not in out and "Error" not in out, (name, out)
    assert "no text in it" in run_command(capsys, str(tmp_path / "scan.pdf"))[1]


def test_registered_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import COMMANDS, main

    assert "read-denial" in COMMANDS
    assert main(["read-denial", str(FOLDER / "02-ma-ot-unsigned.txt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reference"] == "MA-55120937"
    assert main(["read-denial", str(tmp_path / "nowhere.pdf")]) == 2
    assert capsys.readouterr().out.startswith("Problem: ")
