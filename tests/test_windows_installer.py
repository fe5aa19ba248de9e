"""The Windows installer, built, installed and started under Wine (build/build.sh --windows).

Build it (cached outside the clone by a hash of the sources and the Windows lock file); install it
silently, per user, into a fresh Wine prefix; start the installed app as its desktop icon does
(windowed, no console) with --no-browser; check it serves on 127.0.0.1 only and answers its first
page within 60 s; write one draft with the bundled demo model through gradio_client; quit it
through the Quit route; check the audit log (no blocked outbound connection, and it verifies);
uninstall silently and find the data kept. Then: Setup refuses a folder the user may not write to
(and rolls back), and a second Setup while one runs; install version N, write data, install N
again and N+1 over it, and find everything.

What Wine cannot prove (a clean Windows machine's DLLs, SmartScreen, antivirus, the GPU) is in
build/README.md. The first build takes about 30 minutes on 2 cores; later runs reuse the cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build" / "windows"))
import wine_build  # noqa: E402
import wine_prefix as wp  # noqa: E402

NOTE = "45 minute session. Client practiced paced breathing, rated anxiety 5 out of 10. Plan: weekly."
PROGRAM = "Practice Assistant"

pytestmark = [pytest.mark.installer, pytest.mark.windows]

if not sys.platform.startswith("linux"):
    pytest.skip("the Windows installer is built under Wine on Linux", allow_module_level=True)


def build(*args: str) -> Path:
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(ROOT / "build" / "windows" / "wine_build.py"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=5400)
    print(f"windows build {' '.join(args) or '(default)'}: {time.monotonic() - started:.0f} s\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"Installer: (?:up to date: )?(\S+-setup\.exe)", result.stdout)
    assert found, result.stdout
    return Path(found.group(1))


@pytest.fixture(scope="module")
def setup_exe() -> Path:
    return build()


class Windows:
    """A fresh Wine prefix: a Windows user who has never had the app."""

    def __init__(self, folder: Path) -> None:
        self.home = folder / "home"
        (self.home / "Desktop").mkdir(parents=True)
        self.prefix = wp.create(folder / "wine", wp.build_shims(), home=self.home)
        self.user = self.prefix / "drive_c" / "users" / os.environ.get("USER", "root")
        self.programs = self.user / "AppData" / "Local" / "Programs" / PROGRAM
        self.data = self.user / "AppData" / "Local" / "PracticeAssistant"

    def env(self) -> dict[str, str]:
        return wp.env(self.prefix, HOME=str(self.home))

    def start_setup(self, exe: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
        """A silent per-user install started, as a vendor's script runs it (Setup's log in the second)."""
        log = self.prefix.parent / f"setup-{time.monotonic_ns()}.log"
        # its hidden windows need the display xvfb-run starts
        return subprocess.Popen(["xvfb-run", "-a", "wine", wp.windows_path(exe), "/VERYSILENT", "/SUPPRESSMSGBOXES",
                                 "/NORESTART", "/CURRENTUSER", "/TASKS=desktopicon", f"/LOG={wp.windows_path(log)}", *extra],
                                env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), log

    def finish_setup(self, started: tuple[subprocess.Popen, Path]) -> tuple[int, str]:
        process, log = started
        _, err = process.communicate(timeout=900)
        return process.returncode, (log.read_text(encoding="utf-8", errors="replace") if log.is_file() else "") + err[-2000:]

    def setup(self, exe: Path, *extra: str) -> str:
        """A silent per-user install that must succeed; returns Setup's log."""
        wp.stop(self.prefix)
        started = time.monotonic()
        code, text = self.finish_setup(self.start_setup(exe, *extra))
        wp.stop(self.prefix)
        print(f"setup {exe.name}: {time.monotonic() - started:.1f} s, exit {code}")
        assert code == 0 and "Installation process succeeded" in text, text[-5000:]
        return text

    def run(self, *args: str, stdin: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
        """The console twin (assistant.exe), as a vendor's script uses it."""
        return subprocess.run(["wine", wp.windows_path(self.programs / "assistant.exe"), *args], env=self.env(),
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def start(self) -> subprocess.Popen:
        """The desktop icon's program: windowed (no console, sys.stdout is None), no browser here."""
        return subprocess.Popen(["wine", wp.windows_path(self.programs / "PracticeAssistant.exe"), "serve", "--no-browser"],
                                env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def record(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return json.loads((self.data / "instance.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                time.sleep(0.5)
        log = self.data / "logs" / "assistant.log"
        raise AssertionError("the app wrote no instance.json:\n" + (log.read_text()[-3000:] if log.is_file() else "(no log)"))

    def close(self) -> None:
        wp.stop(self.prefix)


def _listening(port: int) -> list:
    """Every listening socket of the process (a Wine process, seen from Linux) serving ``port``."""
    owners = {c.pid for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert owners, f"nothing listens on port {port}"
    return [c for pid in owners for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]


def test_windows_install_start_draft_quit_uninstall(setup_exe: Path, tmp_path: Path):
    size = setup_exe.stat().st_size
    print(f"installer {setup_exe.name}: {size / 1024**2:,.0f} MB")
    windows = Windows(tmp_path)
    try:
        windows.setup(setup_exe)
        assert (windows.programs / "PracticeAssistant.exe").is_file() and (windows.programs / "unins000.exe").is_file()
        assert (windows.home / "Desktop" / f"{PROGRAM}.lnk").is_file() or (windows.user / "Desktop" / f"{PROGRAM}.lnk").is_file()
        start_menu = windows.user / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu" / "Programs"
        assert (start_menu / f"{PROGRAM}.lnk").is_file(), sorted(p.name for p in start_menu.rglob("*"))
        installed = sum(p.stat().st_size for p in windows.programs.rglob("*") if p.is_file())
        print(f"installed: {installed / 1024**2:,.0f} MB")
        version = windows.run("--version")
        assert "Practice Assistant 0.1.0, built" in version.stdout, version.stdout + version.stderr

        started = time.monotonic()
        app = windows.start()
        record = windows.record(timeout=120)
        base = f"http://127.0.0.1:{record['port']}"
        with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as web:
            deadline = started + 60
            while True:
                try:
                    page = web.get("/", params={"token": record["token"]})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "no first page within 60 s"
                    time.sleep(0.5)
            first_page = time.monotonic() - started
            print(f"first page {first_page:.1f} s after start")
            assert page.status_code == 200 and "Practice Assistant" in page.text
            assert first_page < 60
            listening = _listening(record["port"])
            assert listening and all(c.laddr.ip in ("127.0.0.1", "::1") for c in listening), listening
            deadline = time.monotonic() + 600
            while web.get("/loading/status").json()["state"] != "ready":
                assert time.monotonic() < deadline and app.poll() is None, "the model did not load"
                time.sleep(1)
        print(f"ready {time.monotonic() - started:.1f} s after start")
        log_text = (windows.data / "logs" / "assistant.log").read_text(encoding="utf-8")
        assert "model loaded engine=llama.cpp name=SmolLM2-135M-Instruct.Q4_1" in log_text, log_text[-2000:]

        from gradio_client import Client

        client = Client(f"{base}/", headers={"Authorization": f"Bearer {record['token']}"}, verbose=False)
        job = client.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
        deadline = time.monotonic() + 300
        while len(job.outputs()) < 4 and not job.done() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job.outputs() and job.outputs()[-1].strip(), "the demo model wrote nothing"
        job.cancel()

        quit_page = httpx.post(f"{base}/quit", headers={"Authorization": f"Bearer {record['token']}"}, timeout=30)
        assert quit_page.status_code == 200 and "stopped" in quit_page.text
        assert app.wait(timeout=60) == 0
        assert not (windows.data / "instance.json").exists()
        events = [json.loads(line)["event"] for line in (windows.data / "audit" / "audit.jsonl").read_text().splitlines()]
        assert "outbound_blocked" not in events and "app_started" in events and "app_stopped" in events
        log_text = (windows.data / "logs" / "assistant.log").read_text(encoding="utf-8")
        assert "blocked an outbound" not in log_text and "Traceback" not in log_text, log_text[-3000:]
        # The drafts' key went to the Windows Credential Manager (keyring's WinVault backend), not a file.
        assert json.loads((windows.data / "history-key.json").read_text())["source"] == "keyring"
        assert not (windows.data / "history.key").exists()
        verified = windows.run("audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr

        # A silent uninstall removes the program and keeps the user's data.
        wp.stop(windows.prefix)
        gone = subprocess.run(["xvfb-run", "-a", "wine", wp.windows_path(windows.programs / "unins000.exe"),
                               "/VERYSILENT", "/SUPPRESSMSGBOXES"], env=windows.env(), capture_output=True, timeout=300)
        subprocess.run(["wineserver", "-w"], env=windows.env(), timeout=300)
        assert gone.returncode == 0, gone.stderr
        assert not (windows.programs / "PracticeAssistant.exe").exists()
        assert not (start_menu / f"{PROGRAM}.lnk").exists()
        kept = sorted(p.relative_to(windows.data).as_posix() for p in windows.data.rglob("*") if p.is_file())
        assert "audit/audit.jsonl" in kept and "history-key.json" in kept and "app-version.json" in kept, kept
    finally:
        windows.close()


def _lock(folder: Path) -> bool:
    """Make ``folder`` one nobody may write to, not even root (the immutable attribute)."""
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def test_windows_reinstall_and_upgrade_keep_data(setup_exe: Path, tmp_path: Path):
    windows = Windows(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    try:
        # A folder the user may not write to: Setup names it, says what to do, and rolls back.
        # (Root under Wine may write anywhere else; without chattr, a file stands where the folder would go.)
        if _lock(locked):
            target = locked / PROGRAM
        else:
            (locked / "a-file").touch()
            target = locked / "a-file" / PROGRAM
        wp.stop(windows.prefix)
        code, text = windows.finish_setup(windows.start_setup(setup_exe, f"/DIR={wp.windows_path(target)}"))
        assert code == 4, text[-3000:]  # Inno Setup: a fatal error during the installation
        assert f'unable to create the directory "{wp.windows_path(target)}"' in text and "run Setup again" in text, text
        assert "Rolling back changes" in text and not target.exists() and not windows.programs.exists()

        # A second Setup started while the first runs refuses (SetupMutex); the first one finishes.
        wp.stop(windows.prefix)
        first = windows.start_setup(setup_exe)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "Starting the installation process" not in (
                first[1].read_text(encoding="utf-8", errors="replace") if first[1].is_file() else ""):
            time.sleep(0.5)
        code, text = windows.finish_setup(windows.start_setup(setup_exe))
        assert code == 1 and "Setup is currently running" in text, text[-3000:]
        code, text = windows.finish_setup(first)
        assert code == 0 and "Installation process succeeded" in text, text[-5000:]
        wp.stop(windows.prefix)

        added = windows.run("users", "add", "morgan", "--admin", stdin="correct horse battery\n")
        assert added.returncode == 0, added.stdout + added.stderr
        data = windows.data
        (data / "presets").mkdir(exist_ok=True)
        (data / "presets" / "my-note.yaml").write_text(
            "schema_version: 1\nid: my-note\nkind: progress_note\ntitle: My note\ndescription: Mine.\n"
            "system_prompt: Be brief.\ntemplate: $description\n", encoding="utf-8")
        (data / "profile.json").write_text(json.dumps({"name": "Riverside Therapy Group"}), encoding="utf-8")
        before = {p.relative_to(data).as_posix(): p.read_bytes() for p in data.rglob("*")
                  if p.is_file() and not p.relative_to(data).as_posix().startswith(("logs/", "audit/"))
                  and p.name != "app-version.json"}

        windows.setup(setup_exe)  # the same installer run a second time
        next_exe = build("--version", "0.1.1")
        windows.setup(next_exe)
        version = windows.run("--version")
        assert "Practice Assistant 0.1.1" in version.stdout, version.stdout + version.stderr
        listed = windows.run("presets", "list")
        assert "my-note" in listed.stdout, listed.stdout + listed.stderr
        assert "morgan" in windows.run("users", "list").stdout
        assert windows.run("audit", "verify").returncode == 0
        for name, content in before.items():
            assert (data / name).read_bytes() == content, f"{name} changed in the upgrade"
    finally:
        subprocess.run(["chattr", "-i", str(locked)], capture_output=True)  # so pytest may remove it
        windows.close()


# -- the build's own checks (no Wine needed) -------------------------------------------------


def test_windows_lock_matches_pyproject():
    assert wine_build.lock_is_current(), (
        "build/windows/requirements.lock is older than pyproject.toml: run build/build.sh --windows --relock")


def test_windows_lock_leaves_out_what_the_build_installs_on_its_own():
    pins = wine_build.setup_pins()
    locked = {wine_build._name(line) for line in wine_build.LOCK.read_text().splitlines() if not line.startswith("#")}
    for own in ("pip", "llama-cpp-python", "medspacy", "medspacy-quickumls", pins["DEMO_MODEL"], pins["DEMO_SPEECH"]):
        assert wine_build._name(own) not in locked, f"{own} is in {wine_build.LOCK.name}: the build installs it itself"
    assert {"torch", "gradio", "msvc-runtime", "medspacy-unqlite"} <= locked


def test_build_without_wine_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(wp.shutil, "which", lambda name: None)
    assert wine_build.main([]) == 1
    err = capsys.readouterr().err
    assert "cannot build the Windows app" in err and "wine32:i386" in err and "apt-get install" in err


def test_build_without_disk_space_says_where(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(wp, "missing_tools", lambda: [])
    monkeypatch.setattr(wp, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(wine_build.shutil, "disk_usage", lambda path: type("U", (), {"free": 3 * 1024**3})())
    assert wine_build.main(["--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "cache") in err and "3 GB free" in err and "ASSISTANT_BUILD_CACHE" in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_cached_build_asks_only_for_the_space_its_missing_steps_need(monkeypatch, tmp_path):
    monkeypatch.setattr(wp, "CACHE", tmp_path / "cache")
    args = wine_build.parse_args([])
    assert wine_build.space_needed(args) == sum(wine_build.STEP_GB.values())
    (tmp_path / "cache" / "prefix-old").mkdir(parents=True)
    (tmp_path / "cache" / "prefix-old" / ".complete").write_text("old\n")
    (tmp_path / "cache" / "llama-0.3.36-old").mkdir()
    (tmp_path / "cache" / "freeze" / "dist").mkdir(parents=True)
    assert wine_build.space_needed(args) == wine_build.STEP_GB["pack"]  # only stage and pack are left
    model = tmp_path / "model"
    model.mkdir()
    with open(model / "model.gguf", "wb") as file:
        file.truncate(3 * 1024**3)  # sparse: 3 GB to stage and pack twice over
    assert wine_build.space_needed(wine_build.parse_args(["--model", str(model)])) == wine_build.STEP_GB["pack"] + 6


def test_a_failing_windows_step_names_it():
    with pytest.raises(wp.WineError) as caught:
        wp.run([sys.executable, "-c", "print('ERROR: No matching distribution found for nosuchpackage'); raise SystemExit(1)"],
               what="installing the Windows packages")
    assert "installing the Windows packages failed" in str(caught.value) and "nosuchpackage" in str(caught.value)
