"""Starting the assistant the way a double-click expects: one copy per user, the page at once,
the model loading behind a progress page.

* ``InstanceLock``: an operating-system lock on ``<data>/instance.lock``, held while a copy
  serves. ``instance.json`` beside it (readable by the user only) records the running copy's
  port and launch token, so a second start opens the browser on the first copy instead of
  starting another. A record is trusted only if the locked copy answers on it with its token.
* ``Startup``: the progress of the background start (what is happening, how far), read by the
  loading page. Thread-safe, plain Python.
* ``launch``: the ``serve`` command. The server answers first; the model loads in a thread.

Plain Python: the web parts come from ``assistant.web`` on demand, the model from ``services``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from assistant.errors import AssistantError
from assistant.store.config import LOOPBACK_HOST, Config

log = logging.getLogger(__name__)

APP_ID = "practice-assistant"
LOCK_NAME = "instance.lock"
RECORD_NAME = "instance.json"
READY_LINE = "The assistant is ready."
WAIT_FOR_OTHER_S = 30.0  # a second start waits this long for a first copy that is still starting


# -- one copy per user ----------------------------------------------------------------------


class InstanceLock:
    """A non-blocking exclusive lock on a file; released when the process ends, whatever the way."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+b")
        try:
            if sys.platform == "win32":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None


@dataclass(frozen=True)
class Instance:
    pid: int
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}/?token={self.token}"


def write_record(root: Path, instance: Instance) -> None:
    """Write instance.json so only this user can read it (it holds the launch token)."""
    path = root / RECORD_NAME
    tmp = path.with_name(f".{RECORD_NAME}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"app": APP_ID, "pid": instance.pid, "port": instance.port, "token": instance.token}, handle)
    os.replace(tmp, path)


def read_record(root: Path) -> Instance | None:
    try:
        raw = json.loads((root / RECORD_NAME).read_text(encoding="utf-8"))
        return Instance(pid=int(raw["pid"]), port=int(raw["port"]), token=str(raw["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_record(root: Path) -> None:
    (root / RECORD_NAME).unlink(missing_ok=True)


def answers(instance: Instance, timeout: float = 2.0) -> bool:
    """True if our app answers on the recorded port and accepts the recorded token."""
    import http.client

    connection = http.client.HTTPConnection(LOOPBACK_HOST, instance.port, timeout=timeout)
    try:
        connection.request("GET", "/instance", headers={"Authorization": f"Bearer {instance.token}",
                                                       "Host": f"{LOOPBACK_HOST}:{instance.port}"})
        response = connection.getresponse()
        body = response.read(4096)
        return response.status == 200 and json.loads(body).get("app") == APP_ID
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def find_running(root: Path, wait: float = WAIT_FOR_OTHER_S) -> Instance | None:
    """The copy holding the lock, once it answers; None if it does not answer within ``wait``."""
    deadline = time.monotonic() + wait
    while True:
        instance = read_record(root)
        if instance is not None and answers(instance):
            return instance
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)


# -- progress of the start ------------------------------------------------------------------


class Startup:
    """What the background start is doing. ``state``: loading, ready or failed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state = "loading"
        self.fraction = 0.0
        self.next_fraction = 0.05
        self.words = "Starting"
        self.problem = ""
        self.since = time.monotonic()
        self.seen_problem = threading.Event()  # the loading page has shown the problem

    def stage(self, fraction: float, words: str, next_fraction: float | None = None) -> None:
        with self._lock:
            self.fraction = max(self.fraction, min(fraction, 0.99))
            self.next_fraction = max(self.fraction, min(next_fraction if next_fraction is not None else self.fraction + 0.1, 0.99))
            self.words = words
            self.since = time.monotonic()

    def ready(self) -> None:
        with self._lock:
            self.state, self.fraction, self.words = "ready", 1.0, "Ready"

    def fail(self, problem: str) -> None:
        with self._lock:
            self.state, self.problem = "failed", problem

    def snapshot(self) -> dict[str, Any]:
        """For the loading page. Within a long stage the bar creeps toward the next one, so it moves."""
        with self._lock:
            shown = self.fraction
            if self.state == "loading":
                elapsed = time.monotonic() - self.since
                shown += (self.next_fraction - self.fraction) * 0.9 * (1 - math.exp(-elapsed / 15))
            if self.state == "failed":
                self.seen_problem.set()
            return {"state": self.state, "fraction": round(shown, 3), "words": self.words, "problem": self.problem}


# -- the serve command ----------------------------------------------------------------------


def _stages(startup: Startup, start: float, end: float) -> Callable[[float, str], None]:
    """Map a loader's own 0..1 stages onto [start, end] of the whole start."""
    marks = [0.0, 0.02, 0.08, 0.15, 0.8, 0.85, 1.0]  # the fractions TransformersBackend.load reports

    def stage(fraction: float, words: str) -> None:
        following = next((m for m in marks if m > fraction), 1.0)
        startup.stage(start + (end - start) * fraction, words, start + (end - start) * following)

    return stage


def launch(config: Config, *, model: str | None, port: int, open_browser: bool, say: Callable[[str], None]) -> int:
    """Serve the assistant: the page first, the model behind it. Returns the exit code."""
    from assistant.cli import empty_temp

    root = config.paths.root
    lock = InstanceLock(root)
    if not lock.acquire():
        return _open_running(root, open_browser, say)
    try:
        empty_temp(config.paths.tmp)
        return _serve(config, model=model, port=port, open_browser=open_browser, say=say)
    finally:
        remove_record(root)
        lock.release()
        empty_temp(config.paths.tmp)


def _open_running(root: Path, open_browser: bool, say: Callable[[str], None]) -> int:
    instance = find_running(root)
    if instance is None:
        raise AssistantError(
            "Another copy of the assistant is starting or has stopped responding. Wait a minute and "
            "start it again; if this keeps happening, restart the computer."
        )
    say("The assistant is already running; opening it.")
    say(f"URL: {instance.url}")
    log.info("second start: opened the running copy on port %d", instance.port)
    if open_browser:
        webbrowser.open(instance.url)
    return 0


def _serve(config: Config, *, model: str | None, port: int, open_browser: bool, say: Callable[[str], None]) -> int:
    from assistant.security import privacy
    from assistant.security.accounts import AccountStore
    from assistant.security.audit import AuditLog
    from assistant.web.staged import StagedApp, serve_staged

    audit = AuditLog(config.paths.root / "audit")
    privacy.on_blocked(lambda where: audit.record("outbound_blocked", detail=where))
    startup = Startup()
    staged = StagedApp(startup)
    outcome = {"code": 0}

    def announce(port_: int, token: str) -> None:
        write_record(config.paths.root, Instance(pid=os.getpid(), port=port_, token=token))
        url = f"http://{LOOPBACK_HOST}:{port_}/?token={token}"
        say(f"URL: {url}")
        log.info("serving on 127.0.0.1:%d (loading page until the model is ready)", port_)
        if open_browser:
            webbrowser.open(url)

    def prepare(port_: int, files_dir: Path | None, with_accounts: bool) -> None:
        try:
            prepared = _prepare(config, model, startup, port_, files_dir, with_accounts, audit, say,
                                stopping=lambda: staged.stopping)
            if prepared is None or staged.stopping:
                return  # quit while the model was loading
            app, services = prepared
            staged.attach(app)
        except AssistantError as exc:
            if not staged.stopping:
                _failed(exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - the edge of the start: plain words, details in the log
            from assistant.errors import where_failed

            if staged.stopping:
                return
            log.error("start failed: %s", where_failed(exc))
            _failed("The assistant could not start because of an unexpected problem. Start it again; if it "
                    "happens again, send your vendor a support bundle (assistant support-bundle support.zip).")
            return
        startup.ready()
        audit.record("app_started", model=services.model.name)
        say(READY_LINE)
        log.info("ready")

    def _failed(problem: str) -> None:
        outcome["code"] = 2
        startup.fail(problem)
        say(f"Problem: {problem}")
        log.error("start failed: the model or the pages could not be prepared")
        # With a browser open, let its page show the problem before stopping; without one, stop now.
        if open_browser:
            startup.seen_problem.wait(timeout=120)
            time.sleep(3)
        staged.quit()

    say("Starting the assistant on this computer only (127.0.0.1) ...")
    try:
        serve_staged(staged, port, on_ready=announce, prepare=prepare, accounts=AccountStore(config.paths.root),
                     audit=audit, files_dir=config.paths.tmp)
    finally:
        audit.record("app_stopped")
    say("The assistant has stopped.")
    return outcome["code"]


def _prepare(config: Config, model: str | None, startup: Startup, port: int, files_dir: Path | None,
             with_accounts: bool, audit: Any, say: Callable[[str], None],
             stopping: Callable[[], bool]) -> tuple[Any, Any] | None:
    """Load the model, build the services and the pages (imports gradio), mount them. In a thread.
    None if the server was told to stop meanwhile."""
    from assistant.app.services import build_services, load_model
    from assistant.engine import demo_model

    path = model or config.settings.model_path
    if not path and not demo_model.is_converted(config.paths.demo_model):
        startup.stage(0.03, "Preparing the built-in demo model (first start only, about half a minute)", 0.45)
        load_from = 0.45
    else:
        startup.stage(0.03, "Loading the model", 0.1)
        load_from = 0.05
    backend = load_model(config, path, progress=say, stage=_stages(startup, load_from, 0.8))
    if stopping():
        return None
    startup.stage(0.8, "Preparing the pages", 0.97)
    services = build_services(config, backend, audit=audit)
    from assistant.web.app import build_app
    from assistant.web.server import gradio_app

    return gradio_app(build_app(services), port, files_dir, with_accounts), services
