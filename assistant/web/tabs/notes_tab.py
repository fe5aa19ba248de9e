"""Progress note tab: describe the session, pick a format, get a streamed draft.

Its fields are checked before the draft starts: a field that cannot be used says
why beside itself (Gradio's validator), and nothing else on the page changes.
Defaults that depend on the model (one section at a time for the small demo
model) are read from the services at event time: on page load, and when the
tab is opened after the model was switched.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from assistant.app.drafting import draft_by_sections, rewrite_section
from assistant.app.services import Services
from assistant.checks import check_sections, replace_section
from assistant.core.documents import field_problems
from assistant.core.documents.notes import DISCIPLINES, NOTE_FORMATS, NoteRequest, note_messages, resolve_format
from assistant.core.presets import KNOWN_FIELDS, Preset
from assistant.security.audit import audited
from assistant.web.common import (
    DRAFT_CONCURRENCY,
    DRAFT_QUEUE,
    Stops,
    accumulate,
    guarded,
    model_stream,
    preset_choices,
    refusal,
    session_of,
    settings_of,
    stopper,
    user_of,
)
from assistant.web.tabs import dictate, medicare_panel
from assistant.web.tabs import review as review_panel

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


def model_key(services: Services) -> str:
    """Which model the model-dependent defaults were chosen for."""
    return f"{services.model.name}|{services.model.is_demo}"


def build(services: Services) -> tuple[gr.Dropdown, tuple[Callable, list]]:
    """Build the tab; returns its preset picker and the (handler, outputs) that set the model's
    defaults (run on page load and when the tab is opened)."""
    presets = services.presets.of_kind("progress_note")
    first = presets[0] if presets else None
    boxes: dict[str, gr.Textbox] = {}
    stops = Stops()
    defaults_for = gr.State(None)  # the model_key the defaults were set for, in this page
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
            dictate.attach(services, boxes["description"], "note")
            by_sections = gr.Checkbox(
                value=services.model.is_demo, label="Write one section at a time (more reliable with small models)",
                elem_id="note-by-sections",
            )
            with gr.Row():
                example = gr.Button("Try an example", variant="secondary", elem_id="note-example")
                draft = gr.Button("Write the note", variant="primary", elem_id="note-draft")
                stop = gr.Button("Stop", variant="stop", elem_id="note-stop")
            medicare_panel.build()
        with gr.Column(scale=1):
            output = gr.Textbox(
                label="Draft note (you can edit it here)", lines=22, max_lines=60, interactive=True,
                buttons=[], elem_id="note-output",
            )
            with gr.Row():
                section = gr.Dropdown(NOTE_FORMATS["SOAP"], value=None, label="Rewrite one section", scale=2,
                                      elem_id="note-section")
                rewrite = gr.Button("Rewrite this section", scale=1, elem_id="note-rewrite")
            review = review_panel.build(services, "note")

    @guarded
    def draft_note(
        description: str, fmt: str, disc: str, preset_id: str, goals: str = "", measures: str = "",
        one_section_at_a_time: bool = False, request: gr.Request = None,
    ):
        chosen = services.presets.get(preset_id, "progress_note")
        note = NoteRequest(description, fmt, disc, preset_id, goals=goals or "", measures=measures or "")
        if not one_section_at_a_time:
            yield from accumulate(model_stream(services, note_messages(chosen, note), chosen, request))
            return
        note_messages(chosen, note)  # checks the input and its length before anything is written
        with stops.signal(session_of(request)) as stop:  # Stop ends the whole note, not one section
            pieces = draft_by_sections(services.engine, chosen, note, settings_of(chosen), session_of(request), stop)
            yield from accumulate(audited(pieces, services.audit, kind=chosen.kind, preset=chosen.id,
                                          model=services.model.name, user=user_of(request),
                                          detail_prefix="by sections"))

    @guarded
    def check_fields(
        description: str, fmt: str, disc: str, preset_id: str, goals: str = "", measures: str = "",
        one_section_at_a_time: bool = False,
    ) -> list[dict]:
        """Before the draft starts: each field the preset asks for that cannot be used says why, by itself."""
        chosen = services.presets.presets.get(preset_id)
        typed = {"description": description, "goals": goals, "measures": measures}
        problems = field_problems(chosen, typed) if chosen is not None else {}  # unknown: the draft says so

        def verdict(name: str | None) -> dict:
            return gr.validate(name not in problems, problems.get(name or "", ""))

        return [verdict("description"), verdict(None), verdict(None), verdict(None), verdict("goals"),
                verdict("measures"), verdict(None)]

    @guarded
    def rewrite_one(
        draft: str, name: str | None, description: str, fmt: str, disc: str, preset_id: str, goals: str,
        measures: str, request: gr.Request,
    ):
        if not (draft or "").strip():
            raise refusal("Write a draft first, then rewrite one of its sections.")
        if not name:
            raise refusal("Pick the section to rewrite.")
        chosen = services.presets.get(preset_id, "progress_note")
        note = NoteRequest(description, fmt, disc, preset_id, goals=goals or "", measures=measures or "")
        names = chosen.required_sections(resolve_format(chosen, note)[0])
        if name not in names or check_sections(draft, [name]):
            raise refusal(f"The draft has no “{name}” heading to rewrite. Add it, or write the note again.")
        pieces = rewrite_section(services.engine, chosen, note, draft, name, settings_of(chosen), session_of(request))
        body = ""
        yield draft
        for piece in audited(pieces, services.audit, kind=chosen.kind, preset=chosen.id, model=services.model.name,
                             user=user_of(request), detail_prefix=f"rewrite {name}"):
            body += piece
            yield replace_section(draft, name, body, names)

    @guarded
    def sections_of(preset_id: str, fmt: str):
        chosen = services.presets.presets.get(preset_id)
        names = chosen.required_sections(chosen.note_format or fmt) if chosen else NOTE_FORMATS.get(fmt, [])
        return gr.update(choices=names, value=None, interactive=bool(names))

    @guarded
    def fields_of(description: str, goals: str, measures: str, fmt: str, preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        sections = chosen.required_sections(chosen.note_format or fmt) if chosen else NOTE_FORMATS.get(fmt, [])
        fields = {"session_description": description or "", "goals": goals or "", "measures": measures or ""}
        return fields, sections

    @guarded
    def try_example(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        sample = chosen.example if chosen else {}
        return (
            *(sample.get(name, "") for name in NOTE_FIELDS),
            (chosen and chosen.note_format) or sample.get("note_format", "SOAP"),
            (chosen and chosen.discipline) or sample.get("discipline", DISCIPLINES[0]),
        )

    @guarded
    def choose(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        info = gr.update(info=chosen.description if chosen else None)
        return (info, *picker_updates(chosen), *field_updates(chosen))

    fields = [boxes[name] for name in NOTE_FIELDS]
    check_inputs = [boxes["description"], boxes["goals"], boxes["measures"], note_format, preset, output]
    check_outputs = review.check_outputs
    run_check = review_panel.checker(services, "note", fields_of)
    reset = review.reset()
    event = draft.click(
        draft_note,
        [boxes["description"], note_format, discipline, preset, boxes["goals"], boxes["measures"], by_sections],
        output, api_name="draft_note", concurrency_limit=DRAFT_CONCURRENCY, concurrency_id=DRAFT_QUEUE,
        validator=check_fields,
    )
    event.then(run_check, check_inputs, check_outputs, queue=False, api_visibility="private")
    draft.click(*reset, queue=False, api_visibility="private")
    rewrite.click(*reset, queue=False, api_visibility="private")  # the page shows "draft" before the rewrite
    redo = rewrite.click(
        rewrite_one,
        [output, section, boxes["description"], note_format, discipline, preset, boxes["goals"], boxes["measures"]],
        output, concurrency_limit=DRAFT_CONCURRENCY, concurrency_id=DRAFT_QUEUE, api_visibility="private",
    )
    redo.then(run_check, check_inputs, check_outputs, queue=False, api_visibility="private")
    review.check_again.click(run_check, check_inputs, check_outputs, queue=False, api_visibility="private")
    review.second_look.click(review_panel.second_looker(services, fields_of), check_inputs, review.second_result,
                             concurrency_limit=DRAFT_CONCURRENCY, concurrency_id=DRAFT_QUEUE, api_visibility="private")
    review_panel.wire(services, review, output, "note", preset)
    stop.click(stopper(services, stops), None, None, cancels=[event, redo], queue=False, api_visibility="private")
    for trigger in (preset.change, note_format.change):
        trigger(sections_of, [preset, note_format], section, queue=False, api_visibility="private")
    example.click(try_example, preset, [*fields, note_format, discipline], queue=False, api_visibility="private")
    preset.change(choose, preset, [preset, note_format, discipline, *fields], queue=False, api_visibility="private")

    @guarded
    def defaults(request: gr.Request, applied: str | None):
        """The model's defaults, once per model: a choice the person made for this model stays."""
        key = model_key(services)
        if applied == key:
            return gr.update(), key
        return gr.update(value=services.model.is_demo), key

    return preset, (defaults, [by_sections, defaults_for])
