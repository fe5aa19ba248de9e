from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.security.audit import AuditLog, audited, export_csv, text_hash, verify
from assistant.store.drafts import DraftStore


def filled(folder: Path, n: int = 5) -> AuditLog:
    log = AuditLog(folder)
    for i in range(n):
        log.record("draft_generated", user="alex", kind="progress_note", preset="daily-note", output=f"text {i}")
    return log


def test_chain_verifies_and_records_only_hashes(tmp_path: Path):
    filled(tmp_path)
    assert verify(tmp_path) == []
    raw = (tmp_path / "audit.jsonl").read_text()
    assert "text 1" not in raw and text_hash("text 1") in raw


@pytest.mark.parametrize("line", [1, 3, 5])
def test_one_changed_byte_is_found_and_named(tmp_path: Path, line: int):
    filled(tmp_path)
    path = tmp_path / "audit.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = lines[line - 1].replace('"alex"', '"alez"')
    path.write_text("".join(lines))
    problems = verify(tmp_path)
    assert problems and problems[0].record == line


def test_deleted_record_is_found(tmp_path: Path):
    filled(tmp_path)
    path = tmp_path / "audit.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    del lines[2]
    path.write_text("".join(lines))
    assert verify(tmp_path)[0].record == 3


def test_crash_mid_write_leaves_a_readable_log(tmp_path: Path):
    filled(tmp_path, 3)
    with open(tmp_path / "audit.jsonl", "a") as handle:
        handle.write('{"seq": 4, "time": "2026-')  # the process died here
    log = AuditLog(tmp_path)  # next start
    log.record("app_started")
    assert verify(tmp_path) == []
    events = [json.loads(x)["event"] for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert events[-2:] == ["audit_repaired", "app_started"]


def test_cli_verify_and_export(tmp_path: Path, assistant_home: Path, capsys):
    folder = assistant_home / "audit"
    filled(folder)
    assert main(["audit", "verify"]) == 0
    out_csv = tmp_path / "review.csv"
    assert main(["audit", "export", "--csv", str(out_csv)]) == 0
    assert out_csv.read_text().count("draft_generated") == 5
    path = folder / "audit.jsonl"
    path.write_bytes(path.read_bytes().replace(b"daily-note", b"daily-notE", 1))
    assert main(["audit", "verify"]) == 1
    assert "audit.jsonl: record 1:" in capsys.readouterr().out


def test_audited_stream_records_outcome(tmp_path: Path):
    log = AuditLog(tmp_path)
    assert "".join(audited(iter(["a", "b"]), log, kind="chat")) == "ab"
    stream = audited(iter(["x", "y", "z"]), log, kind="chat")
    next(stream)
    stream.close()
    records = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["detail"] for r in records] == ["finished", "stopped"]
    assert records[0]["output_sha256"] == text_hash("ab")
    assert export_csv(tmp_path, tmp_path / "x.csv") == 2


def test_history_is_encrypted_on_disk(tmp_path: Path):
    store = DraftStore(tmp_path, use_keyring=False)
    draft = store.save("progress_note", "daily-note", "Client Zanzibar-Quokka reported better sleep.")
    assert store.get(draft.id).text.startswith("Client Zanzibar")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"Zanzibar" not in path.read_bytes()
            assert "Zanzibar" not in path.name
    assert oct((tmp_path / "history.key").stat().st_mode)[-3:] == "600"


def test_history_retention_and_delete_all(tmp_path: Path):
    store = DraftStore(tmp_path, use_keyring=False, retention_days=30)
    store.save("chat", "chat-general", "old")
    store.save("chat", "chat-general", "new")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert store.purge_expired(now=later) == 2
    store.save("chat", "chat-general", "again")
    assert store.delete_all() == 1 and store.list() == []


def test_history_survives_a_crash_mid_save_and_a_damaged_file(tmp_path: Path):
    store = DraftStore(tmp_path, use_keyring=False)
    kept = store.save("chat", "chat-general", "kept")
    (store.folder / ".deadbeef.tmp").write_bytes(b"half a draft")  # died before the rename
    (store.folder / "0123456789abcdef.draft").write_bytes(b"garbage")
    drafts = store.list()
    assert [d.id for d in drafts] == [kept.id]
    assert store.unreadable == 1
    assert not list(store.folder.glob(".*.tmp"))
