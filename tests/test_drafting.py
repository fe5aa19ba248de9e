from __future__ import annotations

import threading

import pytest

from assistant.app.drafting import draft_by_sections, rewrite_section
from assistant.checks import check_sections, split_sections
from assistant.core.documents.notes import NoteRequest
from assistant.core.messages import GenerationSettings
from assistant.engine.engine import Engine
from assistant.engine.fake import FakeBackend
from assistant.store.presets import load_presets, shipped_dir

LIB = load_presets([shipped_dir()])
NOTE = NoteRequest("Client practiced breathing; anxiety 6 out of 10. Plan: weekly.", "SOAP")


def section_reply(messages):
    prompt = messages[-1].content
    for name in ("Subjective", "Objective", "Assessment", "Plan"):
        if f"Write only the {name} section" in prompt:
            # a small model often repeats the heading and runs on into the next section
            return f"{name}: text about {name.lower()}.\nPlan: invented extra plan."
    return "whole note"


def test_each_section_is_written_once_in_order():
    backend = FakeBackend(reply=section_reply)
    engine = Engine(backend)
    note = "".join(draft_by_sections(engine, LIB.get("daily-note", "progress_note"), NOTE, GenerationSettings()))
    assert check_sections(note, ["Subjective", "Objective", "Assessment", "Plan"]) == []
    assert note.count("Plan:") == 1 and "invented extra plan" not in note.split("Plan:")[0]
    assert "text about subjective" in note and len(backend.calls) == 4
    # each prompt asks for one section and carries what was written before it
    assert "Write only the Assessment section" in backend.calls[2][-1].content
    assert "text about objective" in backend.calls[2][-1].content


def test_narrative_notes_are_written_whole():
    engine = Engine(FakeBackend(reply=section_reply))
    request = NoteRequest("A session.", "Narrative")
    assert "".join(draft_by_sections(engine, LIB.get("daily-note", "progress_note"), request, GenerationSettings())) == "whole note"


def test_rewrite_one_section():
    engine = Engine(FakeBackend(reply=section_reply))
    body = "".join(rewrite_section(engine, LIB.get("daily-note", "progress_note"), NOTE,
                                   "Subjective:\nold\n\nAssessment:\nold", "Assessment", GenerationSettings()))
    assert body == "text about assessment."


# ---- one heading rule for the checks and for section-by-section drafting

def reply_with_next_heading(heading: str):
    def reply(messages):
        prompt = messages[-1].content
        for name in ("Subjective", "Objective", "Assessment", "Plan"):
            if f"Write only the {name} section" in prompt:
                return f"text about {name.lower()}.\n{heading} invented extra section."
        return "whole note"

    return reply


@pytest.mark.parametrize("heading", ["1. Plan:", "**Plan** continue", "## Plan", "- Plan:", "Plan to"])
def test_drafting_cuts_where_the_check_sees_a_heading(heading: str):
    """The section body stops at a heading exactly when the section check counts it as one."""
    is_heading = bool(split_sections(f"x\n{heading} y", ["Plan"])[1:])
    engine = Engine(FakeBackend(reply=reply_with_next_heading(heading)))
    body = "".join(rewrite_section(engine, LIB.get("daily-note", "progress_note"), NOTE,
                                   "Subjective:\nold\n\nAssessment:\nold", "Assessment", GenerationSettings()))
    assert ("invented extra section" not in body) == is_heading, body


# ---- Stop ends the whole note, not just the section being written

def test_stop_during_a_section_ends_the_whole_note():
    backend = FakeBackend(reply=section_reply, delay=0.001)
    engine = Engine(backend)
    stop = threading.Event()
    pieces = draft_by_sections(engine, LIB.get("daily-note", "progress_note"), NOTE, GenerationSettings(),
                               "alex", stop=stop)
    assert next(pieces) == "Subjective:\n"
    next(pieces)  # the Subjective section is being written
    stop.set()
    engine.stop("alex")  # what the Stop button does
    rest = list(pieces)
    assert len(backend.calls) == 1, f"a section started after Stop: {rest}"
    assert "Objective:" not in "".join(rest)


def test_closing_the_note_stops_the_model_at_once():
    """An API caller cancels its job (or its stream closes): the note's generator is closed."""
    backend = FakeBackend(reply=section_reply, delay=0.001)
    pieces = draft_by_sections(Engine(backend), LIB.get("daily-note", "progress_note"), NOTE, GenerationSettings(),
                               "sam")
    next(pieces)
    next(pieces)
    keep = pieces.gi_frame  # a caller that still holds a reference must not keep the model running
    pieces.close()
    assert keep is not None and backend.stopped == [True] and len(backend.calls) == 1
