"""Staff accounts: Argon2 hashes, lockout after five wrong passwords, idle
logoff, and the sign-in flow through the real server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from assistant.app.services import build_services
from assistant.cli import main
from assistant.engine.fake import FakeBackend
from assistant.security.accounts import AccountStore, AuthError, Sessions
from assistant.store.config import Config
from assistant.web.app import build_app
from assistant.web.server import serve

PASSWORD = "correct horse battery"


def test_passwords_are_argon2_hashes(tmp_path: Path):
    store = AccountStore(tmp_path)
    store.add("morgan", PASSWORD, "admin")
    raw = (tmp_path / "accounts.json").read_text()
    assert PASSWORD not in raw and "$argon2id$" in raw
    assert oct((tmp_path / "accounts.json").stat().st_mode)[-3:] == "600"
    assert store.authenticate("morgan", PASSWORD).is_admin


def test_first_account_is_admin_and_short_passwords_are_refused(tmp_path: Path):
    store = AccountStore(tmp_path)
    with pytest.raises(AuthError, match="first account must be an admin"):
        store.add("sam", PASSWORD)
    with pytest.raises(AuthError, match="at least 10 characters"):
        store.add("sam", "short", "admin")


def test_five_wrong_passwords_lock_the_account(tmp_path: Path):
    store = AccountStore(tmp_path)
    store.add("morgan", PASSWORD, "admin")
    for _ in range(4):
        with pytest.raises(AuthError, match="do not match"):
            store.authenticate("morgan", "wrong password!")
    with pytest.raises(AuthError, match="locked for 15 minutes"):
        store.authenticate("morgan", "wrong password!")
    with pytest.raises(AuthError, match="locked"):
        store.authenticate("morgan", PASSWORD)  # even the right password, while locked
    store.unlock("morgan")
    assert store.authenticate("morgan", PASSWORD).name == "morgan"


def test_idle_sessions_expire():
    now = [100.0]
    sessions = Sessions(idle_minutes=0.01, clock=lambda: now[0])
    sid = sessions.start("morgan")
    assert sessions.user(sid) == "morgan"
    now[0] += 0.8  # past the 0.6 s idle limit, moved by hand rather than slept
    assert sessions.user(sid) is None


def test_cli_users(assistant_home: Path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "morgan", "--admin"]) == 0
    assert main(["users", "list"]) == 0
    assert "morgan" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "sam"]) == 2
    assert "at least 10 characters" in capsys.readouterr().out


@pytest.fixture
def server_with_accounts(assistant_home: Path):
    config = Config.load()
    accounts = AccountStore(config.paths.root)
    accounts.add("morgan", PASSWORD, "admin")
    services = build_services(config, FakeBackend(reply="Draft text."))
    running = serve(build_app(services), 0, background=True, accounts=accounts, audit=services.audit)
    yield running, config
    running.stop()


def test_sign_in_flow_and_audit(server_with_accounts):
    running, config = server_with_accounts
    base = f"http://127.0.0.1:{running.port}"
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        first = browser.get("/", params={"token": running.token})
        assert first.status_code == 303
        page = browser.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert browser.get("/config").status_code == 401
        login = browser.get("/login")
        assert "Sign in" in login.text and "http" not in login.text.replace("http-equiv", "")
        bad = browser.post("/login", data={"username": "morgan", "password": "nope nope nope"})
        assert bad.status_code == 401 and "do not match" in bad.text
        good = browser.post("/login", data={"username": "morgan", "password": PASSWORD})
        assert good.status_code == 303
        assert browser.get("/").status_code == 200
        assert browser.get("/session").json() == {"user": "morgan"}
        # a caller cannot claim to be someone else
        assert browser.get("/session", headers={"x-assistant-user": "admin"}).json() == {"user": "morgan"}
        assert browser.get("/logout").status_code == 303
        assert browser.get("/session").status_code == 401
    events = [json.loads(x)["event"] for x in (config.paths.root / "audit" / "audit.jsonl").read_text().splitlines()]
    assert ["login_failed", "login", "logout"] == [e for e in events if e.startswith("log")]


def test_login_flood_and_oversized_body_are_refused_and_server_keeps_serving(server_with_accounts):
    running, _ = server_with_accounts
    base = f"http://127.0.0.1:{running.port}"
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        browser.get("/", params={"token": running.token})
        huge = browser.post("/login", content=b"username=" + b"a" * 10_000,
                            headers={"content-type": "application/x-www-form-urlencoded"})
        assert huge.status_code == 413
        codes = [browser.post("/login", data={"username": f"u{i}", "password": "x" * 12}).status_code for i in range(25)]
        assert 429 in codes
        assert browser.get("/login").status_code == 200
