"""Progress notes: the clinician's description of a session in, a structured note out."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from assistant.core.documents import field_values, today_words
from assistant.core.messages import Message
from assistant.core.presets import DISCIPLINES, NOTE_FORMATS, Preset
from assistant.errors import InputError

__all__ = ["DISCIPLINES", "NOTE_FORMATS", "NoteRequest", "note_messages", "resolve_format"]


@dataclass(frozen=True)
class NoteRequest:
    description: str
    note_format: str = "SOAP"
    discipline: str = "Behavioral health"
    preset_id: str = "daily-note"
    goals: str = ""
    measures: str = ""


def resolve_format(preset: Preset, request: NoteRequest) -> tuple[str, str]:
    """The note format and discipline in force: the preset's if it fixes them, else the user's pick."""
    note_format = preset.note_format or request.note_format
    discipline = preset.discipline or request.discipline
    if note_format not in NOTE_FORMATS:
        raise InputError(
            f"'{note_format}' is not a note format the assistant knows. Pick one of: {', '.join(NOTE_FORMATS)}."
        )
    if discipline not in DISCIPLINES:
        raise InputError(f"Pick a discipline from the list: {', '.join(DISCIPLINES)}.")
    return note_format, discipline


def note_messages(
    preset: Preset, request: NoteRequest, today: dt.date | None = None, *, only_section: str | None = None,
    written: str = "",
) -> list[Message]:
    """The messages for the whole note, or (``only_section``) for one section of it,
    given what is ``written`` so far (for section-by-section drafting and rewriting)."""
    note_format, discipline = resolve_format(preset, request)
    values = field_values(preset, asdict(request))
    sections = preset.required_sections(note_format)
    if only_section:
        layout = (
            f"Write only the {only_section} section of this note. Write its content only, without the heading, "
            "and stop at the end of that section; do not write any other section."
        )
        if written.strip():
            layout += f"\nThe other sections already say (do not repeat them):\n{written.strip()}"
    elif sections:
        layout = (
            "Use exactly these headings, in this order, each on its own line followed by a colon: "
            + ", ".join(sections) + "."
        )
    else:
        layout = "Write it as a narrative in short paragraphs, without headings."
    values.update(note_format=note_format, discipline=discipline, sections=layout, today=today_words(today))
    return [Message("system", preset.system_prompt), Message("user", preset.render(values))]
