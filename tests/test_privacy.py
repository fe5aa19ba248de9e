"""Privacy is a test: these fail if an outbound connection gets through, if
anything listens beyond loopback, or if a non-loopback Host is served."""

from __future__ import annotations

import asyncio
import socket

import pytest

from assistant.errors import NetworkRefused
from assistant.security.privacy import OFFLINE_ENV, blocked_attempts, is_loopback, require_loopback
from assistant.web.guard import COOKIE, LaunchGuard


@pytest.mark.parametrize("address", [("93.184.216.34", 80), ("10.0.0.1", 443), ("2606:4700::1111", 443)])
def test_outbound_connection_is_blocked_and_counted(address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    before = len(blocked_attempts())
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(NetworkRefused):
        sock.connect(address)
    assert len(blocked_attempts()) == before + 1


def test_name_lookup_of_outside_host_is_blocked():
    with pytest.raises(NetworkRefused):
        socket.getaddrinfo("huggingface.co", 443)


def test_offline_environment_is_set(monkeypatch):
    import os

    # gradio.Blocks() rewrites HF_HUB_DISABLE_TELEMETRY to "True": the same switch, in other words.
    same = {"1": {"1", "TRUE", "ON", "YES"}, "False": {"FALSE", "0"}}
    for key, value in OFFLINE_ENV.items():
        assert os.environ[key].upper() in same.get(value, {value.upper()}), (key, os.environ[key])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_listening_beyond_loopback_is_refused(host):
    with pytest.raises(NetworkRefused, match="only runs on this computer"):
        require_loopback(host)


def test_loopback_names():
    assert require_loopback("localhost") == "127.0.0.1"
    assert require_loopback("::1") == "::1"
    assert is_loopback("127.0.0.5") and not is_loopback("8.8.8.8")


async def _call(guard, path="/", headers=None, method="GET", query=b""):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path, "query_string": query,
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    await guard(scope, receive, send)
    return sent[0]["status"], dict(sent[0].get("headers", []))


async def _ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def run(coro):
    return asyncio.run(coro)


def test_guard_refuses_other_hosts_dns_rebinding():
    guard = LaunchGuard(_ok_app, token="t0k", port=8000)
    assert run(_call(guard, headers={"host": "evil.example:8000", "authorization": "Bearer t0k"}))[0] == 403
    assert run(_call(guard, headers={"host": "127.0.0.1:9999", "authorization": "Bearer t0k"}))[0] == 403
    assert run(_call(guard, headers={"host": "localhost:8000", "authorization": "Bearer t0k"}))[0] == 200


def test_guard_needs_the_launch_token():
    guard = LaunchGuard(_ok_app, token="t0k", port=8000)
    host = {"host": "127.0.0.1:8000"}
    assert run(_call(guard, headers=host))[0] == 401
    assert run(_call(guard, headers={**host, "authorization": "Bearer wrong"}))[0] == 401
    status, headers = run(_call(guard, headers=host, query=b"token=t0k&__theme=light"))
    assert status == 303 and headers[b"location"] == b"/?__theme=light"
    cookie = headers[b"set-cookie"].decode()
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert run(_call(guard, headers={**host, "cookie": f"{COOKIE}=t0k"}))[0] == 200


def test_guard_refuses_cross_origin_writes():
    guard = LaunchGuard(_ok_app, token="t0k", port=8000)
    headers = {"host": "127.0.0.1:8000", "cookie": f"{COOKIE}=t0k", "origin": "http://evil.example"}
    assert run(_call(guard, headers=headers, method="POST"))[0] == 403
    headers["origin"] = "http://127.0.0.1:8000"
    assert run(_call(guard, headers=headers, method="POST"))[0] == 200
