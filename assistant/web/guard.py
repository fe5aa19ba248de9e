"""An ASGI guard in front of the whole web app (pure ASGI, so streaming is untouched).

1. Host check (DNS rebinding): the Host header must be 127.0.0.1, localhost or
   [::1] with our port; anything else gets 403.
2. Cross-origin writes: a non-GET request whose Origin is not ours gets 403.
3. Launch token, as Jupyter does: ``?token=`` on the first visit sets an
   HttpOnly, SameSite=Strict cookie and redirects to the clean URL; scripts send
   ``Authorization: Bearer <token>``. Anything else gets 401.
4. Staff accounts, when any exist: browsers also need a signed-in session
   (``/login``, ``/logout``; ``/session`` answers whether it is still alive),
   which ends after idle time, and at once when its account is removed, gets a
   new password or is locked (here or by ``assistant users`` in another
   process: accounts.json is checked by its stat on every request, parsed only
   when it changed). The password check (Argon2) runs in a worker thread, so a
   sign-in never stalls other people's streams. A damaged accounts file keeps
   the app closed and the sign-in page says so. The signed-in name reaches
   handlers in the ``x-assistant-user`` header, which callers cannot set themselves.
5. Limits: a request body over ``MAX_BODY`` gets 413 (Gradio itself would read
   any size into memory), and Gradio's file routes never fetch a web address
   (``/file=https://...``, ``/proxy=``): nothing here is ever fetched from outside.

Cookies are read leniently: other programs on this computer can set cookies for
127.0.0.1 too (cookies do not keep ports apart), and one odd cookie of theirs
must not hide ours, nor a stray second ``assistant_token`` replace it.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from assistant.security.accounts import AccountsDamaged, AccountStore, AuthError, Sessions, session_stamp
from assistant.security.audit import AuditLog

COOKIE = "assistant_token"
SESSION_COOKIE = "assistant_session"
USER_HEADER = b"x-assistant-user"
MAX_LOGIN_BODY = 4096
MAX_BODY = 16 * 1024 * 1024  # uploads are capped at 5 MB by Gradio; a typed note is at most 200,000 characters
_REMOTE_FILE = re.compile(r"/(file=|file/|proxy=)\s*([a-z][a-z0-9+.-]+:|//|\\\\)", re.IGNORECASE)
LOGINS_PER_MINUTE = 20
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
    "<title>Practice Assistant</title><body style='font-family:system-ui,sans-serif;max-width:30em;"
    "margin:4em auto;padding:0 1em;line-height:1.5'>{body}</body></html>"
)
_DENIED_401 = PAGE.format(
    body="<h1>Please open the assistant from its icon</h1><p>This page needs the private link the "
    "assistant opens for you. Close this tab and start the assistant from its desktop icon, or use "
    "the link it printed when it started.</p>"
)
# On the app page when accounts are on: back to the sign-in page once the session has ended.
IDLE_SCRIPT = (
    "<script>setInterval(function(){fetch('/session',{credentials:'same-origin'}).then(function(r){"
    "if(r.status===401){window.location.href='/login?expired=1';}});},20000);</script>"
)


def login_page(message: str = "") -> str:
    note = f"<p role=alert style='color:#b91c1c'>{html.escape(message)}</p>" if message else ""
    return PAGE.format(
        body="<h1>Sign in</h1><p>Sign in with your own staff account.</p>" + note
        + "<form method=post action=/login><p><label>User name<br><input name=username autocomplete=username "
        "required autofocus style='font-size:1.1em;width:100%'></label></p><p><label>Password<br>"
        "<input name=password type=password autocomplete=current-password required "
        "style='font-size:1.1em;width:100%'></label></p><p><button type=submit "
        "style='font-size:1.1em;padding:.5em 2em'>Sign in</button></p></form>"
        "<p style='color:#555'>Forgot your password? Ask the practice's admin to set a new one.</p>"
    )


class LaunchGuard:
    def __init__(
        self, app: ASGIApp, token: str, port: int, *, accounts: AccountStore | None = None,
        sessions: Sessions | None = None, audit: AuditLog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.token = token
        self.port = port
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.accounts = accounts
        self.sessions = sessions or Sessions()
        self.audit = audit
        self._logins: list[float] = []
        self._login_lock = threading.Lock()
        self._clock = clock  # for the sign-in rate limit

    def _current(self, user: str, stamp: str) -> bool:
        """Whether the account behind a session is unchanged since sign-in (not removed, same
        password and role, not locked)."""
        return self.accounts is not None and self.accounts.stamp(user) == stamp

    def _damaged(self) -> str:
        """The damaged-file message, or "" when accounts.json reads fine."""
        try:
            if self.accounts is not None:
                self.accounts.get("")
        except AccountsDamaged as exc:
            return exc.message
        return ""

    def _valid(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def _any_valid(self, candidates: list[str]) -> bool:
        return any(self._valid(c) for c in candidates)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw_headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != USER_HEADER]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        method = scope.get("method", "GET")
        if headers.get("host", "").lower() not in self.hosts:
            await _respond(send, scope, 403, "This address is not allowed. Open the assistant from its icon.")
            return
        origin = headers.get("origin")
        if origin and origin.lower() not in self.origins and method not in ("GET", "HEAD"):
            await _respond(send, scope, 403, "Requests from other web sites are refused.")
            return
        if _REMOTE_FILE.search(scope.get("path", "")):
            await _respond(send, scope, 403, "Files are only served from this computer's own folders.")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        cookies = _cookies(headers.get("cookie", ""))
        bearer = headers.get("authorization", "")
        bearer = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        if self._valid(query.get("token")) and scope["type"] == "http" and method == "GET":
            rest = {k: v for k, v in query.items() if k != "token"}
            location = scope.get("path", "/") + ("?" + urlencode(rest) if rest else "")
            await _redirect(send, location, f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/")
            return
        if self._valid(bearer):  # a script started by whoever holds the launch token
            await _limited(self.app, {**scope, "headers": raw_headers}, receive, send, headers)
            return
        if not self._any_valid(cookies.get(COOKIE, [])):
            await _respond(send, scope, 401, _DENIED_401, html_page=True)
            return
        if self.accounts is None or not self.accounts.enabled:
            await _limited(self.app, {**scope, "headers": raw_headers}, receive, send, headers)
            return
        await self._with_account(scope, receive, send, raw_headers, cookies)

    async def _with_account(self, scope: Scope, receive: Callable, send: Callable, raw_headers: list,
                            cookies: dict[str, list[str]]) -> None:
        path, method = scope.get("path", "/"), scope.get("method", "GET")
        sids = cookies.get(SESSION_COOKIE, [])
        sid = next((s for s in sids if self.sessions.user(s, touch=False, valid=self._current)),
                   sids[-1] if sids else None)
        if scope["type"] == "http" and path == "/login":
            if method == "POST":
                await self._login(receive, send)
            else:
                expired = "expired" in scope.get("query_string", b"").decode("latin-1")
                note = self._damaged() or ("You were signed out after a while without use." if expired else "")
                await _respond(send, scope, 200, login_page(note), html_page=True)
            return
        if scope["type"] == "http" and path == "/logout":
            user = self.sessions.end(sid)
            if user and self.audit:
                self.audit.record("logout", user=user)
            await _redirect(send, "/login", f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
            return
        if scope["type"] == "http" and path == "/session":
            user = self.sessions.user(sid, touch=False, valid=self._current)
            await _respond(send, scope, 200 if user else 401, json.dumps({"user": user}), content_type=b"application/json")
            return
        user = self.sessions.user(sid, valid=self._current)
        if user is None:
            if scope["type"] == "http" and method == "GET" and path in ("/", ""):
                await _redirect(send, "/login")
            else:
                await _respond(send, scope, 401, "Please sign in again.")
            return
        headers = [*raw_headers, (USER_HEADER, user.encode("latin-1", "replace"))]
        await _limited(self.app, {**scope, "headers": headers}, receive, send,
                       {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers})

    async def _login(self, receive: Callable, send: Callable) -> None:
        with self._login_lock:
            now = self._clock()
            self._logins = [t for t in self._logins if now - t < 60]
            flooded = len(self._logins) >= LOGINS_PER_MINUTE
            self._logins.append(now)
        if flooded:
            await _respond(send, {"type": "http"}, 429, login_page("Too many sign-in attempts. Wait a minute, then try again."), html_page=True)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_LOGIN_BODY:
                await _respond(send, {"type": "http"}, 413, login_page("That request was too large."), html_page=True)
                return
            if not message.get("more_body"):
                break
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        name, password = form.get("username", "").strip(), form.get("password", "")
        assert self.accounts is not None
        try:  # Argon2 takes tens of milliseconds: off the event loop, so streams go on meanwhile
            account = await asyncio.to_thread(self.accounts.authenticate, name, password)
        except AccountsDamaged as exc:
            await _respond(send, {"type": "http"}, 503, login_page(exc.message), html_page=True)
            return
        except AuthError as exc:
            if self.audit:
                locked = "locked" in exc.message
                self.audit.record("account_locked" if locked and "Too many" in exc.message else "login_failed", user=name[:40])
            await _respond(send, {"type": "http"}, 401, login_page(exc.message), html_page=True)
            return
        sid = self.sessions.start(account.name, session_stamp(account))
        if self.audit:
            self.audit.record("login", user=account.name)
        await _redirect(send, "/", f"{SESSION_COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/")


def _cookies(header: str) -> dict[str, list[str]]:
    """Every value of every cookie, in the order sent. Lenient, as browsers are: a part that is
    not ``name=value`` is skipped, not a reason to drop the rest (``SimpleCookie`` drops them all)."""
    jar: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        jar.setdefault(name, []).append(value)
    return jar


async def _limited(app: ASGIApp, scope: Scope, receive: Callable, send: Callable, headers: dict[str, str]) -> None:
    """Pass the request on, refusing a body over ``MAX_BODY`` with 413: at once when its declared
    length is too large, else as soon as that much has arrived (the app then sees a disconnect)."""
    if scope["type"] != "http" or scope.get("method", "GET") in ("GET", "HEAD"):
        await app(scope, receive, send)
        return
    declared = headers.get("content-length", "").strip()
    if declared and (not declared.isdigit() or int(declared) > MAX_BODY):
        await _respond(send, scope, 413 if declared.isdigit() else 400, "That request was too large.")
        return
    seen, too_big, started = 0, False, False

    async def counted() -> Any:
        nonlocal seen, too_big
        if too_big:
            return {"type": "http.disconnect"}
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                too_big = True
                return {"type": "http.disconnect"}
        return message

    async def answer(message: Any) -> None:
        nonlocal started
        if too_big and not started:
            return  # the 413 below answers instead
        started = True
        await send(message)

    try:
        await app(scope, counted, answer)
    except Exception:
        if not too_big:
            raise
    if too_big and not started:
        await _respond(send, scope, 413, "That request was too large.")


async def _redirect(send: Callable, location: str, cookie: str | None = None) -> None:
    headers = [(b"location", location.encode("latin-1")), (b"cache-control", b"no-store")]
    if cookie:
        headers.append((b"set-cookie", cookie.encode("latin-1")))
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _respond(send: Callable, scope: Scope, status: int, text: str, html_page: bool = False,
                   content_type: bytes | None = None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4403 if status == 403 else 4401})
        return
    kind = content_type or (b"text/html; charset=utf-8" if html_page else b"text/plain; charset=utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": text.encode("utf-8")})
