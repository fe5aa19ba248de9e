"""Shared fixtures. Every test gets its own data directory; the privacy
lockdown (offline env + egress guard) is on for the whole test session, so a
test that tries to reach the internet fails."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from assistant.security.privacy import lockdown

lockdown()

CACHE = Path(__file__).resolve().parent / ".cache"


@pytest.fixture(autouse=True)
def assistant_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def own_log_per_test():
    """Each test is a process of its own: the log handlers a test's commands add (setup_logging,
    once per process in the app) are closed after it, so no later test writes into its log,
    whose folder pytest removes once it passed."""
    before = set(logging.getLogger().handlers)
    yield
    for handler in set(logging.getLogger().handlers) - before:
        logging.getLogger().removeHandler(handler)
        handler.close()


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    """The real demo model, converted from its GGUF once and kept between runs."""
    from assistant.engine import demo_model, hf

    folder = CACHE / "demo-smollm2-135m-instruct"
    if not demo_model.is_converted(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        hf.convert_gguf(demo_model.find_demo_gguf(), folder)
    return folder


@pytest.fixture
def seeded_home(assistant_home: Path, demo_model_dir: Path) -> Path:
    """A data directory that already holds the converted demo model."""
    target = assistant_home / "models" / demo_model_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(demo_model_dir, target)
    return assistant_home


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (tests/browser_kit.py), one per test module."""
    from browser_kit import CHROMIUM, FLAGS, require_chromium

    sync_api = require_chromium()
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def pytest_report_header(config: pytest.Config) -> str:
    return f"ASSISTANT offline env: HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')}"


STAFF_PASSWORD = "correct horse battery"


@pytest.fixture
def staff_site(assistant_home: Path):
    """The real server with sign-in on and a scripted model: morgan is an admin, sam is staff (both
    with STAFF_PASSWORD). Yields (running server, config, services)."""
    from assistant.app.services import build_services
    from assistant.engine.fake import FakeBackend
    from assistant.security.accounts import AccountStore
    from assistant.store.config import Config
    from assistant.web.app import build_app
    from assistant.web.server import serve

    config = Config.load()
    accounts = AccountStore(config.paths.root)
    accounts.add("morgan", STAFF_PASSWORD, "admin")
    accounts.add("sam", STAFF_PASSWORD, "staff")
    services = build_services(config, FakeBackend(reply="Draft text."))
    running = serve(build_app(services), 0, background=True, accounts=accounts, audit=services.audit,
                    files_dir=config.paths.tmp)
    yield running, config, services
    running.stop()
