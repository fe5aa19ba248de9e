"""``assistant serve``: the way a double-click expects. One copy per user, the page at once,
the model loading behind a progress page.

The server answers first (``web.staged``); the model loads in a thread, then the services
and the Gradio pages are built and attached. A second start opens the running copy.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.app.instance import Instance, InstanceLock, find_running, remove_record, write_record
from assistant.app.process import empty_temp
from assistant.app.services import ModelLoader
from assistant.app.startup import READY_LINE, Startup, stage_mapper
from assistant.checks.context import warm
from assistant.cli.output import say
from assistant.errors import AssistantError
from assistant.store.config import ENGINES, LOOPBACK_HOST, Config
from assistant.store.endpoint import KINDS, Endpoint, EndpointError

log = logging.getLogger(__name__)


def add(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="start the assistant (the default)")
    serve.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    serve.add_argument("--model", default=None, help="folder of a model to use instead of the demo model")
    server = serve.add_argument_group("where the model runs (default: settings.json, else this computer)")
    server.add_argument("--engine", choices=(*ENGINES, *KINDS[1:]), default=None,
                        help="auto, transformers or llamacpp on this computer; openai, ollama, azure or bedrock: a server")
    server.add_argument("--engine-url", default=None, help="the server's address, e.g. http://10.0.0.5:8000/v1")
    server.add_argument("--engine-model", default=None, help="the model's name there (Azure: deployment; Bedrock: id)")
    server.add_argument("--engine-key-file", default=None, type=Path,
                        help="a file holding the server's key ('-': read it from standard input); never the key itself")
    server.add_argument("--engine-ca-file", default=None, help="the clinic's certificate authority (PEM) for https")
    server.add_argument("--engine-api-version", default=None, help="Azure OpenAI's api-version")
    server.add_argument("--engine-region", default=None, help="AWS Bedrock's region, e.g. us-east-1")
    server.add_argument("--engine-window", type=int, default=None, help="the model's reading window in tokens")
    server.add_argument("--engine-baa", default=None, metavar="PROVIDER",
                        help="cloud only: we have a signed Business Associate Agreement with PROVIDER")
    server.add_argument("--engine-fallback", action="store_true",
                        help="write on this computer's model when the server cannot be reached")


def apply_engine_args(config: Config, args: argparse.Namespace) -> None:
    """The command line's engine choice for this run (settings.json is left as it is)."""
    kind = getattr(args, "engine", None)
    if kind is None:
        return
    if kind in ENGINES:
        config.settings.engine, config.settings.endpoint = kind, {}
        return
    values = {"kind": kind, "url": args.engine_url or "", "model": args.engine_model or "",
              "ca_file": args.engine_ca_file or "", "api_version": args.engine_api_version or "",
              "region": args.engine_region or "", "context_window": args.engine_window or 0,
              "baa_signed": bool(args.engine_baa), "baa_provider": args.engine_baa or "",
              "fallback_local": bool(args.engine_fallback)}
    config.settings.endpoint = Endpoint.from_dict(values).check().to_dict()
    if args.engine_key_file is not None:
        config.engine_key = read_key(args.engine_key_file)


def read_key(path: Path) -> str:
    """The key from a file, or from standard input for '-'; refused when empty."""
    try:
        text = sys.stdin.readline() if str(path) == "-" else path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise EndpointError(f"The key file {path} could not be read ({exc.strerror or type(exc).__name__}).") from None
    key = text.strip()
    if not key or "\n" in key:
        raise EndpointError(f"The key file {path} must hold the key on one line, and nothing else.")
    return key


def run(config: Config, args: argparse.Namespace) -> int:
    """Serve: the page answers at once and shows progress while the model loads."""
    port = args.port if args.port is not None else config.settings.port
    apply_engine_args(config, args)
    return launch(config, model=args.model, port=port, open_browser=not args.no_browser, say=say)


def launch(config: Config, *, model: str | None, port: int, open_browser: bool, say: Callable[[str], None],
           loader: ModelLoader | None = None) -> int:
    """Serve the assistant: the page first, the model behind it. Returns the exit code."""
    root = config.paths.root
    lock = InstanceLock(root)
    if not lock.acquire():
        return _open_running(root, open_browser, say)
    try:
        empty_temp(config.paths.tmp)
        return _serve(config, model=model, port=port, open_browser=open_browser, say=say, loader=loader)
    finally:
        remove_record(root)
        lock.release()
        empty_temp(config.paths.tmp)


def _open_running(root: Path, open_browser: bool, say: Callable[[str], None]) -> int:
    instance = find_running(root)
    if instance is None:
        raise AssistantError(
            "Another copy of the assistant is starting or has stopped responding. Wait a minute and "
            "start it again; if this keeps happening, restart the computer."
        )
    say("The assistant is already running; opening it.")
    say(f"URL: {instance.url}")
    log.info("second start: opened the running copy on port %d", instance.port)
    if open_browser:
        webbrowser.open(instance.url)
    return 0


def _serve(config: Config, *, model: str | None, port: int, open_browser: bool, say: Callable[[str], None],
           loader: ModelLoader | None) -> int:
    from assistant.security import privacy
    from assistant.security.accounts import AccountStore
    from assistant.security.audit import AuditLog
    from assistant.web.staged import StagedApp, serve_staged

    audit = AuditLog(config.paths.root / "audit")
    privacy.on_blocked(lambda where: audit.record("outbound_blocked", detail=where))
    startup = Startup()
    staged = StagedApp(startup)
    outcome = {"code": 0}

    def announce(port_: int, token: str) -> None:
        write_record(config.paths.root, Instance(pid=os.getpid(), port=port_, token=token))
        url = f"http://{LOOPBACK_HOST}:{port_}/?token={token}"
        say(f"URL: {url}")
        log.info("serving on 127.0.0.1:%d (loading page until the model is ready)", port_)
        if open_browser:
            webbrowser.open(url)

    def prepare(port_: int, files_dir: Path | None, with_accounts: bool) -> None:
        try:
            prepared = _prepare(config, model, startup, port_, files_dir, with_accounts, audit, say,
                                stopping=lambda: staged.stopping, loader=loader)
            if prepared is None or staged.stopping:
                return  # quit while the model was loading
            app, services = prepared
            staged.attach(app)
        except AssistantError as exc:
            if not staged.stopping:
                _failed(exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - the edge of the start: plain words, details in the log
            from assistant.errors import where_failed

            if staged.stopping:
                return
            log.error("start failed: %s", where_failed(exc))
            _failed("The assistant could not start because of an unexpected problem. Start it again; if it "
                    "happens again, send your vendor a support bundle (assistant support-bundle support.zip).")
            return
        startup.ready()
        audit.record("app_started", model=services.model.name)
        say(READY_LINE)
        log.info("ready")
        threading.Thread(target=warm, name="warm-checks", daemon=True).start()  # the first check need not wait

    def _failed(problem: str) -> None:
        outcome["code"] = 2
        startup.fail(problem)
        say(f"Problem: {problem}")
        log.error("start failed: the model or the pages could not be prepared")
        # With a browser open, let its page show the problem before stopping; without one, stop now.
        if open_browser:
            startup.seen_problem.wait(timeout=120)
            time.sleep(3)
        staged.quit()

    say("Starting the assistant on this computer only (127.0.0.1) ...")
    try:
        serve_staged(staged, port, on_ready=announce, prepare=prepare, accounts=AccountStore(config.paths.root),
                     audit=audit, files_dir=config.paths.tmp)
    finally:
        audit.record("app_stopped")
    say("The assistant has stopped.")
    return outcome["code"]


def _prepare(config: Config, model: str | None, startup: Startup, port: int, files_dir: Path | None,
             with_accounts: bool, audit: Any, say: Callable[[str], None],
             stopping: Callable[[], bool], loader: ModelLoader | None = None) -> tuple[Any, Any] | None:
    """Load the model, build the services and the pages (imports gradio), mount them. In a thread.
    None if the server was told to stop meanwhile."""
    from assistant.app.services import build_services, load_model
    from assistant.engine import demo_model

    path = model or config.settings.model_path
    if not path and not demo_model.is_converted(config.paths.demo_model):
        startup.stage(0.03, "Preparing the built-in demo model (first start only, about half a minute)", 0.45)
        load_from = 0.45
    else:
        startup.stage(0.03, "Loading the model", 0.1)
        load_from = 0.05
    backend = (loader or load_model)(config, path, progress=say, stage=stage_mapper(startup, load_from, 0.8))
    if stopping():
        return None
    startup.stage(0.8, "Preparing the pages", 0.97)
    services = build_services(config, backend, audit=audit, loader=loader, model_path=path)
    from assistant.web.app import build_app
    from assistant.web.server import gradio_app

    return gradio_app(build_app(services), port, files_dir, with_accounts), services
