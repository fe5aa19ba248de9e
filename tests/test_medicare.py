"""Medicare therapy helpers: CMS's 8-minute table and its published examples (Claims Processing
Manual ch. 5 §20.2), the psychotherapy time codes, the KX thresholds per year and discipline, and
the vendor's update of the figures file (a good one, a broken one)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from assistant.core import medicare
from assistant.core.medicare import (
    MedicareDataError,
    assign_units,
    psychotherapy_code,
    psychotherapy_words,
    timed_units,
    unit_table,
)
from assistant.errors import InputError
from assistant.store import medicare_data
from assistant.store.resources import SOURCE_ROOT

# --- the 8-minute rule --------------------------------------------------------------------------

# CMS's table: units -> (first minute, last minute).
CMS_TABLE = {1: (8, 22), 2: (23, 37), 3: (38, 52), 4: (53, 67), 5: (68, 82), 6: (83, 97), 7: (98, 112), 8: (113, 127)}
BOUNDARIES = [(0, 0), (1, 0), (7, 0)] + [(m, u) for u, (lo, hi) in CMS_TABLE.items() for m in (lo, hi)] + [(128, 9)]


@pytest.mark.parametrize(("minutes", "units"), BOUNDARIES)
def test_timed_units_every_row_of_cms_table(minutes: int, units: int) -> None:
    assert timed_units(minutes) == units


def test_timed_units_every_minute_and_beyond_the_table() -> None:
    for units, (low, high) in CMS_TABLE.items():
        assert {timed_units(m) for m in range(low, high + 1)} == {units}
    assert timed_units(142) == 9 and timed_units(143) == 10  # and so on, 15 more minutes a unit
    assert timed_units(24 * 60) == (24 * 60 + 7) // 15
    assert unit_table() == [(u, lo, hi) for u, (lo, hi) in CMS_TABLE.items()]


@pytest.mark.parametrize("bad", [-1, 24 * 60 + 1, 10_000, 7.5, "30", None, True])
def test_timed_units_refuses_impossible_minutes(bad: object) -> None:
    with pytest.raises(InputError) as caught:
        timed_units(bad)  # type: ignore[arg-type]
    assert "minutes" in caught.value.message and "Traceback" not in caught.value.message


def test_whole_minutes_given_as_a_float_are_accepted() -> None:
    assert timed_units(38.0) == 3  # type: ignore[arg-type]  # a number box gives floats


# CMS's published examples, ch. 5 §20.2.
def test_cms_example_1_more_units_to_the_longer_service() -> None:
    assert assign_units({"97112": 24, "97110": 23}) == {"97112": 2, "97110": 1}  # 47 minutes, 3 units


def test_cms_example_2_equal_times_either_code_gets_two() -> None:
    units = assign_units({"97112": 20, "97110": 20})  # 40 minutes, 3 units; never 3 of one code
    assert sorted(units.values()) == [1, 2] and sum(units.values()) == 3
    assert units == {"97112": 2, "97110": 1}  # the tie goes to the code listed first
    assert assign_units({"97110": 20, "97112": 20}) == {"97110": 2, "97112": 1}


def test_cms_example_3_the_short_service_gets_the_last_unit() -> None:
    # 30 of 97110's 33 minutes are two full units; its 3 left are fewer than 97140's 7.
    assert assign_units({"97110": 33, "97140": 7}) == {"97110": 2, "97140": 1}


def test_cms_example_4_the_largest_leftovers_win() -> None:
    units = assign_units({"97110": 18, "97140": 13, "97116": 10, "97035": 8})  # 49 minutes, 3 units
    assert units == {"97110": 1, "97140": 1, "97116": 1, "97035": 0}


def test_cms_example_5_three_short_services_make_one_unit() -> None:
    units = assign_units({"97112": 7, "97110": 7, "97140": 7})  # 21 minutes, 1 unit, any one code
    assert sum(units.values()) == 1 and units["97112"] == 1


def test_two_short_services_bill_the_longer_one() -> None:
    # Two services of 7 minutes or less that add up to 8 or more: one unit, to the longer.
    assert assign_units({"97110": 3, "97140": 5}) == {"97110": 0, "97140": 1}
    assert assign_units({"97140": 7}) == {"97140": 0}  # one service under 8 minutes: nothing


def test_assign_units_always_totals_the_table() -> None:
    for a in range(0, 61, 1):
        for b in range(0, 46, 1):
            for c in (0, 4, 7, 14, 22):
                units = assign_units({"A": a, "B": b, "C": c})
                assert sum(units.values()) == timed_units(a + b + c)
                for code, spent in (("A", a), ("B", b), ("C", c)):
                    assert spent // 15 <= units[code] <= spent // 15 + 1


def test_assign_units_tie_on_leftover_goes_to_the_longer_service() -> None:
    # 97110: 2 full units and 5 left; 97140: 5 left. 35 minutes is 2 units, both to 97110.
    assert assign_units({"97140": 5, "97110": 30}) == {"97140": 0, "97110": 2}
    assert assign_units({"97140": 5, "97110": 35}) == {"97140": 0, "97110": 3}  # 40 minutes: 3 units
    assert assign_units({"97140": 5, "97110": 20}) == {"97140": 0, "97110": 2}  # 25: 2, tie to the longer


@pytest.mark.parametrize("bad", [{"97110": -5}, {"97110": 1441}, {"97110": 800, "97140": 800},
                                 {"": 10}, {"97110": "ten"}])
def test_assign_units_refuses_bad_input(bad: dict) -> None:
    with pytest.raises(InputError):
        assign_units(bad)


def test_assign_units_empty_visit() -> None:
    assert assign_units({}) == {}


# --- psychotherapy ------------------------------------------------------------------------------

@pytest.mark.parametrize(("minutes", "code"), [(0, None), (15, None), (16, "90832"), (37, "90832"), (38, "90834"),
                                               (52, "90834"), (53, "90837"), (60, "90837"), (90, "90837")])
def test_psychotherapy_code_boundaries(minutes: int, code: str | None) -> None:
    assert psychotherapy_code(minutes) == code


def test_psychotherapy_words() -> None:
    assert "cannot be billed as psychotherapy" in psychotherapy_words(15)
    assert "90832" in psychotherapy_words(15)  # names the shortest code it falls short of
    assert psychotherapy_words(16).startswith("16 minutes of psychotherapy: bill 90832")
    assert "38 to 52 minutes" in psychotherapy_words(45) and "90834" in psychotherapy_words(45)
    assert "53 minutes or more" in psychotherapy_words(90) and "90837" in psychotherapy_words(90)


@pytest.mark.parametrize("bad", [-1, 1441])
def test_psychotherapy_refuses_impossible_minutes(bad: int) -> None:
    with pytest.raises(InputError):
        psychotherapy_code(bad)
    with pytest.raises(InputError):
        psychotherapy_words(bad)


# --- the KX threshold -------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A resource base holding the real shipped figures file and an empty vendor folder."""
    (tmp_path / "presets").mkdir()
    (tmp_path / "vendor").mkdir()
    shutil.copyfile(medicare_data.shipped_file(SOURCE_ROOT), tmp_path / "presets" / medicare.DATA_FILE)
    return tmp_path


def test_the_shipped_file_is_where_the_build_bundles_it() -> None:
    assert medicare_data.shipped_file() == SOURCE_ROOT / "presets" / "medicare-therapy.json"
    spec = (SOURCE_ROOT / "build" / "practice_assistant.spec").read_text(encoding="utf-8")
    assert 'datas.append((str(ROOT / "presets"), "presets"))' in spec


@pytest.mark.parametrize(("year", "pt_slp", "ot"), [(2024, 2330, 2330), (2025, 2410, 2410), (2026, 2480, 2480)])
def test_shipped_figures_per_year_and_discipline(year: int, pt_slp: int, ot: int) -> None:
    table = medicare_data.load_table()
    assert (table.years[year].pt_slp, table.years[year].ot) == (pt_slp, ot) and table.warnings == ()
    for discipline in ("pt", "slp", "PT", "speech therapy"):
        text = medicare_data.kx_reminder(year, discipline)
        assert text.startswith(f"Medicare's {year} threshold for PT and speech therapy together is ${pt_slp:,}.")
    text = medicare_data.kx_reminder(year, "ot")
    assert text.startswith(f"Medicare's {year} threshold for occupational therapy (separate from PT and speech therapy) is ${ot:,}.")


def test_kx_reminder_reads_as_the_brief_says() -> None:
    assert medicare_data.kx_reminder(2026, "pt") == (
        "Medicare's 2026 threshold for PT and speech therapy together is $2,480. Above it, each claim needs "
        "the KX modifier, which attests that the therapy is medically necessary, and the notes must show why.")


def test_kx_reminder_with_spending_so_far() -> None:
    below = medicare_data.kx_reminder(2026, "pt", 1950.5)
    assert "$1,950.50 so far this year, $529.50 below the threshold" in below
    assert "from every provider" in below
    at = medicare_data.kx_reminder(2026, "slp", 2480)
    assert "right at the threshold" in at and "next claim needs the KX modifier" in at
    past = medicare_data.kx_reminder(2025, "ot", 2600)
    assert "$190 past the threshold, so each claim needs the KX modifier" in past
    assert "$0 so far this year, $2,330 below" in medicare_data.kx_reminder(2024, "pt", 0)


def test_kx_reminder_unknown_year_uses_the_latest_and_names_the_file() -> None:
    text = medicare_data.kx_reminder(2027, "pt", 2500)
    assert "no Medicare threshold for 2027" in text and "2026's: $2,480" in text
    assert "vendor can update the file medicare-therapy.json" in text
    assert "$20 past the threshold" in text
    assert "2026's: $2,480" in medicare_data.kx_reminder(2019, "ot")


@pytest.mark.parametrize(("args", "words"), [((2026, "bh", None), "PT, speech therapy"),
                                             ((26, "pt", None), "four-digit year"),
                                             ((2026, "pt", -1), "below zero"),
                                             ((2026, "pt", float("nan")), "number of dollars"),
                                             ((2026, "pt", 10**7), "too large")])
def test_kx_reminder_refuses_bad_input(args: tuple, words: str) -> None:
    with pytest.raises(InputError) as caught:
        medicare_data.kx_reminder(*args)
    assert words in caught.value.message


def test_vendor_update_adds_a_year_and_overrides_one(tree: Path) -> None:
    (tree / "vendor" / "medicare-therapy.json").write_text(json.dumps({
        "schema_version": 1,
        "kx_thresholds": {"2027": {"pt_slp": 2550, "ot": 2560}, "2026": {"pt_slp": 2481, "ot": 2482}},
    }), encoding="utf-8")
    table = medicare_data.load_table(tree)
    assert sorted(table.years) == [2024, 2025, 2026, 2027] and table.warnings == ()
    assert table.years[2025].pt_slp == 2410  # the shipped years the vendor left out stay
    assert medicare_data.kx_reminder(2027, "ot", base=tree).startswith("Medicare's 2027 threshold for occupational therapy")
    assert "$2,560" in medicare_data.kx_reminder(2027, "ot", base=tree)
    assert "is $2,481." in medicare_data.kx_reminder(2026, "pt", base=tree)


@pytest.mark.parametrize("broken", [
    "{not json",
    json.dumps({"schema_version": 2, "kx_thresholds": {"2027": {"pt_slp": 2550, "ot": 2560}}}),
    json.dumps({"schema_version": 1, "kx_thresholds": {"2027": {"pt_slp": -5, "ot": 2560}}}),
    json.dumps({"schema_version": 1, "kx_thresholds": {"2027": {"pt": 2550, "ot": 2560}}}),
    json.dumps({"schema_version": 1, "kx_thresholds": {"27": {"pt_slp": 2550, "ot": 2560}}}),
    json.dumps({"schema_version": 1, "kx_thresholds": {"2027": {"pt_slp": 2550, "ot": 2560}}, "extra": 1}),
    json.dumps([1, 2]),
])
def test_broken_vendor_file_is_logged_and_the_shipped_one_used(tree: Path, broken: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    (tree / "vendor" / "medicare-therapy.json").write_text(broken, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="assistant.store.medicare_data"):
        table = medicare_data.load_table(tree)
    assert sorted(table.years) == [2024, 2025, 2026] and len(table.warnings) == 1
    assert "medicare-therapy.json" in table.warnings[0]
    assert any("vendor Medicare figures ignored" in r.getMessage() for r in caplog.records)
    text = medicare_data.kx_reminder(2026, "pt", base=tree)
    assert "is $2,480." in text and "could not be read, so the figures that came with the app are used" in text


def test_a_broken_shipped_file_says_so(tree: Path) -> None:
    (tree / "presets" / "medicare-therapy.json").write_text("{}", encoding="utf-8")
    with pytest.raises(MedicareDataError) as caught:
        medicare_data.load_table(tree)
    lines = caught.value.message.splitlines()
    assert any("schema_version: must be 1" in line for line in lines)
    assert any("kx_thresholds: must be an object of years" in line for line in lines)


def test_parse_table_names_every_problem() -> None:
    with pytest.raises(MedicareDataError) as caught:
        medicare.parse_table({"schema_version": 1, "kx_thresholds": {"2026": {"pt_slp": True, "ot": 0}}}, "f.json")
    assert caught.value.message.splitlines() == [
        "f.json: kx_thresholds.2026.ot: must be an amount in dollars above 0 and below 100,000",
        "f.json: kx_thresholds.2026.pt_slp: must be an amount in dollars above 0 and below 100,000",
    ]


def test_money_words() -> None:
    assert medicare.money(2480) == "$2,480" and medicare.money(1950.5) == "$1,950.50"
    assert medicare.money(0.004) == "$0"
