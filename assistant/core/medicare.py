"""Medicare outpatient therapy helpers: the KX threshold, the 8-minute rule, psychotherapy codes.

Three things, each a pure function (no I/O; ``assistant.store.medicare_data`` reads the yearly
figures from a file and passes them in as a ``KxTable``):

1. The KX-modifier threshold. Medicare sets a yearly amount of outpatient therapy per patient,
   one for PT and speech therapy together and one for occupational therapy. Above it, each claim
   needs the KX modifier, which attests that the therapy is medically necessary, and the notes
   must show why. The figures change every year (CMS's Physician Fee Schedule final rule), so
   they are data (``parse_table``), never constants here. ``kx_reminder`` says it in plain words.
2. The 8-minute rule for timed (15-minute) CPT codes, CMS's method for Medicare (Claims
   Processing Manual, chapter 5, section 20.2): the units come from the total timed minutes of the
   visit (``timed_units``), then are shared out among the codes (``assign_units``). This is not
   the AMA's CPT "substantial portion" rule that some other payers use, which counts each code on
   its own.
3. Psychotherapy time codes (CPT 90832, 90834, 90837, without an E/M visit the same day) by the
   minutes spent with the patient: ``psychotherapy_code`` and ``psychotherapy_words``.

Everything a user can read is plain words. Bad input raises ``InputError``; a broken figures file
raises ``MedicareDataError`` (both name no clinical text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from assistant.errors import AssistantError, InputError

DATA_FILE = "medicare-therapy.json"  # the figures file's name (shipped, and a vendor's update)
SCHEMA_VERSION = 1
MAX_MINUTES = 24 * 60  # anything above a whole day is a typing mistake
UNIT_MINUTES = 15
MAX_AMOUNT = 100_000  # dollars: a threshold (or a year's spending) above this is a typing mistake

# Disciplines: PT and speech therapy share one threshold; occupational therapy has its own.
PT_SLP, OT = "pt_slp", "ot"
_DISCIPLINES = {
    "pt": PT_SLP, "physical therapy": PT_SLP, "physical": PT_SLP,
    "slp": PT_SLP, "st": PT_SLP, "speech": PT_SLP, "speech therapy": PT_SLP,
    "speech-language pathology": PT_SLP, "speech language pathology": PT_SLP,
    "ot": OT, "occupational therapy": OT, "occupational": OT,
}
_GROUP_WORDS = {PT_SLP: "PT and speech therapy together", OT: "occupational therapy (separate from PT and speech therapy)"}
_KX_MEANS = ("Above {it}, each claim needs the KX modifier, which attests that the therapy is medically "
             "necessary, and the notes must show why.")

# Psychotherapy codes by minutes: (from, through or None for no upper end, code, the code's time).
PSYCHOTHERAPY = ((16, 37, "90832", 30), (38, 52, "90834", 45), (53, None, "90837", 60))


class MedicareDataError(AssistantError):
    """Raised when a Medicare figures file is broken; each line names the file and the field."""


@dataclass(frozen=True)
class KxThreshold:
    """One year's thresholds, in US dollars."""

    year: int
    pt_slp: float  # PT and speech therapy together
    ot: float  # occupational therapy

    def amount(self, group: str) -> float:
        return self.pt_slp if group == PT_SLP else self.ot


@dataclass(frozen=True)
class KxTable:
    """The known years' thresholds; ``warnings`` says what could not be used (e.g. a broken vendor file)."""

    years: Mapping[int, KxThreshold]
    warnings: tuple[str, ...] = ()

    def latest(self) -> KxThreshold:
        return self.years[max(self.years)]

    def merged(self, update: KxTable) -> KxTable:
        """These years with ``update``'s added on top: a year in both takes ``update``'s figures."""
        return KxTable({**self.years, **update.years}, self.warnings + update.warnings)


# --- the figures file -------------------------------------------------------------------------

_TOP_KEYS = {"schema_version", "about", "kx_thresholds"}
_YEAR_KEYS = {PT_SLP, OT}


def parse_table(raw: object, where: str) -> KxTable:
    """Check a figures object (the JSON file, already read); every problem is ``where: field: why``.

    The file's shape::

        {"schema_version": 1, "about": "...",
         "kx_thresholds": {"2026": {"pt_slp": 2480, "ot": 2480}, ...}}
    """
    if not isinstance(raw, dict):
        raise MedicareDataError(f"{where}: (file): must be a JSON object")
    problems = [f"{where}: {key}: not a known key (known: {', '.join(sorted(_TOP_KEYS))})"
                for key in sorted(set(raw) - _TOP_KEYS, key=str)]
    if raw.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"{where}: schema_version: must be {SCHEMA_VERSION}")
    if not isinstance(raw.get("about", ""), str):
        problems.append(f"{where}: about: must be text")
    entries = raw.get("kx_thresholds")
    years: dict[int, KxThreshold] = {}
    if not isinstance(entries, dict) or not entries:
        problems.append(f"{where}: kx_thresholds: must be an object of years, e.g. {{\"2026\": {{\"pt_slp\": 2480, \"ot\": 2480}}}}")
        entries = {}
    for name, entry in entries.items():
        field = f"{where}: kx_thresholds.{name}"
        if not (isinstance(name, str) and name.isdigit() and len(name) == 4 and 1990 <= int(name) <= 2200):
            problems.append(f"{field}: must be a four-digit year, e.g. 2026")
            continue
        if not isinstance(entry, dict) or set(entry) != _YEAR_KEYS:
            problems.append(f"{field}: must give exactly pt_slp and ot, in dollars")
            continue
        bad = [key for key in sorted(_YEAR_KEYS) if not _is_amount(entry[key])]
        problems += [f"{field}.{key}: must be an amount in dollars above 0 and below {MAX_AMOUNT:,}" for key in bad]
        if not bad:
            years[int(name)] = KxThreshold(int(name), float(entry[PT_SLP]), float(entry[OT]))
    if problems:
        raise MedicareDataError("\n".join(problems))
    return KxTable(years)


def _is_amount(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and 0 < value < MAX_AMOUNT)


# --- the KX threshold ---------------------------------------------------------------------------

def discipline_group(discipline: str) -> str:
    """``pt_slp`` for PT or speech therapy, ``ot`` for occupational therapy; InputError otherwise."""
    group = _DISCIPLINES.get(" ".join(str(discipline or "").lower().split()))
    if group is None:
        raise InputError("Medicare's therapy threshold covers PT, speech therapy (SLP) and occupational therapy (OT) "
                         "only. Choose one of those.")
    return group


def money(amount: float) -> str:
    """$2,480 for whole dollars, $1,950.50 otherwise."""
    cents = round(amount * 100)
    return f"${cents // 100:,}" if cents % 100 == 0 else f"${cents / 100:,.2f}"


def kx_reminder(year: int, discipline: str, spent_so_far: float | None = None, *, table: KxTable) -> str:
    """The threshold for ``year`` and ``discipline`` in plain words; with ``spent_so_far`` (what
    Medicare has allowed for this patient's therapy this year), how far below it or past it they are.

    A year the table lacks gets the latest known year's figure and a word that the vendor can
    update the figures file."""
    if not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= 2200:
        raise InputError("The year must be a four-digit year, such as 2026.")
    group = discipline_group(discipline)
    spent = None if spent_so_far is None else _spent(spent_so_far)
    known = table.years.get(year)
    figure = known or table.latest()
    amount = figure.amount(group)
    if known:
        words = [f"Medicare's {year} threshold for {_GROUP_WORDS[group]} is {money(amount)}. {_KX_MEANS.format(it='it')}"]
    else:
        words = [f"This assistant has no Medicare threshold for {year} yet. The latest it knows is "
                 f"{figure.year}'s: {money(amount)} for {_GROUP_WORDS[group]}. Check the {year} figure with "
                 f"CMS or your Medicare contractor; your vendor can update the file {DATA_FILE}. "
                 f"{_KX_MEANS.format(it='the threshold')}"]
    if spent is not None:
        words.append(_progress(spent, amount, group, year))
    if table.warnings:
        words.append("(Your vendor's update to these figures could not be read, so the figures that came with "
                     "the app are used. Tell your vendor.)")
    return " ".join(words)


def _spent(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError("The amount spent so far must be a number of dollars, such as 1950 or 1950.50.")
    if value < 0:
        raise InputError("The amount spent so far cannot be below zero.")
    if value >= MAX_AMOUNT:
        raise InputError(f"The amount spent so far looks too large (it must be under {money(MAX_AMOUNT)}). "
                         "Check the number.")
    return float(value)


def _progress(spent: float, amount: float, group: str, year: int) -> str:
    together = "PT and speech therapy together" if group == PT_SLP else "occupational therapy"
    counts = (f"This counts what Medicare allowed for {together} in {year} from every provider, not only yours.")
    gap = round(amount - spent, 2)
    if gap > 0:
        return f"This patient is at {money(spent)} so far this year, {money(gap)} below the threshold. {counts}"
    if gap == 0:
        return (f"This patient is at {money(spent)} so far this year, right at the threshold: the next claim needs the "
                f"KX modifier. {counts}")
    return (f"This patient is at {money(spent)} so far this year, {money(-gap)} past the threshold, so each claim needs "
            f"the KX modifier. {counts}")


# --- the 8-minute rule --------------------------------------------------------------------------

def _minutes(value: object, what: str) -> int:
    """A whole number of minutes from 0 to a day; InputError in plain words otherwise."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{what} must be a whole number of minutes, such as 45.")
    if value < 0:
        raise InputError(f"{what} cannot be below zero minutes.")
    if value > MAX_MINUTES:
        raise InputError(f"{what} is more than a whole day ({MAX_MINUTES} minutes). Check the number.")
    return value


def timed_units(total_timed_minutes: int) -> int:
    """Medicare units for a visit's total minutes of timed (15-minute) codes, CMS's table:

    under 8 minutes: 0; 8 through 22: 1; 23 through 37: 2; 38 through 52: 3; 53 through 67: 4;
    68 through 82: 5; 83 through 97: 6; 98 through 112: 7; 113 through 127: 8; and so on, each
    further 15 minutes one more unit (from 8 minutes on, that is (minutes + 7) // 15)."""
    minutes = _minutes(total_timed_minutes, "The total timed minutes")
    return 0 if minutes < 8 else (minutes + 7) // UNIT_MINUTES


def unit_table(rows: int = 8) -> list[tuple[int, int, int]]:
    """CMS's table as (units, from minute, through minute), one row per unit from 1 to ``rows``."""
    return [(units, UNIT_MINUTES * units - 7, UNIT_MINUTES * units + 7) for units in range(1, rows + 1)]


def assign_units(minutes_by_code: Mapping[str, int]) -> dict[str, int]:
    """Share a visit's timed units among its codes the CMS way (Claims Processing Manual ch. 5 §20.2).

    1. The units billed come from the total timed minutes of all the codes (``timed_units``), so
       a code done for under 8 minutes still counts toward the total.
    2. Each code first gets one unit for each full 15 minutes it took.
    3. The units left over go, one each, to the codes with the most minutes left after those full
       units. (They can never be more than the codes that have minutes left.)

    CMS's examples: 33 minutes of 97110 and 7 of 97140 is 40 minutes, 3 units: 97110 gets 2 for its
    first 30 minutes, and the last unit goes to 97140, whose 7 minutes are more than 97110's 3 left.
    18 minutes of 97110, 13 of 97140, 10 of 97116 and 8 of 97035 is 49 minutes, 3 units: one each to
    97110, 97140 and 97116, none to 97035. Where codes tie, CMS lets the therapist choose either;
    this gives the unit to the code with more minutes in all, then to the one listed first.

    The result lists every code given, in the order given, with 0 where it gets no unit."""
    if not isinstance(minutes_by_code, Mapping):
        raise InputError("Give the minutes for each timed code, such as 97110: 33 and 97140: 7.")
    minutes: dict[str, int] = {}
    for code, value in minutes_by_code.items():
        if not isinstance(code, str) or not code.strip():
            raise InputError("Each timed code needs its code, such as 97110.")
        minutes[code] = _minutes(value, f"The time for {code.strip()[:20]}")
    total = sum(minutes.values())
    if total > MAX_MINUTES:
        raise InputError(f"The timed codes add up to more than a whole day ({MAX_MINUTES} minutes). Check the numbers.")
    units = {code: spent // UNIT_MINUTES for code, spent in minutes.items()}
    left = timed_units(total) - sum(units.values())
    order = list(minutes)
    ranked = sorted(order, key=lambda code: (-(minutes[code] % UNIT_MINUTES), -minutes[code], order.index(code)))
    for code in ranked[:left]:
        units[code] += 1
    return units


# --- psychotherapy ------------------------------------------------------------------------------

def psychotherapy_code(minutes: int) -> str | None:
    """The psychotherapy code for a session's minutes with the patient: 90832 for 16 to 37,
    90834 for 38 to 52, 90837 for 53 or more; None under 16 (not billable as psychotherapy)."""
    spent = _minutes(minutes, "The session time")
    return next((code for low, high, code, _ in PSYCHOTHERAPY if spent >= low and (high is None or spent <= high)), None)


def psychotherapy_words(minutes: int) -> str:
    """``psychotherapy_code`` in plain words."""
    spent = _minutes(minutes, "The session time")
    code = psychotherapy_code(spent)
    said = f"{spent} minute" + ("" if spent == 1 else "s")
    if code is None:
        low, _, shortest, length = PSYCHOTHERAPY[0]
        return (f"{said} is under the {low} minutes that the shortest psychotherapy code ({shortest}, "
                f"{length} minutes) needs, so this session cannot be billed as psychotherapy.")
    low, high, _, length = next(row for row in PSYCHOTHERAPY if row[2] == code)
    covers = f"{low} to {high} minutes" if high is not None else f"{low} minutes or more"
    return f"{said} of psychotherapy: bill {code}, psychotherapy of {length} minutes (it covers {covers})."
