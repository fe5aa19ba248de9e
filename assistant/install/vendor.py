"""What a vendor build adds beside the app: a model, a practice profile, presets and locked settings.

The vendor folder is ``vendor/`` beside the shipped presets (inside a frozen build:
``_internal/vendor/``; from source: ``vendor/`` at the top of the project)::

    vendor/
      settings.json     {"schema_version": 1, "vendor": "Acme IT", "model": "models/NAME",
                         "settings": {"cpu_precision": "4bit"}, "locked": ["model", "cpu_precision"]}
                        (or a clinic server for every workstation: "settings": {"endpoint": {"kind":
                         "openai", "url": "http://10.0.0.5:8000/v1", "model": "NAME"}}, "locked": ["endpoint"])
                        "speech_model": "models/speech/NAME": the speech model dictation uses (a Whisper
                         folder in CTranslate2 format); lock it with "locked": ["speech_model"]
      models/NAME/      the model folder the build carries (instead of the demo model)
      models/speech/NAME/  the speech model folder the build carries (model.bin, config.json, ...)
      profile.json      the practice profile, copied to the data folder on first start
      presets/          the vendor preset pack (read by assistant.store.user_presets.preset_layers)

Vendor settings are defaults: a user's own settings.json wins, except for the keys the vendor
locks. Nothing security-relevant is settable here (the same fields as settings.json). Plain Python.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import AssistantError
from assistant.store.config import CPU_PRECISIONS, ENGINES, Config
from assistant.store.endpoint import Endpoint, EndpointError
from assistant.store.resources import resource_base

log = logging.getLogger(__name__)

SETTINGS_NAME = "settings.json"
LOCKABLE = ("model", "cpu_precision", "port", "engine", "endpoint", "speech_model")
KNOWN_KEYS = {"schema_version", "vendor", "model", "speech_model", "settings", "locked"}


class VendorError(AssistantError):
    """Raised when a vendor settings file is broken; the message names the file and the key."""


@dataclass
class VendorSetup:
    vendor: str = ""
    model: str | None = None  # folder relative to the vendor folder
    speech_model: str | None = None  # the speech model's folder, relative to the vendor folder
    settings: dict = field(default_factory=dict)
    locked: list[str] = field(default_factory=list)


def vendor_dir(base: Path | None = None) -> Path:
    return resource_base(base) / "vendor"


def parse(raw: object, where: str) -> VendorSetup:
    """Check a vendor settings object; every problem is reported as ``where: key: why``."""
    if not isinstance(raw, dict):
        raise VendorError(f"{where}: (file): must be a JSON object")
    problems = [f"{where}: {key}: not a known key (known: {', '.join(sorted(KNOWN_KEYS))})"
                for key in sorted(set(raw) - KNOWN_KEYS)]
    if raw.get("schema_version", 1) != 1:
        problems.append(f"{where}: schema_version: must be 1")
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        problems.append(f"{where}: settings: must be an object")
        settings = {}
    for key, value in settings.items():
        if key == "cpu_precision":
            if value not in CPU_PRECISIONS:
                problems.append(f"{where}: settings.cpu_precision: must be one of {', '.join(CPU_PRECISIONS)}")
        elif key == "port":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
                problems.append(f"{where}: settings.port: must be a whole number from 0 to 65535")
        elif key == "engine":
            if value not in ENGINES:
                problems.append(f"{where}: settings.engine: must be one of {', '.join(ENGINES)}")
        elif key == "endpoint":  # the clinic's model server the workstations all use (a key is never here)
            try:
                Endpoint.from_dict(value).check()
            except EndpointError as exc:
                problems.append(f"{where}: settings.endpoint: {exc.message}")
        else:
            problems.append(f"{where}: settings.{key}: not a setting a vendor may set "
                            "(allowed: cpu_precision, port, engine, endpoint)")
    locked = raw.get("locked", [])
    if not isinstance(locked, list) or any(k not in LOCKABLE for k in locked):
        problems.append(f"{where}: locked: must list only {', '.join(LOCKABLE)}")
        locked = []
    model, speech = raw.get("model"), raw.get("speech_model")
    if model is not None and not _inside(model):
        problems.append(f"{where}: model: must be a folder inside the vendor folder, e.g. models/NAME")
    if speech is not None and not _inside(speech):
        problems.append(f"{where}: speech_model: must be a folder inside the vendor folder, e.g. models/speech/NAME")
    if problems:
        raise VendorError("\n".join(problems))
    return VendorSetup(vendor=str(raw.get("vendor", "")), model=model, speech_model=speech, settings=dict(settings),
                       locked=list(locked))


def _inside(relative: object) -> bool:
    """A non-empty relative path that stays inside the vendor folder."""
    return isinstance(relative, str) and bool(relative) and not Path(relative).is_absolute() \
        and not Path(relative).drive and ".." not in Path(relative).parts


def load(folder: Path | None = None) -> VendorSetup | None:
    """The vendor setup beside the app, or None when this is not a vendor build."""
    path = (folder or vendor_dir()) / SETTINGS_NAME
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VendorError(f"{path}: (file): not readable JSON ({type(exc).__name__})") from None
    return parse(raw, str(path))


def is_locked(key: str) -> bool:
    try:
        setup = load()
    except VendorError:
        return False
    return setup is not None and key in setup.locked


def refuse_locked_model() -> None:
    """Raise a plain ModelError when the vendor has locked the model (the System tab and `models use`)."""
    if is_locked("model"):
        from assistant.errors import ModelError

        raise ModelError("Your vendor has set the model this assistant uses, so it cannot be changed here. "
                         "Ask your vendor if you need a different model.")


def refuse_locked_speech_model() -> None:
    """Raise a plain ModelError when the vendor has locked the speech model (the System tab, `models add --speech`)."""
    if is_locked("speech_model"):
        from assistant.errors import ModelError

        raise ModelError("Your vendor has set the speech model dictation uses, so it cannot be changed here. "
                         "Ask your vendor if you need a different one.")


def _user_keys(config: Config) -> set[str]:
    try:
        raw = json.loads(config.paths.settings_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(raw) if isinstance(raw, dict) else set()


def apply(config: Config, folder: Path | None = None) -> VendorSetup | None:
    """Overlay the vendor's settings on ``config`` and seed the practice profile on first start.

    A broken vendor file is logged and ignored (the build checks it before shipping)."""
    folder = folder or vendor_dir()
    seed_profile(config, folder)
    try:
        setup = load(folder)
    except VendorError as exc:
        log.warning("vendor settings ignored: %s", exc.message.splitlines()[0])
        return None
    if setup is None:
        return None
    mine = _user_keys(config)
    for key, value in setup.settings.items():
        if key in setup.locked or key not in mine:
            setattr(config.settings, key, value)
    if setup.model:
        register_model(config, folder / setup.model)
        if "model" in setup.locked or not config.settings.model_path:
            config.settings.model_path = str(folder / setup.model)
    if setup.speech_model and ("speech_model" in setup.locked or not config.settings.speech_model_path):
        config.settings.speech_model_path = str(folder / setup.speech_model)
    return setup


def register_model(config: Config, path: Path) -> None:
    """List the vendor's model among the installed ones (``models list``, the System tab), once."""
    from assistant.engine import models
    from assistant.errors import ModelError

    if any(Path(entry.path) == path.resolve() for entry in models.load_registry(config)):
        return
    try:
        models.add_model(config, path, copy=False, force=True, name=path.stem if path.is_file() else path.name)
    except ModelError as exc:
        log.warning("the vendor's model could not be listed: %s", type(exc).__name__)


def seed_profile(config: Config, folder: Path) -> bool:
    """Copy the vendor's practice profile into the data folder if the practice has none yet."""
    source, target = folder / "profile.json", config.paths.root / "profile.json"
    if not source.is_file() or target.exists():
        return False
    shutil.copyfile(source, target)
    target.chmod(0o600)
    log.info("practice profile seeded from the vendor build")
    return True
