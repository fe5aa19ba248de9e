"""The real backend: Hugging Face transformers + bitsandbytes, 4-bit on a GPU.

This is the only module that imports torch, transformers or bitsandbytes.
It knows nothing about notes, letters or the UI.

* GPU (CUDA): NF4 4-bit with double quantization; bf16 compute where the GPU
  supports it, else fp16.
* CPU: precision by measurement. On the 2-core machines we build on, NF4 on the
  CPU ran the demo model at ~5 tokens/s against ~22 for bf16 (README has the
  figures), so "auto" uses 16-bit weights when they fit comfortably in memory,
  keeping bf16 or fp32 by timing a short generation in each at load, and NF4
  4-bit only when 16-bit would not fit. Settings can force "4bit".
* Quantize once: after the first 4-bit load of a model its 4-bit weights are
  saved (bitsandbytes serialises them) into the data folder, never into the
  model folder, and later loads read that copy instead of quantizing again.
* Never downloads: ``local_files_only``, safetensors only, no remote code.
* ``probe_hardware`` reports what torch sees (GPUs, CUDA, bitsandbytes) for
  ``assistant doctor``; the plain-language verdict lives in ``assistant.doctor``.
* Failures become plain ``ModelLoadError``/``GenerationError`` messages: out of
  memory (at load and mid-generation, memory freed), 4-bit library unusable on
  this GPU, damaged or partial files, unsupported architecture.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)
from transformers import logging as hf_logging

from assistant import models as model_files
from assistant.backends import GenerationSettings, Message, ModelInfo
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
        model.float()
        fp32 = _tokens_per_second(model, tokenizer)
    log.info("cpu precision measured: bf16=%.1f tok/s fp32=%.1f tok/s", bf16, fp32)
    if bf16 >= fp32:
        model.to(torch.bfloat16)
        return "bfloat16"
    return "float32"


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
    """GPUs, CUDA and bitsandbytes as this process sees them. Plain data for ``assistant.doctor``."""
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


class TransformersBackend:
    """A loaded causal LM and its tokenizer. Use ``load()`` to build one, ``close()`` to free it."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo, *, path: Path | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.path = path
        self.from_saved_4bit = False  # loaded from the quantize-once copy

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
        if precision == "measure":  # CPU: 16-bit fits; let this processor decide bf16 or fp32
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
        tell(1.0, "Ready")
        backend = cls(model, tokenizer, info, path=path)
        backend.from_saved_4bit = from_saved
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
        return int(self._template(messages)["input_ids"].shape[-1])

    # -- generation ------------------------------------------------------------

    def stream(
        self, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        model = self._require_model()
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
