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
from pathlib import Path

from assistant.errors import AssistantError, PresetError, where_failed
from assistant.install import about
from assistant.security.privacy import lockdown
from assistant.store.config import Config

log = logging.getLogger("assistant")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Practice Assistant: private drafting on this computer.")
    parser.add_argument("--version", action="version", version=about.version_line())
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
    add_system_commands(sub)
    check = sub.add_parser("check-draft", help="check a draft against what was typed: unsupported facts, sections, codes")
    check.add_argument("--input", required=True, metavar="FIELDS.json", help="JSON object: each field you filled, to its text")
    check.add_argument("--draft", required=True, metavar="DRAFT.txt", help="the draft to check (UTF-8 text)")
    check.add_argument("--kind", choices=("note", "letter"), default=None, help="default: guessed from the fields")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    add_audit_commands(sub)
    add_user_commands(sub)
    add_bench_command(sub)
    return parser


class NoTextFormatter(logging.Formatter):
    """Any library's logged exception becomes its type and code location: exception messages can
    quote what the user typed (assistant.errors.where_failed)."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return "  " + where_failed(ei[1]) if ei and ei[1] is not None else ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return ""


def setup_logging(folder: Path) -> None:
    """Log to the user's log folder. Messages carry ids, sizes and timings, never text."""
    handler = logging.handlers.RotatingFileHandler(folder / "assistant.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(NoTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "uvicorn.access", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def say(text: str) -> None:
    stream = sys.stdout
    if stream is not None:  # None in a windowed (frozen) app
        print(text, file=stream, flush=True)


def empty_temp(folder: Path) -> None:
    """The app's own temporary folder (Gradio's uploads and downloads) is emptied at start and exit."""
    import shutil

    if folder.is_dir():
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    """Serve: the page answers at once and shows progress while the model loads (assistant.app.launcher)."""
    from assistant.app.launcher import launch

    port = args.port if args.port is not None else config.settings.port
    return launch(config, model=args.model, port=port, open_browser=not args.no_browser, say=say)


def cmd_presets(config: Config, args: argparse.Namespace) -> int:
    from assistant.core.presets import load_file
    from assistant.store.user_presets import load_library, preset_layers

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


# -- doctor, models, support-bundle ---------------------------------------------------------

SYSTEM_COMMANDS = ("doctor", "models", "support-bundle")


def add_system_commands(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", help="check this computer's hardware and what model size it can run")
    doctor.add_argument("--json", action="store_true", help="print the full report as JSON (for vendors)")
    models = sub.add_parser("models", help="list, add or choose models")
    msub = models.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="list the installed models")
    add = msub.add_parser("add", help="check a model folder and install it; exits non-zero on problems")
    add.add_argument("path", help="the model folder (config.json, tokenizer, .safetensors weights)")
    add.add_argument("--copy", action="store_true", help="copy it into the assistant's data folder")
    add.add_argument("--name", default=None, help="name to list it under (default: the folder name)")
    add.add_argument("--manifest", default=None, help="SHA-256 manifest to verify (default: SHA256SUMS in the folder)")
    add.add_argument("--force", action="store_true", help="install even if it may not fit in memory")
    use = msub.add_parser("use", help="use this model from the next start")
    use.add_argument("name", help="a name from 'assistant models list' ('demo' for the demo model)")
    bundle = sub.add_parser("support-bundle", help="write a zip for your vendor (no patient information)")
    bundle.add_argument("out", help="the zip file to write, e.g. support.zip")


def cmd_doctor(config: Config, args: argparse.Namespace) -> int:
    import json

    from assistant.ops import doctor

    report = doctor.gather(config)
    say(json.dumps(report, indent=2) if args.json else doctor.render_text(report))
    return 0


def cmd_models(config: Config, args: argparse.Namespace) -> int:
    from assistant.engine import models

    if args.models_command == "list":
        active = models.active_name(config)
        for entry in models.list_models(config):
            size = f"{models.size_words(entry.parameters)} parameters, " if entry.parameters else ""
            need = f"about {models.gib(entry.estimate_4bit_bytes)} in 4-bit" if entry.estimate_4bit_bytes else "built in"
            mark = "*" if entry.name == active else " "
            say(f"{mark} {entry.name:32} {entry.family:16} {size}{need}  {entry.path}")
        return 0
    if args.models_command == "use":
        from assistant.install import vendor

        vendor.refuse_locked_model()
        entry = models.find_model(config, args.name)
        config.settings.model_path = None if entry.builtin else entry.path
        config.settings.save(config.paths)
        say(f"The assistant will use {entry.name} from its next start.")
        return 0
    from assistant.errors import ModelError
    from assistant.ops import doctor

    source = Path(args.path).expanduser()
    say(f"Checking {source} ...")
    try:
        room = doctor.available_for_model(doctor.gather())
        entry = models.add_model(
            config, source, copy=args.copy, name=args.name, force=args.force,
            manifest=Path(args.manifest).expanduser() if args.manifest else None, available_bytes=room,
        )
    except ModelError as exc:
        say(f"{source}: refused: {exc.message}")
        return 1
    checked = f", {entry.verified_files} files verified against the SHA-256 manifest" if entry.verified_files else ""
    say(f"Installed {entry.name}: {entry.family}, {models.size_words(entry.parameters)} parameters, "
        f"about {models.gib(entry.estimate_4bit_bytes)} in 4-bit{checked}. "
        f"Use it with: assistant models use {entry.name}  (or the System tab)")
    return 0


def cmd_support_bundle(config: Config, args: argparse.Namespace) -> int:
    from assistant.ops.support import make_bundle

    summary = make_bundle(config, Path(args.out))
    say(f"Wrote {summary['path']} ({len(summary['files'])} files, no patient information). "
        "Send it to your vendor.")
    return 0


# -- audit -----------------------------------------------------------------------------------


def add_audit_commands(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="check or export the audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    asub.add_parser("verify", help="check the hash chain; exits non-zero and names the first broken record")
    export = asub.add_parser("export", help="write the audit log as CSV for a compliance review")
    export.add_argument("--csv", required=True, help="the CSV file to write")


def add_user_commands(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="staff accounts for shared computers (off until the first is added)")
    usub = users.add_subparsers(dest="users_command", required=True)
    usub.add_parser("list", help="list the accounts")
    add = usub.add_parser("add", help="add an account (asks for its password)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may manage other accounts")
    for verb, text in (("remove", "remove an account"), ("unlock", "unlock a locked account"),
                       ("passwd", "set a new password (asks for it)")):
        usub.add_parser(verb, help=text).add_argument("name")


def _read_password() -> str:
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Same password again: ") != first:
        raise AssistantError("The two passwords differ. Nothing was changed.")
    return first


def cmd_users(config: Config, args: argparse.Namespace) -> int:
    from assistant.security.accounts import AccountStore
    from assistant.security.audit import AuditLog

    store = AccountStore(config.paths.root)
    audit = AuditLog(config.paths.root / "audit")
    if args.users_command == "list":
        rows = store.names()
        for name, role, locked in rows:
            say(f"{name:24} {role:6} {'locked' if locked else ''}")
        if not rows:
            say("No staff accounts: anyone with the launch link can use the assistant. Add one with: assistant users add NAME --admin")
        return 0
    if args.users_command == "add":
        store.add(args.name, _read_password(), "admin" if args.admin else "staff")
        audit.record("user_added", detail=f"{args.name} ({'admin' if args.admin else 'staff'})")
        say(f"Added {args.name}. Staff now sign in at the start of each session.")
    elif args.users_command == "remove":
        store.remove(args.name)
        audit.record("user_removed", detail=args.name)
        say(f"Removed {args.name}.")
    elif args.users_command == "unlock":
        store.unlock(args.name)
        say(f"Unlocked {args.name}.")
    else:
        store.set_password(args.name, _read_password())
        audit.record("password_changed", detail=args.name)
        say(f"Set a new password for {args.name}.")
    return 0


def cmd_audit(config: Config, args: argparse.Namespace) -> int:
    from assistant.security import audit

    folder = config.paths.root / "audit"
    if args.audit_command == "verify":
        problems = audit.verify(folder)
        for problem in problems:
            say(f"audit.jsonl: {problem}")
        if problems:
            say("The audit log has been changed or damaged since it was written. Keep this copy and tell your vendor.")
            return 1
        say("audit.jsonl: the audit log is intact.")
        return 0
    count = audit.export_csv(folder, Path(args.csv).expanduser())
    say(f"Wrote {count} audit records to {args.csv}.")
    return 0


def add_bench_command(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="measure drafting speed: the engine against plain generate, same model")
    bench.add_argument("--model", default=None, help="folder of a model to measure (default: the one in use)")
    bench.add_argument("--json", action="store_true", help="print every figure as JSON")
    bench.add_argument("--repeats", type=int, default=3, help="runs of each kind of request (default 3)")
    bench.add_argument("--tokens", type=int, default=160, help="tokens a draft writes (default 160)")
    bench.add_argument("--no-serve", action="store_true", help="skip timing 'assistant serve' until its page answers")


def cmd_bench(config: Config, args: argparse.Namespace) -> int:
    import json

    from assistant.ops.bench import render, run_bench

    report = run_bench(config, args.model, repeats=max(1, args.repeats), max_new_tokens=max(2, args.tokens),
                       serve=not args.no_serve, progress=(lambda text: None) if args.json else say)
    say(json.dumps(report, indent=2) if args.json else render(report))
    return 0


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
        if args.command == "bench":
            return cmd_bench(config, args)
        if args.command == "check-draft":
            from assistant.cli.check_draft import cmd_check_draft

            return cmd_check_draft(config, args)
        if args.command == "presets":
            return cmd_presets(config, args)
        if args.command == "audit":
            return cmd_audit(config, args)
        if args.command == "users":
            return cmd_users(config, args)
        if args.command in SYSTEM_COMMANDS:
            handler = {"doctor": cmd_doctor, "models": cmd_models, "support-bundle": cmd_support_bundle}
            return handler[args.command](config, args)
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
