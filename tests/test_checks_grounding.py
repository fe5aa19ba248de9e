"""The grounding check: facts in a draft that the sources do not support are
flagged, formatting variants of supported facts are not, offsets are right
even with look-alike digits, and a megabyte is checked in seconds."""

from __future__ import annotations

import dataclasses
import time

import pytest

from assistant.checks import CATEGORIES, Flag, check_draft, check_grounding

SOURCES = [
    "Client seen for 45 min on 03/05/2026 at 3:30 pm. Pain 6 out of 10 at start, 3/10 at end. "
    "Practiced box breathing, held 32 seconds. Walked 150 feet with standby assist. Takes Zoloft 50mg. "
    "Mother jane roe attended. Seen 2x/week for six weeks. Goal: 80% accuracy. Dx f41.1. "
    "Call (555) 123-4567. Member ID XYZ 123 456 789.",
    "Sunrise Therapy\n12 Main St\nSpringfield, IL 62704\nPhone 555-201-7788\nAlex Kim, LCSW 1234567890",
]


def flagged(draft: str, sources: list[str] = SOURCES) -> list[Flag]:
    return check_grounding(draft, sources)


MUST_FLAG = [
    ("Pain was 7/10 today.", "7/10", "score"),
    ("She walked 200 ft.", "200 ft", "measurement"),
    ("Next visit 04/12/2026.", "04/12/2026", "date"),
    ("Arrived at 4:15 pm.", "4:15 pm", "time"),
    ("Session lasted 30 minutes.", "30 minutes", "duration"),
    ("Scored 90% on the task.", "90%", "percentage"),
    ("Diagnosis F32.9 noted.", "F32.9", "code"),
    ("CPT 97530 was billed.", "97530", "code"),
    ("Also takes lorazepam at night.", "lorazepam", "medication"),
    ("Zoloft was raised to 100 mg.", "100 mg", "dose"),
    ("See https://example.org/info for more.", "https://example.org/info", "url"),
    ("Write to help@clinic.example.com today.", "help@clinic.example.com", "email"),
    ("Her cell is (555) 987-6543.", "(555) 987-6543", "phone"),
    ("Consulted with Dr. Smith about the plan.", "Dr. Smith", "name"),
    ("She met with Maria Lopez after school.", "Maria Lopez", "name"),
    ("Her member ID is ABC987654321.", "ABC987654321", "id"),
    ("Attends three times a week.", "three times a week", "frequency"),
    ("Practises at home daily.", "daily", "frequency"),
    ("Seen every other week.", "every other week", "frequency"),
    ("Completed 17 repetitions.", "17", "number"),
    ("She has four siblings.", "four", "number"),
    ("Age 38, in good health.", "38", "number"),
]


@pytest.mark.parametrize(("draft", "text", "category"), MUST_FLAG)
def test_unsupported_facts_are_flagged(draft: str, text: str, category: str) -> None:
    flags = flagged(draft)
    assert [(f.text, f.category) for f in flags] == [(text, category)]
    flag = flags[0]
    assert draft[flag.start:flag.end] == text
    assert flag.reason.endswith("is not in your notes.") and flag.category in CATEGORIES


MUST_NOT_FLAG = [
    "Held the stretch for 32 sec.",  # "32 seconds"
    "Pain decreased to 3 out of 10.",  # "3/10"
    "Pain 6/10 at the start.",  # "6 out of 10"
    "Seen on March 5, 2026 and again on March 5.",  # "03/05/2026"
    "Session on 2026-03-05 at 15:30.",  # ISO date; "3:30 pm"
    "Walked 150 ft with standby assist.",  # "150 feet"
    "Seen for 45 minutes; plan for 6 weeks.",  # "45 min", "six weeks"
    "Seen twice weekly.",  # "2x/week"
    "Continues sertraline 50 mg.",  # brand name "Zoloft 50mg"
    "Reached 80 percent accuracy.",  # "80%"
    "Diagnosis F41.1 remains.",  # typed "f41.1"
    "Her mother, Jane Roe, attended.",  # typed in lower case
    "Reach the clinic at 555.123.4567.",  # "(555) 123-4567"
    "Member ID XYZ123456789 verified.",  # typed with spaces
    "Signed by Alex Kim, LCSW, NPI 1234567890.",  # from the practice profile
    "Sunrise Therapy, 12 Main St, Springfield, IL 62704.",  # the letterhead
]


@pytest.mark.parametrize("draft", MUST_NOT_FLAG)
def test_supported_facts_in_other_formats_are_not_flagged(draft: str) -> None:
    assert flagged(draft) == []


def test_numbers_the_format_needs_are_not_flagged() -> None:
    draft = (
        "## 1. Subjective\nClient reports less pain.\n\n**Plan:**\n1. Continue the home program.\n"
        "2. Review breathing.\n  a) Breathing practice.\nPlan: 1. Walk. 2. Rest.\nGoal 2: improve balance.\n"
    )
    assert flagged(draft) == []


def test_a_typical_note_does_not_drown_in_flags() -> None:
    note = """Subjective:
Client reports pain 6/10 at the start of the session, easing to 3/10 by the end. Her mother Jane Roe
attended and asked how to support the home program. Client Reports Better Sleep this week.

Objective:
Practiced box breathing and held it for 32 seconds. Walked 150 ft with standby assist. The session
lasted 45 minutes. Continues Zoloft 50 mg as prescribed by her physician.

Assessment:
Generalized Anxiety Disorder (F41.1). Progressing toward the goal of 80% accuracy. Home Exercise
Program reviewed. Tolerated Treatment Well.

Plan:
1. Continue sessions 2x/week for six weeks.
2. Review the Home Exercise Program next visit.

Alex Kim, LCSW
"""
    assert flagged(note) == []


def test_lookalike_digits_are_normalised_and_offsets_point_at_the_original() -> None:
    assert flagged("Held it for ３２ seconds; pain ٣/١٠.") == []  # fullwidth and Arabic-Indic digits
    draft = "São Paulo, naïve: walked １２０ ft, then ٤٧ minutes."
    flags = flagged(draft, [*SOURCES, "Moved from São Paulo."])
    assert [(f.text, f.category) for f in flags] == [("１２０ ft", "measurement"), ("٤٧ minutes", "duration")]
    for flag in flags:
        assert draft[flag.start:flag.end] == flag.text


def test_empty_inputs_complete() -> None:
    assert check_grounding("", SOURCES) == []
    assert check_grounding("   \n", []) == []
    flags = check_grounding("Walked 150 ft with Dr. Smith.", [])
    assert {f.category for f in flags} == {"measurement", "name"}
    assert check_grounding("\x00\x01\ufffd 𝟙𝟚 ﷺ", ["\x00"]) is not None


def test_flags_are_frozen_dataclasses() -> None:
    flag = flagged("Walked 200 ft.")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        flag.start = 0  # type: ignore[misc]
    assert set(flag.as_dict()) == {"start", "end", "text", "category", "reason"}


def test_a_megabyte_draft_with_junk_is_checked_in_seconds() -> None:
    paragraph = (
        "Client reports pain 6/10, easing to 3/10. Walked 150 ft in 45 minutes with Jane Roe present. "
        "Continues Zoloft 50 mg. Plan: continue 2x/week for six weeks.\n"
    )
    junk = "a@" * 20_000 + "1" * 50_000 + "x." * 20_000 + "Jane " * 10_000 + "１" * 10_000 + "\n"
    body = paragraph * 6_000
    draft = body[: len(body) // 2] + junk + body[len(body) // 2:] + "Walked 999 ft at the end."
    assert len(draft) > 1_000_000
    started = time.perf_counter()
    result = check_draft("note", {"session_description": SOURCES[0]}, draft, ["Subjective"])
    elapsed = time.perf_counter() - started
    assert elapsed < 12, f"took {elapsed:.1f} s"
    assert result.missing_sections == ["Subjective"]
    assert [f.text for f in result.flags][-1:] == ["999 ft"]
    for flag in result.flags:
        assert draft[flag.start:flag.end] == flag.text
