"""``assistant doctor``, ``assistant models list|add|use`` and ``assistant support-bundle``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.cli.output import say
from assistant.store.config import Config

if TYPE_CHECKING:
    from assistant.engine.registry import ModelEntry

SYSTEM_COMMANDS = ("doctor", "models", "support-bundle")


def add(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", help="check this computer's hardware and what model size it can run")
    doctor.add_argument("--json", action="store_true", help="print the full report as JSON (for vendors)")
    models = sub.add_parser("models", help="list, add or choose models")
    msub = models.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="list the installed models")
    add = msub.add_parser("add", help="check a model folder or a .gguf file and install it; exits non-zero on problems")
    add.add_argument("path", help="the model folder (config.json, tokenizer, .safetensors weights) or a .gguf file")
    add.add_argument("--copy", action="store_true", help="copy it into the assistant's data folder")
    add.add_argument("--name", default=None, help="name to list it under (default: the folder or file name)")
    add.add_argument("--manifest", default=None,
                     help="SHA-256 manifest to verify (default: SHA256SUMS in the folder, or beside the .gguf file)")
    add.add_argument("--force", action="store_true", help="install even if it may not fit in memory")
    add.add_argument("--speech", action="store_true",
                     help="a speech model for dictation: a Whisper folder in CTranslate2 format (model.bin, config.json)")
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
            kind = ("built in, " if entry.builtin else "") + models.kind_words(entry)
            mark = "*" if entry.name == active else " "
            say(f"{mark} {entry.name:32} {entry.family:20} {size}{kind}  {entry.path}")
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

    source = Path(args.path).expanduser()
    say(f"Checking {source} ...")
    if args.speech:
        return _add_speech(config, source, copy=args.copy, name=args.name)
    try:
        entry = models.add_model(
            config, source, copy=args.copy, name=args.name, force=args.force,
            manifest=Path(args.manifest).expanduser() if args.manifest else None, available_bytes=_room(source),
        )
    except ModelError as exc:
        say(f"{source}: refused: {exc.message}")
        return 1
    say(installed_words(entry))
    return 0


def _add_speech(config: Config, source: Path, *, copy: bool, name: str | None) -> int:
    """Check a Whisper model by loading it, copy it into the data folder if asked, and use it for dictation."""
    from assistant.app import speech_models
    from assistant.errors import ModelError

    try:
        added = speech_models.add(config, source, copy=copy, name=name)
    except ModelError as exc:
        say(f"{source}: refused: {exc.message}")
        return 1
    say(f"Installed the speech model {added.name} ({'copied to' if copy else 'used from'} {added.path}). Dictation "
        "uses it from the next start.")
    return 0


def _room(source: Path) -> int:
    """Memory the model may use: RAM for a GGUF (llama.cpp runs it on the processor, and this needs no
    torch), else what the doctor finds (free GPU memory in GPU mode)."""
    from assistant.engine import model_files, models
    from assistant.errors import ModelError

    try:
        gguf = models.gguf_source(source.resolve())
    except ModelError:  # add_model says what is wrong
        gguf = None
    if gguf is not None:
        return model_files.available_ram()
    from assistant.ops import doctor

    return doctor.available_for_model(doctor.gather())


def installed_words(entry: ModelEntry) -> str:
    from assistant.engine import models

    if entry.is_gguf:
        what = f"{models.kind_words(entry)}, needs about {models.gib(entry.memory_bytes)} of memory to run"
    else:
        what = f"about {models.gib(entry.estimate_4bit_bytes)} in 4-bit"
    checked = ""
    if entry.verified_files:
        checked = f", {entry.verified_files} file{'s' if entry.verified_files > 1 else ''} verified against the SHA-256 manifest"
    where = f"copied to {entry.path}" if entry.copied else f"used from {entry.path}"
    return (f"Installed {entry.name}: {entry.family}, {models.size_words(entry.parameters)} parameters, "
            f"{what}{checked}; {where}. Use it with: assistant models use {entry.name}  (or the System tab)")


def cmd_support_bundle(config: Config, args: argparse.Namespace) -> int:
    from assistant.ops.support import make_bundle

    summary = make_bundle(config, Path(args.out))
    say(f"Wrote {summary['path']} ({len(summary['files'])} files, no patient information). "
        "Send it to your vendor.")
    return 0


def run(config: Config, args: argparse.Namespace) -> int:
    handler = {"doctor": cmd_doctor, "models": cmd_models, "support-bundle": cmd_support_bundle}
    return handler[args.command](config, args)
