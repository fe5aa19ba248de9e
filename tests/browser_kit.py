"""What the browser suites share: Debian's Chromium, its flags, and a recorder of
requests that leave this computer (tests/ is on sys.path; no __init__.py)."""

from __future__ import annotations

import os
import shutil
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
