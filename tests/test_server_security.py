"""Attacks on the real server over HTTP: file-route path traversal, fetches of
outside addresses, malformed cookies and Authorization headers, and oversized
bodies. Each is refused cleanly and the server keeps serving.

Requests that must reach the server byte for byte (``..`` in a path, a header
value httpx would refuse) go over a plain socket, so no client library tidies
them up first.
"""

from __future__ import annotations

import os
import socket

import httpx
import pytest

from assistant.app.services import build_services
from assistant.engine.fake import FakeBackend
from assistant.security.privacy import blocked_attempts
from assistant.store.config import Config
from assistant.web.app import build_app
from assistant.web.guard import COOKIE, MAX_BODY
from assistant.web.server import serve

OUTSIDE = "OUTSIDE-SECRET-4417"
ALLOWED = "ALLOWED-EXPORT-2290"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    """One server for the module (as the app runs it: downloads served from <data>/tmp only)."""
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("ASSISTANT_HOME")
    os.environ["ASSISTANT_HOME"] = str(home)
    try:
        config = Config.load()
        services = build_services(config, FakeBackend(reply="Draft text."))
        running = serve(build_app(services), 0, background=True, audit=services.audit, files_dir=config.paths.tmp)
    finally:
        if old is None:
            os.environ.pop("ASSISTANT_HOME", None)
        else:
            os.environ["ASSISTANT_HOME"] = old
    exports = config.paths.tmp / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "progress-note-2026-01-02.txt").write_text(ALLOWED)
    outside = tmp_path_factory.mktemp("outside") / "notes.txt"
    outside.write_text(OUTSIDE)
    (exports / "link.txt").symlink_to(config.paths.root / "history.key")
    yield running, config.paths.root, outside
    running.stop()


def raw(port: int, target: str, headers: list[tuple[str, bytes]] | None = None, method: str = "GET",
        body: bytes = b"") -> tuple[int, bytes]:
    """Send one request exactly as written; (status, body). Status 0: the server closed without answering."""
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), f"Host: 127.0.0.1:{port}".encode(), b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers or []]
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if not answer:
        return 0, b""
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


def bearer(running) -> list[tuple[str, bytes]]:
    return [("Authorization", f"Bearer {running.token}".encode())]


def expected_refusal(header_value: bytes) -> int:
    """401 from the guard; 400 from the HTTP parser for a control character it refuses to read."""
    return 400 if b"\x00" in header_value else 401


def still_serving(running) -> None:
    status, body = raw(running.port, "/config", bearer(running))
    assert status == 200 and b"components" in body


# ---------------------------------------------------------------- file routes


def test_a_file_in_the_allowed_folder_is_served(site):
    """The control: the file route works, so the refusals below are refusals."""
    running, root, _ = site
    status, body = raw(running.port, f"/gradio_api/file={root}/tmp/exports/progress-note-2026-01-02.txt", bearer(running))
    assert status == 200 and ALLOWED.encode() in body


@pytest.mark.parametrize("target", [
    "/file=../../../../../../etc/passwd",
    "/gradio_api/file=../../../../../../etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=%2Fetc%2Fpasswd",
    "/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/gradio_api/file=..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/gradio_api/file/etc/passwd",
    "/gradio_api/file=//etc/passwd",
    "/assets/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "{outside}",
    "{root}/history.key",
    "{root}/audit/audit.jsonl",
    "{root}/settings.json",
    "{root}/tmp/exports/../../history.key",
    "{root}/tmp/exports/%2e%2e/%2e%2e/history.key",
    "{root}/tmp/exports/link.txt",  # a link inside the allowed folder to a file outside it
])
def test_file_routes_serve_nothing_outside_the_allowed_folder(site, target):
    running, root, outside = site
    if target.startswith("{"):
        target = "/gradio_api/file=" + target.format(outside=outside, root=root)
    secrets = [b"root:x:0:0", OUTSIDE.encode(), (root / "history.key").read_bytes().strip()]
    for attempt in (target, target.replace("/gradio_api/file=", "/file=", 1)):
        status, body = raw(running.port, attempt, bearer(running))
        assert status != 200 and status != 0, attempt
        assert not any(s in body for s in secrets), attempt
    still_serving(running)


@pytest.mark.parametrize("target", [
    "/gradio_api/file=http://example.com/logo.png",
    "/gradio_api/file=https://example.com/logo.png",
    "/gradio_api/file=HTTPS://example.com/logo.png",
    "/gradio_api/file=http%3A%2F%2Fexample.com%2Flogo.png",
    "/gradio_api/file=//example.com/logo.png",
    "/gradio_api/proxy=https://example.com/logo.png",
])
def test_file_routes_never_fetch_an_outside_address(site, target):
    """Gradio would fetch a web address given to its file route; here the guard refuses it before
    anything is looked up (the egress guard would only catch it afterwards)."""
    running, _, _ = site
    before = len(blocked_attempts())
    status, _ = raw(running.port, target, bearer(running))
    assert status == 403
    assert len(blocked_attempts()) == before, "the server tried to reach the internet"
    still_serving(running)


# ---------------------------------------------------------------- cookies and Authorization


@pytest.mark.parametrize("cookie", [
    b"assistant_token=garbage",
    b"assistant_token=",
    b"assistant_token",
    b"assistant_token=" + b"A" * 60_000,
    "assistant_token=t\u00f6ken-\u2603".encode(),
    b"assistant_token=\xff\xfe\x00junk",  # the HTTP parser refuses a NUL byte: 400
    b"assistant_token=garbage; assistant_token=more-garbage",
    b"a=1; b=2; assistant_token=x; c=3",
    b'assistant_token="unterminated',
    b"=;;; ;=; assistant_token",
    b"ASSISTANT_TOKEN=garbage",
])
def test_malformed_cookies_get_401_and_the_server_keeps_serving(site, cookie):
    running, _, _ = site
    status, body = raw(running.port, "/", [("Cookie", cookie)])
    assert status == expected_refusal(cookie) or (len(cookie) > 50_000 and status == 431)
    assert b"Traceback" not in body
    still_serving(running)


@pytest.mark.parametrize("cookie", [
    "other_app={{\"theme\": \"dark\"}}; {COOKIE}={token}",  # JSON from another program on this computer
    "greeting=hello there; {COOKIE}={token}",  # a space in someone else's value
    "caf\u00e9=1; {COOKIE}={token}",  # a non-ASCII cookie name
    "{COOKIE}={token}; {COOKIE}=stale",  # a stray second one (e.g. set by another port's page)
    "{COOKIE}=stale; {COOKIE}={token}",
    "x=\"unterminated; {COOKIE}={token}",
])
def test_our_cookie_still_works_next_to_other_programs_cookies(site, cookie):
    """Cookies do not keep ports apart: other programs on 127.0.0.1 can send theirs along. An odd one
    of theirs must not lock staff out (Python's SimpleCookie drops every cookie after one it dislikes)."""
    running, _, _ = site
    header = cookie.format(COOKIE=COOKIE, token=running.token).encode("utf-8")
    status, _ = raw(running.port, "/config", [("Cookie", header)])
    assert status == 200


@pytest.mark.parametrize("value", [
    b"Bearer",
    b"Bearer ",
    b"Bearer garbage",
    b"bearer garbage",
    b"Basic dXNlcjpwYXNz",
    b"Token {token}",
    b"{token}",
    b"Bearer {token}x",
    b"Bearer x{token}",
    b"Bearer {short}",
    b"Bearer " + b"B" * 60_000,
    "Bearer t\u00f6ken".encode(),
    b"Bearer \xff\xfe\x00",
    b"Bearer\t{token}garbage",
])
def test_malformed_authorization_gets_401_and_the_server_keeps_serving(site, value):
    running, _, _ = site
    value = value.replace(b"{token}", running.token.encode()).replace(b"{short}", running.token[:-1].encode())
    status, body = raw(running.port, "/config", [("Authorization", value)])
    assert status == expected_refusal(value) or (len(value) > 50_000 and status == 431)
    assert b"Traceback" not in body and b"components" not in body
    still_serving(running)


# ---------------------------------------------------------------- body size


def test_oversized_bodies_are_refused_and_the_server_keeps_serving(site):
    running, _, _ = site
    base = f"http://127.0.0.1:{running.port}"
    auth = {"Authorization": f"Bearer {running.token}", "Content-Type": "application/json"}
    big = b"x" * (MAX_BODY + 1024)
    with httpx.Client(base_url=base, timeout=60) as http:
        declared = http.post("/gradio_api/queue/join", content=big, headers=auth)
        assert declared.status_code == 413
        chunks = (big[i:i + 65536] for i in range(0, len(big), 65536))  # no length given: counted as it arrives
        streamed = http.post("/gradio_api/queue/join", content=chunks, headers=auth)
        assert streamed.status_code == 413
        upload = http.post("/gradio_api/upload", files={"files": ("a.txt", b"y" * (6 * 1024 * 1024))},
                           headers={"Authorization": auth["Authorization"]})
        assert upload.status_code == 413, "uploads over 5 MB are refused"
        # without the token, a large body is refused before it is read
        assert http.post("/gradio_api/queue/join", content=big).status_code == 401
        # a large but reasonable request still gets through to the app
        normal = http.post("/gradio_api/queue/join", content=b'{"data": ["' + b"n" * 1_000_000 + b'"]}', headers=auth)
        assert normal.status_code != 413
    status, _ = raw(running.port, "/gradio_api/queue/join", bearer(running), method="POST", body=b"{" * 2_000_000)
    assert status not in (0, 413, 500)
    still_serving(running)
