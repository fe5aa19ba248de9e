"""The real backend: Hugging Face transformers + bitsandbytes, 4-bit on a GPU.

This is the only module that imports torch, transformers or bitsandbytes.
It knows nothing about notes, letters or the UI.

* GPU (CUDA): NF4 4-bit with double quantization; bf16 compute where the GPU
  supports it, else fp16.
* CPU: precision by measurement. On the 2-core machines we build on, NF4 on the
  CPU ran the demo model at ~5 tokens/s against ~22 for bf16 (README has the
  figures), so "auto" uses 16-bit weights when they fit comfortably in memory,
  keeping bf16 or fp32 by timing the decoding step in each at load, and NF4
  4-bit only when 16-bit would not fit. Settings can force "4bit".
* Quantize once: after the first 4-bit load of a model its 4-bit weights are
  saved (bitsandbytes serialises them) into the data folder, never into the
  model folder, and later loads read that copy instead of quantizing again.
* Never downloads: ``local_files_only``, safetensors only, no remote code.
* Generation (the "fast path", for models whose layers all use full attention):
  a prefix cache of recent prompts' keys and values, a lean decoding loop
  instead of ``generate``, and batching (``run_batch``: several answers
  written together, late arrivals joining between tokens). Threads, bf16 or
  fp32 weights and the precision prompts are read in are measured at load.
  Sliding-window models (Gemma 2 and 3) use ``generate``, one at a time.
* ``measure_generate``/``measure_engine``: the timing behind ``assistant bench``.
* ``probe_hardware`` reports what torch sees (GPUs, CUDA, bitsandbytes) for
  ``assistant doctor``; the plain-language verdict lives in ``assistant.ops.doctor``.
* Failures become plain ``ModelLoadError``/``GenerationError`` messages: out of
  memory (at load and mid-generation, memory freed), 4-bit library unusable on
  this GPU, damaged or partial files, unsupported architecture.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib
import inspect
import json
import logging
import os
import queue
import shutil
import statistics
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    DynamicCache,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
    TextStreamer,
)
from transformers import logging as hf_logging
from transformers.cache_utils import DynamicLayer
from transformers.generation.streamers import BaseStreamer

from assistant.core.messages import GenerationSettings, Message
from assistant.engine import models as model_files
from assistant.engine.contract import Job, ModelInfo
from assistant.errors import GenerationError, ModelBusy, ModelLoadError, where_failed

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = model_files.PICKLE_SUFFIXES
CACHE_FORMAT = 1  # bump to invalidate every saved 4-bit copy
Stage = Callable[[float, str], None]  # (fraction done, what is happening) for progress bars
TOKEN_TIMEOUT_S = 0.5  # how often the reader wakes to check on the worker
STALL_LIMIT_S = 300.0  # no new text for this long: the model is stuck


class _StopOnEvent(StoppingCriteria):
    """Stops generation (not just the display) once the event is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> bool:
        return self.event.is_set()


def check_model_folder(path: Path) -> model_files.FolderFacts:
    """Refuse folders that are missing, incomplete, damaged, or carry pickle weights."""
    facts = model_files.check_folder(Path(path))
    from transformers import CONFIG_MAPPING

    if facts.architecture not in CONFIG_MAPPING:
        raise ModelLoadError(
            f"The model in {path} is of a kind this version of the assistant cannot run "
            f"(architecture '{facts.architecture or 'unknown'}'). Supported: {model_files.SUPPORTED_WORDS}."
        )
    return facts


def _tokens_per_second(model: Any, tokenizer: Any, tokens: int = 12) -> float:
    """Time a short greedy generation: the measurement that decides CPU precision."""
    ids = tokenizer("Write one sentence about a therapy appointment.", return_tensors="pt")
    with torch.inference_mode():
        model.generate(**ids, max_new_tokens=2, min_new_tokens=2, do_sample=False)
        start = time.perf_counter()
        model.generate(**ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
    return tokens / (time.perf_counter() - start)


def _pick_cpu_dtype(model: Any, tokenizer: Any, fp32_fits: bool) -> str:
    """Keep bf16 or switch to fp32, whichever generates faster on this processor."""
    bf16 = _tokens_per_second(model, tokenizer)
    fp32 = 0.0
    if fp32_fits:
        _cast_weights(model, torch.float32)
        fp32 = _tokens_per_second(model, tokenizer)
    log.info("cpu precision measured: bf16=%.1f tok/s fp32=%.1f tok/s", bf16, fp32)
    if bf16 >= fp32:
        _cast_weights(model, torch.bfloat16)
        return "bfloat16"
    return "float32"


def _cast_weights(model: Any, dtype: torch.dtype) -> None:
    """Convert the weights only. ``model.to(dtype)`` would also round float32 buffers such as the
    rotary inverse frequencies to bf16 (what a bf16 load keeps in float32), shifting positions."""
    for parameter in model.parameters():
        if parameter.is_floating_point() and parameter.dtype != dtype:
            parameter.data = parameter.data.to(dtype)


def _available_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


# -- the hardware as torch sees it ------------------------------------------------------


def _free_memory() -> None:
    """Give freed tensors back (after an out-of-memory error or when a model is unloaded)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()  # inspected, never logged: it may quote input
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "dispatched on the cpu or the disk" in text


@functools.cache
def gpu_4bit_status() -> tuple[bool, str]:
    """Can bitsandbytes quantize on GPU 0? Tried for real on a small tensor; (usable, reason)."""
    if not torch.cuda.is_available():
        return False, "no NVIDIA GPU"
    try:
        import bitsandbytes.functional as bnbf

        sample = torch.randn(64, 64, device="cuda", dtype=torch.float16)
        packed, state = bnbf.quantize_4bit(sample, quant_type="nf4", compress_statistics=True)
        back = bnbf.dequantize_4bit(packed, state)
        torch.cuda.synchronize()
        if not torch.isfinite(back).all() or (back - sample).abs().mean() > 0.5:
            return False, "its 4-bit test gave wrong numbers"
        return True, "4-bit test passed"
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable here"
        log.warning("bitsandbytes GPU test failed: %s", where_failed(exc))
        major, minor = torch.cuda.get_device_capability(0)
        return False, f"its 4-bit test failed ({type(exc).__name__}; compute capability {major}.{minor})"


def _cpu_4bit_status() -> tuple[bool, str]:
    try:
        import bitsandbytes.functional as bnbf

        packed, state = bnbf.quantize_4bit(torch.randn(64, 64), quant_type="nf4")
        bnbf.dequantize_4bit(packed, state)
        return True, "4-bit test passed"
    except Exception as exc:  # noqa: BLE001
        return False, f"its 4-bit test failed ({type(exc).__name__})"


def _driver_versions() -> tuple[str | None, str | None]:
    """(CUDA driver API version as torch's CUDA sees it, NVIDIA driver version from NVML)."""
    cuda_driver = None
    get = getattr(torch._C, "_cuda_getDriverVersion", None)
    if get is not None and torch.cuda.is_available():
        try:
            number = int(get())
            cuda_driver = f"{number // 1000}.{number % 1000 // 10}"
        except Exception:  # noqa: BLE001
            pass
    nvidia = None
    import ctypes

    for name in ("libnvidia-ml.so.1", "nvml.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if lib.nvmlInit_v2() == 0:
                buf = ctypes.create_string_buffer(96)
                if lib.nvmlSystemGetDriverVersion(buf, 96) == 0:
                    nvidia = buf.value.decode("ascii", "replace")
                lib.nvmlShutdown()
        except (AttributeError, OSError):
            pass
        break
    return cuda_driver, nvidia


def probe_hardware() -> dict[str, Any]:
    """GPUs, CUDA and bitsandbytes as this process sees them. Plain data for ``assistant.ops.doctor``."""
    import transformers

    try:
        import bitsandbytes

        bnb_version = bitsandbytes.__version__
    except Exception:  # noqa: BLE001 - not installed or broken: reported, not raised
        bnb_version = None
    gpus = []
    available = torch.cuda.is_available()
    for index in range(torch.cuda.device_count() if available else 0):
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        gpus.append({
            "index": index, "name": props.name, "compute_capability": f"{props.major}.{props.minor}",
            "total_bytes": int(total), "free_bytes": int(free), "bf16": props.major >= 8,
        })
    cuda_driver, nvidia = _driver_versions()
    gpu_ok, gpu_reason = gpu_4bit_status() if available and bnb_version else (None, "no NVIDIA GPU" if not available else "not installed")
    cpu_ok, cpu_reason = _cpu_4bit_status() if bnb_version else (False, "not installed")
    return {
        "torch": torch.__version__, "transformers": transformers.__version__, "bitsandbytes": bnb_version,
        "cuda_available": available, "cuda_runtime": torch.version.cuda, "cuda_driver": cuda_driver,
        "nvidia_driver": nvidia, "gpus": gpus,
        "bitsandbytes_gpu": {"usable": gpu_ok, "reason": gpu_reason},
        "bitsandbytes_cpu": {"usable": cpu_ok, "reason": cpu_reason},
    }


# -- precision ---------------------------------------------------------------------------


def _nf4(compute: torch.dtype) -> BitsAndBytesConfig:
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute)


def _plan_precision(path: Path, cpu_precision: str) -> tuple[dict[str, Any], str, str]:
    """Return (from_pretrained kwargs, device words, precision words)."""
    cpu_device = "processor (CPU)"
    if torch.cuda.is_available():
        usable, reason = gpu_4bit_status()
        name = torch.cuda.get_device_name(0)
        if usable:
            compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            words = "bfloat16" if compute == torch.bfloat16 else "float16"
            return (
                {"quantization_config": _nf4(compute), "device_map": {"": 0}, "dtype": compute},
                f"GPU: {name}",
                f"4-bit NF4, {words} compute",
            )
        log.warning("4-bit library unusable on the GPU; running on the processor")
        cpu_device = f"processor (CPU), because the 4-bit library cannot use the {name}: {reason}"
    weights = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    ram = _available_ram()
    choice = cpu_precision
    if choice == "auto":
        choice = "measure" if weights * 2 < ram * 0.5 else "4bit"
    if choice == "4bit":
        return ({"quantization_config": _nf4(torch.float32)}, cpu_device, "4-bit NF4, float32 compute")
    if choice == "measure":
        return ({"dtype": torch.bfloat16, "_measure": weights * 4 < ram * 0.5}, cpu_device, "measure")
    dtype = torch.float32 if choice == "fp32" else torch.bfloat16
    return ({"dtype": dtype}, cpu_device, "float32" if choice == "fp32" else "bfloat16")


# -- quantize once: the saved 4-bit copy ---------------------------------------------------


def _quantized_copy(cache_dir: Path, source: Path, facts: model_files.FolderFacts, kwargs: dict[str, Any]) -> Path:
    """Where the 4-bit copy of this exact model, device and library version lives."""
    import bitsandbytes
    import transformers

    files = ["config.json", *facts.weight_files]
    stats = [(n, (source / n).stat().st_size, (source / n).stat().st_mtime_ns) for n in files]
    quant = kwargs["quantization_config"]
    key = json.dumps([CACHE_FORMAT, str(source.resolve()), stats, str(quant.bnb_4bit_compute_dtype),
                      "cuda" if "device_map" in kwargs else "cpu", transformers.__version__, bitsandbytes.__version__])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"{model_files._safe_name(source.name)}-{digest}"


def _save_quantized(model: Any, target: Path, source: Path, seconds: float) -> None:
    """Save the 4-bit weights once (temp folder renamed into place); drop older copies of this model."""
    partial = target.with_name(target.name + ".partial")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        start = time.perf_counter()
        model.save_pretrained(partial, safe_serialization=True)  # quantization_config stays: the reload needs it
        (partial / "complete.json").write_text(json.dumps({"source": str(source.resolve()), "quantize_seconds": seconds}))
        for old in target.parent.glob(f"{target.name.rsplit('-', 1)[0]}-*"):
            try:
                if old != partial and json.loads((old / "complete.json").read_text())["source"] == str(source.resolve()):
                    shutil.rmtree(old, ignore_errors=True)
            except (OSError, ValueError, KeyError):
                continue
        shutil.rmtree(target, ignore_errors=True)  # an unfinished copy from a crash
        partial.replace(target)
        log.info("saved 4-bit copy of %s in %.1fs", source.name, time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - a full disk must not stop the model from running
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("could not save the 4-bit copy of %s: %s", source.name, where_failed(exc))


def _load_error(path: Path, exc: BaseException) -> ModelLoadError:
    if _is_out_of_memory(exc):
        _free_memory()
        where = "the graphics card" if torch.cuda.is_available() else "this computer"
        log.error("model load ran out of memory for %s", path.name)
        return ModelLoadError(
            f"The model in {path.name} does not fit in the memory of {where}. Choose a smaller model "
            "(the System tab shows which size fits), or close other programs that use the memory, then try again."
        )
    text = str(exc).lower()
    if torch.cuda.is_available() and ("bitsandbytes" in text or "no kernel image" in text or "cuda setup" in text):
        log.error("4-bit library failed on the GPU for %s: %s", path.name, where_failed(exc))
        return ModelLoadError(
            "The 4-bit library (bitsandbytes) cannot use this graphics card. Update the NVIDIA driver and "
            "restart the computer; 'assistant doctor' shows what was found. Until then the demo model still works."
        )
    log.error("model load failed for %s: %s", path.name, where_failed(exc))
    return ModelLoadError(
        f"The model in {path} could not be loaded ({type(exc).__name__}). The files may be "
        "incomplete or damaged; copy the model folder again, or use the demo model."
    )


# -- the fast path: prefix cache, a lean decoding loop, batching ------------------------------
#
# Measured on the demo model on our shared 2-core build machine (bf16, one thread; README has the
# table): model.generate spends ~90 ms a token. Most of it is the matrix products, but on this
# processor three other things cost a lot and are avoided here:
# * SDPA with ``enable_gqa`` (what transformers uses for one query token without a mask) ran
#   4x slower in bf16 than the same attention with the query heads packed onto the key/value heads
#   (541 vs 123 us a layer at 300 tokens); the decoding step packs them (as transformers itself
#   does when a mask is given).
# * DynamicCache appends with torch.cat, copying the whole cache every token; ``_KVLayer`` writes
#   into a preallocated buffer.
# * bf16 matrix products on a processor without bf16 instructions are slow when many rows go
#   through at once: a 350-token prefill took 9.3 s in bf16 and 2.0 s with float32 products
#   (``_float32_products``), so prompts are read with float32 products when the load-time test
#   says it is faster.
# Exactness: greedy results are the same with and without the prefix cache and batching (tests):
# cached prefixes are always followed by at least MIN_SUFFIX_TOKENS computed tokens (float32
# products of 1-3 rows take another kernel on this processor and round differently; from 8 rows
# on they give the same bits), and bf16 products give the same bits for a row alone or in a batch.

MIN_PREFIX_TOKENS = 16  # shorter shared prefixes are not worth a cache entry
MIN_SUFFIX_TOKENS = 8  # prompt tokens always computed after a cached prefix (see above)
PREFIX_ENTRIES = 8
PREFIX_BYTES = {"cpu": 256 << 20, "cuda": 512 << 20}
MAX_BATCH = {"cpu": 4, "cuda": 8}
LEAN_FAMILIES = ("llama", "mistral", "qwen2")  # decoder layers shaped like Llama's
STATIC_ROPE = (None, "default", "linear", "llama3", "yarn")  # inverse frequencies fixed at load


class _KVLayer(DynamicLayer):
    """One layer's keys and values in a preallocated buffer (batch, heads, capacity, dim):
    a new token is written in place instead of copying the whole cache with torch.cat."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = max(1, capacity)
        self.length = 0
        self.k_buf: torch.Tensor | None = None
        self.v_buf: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        b, h, _, d = key_states.shape
        self.device = key_states.device
        self.k_buf = key_states.new_empty((b, h, self.capacity, d))
        self.v_buf = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.is_initialized = True

    def adopt(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        """Use these buffers (already holding ``length`` positions)."""
        self.k_buf, self.v_buf, self.length = keys, values, length
        self.capacity = keys.shape[-2]
        self.device = keys.device
        self.is_initialized = True
        self.keys, self.values = keys[:, :, :length], values[:, :, :length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.k_buf.shape[-2]:  # type: ignore[union-attr]
            self._grow(end)
        self.k_buf[:, :, self.length:end] = key_states  # type: ignore[index]
        self.v_buf[:, :, self.length:end] = value_states  # type: ignore[index]
        self.length = end
        self.keys = self.k_buf[:, :, :end]  # type: ignore[index]
        self.values = self.v_buf[:, :, :end]  # type: ignore[index]
        return self.keys, self.values

    def _grow(self, need: int) -> None:
        capacity = max(need, 2 * self.k_buf.shape[-2])  # type: ignore[union-attr]
        for name in ("k_buf", "v_buf"):
            old = getattr(self, name)
            new = old.new_empty((*old.shape[:2], capacity, old.shape[-1]))
            new[:, :, : self.length] = old[:, :, : self.length]
            setattr(self, name, new)

    def get_seq_length(self) -> int:
        return self.length


def _cache_of(config: Any, layers: list[_KVLayer]) -> DynamicCache:
    cache = DynamicCache(config=config)
    cache.layers = layers  # type: ignore[assignment]
    return cache


class _PrefixStore:
    """Keys and values of recent prompts, to start later prompts that begin with the same tokens
    (a preset's system prompt and instructions, a conversation so far) from there.

    Matching compares token ids, so a reused prefix is always a true prefix of the new prompt's
    own tokenization; the entry itself is never changed (its tensors are copied into each use)."""

    def __init__(self, max_bytes: int, max_entries: int = PREFIX_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0

    def lookup(self, ids: list[int]) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]] | None]:
        """(tokens that can be reused, their keys and values), or (0, None)."""
        best, found = 0, None
        wanted = tuple(ids)
        for key in self.entries:
            shared = len(os.path.commonprefix([key, wanted]))
            if shared > best:
                best, found = shared, key
        usable = min(best, len(ids) - MIN_SUFFIX_TOKENS)
        if found is None or usable < MIN_PREFIX_TOKENS:
            self.misses += 1
            return 0, None
        self.entries.move_to_end(found)
        self.hits += 1
        return usable, self.entries[found]

    def add(self, ids: list[int], layers: list[_KVLayer]) -> None:
        if len(ids) < MIN_PREFIX_TOKENS + MIN_SUFFIX_TOKENS:
            return
        key = tuple(ids)
        for old in [k for k in self.entries if len(k) <= len(key) and key[: len(k)] == k]:
            self._drop(old)  # a prefix of this prompt: the new entry covers it
        kv = [(layer.k_buf[:, :, : len(ids)].clone(), layer.v_buf[:, :, : len(ids)].clone())  # type: ignore[index]
              for layer in layers]
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if size > self.max_bytes:
            return
        self.entries[key] = kv
        self.bytes += size
        while self.bytes > self.max_bytes or len(self.entries) > self.max_entries:
            self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple[int, ...]) -> None:
        kv = self.entries.pop(key)
        self.bytes -= sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


class _Text(TextStreamer):
    """transformers' own incremental detokenizer (whole words, complete characters), per answer."""

    def __init__(self, tokenizer: Any, emit: Callable[[str], None]) -> None:
        super().__init__(tokenizer, skip_prompt=False, skip_special_tokens=True)
        self._emit = emit

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._emit(text)


@dataclass(eq=False)
class _Row:
    """One answer being written inside a batch."""

    job: Job
    ids: list[int]
    settings: GenerationSettings
    eos: frozenset[int]
    text: _Text
    seen: torch.Tensor  # (vocab,) bool: tokens of the prompt and the answer, for the repetition penalty
    max_new: int
    fixed_length: bool = False  # benchmark only: ignore end-of-text, write max_new tokens
    layers: list[_KVLayer] = field(default_factory=list)  # its own cache until it joins the batch
    pad: int = 0  # padding positions before its own, in the batch
    last: int = -1  # the token just chosen, to feed next
    written: int = 0
    done: bool = False


def _lean_plan(model: Any) -> list[tuple[Any, ...]] | None:
    """What the lean decoding step needs from a Llama-shaped model, or None to use model.forward.

    The lean step runs the same operations in the same order as the model's own forward (tests
    compare the results bit for bit) with far less Python around them."""
    config = model.config
    if config.model_type not in LEAN_FAMILIES or getattr(config, "_attn_implementation", "") != "sdpa":
        return None
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_type")
    base = getattr(model, "model", None)
    if rope not in STATIC_ROPE or base is None or not hasattr(base, "rotary_emb") or not hasattr(model, "lm_head"):
        return None
    module = importlib.import_module(type(base.layers[0].self_attn).__module__)
    rotate = getattr(module, "apply_rotary_pos_emb", None)
    if rotate is None:
        return None

    def linear(layer: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        if type(layer) is torch.nn.Linear:
            weight, bias = layer.weight, layer.bias
            return lambda x: F.linear(x, weight, bias)
        return layer  # bitsandbytes 4-bit and other kinds: their own forward

    plan = []
    try:
        for layer in base.layers:
            attn, mlp = layer.self_attn, layer.mlp
            plan.append((
                layer.input_layernorm.forward, linear(attn.q_proj), linear(attn.k_proj), linear(attn.v_proj),
                linear(attn.o_proj), layer.post_attention_layernorm.forward, linear(mlp.gate_proj),
                linear(mlp.up_proj), linear(mlp.down_proj), mlp.act_fn, attn.head_dim,
                attn.num_key_value_groups, attn.scaling, rotate,
            ))
    except AttributeError:
        return None
    return plan


def _dtype_words(model: Any) -> str:
    return {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(next(model.parameters()).dtype, "float32")


def _fp32_linear(module: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    bias = module.bias.float() if module.bias is not None else None
    return F.linear(x.float(), module.weight.float(), bias).to(x.dtype)


class _Batch:
    """The running answers' caches side by side, left-padded to a common width (``valid`` marks
    each row's real positions), with room for every row's remaining tokens."""

    def __init__(self, layers: list[_KVLayer], valid: torch.Tensor, width: int, padded: bool, config: Any) -> None:
        self.layers = layers
        self.valid = valid
        self.width = width  # filled positions, the same for every row
        self.padded = padded
        self.cache = _cache_of(config, layers)

    def mask(self) -> torch.Tensor | None:
        """For the next token: (rows, 1, 1, width + 1) True where a row has a real position."""
        return self.valid[:, None, None, : self.width + 1] if self.padded else None

    @staticmethod
    def merge(batch: _Batch | None, rows: list[_Row], joined: list[_Row], model: Any) -> _Batch:
        """The batch with ``joined`` rows (their prompts just read) added after ``rows``."""
        if batch is None and len(joined) == 1:  # one answer: its own buffers, nothing copied
            row = joined[0]
            layers, row.layers, row.pad = row.layers, [], 0
            valid = torch.ones((1, layers[0].k_buf.shape[-2]), dtype=torch.bool, device=model.device)  # type: ignore[union-attr]
            return _Batch(layers, valid, len(row.ids), False, model.config)
        old_width = batch.width if batch is not None else 0
        width = max(old_width, *(len(row.ids) for row in joined))
        capacity = width + max(row.max_new - row.written for row in rows + joined) + 1
        shift = width - old_width
        count = len(rows) + len(joined)
        layers = []
        for index in range(len(joined[0].layers)):
            sample = joined[0].layers[index]
            buffers = []
            for name in ("k_buf", "v_buf"):
                part = getattr(sample, name)
                merged = part.new_zeros((count, part.shape[1], capacity, part.shape[-1]))  # zeros: padding stays finite
                if batch is not None:
                    merged[: len(rows), :, shift:width] = getattr(batch.layers[index], name)[:, :, :old_width]
                for offset, row in enumerate(joined, start=len(rows)):
                    merged[offset, :, width - len(row.ids): width] = getattr(row.layers[index], name)[0, :, : len(row.ids)]
                buffers.append(merged)
            layer = _KVLayer(capacity)
            layer.adopt(buffers[0], buffers[1], width)
            layers.append(layer)
        for row in rows:
            row.pad += shift
        for row in joined:
            row.pad, row.layers = width - len(row.ids), []
        valid = torch.zeros((count, capacity), dtype=torch.bool, device=model.device)
        for index, row in enumerate(rows + joined):
            valid[index, row.pad:] = True
        return _Batch(layers, valid, width, any(row.pad for row in rows + joined), model.config)

    @staticmethod
    def drop(batch: _Batch, rows: list[_Row], model: Any) -> tuple[list[_Row], _Batch | None]:
        """Leave out the finished rows (and the padding no remaining row needs)."""
        keep = [index for index, row in enumerate(rows) if not row.done]
        if not keep:
            return [], None
        kept = [rows[index] for index in keep]
        trim = min(row.pad for row in kept)
        chosen = torch.tensor(keep, device=model.device)
        layers = []
        for old in batch.layers:
            keys = old.k_buf.index_select(0, chosen)[:, :, trim:]  # type: ignore[union-attr]
            values = old.v_buf.index_select(0, chosen)[:, :, trim:]  # type: ignore[union-attr]
            layer = _KVLayer(keys.shape[-2])
            layer.adopt(keys, values, batch.width - trim)
            layers.append(layer)
        for row in kept:
            row.pad -= trim
        valid = batch.valid.index_select(0, chosen)[:, trim:]
        return kept, _Batch(layers, valid, batch.width - trim, any(row.pad for row in kept), model.config)


class _QueueJob:
    """A job whose pieces a reader takes from a queue (``TransformersBackend.stream``)."""

    END = object()

    def __init__(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event) -> None:
        self.messages = messages
        self.settings = settings
        self.stop = stop
        self.pieces: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._finished = False

    def emit(self, piece: str) -> None:
        self.pieces.put(piece)

    def finish(self, error: BaseException | None = None) -> None:
        if not self._finished:
            self._finished = True
            self.error = error
            self.pieces.put(self.END)


def _drain(pieces: Iterator[str], job: Job) -> None:
    try:
        for piece in pieces:
            job.emit(piece)
    except BaseException as exc:  # noqa: BLE001 - handed to the job's reader
        job.finish(exc)
    job.finish()


def _has_hooks(model: Any) -> bool:
    """Hooks on the model's modules (accelerate's offloading, a test's fault injection) only run
    through module calls, so the lean step, which calls the weights directly, is not used."""
    from torch.nn.modules import module as nn_module

    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or getattr(m, "_hf_hook", None) is not None
               for m in model.modules())


def _eos_ids(model: Any) -> frozenset[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        return frozenset()
    return frozenset([int(eos)] if isinstance(eos, int) else (int(e) for e in eos))


class TransformersBackend:
    """A loaded causal LM and its tokenizer. Use ``load()`` to build one, ``close()`` to free it."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo, *, path: Path | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.path = path
        self.from_saved_4bit = False  # loaded from the quantize-once copy
        self.tokens_written = 0  # by the fast path, all answers together (tests and the benchmark read it)
        self._lock = threading.Lock()  # one pass over the model at a time
        self._prompts: OrderedDict[tuple[Message, ...], list[int]] = OrderedDict()  # rendered once per request
        self._prompts_lock = threading.Lock()
        self._fixed_length = False
        self._setup_fast_path()

    def _setup_fast_path(self) -> None:
        """Decide what the fast path can do with this model (full-attention layers only)."""
        self.max_batch = 1
        self._fast = False
        self._lean: list[tuple[Any, ...]] | None = None
        self._prefill_fp32 = False
        self._linears: list[torch.nn.Linear] = []
        self._prefixes = _PrefixStore(0)
        self.tuning: dict[str, Any] = {"fast_path": False}
        model = self.model
        if model is None:
            return
        kind = "cuda" if model.device.type == "cuda" else "cpu"
        try:
            layers = DynamicCache(config=model.config).layers
        except Exception:  # noqa: BLE001 - an unusual cache structure: transformers' own generate
            layers = []
        if not layers or any(type(layer) is not DynamicLayer for layer in layers):
            log.info("fast path off for %s: sliding-window or other special attention layers", model.config.model_type)
            return
        self._fast = True
        self._n_layers = len(layers)
        self._cache_key = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._prefixes = _PrefixStore(PREFIX_BYTES[kind])
        self._lean = _lean_plan(model)
        self.max_batch = MAX_BATCH[kind] if self._lean else 1  # batching needs the lean step's exact attention
        if kind == "cpu" and next(model.parameters()).dtype in (torch.bfloat16, torch.float16):
            self._linears = [m for m in model.get_decoder().modules() if type(m) is torch.nn.Linear]
        self._all_true = torch.ones((1, 1, 1, 64), dtype=torch.bool, device=model.device)
        self.tuning = {
            "fast_path": True, "max_batch": self.max_batch, "prefix_cache": True,
            "decode": "lean step" if self._lean else "model forward",
            "attention": f"{model.config._attn_implementation}, query heads packed onto key/value heads when decoding",
            "threads": torch.get_num_threads() if kind == "cpu" else None,
            "prompt_products": "model precision",
        }

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        cpu_precision: str = "auto",
        is_demo: bool = False,
        cache_dir: Path | None = None,
        stage: Stage | None = None,
    ) -> TransformersBackend:
        """Load a model folder. With ``cache_dir``, a 4-bit load is quantized once and saved there."""
        path = Path(path)
        tell = stage or (lambda fraction, words: None)
        tell(0.02, "Checking the model files")
        facts = check_model_folder(path)
        hf_logging.disable_progress_bar()
        start = time.perf_counter()
        kwargs, device, precision = _plan_precision(path, cpu_precision)
        fp32_fits = kwargs.pop("_measure", False)
        saved = _quantized_copy(cache_dir, path, facts, kwargs) if cache_dir and "quantization_config" in kwargs else None
        from_saved = saved is not None and (saved / "complete.json").is_file()
        base = dict(local_files_only=True, trust_remote_code=False, use_safetensors=True, low_cpu_mem_usage=True)
        try:
            tell(0.08, "Reading the tokenizer")
            config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
            model = None
            if from_saved:
                tell(0.15, "Loading the saved 4-bit copy")
                try:
                    placed = {k: v for k, v in kwargs.items() if k != "quantization_config"}
                    model = AutoModelForCausalLM.from_pretrained(saved, **base, **placed)
                except Exception as exc:  # noqa: BLE001 - a damaged copy is rebuilt from the original
                    if _is_out_of_memory(exc):
                        raise
                    log.warning("saved 4-bit copy unusable (%s); quantizing again", type(exc).__name__)
                    shutil.rmtree(saved, ignore_errors=True)
                    from_saved, model = False, None
                    _free_memory()
            if model is None:
                quantizing = "quantization_config" in kwargs
                tell(0.15, "Loading and converting the model to 4-bit" if quantizing else "Loading the model")
                model = AutoModelForCausalLM.from_pretrained(path, **base, **kwargs)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure here means "this folder cannot be loaded"
            raise _load_error(path, exc) from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(
                f"The model in {path} has no chat template, so it cannot follow instructions. "
                "Use the 'Instruct' version of this model."
            )
        model.eval()
        backend = cls(model, tokenizer, ModelInfo(path.name, device, precision, 0), path=path)
        if model.device.type == "cpu" and backend._fast:  # threads, bf16 or fp32, prompt products: measured
            tell(0.8, "Testing what runs fastest on this processor")
            picked = backend._tune_cpu(choose_dtype=precision == "measure", fp32_fits=fp32_fits)
            if precision == "measure":
                precision = f"{picked} (picked by a speed test on this computer)"
        elif precision == "measure":  # CPU: 16-bit fits; let this processor decide bf16 or fp32
            tell(0.8, "Testing which precision is fastest on this processor")
            precision = _pick_cpu_dtype(model, tokenizer, fp32_fits) + " (picked by a speed test on this computer)"
        seconds = time.perf_counter() - start
        if saved is not None and not from_saved:
            tell(0.85, "Saving a 4-bit copy so the next start is faster (first time only)")
            _save_quantized(model, saved, path, seconds)
        context = int(getattr(config.get_text_config(), "max_position_embeddings", 0) or 0) or 4096
        info = ModelInfo(
            name=path.name,
            device=device,
            precision=precision,
            context_window=min(context, 32768),
            is_demo=is_demo,
            load_seconds=round(seconds, 2),
        )
        log.info("model loaded name=%s device=%s precision=%s saved_4bit=%s in %.1fs",
                 info.name, device.split(",")[0], precision, from_saved, seconds)
        backend.info = info
        backend.from_saved_4bit = from_saved
        tell(1.0, "Ready")
        return backend

    def close(self) -> None:
        """Free the model's memory (CPU and GPU). The backend cannot be used afterwards."""
        self.model = None
        _free_memory()
        log.info("model unloaded name=%s", self.info.name)

    # -- prompts ---------------------------------------------------------------

    def _template(self, messages: list[Message]) -> Any:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        systems = [m.content.strip() for m in messages if m.role == "system" and m.content.strip()]
        try:
            text = self._render(chat)
            if all(s in text for s in systems):
                return self._encode(text)
            log.info("chat template dropped the system message; folding it into the first user turn")
        except Exception:  # noqa: BLE001 - e.g. Gemma 2's template has no system role
            pass
        # Fold the system prompt into the first user turn and merge repeated roles.
        folded: list[dict[str, str]] = []
        system = "\n\n".join(t["content"] for t in chat if t["role"] == "system")
        for turn in (t for t in chat if t["role"] != "system"):
            if folded and folded[-1]["role"] == turn["role"]:
                folded[-1] = {"role": turn["role"], "content": folded[-1]["content"] + "\n\n" + turn["content"]}
            else:
                folded.append(dict(turn))
        if system:
            if folded and folded[0]["role"] == "user":
                folded[0] = {"role": "user", "content": f"{system}\n\n{folded[0]['content']}"}
            else:
                folded.insert(0, {"role": "user", "content": system})
        try:
            return self._encode(self._render(folded))
        except Exception as exc:  # noqa: BLE001 - the model's own template refused the conversation
            log.error("chat template refused the conversation: %s", where_failed(exc))
            raise GenerationError(
                "This model could not read the conversation in this form. Press Clear and try again."
            ) from None

    def _render(self, chat: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)

    def _encode(self, text: str) -> Any:
        # The template already holds the special tokens (BOS and turn markers).
        return self.tokenizer(text, add_special_tokens=False, return_tensors="pt")

    def _pad_id(self) -> int | None:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id

    def _require_model(self) -> Any:
        if self.model is None:
            raise ModelBusy("The model is being changed. Try again in a minute.")
        return self.model

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self._prompt_ids(messages))

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        """The prompt's token ids, rendered once per request (the engine counts, then generates)."""
        key = tuple(messages)
        with self._prompts_lock:
            ids = self._prompts.get(key)
            if ids is not None:
                self._prompts.move_to_end(key)
                return ids
        ids = self._template(messages)["input_ids"][0].tolist()
        with self._prompts_lock:
            self._prompts[key] = ids
            while len(self._prompts) > 16:
                self._prompts.popitem(last=False)
        return ids

    # -- generation ------------------------------------------------------------

    def stream(
        self, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        model = self._require_model()
        if not self._fast:
            yield from self._stream_generate(model, messages, settings, stop)
            return
        job = _QueueJob(messages, settings, stop)

        def work() -> None:
            try:
                self.run_batch([job], lambda room: [])
            except BaseException as exc:  # reported to the reader below, never lost
                job.finish(exc)

        worker = threading.Thread(target=work, name="generate", daemon=True)
        worker.start()
        last = time.monotonic()
        finished = False
        try:
            while True:
                try:
                    piece = job.pieces.get(timeout=TOKEN_TIMEOUT_S)
                except queue.Empty:
                    if time.monotonic() - last > STALL_LIMIT_S:
                        raise GenerationError("The model stopped responding. Press Stop, then try again.") from None
                    continue
                last = time.monotonic()
                if piece is _QueueJob.END:
                    break
                yield piece
            finished = job.error is None
        finally:
            if not finished:
                stop.set()  # a closed or abandoned stream also stops the model
            worker.join(timeout=STALL_LIMIT_S)  # the next request never overlaps this one
            if worker.is_alive():
                log.error("generation worker still running after stop")
        if job.error is not None:
            raise job.error if isinstance(job.error, GenerationError) else _generation_error(job.error)

    def _stream_generate(
        self, model: Any, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        """transformers' generate in a worker thread: for models the fast path does not cover."""
        inputs = self._template(messages).to(model.device)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=TOKEN_TIMEOUT_S
        )
        sampling: dict[str, Any] = {"do_sample": False}
        if settings.temperature > 0:
            sampling = {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=settings.max_new_tokens,
                        repetition_penalty=settings.repetition_penalty,
                        stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop)]),
                        pad_token_id=self._pad_id(),
                        **sampling,
                    )
            except BaseException as exc:  # reported to the reader below, never lost
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=work, name="generate", daemon=True)
        worker.start()
        last = time.monotonic()
        finished = False
        try:
            while True:
                try:
                    piece = next(streamer)
                except StopIteration:
                    break
                except queue.Empty:
                    if not worker.is_alive() and not failure:
                        break
                    if time.monotonic() - last > STALL_LIMIT_S:
                        raise GenerationError(
                            "The model stopped responding. Press Stop, then try again."
                        ) from None
                    continue
                last = time.monotonic()
                if piece:
                    yield piece
            finished = not failure
        finally:
            if not finished:
                stop.set()  # a closed or abandoned stream also stops the model
            # Wait for the current forward pass to end, so the next request never overlaps it.
            worker.join(timeout=STALL_LIMIT_S)
            if worker.is_alive():
                log.error("generation worker still running after stop")
        if failure:
            raise _generation_error(failure[0])


    # -- the fast path: several answers in one pass ------------------------------

    def run_batch(self, jobs: list[Job], more: Callable[[int], list[Job]]) -> None:
        """Write the answers of ``jobs`` together, taking in ``more`` jobs between tokens (see
        ``BatchingBackend``). Each prompt is read on its own (reusing a cached prefix), then all
        answers advance one token per step as one left-padded batch."""
        model = self._require_model()
        seen: list[Job] = []

        def take(room: int) -> list[Job]:
            joined = more(room) if room > 0 else []
            seen.extend(joined)
            return joined

        seen.extend(jobs)
        if not self._fast:  # not expected (max_batch is 1 then): one at a time through generate
            for job in jobs:
                _drain(self._stream_generate(model, job.messages, job.settings, job.stop), job)
            return
        try:
            with self._lock, torch.inference_mode():
                self._run(model, list(jobs), take)
        except BaseException as exc:
            error = exc if isinstance(exc, GenerationError) else _generation_error(exc)
            for job in seen:
                job.finish(error)  # the ones already finished ignore it
            raise error from None
        for job in seen:
            job.finish()  # those stopped before their prompt was read

    def _run(self, model: Any, pending: list[Job], more: Callable[[int], list[Job]]) -> None:
        rows: list[_Row] = []
        batch: _Batch | None = None
        lean = self._lean if self._lean and not _has_hooks(model) else None
        eos = _eos_ids(model)
        while True:
            room = self.max_batch - len(rows) - len(pending)
            if room > 0:
                pending.extend(more(room))
            joined = [row for row in (self._start(model, job, eos) for job in pending) if row is not None]
            pending = []
            if joined:
                batch = _Batch.merge(batch, rows, joined, model)
                rows = rows + joined
            if not rows:
                return
            logits = self._step(model, rows, batch, lean)  # type: ignore[arg-type]
            for row, row_logits in zip(rows, logits, strict=True):
                self._advance(row, row_logits)
            if any(row.done for row in rows):
                rows, batch = _Batch.drop(batch, rows, model)  # type: ignore[arg-type]

    def _start(self, model: Any, job: Job, eos: frozenset[int]) -> _Row | None:
        """Read one prompt (from its cached prefix when there is one) and choose its first token."""
        if job.stop.is_set():
            job.finish()
            return None
        ids = self._prompt_ids(job.messages)
        reuse, cached = self._prefixes.lookup(ids)
        layers = [_KVLayer(len(ids) + job.settings.max_new_tokens + 1) for _ in range(self._n_layers)]
        if cached is not None:
            for layer, (keys, values) in zip(layers, cached, strict=True):
                layer.update(keys[:, :, :reuse], values[:, :, :reuse])
        device = model.device
        with self._float32_products():
            out = model(
                input_ids=torch.tensor([ids[reuse:]], device=device),
                position_ids=torch.arange(reuse, len(ids), device=device).unsqueeze(0),
                use_cache=True, logits_to_keep=1, **{self._cache_key: _cache_of(model.config, layers)},
            )
        self._prefixes.add(ids, layers)
        logits = out.logits[0, -1]
        seen = torch.zeros(logits.shape[-1], dtype=torch.bool, device=device)
        seen[torch.tensor(ids, device=device)] = True
        row = _Row(job, ids, job.settings, eos, _Text(self.tokenizer, job.emit), seen, job.settings.max_new_tokens,
                   fixed_length=bool(getattr(job, "fixed_length", False) or self._fixed_length), layers=layers)
        log.debug("prompt read tokens=%d reused=%d", len(ids), reuse)
        self._advance(row, logits)
        return None if row.done else row

    def _advance(self, row: _Row, logits: torch.Tensor) -> None:
        """Choose the row's next token from its logits (the processing transformers' generate does,
        in the same order: repetition penalty, then temperature, top-k, top-p), and stream it."""
        if row.job.stop.is_set():
            self._end(row)
            return
        scores = logits.float()
        penalty = row.settings.repetition_penalty
        if penalty != 1.0:
            scores = torch.where(row.seen, torch.where(scores < 0, scores * penalty, scores / penalty), scores)
        token = self._sample(scores, row.settings) if row.settings.temperature > 0 else int(scores.argmax())
        row.written += 1
        self.tokens_written += 1
        on_token = getattr(row.job, "on_token", None)
        if on_token is not None:
            on_token(token)
        if token in row.eos and not row.fixed_length:
            self._end(row)
            return
        row.seen[token] = True
        row.last = token
        row.text.put(torch.tensor([token]))
        if row.written >= row.max_new:
            self._end(row)

    def _sample(self, scores: torch.Tensor, settings: GenerationSettings) -> int:
        scores = scores / settings.temperature
        top_k = getattr(self.model.generation_config, "top_k", None)
        top_k = min(50 if top_k is None else int(top_k), scores.shape[-1])
        if top_k > 0:
            scores = scores.masked_fill(scores < torch.topk(scores, top_k)[0][-1], -float("inf"))
        if settings.top_p < 1.0:
            ordered, order = torch.sort(scores, descending=False)
            remove = ordered.softmax(dim=-1).cumsum(dim=-1) <= (1 - settings.top_p)
            remove[-1:] = False
            scores = scores.masked_fill(remove.scatter(0, order, remove), -float("inf"))
        return int(torch.multinomial(scores.softmax(dim=-1), num_samples=1))

    @staticmethod
    def _end(row: _Row) -> None:
        row.done = True
        row.text.end()
        row.job.finish()

    def _step(self, model: Any, rows: list[_Row], batch: _Batch, lean: list[tuple[Any, ...]] | None) -> torch.Tensor:
        """One token for every row: (rows, vocab) logits."""
        device = model.device
        tokens = torch.tensor([[row.last] for row in rows], device=device)
        positions = torch.tensor([[len(row.ids) + row.written - 1] for row in rows], device=device)
        mask = batch.mask()
        if lean is not None:
            starts = [row.pad for row in rows] if batch.padded else None
            logits = self._lean_step(model, lean, tokens, positions, starts, batch.layers)
        else:
            if model.config._attn_implementation != "sdpa":
                extra = {"attention_mask": batch.valid[:, : batch.width + 1].long()}
            elif mask is not None:
                extra = {"attention_mask": mask}
            elif device.type == "cpu":  # a mask makes transformers pack the query heads: faster here
                extra = {"attention_mask": self._ones(batch.width + 1)}
            else:
                extra = {}
            out = model(input_ids=tokens, position_ids=positions, use_cache=True, logits_to_keep=1,
                        **{self._cache_key: batch.cache}, **extra)
            logits = out.logits[:, -1]
        batch.width += 1
        return logits

    def _ones(self, width: int) -> torch.Tensor:
        if self._all_true.shape[-1] < width:
            self._all_true = torch.ones((1, 1, 1, 2 * width), dtype=torch.bool, device=self._all_true.device)
        return self._all_true[..., :width]

    @staticmethod
    def _lean_step(model: Any, plan: list[tuple[Any, ...]], tokens: torch.Tensor, positions: torch.Tensor,
                   starts: list[int] | None, layers: list[_KVLayer]) -> torch.Tensor:
        """The model's decoding step for Llama-shaped models: the same operations as its forward
        (attention with the query heads packed, as transformers does when given a mask). ``starts``:
        where each row's own positions begin when rows are padded.

        Attention over padded rows is computed row by row: with padding in front, SDPA's blocks fall
        differently and bf16 results differ in the last bit, which greedy decoding can notice."""
        base = model.model
        batch = tokens.shape[0]
        hidden = base.embed_tokens(tokens)
        cos, sin = base.rotary_emb(hidden, positions)
        for (norm_in, q_proj, k_proj, v_proj, o_proj, norm_post, gate, up, down, act, head_dim, groups, scaling,
             rotate), layer in zip(plan, layers, strict=True):
            residual = hidden
            x = norm_in(hidden)
            q = q_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
            k = k_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
            v = v_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
            q, k = rotate(q, k, cos, sin)
            keys, values = layer.update(k, v)
            q = q.reshape(batch, -1, groups, head_dim)  # query heads packed onto their key/value head
            if starts is None:
                out = F.scaled_dot_product_attention(q, keys, values, dropout_p=0.0, scale=scaling, is_causal=False)
            else:  # padded rows one by one, without their padding: the same bits as each row alone
                out = torch.cat([
                    F.scaled_dot_product_attention(q[i: i + 1], keys[i: i + 1, :, start:], values[i: i + 1, :, start:],
                                                   dropout_p=0.0, scale=scaling, is_causal=False)
                    for i, start in enumerate(starts)
                ])
            out = out.reshape(out.shape[0], -1, 1, values.shape[-1]).transpose(1, 2).contiguous()
            hidden = residual + o_proj(out.reshape(batch, 1, -1).contiguous())
            residual = hidden
            x = norm_post(hidden)
            hidden = residual + down(act(gate(x)) * up(x))
        return model.lm_head(base.norm(hidden))[:, -1]

    @contextlib.contextmanager
    def _float32_products(self) -> Iterator[None]:
        """While reading a prompt: the decoder's matrix products in float32 (see the fast-path notes)."""
        if not self._prefill_fp32:
            yield
            return
        for linear in self._linears:
            linear.forward = functools.partial(_fp32_linear, linear)  # type: ignore[method-assign]
        try:
            yield
        finally:
            for linear in self._linears:
                linear.__dict__.pop("forward", None)

    @contextlib.contextmanager
    def fixed_length(self) -> Iterator[None]:
        """Benchmark only: answers ignore end-of-text and write exactly max_new_tokens."""
        self._fixed_length = True
        try:
            yield
        finally:
            self._fixed_length = False

    # -- tuning for this processor (at load) -------------------------------------

    def _tune_cpu(self, choose_dtype: bool = False, fp32_fits: bool = False) -> str:
        """Measure on this processor, in this order: the thread count; bf16 or fp32 weights when
        ``choose_dtype`` (the faster decoding step; prompts are read in float32 products either way
        when that is faster); the precision of the products that read prompts. Returns the weights'
        precision in words."""
        start = time.perf_counter()
        ids = self.tokenizer("Write one sentence about a therapy appointment today. " * 12,
                             add_special_tokens=False)["input_ids"][:48]
        if len(ids) < 32:
            return _dtype_words(self.model)
        default = torch.get_num_threads()
        candidates = sorted({default, max(1, default // 2)}, reverse=True)
        if len(candidates) > 1:
            steps: dict[int, list[float]] = {n: [] for n in candidates}
            for n in candidates + candidates:
                if len(steps[n]) == 1 and max(min(v) for v in steps.values()) > 1.5 * min(min(v) for v in steps.values()):
                    break  # clear after one try each (a busy processor makes extra threads wait)
                torch.set_num_threads(n)
                steps[n].append(self._probe(ids[:8], 4)[1])
            best = min(candidates, key=lambda n: statistics.median(steps[n]))
            torch.set_num_threads(best)
            self.tuning["threads"] = best
            self.tuning["threads_tested_ms_per_token"] = {n: round(1000 * statistics.median(v), 1) for n, v in steps.items()}
        if choose_dtype and fp32_fits:
            self._choose_dtype(ids[:8])
        if self._linears:
            timing: dict[bool, list[float]] = {False: [], True: []}
            self._prefill_fp32 = True
            self._probe(ids[:8], 0)  # warm-up: the first float32 products set up their kernels
            for choice in (True, False, True, False):
                self._prefill_fp32 = choice
                timing[choice].append(self._probe(ids[:32], 0)[0])
                if len(timing[False]) == 1 and timing[False][0] > 2 * timing[True][0]:
                    break  # clear enough (bf16 without bf16 instructions): no need to repeat the slow one
            self._prefill_fp32 = min(timing[True]) < 0.9 * min(timing[False])
            self.tuning["prompt_products"] = "float32" if self._prefill_fp32 else "model precision"
            self.tuning["prompt_tokens_per_s"] = {
                "float32": round(32 / min(timing[True]), 1), "model precision": round(32 / min(timing[False]), 1)}
        self.tuning["tuning_seconds"] = round(time.perf_counter() - start, 2)
        log.info("cpu tuning: weights=%s prompt products=%s threads=%s in %.1fs", _dtype_words(self.model),
                 self.tuning["prompt_products"], self.tuning.get("threads"), time.perf_counter() - start)
        return _dtype_words(self.model)

    def _choose_dtype(self, ids: list[int]) -> None:
        """bf16 or fp32 weights: the faster decoding step, measured alternately (a busy processor is noisy)."""
        steps: dict[str, list[float]] = {"bfloat16": [], "float32": []}
        for dtype in ("bfloat16", "float32", "bfloat16", "float32"):
            if len(steps["float32"]) == 1 and not 0.8 < steps["float32"][0] / steps["bfloat16"][0] < 1.25:
                break  # clear after one try each
            _cast_weights(self.model, getattr(torch, dtype))
            steps[dtype].append(self._probe(ids, 4)[1])
        best = min(steps, key=lambda name: min(steps[name]))
        _cast_weights(self.model, getattr(torch, best))
        if best == "float32":
            self._linears, self._prefill_fp32 = [], False
        self.tuning["weights_tested_ms_per_token"] = {k: round(1000 * min(v), 1) for k, v in steps.items()}
        log.info("cpu precision measured: bf16=%.0f ms fp32=%.0f ms a token", 1000 * min(steps["bfloat16"]),
                 1000 * min(steps["float32"]))

    def _probe(self, ids: list[int], steps: int) -> tuple[float, float]:
        """(seconds to read ``ids``, median seconds a token for ``steps`` tokens), nothing cached."""
        model = self.model
        job = _QueueJob([], GenerationSettings(max_new_tokens=steps + 1, temperature=0, repetition_penalty=1.0),
                        threading.Event())
        eos = frozenset()
        with self._lock, torch.inference_mode():
            saved, self._prefixes = self._prefixes, _PrefixStore(0)
            try:
                start = time.perf_counter()
                row = _Row(job, ids, job.settings, eos, _Text(self.tokenizer, lambda piece: None),
                           torch.zeros(1, dtype=torch.bool), steps + 1, fixed_length=True)
                layers = [_KVLayer(len(ids) + steps + 1) for _ in range(self._n_layers)]
                with self._float32_products():
                    out = model(input_ids=torch.tensor([ids], device=model.device), use_cache=True, logits_to_keep=1,
                                **{self._cache_key: _cache_of(model.config, layers)})
                read = time.perf_counter() - start
                row.layers, row.last, row.written = layers, int(out.logits[0, -1].argmax()), 1
                batch = _Batch.merge(None, [], [row], model)
                times = []
                for _ in range(steps):
                    start = time.perf_counter()
                    logits = self._step(model, [row], batch, self._lean)
                    row.last, row.written = int(logits[0].argmax()), row.written + 1
                    times.append(time.perf_counter() - start)
            finally:
                self._prefixes = saved
        return read, statistics.median(times) if times else 0.0


def _generation_error(exc: BaseException) -> GenerationError:
    if _is_out_of_memory(exc):
        _free_memory()  # the worker has ended; its activations and cache are garbage now
        log.error("generation ran out of memory")
        return GenerationError(
            "The model ran out of memory while writing. Try a shorter text, or choose a smaller "
            "model in the System tab. The assistant is still running."
        )
    log.error("generation failed: %s", where_failed(exc))
    return GenerationError("The model stopped with an error while writing. Please try again.")


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Convert a GGUF checkpoint once into a safetensors folder that loads fast.

    Written to a temporary sibling folder and renamed into place, so a crash
    mid-way never leaves a half-written model behind.
    """
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    start = time.perf_counter()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_file.parent, gguf_file=gguf_file.name, local_files_only=True, dtype=torch.float32
        )
    except Exception as exc:  # noqa: BLE001 - a damaged or missing file, whatever the library raises
        raise ModelLoadError(
            f"The built-in demo model could not be read from {gguf_file} ({type(exc).__name__}). "
            "Run the setup command again to reinstall it."
        ) from exc
    model = model.to(torch.bfloat16)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.replace(out_dir)
    log.info("converted gguf model in %.1fs", time.perf_counter() - start)
    return out_dir


# -- measurements for the benchmark (``assistant.ops.bench`` runs them and writes the report) ----------


class _Timer(BaseStreamer):
    """Notes when each new token of a plain ``generate`` arrives (no text decoding)."""

    def __init__(self) -> None:
        self.prompt = True
        self.times: list[float] = []
        self.tokens: list[int] = []

    def put(self, value: torch.Tensor) -> None:
        if self.prompt:  # generate passes the prompt first
            self.prompt = False
            return
        self.times.append(time.perf_counter())
        self.tokens.extend(int(t) for t in value.reshape(-1).tolist())

    def end(self) -> None:
        pass


class _TimedJob:
    """A job that notes when each token is chosen; the text is not kept."""

    def __init__(self, messages: list[Message], settings: GenerationSettings) -> None:
        self.messages = messages
        self.settings = settings
        self.stop = threading.Event()
        self.fixed_length = True
        self.times: list[float] = []
        self.tokens: list[int] = []
        self.error: BaseException | None = None
        self.ended = 0.0

    def emit(self, piece: str) -> None:
        pass

    def on_token(self, token: int) -> None:
        self.times.append(time.perf_counter())
        self.tokens.append(token)

    def finish(self, error: BaseException | None = None) -> None:
        if not self.ended:
            self.ended = time.perf_counter()
            self.error = error


def _figures(start: float, times: list[float], end: float, tokens: list[int]) -> dict[str, Any]:
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return {
        "first_token_s": (times[0] - start) if times else None,
        "tokens": len(tokens),
        "decode_tokens_per_s": decode,
        "draft_s": end - start,
        "token_ids": tokens,
    }


def measure_generate(backend: TransformersBackend, messages: list[Message], settings: GenerationSettings) -> dict[str, Any]:
    """The baseline: plain ``model.generate`` on the same prompt and the same loaded model, nothing
    cached, greedy, exactly ``max_new_tokens`` tokens (end-of-text ignored)."""
    model = backend._require_model()
    timer = _Timer()
    with backend._lock, torch.inference_mode():
        start = time.perf_counter()
        inputs = backend._template(messages).to(model.device)
        count = settings.max_new_tokens
        model.generate(**inputs, streamer=timer, max_new_tokens=count, min_new_tokens=count, do_sample=False,
                       repetition_penalty=settings.repetition_penalty, pad_token_id=backend._pad_id())
        end = time.perf_counter()
    return _figures(start, timer.times, end, timer.tokens)


def measure_engine(backend: TransformersBackend, messages: list[Message], settings: GenerationSettings) -> dict[str, Any]:
    """One request through the fast path (prefix cache and all), greedy, exactly ``max_new_tokens``."""
    job = _TimedJob(messages, settings)
    start = time.perf_counter()
    backend.run_batch([job], lambda room: [])
    if job.error is not None:
        raise job.error
    return _figures(start, job.times, job.ended, job.tokens)


def reset_peak_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_memory() -> int | None:
    """Bytes of GPU memory torch had allocated at most since the last reset, or None without a GPU."""
    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


def runtime_facts(backend: TransformersBackend) -> dict[str, Any]:
    """Versions, threads and what the fast path does on this model, for the report."""
    import transformers

    facts: dict[str, Any] = {"torch": torch.__version__, "transformers": transformers.__version__,
                             "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                             **backend.tuning}
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
    return facts
