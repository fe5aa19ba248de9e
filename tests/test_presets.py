from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import PresetError
from assistant.presets import KIND_VARIABLES, load_file, load_presets, shipped_dir

SHIPPED = sorted(shipped_dir().glob("*.yaml"))


def test_every_kind_has_a_shipped_preset():
    library = load_presets([shipped_dir()])
    assert not library.warnings
    for kind in KIND_VARIABLES:
        assert library.of_kind(kind), kind


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_preset_is_valid_and_renders_its_example(path: Path):
    preset = load_file(path)
    assert preset.id == path.stem
    assert preset.example, "every preset offers 'Try an example'"
    if preset.kind != "chat":
        rendered = preset.render({k: f"<{k}>" for k in KIND_VARIABLES[preset.kind]})
        assert "$" not in rendered.replace("$$", "")


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
"""


def test_unknown_key_and_bad_placeholder_are_named(tmp_path: Path):
    path = write(tmp_path, "bad.yaml", GOOD + "colour: red\n")
    with pytest.raises(PresetError, match="bad.yaml: colour: Extra inputs are not permitted"):
        load_file(path)
    path = write(tmp_path, "typo.yaml", GOOD.replace('template: "$description"', 'template: "$descripton"'))
    with pytest.raises(PresetError, match=r"typo.yaml: \(file\): template uses \$descripton"):
        load_file(path)


def test_out_of_bounds_setting_is_refused(tmp_path: Path):
    path = write(tmp_path, "hot.yaml", GOOD + "generation:\n  temperature: 9\n")
    with pytest.raises(PresetError, match="hot.yaml: generation.temperature"):
        load_file(path)


def test_user_layer_overrides_and_broken_file_is_reported(tmp_path: Path):
    user = tmp_path / "user"
    write(user, "mine.yaml", GOOD.replace("my-note", "daily-note").replace("Mine", "My daily note"))
    write(user, "broken.yaml", "id: [unclosed")
    library = load_presets([shipped_dir(), user])
    assert library.presets["daily-note"].title == "My daily note"
    assert any(w.startswith("broken.yaml: (file)") for w in library.warnings)


def test_cli_validate_exit_codes(tmp_path: Path, capsys):
    assert main(["presets", "validate"]) == 0
    write(tmp_path, "bad.yaml", GOOD.replace("kind: progress_note", "kind: poem"))
    assert main(["presets", "validate", str(tmp_path)]) == 1
    assert "bad.yaml: kind:" in capsys.readouterr().out
