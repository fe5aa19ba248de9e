"""An ASGI guard in front of the whole web app (pure ASGI, so streaming is untouched).

1. Host check (DNS rebinding): the Host header must be 127.0.0.1, localhost or
   [::1] with our port; anything else gets 403.
2. Cross-origin writes: a non-GET request whose Origin is not ours gets 403.
3. Launch token, as Jupyter does: ``?token=`` on the first visit sets an
   HttpOnly, SameSite=Strict cookie and redirects to the clean URL; scripts send
   ``Authorization: Bearer <token>``. Anything else gets 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

COOKIE = "assistant_token"
Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

_DENIED_401 = (
    "<!doctype html><meta charset=utf-8><title>Practice Assistant</title>"
    "<body style='font-family:system-ui,sans-serif;max-width:40em;margin:4em auto'>"
    "<h1>Please open the assistant from its icon</h1>"
    "<p>This page needs the private link the assistant opens for you. Close this tab and "
    "start the assistant from its desktop icon, or use the link it printed when it started.</p>"
)


class LaunchGuard:
    def __init__(self, app: ASGIApp, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.port = port
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    def _valid(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if headers.get("host", "").lower() not in self.hosts:
            await _respond(send, scope, 403, "This address is not allowed. Open the assistant from its icon.")
            return
        origin = headers.get("origin")
        if origin and origin.lower() not in self.origins and scope.get("method", "GET") not in ("GET", "HEAD"):
            await _respond(send, scope, 403, "Requests from other web sites are refused.")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is just not a credential
            cookie = SimpleCookie()
        bearer = headers.get("authorization", "")
        bearer = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        if self._valid(query.get("token")) and scope["type"] == "http" and scope.get("method") == "GET":
            rest = {k: v for k, v in query.items() if k != "token"}
            location = scope.get("path", "/") + ("?" + urlencode(rest) if rest else "")
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", location.encode("latin-1")),
                        (
                            b"set-cookie",
                            f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode(),
                        ),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        morsel = cookie.get(COOKIE)
        if self._valid(bearer) or self._valid(morsel.value if morsel else None):
            await self.app(scope, receive, send)
            return
        await _respond(send, scope, 401, _DENIED_401, html=True)


async def _respond(send: Callable, scope: Scope, status: int, text: str, html: bool = False) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4403 if status == 403 else 4401})
        return
    kind = b"text/html; charset=utf-8" if html else b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
    await send({"type": "http.response.body", "body": text.encode("utf-8")})
