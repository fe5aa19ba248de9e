"""Optional staff accounts for shared workstations.

Off until the first account is made (``assistant users add NAME --admin``).
Passwords are hashed with Argon2id (argon2-cffi); five wrong passwords lock
the account for 15 minutes (by an injected clock); sessions (``sessions.py``)
end after idle time, and as soon as their account is removed, gets a new
password or is locked: the guard compares each session's ``stamp`` with the
account's on every request. Stored in ``<data>/accounts.json``, written with
``atomic_write`` (0600) and read again only when its stat changes, so a change
made by ``assistant users ...`` in another process is seen on the next request.
A file that cannot be read raises ``AccountsDamaged``: sign-in stays on and is
refused, never "no accounts". No PHI here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from assistant.errors import AssistantError
from assistant.security.sessions import Sessions
from assistant.store.files import atomic_write

__all__ = ["Account", "AccountStore", "AccountsDamaged", "AuthError", "Sessions", "check_new_account"]

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10
ROLES = ("staff", "admin")
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


class AccountsDamaged(AuthError):
    """Raised when accounts.json cannot be read as staff accounts; nobody can sign in until it is restored."""

    def __init__(self) -> None:
        super().__init__(
            "The staff accounts file is damaged, so nobody can sign in right now. Ask your administrator to "
            "restore accounts.json in the assistant's data folder from a backup (or to remove it and add the "
            "accounts again with: assistant users add NAME --admin)."
        )


class _Shared:
    """What every AccountStore of one file in this process shares: the lock around changes, and the
    parsed file with the stat it was read at (so a request costs one ``stat``, not a parse)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # (stat seen, accounts) replaced in one assignment; accounts None: the file is damaged
        self.cache: tuple[tuple[int, ...], dict[str, Account] | None] | None = None


_SHARED: dict[str, _Shared] = {}
_SHARED_LOCK = threading.Lock()


def _shared(path: Path) -> _Shared:
    key = os.path.abspath(path)
    with _SHARED_LOCK:
        return _SHARED.setdefault(key, _Shared())


def _parse(data: bytes) -> dict[str, Account]:
    """The accounts in the file's bytes, or AccountsDamaged."""
    try:
        raw = json.loads(data.decode("utf-8"))
        entries = raw.get("accounts", {}) if isinstance(raw, dict) else None
        if not isinstance(entries, dict):
            raise ValueError("no accounts object")
        accounts = {name: Account(**value) for name, value in entries.items()}
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        raise AccountsDamaged() from None
    for name, account in accounts.items():
        if (account.name != name or not isinstance(account.password_hash, str) or account.role not in ROLES
                or not isinstance(account.failures, int) or not isinstance(account.locked_until, (int, float))):
            raise AccountsDamaged()
    return accounts


def session_stamp(account: Account) -> str:
    """Changes whenever the account's password or role does (a new hash has a new salt)."""
    return hashlib.sha256(f"{account.role}\0{account.password_hash}".encode()).hexdigest()[:32]


class AccountStore:
    """``clock``: epoch seconds for the lockout (``time.time``; tests pass their own)."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = root / "accounts.json"
        self.clock = clock
        self._shared = _shared(self.path)
        self._lock = self._shared.lock

    def _load(self) -> dict[str, Account]:
        """Fresh copies of the accounts; the file is read again only when its stat changed."""
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                seen = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
                cache = self._shared.cache
                if cache is None or cache[0] != seen:
                    try:
                        cache = (seen, _parse(handle.read()))
                    except AccountsDamaged:
                        cache = (seen, None)
                    self._shared.cache = cache
        except FileNotFoundError:
            self._shared.cache = None
            return {}
        except OSError:
            raise AccountsDamaged() from None
        if cache[1] is None:
            raise AccountsDamaged()
        return {name: replace(account) for name, account in cache[1].items()}

    def _save(self, accounts: dict[str, Account]) -> None:
        data = json.dumps({"version": 1, "accounts": {n: asdict(a) for n, a in accounts.items()}}, indent=2)
        atomic_write(self.path, data, private=True)
        self._shared.cache = None  # read again next time, whatever the file system's clock says

    @property
    def enabled(self) -> bool:
        """Whether sign-in is on. A damaged file counts as on: it never opens the app to everyone."""
        try:
            return bool(self._load())
        except AccountsDamaged:
            return True

    def get(self, name: str) -> Account | None:
        """The account called ``name`` (a copy), or None. Raises AccountsDamaged."""
        return self._load().get(name or "")

    def admins(self) -> list[str]:
        try:
            return sorted(a.name for a in self._load().values() if a.is_admin)
        except AccountsDamaged:
            return []

    def stamp(self, name: str) -> str | None:
        """The account's session stamp, or None when it is gone or locked now (or the file is damaged)."""
        try:
            account = self.get(name)
        except AccountsDamaged:
            return None
        if account is None or account.locked_until > self.clock():
            return None
        return session_stamp(account)

    def names(self) -> list[tuple[str, str, bool]]:
        """(name, role, locked now) for each account."""
        now = self.clock()
        return [(a.name, a.role, a.locked_until > now) for a in sorted(self._load().values(), key=lambda a: a.name)]

    def add(self, name: str, password: str, role: str = "staff") -> Account:
        check_new_account(name, password)
        if role not in ROLES:
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
        """The account, or AuthError. Counts failures and locks after MAX_FAILURES.

        Runs Argon2 (tens of milliseconds): the web guard calls it in a worker thread."""
        with self._lock:
            accounts = self._load()
            account = accounts.get(name or "")
            if account is None:
                _hasher.hash("x" * MIN_PASSWORD)  # same cost either way: no hint that the name exists
                raise AuthError("That user name and password do not match. Try again.")
            now = self.clock()
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


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
