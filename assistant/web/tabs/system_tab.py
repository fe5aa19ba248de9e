"""System tab: the hardware check, the installed models, switching and adding models; where the model runs
(``server_panel``) and the speech model dictation uses (``speech_panel``).

Thin adapters over ``assistant.ops.doctor``, ``assistant.engine.models`` and
``services.switch_model``. Switching runs in the shared model queue (it waits
for the draft being written), shows a progress bar while the model loads, and
never restarts the app. With staff sign-in on, only admins switch or add
models (``roles.Action.MANAGE_MODELS``, checked on the server); each change is
audited (``settings_changed``, the model's name).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.app.services import Services, switch_model
from assistant.engine import model_files, models, stages
from assistant.ops import doctor
from assistant.security.roles import Action
from assistant.web.common import MODEL_QUEUE, to_user_error, user_of
from assistant.web.permissions import Gate
from assistant.web.tabs import server_panel, speech_panel


def check_computer(services: Services) -> str:
    report = doctor.gather(services.config)
    return "```\n" + doctor.render_text(report) + "\n```"


def model_choices(services: Services) -> list[tuple[str, str]]:
    choices = []
    for entry in models.list_models(services.config):
        size = f", {models.size_words(entry.parameters)}" if entry.parameters else ""
        kind = f", {models.kind_words(entry)}" if entry.is_gguf else ""
        choices.append((f"{entry.name} ({entry.family}{size}{kind})", entry.name))
    return choices


def current_model(services: Services) -> str:
    info = services.model
    source = ""
    if info.from_saved_4bit:
        source = " from the saved 4-bit copy"
    return (
        f"**In use:** {info.name}{' (demo)' if info.is_demo else ''} on {info.device}, {info.precision}. "
        f"Loaded in {info.load_seconds:.1f} s{source}."
    )


def add_model(services: Services, folder: str, copy: bool) -> str:
    """Check and install a model folder or a .gguf file; a refusal is raised as the plain reason."""
    if not (folder or "").strip():
        raise gr.Error("Type where the model is on this computer first: its folder, or its .gguf file.",
                       print_exception=False)
    try:
        source = Path(folder.strip().strip('"')).expanduser()
        gguf = models.gguf_source(source.resolve())
        room = model_files.available_ram() if gguf else doctor.available_for_model(doctor.gather())
        entry = models.add_model(services.config, source, copy=bool(copy), available_bytes=room)
    except Exception as exc:  # noqa: BLE001 - the edge: plain words, never a traceback
        raise to_user_error(exc) from None
    checked = " It matched the SHA-256 manifest." if entry.verified_files == 1 else (
        f" {entry.verified_files} files matched the SHA-256 manifest." if entry.verified_files else "")
    if entry.is_gguf:
        what = (f"{models.kind_words(entry)}; it needs about {models.gib(entry.memory_bytes)} of memory "
                "to run")
    else:
        what = f"model folder, about {models.gib(entry.estimate_4bit_bytes)} in 4-bit"
    return (
        f"Added **{entry.name}**: {entry.family}, {models.size_words(entry.parameters)} parameters, "
        f"{what}.{checked} Choose it above and press Switch."
    )


def _shown(fraction: float, since: float) -> float:
    """Creep toward the next stage while a long stage (reading weights) runs, so the bar moves."""
    following = stages.span(stages.at(fraction).name)[1]
    return fraction + (following - fraction) * 0.9 * (1 - math.exp(-(time.monotonic() - since) / 20))


def run_switch(services: Services, name: str, report: Callable[[float, str], None]) -> str:
    """Switch in a worker thread; ``report`` is called from this thread with the progress."""
    entry = models.find_model(services.config, name)
    state: dict[str, Any] = {"fraction": 0.0, "words": "Starting", "since": time.monotonic()}

    def stage(fraction: float, words: str) -> None:
        state.update(fraction=fraction, words=words, since=time.monotonic())

    outcome: dict[str, BaseException] = {}

    def work() -> None:
        try:
            switch_model(services, None if entry.builtin else entry.path, stage)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="switch-model", daemon=True)
    worker.start()
    while worker.is_alive():
        report(_shown(state["fraction"], state["since"]), state["words"])
        worker.join(0.25)
    if "error" in outcome:
        raise outcome["error"]
    report(1.0, "Ready")
    return current_model(services)


def _audit(services: Services, request: gr.Request | None, model: str, detail: str) -> None:
    if services.audit:
        services.audit.record("settings_changed", user=user_of(request), model=model, detail=detail)


def build(services: Services) -> None:
    gate = Gate(services)
    gr.Markdown("**This computer.** What it has, and which model size it can run.")
    check = gr.Button("Check this computer", elem_id="system-check")
    report = gr.Markdown(elem_id="system-report")

    gr.Markdown("**Model.** Switching takes from a few seconds to a few minutes; drafts wait meanwhile.")
    in_use = gr.Markdown(current_model(services), elem_id="system-model")
    note = gate.notice("system-permission")
    choices = model_choices(services)
    active = models.active_name(services.config)
    with gr.Row():
        choice = gr.Dropdown(choices, value=active if active in [c for _, c in choices] else None,
                             label="Installed models", elem_id="system-models", scale=3)
        switch = gr.Button("Switch to this model", variant="primary", elem_id="system-switch", scale=1)
    with gr.Accordion("Add a model", open=False):
        gr.Markdown("Either a single **`.gguf` file** (the kind LM Studio, Ollama and GPT4All use; "
                    "Q4_K_M is a good choice on a computer without an NVIDIA graphics card), or a Hugging Face "
                    "**model folder** with config.json, tokenizer, chat template and `.safetensors` weights. "
                    "It is checked before it is added; nothing is downloaded. Only the 'Instruct' versions of "
                    "Llama 3, Mistral, Phi-3, Gemma 2 and 3, and Qwen 2.5 are accepted.")
        folder = gr.Textbox(label="Model folder or .gguf file on this computer", elem_id="system-add-folder",
                            placeholder="/opt/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf")
        copy = gr.Checkbox(label="Copy it into the assistant's data folder", value=False, elem_id="system-add-copy")
        add = gr.Button("Add model", elem_id="system-add")
        added = gr.Markdown(elem_id="system-added")
    gate.lock_for_staff(Action.MANAGE_MODELS, note, [choice, switch, folder, copy, add])
    server_panel.build(services)
    speech_panel.build(services)

    def do_check():
        try:
            return check_computer(services)
        except Exception as exc:  # noqa: BLE001 - the edge
            raise to_user_error(exc) from None

    def do_switch(name: str, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - gradio's progress injection
        gate.check(request, Action.MANAGE_MODELS)
        if not name:
            raise gr.Error("Choose a model first.", print_exception=False)
        try:
            text = run_switch(services, name, lambda fraction, words: progress(fraction, desc=words))
        except Exception as exc:  # noqa: BLE001 - the edge
            raise to_user_error(exc) from None
        _audit(services, request, services.model.name, "model switched")
        return text, gr.update(choices=model_choices(services), value=models.active_name(services.config))

    def do_add(path: str, copy_it: bool, request: gr.Request):
        gate.check(request, Action.MANAGE_MODELS)
        text = add_model(services, path, copy_it)
        _audit(services, request, "", "model added")
        return text, gr.update(choices=model_choices(services))

    check.click(do_check, None, report, api_visibility="private")
    switch.click(do_switch, choice, [in_use, choice], concurrency_limit=1, concurrency_id=MODEL_QUEUE,
                 api_visibility="private")
    add.click(do_add, [folder, copy], [added, choice], api_visibility="private")
