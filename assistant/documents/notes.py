"""Progress notes: a session description in, a structured note out."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.backends import Message
from assistant.documents import clean_text, fenced
from assistant.errors import InputError
from assistant.presets import Preset

NOTE_FORMATS: dict[str, list[str]] = {
    "SOAP": ["Subjective", "Objective", "Assessment", "Plan"],
    "DAP": ["Data", "Assessment", "Plan"],
    "BIRP": ["Behavior", "Intervention", "Response", "Plan"],
    "Narrative": [],
}
DISCIPLINES = [
    "Behavioral health",
    "Occupational therapy",
    "Physical therapy",
    "Speech-language pathology",
]


@dataclass(frozen=True)
class NoteRequest:
    description: str
    note_format: str = "SOAP"
    discipline: str = "Behavioral health"
    preset_id: str = "daily-note"


def sections_for(note_format: str) -> list[str]:
    if note_format not in NOTE_FORMATS:
        raise InputError(
            f"'{note_format}' is not a note format the assistant knows. "
            f"Pick one of: {', '.join(NOTE_FORMATS)}."
        )
    return NOTE_FORMATS[note_format]


def note_messages(preset: Preset, request: NoteRequest) -> list[Message]:
    description = clean_text(request.description, "session description")
    sections = sections_for(request.note_format)
    if request.discipline not in DISCIPLINES:
        raise InputError(f"Pick a discipline from the list: {', '.join(DISCIPLINES)}.")
    if sections:
        layout = "Use exactly these headings, in this order, each on its own line followed by a colon: " + ", ".join(sections) + "."
    else:
        layout = "Write it as a narrative in short paragraphs, without headings."
    prompt = preset.render(
        {
            "description": fenced("session description", description),
            "note_format": request.note_format,
            "discipline": request.discipline,
            "sections": layout,
        }
    )
    return [Message("system", preset.system_prompt), Message("user", prompt)]
