"""The user's own presets: save, delete, import, export and preview.

Plain Python over the preset schema. Writes go to the user layer only
(``<data>/presets``), atomically; shipped and vendor files are never written.
A locked vendor preset cannot be replaced or edited.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from assistant.core.messages import Message
from assistant.core.presets import KNOWN_FIELDS, Preset, PresetLibrary, parse_preset
from assistant.errors import InputError, PresetError
from assistant.store.config import Paths
from assistant.store.files import atomic_write
from assistant.store.presets import load_presets, shipped_dir
from assistant.store.resources import resource_base


def preset_layers(paths: Paths) -> list[tuple[str, Path]]:
    """Shipped, then vendor packs (beside the app, then in the data folder), then the user's own."""
    return [
        ("shipped", shipped_dir()),
        ("vendor", resource_base() / "vendor" / "presets"),
        ("vendor", paths.root / "vendor-presets"),
        ("user", paths.presets),
    ]


def load_library(paths: Paths) -> PresetLibrary:
    return load_presets(preset_layers(paths))


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def to_yaml(preset: Preset) -> str:
    """One preset as a YAML file, readable, with defaults left out."""
    data = preset.model_dump(mode="json", exclude_defaults=True)
    data = {"schema_version": 1, **{k: v for k, v in data.items() if k != "schema_version"}}
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def _write_atomic(path: Path, text: str) -> None:
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise InputError(
            f"The preset could not be saved ({exc.strerror or type(exc).__name__}). Check that the disk "
            "is not full, then try again. Your text is still in the editor."
        ) from exc


def save_user_preset(paths: Paths, library: PresetLibrary, text: str) -> Preset:
    """Validate the editor's text and save it as the user's preset with that id."""
    preset = parse_preset(text)
    current = library.presets.get(preset.id)
    if current is not None and current.locked:
        raise PresetError(f"(editor): id: '{preset.id}' is locked by your vendor. Save it under a new id.")
    if preset.locked:
        raise PresetError("(editor): locked: only a vendor pack can lock a preset; remove 'locked'.")
    _write_atomic(paths.presets / f"{preset.id}.yaml", to_yaml(preset))
    return preset


def delete_user_preset(paths: Paths, library: PresetLibrary, preset_id: str) -> None:
    """Delete the user's own file for this id (a shipped preset of the same id comes back)."""
    if library.origin.get(preset_id) != "user":
        raise PresetError(f"'{preset_id}' is not one of your own presets; built-in presets cannot be deleted.")
    for path in paths.presets.glob("*.y*ml"):
        try:
            if parse_preset(path.read_text(encoding="utf-8"), path.name).id == preset_id:
                path.unlink()
        except (PresetError, OSError, UnicodeDecodeError):
            continue


def duplicate(preset: Preset, library: PresetLibrary) -> Preset:
    """A copy with a fresh id and title, ready to edit."""
    base = f"{preset.id}-copy"
    new_id, n = base, 2
    while new_id in library.presets:
        new_id, n = f"{base}-{n}", n + 1
    return preset.model_copy(update={"id": new_id[:64], "title": f"{preset.title} (my copy)"[:80], "locked": False})


def blank(kind: str) -> str:
    """A starting point for a new preset of this kind."""
    if kind == "progress_note":
        template = "Write a $note_format progress note for a $discipline session.\n$sections\n\n$description\n"
    elif kind == "prior_auth":
        names = list(KNOWN_FIELDS["prior_auth"])[:11]
        template = "Write a prior-authorization letter dated $today.\n" + "\n".join(f"{n}: ${n}" for n in names) + "\n"
    else:
        template = ""
    preset = Preset.model_validate(
        {
            "schema_version": 1, "id": "my-preset", "kind": kind, "title": "My preset",
            "description": "What this preset is for, in one sentence.",
            "fields": [{"name": n} for n in KNOWN_FIELDS[kind]][: 11 if kind == "prior_auth" else 1],
            "system_prompt": "You are a careful writing assistant for a therapy practice. Use only the facts given.",
            "template": template,
            "example": _blank_example(kind),
        }
    )
    return to_yaml(preset)


def _blank_example(kind: str) -> dict[str, str]:
    if kind == "progress_note":
        return {"description": "A sample session, described the way a clinician would type it."}
    if kind == "prior_auth":
        return {name: f"sample {spec.label.lower()}" for name, spec in list(KNOWN_FIELDS["prior_auth"].items())[:11]}
    return {"message": "A sample request."}


def export_preset(library: PresetLibrary, preset_id: str) -> tuple[str, str]:
    """(file name, YAML text) for one preset."""
    preset = library.presets.get(preset_id)
    if preset is None:
        raise PresetError(f"The preset '{preset_id}' was not found.")
    return f"{preset.id}.yaml", to_yaml(preset)


def preview(preset: Preset, values: dict[str, str] | None = None) -> list[Message]:
    """The exact messages the model would get for the preset's example (or given values)."""
    from assistant.core.documents.chat import chat_messages
    from assistant.core.documents.letters import LetterRequest, letter_messages
    from assistant.core.documents.notes import NoteRequest, note_messages

    sample = dict(preset.example if values is None else values)
    day = dt.date.today()
    if preset.kind == "progress_note":
        known = {k: v for k, v in sample.items() if k in NoteRequest.__dataclass_fields__}
        known.setdefault("description", "")
        return note_messages(preset, NoteRequest(**known), today=day)
    if preset.kind == "prior_auth":
        known = {k: v for k, v in sample.items() if k in LetterRequest.__dataclass_fields__}
        return letter_messages(preset, LetterRequest(**known), today=day)
    return chat_messages(preset, [], sample.get("message", ""))


def describe_messages(messages: list[Message]) -> str:
    names = {"system": "Instructions to the model", "user": "Your text, as the model gets it", "assistant": "Model"}
    return "\n\n".join(f"=== {names[m.role]} ===\n{m.content}" for m in messages)
