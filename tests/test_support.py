"""The support bundle: made after a real session with PHI typed in and PHI planted
in the logs the ways it could leak (another library's message, a traceback, a
value formatted into one of our messages), it contains none of it."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client

from assistant.app.services import build_services
from assistant.cli import main, setup_logging
from assistant.engine.fake import FakeBackend
from assistant.ops.support import ScrubStats, find_identifiers, scrub_line
from assistant.store.config import Config
from assistant.web.app import build_app
from assistant.web.server import serve

NAME, DOB, MEMBER, SSN = "Zanzibar Quokka", "04/12/1986", "XJH1234567", "123-45-6789"
EMAIL, PHONE = "zanzibar.quokka@example.org", "(555) 867-5309"
PHI = [NAME, "Zanzibar", "Quokka", DOB, MEMBER, SSN, EMAIL, PHONE, "867-5309"]


@pytest.fixture
def no_new_log_handlers():
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


def run_session_with_phi(config: Config) -> None:
    backend = FakeBackend(reply=lambda msgs: "Reminder drafted.", delay=0.001)
    running = serve(build_app(build_services(config, backend)), 0, background=True)
    try:
        client = Client(f"http://127.0.0.1:{running.port}/", headers={"Authorization": f"Bearer {running.token}"},
                        verbose=False)
        typed = f"Letter for {NAME}, DOB {DOB}, member {MEMBER}, SSN {SSN}, {EMAIL}, {PHONE}."
        client.predict(typed, [], "chat-general", api_name="/chat")

        def fail(messages):
            raise KeyError(typed)  # an unexpected error quoting the input

        backend.reply = fail
        with pytest.raises(Exception, match="reference"):
            client.predict(typed, [], "chat-general", api_name="/chat")
    finally:
        running.stop()


def plant_leaks_in_the_log() -> None:
    logging.getLogger("httpx").warning("Prompt was: %s born %s", NAME, DOB)
    try:
        raise ValueError(f"could not parse {NAME} {SSN}")
    except ValueError:
        logging.getLogger("some_library.worker").exception("request failed")
    logging.getLogger("assistant.core.documents").error("draft failed for %r", f"{NAME} {DOB}")
    logging.getLogger("assistant.core.documents").warning("contact %s %s %s %s %s", EMAIL, PHONE, SSN, DOB, MEMBER)


def test_support_bundle_after_a_session_with_phi_contains_none_of_it(
    tmp_path: Path, capsys, no_new_log_handlers
) -> None:
    config = Config.load()
    setup_logging(config.paths.logs)
    run_session_with_phi(config)
    plant_leaks_in_the_log()
    for handler in logging.getLogger().handlers:
        handler.flush()
    log_text = "".join(p.read_text() for p in config.paths.logs.glob("assistant.log*"))
    assert NAME in log_text and SSN in log_text  # the plants really are in the log

    out = tmp_path / "support.zip"
    assert main(["support-bundle", str(out)]) == 0
    assert "no patient information" in capsys.readouterr().out
    with zipfile.ZipFile(out) as bundle:
        names = set(bundle.namelist())
        contents = {name: bundle.read(name).decode("utf-8") for name in names}
    assert {"README.txt", "versions.json", "doctor.json", "settings.json", "models.json", "logs/assistant.log"} <= names
    for name, text in contents.items():
        for secret in PHI:
            assert secret not in text, f"{secret!r} found in {name}"
    if "audit.json" in names:  # the audit log stays home; only its count and chain check travel
        assert set(json.loads(contents["audit.json"])) == {"records", "chain_intact"}
        assert "The audit log itself is not included" in contents["README.txt"]
    else:
        assert "No audit log is included" in contents["README.txt"]
    assert json.loads(contents["doctor.json"])["verdict"]["mode"] == "cpu"
    assert json.loads(contents["versions.json"])["packages"]["transformers"]
    logs = contents["logs/assistant.log"]
    assert "generation kind=chat outcome=done" in logs  # useful lines survive
    assert "message from another library left out" in logs and "[e-mail removed]" in logs
    assert not find_identifiers(logs)
    assert not list(tmp_path.glob("*.partial"))


def test_scrub_line_keeps_our_facts_and_drops_the_rest() -> None:
    stats = ScrubStats()
    ours = "2025-01-02 10:00:00,123 INFO assistant.engine.engine: generation kind=note outcome=done pieces=12 chars=345 seconds=1.20"
    assert scrub_line(ours, stats) == ours
    assert scrub_line("Traceback (most recent call last):", stats) is None
    assert "left out: 11 characters" in scrub_line("2025-01-02 10:00:00,123 WARNING gradio.x: Hello World", stats)
    masked = scrub_line(f"2025-01-02 10:00:00,123 ERROR assistant.x: failed for '{NAME}' at {PHONE}", stats)
    assert NAME not in masked and PHONE not in masked
    assert (stats.kept, stats.dropped, stats.foreign, stats.masked) == (3, 1, 1, 2)


def test_bundle_into_a_missing_folder_is_a_plain_error(tmp_path: Path, capsys, no_new_log_handlers) -> None:
    assert main(["support-bundle", str(tmp_path / "no-such-folder" / "out.zip")]) == 2
    assert "does not exist" in capsys.readouterr().out


def test_without_an_audit_log_the_bundle_says_so(tmp_path: Path, no_new_log_handlers) -> None:
    from assistant.ops.support import make_bundle

    config = Config.load()
    report = {"verdict": {"mode": "cpu"}}  # the hardware check itself is tested in test_doctor.py
    make_bundle(config, tmp_path / "b.zip", report=report)
    with zipfile.ZipFile(tmp_path / "b.zip") as bundle:
        assert "audit.json" not in bundle.namelist()
        assert "No audit log is included" in bundle.read("README.txt").decode()
