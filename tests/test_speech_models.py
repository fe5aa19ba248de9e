"""Choosing the speech model dictation uses: the System tab's panel driven through its handler functions with the
real demo speech model (a copy added from another folder, the built-in one picked again, each taking effect at the
next dictation without a restart), folders that are not speech models refused with nothing changed, a vendor's lock
holding; and a vendor build carrying a speech model: ``--speech-model`` checked by build/build.py's own functions
(in-process, nothing frozen), staged into a vendor folder, and applied from it on start."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import sys
import zipfile
from pathlib import Path

import gradio as gr
import pytest
from test_dictation import silence  # tests/ is on sys.path (no __init__.py)
from test_history import Page, audit_records, signed_in

from assistant.app import speech_models
from assistant.app.dictation import Dictation
from assistant.app.services import build_services
from assistant.engine.fake import FakeBackend
from assistant.engine.speech.demo import NAME as DEMO_NAME
from assistant.engine.speech.demo import find_demo_speech
from assistant.install import vendor
from assistant.store.config import Config
from assistant.web.tabs import speech_panel

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def whisper_copy(tmp_path: Path) -> Path:
    """The demo speech model's folder, copied somewhere else (as a practice's download would sit)."""
    folder = tmp_path / "downloads" / "whisper-copy"
    shutil.copytree(find_demo_speech(), folder)
    return folder


def _not_models(folder: Path) -> dict[str, Path]:
    made = {}
    for name, files in {"llm-folder": {"config.json": b"{}", "model.safetensors": b"\0" * 64},
                        "pickled": {"config.json": b"{}", "model.bin": pickle.dumps({"weights": [1, 2, 3]})},
                        "damaged": {"config.json": b"{}", "model.bin": b"\0" * 1000}}.items():
        (folder / name).mkdir(parents=True)
        for file, content in files.items():
            (folder / name / file).write_bytes(content)
        made[name] = folder / name
    return made


def test_the_system_tab_adds_and_picks_speech_models_for_the_next_dictation(tmp_path: Path,
                                                                             whisper_copy: Path) -> None:
    services = build_services(Config.load(), FakeBackend())
    assert "the built-in one" in speech_panel.speech_in_use(services)
    assert speech_panel.speech_choices(services) == [("Built-in (small, English)", speech_panel.BUILTIN_KEY)]
    assert services.dictation.transcribe(silence(tmp_path / "a.wav", 2)).model == DEMO_NAME

    text = speech_panel.add_speech(services, f'"{whisper_copy}"', True)  # pasted with quotes, as Windows copies it
    installed = services.config.paths.models / "speech" / "whisper-copy"
    assert "Added **whisper-copy**" in text and "next dictation uses it" in text
    assert (installed / "model.bin").is_file() and not installed.with_name("whisper-copy.partial").exists()
    assert Config.load().settings.speech_model_path == str(installed), "kept in settings.json"
    assert ("whisper-copy", str(installed)) in speech_panel.speech_choices(services)
    assert speech_panel.chosen_key(services) == str(installed) and "**whisper-copy**" in speech_panel.speech_in_use(
        services)
    assert services.dictation.transcribe(silence(tmp_path / "b.wav", 2)).model == "whisper-copy", "no restart"

    assert "the built-in one" in speech_panel.use_speech(services, speech_panel.BUILTIN_KEY)
    assert Config.load().settings.speech_model_path is None
    assert services.dictation.transcribe(silence(tmp_path / "c.wav", 2)).model == DEMO_NAME, "the old one is dropped"
    speech_panel.use_speech(services, str(installed))  # picked again from the list
    assert services.dictation.model_name == "whisper-copy"


def test_a_speech_model_used_from_where_it_is_stays_listed(whisper_copy: Path) -> None:
    services = build_services(Config.load(), FakeBackend())
    text = speech_panel.add_speech(services, str(whisper_copy), False)
    assert f"used from {whisper_copy}" in text
    assert speech_panel.speech_choices(services)[-1] == ("whisper-copy", str(whisper_copy))
    with pytest.raises(gr.Error, match="Choose a speech model first"):
        speech_panel.use_speech(services, None)


def test_a_folder_that_is_not_a_speech_model_is_refused_and_nothing_changes(tmp_path: Path,
                                                                             whisper_copy: Path) -> None:
    services = build_services(Config.load(), FakeBackend())
    speech_panel.add_speech(services, str(whisper_copy), True)
    before = Config.load().settings.speech_model_path
    bad = _not_models(tmp_path / "bad")
    for name, expected in [("llm-folder", "incomplete (missing model.bin)"),
                           ("pickled", "not a speech model in CTranslate2 format"),
                           ("damaged", "could not be loaded")]:
        with pytest.raises(gr.Error) as raised:
            speech_panel.add_speech(services, str(bad[name]), True)
        message = str(raised.value)
        assert expected in message and "Nothing was changed" in message and "ct2-transformers-converter" in message
        assert "Traceback" not in message
    with pytest.raises(gr.Error, match="already installed"):
        speech_panel.add_speech(services, str(whisper_copy), True)
    with pytest.raises(gr.Error, match="Type where the speech model's folder is"):
        speech_panel.add_speech(services, "  ", True)
    with pytest.raises(gr.Error, match="incomplete"):
        speech_panel.use_speech(services, str(tmp_path / "gone"))
    assert Config.load().settings.speech_model_path == before == services.config.settings.speech_model_path
    assert sorted(p.name for p in (services.config.paths.models / "speech").iterdir()) == ["whisper-copy"]


def test_a_speech_model_the_vendor_locked_cannot_be_changed(tmp_path: Path, whisper_copy: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    services = build_services(Config.load(), FakeBackend())
    bundle = tmp_path / "bundle"  # a frozen build's folder (sys._MEIPASS): its vendor folder locks the speech model
    (bundle / "vendor").mkdir(parents=True)
    (bundle / "vendor" / "settings.json").write_text(json.dumps({"speech_model": "models/speech/acme",
                                                                 "locked": ["speech_model"]}))
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert vendor.is_locked("speech_model") and "Your vendor set it" in speech_panel.speech_in_use(services)
    with pytest.raises(gr.Error, match="Your vendor has set the speech model dictation uses"):
        speech_panel.use_speech(services, speech_panel.BUILTIN_KEY)
    with pytest.raises(gr.Error, match="Your vendor has set the speech model"):
        speech_panel.add_speech(services, str(whisper_copy), True)
    assert main(["models", "add", str(whisper_copy), "--speech"]) == 1
    assert "Your vendor has set the speech model" in capsys.readouterr().out
    assert Config.load().settings.speech_model_path is None and not (services.config.paths.models / "speech").exists()
    with gr.Blocks() as page:
        speech_panel.build(services)
    controls = {b.elem_id: b for b in page.blocks.values() if getattr(b, "elem_id", None)}
    for elem_id in ("system-speech-models", "system-speech-use", "system-speech-folder", "system-speech-add"):
        assert controls[elem_id].interactive is False, elem_id


@pytest.fixture
def site(staff_site):
    """The real server with sign-in on: morgan is an admin, sam is staff."""
    running, _, services = staff_site
    return running, services


def test_only_an_admin_changes_the_speech_model_through_the_real_server(site, tmp_path: Path,
                                                                        whisper_copy: Path) -> None:
    running, services = site
    config = services.config
    with signed_in(running, "sam") as sam_http, signed_in(running, "morgan") as morgan_http:
        sam, morgan = Page(sam_http), Page(morgan_http)
        note, *controls = sam.load_outputs()["system-speech-permission"]
        assert "Only an administrator" in str(note) and all(c.get("interactive") is False for c in controls)
        for refusal in (sam.refused("system-speech-use", "click", speech_panel.BUILTIN_KEY),
                        sam.refused("system-speech-add", "click", str(whisper_copy), True)):
            assert "Only an administrator" in refusal and "morgan" in refusal, refusal
        assert not (config.paths.models / "speech").exists()
        added, in_use, listed = morgan.ok("system-speech-add", "click", str(whisper_copy), True)
        assert "Added **whisper-copy**" in added and "**whisper-copy**" in in_use
        assert listed["value"] == str(config.paths.models / "speech" / "whisper-copy")
        assert services.dictation.transcribe(silence(tmp_path / "s.wav", 2)).model == "whisper-copy"
        in_use, listed = morgan.ok("system-speech-use", "click", speech_panel.BUILTIN_KEY)
        assert "the built-in one" in in_use and listed["value"] == speech_panel.BUILTIN_KEY
    assert Config.load().settings.speech_model_path is None
    assert services.dictation.transcribe(silence(tmp_path / "t.wav", 2)).model == DEMO_NAME
    changes = [r for r in audit_records(config.paths.root) if r["event"] == "settings_changed"]
    assert [(r["user"], r["detail"]) for r in changes] == [("morgan", "speech model added"),
                                                            ("morgan", "speech model chosen")]


# -- the vendor's speech model ------------------------------------------------------------------


def _vendor_folder(folder: Path, setup: dict) -> Path:
    (folder / "models" / "speech").mkdir(parents=True)
    (folder / "models" / "speech" / "acme-whisper").symlink_to(find_demo_speech())
    (folder / "settings.json").write_text(json.dumps(setup))
    return folder


def test_the_vendor_speech_model_is_used_unless_the_practice_chose_one(tmp_path: Path) -> None:
    folder = _vendor_folder(tmp_path / "vendor", {"speech_model": "models/speech/acme-whisper"})
    config = Config.load()
    setup = vendor.apply(config, folder)
    assert setup is not None and setup.speech_model == "models/speech/acme-whisper"
    assert config.settings.speech_model_path == str(folder / "models" / "speech" / "acme-whisper")
    assert Dictation(follow=lambda: config.settings.speech_model_path).model_name == "acme-whisper"
    assert [c.name for c in speech_models.installed(config)] == ["Built-in (small, English)", "acme-whisper"]

    config.settings.speech_model_path = "/opt/models/practice-whisper"
    config.settings.save(config.paths)
    config = Config.load()
    vendor.apply(config, folder)
    assert config.settings.speech_model_path == "/opt/models/practice-whisper", "not locked: the practice's wins"
    (folder / "settings.json").write_text(json.dumps({"speech_model": "models/speech/acme-whisper",
                                                      "locked": ["speech_model"]}))
    vendor.apply(config, folder)
    assert config.settings.speech_model_path == str(folder / "models" / "speech" / "acme-whisper"), "locked: vendor's"


@pytest.mark.parametrize("value", ["../elsewhere", "/opt/whisper", "", 7])
def test_a_vendor_speech_model_must_sit_inside_the_vendor_folder(value) -> None:
    with pytest.raises(vendor.VendorError, match="vendor.json: speech_model: must be a folder inside the vendor"):
        vendor.parse({"speech_model": value}, "vendor.json")


@pytest.fixture(scope="module")
def build_py():
    """build/build.py, imported (its functions called in-process; nothing is frozen)."""
    path = list(sys.path)
    spec = importlib.util.spec_from_file_location("build_script", ROOT / "build" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    sys.path[:] = path
    yield module
    sys.modules.pop(spec.name, None)


def _pytorch_zip(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with zipfile.ZipFile(folder / "model.bin", "w") as archive:  # what torch.save writes: a zip of pickles
        archive.writestr("archive/data.pkl", pickle.dumps({"weights": [1, 2, 3]}))
    return folder


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing", "incomplete (missing model.bin, config.json)"),
    (lambda d: _not_models(d)["llm-folder"], "incomplete (missing model.bin)"),
    (lambda d: _not_models(d)["pickled"], "is not a speech model in CTranslate2 format"),
    (lambda d: _pytorch_zip(d / "torch-saved"), "is not a speech model in CTranslate2 format"),
], ids=["missing", "no-model-bin", "pickle", "pytorch-zip"])
def test_the_vendor_build_refuses_a_bad_speech_model_before_building(build_py, tmp_path: Path, make,
                                                                     expected: str) -> None:
    folder = make(tmp_path).resolve()
    with pytest.raises(build_py.BuildError) as raised:
        build_py.check_inputs(build_py.parse_args(["--speech-model", str(folder)]))
    message = raised.value.message
    assert message.startswith("The build did not start, nothing was built:")
    assert f"  --speech-model {folder}: not a usable speech model: " in message and expected in message, message


@pytest.mark.parametrize("setup, expected", [
    ({"speech_model": "models/speech/x"}, "speech_model: give the speech model with --speech-model DIR instead"),
    ({"locked": ["speech_model"]}, "locked: 'speech_model' is locked but no --speech-model was given"),
])
def test_the_vendor_settings_do_not_name_the_speech_model(build_py, tmp_path: Path, setup: dict, expected: str) -> None:
    settings = tmp_path / "vendor.json"
    settings.write_text(json.dumps(setup))
    with pytest.raises(build_py.BuildError) as raised:
        build_py.check_inputs(build_py.parse_args(["--settings", str(settings)]))
    assert f"--settings {settings.resolve()}: {expected}" in raised.value.message


def test_a_vendor_build_carries_the_speech_model_and_the_app_uses_it(build_py, tmp_path: Path,
                                                                     whisper_copy: Path) -> None:
    settings = tmp_path / "vendor.json"
    settings.write_text(json.dumps({"locked": ["speech_model"]}))
    inputs = build_py.check_inputs(build_py.parse_args(["--speech-model", str(whisper_copy), "--settings",
                                                        str(settings), "--vendor", "Acme IT"]))
    assert inputs.speech_model == whisper_copy.resolve() and not inputs.empty
    assert any(c["name"] == "whisper-copy (the speech model your vendor installed)"
               for c in build_py.components(inputs, fonts=False))
    internal = tmp_path / "stage" / "_internal"  # the staged bundle's folder, without the frozen app
    build_py.stage_vendor(inputs, internal)
    staged = internal / "vendor" / "models" / "speech" / "whisper-copy"
    assert (staged / "model.bin").is_file() and (staged / "config.json").is_file()
    written = json.loads((internal / "vendor" / "settings.json").read_text())
    assert written["speech_model"] == "models/speech/whisper-copy" and written["locked"] == ["speech_model"]
    config = Config.load()
    config.settings.speech_model_path = str(whisper_copy)  # the practice's own choice: the lock wins over it
    vendor.apply(config, internal / "vendor")
    assert config.settings.speech_model_path == str(staged)
    done = Dictation(follow=lambda: config.settings.speech_model_path).transcribe(silence(tmp_path / "q.wav", 2))
    assert done.model == "whisper-copy" and done.text == ""
