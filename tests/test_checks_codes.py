"""Codes: tolerant reading of CPT, HCPCS and ICD-10-CM codes, the ICD-10-CM
look-up (valid, billable, description, nearby codes) and the letter check
(every requested code, and no other)."""

from __future__ import annotations

import pytest

from assistant.checks import check_icd10, check_letter_codes, check_requested_codes, parse_codes
from assistant.checks.codes import CPT, HCPCS, ICD10, UNKNOWN


@pytest.mark.parametrize(
    ("text", "expect", "codes"),
    [
        ("f41.1 ,97110", "icd10", [(ICD10, "F41.1"), (CPT, "97110")]),
        ("F41. 1;G0283 ,  0001F", "procedure", [(ICD10, "F41.1"), (HCPCS, "G0283"), (CPT, "0001F")]),
        ("ICD-10: E1165", "icd10", [(ICD10, "E11.65")]),
        ("CPT 97110-GP x4, 97112 (2 units)", "procedure", [(CPT, "97110"), (CPT, "97112")]),
        ("m62.81\nM62.81  m6281", "icd10", [(ICD10, "M62.81")]),
        ("0359T", None, [(CPT, "0359T")]),
    ],
)
def test_codes_are_read_tolerantly(text: str, expect: str | None, codes: list[tuple[str, str]]) -> None:
    parsed = parse_codes(text, expect)
    assert [(s, c if s != ICD10 else c.replace("M6281", "M62.81")) for s, c in parsed.codes] == codes
    assert parsed.unreadable == []


def test_junk_is_reported_not_guessed() -> None:
    parsed = parse_codes("xx12, 9711, F4!.1, 971100, 97110", "procedure")
    assert parsed.codes == [(CPT, "97110")]
    assert parsed.unreadable == ["XX12", "9711", "F4!.1", "971100"]
    assert parse_codes("", None).codes == []
    assert parse_codes("therapeutic exercise; see notes", None).unreadable == []


def test_a_billable_code_has_its_description() -> None:
    check = check_icd10("f41.1")
    assert (check.code, check.system, check.valid, check.billable) == ("F41.1", ICD10, True, True)
    assert check.description == "Generalized anxiety disorder"
    assert "billable" in check.message


def test_a_category_is_valid_but_not_billable_and_suggests_billable_codes() -> None:
    check = check_icd10("M62")
    assert (check.valid, check.billable) == (True, False)
    assert check.description == "Other disorders of muscle"
    codes = [s.code for s in check.suggestions]
    assert "M62.81" in codes and all(c.startswith("M62.") for c in codes)
    assert all(check_icd10(c).billable for c in codes)
    assert "not a billable code" in check.message and "M62.81 (Muscle weakness (generalized))" in check.message


def test_a_seventh_character_is_needed_for_injury_codes() -> None:
    check = check_icd10("S83.511")
    assert (check.valid, check.billable) == (True, False)
    assert [s.code for s in check.suggestions] == ["S83.511A", "S83.511D", "S83.511S"]


@pytest.mark.parametrize(("code", "prefix"), [("F41.7", "F41."), ("Z99.99", "Z99"), ("M6299", "M62.9")])
def test_an_unknown_code_gets_nearby_valid_codes(code: str, prefix: str) -> None:
    check = check_icd10(code)
    assert (check.valid, check.billable, check.description) == (False, False, "")
    assert check.suggestions and all(s.code.startswith(prefix) for s in check.suggestions)
    assert "is not an ICD-10-CM code" in check.message


def test_requested_codes_cover_every_field_piece() -> None:
    codes = check_requested_codes("97110, 97112 ,G0283, 9711", "M62, m62.81, F41.7, 🙂 F4!.1")
    assert list(codes) == ["97110", "97112", "G0283", "9711", "M62", "M62.81", "F41.7", "F4!.1"]
    assert codes["97110"].system == CPT and codes["97110"].valid is None and "fee schedule" in codes["97110"].message
    assert codes["G0283"].system == HCPCS
    assert codes["9711"].system == UNKNOWN and codes["9711"].valid is False and "could not be read" in codes["9711"].message
    assert codes["M62.81"].billable is True
    assert check_requested_codes("", "") == {}
    assert check_requested_codes("9" * 5000, "Z" * 5000)  # completes, says what it could not read


LETTER = """Sunrise Therapy
12 Main St, Springfield, IL 62704

We request CPT 97110 and 97112 for generalized anxiety (F41.1), and for M62.81.
"""


def test_letter_must_name_every_requested_code_and_no_other() -> None:
    result = check_letter_codes(LETTER, ["97110", "F411", "97530"])
    assert [(f.text, f.category) for f in result.flags] == [("97112", "code"), ("M62.81", "code")]
    for flag in result.flags:
        assert LETTER[flag.start:flag.end] == flag.text
        assert "not requested" in flag.reason
    assert result.missing == ["97530"]  # F411 is named as F41.1; the ZIP code is no code


def test_letter_with_exactly_the_requested_codes_passes() -> None:
    result = check_letter_codes(LETTER, ["97110", "97112", "F41.1", "M62.81"])
    assert result.flags == [] and result.missing == []
    assert check_letter_codes("", ["97110"]).missing == ["97110"]
