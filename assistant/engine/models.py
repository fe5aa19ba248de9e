"""Model folders: checking them, estimating their memory, and the list of installed models.

Plain Python (no torch): a model folder is judged from its files alone, so
``assistant models add`` can refuse a bad folder before anything heavy loads,
and the real backend runs the same checks before every load.

* ``check_folder`` refuses, each with its own reason: a missing folder, no
  config.json, pickle weights (.bin and friends), no or partial (sharded)
  safetensors, a truncated or damaged safetensors file, no tokenizer, no chat
  template and, when asked, an architecture outside the supported families.
* ``verify_manifest`` checks an optional SHA-256 manifest (``sha256sum`` format).
* ``estimate_4bit_bytes`` sizes a model in NF4 from the safetensors headers.
* ``add_model`` adds a model folder, or a GGUF file (``model_files.add_gguf``), to the registry
  (``registry``: ``<data>/models/registry.json``): registered in place, or copied into the data folder.

Never logs file contents; only names, sizes and timings.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from assistant.engine import model_files
from assistant.engine.manifest import find_manifest, verify_manifest
from assistant.engine.registry import (  # noqa: F401 - the registry's names, long reached through here
    REGISTRY_NAME,
    ModelEntry,
    active_name,
    entry_name,
    find_model,
    gib,
    kind_words,
    list_models,
    load_registry,
    safe_name,
    save_registry,
    size_on_disk,
    size_words,
)
from assistant.errors import ModelLoadError, ModelNotFound
from assistant.store.config import Config

_safe_name = safe_name  # hf.quantized names its 4-bit copies with it

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json")

# config.json "model_type" -> the family's name in plain words
SUPPORTED = {
    "llama": "Llama 3.x",
    "mistral": "Mistral",
    "phi3": "Phi-3",
    "gemma": "Gemma",
    "gemma2": "Gemma 2",
    "gemma3": "Gemma 3",
    "gemma3_text": "Gemma 3",
    "qwen2": "Qwen 2.5",
}
SUPPORTED_WORDS = "Llama 3.x Instruct, Mistral 7B Instruct, Phi-3 mini, Gemma 2 and 3, and Qwen 2.5"

_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
NF4_BYTES_PER_PARAM = 0.53  # 4 bits plus double-quantised block scales
RUNTIME_OVERHEAD = 1.15  # activations, the reading window's cache, the library's own buffers
RUNTIME_BASE = 300 * 1024 * 1024


@dataclass
class Tensor:
    name: str
    shape: list[int]
    dtype: str

    @property
    def count(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class FolderFacts:
    """What the files of a model folder say about it."""

    path: Path
    architecture: str  # config.json model_type
    family: str  # plain words, "" when not a supported family
    weight_files: list[str]
    weight_bytes: int
    tensors: list[Tensor] = field(default_factory=list)

    @property
    def parameters(self) -> int:
        return sum(t.count for t in self.tensors)


def _read_config(path: Path) -> dict:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelLoadError(
            f"The model in {path} could not be loaded: its config.json is damaged. Copy the model folder again."
        ) from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"The model in {path} could not be loaded: its config.json is damaged.")
    return config


def read_safetensors_header(file: Path) -> list[Tensor]:
    """The tensor list of a .safetensors file; refuses a truncated or damaged file in plain words."""
    size = file.stat().st_size
    where = f"The model in {file.parent} could not be loaded: {file.name}"
    with file.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelLoadError(f"{where} is empty or cut short. Copy the model folder again.")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, 100_000_000):
            raise ModelLoadError(f"{where} is damaged (it is not a valid safetensors file). Copy the model folder again.")
        try:
            header = json.loads(handle.read(length))
        except ValueError:
            raise ModelLoadError(f"{where} is damaged (its header cannot be read). Copy the model folder again.") from None
    if not isinstance(header, dict):
        raise ModelLoadError(f"{where} is damaged (its header cannot be read). Copy the model folder again.")
    tensors, end = [], 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            tensors.append(Tensor(name, [int(d) for d in entry["shape"]], str(entry["dtype"])))
            end = max(end, int(entry["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise ModelLoadError(f"{where} is damaged (its header cannot be read). Copy the model folder again.") from None
    expected = 8 + length + end
    if size < expected:
        raise ModelLoadError(
            f"{where} is incomplete: it has {size:,} of its {expected:,} bytes. The copy or download was "
            "probably interrupted; copy the model folder again."
        )
    return tensors


def _weight_files(path: Path) -> list[str]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError):
            raise ModelLoadError(
                f"The model in {path} could not be loaded: model.safetensors.index.json is damaged."
            ) from None
        missing = [n for n in names if not (path / n).is_file()]
        if missing:
            raise ModelLoadError(
                f"The model in {path} is incomplete: {len(missing)} of its {len(names)} weight files are missing "
                f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}). Copy the model folder again."
            )
        return names
    return sorted(p.name for p in path.glob("*.safetensors"))


def has_chat_template(path: Path) -> bool:
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return True
    try:
        tokenizer_config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(tokenizer_config, dict) and bool(tokenizer_config.get("chat_template"))


def check_folder(path: Path, *, require_supported: bool = False, read_weights: bool = True) -> FolderFacts:
    """Refuse a folder that cannot be loaded safely; each problem gets its own plain message."""
    path = Path(path)
    if not path.is_dir():
        raise ModelNotFound(
            f"No model was found at {path}. Put a model folder there, or start the "
            "assistant without --model to use the built-in demo model."
        )
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"The folder {path} is not a complete model: config.json is missing.")
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(
            f"The model in {path} includes {', '.join(pickles)}. Files of that kind can run "
            "hidden code, so the assistant only loads .safetensors weights. Use a "
            "safetensors copy of this model."
        )
    config = _read_config(path)
    weights = _weight_files(path)
    if not weights:
        raise ModelLoadError(f"The folder {path} has no .safetensors weights.")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"The model in {path} has no tokenizer (tokenizer.json or tokenizer.model is missing), so it "
            "cannot read text. Copy the complete model folder, including its tokenizer files."
        )
    if not has_chat_template(path):
        raise ModelLoadError(
            f"The model in {path} has no chat template, so it cannot follow instructions. "
            "Use the 'Instruct' version of this model."
        )
    architecture = str(config.get("model_type") or "")
    family = SUPPORTED.get(architecture, "")
    if require_supported and not family:
        raise ModelLoadError(
            f"The model in {path} is of a kind the assistant does not support "
            f"(architecture '{architecture or 'unknown'}'). Supported: {SUPPORTED_WORDS}."
        )
    tensors: list[Tensor] = []
    if read_weights:
        for name in weights:
            tensors.extend(read_safetensors_header(path / name))
    size = sum((path / n).stat().st_size for n in weights)
    return FolderFacts(path=path, architecture=architecture, family=family, weight_files=weights,
                       weight_bytes=size, tensors=tensors)


def estimate_4bit_bytes(facts: FolderFacts) -> int:
    """Memory the model needs in NF4: linear layers at ~4 bits, embeddings and norms in 16 bits."""
    if not facts.tensors or any(t.dtype == "U8" for t in facts.tensors):  # already packed: size on disk
        model = facts.weight_bytes
    else:
        model = 0.0
        for t in facts.tensors:
            quantized = len(t.shape) == 2 and not any(k in t.name for k in ("embed", "lm_head", "wte", "norm"))
            model += t.count * (NF4_BYTES_PER_PARAM if quantized else 2)
    return int(model * RUNTIME_OVERHEAD + RUNTIME_BASE)


# -- adding a model: a folder here, a GGUF file in model_files -----------------------------


def gguf_source(source: Path) -> Path | None:
    """The GGUF file ``source`` names: itself (any file: its checks name a non-GGUF as such), or the one
    .gguf file of a folder that is not a model folder (no config.json), refusing several; else None."""
    if model_files.is_gguf_path(source):
        return source
    folder = source
    if not folder.is_dir() or (folder / "config.json").is_file():
        return None
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    if len(files) > 1:
        raise ModelLoadError(
            f"The folder {folder} holds {len(files)} GGUF files ({', '.join(p.name for p in files[:3])}"
            f"{'...' if len(files) > 3 else ''}). Choose one of them: give the file itself, not the folder."
        )
    return files[0] if files else None


def add_model(
    config: Config,
    source: Path,
    *,
    copy: bool = False,
    name: str | None = None,
    manifest: Path | None = None,
    available_bytes: int | None = None,
    force: bool = False,
) -> ModelEntry:
    """Validate a model folder or a GGUF file, then register it in place or copy it into the data folder.

    Raises ``ModelLoadError`` or ``ModelNotFound`` with the reason when it is refused, including
    (unless ``force``) when the memory it needs exceeds ``available_bytes``; nothing is registered
    or copied then. A GGUF file goes through ``model_files.add_gguf``.
    """
    source = Path(source).expanduser().resolve()
    gguf = gguf_source(source)
    if gguf is not None:
        return model_files.add_gguf(config, gguf, copy=copy, name=name, manifest=manifest,
                                    available_bytes=available_bytes, force=force)
    start = time.perf_counter()
    facts = check_folder(source, require_supported=True)
    manifest = manifest or find_manifest(source)
    verified = verify_manifest(source, manifest, _weight_files(source)) if manifest else 0
    name = entry_name(name or source.name)
    entries = load_registry(config)
    clash = next((e for e in entries if e.name == name), None)
    target = config.paths.models / name if copy else source
    if clash and Path(clash.path) != target:
        raise ModelLoadError(f"A model named '{name}' is already installed. Choose another name (--name).")
    estimate = estimate_4bit_bytes(facts)
    if available_bytes is not None and estimate > available_bytes and not force:
        raise ModelLoadError(
            f"The model in {source} needs about {gib(estimate)} in 4-bit, and this computer has about "
            f"{gib(available_bytes)} available for it, so it would not load. Choose a smaller model "
            f"('assistant doctor' shows which size fits), or {model_files.FORCE_WORDS}."
        )
    if copy and target != source:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source, partial)
        if target.exists():
            shutil.rmtree(target)
        partial.replace(target)
    entry = ModelEntry(
        name=name, path=str(target), copied=copy, architecture=facts.architecture, family=facts.family,
        parameters=facts.parameters, weight_bytes=facts.weight_bytes, estimate_4bit_bytes=estimate,
        verified_files=verified, added=time.strftime("%Y-%m-%d"), memory_bytes=estimate,
    )
    save_registry(config, [e for e in entries if e.name != name] + [entry])
    log.info("model added name=%s arch=%s params=%d copied=%s verified=%d in %.1fs",
             name, facts.architecture, facts.parameters, copy, verified, time.perf_counter() - start)
    return entry
