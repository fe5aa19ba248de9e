"""One copy per user: the lock held while a copy serves, and the record a second start reads.

* ``InstanceLock``: an operating-system lock on ``<data>/instance.lock``, held while a copy
  serves; released when the process ends, whatever the way.
* ``instance.json`` beside it (readable by the user only) records the running copy's port and
  launch token, so a second start opens the browser on the first copy instead of starting
  another. A record is trusted only if the locked copy answers on it with its token.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from assistant.store.config import LOOPBACK_HOST
from assistant.store.files import atomic_write

APP_ID = "practice-assistant"
LOCK_NAME = "instance.lock"
RECORD_NAME = "instance.json"
WAIT_FOR_OTHER_S = 30.0  # a second start waits this long for a first copy that is still starting


class InstanceLock:
    """A non-blocking exclusive lock on a file; released when the process ends, whatever the way."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+b")
        try:
            if sys.platform == "win32":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None


@dataclass(frozen=True)
class Instance:
    pid: int
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}/?token={self.token}"


def write_record(root: Path, instance: Instance) -> None:
    """Write instance.json so only this user can read it (it holds the launch token)."""
    record = {"app": APP_ID, "pid": instance.pid, "port": instance.port, "token": instance.token}
    atomic_write(root / RECORD_NAME, json.dumps(record), private=True)


def read_record(root: Path) -> Instance | None:
    try:
        raw = json.loads((root / RECORD_NAME).read_text(encoding="utf-8"))
        return Instance(pid=int(raw["pid"]), port=int(raw["port"]), token=str(raw["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_record(root: Path) -> None:
    (root / RECORD_NAME).unlink(missing_ok=True)


def answers(instance: Instance, timeout: float = 2.0) -> bool:
    """True if our app answers on the recorded port and accepts the recorded token."""
    import http.client

    connection = http.client.HTTPConnection(LOOPBACK_HOST, instance.port, timeout=timeout)
    try:
        connection.request("GET", "/instance", headers={"Authorization": f"Bearer {instance.token}",
                                                       "Host": f"{LOOPBACK_HOST}:{instance.port}"})
        response = connection.getresponse()
        body = response.read(4096)
        return response.status == 200 and json.loads(body).get("app") == APP_ID
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def find_running(root: Path, wait: float = WAIT_FOR_OTHER_S) -> Instance | None:
    """The copy holding the lock, once it answers; None if it does not answer within ``wait``."""
    deadline = time.monotonic() + wait
    while True:
        instance = read_record(root)
        if instance is not None and answers(instance):
            return instance
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)
