"""Prior-auth letter tab: a request form in, a streamed letter to the payer out.

The form is checked before the letter starts: each field that cannot be used
says why beside itself, and nothing else on the page changes."""

from __future__ import annotations

import gradio as gr

from assistant.app.services import Services
from assistant.core.documents import field_problems
from assistant.core.documents.letters import LETTER_FIELDS, LetterRequest, letter_messages
from assistant.core.presets import KNOWN_FIELDS, Preset
from assistant.web.common import (
    DRAFT_CONCURRENCY,
    DRAFT_QUEUE,
    accumulate,
    guarded,
    model_stream,
    preset_choices,
    stopper,
)
from assistant.web.tabs import appeal_panel, dictate, letter_extras
from assistant.web.tabs import review as review_panel

NAMES = list(LETTER_FIELDS)
PLACEHOLDERS = {
    "date_of_birth": "MM/DD/YYYY",
    "cpt_codes": "e.g. 97110, 97530",
    "icd10_codes": "e.g. M54.50",
    "visits": "e.g. 12 visits, 2x/week from 01/05 to 03/01",
    "justification": "Why the service is medically necessary: current function, goals, progress so far.",
}


def field_updates(preset: Preset | None) -> list[dict]:
    wanted = {f.name: f for f in preset.resolved_fields()} if preset else {}
    updates = []
    for name in NAMES:
        spec = wanted.get(name)
        if spec is None:
            updates.append(gr.update(visible=False))
        else:
            label = spec.label + ("" if spec.required else " (optional)")
            updates.append(gr.update(visible=True, label=label, info=spec.help or None))
    return updates


def build(services: Services) -> gr.Dropdown:
    presets = services.presets.of_kind("prior_auth")
    first = presets[0] if presets else None
    shown = set(first.field_names()) if first else set(NAMES)
    boxes: dict[str, gr.Textbox] = {}
    with gr.Row():
        with gr.Column(scale=1):
            preset = gr.Dropdown(
                preset_choices(presets), value=first.id if first else None, label="Letter type",
                info=first.description if first else None, elem_id="letter-preset",
            )
            wire_appeal = appeal_panel.build(services)
            for name in NAMES:
                spec = KNOWN_FIELDS["prior_auth"][name]
                boxes[name] = gr.Textbox(
                    label=spec.label + ("" if spec.required else " (optional)"),
                    placeholder=PLACEHOLDERS.get(name, ""), lines=spec.lines, max_lines=20 if spec.lines > 1 else 2, value="",
                    visible=name in shown, elem_id=f"letter-{name}",
                )
                if name == "justification":
                    dictate.attach(services, boxes[name], "letter")
            with gr.Row():
                example = gr.Button("Try an example", variant="secondary", elem_id="letter-example")
                draft = gr.Button("Write the letter", variant="primary", elem_id="letter-draft")
                stop = gr.Button("Stop", variant="stop", elem_id="letter-stop")
            checklist = gr.Markdown(review_panel.CHECKLIST_WAITING, elem_id="letter-checklist")
        with gr.Column(scale=1):
            output = gr.Textbox(
                label="Draft letter (you can edit it here)", lines=30, max_lines=80, interactive=True,
                buttons=[], elem_id="letter-output",
            )
            review = review_panel.build(services, "letter", checklist)
            letter_extras.build(services, boxes, output, review)
    wire_appeal(preset, boxes["denial_details"])

    @guarded
    def draft_letter(
        patient_name: str, date_of_birth: str, member_id: str, payer: str, provider_name: str,
        provider_npi: str, requested_service: str, cpt_codes: str, icd10_codes: str, visits: str,
        justification: str, preset_id: str, progress_to_date: str = "", denial_details: str = "",
        request: gr.Request = None,
    ):
        chosen = services.presets.get(preset_id, "prior_auth")
        letter = LetterRequest(
            patient_name=patient_name, date_of_birth=date_of_birth, member_id=member_id, payer=payer,
            provider_name=provider_name, provider_npi=provider_npi, requested_service=requested_service,
            cpt_codes=cpt_codes, icd10_codes=icd10_codes, visits=visits, justification=justification,
            progress_to_date=progress_to_date or "", denial_details=denial_details or "", preset_id=preset_id,
        )
        yield from accumulate(model_stream(services, letter_messages(chosen, letter, services.profile), chosen, request))

    @guarded
    def check_fields(*values: str) -> list[dict]:
        """Before the letter starts: each field the preset asks for that cannot be used says why, by itself."""
        names = [*NAMES[:11], "preset_id", *NAMES[11:]]
        typed = dict(zip(names, values, strict=False))
        chosen = services.presets.presets.get(typed.get("preset_id") or "")
        problems = field_problems(chosen, typed) if chosen is not None else {}  # unknown: the letter says so
        return [gr.validate(name not in problems, problems.get(name, "")) for name in names[:len(values)]]

    @guarded
    def try_example(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        sample = chosen.example if chosen else {}
        return [sample.get(name, "") for name in NAMES]

    @guarded
    def choose(preset_id: str):
        chosen = services.presets.presets.get(preset_id)
        return (gr.update(info=chosen.description if chosen else None), *field_updates(chosen))

    inputs = [boxes[name] for name in NAMES]
    first_eleven = inputs[:11]
    event = draft.click(
        draft_letter, [*first_eleven, preset, boxes["progress_to_date"], boxes["denial_details"]], output,
        api_name="draft_letter", concurrency_limit=DRAFT_CONCURRENCY, concurrency_id=DRAFT_QUEUE,
        validator=check_fields,
    )

    def fields_of(*values: str):  # the form's boxes, then the letter type
        return {name: value or "" for name, value in zip(NAMES, values[:len(NAMES)], strict=True)}, None

    def labels_of(*values: str) -> dict[str, str]:
        """The boxes the chosen letter type shows, by the names it gives them."""
        chosen = services.presets.presets.get(values[-1] or "")
        return {f.name: f.label for f in chosen.resolved_fields()} if chosen is not None else {}

    check_outputs = review.check_outputs
    run_check = review_panel.checker(services, "letter", fields_of, labels_of)
    event.then(run_check, [*inputs, preset, output], check_outputs, queue=False, api_visibility="private")
    draft.click(*review.reset(), queue=False, api_visibility="private")
    review.check_again.click(run_check, [*inputs, preset, output], check_outputs, queue=False,
                             api_visibility="private")
    review.second_look.click(review_panel.second_looker(services, fields_of), [*inputs, preset, output],
                             review.second_result, concurrency_limit=DRAFT_CONCURRENCY, concurrency_id=DRAFT_QUEUE,
                             api_visibility="private")
    review_panel.wire(services, review, output, "letter", preset)
    stop.click(stopper(services), None, None, cancels=[event], queue=False, api_visibility="private")
    example.click(try_example, preset, inputs, queue=False, api_visibility="private")
    preset.change(choose, preset, [preset, *inputs], queue=False, api_visibility="private")
    return preset
