"""Serve the Blocks on 127.0.0.1 only, behind the launch guard.

We bind the socket ourselves (so the port is ours before anyone is told about
it, and only loopback is ever bound), mount Gradio on a FastAPI app, and run
uvicorn on that socket. gradio and fastapi are imported when the app is mounted, so the
socket (and the launcher's progress page) can answer before those heavy imports are done.
"""

from __future__ import annotations

import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from assistant.errors import NetworkRefused
from assistant.security.accounts import AccountStore, Sessions
from assistant.security.audit import AuditLog
from assistant.security.privacy import require_loopback
from assistant.store.config import LOOPBACK_HOST
from assistant.web.guard import IDLE_SCRIPT, LaunchGuard

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)

BACKGROUND_START_S = 30.0  # how long a background start may take before it counts as failed
IDLE_MINUTES = 15.0  # staff sessions end after this long without use


def bind(port: int, host: str = LOOPBACK_HOST) -> socket.socket:
    """Bind a listening socket on loopback; port 0 (or a busy port) picks a free one."""
    host = require_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        if port == 0:
            sock.close()
            raise NetworkRefused("No free port could be found on this computer. Restart it and try again.") from None
        log.warning("port %d is in use; picking a free one", port)
        sock.bind((host, 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread | None
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}/?token={self.token}"

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)


def gradio_app(blocks: gr.Blocks, port: int, files_dir: Path | None = None, with_accounts: bool = False) -> Any:
    """The Blocks mounted on a FastAPI app (without the guard)."""
    import gradio as gr
    from fastapi import FastAPI

    from assistant.web.app import CSS, THEME

    blocks.queue(default_concurrency_limit=4)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    return gr.mount_gradio_app(
        app, blocks, path="/", server_name=LOOPBACK_HOST, server_port=port,
        footer_links=[], run_history=False, ssr_mode=False, theme=THEME, css=CSS,
        show_error=True, mcp_server=False, pwa=False, enable_monitoring=False,
        max_file_size="5mb", head=IDLE_SCRIPT if with_accounts else None,
        allowed_paths=[str(files_dir)] if files_dir else None,
    )


def make_asgi(blocks: gr.Blocks, port: int, token: str, accounts: AccountStore | None = None,
              audit: AuditLog | None = None, files_dir: Path | None = None) -> LaunchGuard:
    with_accounts = accounts is not None and accounts.enabled
    app = gradio_app(blocks, port, files_dir, with_accounts)
    return LaunchGuard(app, token=token, port=port, accounts=accounts, sessions=Sessions(IDLE_MINUTES), audit=audit)


def serve(
    blocks: gr.Blocks, port: int = 0, *, background: bool = False,
    on_ready: Callable[[RunningServer], None] | None = None,
    accounts: AccountStore | None = None, audit: AuditLog | None = None, files_dir: Path | None = None,
) -> RunningServer:
    """Start serving. In the foreground this blocks until the server is stopped.

    ``files_dir``: the app's temporary folder, from which downloads (exports) are served."""
    return serve_asgi(lambda real_port, token: make_asgi(blocks, real_port, token, accounts, audit, files_dir),
                      port, background=background, on_ready=on_ready)


def serve_asgi(
    build: Callable[[int, str], Any], port: int = 0, *, background: bool = False,
    on_ready: Callable[[RunningServer], None] | None = None,
) -> RunningServer:
    """Bind 127.0.0.1, make a launch token, and serve ``build(port, token)`` (an ASGI app) with uvicorn."""
    sock = bind(port)
    real_port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    config = uvicorn.Config(
        build(real_port, token), log_level="warning", access_log=False,
        server_header=False, timeout_graceful_shutdown=3, lifespan="on",
        log_config=None,  # uvicorn's errors go to the app's log (exceptions without their messages), not the console
    )
    server = uvicorn.Server(config)
    running = RunningServer(server=server, thread=None, port=real_port, token=token)

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started and on_ready is not None:
            on_ready(running)

    threading.Thread(target=announce, name="announce", daemon=True).start()
    if background:
        running.thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="server", daemon=True)
        running.thread.start()
        # Return once it answers (callers connect at once); a server that stopped instead is an error.
        deadline = time.monotonic() + BACKGROUND_START_S
        while not server.started:
            if time.monotonic() > deadline or not running.thread.is_alive():
                server.should_exit = True
                raise RuntimeError(f"the server on 127.0.0.1:{real_port} did not start")
            threading.Event().wait(0.02)
        return running
    # uvicorn stops gracefully on SIGINT/SIGTERM and then raises the signal again for the handler it
    # found. With the default one the process would die right there, before the caller's clean-up
    # (temporary files emptied, "stopped" in the audit log). So the handler it finds only notes it.
    previous = _note_stop_signals()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return running


def _note_stop_signals() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def noted(signum: int, frame: Any) -> None:
        log.info("stopping: signal %d", signum)

    return {sig: signal.signal(sig, noted) for sig in (signal.SIGINT, signal.SIGTERM)}
