"""Serve the Blocks on 127.0.0.1 only, behind the launch guard.

We bind the socket ourselves (so the port is ours before anyone is told about
it, and only loopback is ever bound), mount Gradio on a FastAPI app, and run
uvicorn on that socket.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

from assistant.accounts import AccountStore, Sessions
from assistant.audit import AuditLog
from assistant.config import LOOPBACK_HOST
from assistant.errors import NetworkRefused
from assistant.privacy import require_loopback
from assistant.ui.app import CSS, THEME
from assistant.ui.guard import IDLE_SCRIPT, LaunchGuard

log = logging.getLogger(__name__)
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


def make_asgi(blocks: gr.Blocks, port: int, token: str, accounts: AccountStore | None = None,
              audit: AuditLog | None = None, files_dir: Path | None = None) -> LaunchGuard:
    blocks.queue(default_concurrency_limit=4)
    with_accounts = accounts is not None and accounts.enabled
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app = gr.mount_gradio_app(
        app, blocks, path="/", server_name=LOOPBACK_HOST, server_port=port,
        footer_links=[], run_history=False, ssr_mode=False, theme=THEME, css=CSS,
        show_error=True, mcp_server=False, pwa=False, enable_monitoring=False,
        max_file_size="5mb", head=IDLE_SCRIPT if with_accounts else None,
        allowed_paths=[str(files_dir)] if files_dir else None,
    )
    return LaunchGuard(app, token=token, port=port, accounts=accounts, sessions=Sessions(IDLE_MINUTES), audit=audit)


def serve(
    blocks: gr.Blocks, port: int = 0, *, background: bool = False,
    on_ready: Callable[[RunningServer], None] | None = None,
    accounts: AccountStore | None = None, audit: AuditLog | None = None, files_dir: Path | None = None,
) -> RunningServer:
    """``files_dir``: the app's temporary folder, from which downloads (exports) are served."""
    """Start serving. In the foreground this blocks until the server is stopped."""
    sock = bind(port)
    real_port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    config = uvicorn.Config(
        make_asgi(blocks, real_port, token, accounts, audit, files_dir), log_level="warning", access_log=False,
        server_header=False, timeout_graceful_shutdown=3, lifespan="on",
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
        return running
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return running
