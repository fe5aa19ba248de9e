"""``assistant presets list`` and ``assistant presets validate [DIR]`` (exits non-zero on problems)."""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.cli.output import say
from assistant.errors import PresetError
from assistant.store.config import Config


def add(sub: argparse._SubParsersAction) -> None:
    presets = sub.add_parser("presets", help="list or check preset files")
    psub = presets.add_subparsers(dest="presets_command", required=True)
    psub.add_parser("list", help="list the presets in use")
    validate = psub.add_parser("validate", help="check preset files; exits non-zero on problems")
    validate.add_argument("dir", nargs="?", default=None, help="folder to check (default: shipped and your own)")


def run(config: Config, args: argparse.Namespace) -> int:
    from assistant.store.presets import load_file
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
