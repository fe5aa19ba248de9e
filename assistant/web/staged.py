"""The app in two stages: a progress page at once, then the real app when the model is ready.

``StagedApp`` is a small pure-ASGI app that sits behind the launch guard. Until the Gradio app
is attached it answers a browser's page requests with a self-updating progress page, and makes
API and websocket requests wait for the real app (so a script that connects early waits
instead of failing). It always answers:

* ``GET /loading/status``: ``{"state", "fraction", "words", "problem"}`` for the progress page;
* ``GET /instance``: ``{"app": "practice-assistant"}``, how a second start knows this copy answers;
* ``POST /quit``: stops the server cleanly (the Quit button here and in the Help tab).

The real app's own start-up (Gradio's lifespan: its queue) runs when it is attached, on the
server's event loop; its shut-down runs when the server stops. When the server is told to stop
(Quit, Ctrl+C), long-lived streams (Gradio's event stream, a draft being written) are told the
client has gone, so they end at once and the server stops cleanly instead of cancelling them.

Nothing here imports gradio, so the server answers before the heavy imports are done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.app.instance import APP_ID
from assistant.app.startup import Startup
from assistant.security.accounts import AccountStore
from assistant.security.audit import AuditLog
from assistant.web.guard import LaunchGuard

log = logging.getLogger(__name__)

WAIT_FOR_APP_S = 900.0  # how long an early API request waits for the model
ASGIApp = Callable[..., Any]

LOADING_PAGE = """<!doctype html><html lang=en><meta charset=utf-8>
<meta name=viewport content='width=device-width'><title>Practice Assistant: starting</title>
<noscript><meta http-equiv=refresh content=2></noscript>
<body style='font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:34em;margin:4em auto;
padding:0 1em;line-height:1.5;color:#1f2937'>
<h1 id=title style='font-size:1.6em'>Starting the assistant</h1>
<p id=intro>It is getting its language model ready on this computer. This takes from a few seconds to a minute
(longer the very first time). This page opens the assistant by itself when it is ready.</p>
<progress id=bar max=1 value=0 style='width:100%;height:1.4em;accent-color:#0d9488'></progress>
<p id=words aria-live=polite style='color:#4b5563'>Starting</p>
<div id=problem role=alert hidden style='border-left:4px solid #b91c1c;padding:.2em 1em;background:#fef2f2'></div>
<p style='margin-top:2em;color:#4b5563;font-size:.9em'>Everything stays on this computer.
<button id=quit type=button style='margin-left:1em'>Quit the assistant</button></p>
<script>
(function(){
  var bar=document.getElementById('bar'), words=document.getElementById('words');
  var problem=document.getElementById('problem'), stopped=false;
  function stoppedPage(text){
    stopped=true;
    document.getElementById('title').textContent='The assistant has stopped';
    document.getElementById('intro').textContent=text;
    bar.hidden=true; words.hidden=true; document.getElementById('quit').hidden=true;
  }
  function poll(){
    if(stopped){return;}
    fetch('/loading/status',{credentials:'same-origin',cache:'no-store'}).then(function(r){return r.json();})
    .then(function(s){
      if(s.state==='ready'){bar.value=1; words.textContent='Ready'; window.location.reload(); return;}
      if(s.state==='failed'){
        document.getElementById('title').textContent='The assistant could not start';
        bar.hidden=true; words.hidden=true; problem.hidden=false; problem.textContent=s.problem;
        document.getElementById('intro').textContent='You can close this tab.';
        stopped=true; return;
      }
      bar.value=s.fraction; words.textContent=s.words+' ...';
      setTimeout(poll,500);
    }).catch(function(){stoppedPage('Start it again from its icon when you need it. You can close this tab.');});
  }
  document.getElementById('quit').onclick=function(){
    fetch('/quit',{method:'POST',credentials:'same-origin'}).finally(function(){
      stoppedPage('Start it again from its icon when you need it. You can close this tab.');});
  };
  poll();
})();
</script></body></html>"""

STOPPED_PAGE = ("<!doctype html><html lang=en><meta charset=utf-8><title>Practice Assistant</title><body style='"
                "font-family:system-ui,sans-serif;max-width:30em;margin:4em auto'><h1>The assistant has stopped</h1>"
                "<p>Start it again from its icon when you need it. You can close this tab.</p></body></html>")


class StagedApp:
    """Pure ASGI: the progress page until ``attach(app)``, then ``app``."""

    def __init__(self, startup: Startup) -> None:
        self.startup = startup
        self.inner: ASGIApp | None = None
        self.server: Any = None  # the uvicorn.Server, for Quit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ready = threading.Event()
        self._inner_lifespan: tuple[asyncio.Queue, asyncio.Future] | None = None
        self._closing: asyncio.Event | None = None
        self._watcher: asyncio.Task | None = None

    # -- called from other threads --------------------------------------------------------

    def attach(self, app: ASGIApp, timeout: float = 120.0) -> None:
        """Start ``app``'s lifespan on the server's loop and route everything to it from now on."""
        if not self._loop_ready.wait(timeout) or self._loop is None:
            raise RuntimeError("the server's event loop did not start")
        asyncio.run_coroutine_threadsafe(self._start_inner(app), self._loop).result(timeout)

    def quit(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    @property
    def stopping(self) -> bool:
        return self.server is not None and bool(self.server.should_exit)

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        path, method = scope.get("path", "/"), scope.get("method", "GET")
        if kind == "http" and path == "/loading/status":
            await _send(send, 200, json.dumps(self.startup.snapshot()), b"application/json")
            return
        if kind == "http" and path == "/instance":
            await _send(send, 200, json.dumps({"app": APP_ID, "state": self.startup.state}), b"application/json")
            return
        if kind == "http" and path == "/quit":
            if method != "POST":
                await _send(send, 405, "Use the Quit button.", b"text/plain; charset=utf-8")
                return
            await _send(send, 200, STOPPED_PAGE, b"text/html; charset=utf-8")
            log.info("quit from the page")
            self.quit()
            return
        inner = self.inner
        if inner is None:
            if kind == "http" and method in ("GET", "HEAD") and _wants_page(scope):
                await _send(send, 200, LOADING_PAGE, b"text/html; charset=utf-8")
                return
            inner = await self._wait_for_inner()
            if inner is None:
                if kind == "websocket":
                    await send({"type": "websocket.close", "code": 1013})
                else:
                    message = self.startup.problem or "The assistant is still starting. Try again in a minute."
                    await _send(send, 503, json.dumps({"error": message}), b"application/json")
                return
        if kind == "http" and self._closing is not None:
            await self._forward(inner, scope, receive, send, self._closing)
        else:
            await inner(scope, receive, send)

    async def _forward(self, inner: ASGIApp, scope: dict, receive: Callable, send: Callable,
                       closing: asyncio.Event) -> None:
        """Pass an HTTP request on; once the server is stopping, tell it the client has gone."""
        response = {"started": False, "complete": False}

        async def tracked_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                response["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                response["complete"] = True
            await send(message)

        async def receive_or_closing() -> dict:
            if closing.is_set():
                return {"type": "http.disconnect"}
            message = asyncio.ensure_future(receive())
            stopping = asyncio.ensure_future(closing.wait())
            await asyncio.wait({message, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if message.done():
                stopping.cancel()
                return message.result()
            message.cancel()
            return {"type": "http.disconnect"}

        await inner(scope, receive_or_closing, tracked_send)
        if closing.is_set() and response["started"] and not response["complete"]:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _wait_for_inner(self) -> ASGIApp | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_FOR_APP_S
        while (self.inner is None and self.startup.state == "loading" and loop.time() < deadline
               and not (self._closing is not None and self._closing.is_set())):
            await asyncio.sleep(0.1)
        return self.inner

    async def _watch_for_stop(self, closing: asyncio.Event) -> None:
        while not (self.server is not None and self.server.should_exit):
            await asyncio.sleep(0.1)
        closing.set()

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop = asyncio.get_running_loop()
                self._closing = asyncio.Event()
                self._watcher = asyncio.ensure_future(self._watch_for_stop(self._closing))
                self._loop_ready.set()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher is not None:
                    self._watcher.cancel()
                await self._stop_inner()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_inner(self, app: ASGIApp) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue = asyncio.Queue()
        started, stopped = loop.create_future(), loop.create_future()

        async def receive() -> dict:
            return await inbox.get()

        async def send(message: dict) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete" and not started.done():
                started.set_result(None)
            elif kind == "lifespan.startup.failed" and not started.done():
                started.set_exception(RuntimeError("the app's start-up failed"))
            elif kind.startswith("lifespan.shutdown") and not stopped.done():
                stopped.set_result(None)

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        task = asyncio.ensure_future(app(scope, receive, send))
        await inbox.put({"type": "lifespan.startup"})
        await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            started.result()  # raises if the start-up failed
        self._inner_lifespan = (inbox, stopped)
        self.inner = app

    async def _stop_inner(self) -> None:
        if self._inner_lifespan is None:
            return
        inbox, stopped = self._inner_lifespan
        self._inner_lifespan = None
        await inbox.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(stopped, timeout=5)
        except TimeoutError:
            log.warning("the app's shut-down took too long")


def _wants_page(scope: dict) -> bool:
    if scope.get("path", "/") in ("/", ""):
        return True
    for key, value in scope.get("headers", []):
        if key.lower() == b"accept":
            return b"text/html" in value
    return False


async def _send(send: Callable, status: int, body: str, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body.encode("utf-8")})


def serve_staged(
    staged: StagedApp, port: int, *, on_ready: Callable[[int, str], None],
    prepare: Callable[[int, Path | None, bool], None], accounts: AccountStore | None = None,
    audit: AuditLog | None = None, files_dir: Path | None = None,
) -> None:
    """Serve ``staged`` behind the launch guard on 127.0.0.1, in the foreground until Quit or Ctrl+C.

    Once the server answers: ``on_ready(port, token)``, then ``prepare(port, files_dir,
    with_accounts)`` in a background thread, which builds the real app and attaches it.
    """
    from assistant.security.accounts import Sessions
    from assistant.web.server import IDLE_MINUTES, serve_asgi

    with_accounts = accounts is not None and accounts.enabled

    def build(real_port: int, token: str) -> LaunchGuard:
        return LaunchGuard(staged, token=token, port=real_port, accounts=accounts,
                           sessions=Sessions(IDLE_MINUTES), audit=audit)

    def ready(running: Any) -> None:
        staged.server = running.server
        on_ready(running.port, running.token)
        threading.Thread(target=prepare, args=(running.port, files_dir, with_accounts),
                         name="prepare", daemon=True).start()

    serve_asgi(build, port, on_ready=ready)

