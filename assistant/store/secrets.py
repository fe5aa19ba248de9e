"""Keys the assistant keeps for a practice (the model server's API key): never in settings.json.

Each secret lives in the operating system's key store through ``keyring`` where a real one
exists (Windows Credential Manager, macOS Keychain, the Secret Service on Linux), else in
``<data>/keys/<name>.key``, readable by this user only (0600). Loading looks in both, key store
first, so a key store that turns up later never hides a key saved in the file. Secrets never
reach a log, the support bundle or the browser: callers get the text and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path

from assistant.store.files import atomic_write

log = logging.getLogger(__name__)

KEYRING_SERVICE = "PracticeAssistant"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


def keyring_backend():  # noqa: ANN201 - keyring's backend, or None
    """The OS key store, or None where there is no usable one (a "fail" or "null" backend)."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - no key store at all
        return None
    module = type(backend).__module__
    if isinstance(backend, fail.Keyring) or "fail" in module or "null" in module:
        return None
    return backend


def _account(root: Path, name: str) -> str:
    return f"{name}:{root}"


def _file(root: Path, name: str) -> Path:
    if not _NAME.match(name):
        raise ValueError("a secret's name is lower-case letters, digits and dashes")
    return root / "keys" / f"{name}.key"


def save_secret(root: Path, name: str, value: str, *, use_keyring: bool = True) -> str:
    """Keep ``value`` under ``name``; returns where ("keyring" or "file"). An empty value deletes it."""
    if not value:
        delete_secret(root, name)
        return "none"
    backend = keyring_backend() if use_keyring else None
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, _account(root, name), value)
            with contextlib.suppress(FileNotFoundError):
                _file(root, name).unlink()  # one copy only
            return "keyring"
        except Exception:  # noqa: BLE001 - a locked or broken key store: the file then
            log.warning("the key store refused the %s; it is kept in the data folder instead", name)
    path = _file(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.parent.chmod(0o700)
    atomic_write(path, value, private=True)
    return "file"


def load_secret(root: Path, name: str, *, use_keyring: bool = True) -> str | None:
    """The secret kept under ``name``, or None."""
    backend = keyring_backend() if use_keyring else None
    if backend is not None:
        try:
            stored = backend.get_password(KEYRING_SERVICE, _account(root, name))
            if stored:
                return stored
        except Exception:  # noqa: BLE001 - look in the file
            log.warning("the key store could not be read for the %s", name)
    try:
        return _file(root, name).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def delete_secret(root: Path, name: str) -> None:
    backend = keyring_backend()
    if backend is not None:
        with contextlib.suppress(Exception):
            backend.delete_password(KEYRING_SERVICE, _account(root, name))
    with contextlib.suppress(FileNotFoundError):
        _file(root, name).unlink()
