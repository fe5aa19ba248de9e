"""What the browser suites share: Debian's Chromium, its flags, and a recorder of
requests that leave this computer, and the app served from a data folder
(tests/ is on sys.path; no __init__.py)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def require_chromium():
    """The Playwright sync API, or skip the module (fail in CI, where .ci/run installs Chromium)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("Chromium is missing; .ci/run installs it with apt-get")
        pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect.set_options(timeout=30_000)  # CI machines are shared and slow; waits end as soon as met
    return sync_api


def record_outside(page, found: list[str]) -> None:
    """Append to ``found`` every request the page makes that leaves this computer."""

    def record(request):
        if not request.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            found.append(request.url)

    page.on("request", record)


@contextlib.contextmanager
def served_with_demo(home: Path, demo_model_dir: Path) -> Iterator[str]:
    """``served`` on ``home`` with the demo model already converted into it (no conversion at start)."""
    shutil.copytree(demo_model_dir, home / "models" / demo_model_dir.name)
    with served(home) as url:
        yield url


@contextlib.contextmanager
def served(home: Path, *args: str, wait_s: float = 180) -> Iterator[str]:
    """``assistant serve --no-browser`` on ``home`` as a child process; yields its URL once the model
    is ready ("The assistant is ready"), and stops it afterwards."""
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--no-browser", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    try:
        url, deadline = None, time.monotonic() + wait_s
        while time.monotonic() < deadline:  # the page answers at once; wait until the model is ready too
            line = proc.stdout.readline()
            if not line or line.startswith("The assistant is ready"):
                break
            found = re.match(r"URL: (\S+)", line.strip())
            url = url or (found.group(1) if found else None)
        assert url, "the app did not print its URL"
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
