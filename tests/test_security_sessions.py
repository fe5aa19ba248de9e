"""The sign-in seams in front of the app, driven in-process through the ASGI guard: a session
ends as soon as its account is removed, gets a new password or is locked (also when another
process changed accounts.json); accounts.json is read only when it changed; the password hash
runs off the event loop; a damaged accounts file refuses sign-in in plain words; idle expiry and
the 15-minute lockout follow an injected clock."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest

from assistant.security import accounts as accounts_module
from assistant.security.accounts import LOCK_MINUTES, AccountStore, AuthError, Sessions
from assistant.web.guard import COOKIE, SESSION_COOKIE, LaunchGuard

PASSWORD = "correct horse battery"
TOKEN = "launch-token-for-tests"
PORT = 8123


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def inner_app(scope, receive, send) -> None:
    """Stands for the Gradio app: answers with the signed-in name it was handed."""
    user = dict(scope["headers"]).get(b"x-assistant-user", b"")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app:" + user})


async def call(guard, method: str, path: str, cookie: str = "", form: dict | None = None) -> tuple[int, dict, str]:
    body = urlencode(form).encode() if form else b""
    headers = [(b"host", f"127.0.0.1:{PORT}".encode()), (b"cookie", cookie.encode())]
    if form:
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers}
    inbox = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await guard(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, text


class Browser:
    """One browser: the launch cookie, plus the session cookie once signed in."""

    def __init__(self, guard: LaunchGuard) -> None:
        self.guard, self.session = guard, ""

    @property
    def cookie(self) -> str:
        return f"{COOKIE}={TOKEN}" + (f"; {SESSION_COOKIE}={self.session}" if self.session else "")

    def get(self, path: str = "/config") -> tuple[int, dict, str]:
        return asyncio.run(call(self.guard, "GET", path, self.cookie))

    def sign_in(self, name: str, password: str = PASSWORD) -> tuple[int, dict, str]:
        status, headers, text = asyncio.run(call(self.guard, "POST", "/login", self.cookie,
                                                 {"username": name, "password": password}))
        if status == 303:
            self.session = headers["set-cookie"].split(";")[0].split("=", 1)[1]
        return status, headers, text


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = AccountStore(tmp_path)
    store.add("morgan", PASSWORD, "admin")
    store.add("sam", PASSWORD, "staff")
    return tmp_path


def guarded(root: Path, **kw) -> LaunchGuard:
    return LaunchGuard(inner_app, token=TOKEN, port=PORT, accounts=AccountStore(root), **kw)


# ---------------------------------------------------------------- bug 1: account changes end sessions


@pytest.mark.parametrize("change", ["remove", "passwd", "lock"])
def test_an_account_change_ends_its_live_sessions_at_once(root: Path, change: str):
    guard = guarded(root)
    sam, morgan = Browser(guard), Browser(guard)
    assert sam.sign_in("sam")[0] == 303 and morgan.sign_in("morgan")[0] == 303
    assert sam.get() == (200, {}, "app:sam")
    elsewhere = AccountStore(root)  # the accounts panel, or `assistant users ...` in another process
    if change == "remove":
        elsewhere.remove("sam")
    elif change == "passwd":
        elsewhere.set_password("sam", "a brand new passphrase")
    else:
        for _ in range(5):
            with pytest.raises(AuthError):
                elsewhere.authenticate("sam", "wrong password!")
    status, _, _ = sam.get()
    assert status == 401, f"sam's session still works after {change}"
    assert sam.get("/session")[0] == 401
    assert morgan.get()[2] == "app:morgan", "other people's sessions go on"


def test_unlocking_or_a_new_sign_in_after_a_change_works_again(root: Path):
    guard = guarded(root)
    sam = Browser(guard)
    sam.sign_in("sam")
    AccountStore(root).set_password("sam", "a brand new passphrase")
    assert sam.get()[0] == 401
    assert sam.sign_in("sam", "a brand new passphrase")[0] == 303
    assert sam.get()[2] == "app:sam"


# ---------------------------------------------------------------- bug 3: cache, thread, damaged file


def test_accounts_file_is_parsed_only_when_it_changed(root: Path, monkeypatch):
    guard = guarded(root)
    morgan = Browser(guard)
    assert morgan.sign_in("morgan")[0] == 303
    parses = []
    real_loads = json.loads

    def counting(text, *a, **kw):
        value = real_loads(text, *a, **kw)
        if isinstance(value, dict) and "accounts" in value:
            parses.append(1)
        return value

    monkeypatch.setattr(accounts_module.json, "loads", counting)
    for _ in range(10):
        assert morgan.get()[0] == 200
    assert len(parses) == 0, f"accounts.json was parsed {len(parses)} times for 10 requests"
    AccountStore(root).add("riley", PASSWORD, "staff")  # changed on disk: read again, once
    for _ in range(5):
        assert morgan.get()[0] == 200
    assert len(parses) == 1


class SlowStore(AccountStore):
    """An account store whose password check waits until the test lets it finish."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.entered, self.release, self.order = threading.Event(), threading.Event(), []

    def authenticate(self, name: str, password: str):
        self.entered.set()
        self.release.wait(5)
        self.order.append("password checked")
        return super().authenticate(name, password)


def test_password_hash_runs_off_the_event_loop(root: Path):
    store = SlowStore(root)
    guard = LaunchGuard(inner_app, token=TOKEN, port=PORT, accounts=store)

    async def scenario() -> tuple[int, int]:
        login = asyncio.create_task(call(guard, "POST", "/login", f"{COOKIE}={TOKEN}",
                                         {"username": "sam", "password": PASSWORD}))
        await asyncio.to_thread(store.entered.wait, 5)
        other = await call(guard, "GET", "/login", f"{COOKIE}={TOKEN}")  # another browser meanwhile
        store.order.append("other request answered")
        store.release.set()
        return other[0], (await login)[0]

    assert asyncio.run(scenario()) == (200, 303)
    assert store.order == ["other request answered", "password checked"], "the sign-in stalled the event loop"


def test_a_damaged_accounts_file_refuses_sign_in_in_plain_words(root: Path):
    guard = guarded(root)
    signed = Browser(guard)
    assert signed.sign_in("morgan")[0] == 303
    (root / "accounts.json").write_text('{"version": 1, "accounts": {"morgan": {"name": ')
    status, _, text = Browser(guard).sign_in("morgan")
    assert status in (401, 503) and "accounts file is damaged" in text and "administrator" in text
    assert "Traceback" not in text
    assert Browser(guard).get("/login")[2].count("accounts file is damaged") == 1
    assert Browser(guard).get()[0] == 401, "a damaged file is not 'no accounts': the app stays closed"
    assert signed.get()[0] == 401, "no session can be checked against a damaged file"
    assert AccountStore(root).enabled
    with pytest.raises(AuthError, match="damaged"):
        AccountStore(root).add("riley", PASSWORD, "staff")
    assert "morgan" in (root / "accounts.json").read_text(), "the damaged file is left for the admin to restore"


# ---------------------------------------------------------------- bug 7: an injected clock


def test_idle_sessions_expire_by_the_clock():
    clock = Clock()
    sessions = Sessions(idle_minutes=15, clock=clock)
    sid = sessions.start("morgan")
    clock.advance(14 * 60)
    assert sessions.user(sid) == "morgan"  # use renews it
    clock.advance(14 * 60)
    assert sessions.user(sid) == "morgan"
    clock.advance(15 * 60 + 1)
    assert sessions.user(sid) is None


def test_lockout_lasts_fifteen_minutes_by_the_clock(tmp_path: Path):
    clock = Clock()
    store = AccountStore(tmp_path, clock=clock)
    store.add("morgan", PASSWORD, "admin")
    for _ in range(4):
        with pytest.raises(AuthError, match="do not match"):
            store.authenticate("morgan", "wrong password!")
    with pytest.raises(AuthError, match=f"locked for {LOCK_MINUTES} minutes"):
        store.authenticate("morgan", "wrong password!")
    clock.advance(LOCK_MINUTES * 60 - 30)
    assert store.names() == [("morgan", "admin", True)]
    with pytest.raises(AuthError, match="Try again in 1 minute"):
        store.authenticate("morgan", PASSWORD)
    clock.advance(31)
    assert store.names() == [("morgan", "admin", False)]
    assert store.authenticate("morgan", PASSWORD).name == "morgan"


def test_the_guard_expires_an_idle_session_by_the_clock(root: Path):
    clock = Clock()
    guard = guarded(root, sessions=Sessions(idle_minutes=15, clock=clock))
    sam = Browser(guard)
    sam.sign_in("sam")
    clock.advance(10 * 60)
    assert sam.get()[0] == 200
    clock.advance(15 * 60 + 1)
    assert sam.get()[0] == 401
