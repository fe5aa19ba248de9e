"""Progress note tab: describe the session, pick a format, get a streamed draft."""

from __future__ import annotations

import gradio as gr

from assistant.documents.notes import DISCIPLINES, NOTE_FORMATS, NoteRequest, note_messages
from assistant.presets import KNOWN_FIELDS, Preset
from assistant.services import Services
from assistant.ui.common import (
    MODEL_QUEUE,
    accumulate,
    guarded,
    model_stream,
    preset_choices,
    stopper,
)

NOTE_FIELDS = list(KNOWN_FIELDS["progress_note"])  # description, goals, measures
PLACEHOLDERS = {
    "description": "Describe the session in your own words: what the client said, what you did, "
    "how they responded, and what comes next.",
    "goals": "Each goal and where the client is now, e.g. 'Walk 150 ft with a cane: now 75 ft with supervision'.",
    "measures": "Test results and measurements from today or the last evaluation.",
}


def field_updates(preset: Preset | None) -> list[dict]:
    """Show the fields this preset asks for, with its labels; hide the others."""
    wanted = {f.name: f for f in preset.resolved_fields()} if preset else {}
    updates = []
    for name in NOTE_FIELDS:
        spec = wanted.get(name)
        if spec is None:
            updates.append(gr.update(visible=False))
        else:
            label = spec.label + ("" if spec.required else " (optional)")
            updates.append(gr.update(visible=True, label=label, info=spec.help or None))
    return updates


def picker_updates(preset: Preset | None) -> list[dict]:
    """A preset that fixes the format or discipline sets it and locks the picker."""
    out = []
    if preset is not None and preset.sections:  # its own headings: the format picker does not apply
        out.append(gr.update(interactive=False, info="This note type has its own headings."))
    elif preset is not None and preset.note_format:
        out.append(gr.update(value=preset.note_format, interactive=False, info=None))
    else:
        out.append(gr.update(interactive=True, info=None))
    fixed = preset.discipline if preset else None
    out.append(gr.update(value=fixed, interactive=False) if fixed else gr.update(interactive=True))
    return out


def build(services: Services) -> gr.Dropdown:
    presets = services.presets.of_kind("progress_note")
    first = presets[0] if presets else None
    boxes: dict[str, gr.Textbox] = {}
    with gr.Row():
        with gr.Column(scale=1):
            preset = gr.Dropdown(
                preset_choices(presets), value=first.id if first else None, label="Note type",
                info=first.description if first else None, elem_id="note-preset",
            )
            with gr.Row():
                note_format = gr.Dropdown(list(NOTE_FORMATS), value="SOAP", label="Note format", elem_id="note-format")
                discipline = gr.Dropdown(DISCIPLINES, value=DISCIPLINES[0], label="Discipline", elem_id="note-discipline")
            for name in NOTE_FIELDS:
                spec = KNOWN_FIELDS["progress_note"][name]
                boxes[name] = gr.Textbox(
                    label=spec.label, placeholder=PLACEHOLDERS[name], lines=spec.lines, max_lines=30, value="",
                    visible=name == "description", elem_id=f"note-{name}",
                )
            with gr.Row():
                example = gr.Button("Try an example", variant="secondary", elem_id="note-example")
                draft = gr.Button("Write the note", variant="primary", elem_id="note-draft")
                stop = gr.Button("Stop", variant="stop", elem_id="note-stop")
        with gr.Column(scale=1):
            output = gr.Textbox(
                label="Draft note (you can edit it here)", lines=22, max_lines=60, interactive=True,
                buttons=["copy"], elem_id="note-output",
            )

    @guarded
    def draft_note(
        description: str, fmt: str, disc: str, preset_id: str, goals: str = "", measures: str = "",
        request: gr.Request = None,
    ):
        chosen = services.presets.get(preset_id, "progress_note")
        note = NoteRequest(description, fmt, disc, preset_id, goals=goals or "", measures=measures or "")
        yield from accumulate(model_stream(services, note_messages(chosen, note), chosen, request))

    def try_example(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        sample = chosen.example if chosen else {}
        return (
            *(sample.get(name, "") for name in NOTE_FIELDS),
            (chosen and chosen.note_format) or sample.get("note_format", "SOAP"),
            (chosen and chosen.discipline) or sample.get("discipline", DISCIPLINES[0]),
        )

    def choose(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        info = gr.update(info=chosen.description if chosen else None)
        return (info, *picker_updates(chosen), *field_updates(chosen))

    fields = [boxes[name] for name in NOTE_FIELDS]
    event = draft.click(
        draft_note, [boxes["description"], note_format, discipline, preset, boxes["goals"], boxes["measures"]],
        output, api_name="draft_note", concurrency_limit=1, concurrency_id=MODEL_QUEUE,
    )
    stop.click(stopper(services), None, None, cancels=[event], queue=False, api_visibility="private")
    example.click(try_example, preset, [*fields, note_format, discipline], queue=False, api_visibility="private")
    preset.change(choose, preset, [preset, note_format, discipline, *fields], queue=False, api_visibility="private")
    return preset
