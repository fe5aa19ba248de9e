from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.core.presets import KIND_LABELS, parse_preset
from assistant.errors import PresetError
from assistant.store import user_presets as preset_store
from assistant.store.config import Config
from assistant.store.presets import load_file, load_presets, shipped_dir

SHIPPED = sorted(shipped_dir().glob("*.yaml"))


def test_every_kind_has_a_shipped_preset():
    library = load_presets([shipped_dir()])
    assert not library.warnings
    for kind in KIND_LABELS:
        assert library.of_kind(kind), kind


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_preset_is_valid_and_renders_its_example(path: Path):
    preset = load_file(path)
    assert preset.id == path.stem, "file name and id must match"
    assert preset.example, "every preset offers 'Try an example'"
    for spec in preset.resolved_fields():
        if spec.required:
            assert preset.example.get(spec.name, "").strip(), f"example lacks required field {spec.name}"
    messages = preset_store.preview(preset)  # the same code path a real draft takes
    prompt = messages[-1].content
    assert "$" not in prompt.replace("$$", ""), "a placeholder was left unfilled"
    for name, value in preset.example.items():
        if name in {f.name for f in preset.resolved_fields()}:
            assert value.strip()[:40] in prompt, f"example field {name} did not reach the prompt"


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


GOOD = """\
schema_version: 1
id: my-note
kind: progress_note
title: Mine
description: d
system_prompt: s
template: "$description"
example:
  description: A short session.
"""


@pytest.mark.parametrize(
    "body, where",
    [
        (GOOD + "colour: red\n", "colour: Extra inputs are not permitted"),
        (GOOD.replace('"$description"', '"$descripton"'), "template uses $descripton, which is not a declared field"),
        (GOOD.replace('"$description"', '"no fields"'), "template does not use $description"),
        (GOOD + "generation:\n  temperature: 9\n", "generation.temperature"),
        (GOOD.replace("kind: progress_note", "kind: poem"), "kind:"),
        (GOOD + "fields:\n  - name: payer\n", "fields: payer is not a field of a progress_note form"),
        (GOOD + "note_format: SOAPY\n", "note_format: Value error"),
        ("id: [unclosed", "line 1: not valid YAML"),
        ("- just\n- a list\n", "(file): must be"),
    ],
)
def test_bad_preset_is_named_by_file_and_field(tmp_path: Path, body: str, where: str):
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(PresetError) as err:
        load_file(path)
    assert err.value.message.startswith("bad.yaml: ")
    assert where.replace("Value error", "") in err.value.message.replace("Value error, ", "")


def test_user_dollar_and_braces_are_just_text():
    preset = parse_preset(GOOD)
    assert preset.render({"description": "costs $5 {x} ${y}"}) == "costs $5 {x} ${y}"


def test_huge_file_is_skipped_not_loaded(tmp_path: Path):
    big = tmp_path / "user" / "huge.yaml"
    big.parent.mkdir(parents=True)
    big.write_bytes(b"a: " + b"x" * 10_000_000)
    library = load_presets([("shipped", shipped_dir()), ("user", big.parent)])
    assert any(w.startswith("huge.yaml: (file): is larger than") for w in library.warnings)
    assert "daily-note" in library.presets


def test_layers_override_by_id_and_vendor_lock_holds(tmp_path: Path):
    vendor, user = tmp_path / "vendor", tmp_path / "user"
    write(vendor, "v.yaml", GOOD.replace("my-note", "daily-note").replace("Mine", "Vendor daily") + "locked: true\n")
    write(vendor, "w.yaml", GOOD.replace("my-note", "vendor-only").replace("Mine", "Vendor only"))
    write(user, "u.yaml", GOOD.replace("my-note", "daily-note").replace("Mine", "User daily"))
    write(user, "w.yaml", GOOD.replace("my-note", "vendor-only").replace("Mine", "User version"))
    write(user, "broken.yaml", "id: [unclosed")
    library = load_presets([("shipped", shipped_dir()), ("vendor", vendor), ("user", user)])
    assert library.presets["daily-note"].title == "Vendor daily"  # locked: the user file is refused
    assert library.presets["vendor-only"].title == "User version"  # not locked: the user wins
    assert library.origin["vendor-only"] == "user"
    assert any("locked by your vendor" in w for w in library.warnings)
    assert any(w.startswith("broken.yaml: line 1") for w in library.warnings)


def test_editor_round_trip_create_edit_export_import(tmp_path: Path, assistant_home: Path):
    config = Config.load()
    paths = config.paths
    library = preset_store.load_library(paths)
    # create from the blank template, then edit
    text = preset_store.blank("progress_note").replace("id: my-preset", "id: pt-quick").replace("My preset", "PT quick note")
    saved = preset_store.save_user_preset(paths, library, text)
    library = preset_store.load_library(paths)
    assert library.origin["pt-quick"] == "user"
    edited = preset_store.to_yaml(saved).replace("PT quick note", "PT quick note v2")
    preset_store.save_user_preset(paths, library, edited)
    library = preset_store.load_library(paths)
    assert library.presets["pt-quick"].title == "PT quick note v2"
    # export, delete, import
    name, exported = preset_store.export_preset(library, "pt-quick")
    assert name == "pt-quick.yaml"
    preset_store.delete_user_preset(paths, library, "pt-quick")
    library = preset_store.load_library(paths)
    assert "pt-quick" not in library.presets
    preset_store.save_user_preset(paths, library, exported)
    library = preset_store.load_library(paths)
    assert library.presets["pt-quick"] == parse_preset(exported)
    # duplicates get a fresh id; built-in presets cannot be deleted
    copy = preset_store.duplicate(library.presets["daily-note"], library)
    assert copy.id == "daily-note-copy"
    with pytest.raises(PresetError, match="not one of your own"):
        preset_store.delete_user_preset(paths, library, "daily-note")


def test_cli_validate_reports_planted_error_by_file_and_field(tmp_path: Path, capsys):
    assert main(["presets", "validate"]) == 0
    write(tmp_path, "bad.yaml", GOOD + "generation:\n  max_new_tokens: 100000\n")
    assert main(["presets", "validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml: generation.max_new_tokens: Input should be less than or equal to 4096" in out
