"""Encrypted draft history with a retention period.

Each kept draft is one file ``<data>/history/<random id>.draft``: the draft's
text and metadata as JSON, encrypted with Fernet (AES-128-CBC + HMAC-SHA256,
the ``cryptography`` package). The key lives in the operating system's key
store through ``keyring`` where a real one exists, else in ``<data>/history.key``
readable by this user only. Which of the two is chosen once, on the first
start, and remembered in ``<data>/history-key.json``: a key store that turns up
later (or goes away) never makes the drafts kept so far unreadable. File names
carry no patient information.

Writes go through ``store.files.atomic_write`` (0600), so a crash leaves either
the old state or the new one. Unreadable files are reported, never fatal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from assistant.errors import InputError
from assistant.store.files import atomic_write
from assistant.store.secrets import KEYRING_SERVICE, keyring_backend

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
KEY_RECORD = "history-key.json"
SOURCES = ("keyring", "file")


class KeyStoreMissing(InputError):
    """Raised when the drafts' key was kept in the OS key store and that store cannot be opened now."""


@dataclass(frozen=True)
class Draft:
    id: str
    kind: str  # progress_note | prior_auth | chat
    preset: str
    text: str
    created: str  # ISO time, UTC
    status: str = "draft"  # draft | approved
    user: str = ""


def _keyring_key(account: str) -> bytes | None:
    """The key from the OS key store, or None where there is no usable one."""
    backend = keyring_backend()
    if backend is None:
        return None
    try:
        stored = backend.get_password(KEYRING_SERVICE, account)
        if stored is None:
            stored = Fernet.generate_key().decode()
            backend.set_password(KEYRING_SERVICE, account, stored)
        return stored.encode()
    except Exception:  # noqa: BLE001 - any key store trouble means: use the key file
        return None


def _recorded_source(root: Path) -> str | None:
    try:
        source = json.loads((root / KEY_RECORD).read_text(encoding="utf-8")).get("source")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        log.warning("history: the key record is unreadable; it is made again")
        return None
    return source if source in SOURCES else None


def _remember_source(root: Path, source: str) -> None:
    atomic_write(root / KEY_RECORD, json.dumps({"version": 1, "source": source}), private=True)


def _file_key(root: Path) -> bytes:
    path = root / "history.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never replaces a key in use
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_key(root: Path, use_keyring: bool = True) -> bytes:
    """The drafts' key, from the source chosen on the first start (``use_keyring=False``: never the
    key store). A first start with a ``history.key`` already there (an install from before the record)
    keeps the file."""
    account = f"history:{root}"
    source = _recorded_source(root)
    if source is None:
        if (root / "history.key").exists():
            source = "file"
        else:
            source = "keyring" if use_keyring and _keyring_key(account) is not None else "file"
        _remember_source(root, source)
    if source == "file":
        return _file_key(root)
    key = _keyring_key(account) if use_keyring else None
    if key is None:
        raise KeyStoreMissing(
            "The kept drafts are locked with a key in this computer's key store, which cannot be opened "
            "right now. Sign in to this computer as the person who set up the assistant and start it again; "
            "the kept drafts are safe. If it keeps happening, tell your vendor."
        )
    return key


class DraftStore:
    def __init__(self, root: Path, *, retention_days: int = DEFAULT_RETENTION_DAYS, use_keyring: bool = True) -> None:
        self.folder = root / "history"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self._fernet = Fernet(load_key(root, use_keyring))
        self.unreadable = 0

    def save(self, kind: str, preset: str, text: str, *, status: str = "draft", user: str = "", draft_id: str | None = None) -> Draft:
        draft = Draft(
            id=draft_id or secrets.token_hex(8), kind=kind, preset=preset, text=text,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), status=status, user=user,
        )
        blob = self._fernet.encrypt(json.dumps(asdict(draft)).encode("utf-8"))
        try:
            atomic_write(self.folder / f"{draft.id}.draft", blob, private=True)
        except OSError as exc:
            raise InputError(
                f"The draft could not be saved ({exc.strerror or type(exc).__name__}). Check that the disk is "
                "not full, then try again. The text is still on your screen."
            ) from exc
        return draft

    def _read(self, path: Path) -> Draft | None:
        try:
            data = json.loads(self._fernet.decrypt(path.read_bytes()))
            return Draft(**data)
        except (OSError, InvalidToken, ValueError, TypeError):
            self.unreadable += 1
            log.warning("history: a draft file could not be read")
            return None

    def list(self) -> list[Draft]:
        """Newest first. Leftover temporary files from a crash are removed."""
        for tmp in self.folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        self.unreadable = 0
        drafts = [d for d in (self._read(p) for p in self.folder.glob("*.draft")) if d is not None]
        return sorted(drafts, key=lambda d: d.created, reverse=True)

    def get(self, draft_id: str) -> Draft | None:
        if not draft_id.isalnum():
            return None
        path = self.folder / f"{draft_id}.draft"
        return self._read(path) if path.exists() else None

    def purge_expired(self, now: dt.datetime | None = None) -> int:
        """Delete drafts older than the retention period; returns how many."""
        limit = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=self.retention_days)
        removed = 0
        for path in self.folder.glob("*.draft"):
            draft = self._read(path)
            if draft is not None and dt.datetime.fromisoformat(draft.created) < limit:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def delete(self, draft_id: str) -> bool:
        """Delete one kept draft; False when there is no such draft."""
        if not draft_id or not draft_id.isalnum():
            return False
        path = self.folder / f"{draft_id}.draft"
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_all(self, user: str | None = None) -> int:
        """Delete kept drafts; returns how many.

        ``user=None``: every file in the history folder (also unreadable ones and
        leftovers from a crash). ``user="name"``: only that person's drafts; the
        others', and files that cannot be read (whose owner is unknown), stay."""
        if user is None:
            removed = 0
            for path in list(self.folder.glob("*.draft")) + list(self.folder.glob(".*.tmp")):
                path.unlink(missing_ok=True)
                removed += 1
            return removed
        self.unreadable = 0
        removed = 0
        for path in self.folder.glob("*.draft"):
            draft = self._read(path)
            if draft is not None and draft.user == user:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
