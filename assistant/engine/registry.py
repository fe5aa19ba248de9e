"""The list of installed models: ``<data>/models/registry.json``, the built-in demo model, and
plain words for each (``assistant models list``, the System tab, the doctor).

An entry is a safetensors model folder (``format`` "safetensors") or a single GGUF file
(``format`` "gguf", with its ``quantization``). Registry files written before those keys
existed still load: a missing key takes its default. Written atomically (``atomic_write``).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from assistant.errors import ModelError, ModelNotFound
from assistant.store.config import Config
from assistant.store.files import atomic_write

log = logging.getLogger(__name__)

REGISTRY_NAME = "registry.json"
DEMO_FAMILY = "SmolLM2 (demo)"


@dataclass
class ModelEntry:
    name: str
    path: str
    copied: bool = False
    architecture: str = ""
    family: str = ""
    parameters: int = 0
    weight_bytes: int = 0  # the weight files on disk (the .gguf file's size for a GGUF)
    estimate_4bit_bytes: int = 0  # a safetensors folder's memory in 4-bit NF4 (0 for a GGUF file)
    verified_files: int = 0  # files checked against a SHA-256 manifest
    added: str = ""
    builtin: bool = False  # the demo model
    format: str = "safetensors"  # "safetensors" (a model folder) or "gguf" (one file)
    quantization: str = ""  # a GGUF's, in llama.cpp's words: "Q4_K_M", "Q4_1" ...
    memory_bytes: int = 0  # memory it needs to run, whatever the format (0: not known)

    @property
    def is_gguf(self) -> bool:
        return self.format == "gguf"


def gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GB"


def size_on_disk(n: float) -> str:
    """ "4.9 GB", or "94 MB" under a gigabyte (where "0.1 GB" says little)."""
    return gib(n) if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def size_words(parameters: int) -> str:
    if parameters >= 1e9:
        return f"{parameters / 1e9:.1f}B"
    if parameters >= 1e6:
        return f"{parameters / 1e6:.0f}M"
    return f"{parameters / 1e3:.0f}K"


def kind_words(entry: ModelEntry) -> str:
    """What the model is, in plain words: "GGUF file, Q4_K_M, 4.9 GB" or "model folder, about 5.1 GB in 4-bit"."""
    if entry.is_gguf:
        parts = ["GGUF file", entry.quantization, size_on_disk(entry.weight_bytes) if entry.weight_bytes else ""]
        return ", ".join(p for p in parts if p)
    if entry.estimate_4bit_bytes:
        return f"model folder, about {gib(entry.estimate_4bit_bytes)} in 4-bit"
    return "model folder"


def registry_file(config: Config) -> Path:
    return config.paths.models / REGISTRY_NAME


def load_registry(config: Config) -> list[ModelEntry]:
    try:
        raw = json.loads(registry_file(config).read_text(encoding="utf-8"))
        known = set(ModelEntry.__dataclass_fields__)
        return [ModelEntry(**{k: v for k, v in e.items() if k in known}) for e in raw.get("models", [])]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, AttributeError):
        log.warning("model registry unreadable; starting an empty one")
        return []


def save_registry(config: Config, entries: list[ModelEntry]) -> None:
    data = {"schema_version": 1, "models": [asdict(e) for e in entries if not e.builtin]}
    atomic_write(registry_file(config), json.dumps(data, indent=2))


@lru_cache(maxsize=4)
def _demo_facts(path: str, size: int, mtime_ns: int) -> tuple[str, int]:
    from assistant.engine.gguf_file import check_gguf

    try:
        facts = check_gguf(Path(path), require_supported=False)
    except ModelError:
        return "", 0
    return facts.quantization, facts.parameters


def demo_entry(config: Config) -> ModelEntry | None:
    """The built-in demo model: its own GGUF file when it is findable (llama.cpp runs it as it is),
    else the safetensors folder converted from it, when one exists; None when neither."""
    from assistant.engine import demo_model

    try:
        gguf = demo_model.find_demo_gguf()
    except ModelNotFound:
        gguf = None
    if gguf is not None:
        stat = gguf.stat()
        quantization, parameters = _demo_facts(str(gguf), stat.st_size, stat.st_mtime_ns)
        return ModelEntry(name="demo", path=str(gguf), architecture="llama", family=DEMO_FAMILY, builtin=True,
                          format="gguf", quantization=quantization, parameters=parameters,
                          weight_bytes=stat.st_size)
    if demo_model.is_converted(config.paths.demo_model):
        return ModelEntry(name="demo", path=str(config.paths.demo_model), architecture="llama",
                          family=DEMO_FAMILY, builtin=True)
    return None


def list_models(config: Config) -> list[ModelEntry]:
    """The built-in demo model (when its file is here) and every model added, in that order."""
    demo = demo_entry(config)
    return ([demo] if demo else []) + load_registry(config)


def active_name(config: Config) -> str:
    current = config.settings.model_path
    if not current:
        return "demo"
    for entry in load_registry(config):
        if Path(entry.path) == Path(current):
            return entry.name
    return Path(current).name


def find_model(config: Config, name: str) -> ModelEntry:
    for entry in list_models(config):
        if entry.name == name:
            return entry
    raise ModelNotFound(f"No model named '{name}' is installed. 'assistant models list' shows the installed ones.")


def safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:80]
    return cleaned or "model"


def entry_name(name: str) -> str:
    """The name to list an added model under: safe in a file name, and never the demo's own."""
    cleaned = safe_name(name)
    return "demo-copy" if cleaned == "demo" else cleaned
