"""A hash-chained, append-only audit log with no PHI in it.

Each line of ``<data>/audit/audit.jsonl`` is one JSON record: sequence number,
time, user, event, document kind, preset id, model id, token counts, and a
SHA-256 of the output, never the text itself. ``hash`` covers the record and
the previous record's hash, so an edit or deletion anywhere breaks the chain
and ``verify`` names the first broken record.

A crash in the middle of a write can leave a last line without its newline;
opening the log (or the next append) cuts that fragment off, keeps a copy of
it, and records the repair, so the log always stays readable and verifiable.

Several writers may share the file (the running app and ``assistant users``
from a terminal): each append holds an OS lock on ``audit.lock`` and takes the
last sequence number and hash from the file itself, never from memory.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GENESIS = "0" * 64
EVENTS = frozenset(
    {
        "app_started", "app_stopped", "model_loaded", "login", "login_failed", "logout", "account_locked",
        "user_added", "user_removed", "password_changed", "draft_generated", "draft_edited", "draft_approved",
        "draft_exported", "drafts_deleted", "drafts_purged", "settings_changed", "preset_saved",
        "preset_deleted", "outbound_blocked", "audit_repaired", "model_server_request", "dictation",
    }
)
FIELDS = ("seq", "time", "user", "event", "kind", "preset", "model", "tokens_in", "tokens_out", "output_sha256", "detail", "prev", "hash")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    record: int  # 1-based line number
    why: str

    def __str__(self) -> str:
        return f"record {self.record}: {self.why}"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An OS lock on ``path`` held for the block, between processes as well as threads: ``flock`` on
    POSIX (each open file takes part, so two logs in one process exclude each other too), ``msvcrt``
    on Windows. The lock file is never removed (removing it would let two writers lock two files)."""
    with open(path, "a+b") as handle:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # retries for about 10 s, then raises
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _last_line(path: Path) -> tuple[bytes, bool]:
    """(the last line, without its newline; whether that line is finished) read from the end."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return b"", True
    with handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return b"", True
        block, data = 4096, b""
        while True:
            start = max(0, end - len(data) - block)
            handle.seek(start)
            data = handle.read(end - start)
            body = data[:-1] if data.endswith(b"\n") else data
            if b"\n" in body or start == 0:
                return body.rsplit(b"\n", 1)[-1], data.endswith(b"\n")
            block *= 2


class AuditLog:
    """Appender, safe across threads and processes (the app and ``assistant users ...`` at once):
    each append takes an OS file lock and reads the last record's number and hash again under it.
    ``record`` never raises into the caller's work: a failed write is logged (without content) and
    reported by ``healthy``."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "audit.jsonl"
        self.lock_path = folder / "audit.lock"
        self._lock = threading.Lock()
        self.healthy = True
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock, _file_lock(self.lock_path):
            repaired = self._repair_tail()
            if repaired:
                self._append("audit_repaired", {"detail": f"cut {repaired} bytes of an unfinished last record"})

    def _tail(self) -> tuple[int, str]:
        """(sequence number, hash) of the last record, read from the file (under the lock)."""
        line, _ = _last_line(self.path)
        if not line.strip():
            return 0, GENESIS
        try:
            record = json.loads(line)
            return int(record["seq"]), str(record["hash"])
        except (ValueError, KeyError, TypeError):
            # not a record: ``verify`` names it; number on from the records that are readable
            seq, prev = 0, GENESIS
            for item in _records(self.path):
                if isinstance(item, dict):
                    seq, prev = int(item.get("seq", seq)), str(item.get("hash", prev))
            return seq, prev

    def _repair_tail(self) -> int:
        line, finished = _last_line(self.path)
        if finished:
            return 0
        fragment = line
        size = self.path.stat().st_size
        cut = size - len(fragment)
        (self.path.parent / f"audit-fragment-{int(dt.datetime.now().timestamp())}.bin").write_bytes(fragment)
        with open(self.path, "r+b") as handle:
            handle.truncate(cut)
        log.warning("audit log: removed an unfinished last record (%d bytes)", len(fragment))
        return len(fragment)

    def record(self, event: str, *, user: str = "", kind: str = "", preset: str = "", model: str = "",
               tokens_in: int = 0, tokens_out: int = 0, output: str | None = None, detail: str = "") -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        fields = {
            "user": user, "kind": kind, "preset": preset, "model": model,
            "tokens_in": int(tokens_in), "tokens_out": int(tokens_out),
            "output_sha256": text_hash(output) if output is not None else "", "detail": detail,
        }
        try:
            with self._lock, _file_lock(self.lock_path):
                repaired = self._repair_tail()  # a writer that died mid-line, in any process
                if repaired:
                    self._append("audit_repaired", {"detail": f"cut {repaired} bytes of an unfinished last record"})
                self._append(event, fields)
        except OSError as exc:
            self.healthy = False
            log.error("audit write failed (%s)", type(exc).__name__)

    def _append(self, event: str, fields: dict[str, Any]) -> None:
        """One record after the last one on disk; the caller holds both locks."""
        seq, prev = self._tail()
        entry: dict[str, Any] = {
            "seq": seq + 1,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "user": "", "event": event, "kind": "", "preset": "", "model": "",
            "tokens_in": 0, "tokens_out": 0, "output_sha256": "", "detail": "",
            **fields,
        }
        entry["detail"] = str(entry["detail"])[:200]
        entry["prev"] = prev
        entry["hash"] = _digest(entry)
        line = json.dumps(entry, sort_keys=True, ensure_ascii=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _records(path: Path) -> Iterator[dict[str, Any] | str]:
    """Each line parsed, or an error string for a line that is not a JSON object."""
    try:
        handle = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                value = json.loads(line)
            except ValueError:
                yield "not a readable record"
                continue
            yield value if isinstance(value, dict) else "not a record"


def verify(folder: Path) -> list[Problem]:
    """Check the whole chain; an empty list means intact. Stops at the first break."""
    prev = GENESIS
    for number, record in enumerate(_records(folder / "audit.jsonl"), start=1):
        if isinstance(record, str):
            return [Problem(number, record)]
        if record.get("seq") != number:
            return [Problem(number, f"sequence number is {record.get('seq')}, expected {number} (a record was removed or added)")]
        if record.get("prev") != prev:
            return [Problem(number, "does not follow the record before it (a record was removed or changed)")]
        if _digest(record) != record.get("hash"):
            return [Problem(number, "its content was changed after it was written")]
        prev = record["hash"]
    return []


def export_csv(folder: Path, target: Path) -> int:
    """Write the log as CSV for a compliance review; returns the number of records."""
    count = 0
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        for record in _records(folder / "audit.jsonl"):
            if isinstance(record, dict):
                writer.writerow(record)
                count += 1
    tmp.replace(target)
    return count


def audited(pieces: Iterator[str], audit: AuditLog | None, detail_prefix: str = "", **fields: Any) -> Iterator[str]:
    """Pass a stream through, then record one ``draft_generated`` with the output's hash.

    Records also when the stream is stopped or fails (``detail`` says which)."""
    text: list[str] = []
    outcome = "stopped"
    try:
        for piece in pieces:
            text.append(piece)
            yield piece
        outcome = "finished"
    except Exception:
        outcome = "failed"
        raise
    finally:
        if audit is not None:
            output = "".join(text)
            detail = f"{detail_prefix}: {outcome}" if detail_prefix else outcome
            audit.record("draft_generated", output=output, tokens_out=len(output.split()), detail=detail, **fields)
