"""Starting like a desktop app: the page at once and the model behind it, one copy per user,
Quit; plus the vendor overlay, data-folder upgrades and the About facts. Fake model: fast."""

from __future__ import annotations

import json
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from assistant.app import instance, startup
from assistant.cli import serve
from assistant.engine.fake import FakeBackend
from assistant.errors import ModelNotFound
from assistant.install import about, upgrade, vendor
from assistant.store.config import Config

NOTE = "Client practiced paced breathing; anxiety 6 out of 10. Plan: weekly sessions."


# -- one copy per user ----------------------------------------------------------------------


def test_instance_lock_is_exclusive_and_released(tmp_path: Path):
    first, second = instance.InstanceLock(tmp_path), instance.InstanceLock(tmp_path)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_instance_record_is_private_and_checked(tmp_path: Path):
    instance.write_record(tmp_path, instance.Instance(pid=1, port=1, token="t"))
    assert stat.S_IMODE((tmp_path / instance.RECORD_NAME).stat().st_mode) == 0o600
    record = instance.read_record(tmp_path)
    assert record == instance.Instance(pid=1, port=1, token="t")
    assert not instance.answers(record, timeout=0.5)  # nothing listens on port 1
    assert instance.find_running(tmp_path, wait=0.3) is None
    (tmp_path / instance.RECORD_NAME).write_text("{broken")
    assert instance.read_record(tmp_path) is None


def test_startup_progress_moves_and_ends():
    now = [100.0]
    progress = startup.Startup(clock=lambda: now[0])
    progress.stage(0.2, "Loading the model", 0.8)
    first = progress.snapshot()
    now[0] += 20  # within a long stage the bar creeps toward the next one
    later = progress.snapshot()
    assert first["state"] == "loading" and first["fraction"] == 0.2
    assert 0.2 < later["fraction"] < 0.8
    progress.fail("No model was found at /x.")
    failed = progress.snapshot()
    assert failed["state"] == "failed" and failed["problem"] == "No model was found at /x."
    assert progress.seen_problem.is_set()


# -- the serve command, with a fake model ----------------------------------------------------


class Launched:
    """``serve.launch`` in a thread (as ``assistant serve --no-browser``), its lines collected."""

    def __init__(self, config: Config, loader) -> None:  # noqa: ANN001 - a ModelLoader
        self.loader = loader
        self.lines: list[str] = []
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(config,), daemon=True)
        self.thread.start()

    def _run(self, config: Config) -> None:
        self.code = serve.launch(config, model=None, port=0, open_browser=False, say=self.lines.append,
                                 loader=self.loader)

    def wait_for(self, prefix: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if line.startswith(prefix)]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no line starting {prefix!r}: {self.lines}")


@pytest.fixture
def slow_fake_model():
    """A model loader that waits for the test's go: ``gate.loader`` is passed to the launcher."""
    gate = threading.Event()

    def load_model(config, path, progress=print, stage=None):
        stage and stage(0.15, "Loading the model")
        gate.wait(30)
        return FakeBackend(reply=lambda messages: "Subjective: reported. " + "more " * 2000, delay=0.01)

    gate.loader = load_model
    return gate


def test_serve_answers_at_once_then_loads_then_quits(slow_fake_model: threading.Event, capfd: pytest.CaptureFixture):
    config = Config.load()
    run = Launched(config, slow_fake_model.loader)
    url = run.wait_for("URL: ").split(" ", 1)[1]
    port, token = int(url.split(":")[2].split("/")[0]), url.split("token=")[1]
    auth = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    # While the model loads: a progress page, a status, and the instance answers.
    with httpx.Client(base_url=base, follow_redirects=True) as web:
        page = web.get("/", params={"token": token})
        assert page.status_code == 200 and "<progress" in page.text and "Starting the assistant" in page.text
        status = web.get("/loading/status").json()
        assert status["state"] == "loading" and status["words"] == "Loading the model"
    assert httpx.get(base + "/loading/status").status_code == 401, "the guard is in front from the first second"
    record = instance.read_record(config.paths.root)
    assert record is not None and record.port == port and instance.answers(record)
    # An API request made while loading waits for the model instead of failing.
    early: dict = {}

    def call_early() -> None:
        early["config"] = httpx.get(base + "/config", headers=auth, timeout=60)

    caller = threading.Thread(target=call_early)
    caller.start()
    time.sleep(0.5)
    assert "config" not in early
    slow_fake_model.set()
    run.wait_for(startup.READY_LINE, timeout=120)
    caller.join(60)
    assert early["config"].status_code == 200
    from gradio_client import Client

    client = Client(base + "/", headers=auth, verbose=False)
    assert client.predict("Say hi.", [], "chat-general", api_name="/chat")[0][-1]["role"] == "assistant"
    # A second start opens the running copy.
    second: list[str] = []
    assert serve.launch(config, model=None, port=0, open_browser=False, say=second.append) == 0
    assert "already running" in second[0] and second[1] == f"URL: {url}"
    # Quit stops the server cleanly and promptly, even with a draft streaming; the record is gone.
    job = client.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    while len(job.outputs()) < 2:
        time.sleep(0.02)
    assert httpx.get(base + "/quit", headers=auth).status_code == 405
    assert httpx.post(base + "/quit", headers=auth).status_code == 200
    quit_at = time.monotonic()
    run.thread.join(30)
    assert time.monotonic() - quit_at < 2.5, "open streams end at once instead of timing out"
    assert run.code == 0 and run.lines[-1] == "The assistant has stopped."
    errors = capfd.readouterr().err
    assert "Traceback" not in errors and "Cancel" not in errors, errors
    assert instance.read_record(config.paths.root) is None
    events = [json.loads(line)["event"] for line in (config.paths.root / "audit" / "audit.jsonl").read_text().splitlines()]
    assert events.count("app_started") == 1 and events[-1] == "app_stopped"


def test_quit_while_the_model_loads_stops_cleanly(slow_fake_model: threading.Event):
    run = Launched(Config.load(), slow_fake_model.loader)
    url = run.wait_for("URL: ").split(" ", 1)[1]
    base, token = url.split("/?")[0], url.split("token=")[1]
    assert httpx.post(base + "/quit", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    run.thread.join(30)
    slow_fake_model.set()
    assert run.code == 0 and run.lines[-1] == "The assistant has stopped."
    assert not any(line.startswith("Problem") for line in run.lines)


def test_a_model_that_fails_to_load_is_reported_and_the_server_stops():
    def load_model(config, path, progress=print, stage=None):
        raise ModelNotFound("No model was found at /nowhere. Put a model folder there.")

    run = Launched(Config.load(), load_model)
    run.thread.join(60)
    assert run.code == 2
    assert "Problem: No model was found at /nowhere. Put a model folder there." in run.lines


# -- vendor overlay ---------------------------------------------------------------------------


def test_vendor_settings_are_defaults_except_locked_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "vendor"
    (folder / "models" / "acme-8b").mkdir(parents=True)
    monkeypatch.setattr(vendor, "register_model", lambda config, path: None)  # listing is tested with a real model
    (folder / "settings.json").write_text(json.dumps({
        "vendor": "Acme IT", "model": "models/acme-8b", "settings": {"cpu_precision": "4bit", "port": 7861},
        "locked": ["cpu_precision"]}))
    (folder / "profile.json").write_text(json.dumps({"name": "Acme Therapy"}))
    config = Config.load()
    config.paths.settings_file.write_text(json.dumps({"cpu_precision": "bf16", "port": 7000}))
    config = Config.load()
    setup = vendor.apply(config, folder)
    assert setup is not None and setup.vendor == "Acme IT"
    assert config.settings.cpu_precision == "4bit"  # locked: the vendor's value wins
    assert config.settings.port == 7000  # not locked: the user's own value wins
    assert config.settings.model_path == str(folder / "models" / "acme-8b")
    assert json.loads((config.paths.root / "profile.json").read_text())["name"] == "Acme Therapy"
    (config.paths.root / "profile.json").write_text(json.dumps({"name": "Changed by the practice"}))
    vendor.apply(config, folder)
    assert "Changed" in (config.paths.root / "profile.json").read_text(), "the profile is seeded once, never overwritten"


def test_the_vendor_model_is_listed_once_and_used(tmp_path: Path, demo_model_dir: Path):
    from assistant.engine import models

    folder = tmp_path / "vendor"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "acme").symlink_to(demo_model_dir)
    (folder / "settings.json").write_text(json.dumps({"model": "models/acme"}))
    for _ in range(2):
        config = Config.load()
        vendor.apply(config, folder)
    assert [e.name for e in models.load_registry(config)] == ["acme"]
    assert models.active_name(config) == "acme"


def test_a_locked_model_cannot_be_switched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    (tmp_path / "settings.json").write_text(json.dumps({"model": "models/acme", "locked": ["model"]}))
    monkeypatch.setattr(vendor, "vendor_dir", lambda: tmp_path)
    from assistant.cli import main

    assert main(["models", "use", "demo"]) == 2
    assert "Your vendor has set the model" in capsys.readouterr().out


@pytest.mark.parametrize("raw, problem", [
    ({"settings": {"share": True}}, "settings.share: not a setting a vendor may set"),
    ({"settings": {"cpu_precision": "fast"}}, "settings.cpu_precision: must be one of"),
    ({"locked": ["share"]}, "locked: must list only"),
    ({"model": "../elsewhere"}, "model: must be a folder inside the vendor folder"),
    ({"colour": "teal"}, "colour: not a known key"),
])
def test_vendor_settings_problems_name_the_key(raw, problem):
    with pytest.raises(vendor.VendorError) as err:
        vendor.parse(raw, "vendor.json")
    assert err.value.message.startswith("vendor.json: ") and problem in err.value.message


# -- upgrades -------------------------------------------------------------------------------


def test_upgrade_stamps_and_runs_only_newer_steps(monkeypatch: pytest.MonkeyPatch):
    paths = Config.load().paths
    ran: list[str] = []
    monkeypatch.setattr(upgrade, "MIGRATIONS", [
        ("0.1.0", "old step", lambda p: ran.append("old")), ("0.2.0", "new step", lambda p: ran.append("new")),
    ])
    assert upgrade.migrate(paths, "0.1.0") == ["old step"]  # a new data folder: every step up to now
    assert upgrade.migrate(paths, "0.1.0") == []
    assert upgrade.migrate(paths, "0.2.0") == ["new step"] and ran == ["old", "new"]
    stamp = json.loads((paths.root / upgrade.STAMP).read_text())
    assert stamp["version"] == "0.2.0" and stamp["previous"] == "0.1.0"
    assert upgrade.migrate(paths, "0.1.5") == [], "an older version leaves newer data alone"
    assert upgrade.last_version(paths) == "0.2.0"
    assert upgrade.parse_version("0.10.2+acme") == (0, 10, 2) > upgrade.parse_version("0.9")


# -- about ------------------------------------------------------------------------------------


def test_about_names_version_and_licenses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    about.build_info.cache_clear()
    text = about.about_markdown()
    assert "Practice Assistant 0.1.0" in text and "Apache-2.0" in text and "| torch |" in text
    assert "never checks for updates" in text
    (tmp_path / "build-info.json").write_text(json.dumps({
        "version": "0.2.0", "build_date": "2026-01-05", "frozen": True, "vendor": "Acme IT",
        "components": [{"name": "gradio", "version": "6.31.0", "license": "Apache-2.0"}]}))
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path), raising=False)
    about.build_info.cache_clear()
    try:
        assert about.version_line() == "Practice Assistant 0.2.0, built 2026-01-05, prepared by Acme IT"
        assert [c.name for c in about.components()] == ["gradio"]
        assert "THIRD-PARTY-LICENSES.txt" in about.about_markdown()
    finally:
        about.build_info.cache_clear()
