"""The one atomic write: the old file or the new one, never half; no temporary file left."""

from __future__ import annotations

import os
import stat

import pytest

from assistant.store import files
from assistant.store.files import atomic_write, write_new


def test_atomic_write_replaces_and_keeps_modes(tmp_path):
    target = tmp_path / "deeper" / "settings.json"
    atomic_write(target, "first")
    atomic_write(target, b"second")
    assert target.read_text() == "second"
    atomic_write(tmp_path / "accounts.json", "{}", private=True)
    assert stat.S_IMODE((tmp_path / "accounts.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.json", "deeper"]
    assert os.listdir(target.parent) == ["settings.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "profile.json"
    atomic_write(target, "old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, "new" * 1000)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["profile.json"]


def test_write_new_never_replaces(tmp_path):
    first = write_new(tmp_path, "progress-note-2026-12-02", ".txt", b"a")
    second = write_new(tmp_path, "progress-note-2026-12-02", ".txt", b"b")
    assert (first.name, second.name) == ("progress-note-2026-12-02.txt", "progress-note-2026-12-02-2.txt")
    assert first.read_bytes() == b"a" and second.read_bytes() == b"b"
    assert stat.S_IMODE(first.stat().st_mode) == 0o600  # exports hold patient text
    assert sorted(os.listdir(tmp_path)) == sorted([first.name, second.name])
