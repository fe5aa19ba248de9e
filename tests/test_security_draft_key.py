"""Where the kept drafts' key lives (the OS key store, else a 0600 file) is chosen once and
remembered in the data folder, so a key store that appears (or goes) later never makes the
drafts kept so far unreadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from assistant.store import drafts as drafts_module
from assistant.store.drafts import DraftStore


class FakeKeyring:
    """Stands for the OS key store: a key per account, made on first use."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def __call__(self, account: str) -> bytes:
        return self.keys.setdefault(account, Fernet.generate_key())


def test_drafts_stay_readable_when_a_keyring_appears_later(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(drafts_module, "_keyring_key", lambda account: None)  # no key store on this computer
    kept = DraftStore(tmp_path).save("note", "daily-note", "written with the key file")
    assert (tmp_path / "history.key").exists()

    monkeypatch.setattr(drafts_module, "_keyring_key", FakeKeyring())  # a key store turns up (an update, a login)
    reopened = DraftStore(tmp_path)
    assert reopened.get(kept.id) is not None, "the drafts kept so far became unreadable"
    assert reopened.get(kept.id).text == "written with the key file"
    assert reopened.unreadable == 0
    newer = reopened.save("note", "daily-note", "after the key store appeared")
    assert {d.id for d in DraftStore(tmp_path).list()} == {kept.id, newer.id}


def test_the_keyring_choice_is_remembered_too(tmp_path: Path, monkeypatch):
    keyring = FakeKeyring()
    monkeypatch.setattr(drafts_module, "_keyring_key", keyring)
    kept = DraftStore(tmp_path).save("chat", "chat-general", "kept with the key store's key")
    assert not (tmp_path / "history.key").exists()
    record = json.loads((tmp_path / "history-key.json").read_text())
    assert record["source"] == "keyring"
    assert DraftStore(tmp_path).get(kept.id).text == "kept with the key store's key"


def test_a_remembered_keyring_that_is_gone_is_said_plainly_and_no_new_key_is_made(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(drafts_module, "_keyring_key", FakeKeyring())
    DraftStore(tmp_path).save("chat", "chat-general", "kept")
    monkeypatch.setattr(drafts_module, "_keyring_key", lambda account: None)
    with pytest.raises(drafts_module.KeyStoreMissing, match="key store"):
        DraftStore(tmp_path)
    assert not (tmp_path / "history.key").exists(), "a new key would hide the old drafts for good"


def test_an_existing_key_file_from_before_the_record_is_kept(tmp_path: Path, monkeypatch):
    """Installs from before the record: a history.key on disk means the file was the source."""
    monkeypatch.setattr(drafts_module, "_keyring_key", lambda account: None)
    kept = DraftStore(tmp_path).save("chat", "chat-general", "old install")
    (tmp_path / "history-key.json").unlink()
    monkeypatch.setattr(drafts_module, "_keyring_key", FakeKeyring())
    assert DraftStore(tmp_path).get(kept.id).text == "old install"
    assert json.loads((tmp_path / "history-key.json").read_text())["source"] == "file"


def test_draft_files_are_private_and_written_atomically(tmp_path: Path, monkeypatch):
    calls = []
    real = drafts_module.atomic_write

    def spy(path, data, *, private=False):
        calls.append((Path(path).suffix, private))
        real(path, data, private=private)

    monkeypatch.setattr(drafts_module, "atomic_write", spy)
    store = DraftStore(tmp_path, use_keyring=False)
    draft = store.save("chat", "chat-general", "private")
    assert (".draft", True) in calls
    assert oct((store.folder / f"{draft.id}.draft").stat().st_mode)[-3:] == "600"
