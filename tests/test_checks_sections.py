"""Section headings: tolerant spellings count, single letters and prose do not,
order matters, and one section can be cut out and replaced on its own."""

from __future__ import annotations

import pytest

from assistant.checks import check_sections, replace_section, split_sections
from assistant.core.documents.notes import NOTE_FORMATS
from assistant.errors import InputError

SOAP = NOTE_FORMATS["SOAP"]


@pytest.mark.parametrize(
    "heading",
    ["Subjective:", "SUBJECTIVE:", "subjective", "**Subjective**", "**Subjective:**", "## Subjective",
     "Subjective -", "Subjective — ", "__Subjective__", "1. Subjective:", "  Subjective :", "### **Subjective**"],
)
def test_heading_spellings_that_count(heading: str) -> None:
    draft = f"{heading}\npain 3/10\nObjective:\nwalked\nAssessment:\nbetter\nPlan:\ncontinue\n"
    assert check_sections(draft, SOAP) == []


@pytest.mark.parametrize("line", ["Subjective: pain", "**Subjective** pain", "**Subjective:** pain", "Subjective - pain"])
def test_a_heading_with_its_text_on_the_same_line(line: str) -> None:
    sections = split_sections(f"{line}\nObjective: walked\n", SOAP)
    assert [s.name for s in sections] == ["Subjective", "Objective"]
    assert sections[0].body == "pain\n"


@pytest.mark.parametrize(
    "line",
    ["S: pain 3/10", "S - pain 3/10", "Subjective data shows pain", "The subjective report: pain", "Subjectively, pain"],
)
def test_lines_that_are_not_the_heading(line: str) -> None:
    draft = f"{line}\nObjective:\nwalked\nAssessment:\nbetter\nPlan:\ncontinue\n"
    assert check_sections(draft, SOAP) == ["Subjective"]


def test_prose_starting_with_a_heading_word_is_not_a_heading() -> None:
    draft = "Subjective: ok\nObjective: ok\nAssessment: ok\nPlan to continue next week.\n"
    assert check_sections(draft, SOAP) == ["Plan"]


def test_headings_out_of_order_count_as_missing() -> None:
    draft = "Subjective: a\nPlan: b\nAssessment: c\nObjective: d\n"
    missing = check_sections(draft, SOAP)
    assert len(missing) == 2 and set(missing) < set(SOAP)


@pytest.mark.parametrize("note_format", list(NOTE_FORMATS))
def test_every_shipped_note_format(note_format: str) -> None:
    required = NOTE_FORMATS[note_format]
    draft = "\n".join(f"{name}:\nSomething.\n" for name in required) or "A narrative note."
    assert check_sections(draft, required) == []
    if required:
        assert check_sections("", required) == required
        assert check_sections(draft.replace(f"{required[-1]}:", ""), required) == [required[-1]]


def test_no_required_sections() -> None:
    assert check_sections("anything", []) == []
    assert check_sections("", []) == []


NOTE = "Intro line.\n\nSubjective: pain 6/10\n\n**Objective:**\n\nAssessment:\nbetter\nworse\n\nPlan: continue PT\n"


def test_split_sections() -> None:
    sections = split_sections(NOTE, SOAP)
    assert [s.name for s in sections] == [None, "Subjective", "Objective", "Assessment", "Plan"]
    assert sections[0].body == "Intro line.\n\n"
    assert sections[1].heading == "Subjective: " and sections[1].body == "pain 6/10\n\n"
    assert sections[2].body.strip() == ""
    assert sections[3].body == "\nbetter\nworse\n\n"
    assert "".join(s.heading + s.body for s in sections) == NOTE
    for s in sections:
        assert NOTE[s.start:s.body_start] == s.heading and NOTE[s.body_start:s.end] == s.body


def test_replace_one_section_leaves_the_others() -> None:
    new = replace_section(NOTE, "assessment", "Much better.\nReady for discharge.", SOAP)
    assert new == NOTE.replace("better\nworse", "Much better.\nReady for discharge.")
    inline = replace_section(NOTE, "Plan", "  Discharge.  ", SOAP)
    assert inline.endswith("Plan: Discharge.\n")
    empty = replace_section(NOTE, "Objective", "Walked 150 ft.", SOAP)
    assert "**Objective:**\nWalked 150 ft.\n\nAssessment:" in empty
    assert check_sections(new, SOAP) == check_sections(inline, SOAP) == check_sections(empty, SOAP) == []


def test_replacing_a_missing_section_is_a_plain_error() -> None:
    with pytest.raises(InputError, match="no 'Data' heading"):
        replace_section(NOTE, "Data", "x", NOTE_FORMATS["DAP"])
