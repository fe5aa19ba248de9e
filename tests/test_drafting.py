from __future__ import annotations

from assistant.app.drafting import draft_by_sections, rewrite_section
from assistant.checks import check_sections
from assistant.core.documents.notes import NoteRequest
from assistant.core.messages import GenerationSettings
from assistant.core.presets import load_presets, shipped_dir
from assistant.engine.engine import Engine
from assistant.engine.fake import FakeBackend

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
