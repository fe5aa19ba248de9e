"""Build the app's services once, in ``main()``: config, presets, model, engine.

Nothing here runs at import time. The real backend is imported lazily so the
core stays importable (and testable) without torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant import demo_model
from assistant.backends import Backend
from assistant.config import Config
from assistant.generation import Engine
from assistant.preset_store import load_library
from assistant.presets import PresetLibrary
from assistant.profile import PracticeProfile, load_profile

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    presets: PresetLibrary
    engine: Engine
    notices: list[str] = field(default_factory=list)
    profile: PracticeProfile = field(default_factory=PracticeProfile)

    def reload_presets(self) -> PresetLibrary:
        """Re-read every preset layer (after the user saved, deleted or imported one)."""
        self.presets = load_library(self.config.paths)
        return self.presets

    @property
    def model(self):  # noqa: ANN201 - ModelInfo, kept loose for the fake
        return self.engine.backend.info


def load_backend(config: Config, model_path: str | None, progress: Callable[[str], None] = print) -> Backend:
    """Load the model the practice chose, or the built-in demo model."""
    from assistant.backends import hf  # the only torch importer, imported on demand

    precision = config.settings.cpu_precision
    path = model_path or config.settings.model_path
    if path:
        progress(f"Loading the model from {path} ...")
        return hf.TransformersBackend.load(Path(path).expanduser(), cpu_precision=precision)
    folder = config.paths.demo_model
    if not demo_model.is_converted(folder):
        progress("Preparing the built-in demo model (first start only, about half a minute) ...")
        hf.convert_gguf(demo_model.find_demo_gguf(), folder)
    progress("Loading the demo model ...")
    return hf.TransformersBackend.load(folder, cpu_precision=precision, is_demo=True)


def build_services(config: Config, backend: Backend) -> Services:
    presets = load_library(config.paths)
    notices = []
    if backend.info.is_demo:
        notices.append(demo_model.DEMO_NOTICE)
    if presets.warnings:
        notices.append(
            f"{len(presets.warnings)} problem(s) in preset files: those presets were skipped. "
            "The Presets tab lists them."
        )
    return Services(
        config=config, presets=presets, engine=Engine(backend), notices=notices,
        profile=load_profile(config.paths.root),
    )
