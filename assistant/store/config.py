"""Settings and paths. Plain Python: no gradio, no torch.

All user data lives under one directory: ``ASSISTANT_HOME`` when set, else the
platform's user data directory (platformdirs).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

from assistant.store.endpoint import Endpoint
from assistant.store.files import atomic_write

APP_NAME = "PracticeAssistant"
LOOPBACK_HOST = "127.0.0.1"
CPU_PRECISIONS = ("auto", "4bit", "bf16", "fp32")
ENGINES = ("auto", "transformers", "llamacpp")  # auto: transformers 4-bit on a usable NVIDIA GPU, else llama.cpp

log = logging.getLogger(__name__)


def data_dir() -> Path:
    """The one directory that holds settings, models, logs and temporary files."""
    home = os.environ.get("ASSISTANT_HOME")
    if home:
        return Path(home).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def demo_model(self) -> Path:
        return self.models / "demo-smollm2-135m-instruct"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def presets(self) -> Path:
        return self.root / "presets"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    def create(self) -> None:
        for folder in (self.root, self.models, self.logs, self.tmp, self.presets):
            folder.mkdir(parents=True, exist_ok=True)
            try:
                folder.chmod(0o700)
            except OSError:  # pragma: no cover - e.g. a filesystem without modes
                pass


@dataclass
class Settings:
    """What a practice may change. Nothing security-relevant is settable here."""

    model_path: str | None = None  # None: the built-in demo model
    cpu_precision: str = "auto"  # the transformers engine on the processor only
    engine: str = "auto"  # one of ENGINES
    port: int = 0  # 0: pick a free port
    endpoint: dict = field(default_factory=dict)  # where the model runs (``store.endpoint.Endpoint``); {}: here
    speech_model_path: str | None = None  # a Whisper model in CTranslate2 format for dictation; None: the built-in

    @property
    def server(self) -> Endpoint:
        """The model server in use (kind "local": this computer). Raises ``EndpointError`` if unusable."""
        return Endpoint.from_dict(self.endpoint or None)

    @classmethod
    def load(cls, paths: Paths) -> Settings:
        """Read settings.json; a broken file is reported and defaults are used."""
        try:
            raw = json.loads(paths.settings_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("settings file unreadable (%s); using defaults", type(exc).__name__)
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known) if isinstance(raw, dict) else ["<not an object>"]
        if unknown:
            log.warning("settings file has unknown keys %s; they are ignored", unknown)
        settings = cls(**{k: v for k, v in raw.items() if k in known}) if isinstance(raw, dict) else cls()
        if settings.cpu_precision not in CPU_PRECISIONS:
            log.warning("settings: cpu_precision %r is not one of %s", settings.cpu_precision, CPU_PRECISIONS)
            settings.cpu_precision = "auto"
        if settings.engine not in ENGINES:
            log.warning("settings: engine %r is not one of %s; using auto", settings.engine, ENGINES)
            settings.engine = "auto"
        if not isinstance(settings.endpoint, dict):
            log.warning("settings: endpoint is not an object; this computer's model is used")
            settings.endpoint = {}
        return settings

    def save(self, paths: Paths) -> None:
        """Write settings.json in one step (``atomic_write``): a crash leaves the old file or the new one."""
        atomic_write(paths.settings_file, json.dumps(asdict(self), indent=2))


@dataclass
class Config:
    paths: Paths
    settings: Settings = field(default_factory=Settings)
    engine_key: str | None = field(default=None, repr=False)  # a key given for this run only (never saved)

    @classmethod
    def load(cls) -> Config:
        paths = Paths(data_dir())
        paths.create()
        return cls(paths=paths, settings=Settings.load(paths))
