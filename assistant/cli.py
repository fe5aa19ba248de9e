"""Command line: ``assistant [serve] [--port N] [--no-browser] [--model PATH]``,
``assistant presets list`` and ``assistant presets validate [DIR]``.

Plain ``assistant`` behaves as a double-click: serve and open the browser.
Domain errors become a plain message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
import webbrowser
from pathlib import Path

from assistant import __version__
from assistant.config import Config
from assistant.errors import AssistantError, PresetError, where_failed
from assistant.privacy import lockdown

log = logging.getLogger("assistant")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Practice Assistant: private drafting on this computer.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="start the assistant (the default)")
    serve.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    serve.add_argument("--model", default=None, help="folder of a model to use instead of the demo model")
    presets = sub.add_parser("presets", help="list or check preset files")
    psub = presets.add_subparsers(dest="presets_command", required=True)
    psub.add_parser("list", help="list the presets in use")
    validate = psub.add_parser("validate", help="check preset files; exits non-zero on problems")
    validate.add_argument("dir", nargs="?", default=None, help="folder to check (default: shipped and your own)")
    return parser


def setup_logging(folder: Path) -> None:
    """Log to the user's log folder. Messages carry ids, sizes and timings, never text."""
    handler = logging.handlers.RotatingFileHandler(folder / "assistant.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "uvicorn.access", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def say(text: str) -> None:
    stream = sys.stdout
    if stream is not None:  # None in a windowed (frozen) app
        print(text, file=stream, flush=True)


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from assistant.services import build_services, load_backend

    backend = load_backend(config, args.model, progress=say)
    services = build_services(config, backend)
    from assistant.ui.app import build_app
    from assistant.ui.server import RunningServer, serve

    def ready(running: RunningServer) -> None:
        say(f"URL: {running.url}")
        log.info("serving on 127.0.0.1:%d", running.port)
        if not args.no_browser:
            webbrowser.open(running.url)

    port = args.port if args.port is not None else config.settings.port
    say("Starting the assistant on this computer only (127.0.0.1) ...")
    serve(build_app(services), port, on_ready=ready)
    say("The assistant has stopped.")
    return 0


def cmd_presets(config: Config, args: argparse.Namespace) -> int:
    from assistant.preset_store import load_library, preset_layers
    from assistant.presets import load_file

    if args.presets_command == "list":
        library = load_library(config.paths)
        for preset in sorted(library.presets.values(), key=lambda p: (p.kind, p.id)):
            say(f"{preset.kind:14} {preset.id:36} {library.origin[preset.id]:8} {preset.title}")
        for warning in library.warnings:
            say(f"skipped: {warning}")
        return 1 if library.warnings else 0
    folders = [Path(args.dir)] if args.dir else [folder for _, folder in preset_layers(config.paths)]
    problems = 0
    count = 0
    for folder in folders:
        if not folder.is_dir():
            if args.dir:
                say(f"{folder}: (folder): not found")
                return 2
            continue
        for path in sorted(folder.glob("*.y*ml")):
            count += 1
            try:
                load_file(path)
            except PresetError as exc:
                problems += 1
                for line in exc.message.splitlines():
                    say(line)
    say(f"{count} preset files checked, {problems} with problems.")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("serve", "presets", "-h", "--help", "--version"):
        argv = ["serve", *argv]  # plain `assistant` behaves as a double-click
    args = build_parser().parse_args(argv)
    try:
        config = Config.load()
        lockdown(config.paths.tmp)
        setup_logging(config.paths.logs)
        if args.command == "presets":
            return cmd_presets(config, args)
        return cmd_serve(config, args)
    except AssistantError as exc:
        say(f"Problem: {exc.message}")
        log.error("stopped: %s", type(exc).__name__)
        return 2
    except KeyboardInterrupt:
        say("The assistant has stopped.")
        return 0
    except OSError as exc:
        log.error("system error: %s", where_failed(exc))
        say(f"Problem: the computer refused an operation ({exc.strerror or type(exc).__name__}). "
            "Check that the disk is not full and that you may write to the data folder, then try again.")
        return 2
