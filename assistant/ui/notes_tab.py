"""Progress note tab: describe the session, pick a format, get a streamed draft."""

from __future__ import annotations

import gradio as gr

from assistant.documents.notes import DISCIPLINES, NOTE_FORMATS, NoteRequest, note_messages
from assistant.services import Services
from assistant.ui.common import MODEL_QUEUE, accumulate, guarded, preset_choices, session_of, settings_of, stopper


def build(services: Services) -> None:
    presets = services.presets.of_kind("progress_note")
    first = presets[0] if presets else None
    with gr.Row():
        with gr.Column(scale=1):
            preset = gr.Dropdown(
                preset_choices(presets), value=first.id if first else None, label="Note type",
                info=first.description if first else None, elem_id="note-preset",
            )
            with gr.Row():
                note_format = gr.Dropdown(list(NOTE_FORMATS), value="SOAP", label="Note format", elem_id="note-format")
                discipline = gr.Dropdown(DISCIPLINES, value=DISCIPLINES[0], label="Discipline", elem_id="note-discipline")
            description = gr.Textbox(
                label="What happened in the session?",
                placeholder="Describe the session in your own words: what the client said, what you did, "
                "how they responded, and what comes next.",
                lines=10, max_lines=30, elem_id="note-description",
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
    def draft_note(description_text: str, fmt: str, disc: str, preset_id: str, request: gr.Request):
        chosen = services.presets.get(preset_id, "progress_note")
        messages = note_messages(chosen, NoteRequest(description_text, fmt, disc, preset_id))
        stream = services.engine.stream(messages, settings_of(chosen), session_of(request), kind="progress_note")
        yield from accumulate(stream)

    def try_example(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        sample = chosen.example if chosen else {}
        return (
            sample.get("description", ""),
            sample.get("note_format", "SOAP"),
            sample.get("discipline", DISCIPLINES[0]),
        )

    def describe(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        return gr.update(info=chosen.description if chosen else None)

    event = draft.click(
        draft_note, [description, note_format, discipline, preset], output,
        api_name="draft_note", concurrency_limit=1, concurrency_id=MODEL_QUEUE,
    )
    stop.click(stopper(services), None, None, cancels=[event], queue=False, api_visibility="private")
    example.click(try_example, preset, [description, note_format, discipline], queue=False, api_visibility="private")
    preset.change(describe, preset, preset, queue=False, api_visibility="private")
