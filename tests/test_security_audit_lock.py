"""Several writers on one audit log (the running app and ``assistant users ...`` at the same time):
each append takes an OS file lock and re-reads the tail under it, so the chain stays whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from assistant.security.audit import AuditLog, verify

REPO = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from assistant.security.audit import AuditLog

    log = AuditLog(Path(sys.argv[1]))
    print("ready", flush=True)
    sys.stdin.readline()  # go
    for i in range(40):
        log.record("user_added", detail=f"child {i}")
    print("done", flush=True)
""")


def events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]


def test_two_logs_on_one_folder_interleave_and_verify(tmp_path: Path):
    app, cli = AuditLog(tmp_path), AuditLog(tmp_path)  # both opened before either writes
    app.record("app_started")
    cli.record("user_added", detail="sam")
    app.record("login", user="sam")
    cli.record("password_changed", detail="sam")
    assert verify(tmp_path) == []
    assert [r["seq"] for r in events(tmp_path)] == [1, 2, 3, 4]


def test_a_second_process_appending_at_the_same_time_keeps_the_chain(tmp_path: Path):
    app = AuditLog(tmp_path)
    app.record("app_started")
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert child.stdout.readline().strip() == "ready"  # opened its log (and read the tail) before we go on
    child.stdin.write("go\n")
    child.stdin.flush()
    for i in range(40):
        app.record("login", user=f"u{i}")
    assert child.stdout.readline().strip() == "done"
    assert child.wait(timeout=60) == 0
    assert verify(tmp_path) == []
    records = events(tmp_path)
    assert len(records) == 81
    assert sum(r["event"] == "user_added" for r in records) == 40


def test_a_repaired_tail_is_seen_by_the_other_writer(tmp_path: Path):
    first = AuditLog(tmp_path)
    first.record("app_started")
    with open(tmp_path / "audit.jsonl", "a") as handle:
        handle.write('{"seq": 2, "time": "2026-')  # a writer died mid-line
    second = AuditLog(tmp_path)  # repairs the tail and records that
    first.record("login", user="sam")
    second.record("logout", user="sam")
    assert verify(tmp_path) == []
    assert [r["event"] for r in events(tmp_path)] == ["app_started", "audit_repaired", "login", "logout"]
