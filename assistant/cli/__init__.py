"""Command line: ``assistant [serve] [--port N] [--no-browser] [--model PATH]`` and the admin
commands, one module each: ``serve``, ``presets``, ``system`` (doctor, models, support-bundle),
``check_draft``, ``read_denial``, ``accounts`` (users, audit) and ``bench``.

Plain ``assistant`` behaves as a double-click: serve and open the browser.
Domain errors become a plain message and a non-zero exit, never a traceback.
Nothing in the package imports this layer.
"""

from __future__ import annotations

import argparse
import logging
import sys

from assistant.cli import accounts, bench, check_draft, convert, presets, read_denial, serve, system
from assistant.cli.output import say, setup_logging
from assistant.errors import AssistantError, where_failed
from assistant.install import about
from assistant.security.privacy import lockdown
from assistant.store.config import Config

log = logging.getLogger("assistant")

COMMANDS = {"serve": serve, "presets": presets, "check-draft": check_draft, "read-denial": read_denial, "audit": accounts,
            "users": accounts, "bench": bench, "convert-model": convert, **{name: system for name in system.SYSTEM_COMMANDS}}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Practice Assistant: private drafting on this computer.")
    parser.add_argument("--version", action="version", version=about.version_line())
    # The list a person sees; convert-model is the app's own child process, not for people.
    shown = "serve,presets,check-draft,read-denial,users,audit,doctor,models,support-bundle,bench"
    sub = parser.add_subparsers(dest="command", metavar="{" + shown + "}")
    for module in (serve, presets, system, check_draft, read_denial, accounts, bench, convert):
        module.add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if not argv or argv[0] not in (*commands, "-h", "--help", "--version"):
        argv = ["serve", *argv]  # plain `assistant` behaves as a double-click
    args = parser.parse_args(argv)
    try:
        config = Config.load()
        lockdown(config.paths.tmp)
        setup_logging(config.paths.logs)
        from assistant.install import upgrade, vendor

        upgrade.migrate(config.paths)  # a newer version installed over an older one
        vendor.apply(config)  # a vendor build's model, profile and locked settings
        return COMMANDS[args.command].run(config, args)
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
