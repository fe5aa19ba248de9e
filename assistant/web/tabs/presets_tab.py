"""Presets tab: see every preset, and create, duplicate, edit, delete, import and
export your own, with live checking and a preview of the exact prompt.

The user layer (``<data>/presets``) is shared by everyone on this computer, so with staff
sign-in on, saving, deleting and importing are for admins (``roles.Action.EDIT_SHARED_PRESETS``,
checked on the server); staff still use every preset and try edits in the editor preview. Each
change is audited (``preset_saved`` / ``preset_deleted``, the preset id and the file's hash)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from assistant.app.services import Services
from assistant.core.presets import KIND_LABELS, MAX_FILE_BYTES, parse_preset
from assistant.errors import AssistantError, PresetError
from assistant.security.roles import Action
from assistant.store import user_presets as preset_store
from assistant.web.common import preset_choices, to_user_error, user_of
from assistant.web.permissions import Gate

ORIGIN_WORDS = {"shipped": "built in", "vendor": "from your vendor", "user": "yours"}
HELP = """**How presets work.** A preset is a short text file: the instructions the model gets
(`system_prompt`), the text it is asked to fill in (`template`, where `$description`, `$payer` and
the like are replaced by what you type), the form fields it asks for, and an example. Pick a preset
to see it, change it, then **Save as my preset**. Your presets are kept on this computer; a saved
preset with the same id replaces the built-in one for you (delete yours to get the original back).
"""


def _choices(services: Services) -> list[tuple[str, str]]:
    lib = services.presets
    rows = sorted(lib.presets.values(), key=lambda p: (p.kind, p.title))
    return [
        (f"{KIND_LABELS[p.kind]}: {p.title} ({ORIGIN_WORDS[lib.origin.get(p.id, 'shipped')]}"
         f"{', locked' if p.locked else ''})", p.id)
        for p in rows
    ]


def _problems(services: Services) -> str:
    warnings = services.presets.warnings
    if not warnings:
        return ""
    lines = "\n".join(f"- `{w}`" for w in warnings)
    return f"**These preset files have problems and were skipped** (file: field: problem):\n{lines}"


def check(text: str) -> tuple[str, str]:
    """Live check of the editor: (status in plain words, prompt preview)."""
    if not (text or "").strip():
        return "Write or pick a preset to check it.", ""
    try:
        preset = parse_preset(text)
    except PresetError as exc:
        lines = "\n".join(f"- `{line}`" for line in exc.message.splitlines())
        return f"**Not valid yet** (field: problem):\n{lines}", ""
    try:
        preview = preset_store.describe_messages(preset_store.preview(preset))
    except AssistantError as exc:
        return f"**Valid**, but its example cannot be used: {exc.message}", ""
    return f"**Valid.** This is what the model gets for the example of “{preset.title}”.", preview


def _audit(services: Services, request: gr.Request | None, event: str, preset_id: str, text: str | None,
           detail: str) -> None:
    if services.audit:
        services.audit.record(event, user=user_of(request), preset=preset_id, output=text, detail=detail)


def build(services: Services, pickers: dict[str, gr.Dropdown]) -> None:
    gate = Gate(services)
    gr.Markdown(HELP)
    problems = gr.Markdown(_problems(services), elem_id="preset-problems")
    with gr.Row():
        chooser = gr.Dropdown(_choices(services), label="Preset", value=None, scale=3, elem_id="preset-chooser")
        kind = gr.Dropdown([(v, k) for k, v in KIND_LABELS.items()], value="progress_note", label="Kind for a new preset", scale=1, elem_id="preset-kind")
    with gr.Row():
        new = gr.Button("New", elem_id="preset-new")
        copy = gr.Button("Duplicate", elem_id="preset-duplicate")
        save = gr.Button("Save as my preset", variant="primary", elem_id="preset-save")
        delete = gr.Button("Delete my preset", variant="stop", elem_id="preset-delete")
        export = gr.DownloadButton("Export", elem_id="preset-export")
        upload = gr.UploadButton("Import a preset file", file_types=[".yaml", ".yml"], elem_id="preset-import")
    note = gate.notice("preset-permission")
    gate.lock_for_staff(Action.EDIT_SHARED_PRESETS, note, [save, delete, upload])
    with gr.Row():
        with gr.Column():
            editor = gr.Code(label="Preset (edit here)", language="yaml", lines=28, interactive=True, elem_id="preset-editor")
        with gr.Column():
            status = gr.Markdown("Pick a preset to see it.", elem_id="preset-status")
            preview = gr.Textbox(label="Preview: what the model gets", lines=24, max_lines=60, interactive=False, elem_id="preset-preview")
    message = gr.Markdown(elem_id="preset-message")

    def refreshed(note: str, select: str | None = None):
        """After a change on disk: reload every layer and refresh every preset list."""
        services.reload_presets()
        updates = [gr.update(choices=_choices(services), value=select), _problems(services), note]
        for picker_kind, _ in pickers.items():
            choices = preset_choices(services.presets.of_kind(picker_kind))
            updates.append(gr.update(choices=choices))
        return updates

    def show(preset_id: str | None):
        if not preset_id or preset_id not in services.presets.presets:
            return "", gr.update(value=None)
        name, text = preset_store.export_preset(services.presets, preset_id)
        return text, gr.update(value=_download(name, text))

    def _download(name: str, text: str) -> str:
        folder = Path(tempfile.mkdtemp(prefix="preset-", dir=services.config.paths.tmp))
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def do_new(kind_value: str):
        return preset_store.blank(kind_value or "progress_note")

    def do_duplicate(preset_id: str | None):
        preset = services.presets.presets.get(preset_id or "")
        if preset is None:
            raise gr.Error("Pick a preset to duplicate first.", print_exception=False)
        return preset_store.to_yaml(preset_store.duplicate(preset, services.presets))

    def do_save(text: str, request: gr.Request):
        gate.check(request, Action.EDIT_SHARED_PRESETS)
        try:
            preset = preset_store.save_user_preset(services.config.paths, services.presets, text or "")
        except AssistantError as exc:
            raise to_user_error(exc) from None
        _audit(services, request, "preset_saved", preset.id, preset_store.to_yaml(preset), "saved")
        return refreshed(f"Saved “{preset.title}” as your preset.", preset.id)

    def do_delete(preset_id: str | None, request: gr.Request):
        gate.check(request, Action.EDIT_SHARED_PRESETS)
        try:
            preset_store.delete_user_preset(services.config.paths, services.presets, preset_id or "")
        except AssistantError as exc:
            raise to_user_error(exc) from None
        _audit(services, request, "preset_deleted", preset_id or "", None, "deleted")
        return refreshed("Deleted your preset.")

    def do_import(file_path: str | None, request: gr.Request):
        if not gate.allowed(request, Action.EDIT_SHARED_PRESETS):
            if file_path:
                Path(file_path).unlink(missing_ok=True)
            gate.check(request, Action.EDIT_SHARED_PRESETS)
        if not file_path:
            raise gr.Error("No file was received. Pick a .yaml preset file.", print_exception=False)
        path = Path(file_path)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise gr.Error("That file is too large to be a preset. Pick a preset .yaml file.", print_exception=False)
        try:
            text = path.read_text(encoding="utf-8")
            preset = preset_store.save_user_preset(services.config.paths, services.presets, text)
        except UnicodeDecodeError:
            raise gr.Error("That file is not a text file. Pick a preset .yaml file.", print_exception=False) from None
        except AssistantError as exc:
            raise to_user_error(exc) from None
        finally:
            path.unlink(missing_ok=True)
        _audit(services, request, "preset_saved", preset.id, preset_store.to_yaml(preset), "imported")
        return refreshed(f"Imported “{preset.title}”.", preset.id)

    outputs = [chooser, problems, message, *pickers.values()]
    private = dict(api_visibility="private")  # queued: a refusal shows as a message box
    chooser.change(show, chooser, [editor, export], **private)
    new.click(do_new, kind, editor, **private)
    copy.click(do_duplicate, chooser, editor, **private)
    save.click(do_save, editor, outputs, **private)
    delete.click(do_delete, chooser, outputs, **private)
    upload.upload(do_import, upload, outputs, **private)
    editor.change(check, editor, [status, preview], **private)
