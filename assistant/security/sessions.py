"""Signed-in browsers, kept in memory by the web guard.

A session ends after ``idle_minutes`` without use, when the browser signs out, or as soon as
its account no longer matches the stamp it was started with (removed, given a new password,
locked): the caller passes ``valid`` and the session is dropped on the first look that fails.
Time comes from an injected ``clock`` (``time.monotonic`` by default), so tests move it by hand.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
Check = Callable[[str, str], bool]  # (user, stamp at sign-in) -> still valid


class Sessions:
    """Signed-in browsers, kept in memory; a session ends after ``idle_minutes`` without use."""

    def __init__(self, idle_minutes: float = 15.0, *, clock: Clock = time.monotonic) -> None:
        self.idle_seconds = idle_minutes * 60
        self.clock = clock
        self._lock = threading.Lock()
        self._live: dict[str, tuple[str, float, str]] = {}  # sid -> (user, last seen, account stamp)

    def start(self, user: str, stamp: str = "") -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._live[sid] = (user, self.clock(), stamp)
        return sid

    def user(self, sid: str | None, touch: bool = True, valid: Check | None = None) -> str | None:
        """The session's user, or None when there is no such session, it has been idle too long, or
        ``valid(user, stamp)`` says its account changed (the session is then ended)."""
        if not sid:
            return None
        with self._lock:
            entry = self._live.get(sid)
            if entry is None:
                return None
            user, seen, stamp = entry
            if self.clock() - seen > self.idle_seconds:
                del self._live[sid]
                return None
        if valid is not None and not valid(user, stamp):  # outside the lock: it may read a file
            self.end(sid)
            return None
        if touch:
            with self._lock:
                if sid in self._live:
                    self._live[sid] = (user, self.clock(), stamp)
        return user

    def end(self, sid: str | None) -> str | None:
        with self._lock:
            entry = self._live.pop(sid or "", None)
        return entry[0] if entry else None

    def end_user(self, user: str) -> int:
        """End every session of ``user``; returns how many."""
        with self._lock:
            ended = [s for s, (u, _, _) in self._live.items() if u == user]
            for sid in ended:
                del self._live[sid]
        return len(ended)
