"""System tab, "Speech model (dictation)": which speech model dictation uses, choosing among the installed ones, and
adding one from a folder. Thin adapters over ``app.speech_models``; the next dictation uses the choice, no restart.

Admins only, like the language model (``roles.Action.MANAGE_MODELS``, checked on the server); each change is audited
(``settings_changed``, the model's name). A speech model the vendor locked is shown as such, and cannot be changed.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from assistant.app import speech_models
from assistant.app.services import Services
from assistant.errors import AssistantError
from assistant.install import vendor
from assistant.security.roles import Action
from assistant.web.common import to_user_error, user_of
from assistant.web.permissions import Gate

BUILTIN_KEY = "builtin"  # the list's value for the built-in model (a folder's value is its path)
WHAT = ("A Whisper model **folder** in CTranslate2 format, the kind faster-whisper uses: `model.bin`, `config.json`, "
        "`tokenizer.json` and `vocabulary.txt` (made with ct2-transformers-converter; a PyTorch or pickle file is "
        "never loaded).")


def _key(choice: speech_models.SpeechChoice) -> str:
    return BUILTIN_KEY if choice.builtin else str(choice.path)


def speech_choices(services: Services) -> list[tuple[str, str]]:
    return [(c.name, _key(c)) for c in speech_models.installed(services.config)]


def chosen_key(services: Services) -> str:
    return _key(speech_models.current(services.config))


def speech_in_use(services: Services) -> str:
    now = speech_models.current(services.config)
    what = "the built-in one (Whisper tiny.en: small, English only)" if now.builtin else f"**{now.name}** ({now.path})"
    locked = " Your vendor set it, so it cannot be changed here." if vendor.is_locked("speech_model") else ""
    return f"**Dictation uses:** {what}.{locked}"


def use_speech(services: Services, key: str | None) -> str:
    """Dictate with the chosen model from the next dictation on; a refusal is raised as the plain reason."""
    if not key:
        raise gr.Error("Choose a speech model first.", print_exception=False)
    try:
        speech_models.use(services.config, None if key == BUILTIN_KEY else key)
    except Exception as exc:  # noqa: BLE001 - the edge: plain words, never a traceback
        raise to_user_error(exc) from None
    return speech_in_use(services) + " The next dictation uses it."


def add_speech(services: Services, folder: str, copy: bool) -> str:
    """Check a speech model folder by loading it, install it, and dictate with it; nothing changes on a refusal."""
    if not (folder or "").strip():
        raise gr.Error("Type where the speech model's folder is on this computer first.", print_exception=False)
    source = Path(folder.strip().strip('"')).expanduser()
    try:
        added = speech_models.add(services.config, source, copy=bool(copy))
    except AssistantError as exc:
        raise gr.Error(f"{exc.message} Nothing was changed. {WHAT}", title="Could not add it",
                       print_exception=False) from None
    except Exception as exc:  # noqa: BLE001 - the edge
        raise to_user_error(exc) from None
    where = "copied into the assistant's data folder" if copy else f"used from {added.path}"
    return f"Added **{added.name}** ({where}). The next dictation uses it."


def _audit(services: Services, request: gr.Request | None, detail: str) -> None:
    if services.audit:
        services.audit.record("settings_changed", user=user_of(request),
                              model=speech_models.current(services.config).name, detail=detail)


def build(services: Services) -> None:
    gate = Gate(services)
    locked = vendor.is_locked("speech_model")
    gr.Markdown("**Speech model (dictation).** Recordings are turned into text on this computer with this model.")
    in_use = gr.Markdown(speech_in_use(services), elem_id="system-speech")
    note = gate.notice("system-speech-permission")
    with gr.Row():
        choice = gr.Dropdown(speech_choices(services), value=chosen_key(services), label="Installed speech models",
                             elem_id="system-speech-models", scale=3, interactive=not locked)
        use = gr.Button("Use for dictation", elem_id="system-speech-use", scale=1, interactive=not locked)
    with gr.Accordion("Add a speech model", open=False):
        gr.Markdown(WHAT + " It is loaded once to check it before it is used; nothing is downloaded. A larger model "
                    "(base, small) hears better and is slower.")
        folder = gr.Textbox(label="Speech model folder on this computer", elem_id="system-speech-folder",
                            placeholder="/opt/models/whisper-base.en-ct2", interactive=not locked)
        copy = gr.Checkbox(label="Copy it into the assistant's data folder (it then stays in the list)", value=True,
                           elem_id="system-speech-copy", interactive=not locked)
        add = gr.Button("Add speech model", elem_id="system-speech-add", interactive=not locked)
        added = gr.Markdown(elem_id="system-speech-added")
    if not locked:  # a locked one stays unavailable for everyone; otherwise staff see why they may not change it
        gate.lock_for_staff(Action.MANAGE_MODELS, note, [choice, use, folder, copy, add])

    def do_use(key: str, request: gr.Request):
        gate.check(request, Action.MANAGE_MODELS)
        text = use_speech(services, key)
        _audit(services, request, "speech model chosen")
        return text, gr.update(choices=speech_choices(services), value=chosen_key(services))

    def do_add(path: str, copy_it: bool, request: gr.Request):
        gate.check(request, Action.MANAGE_MODELS)
        text = add_speech(services, path, copy_it)
        _audit(services, request, "speech model added")
        return text, speech_in_use(services), gr.update(choices=speech_choices(services), value=chosen_key(services))

    use.click(do_use, choice, [in_use, choice], concurrency_limit=1, concurrency_id="speech-model",
              api_visibility="private")
    add.click(do_add, [folder, copy], [added, in_use, choice], concurrency_limit=1, concurrency_id="speech-model",
              api_visibility="private")
