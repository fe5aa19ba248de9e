"""Kept drafts: the store (delete one, delete one person's, damaged files), the
History tab through the real server (approve, list, open, delete, audit), each
person seeing only their own drafts when staff accounts are on, and a process
killed (SIGKILL) in the middle of saving drafts and writing the audit log.

The History and Approve buttons are not part of the scripting API (their events
are private), so the server tests call them the way the page does: join the
queue with the event's number, read the answer from the event stream.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from assistant.app.services import build_services
from assistant.engine.fake import FakeBackend
from assistant.security.audit import AuditLog, text_hash, verify
from assistant.store.config import Config
from assistant.store.drafts import DraftStore
from assistant.web.app import build_app
from assistant.web.server import serve

REPO = Path(__file__).resolve().parent.parent
NOTE = "Client practiced paced breathing; anxiety 6 out of 10, down from 8. Plan: weekly sessions."
SECRET = "Zanzibar-Quokka-7731"
PASSWORD = "correct horse battery"
EMPTY = "No kept drafts yet. Approved drafts are kept here for 30 days, encrypted."


# ---------------------------------------------------------------- the store


def test_delete_one_draft(tmp_path: Path):
    store = DraftStore(tmp_path, use_keyring=False)
    first = store.save("note", "daily-note", "first")
    second = store.save("letter", "prior-auth-initial", "second")
    assert store.delete(first.id) is True
    assert [d.id for d in store.list()] == [second.id]
    assert store.delete(first.id) is False, "a second delete finds nothing"
    for bad in ("", "../history.key", "*", "x" * 3 + "/" + "y"):
        assert store.delete(bad) is False
    assert (tmp_path / "history.key").exists()
    assert [d.id for d in store.list()] == [second.id]


def test_delete_all_of_one_person_leaves_the_others(tmp_path: Path):
    store = DraftStore(tmp_path, use_keyring=False)
    for i in range(3):
        store.save("note", "daily-note", f"alex {i}", status="approved", user="alex")
    kept = [store.save("note", "daily-note", "sam's", status="approved", user="sam"),
            store.save("chat", "chat-general", "no account", status="approved", user="")]
    (store.folder / "0123456789abcdef.draft").write_bytes(b"damaged, owner unknown")
    assert store.delete_all(user="alex") == 3
    assert sorted(d.id for d in store.list()) == sorted(d.id for d in kept)
    assert store.unreadable == 1
    assert (store.folder / "0123456789abcdef.draft").exists(), "an unreadable file is not someone's to delete"
    assert store.delete_all(user="nobody") == 0
    assert store.delete_all() == 3, "without a person: everything, the damaged file too"
    assert store.list() == [] and not any(store.folder.iterdir())


def test_unreadable_file_is_reported_not_fatal(tmp_path: Path):
    store = DraftStore(tmp_path, use_keyring=False)
    good = store.save("note", "daily-note", "readable")
    (store.folder / "00000000aaaaaaaa.draft").write_bytes(b"not encrypted at all")
    other_key = DraftStore(tmp_path / "elsewhere", use_keyring=False)
    stranger = other_key.save("note", "daily-note", "written with another key")
    (other_key.folder / f"{stranger.id}.draft").rename(store.folder / f"{stranger.id}.draft")
    assert [d.id for d in store.list()] == [good.id]
    assert store.unreadable == 2
    assert store.get(stranger.id) is None
    assert store.delete(stranger.id) is True, "a damaged draft can still be deleted by hand"
    assert store.list() and store.unreadable == 1


# ---------------------------------------------------------------- the page's protocol


class Page:
    """Calls events as the browser does: POST /gradio_api/queue/join, then the event stream."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.session = uuid.uuid4().hex[:11]
        config = http.get("/config")
        assert config.status_code == 200, config.text[:200]
        self.config = config.json()
        self.ids = {c["props"].get("elem_id"): c["id"] for c in self.config["components"] if c.get("props")}

    def event(self, elem_id: str, trigger: str) -> tuple[int, int]:
        target = self.ids[elem_id]
        for number, dep in enumerate(self.config["dependencies"]):
            if [target, trigger] in [list(t) for t in dep["targets"]]:
                return dep.get("id", number), target
        raise AssertionError(f"no {trigger} event on #{elem_id}")

    def load_outputs(self, suffix: str = "-permission") -> dict[str, list]:
        """Run the page-load events whose first output's elem_id ends with ``suffix``, as the page
        does on opening: {that elem_id: the event's output values}."""
        names = {v: k for k, v in self.ids.items()}
        found = {}
        for number, dep in enumerate(self.config["dependencies"]):
            first = names.get(dep["outputs"][0]) if dep.get("outputs") else None
            if first and first.endswith(suffix) and any(t[1] == "load" for t in dep["targets"]):
                found[first] = self._join(dep.get("id", number), None, [])["output"]["data"]
        return found

    def call(self, elem_id: str, trigger: str, *data, event_data=None) -> dict:
        fn_index, target = self.event(elem_id, trigger)
        return self._join(fn_index, target, list(data), event_data)

    def _join(self, fn_index: int, target: int | None, data: list, event_data=None) -> dict:
        joined = self.http.post("/gradio_api/queue/join", json={
            "data": list(data), "fn_index": fn_index, "trigger_id": target, "session_hash": self.session,
            "event_data": event_data,
        })
        assert joined.status_code == 200, joined.text[:200]
        event_id = joined.json()["event_id"]
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session},
                              timeout=60) as stream:
            answer = None
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    answer = message
                if message.get("msg") == "close_stream":  # read to the end, as the page does
                    break
        assert answer is not None, "the event stream ended without an answer"
        return answer

    def ok(self, elem_id: str, trigger: str, *data, **kw) -> list:
        message = self.call(elem_id, trigger, *data, **kw)
        assert message["success"], message["output"]
        return message["output"]["data"]

    def refused(self, elem_id: str, trigger: str, *data) -> str:
        message = self.call(elem_id, trigger, *data)
        assert not message["success"], message["output"]
        return str(message["output"].get("error", ""))

    def predict(self, elem_id: str, trigger: str, *data) -> list:
        """An unqueued event (``queue=False``), as the page sends it."""
        fn_index, target = self.event(elem_id, trigger)
        answer = self.http.post("/gradio_api/run/predict", json={
            "data": list(data), "fn_index": fn_index, "trigger_id": target, "session_hash": self.session})
        assert answer.status_code == 200, answer.text[:300]
        return answer.json()["data"]

    def approve(self, text: str) -> None:
        """Check the draft (as the page does after writing it), then approve it: the check's record is
        kept in this session and the approval refuses a draft that was not checked."""
        self.predict("note-check-again", "click", text, "", "", "SOAP", "daily-note", text)
        data = self.ok("note-approve", "click", text, False, None, "daily-note")
        assert "approved" in str(data)

    def history(self) -> tuple[str, list, list]:
        """(summary, table rows, picker choices as (label, id)) after “Refresh list”."""
        out = self.ok("history-refresh", "click")
        summary, table, picker = out[0], out[1], out[2]
        rows = table["data"] if isinstance(table, dict) else table
        rows = [r for r in rows if any(str(c).strip() for c in r)]
        return summary, rows, [tuple(c) for c in picker["choices"]]


def audit_records(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "audit" / "audit.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- through the real server


@pytest.fixture
def server(assistant_home: Path):
    config = Config.load()
    services = build_services(config, FakeBackend(reply=f"Subjective: calmer. Client {SECRET} slept well.", delay=0.001))
    running = serve(build_app(services), 0, background=True, audit=services.audit)
    yield running, config
    running.stop()


def test_approved_draft_is_listed_opened_downloaded_and_deleted(server):
    running, config = server
    base = f"http://127.0.0.1:{running.port}"
    client = Client(base + "/", headers={"Authorization": f"Bearer {running.token}"}, verbose=False)
    draft = client.predict(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    client.close()
    assert SECRET in draft
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {running.token}"}, timeout=60) as http:
        page = Page(http)
        summary, rows, choices = page.history()
        assert EMPTY in summary and rows == [] and choices == []

        page.approve(draft)
        summary, rows, choices = page.history()
        assert "1 kept draft" in summary
        assert len(rows) == 1 and rows[0][1:] == ["Progress note", "Daily progress note", "Approved", "—"], rows
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows[0][0]), rows
        assert SECRET not in json.dumps(rows) + json.dumps(choices), "the list shows no clinical text"
        (label, draft_id), = choices

        text, details, _ = page.ok("history-pick", "change", draft_id)
        assert text == draft.strip() and "Progress note" in details
        assert page.refused("history-pick", "change", "ffffffffffffffff"), "an unknown id opens nothing"

        download = page.ok("history-export-txt", "click", draft_id)[0]
        assert download["value"]["path"].endswith(".txt") and SECRET not in download["value"]["path"]

        # picking a row of the table opens the same draft
        picked = page.ok("history-table", "select", None, event_data={"index": [0, 2], "value": rows[0][2]})
        assert picked[0]["value"] == draft_id

        assert "Tick" in page.refused("history-delete-all", "click", False)
        assert len(page.history()[1]) == 1, "nothing is deleted without the confirmation tick"
        out = page.ok("history-delete-all", "click", True)
        assert out[-1] == "Deleted 1 kept draft."
        summary, rows, choices = page.history()
        assert EMPTY in summary and rows == [] and choices == []

    records = audit_records(config.paths.root)
    deleted = [r for r in records if r["event"] == "drafts_deleted"]
    assert len(deleted) == 1 and deleted[0]["detail"].startswith("1 deleted")
    assert [r["event"] for r in records if r["event"].startswith("draft")][-4:] == [
        "draft_generated", "draft_approved", "draft_exported", "drafts_deleted"]
    assert SECRET not in (config.paths.root / "audit" / "audit.jsonl").read_text()
    assert verify(config.paths.root / "audit") == []
    assert list((config.paths.root / "history").glob("*.draft")) == []


def test_deleting_one_draft_needs_the_tick_and_is_audited_by_hash(server):
    running, config = server
    base = f"http://127.0.0.1:{running.port}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {running.token}"}, timeout=60) as http:
        page = Page(http)
        page.approve(f"First note about {SECRET}.")
        page.approve("Second note, nothing identifying.")
        _, rows, choices = page.history()
        assert len(rows) == 2
        first = next(i for label, i in choices if page.ok("history-pick", "change", i)[0].startswith("First"))
        assert "Tick" in page.refused("history-delete", "click", first, False)
        out = page.ok("history-delete", "click", first, True)
        assert out[-1] == "Deleted that draft."
        _, rows, choices = page.history()
        assert len(rows) == 1 and first not in [i for _, i in choices]
    deleted = [r for r in audit_records(config.paths.root) if r["event"] == "drafts_deleted"]
    assert len(deleted) == 1 and deleted[0]["output_sha256"] == text_hash(f"First note about {SECRET}.")
    assert SECRET not in (config.paths.root / "audit" / "audit.jsonl").read_text()


@pytest.fixture
def server_with_accounts(staff_site):
    running, config, _ = staff_site
    return running, config


@contextlib.contextmanager
def signed_in(running, name: str) -> Iterator[httpx.Client]:
    """A browser that opened the assistant's link and signed in as ``name``."""
    with httpx.Client(base_url=f"http://127.0.0.1:{running.port}", follow_redirects=False, timeout=60) as http:
        http.get("/", params={"token": running.token})
        assert http.post("/login", data={"username": name, "password": PASSWORD}).status_code == 303
        yield http


def test_with_accounts_each_person_sees_and_deletes_only_their_own(server_with_accounts):
    running, config = server_with_accounts
    with signed_in(running, "morgan") as morgan_http, signed_in(running, "sam") as sam_http:
        morgan, sam = Page(morgan_http), Page(sam_http)
        morgan.approve("Morgan's note one.")
        morgan.approve("Morgan's note two.")
        sam.approve("Sam's note.")
        _, morgan_rows, morgan_choices = morgan.history()
        _, sam_rows, sam_choices = sam.history()
        assert len(morgan_rows) == 2 and {r[4] for r in morgan_rows} == {"morgan"}
        assert len(sam_rows) == 1 and sam_rows[0][4] == "sam"
        sams_id = sam_choices[0][1]
        # Morgan cannot open, download or delete Sam's draft by sending its id
        for call in (("history-pick", "change", sams_id), ("history-export-txt", "click", sams_id),
                     ("history-delete", "click", sams_id, True)):
            assert "Sam's note" not in morgan.refused(*call)
        # Morgan's download cannot be fetched by another account that guesses its file name
        morgans_id = morgan_choices[0][1]
        assert morgan.ok("history-export-txt", "click", morgans_id)[0]["value"]["path"].endswith(".txt")
        guess = config.paths.tmp / "exports" / f"progress-note-{dt.date.today().isoformat()}.txt"
        fetched = sam_http.get(f"/gradio_api/file={guess}")
        assert fetched.status_code != 200 and "Morgan" not in fetched.text
        assert morgan.ok("history-delete-all", "click", True)[-1] == "Deleted 2 kept drafts."
        assert morgan.history()[1] == []
        _, sam_rows, _ = sam.history()
        assert len(sam_rows) == 1, "Sam's draft is still there"
        assert sam.ok("history-pick", "change", sams_id)[0] == "Sam's note."
    deleted = [r for r in audit_records(config.paths.root) if r["event"] == "drafts_deleted"]
    assert [(r["user"], r["detail"]) for r in deleted] == [("morgan", "2 deleted: all of this person's kept drafts")]


# ---------------------------------------------------------------- a crash in the middle of saving

CHILD = textwrap.dedent("""
    import os, sys, threading
    from pathlib import Path
    from assistant.security.audit import AuditLog
    from assistant.store.drafts import DraftStore

    root = Path(sys.argv[1])
    store = DraftStore(root, use_keyring=False)
    audit = AuditLog(root / "audit")
    text = "Session note. " * 40_000  # about half a megabyte: the kill lands in a write more often

    def log_forever():
        n = 0
        while True:
            n += 1
            audit.record("draft_generated", user="alex", kind="note", preset="daily-note",
                         output=str(n), detail="x" * 150)
            os.write(1, f"audit {n}\\n".encode())  # one write: the two threads' lines never mix

    threading.Thread(target=log_forever, daemon=True).start()
    while True:
        draft = store.save("note", "daily-note", text, status="approved", user="alex")
        os.write(1, f"draft {draft.id}\\n".encode())
""")


def test_kill_mid_save_leaves_readable_drafts_and_a_verifiable_audit_log(tmp_path: Path):
    root = tmp_path / "data"
    promised_drafts: set[str] = set()
    audit_written = 0
    leftovers = rounds = 0
    # Kill at different moments until at least one kill has landed in the middle of writing a draft
    # (a temporary file left behind): about four kills in ten do; at most 20 rounds.
    while rounds < 4 or (leftovers == 0 and rounds < 20):
        rounds += 1
        delay = 0.2 + 0.15 * (rounds % 6)
        out = tmp_path / "child.out"
        with open(out, "wb") as sink:
            child = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], cwd=REPO, stdout=sink,
                                     stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
            deadline = time.monotonic() + 30
            while b"draft" not in out.read_bytes():  # running (and writing) before the kill
                assert child.poll() is None, child.stderr.read().decode()
                assert time.monotonic() < deadline, "the writer did not start"
                time.sleep(0.02)
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        lines = out.read_text().split("\n")[:-1]  # a last line without its newline was not finished
        promised_drafts |= {line.split()[1] for line in lines if line.startswith("draft ")}
        audit_written += max([0, *(int(line.split()[1]) for line in lines if line.startswith("audit "))])
        leftovers += len(list((root / "history").glob(".*.tmp")))

        # The next start: leftovers go, every draft file opens, the audit log is repaired and verifies.
        store = DraftStore(root, use_keyring=False)
        kept = store.list()
        assert store.unreadable == 0, "a draft file was left half written"
        assert not list((root / "history").glob(".*.tmp")), "list() removes temporary leftovers"
        assert promised_drafts <= {d.id for d in kept}, "a draft reported saved was lost"
        assert all(len(d.text) == len("Session note. " * 40_000) for d in kept)
        reopened = AuditLog(root / "audit")
        assert reopened.healthy
        assert verify(root / "audit") == []
        written = [r for r in audit_records(root) if r["event"] == "draft_generated"]
        assert len(written) >= audit_written, "an audit record reported written was lost"
    assert audit_written > 0 and len(promised_drafts) >= rounds
    assert leftovers >= 1, "no kill landed in the middle of a save, so this run proved little"
