"""Which speech model dictation uses: the built-in one (Whisper tiny.en) or a Whisper folder in CTranslate2 format.

The one place that changes the setting ``speech_model_path``: ``assistant models add --speech`` and the System tab
both call it. A folder is added only after it has been loaded once (``SpeechModel.load`` refuses a pickle, a
PyTorch file and a damaged model); with ``copy`` it goes to ``<data>/models/speech/<name>``, where the System tab
lists the installed ones. The running app's ``Dictation`` follows the setting, so a change applies to the next
dictation without a restart. A vendor may lock the choice (``vendor.refuse_locked_speech_model``).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from assistant.engine.speech.whisper import SpeechModel, check_folder
from assistant.errors import ModelError
from assistant.install import vendor
from assistant.store.config import Config

log = logging.getLogger(__name__)

BUILTIN = "Built-in (small, English)"
PARTIAL = ".partial"  # a copy still being made


@dataclass(frozen=True)
class SpeechChoice:
    name: str  # as shown
    path: str | None  # the folder; None: the built-in model

    @property
    def builtin(self) -> bool:
        return self.path is None


def speech_dir(config: Config) -> Path:
    """Where copied speech models are installed."""
    return config.paths.models / "speech"


def current(config: Config) -> SpeechChoice:
    path = config.settings.speech_model_path
    return SpeechChoice(Path(path).name, path) if path else SpeechChoice(BUILTIN, None)


def installed(config: Config) -> list[SpeechChoice]:
    """The built-in model, the speech models in the data folder, and the one in use if it is elsewhere."""
    folder = speech_dir(config)
    found = [SpeechChoice(BUILTIN, None)]
    if folder.is_dir():
        found += [SpeechChoice(sub.name, str(sub)) for sub in sorted(folder.iterdir())
                  if sub.is_dir() and not sub.name.endswith(PARTIAL) and (sub / "model.bin").is_file()]
    now = current(config)
    if now.path and all(c.path is None or Path(c.path) != Path(now.path) for c in found):
        found.append(now)  # used from where it is (added without copying, or the vendor's)
    return found


def use(config: Config, path: str | None) -> SpeechChoice:
    """Dictate with the model in ``path`` (None: the built-in one) from the next dictation on; saved in settings."""
    vendor.refuse_locked_speech_model()
    if path:
        check_folder(Path(path))
    config.settings.speech_model_path = str(path) if path else None
    config.settings.save(config.paths)
    chosen = current(config)
    log.info("speech model set: %s", "built-in" if chosen.builtin else "a folder")
    return chosen


def add(config: Config, source: Path, *, copy: bool, name: str | None = None) -> SpeechChoice:
    """Check ``source`` by loading it, copy it into the data folder if asked, and dictate with it from now on.

    Raises ``ModelError`` in plain words (what is wrong and what to do); nothing changes then."""
    vendor.refuse_locked_speech_model()
    source = source.expanduser()
    if source.is_file() and source.name in ("model.bin", "config.json"):
        source = source.parent  # a file of the model was given: its folder is meant
    name = (name or source.resolve().name).strip()
    if copy and (not name or Path(name).name != name or name in (".", "..") or name.endswith(PARTIAL)):
        raise ModelError(f"{name!r} cannot be a speech model's name: give a plain name such as whisper-base-en.")
    target = source.resolve()
    if copy:
        target = speech_dir(config) / name
        if target.exists():
            raise ModelError(f"A speech model named {name} is already installed. Choose it in the list of installed "
                             "speech models, or add this one under another name (rename its folder, or give --name).")
    SpeechModel.load(source, name)  # the real check; the model is dropped again (dictation loads it when used)
    if copy:
        partial = target.with_name(target.name + PARTIAL)
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, partial)
        partial.rename(target)
    config.settings.speech_model_path = str(target)
    config.settings.save(config.paths)
    log.info("speech model added (%s)", "copied" if copy else "used from where it is")
    return SpeechChoice(name, str(target))
