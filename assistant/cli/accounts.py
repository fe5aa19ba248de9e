"""``assistant users ...`` (staff accounts) and ``assistant audit verify|export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assistant.cli.output import say
from assistant.errors import AssistantError
from assistant.store.config import Config


def add(sub: argparse._SubParsersAction) -> None:
    add_audit_commands(sub)
    add_user_commands(sub)


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


def run(config: Config, args: argparse.Namespace) -> int:
    return cmd_audit(config, args) if args.command == "audit" else cmd_users(config, args)
