"""Optional staff accounts for shared workstations.

Off until the first account is made (``assistant users add NAME --admin``).
Passwords are hashed with Argon2id (argon2-cffi); five wrong passwords lock
the account for 15 minutes; sessions end after idle time (server-side).
Stored in ``<data>/accounts.json``, written atomically. No PHI here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from assistant.errors import AssistantError

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,39}$")
_hasher = PasswordHasher()  # Argon2id with the library's current defaults


class AuthError(AssistantError):
    """Raised when a sign-in or an account change is refused; the message is safe to show."""


@dataclass
class Account:
    name: str
    password_hash: str
    role: str = "staff"  # staff | admin
    failures: int = 0
    locked_until: float = 0.0  # epoch seconds

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class AccountStore:
    def __init__(self, root: Path) -> None:
        self.path = root / "accounts.json"
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Account]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {name: Account(**data) for name, data in raw.get("accounts", {}).items()}

    def _save(self, accounts: dict[str, Account]) -> None:
        tmp = self.path.with_name(".accounts.json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "accounts": {n: asdict(a) for n, a in accounts.items()}}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)

    @property
    def enabled(self) -> bool:
        return bool(self._load())

    def names(self) -> list[tuple[str, str, bool]]:
        """(name, role, locked now) for each account."""
        now = time.time()
        return [(a.name, a.role, a.locked_until > now) for a in sorted(self._load().values(), key=lambda a: a.name)]

    def add(self, name: str, password: str, role: str = "staff") -> Account:
        check_new_account(name, password)
        if role not in ("staff", "admin"):
            raise AuthError("The role must be staff or admin.")
        with self._lock:
            accounts = self._load()
            if name.lower() in {n.lower() for n in accounts}:
                raise AuthError(f"There is already an account called {name}.")
            if not accounts and role != "admin":
                raise AuthError("The first account must be an admin, so someone can manage the others.")
            account = Account(name=name, password_hash=_hasher.hash(password), role=role)
            accounts[name] = account
            self._save(accounts)
        return account

    def remove(self, name: str) -> None:
        with self._lock:
            accounts = self._load()
            if name not in accounts:
                raise AuthError(f"There is no account called {name}.")
            admins = [a for a in accounts.values() if a.is_admin]
            if accounts[name].is_admin and len(admins) == 1 and len(accounts) > 1:
                raise AuthError("This is the last admin. Make another admin first.")
            del accounts[name]
            self._save(accounts)

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        with self._lock:
            accounts = self._load()
            if name not in accounts:
                raise AuthError(f"There is no account called {name}.")
            accounts[name].password_hash = _hasher.hash(password)
            accounts[name].failures, accounts[name].locked_until = 0, 0.0
            self._save(accounts)

    def unlock(self, name: str) -> None:
        with self._lock:
            accounts = self._load()
            if name in accounts:
                accounts[name].failures, accounts[name].locked_until = 0, 0.0
                self._save(accounts)

    def authenticate(self, name: str, password: str) -> Account:
        """The account, or AuthError. Counts failures and locks after MAX_FAILURES."""
        with self._lock:
            accounts = self._load()
            account = accounts.get(name or "")
            if account is None:
                _hasher.hash("x" * MIN_PASSWORD)  # same cost either way: no hint that the name exists
                raise AuthError("That user name and password do not match. Try again.")
            now = time.time()
            if account.locked_until > now:
                minutes = max(1, round((account.locked_until - now) / 60))
                raise AuthError(f"This account is locked after too many wrong passwords. Try again in {minutes} "
                                "minute(s), or ask an admin to unlock it.")
            try:
                _hasher.verify(account.password_hash, password or "")
            except (VerificationError, InvalidHashError):
                account.failures += 1
                locked = account.failures >= MAX_FAILURES
                if locked:
                    account.locked_until = now + LOCK_MINUTES * 60
                    account.failures = 0
                self._save(accounts)
                if locked:
                    raise AuthError(f"Too many wrong passwords: this account is locked for {LOCK_MINUTES} minutes.") from None
                raise AuthError("That user name and password do not match. Try again.") from None
            if account.failures:
                account.failures = 0
                self._save(accounts)
            return account


def check_new_account(name: str, password: str) -> None:
    """AuthError with a plain message when a user name or password cannot be used."""
    if not NAME_PATTERN.match(name or ""):
        raise AuthError("A user name is 2 to 40 letters, digits or . _ @ -, starting with a letter or digit.")
    _check_password(password)


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise AuthError(f"A password needs at least {MIN_PASSWORD} characters. A short sentence works well.")


class Sessions:
    """Signed-in browsers, kept in memory; a session ends after ``idle_minutes`` without use."""

    def __init__(self, idle_minutes: float = 15.0) -> None:
        self.idle_seconds = idle_minutes * 60
        self._lock = threading.Lock()
        self._live: dict[str, tuple[str, float]] = {}

    def start(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._live[sid] = (user, time.monotonic())
        return sid

    def user(self, sid: str | None, touch: bool = True) -> str | None:
        if not sid:
            return None
        with self._lock:
            entry = self._live.get(sid)
            if entry is None:
                return None
            user, seen = entry
            if time.monotonic() - seen > self.idle_seconds:
                del self._live[sid]
                return None
            if touch:
                self._live[sid] = (user, time.monotonic())
            return user

    def end(self, sid: str | None) -> str | None:
        with self._lock:
            entry = self._live.pop(sid or "", None)
        return entry[0] if entry else None

    def end_user(self, user: str) -> None:
        with self._lock:
            for sid in [s for s, (u, _) in self._live.items() if u == user]:
                del self._live[sid]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
