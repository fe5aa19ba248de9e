"""GGUF model files: checking one from its header alone, before anything heavy loads.

Plain Python (no llama.cpp, no torch). ``check_gguf`` reads the header (magic, version, the
key/value metadata, the tensor list) and refuses, each with its own plain reason: not a GGUF
file (a pickle renamed ``.gguf`` included), a version this app cannot read, a damaged header,
a file cut short (the tensors' bytes are counted against the file's size), a model family the
assistant does not support, a quantization this llama.cpp cannot load, no chat template.

It reads the header itself instead of with ``gguf.GGUFReader``: that reader builds an array view
for every vocabulary entry and took 4 s on the demo model's 49,152-token vocabulary; this takes a
fraction of a second. The sizes of the tensor types come from the ``gguf`` package, corrected where
the PyPI release differs from the llama.cpp this app carries (``LLAMA_CPP_SIZES``): a type that llama.cpp
loads is never refused as unknown.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from assistant.errors import ModelLoadError, ModelNotFound

MAGIC = b"GGUF"
VERSIONS = (2, 3)
# general.architecture -> the family in plain words
SUPPORTED = {
    "llama": "Llama 3.x / Mistral",
    "mistral3": "Mistral",
    "phi3": "Phi-3",
    "gemma": "Gemma",
    "gemma2": "Gemma 2",
    "gemma3": "Gemma 3",
    "qwen2": "Qwen 2.5",
}
SUPPORTED_WORDS = "Llama 3.x Instruct, Mistral 7B Instruct, Phi-3 mini, Gemma 2 and 3, and Qwen 2.5"
RUNTIME_BASE = 300 * 1024 * 1024
# Tensor types whose (block, bytes) the PyPI ``gguf`` release (0.19) lacks or has otherwise than the
# llama.cpp carried here (llama-cpp-python 0.3.36). A test asks that llama.cpp's own ggml library for every
# type, so an upgrade that adds or changes one shows up there.
LLAMA_CPP_SIZES: dict[int, tuple[int, int]] = {
    9: (32, 36),  # Q8_1: two 16-bit scales and 32 bytes
    42: (64, 18),  # Q2_0
}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_STRING = 64 * 1024 * 1024


@dataclass(frozen=True)
class GgufFacts:
    path: Path
    architecture: str
    family: str  # plain words, "" when not supported
    quantization: str  # "Q4_K_M", "Q4_1" ...
    parameters: int
    file_bytes: int
    context_length: int
    name: str
    chat_template: bool
    kv_bytes_per_token: int  # the reading window's memory per token (16-bit keys and values)

    def memory_bytes(self, context: int) -> int:
        """Memory to run it with a reading window of ``context`` tokens (weights mapped, cache, buffers)."""
        return int(self.file_bytes * 1.05 + self.kv_bytes_per_token * context + RUNTIME_BASE)


class _Damaged(Exception):
    pass


def type_sizes(kind: int) -> tuple[int, int]:
    """(elements a block, bytes a block) of tensor type ``kind``; KeyError for a type llama.cpp does not know."""
    if kind in LLAMA_CPP_SIZES:
        return LLAMA_CPP_SIZES[kind]
    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
    except ValueError:
        raise KeyError(kind) from None


def _read(handle: BinaryIO, n: int) -> bytes:
    data = handle.read(n)
    if len(data) != n:
        raise _Damaged
    return data


def _string(handle: BinaryIO, keep: bool = True) -> str | None:
    (length,) = struct.unpack("<Q", _read(handle, 8))
    if length > _MAX_STRING:
        raise _Damaged
    if not keep:
        handle.seek(length, 1)
        return None
    return _read(handle, length).decode("utf-8", errors="replace")


def _value(handle: BinaryIO, kind: int, keep: bool) -> Any:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        (value,) = struct.unpack(fmt, _read(handle, struct.calcsize(fmt)))
        return value
    if kind == _STRING:
        return _string(handle, keep)
    if kind == _ARRAY:
        item, count = struct.unpack("<IQ", _read(handle, 12))
        if item in _SCALARS:  # skipped: the vocabulary and its scores are arrays
            handle.seek(struct.calcsize(_SCALARS[item]) * count, 1)
        elif item == _STRING:
            for _ in range(count):
                _string(handle, keep=False)
        else:
            raise _Damaged
        return count
    raise _Damaged


def _header(path: Path) -> tuple[int, dict[str, Any], list[tuple[str, list[int], int, int]], int]:
    with path.open("rb") as handle:
        head = handle.read(4)
        if head != MAGIC:
            raise ModelLoadError(_not_gguf(path, head))
        (version,) = struct.unpack("<I", _read(handle, 4))
        if version not in VERSIONS and version >> 24 in VERSIONS:
            raise ModelLoadError(
                f"{path.name} is a GGUF file made for a different kind of computer (big-endian, such as an IBM "
                "mainframe), which llama.cpp cannot load here. Use the ordinary (little-endian) .gguf file."
            )
        if version not in VERSIONS:
            raise ModelLoadError(
                f"{path.name} is a GGUF file of version {version}, which this version of the assistant "
                "cannot read. Use a file made by a recent llama.cpp (GGUF version 3), or update the assistant."
            )
        n_tensors, n_kv = struct.unpack("<QQ", _read(handle, 16))
        if n_tensors > 1_000_000 or n_kv > 100_000:
            raise _Damaged
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = _string(handle) or ""
            (kind,) = struct.unpack("<I", _read(handle, 4))
            meta[key] = _value(handle, kind, keep=True)
        tensors = []
        for _ in range(n_tensors):
            name = _string(handle) or ""
            (dims,) = struct.unpack("<I", _read(handle, 4))
            if dims > 8:
                raise _Damaged
            shape = list(struct.unpack(f"<{dims}Q", _read(handle, 8 * dims)))
            kind, offset = struct.unpack("<IQ", _read(handle, 12))
            tensors.append((name, shape, kind, offset))
        alignment = int(meta.get("general.alignment", 32) or 32)
        start = -(-handle.tell() // alignment) * alignment
    return version, meta, tensors, start


def _not_gguf(path: Path, head: bytes) -> str:
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return (f"{path.name} is not a GGUF model file: it looks like a PyTorch pickle, a kind of file "
                "that can run hidden code. Use the model's .gguf file (or its safetensors folder).")
    return f"{path.name} is not a GGUF model file. Choose the model's .gguf file (or its safetensors folder)."


def check_gguf(path: Path, *, require_supported: bool = True) -> GgufFacts:
    """The facts of the GGUF file at ``path``, or a plain ``ModelLoadError`` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"No model file was found at {path}. Check the name, or choose another model.")
    size = path.stat().st_size
    try:
        _version, meta, tensors, start = _header(path)
    except (_Damaged, struct.error, OverflowError, ValueError):
        raise ModelLoadError(
            f"{path.name} is damaged or incomplete (its header cannot be read). Copy the file again."
        ) from None
    architecture = str(meta.get("general.architecture") or "")
    family = SUPPORTED.get(architecture, "")
    if require_supported and not family:
        raise ModelLoadError(
            f"{path.name} holds a model of a kind the assistant does not support "
            f"(architecture '{architecture or 'unknown'}'). Supported: {SUPPORTED_WORDS}."
        )
    end, parameters = start, 0
    for _name, shape, kind, offset in tensors:
        try:
            block, type_size = type_sizes(kind)
        except KeyError:
            raise ModelLoadError(
                f"{path.name} uses a kind of compression (tensor type {kind}) that this version of llama.cpp "
                "cannot load. Use a common one such as Q4_K_M, or update the assistant."
            ) from None
        count = 1
        for d in shape:
            count *= d
        parameters += count
        end = max(end, start + offset + count // block * type_size)
    if size < end:
        raise ModelLoadError(
            f"{path.name} is incomplete: it has {size:,} of its {end:,} bytes. The copy or download was "
            "probably interrupted; copy the file again."
        )
    file_type = meta.get("general.file_type")
    try:
        quantization = LlamaFileType(file_type).name.removeprefix("MOSTLY_") if file_type is not None else ""
    except ValueError:
        quantization = f"type {file_type}"
    layers = int(meta.get(f"{architecture}.block_count", 0) or 0)
    heads = int(meta.get(f"{architecture}.attention.head_count", 0) or 0)
    kv_heads = int(meta.get(f"{architecture}.attention.head_count_kv", heads) or heads)
    width = int(meta.get(f"{architecture}.embedding_length", 0) or 0)
    head_dim = int(meta.get(f"{architecture}.attention.key_length", 0) or 0) or (width // heads if heads else 0)
    chat = bool(meta.get("tokenizer.chat_template"))
    if require_supported and not chat:
        raise ModelLoadError(
            f"{path.name} has no chat template, so the model cannot follow instructions. "
            "Use the 'Instruct' version of this model."
        )
    return GgufFacts(
        path=path, architecture=architecture, family=family, quantization=quantization or "unknown",
        parameters=parameters, file_bytes=size,
        context_length=int(meta.get(f"{architecture}.context_length", 0) or 0) or 4096,
        name=str(meta.get("general.name") or path.stem), chat_template=chat,
        kv_bytes_per_token=layers * 2 * kv_heads * head_dim * 2,
    )
