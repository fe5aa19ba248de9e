"""The "Ready to send?" checklist: twenty letters (form + draft, fictional patients, physical,
occupational and speech therapy and behavioral health) in tests/data/letters/. On the ten complete
letters nothing is flagged; on the ten deficient ones exactly what was left out on purpose (each
file's ``planted``) is flagged, and the planted gaps cover every item. Then the NPI check digit,
the payer's policy, the codes and the edges."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from assistant.checks.checklist import LABELS, ChecklistItem, check_letter, npi_valid
from assistant.core.presets import KNOWN_FIELDS

LETTERS = Path(__file__).parent / "data" / "letters"
COMPLETE = sorted(LETTERS.glob("complete-*.yaml"))
DEFICIENT = sorted(LETTERS.glob("deficient-*.yaml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run(letter: dict) -> list[ChecklistItem]:
    return check_letter(letter["fields"], letter["draft"], payer_policies=letter.get("payer_policies", ()))


def flagged(items: list[ChecklistItem]) -> set[str]:
    return {i.item for i in items if i.present is False}


def test_there_are_ten_letters_of_each_kind_over_every_discipline():
    assert len(COMPLETE) == 10 and len(DEFICIENT) == 10
    services = " ".join(load(p)["fields"]["requested_service"].lower() for p in COMPLETE + DEFICIENT)
    for discipline in ("physical therapy", "occupational therapy", "speech", "psychotherapy"):
        assert discipline in services


@pytest.mark.parametrize("path", COMPLETE, ids=lambda p: p.stem)
def test_a_complete_letter_has_nothing_flagged(path: Path):
    letter = load(path)
    assert letter["planted"] == []
    items = run(letter)
    assert flagged(items) == set(), [(i.item, i.hint) for i in items if i.present is False]
    unknown = {i.item for i in items if i.present is None}
    assert unknown == (set() if letter["payer_policies"] else {"payer_policy"})


@pytest.mark.parametrize("path", DEFICIENT, ids=lambda p: p.stem)
def test_a_deficient_letter_has_exactly_its_planted_gaps_flagged(path: Path):
    letter = load(path)
    items = run(letter)
    assert flagged(items) == set(letter["planted"]), [(i.item, i.hint) for i in items if i.present is not True]


# Cases written later by writers who had not seen the rules (first-sight figures in the README). The rules were
# corrected on letters-holdout afterwards, so every one of its cases must come out exactly.
HOLDOUT = sorted((LETTERS.parent / "letters-holdout").glob("*.yaml"))
BLIND = sorted((LETTERS.parent / "letters-blind").glob("*.yaml"))


@pytest.mark.parametrize("path", HOLDOUT, ids=lambda p: p.stem)
def test_letters_written_without_seeing_the_rules(path: Path):
    letter = load(path)
    assert path.stem.startswith("complete") == (letter["planted"] == [])
    items = run(letter)
    assert flagged(items) == set(letter["planted"]), [(i.item, i.hint) for i in items if i.present is not True]


def test_the_last_blind_set_as_measured():
    """letters-blind was corrected on only in general ways after its first sight (README): it still has 3 of its 13
    planted gaps missed and 1 present item flagged; this holds the rules to no worse than that."""
    planted = missed = false_flags = 0
    for path in BLIND:
        letter = load(path)
        found, want = flagged(run(letter)), set(letter["planted"])
        planted, missed, false_flags = planted + len(want), missed + len(want - found), false_flags + len(found - want)
    assert len(BLIND) == 10 and planted == 13
    assert missed <= 3 and false_flags <= 1, (missed, false_flags)


def test_the_planted_gaps_cover_every_item():
    planted = {item for path in DEFICIENT for item in load(path)["planted"]}
    assert planted == set(LABELS)


@pytest.mark.parametrize("path", COMPLETE + DEFICIENT, ids=lambda p: p.stem)
def test_items_come_in_order_with_one_line_hints_and_real_form_fields(path: Path):
    items = run(load(path))
    assert [i.item for i in items] == list(LABELS)
    assert [i.label for i in items] == list(LABELS.values())
    for i in items:
        assert i.hint and "\n" not in i.hint and len(i.hint) < 300
        assert (i.field == "") if i.present is not False else (i.field in KNOWN_FIELDS["prior_auth"] or i.field == "")
        assert i.as_dict() == {"item": i.item, "label": i.label, "present": i.present, "hint": i.hint, "field": i.field}


def test_a_missing_item_names_what_to_fill():
    items = {i.item: i for i in run(load(LETTERS / "deficient-01-no-dob-bad-npi.yaml"))}
    assert items["patient"].field == "date_of_birth"
    assert "date of birth and member ID" in items["patient"].hint
    assert items["provider_npi"].field == "provider_npi" and "1234567890" in items["provider_npi"].hint
    items = {i.item: i for i in run(load(LETTERS / "deficient-09-no-provider-no-result.yaml"))}
    assert items["provider_npi"].field == "provider_name" and "name" in items["provider_npi"].hint
    assert "how it went" in items["prior_treatment"].hint
    items = {i.item: i for i in run(load(LETTERS / "deficient-10-no-cpt-no-skill-no-risk.yaml"))}
    assert items["codes_valid"].field == "cpt_codes"
    items = {i.item: i for i in run(load(LETTERS / "deficient-02-category-code.yaml"))}
    assert items["codes_valid"].field == "icd10_codes" and "M17.1 is a category" in items["codes_valid"].hint
    assert items["codes_consistent"].present is None  # no billable code to compare


# -- NPI -------------------------------------------------------------------------------------------


def with_check_digit(first_nine: str) -> str:
    """CMS's way, written out: double every other digit from the right, add 24 for the 80840 prefix."""
    total = 24
    for index, char in enumerate(reversed(first_nine)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value // 10 + value % 10
    return first_nine + str((10 - total % 10) % 10)


def test_npi_check_digit():
    assert npi_valid("1234567893") and with_check_digit("123456789") == "1234567893"
    rng = random.Random(7)
    generated = [with_check_digit(rng.choice("12") + "".join(rng.choice("0123456789") for _ in range(8)))
                 for _ in range(25)]
    assert all(npi_valid(n) for n in generated)
    for npi in generated[:5]:  # any one digit changed breaks the check digit
        for position in range(10):
            for digit in "0123456789":
                if digit != npi[position]:
                    assert not npi_valid(npi[:position] + digit + npi[position + 1:])
    assert npi_valid(" 1234567893 ") and npi_valid("123-456-7893")
    for bad in ("1234567890", "123456789", "12345678931", "abcdefghij", "12345678A3", "", "１２３４５６７８９３"):
        assert not npi_valid(bad), bad


# -- the payer's policy, codes, wording ------------------------------------------------------------


def base() -> dict:
    return load(LETTERS / "complete-02-pt-knee.yaml")


def item(items: list[ChecklistItem], name: str) -> ChecklistItem:
    return next(i for i in items if i.item == name)


def test_payer_policy_is_cited_not_cited_or_unknown():
    letter = base()
    known = ["Clinical Policy Bulletin 0325", "Therapy Guideline TG-7"]
    assert item(check_letter(letter["fields"], letter["draft"]), "payer_policy").present is None
    missing = item(check_letter(letter["fields"], letter["draft"], payer_policies=known), "payer_policy")
    assert missing.present is False and "Clinical Policy Bulletin 0325; Therapy Guideline TG-7" in missing.hint
    for citation in ("This meets CPB 0325.", "See therapy guideline tg-7.", "Per Clinical Policy Bulletin 0325,"):
        cited = item(check_letter(letter["fields"], letter["draft"] + citation, payer_policies=known), "payer_policy")
        assert cited.present is True, citation


def test_codes_are_read_from_the_draft_when_the_form_has_none():
    letter = base()
    fields = {**letter["fields"], "cpt_codes": "", "icd10_codes": ""}
    items = check_letter(fields, letter["draft"])
    assert item(items, "codes_valid").present is True and "M17.11" in item(items, "codes_valid").hint
    assert item(items, "codes_consistent").present is True


def test_codes_in_the_wrong_box_or_unreadable_are_flagged():
    letter = base()
    for cpt, icd, words in (("97110", "97116", "97116 is a procedure code"),
                            ("M17.11", "M17.11", "is a diagnosis code"),
                            ("97110, 9711", "M17.11", "'9711' is not a code"),
                            ("97110", "M17.99", "not an ICD-10-CM")):
        check = item(check_letter({**letter["fields"], "cpt_codes": cpt, "icd10_codes": icd}, letter["draft"]),
                     "codes_valid")
        assert check.present is False and words in check.hint, (cpt, icd, check.hint)


@pytest.mark.parametrize(("code", "story", "consistent"), [
    ("M54.50", "Chronic LBP since lifting at work.", True),
    ("M54.50", "Neck pain for two months.", False),
    ("M17.11", "Right knee pain and stiffness on stairs.", True),
    ("F41.1", "She is anxious most days.", True),
    ("F41.1", "Low mood and loss of interest.", False),
    ("I69.351", "Right hemiparesis after a CVA.", True),
    ("R13.12", "Coughing when swallowing thin liquids.", True),
    ("F80.81", "He stutters on most sentences.", True),
    ("S83.511D", "Rehabilitation after ACL reconstruction.", True),
])
def test_a_diagnosis_code_must_match_the_story(code: str, story: str, consistent: bool):
    check = item(check_letter({"icd10_codes": code, "justification": story}, ""), "codes_consistent")
    assert check.present is consistent, check.hint


def test_the_label_beside_a_code_does_not_count_as_describing_it():
    fields = {"icd10_codes": "M17.11", "justification": "Pain and stiffness."}
    for draft in ("Diagnosis: M17.11 (right knee osteoarthritis).", "ICD-10: M17.11 - right knee osteoarthritis",
                  "M17.11 Unilateral primary osteoarthritis, right knee"):
        assert item(check_letter(fields, draft), "codes_consistent").present is False, draft
    assert item(check_letter(fields, "She has osteoarthritis of the right knee (M17.11)."),
                "codes_consistent").present is True


@pytest.mark.parametrize(("text", "present"), [
    ("Walk 500 feet without a device in 6 weeks is the goal.", True),
    ("Goal: PHQ-9 under 10 by 03/15/2027.", True),
    ("Short-term goals (4 weeks):\n1. Independent with home program.\n2. Pain 3/10 or less.", True),
    ("She will climb 12 stairs with one rail within 8 weeks.", True),
    ("Goals for this authorization period: Berg 45/56 and TUG under 14 seconds.", True),
    ("Goal: improve walking.", False),
    ("Goal: walk independently in 6 weeks.", False),
    ("Goal: walk 500 feet with a cane.", False),
    ("Goal: reduce symptoms as measured by the PHQ-9 within 12 weeks.", False),
])
def test_goals_need_a_number_and_a_time_frame(text: str, present: bool):
    assert item(check_letter({"justification": text}, ""), "goals").present is present


def test_a_target_in_the_goals_is_not_a_measured_starting_point():
    items = check_letter({"justification": "Goals: shoulder flexion 150 degrees and pain 2/10 in 6 weeks."}, "")
    assert item(items, "goals").present is True and item(items, "baseline").present is False
    items = check_letter({"justification": "Flexion is 95 degrees. Goal: 150 degrees in 6 weeks."}, "")
    assert item(items, "baseline").present is True and '"Flexion is 95 degrees."' in item(items, "baseline").hint


@pytest.mark.parametrize(("visits", "present"), [
    ("12 visits from 04/01/2026 to 05/15/2026", True),
    ("2x/week for 6 weeks, starting 04/06/2026", True),
    ("3 times a week for 4 weeks beginning May 4, 2026", True),
    ("Frequency: 2x/week. Duration: 8 weeks. Start of care 04/01/2026.", True),
    ("Purchase of one front-wheeled walker, delivery starting 05/01/2026", True),
    ("12 visits", False),
    ("2x/week starting 04/06/2026", False),
    ("as needed", False),
])
def test_units_and_dates(visits: str, present: bool):
    assert item(check_letter({"visits": visits}, "Date of birth: 01/02/1960"), "units_dates").present is present


@pytest.mark.parametrize(("text", "present"), [
    ("She completed 6 weeks of PT in 2025 without improvement.", True),
    ("Two cortisone injections last year helped for about a month each.", True),
    ("He has attended 10 visits. Grip improved from 14 lb to 28 lb.", True),
    ("Started prolonged exposure 8 weeks ago. PCL-5 52 at intake, 41 at session 6.", True),
    ("A cane was tried and was not enough.", True),
    ("A home exercise program was started at evaluation.", False),
    ("She had speech therapy at school last year.", False),
    ("We request prior authorization for physical therapy.", False),
])
def test_prior_treatment_needs_its_result(text: str, present: bool):
    check = item(check_letter({"justification": text}, ""), "prior_treatment")
    assert check.present is present, check.hint


def test_nothing_given_is_all_missing_and_nothing_breaks():
    items = check_letter({}, "")
    assert [i.present for i in items] == [False] * 3 + [None] + [False] * 7 + [None]
    items = check_letter({"visits": 12, "provider_npi": 1234567893, "cpt_codes": None}, None)  # type: ignore[arg-type]
    assert item(items, "provider_npi").field == "provider_name"  # the NPI number itself is valid


def test_a_date_is_not_a_pain_rating():
    """"02/10/2026" holds "2/10", but it is a date, not a measured starting point."""
    letter = {"justification": "Surgery on 02/10/2026. She started therapy on 03/10/2026."}
    items = {i.item: i for i in check_letter(letter, "We ask for 12 visits from 04/01/2026 to 05/30/2026.")}
    assert items["baseline"].present is False
    items = {i.item: i for i in check_letter(letter, "Her pain is 6/10 at rest.")}
    assert items["baseline"].present is True
