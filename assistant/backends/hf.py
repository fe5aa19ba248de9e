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
* Never downloads: ``local_files_only``, safetensors only, no remote code.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
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

from assistant.backends import GenerationSettings, Message, ModelInfo
from assistant.errors import GenerationError, ModelLoadError, ModelNotFound, where_failed

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
TOKEN_TIMEOUT_S = 0.5  # how often the reader wakes to check on the worker
STALL_LIMIT_S = 300.0  # no new text for this long: the model is stuck


class _StopOnEvent(StoppingCriteria):
    """Stops generation (not just the display) once the event is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> bool:
        return self.event.is_set()


def check_model_folder(path: Path) -> None:
    """Refuse folders that are missing, incomplete, or carry pickle weights."""
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
    if not any(path.glob("*.safetensors")):
        raise ModelLoadError(f"The folder {path} has no .safetensors weights.")


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


def _plan_precision(path: Path, cpu_precision: str) -> tuple[dict[str, Any], str, str]:
    """Return (from_pretrained kwargs, device words, precision words)."""
    nf4 = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)
    if torch.cuda.is_available():
        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        name = torch.cuda.get_device_name(0)
        quant = BitsAndBytesConfig(**nf4, bnb_4bit_compute_dtype=compute)
        words = "bfloat16" if compute == torch.bfloat16 else "float16"
        return (
            {"quantization_config": quant, "device_map": {"": 0}, "dtype": compute},
            f"GPU: {name}",
            f"4-bit NF4, {words} compute",
        )
    weights = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    ram = _available_ram()
    choice = cpu_precision
    if choice == "auto":
        choice = "measure" if weights * 2 < ram * 0.5 else "4bit"
    if choice == "4bit":
        quant = BitsAndBytesConfig(**nf4, bnb_4bit_compute_dtype=torch.float32)
        return ({"quantization_config": quant}, "processor (CPU)", "4-bit NF4, float32 compute")
    if choice == "measure":
        return ({"dtype": torch.bfloat16, "_measure": weights * 4 < ram * 0.5}, "processor (CPU)", "measure")
    dtype = torch.float32 if choice == "fp32" else torch.bfloat16
    return ({"dtype": dtype}, "processor (CPU)", "float32" if choice == "fp32" else "bfloat16")


class TransformersBackend:
    """A loaded causal LM and its tokenizer. Use ``load()`` to build one."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info

    @classmethod
    def load(cls, path: Path, *, cpu_precision: str = "auto", is_demo: bool = False) -> TransformersBackend:
        path = Path(path)
        check_model_folder(path)
        hf_logging.disable_progress_bar()
        start = time.perf_counter()
        kwargs, device, precision = _plan_precision(path, cpu_precision)
        fp32_fits = kwargs.pop("_measure", False)
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(
                path,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=True,
                low_cpu_mem_usage=True,
                **kwargs,
            )
        except Exception as exc:  # noqa: BLE001 - any failure here means "this folder cannot be loaded"
            log.error("model load failed for %s: %s", path.name, where_failed(exc))
            raise ModelLoadError(
                f"The model in {path} could not be loaded ({type(exc).__name__}). The files may be "
                "incomplete or damaged; copy the model folder again, or use the demo model."
            ) from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(
                f"The model in {path} has no chat template, so it cannot follow instructions. "
                "Use the 'Instruct' version of this model."
            )
        model.eval()
        if precision == "measure":  # CPU: 16-bit fits; let this processor decide bf16 or fp32
            precision = _pick_cpu_dtype(model, tokenizer, fp32_fits) + " (picked by a speed test on this computer)"
        context = int(getattr(config, "max_position_embeddings", 0) or 0) or 4096
        seconds = time.perf_counter() - start
        info = ModelInfo(
            name=path.name,
            device=device,
            precision=precision,
            context_window=min(context, 32768),
            is_demo=is_demo,
            load_seconds=round(seconds, 2),
        )
        log.info("model loaded name=%s device=%s precision=%s in %.1fs", info.name, device, precision, seconds)
        return cls(model, tokenizer, info)

    # -- prompts ---------------------------------------------------------------

    def _template(self, messages: list[Message]) -> Any:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        try:
            return self._apply(chat)
        except Exception:  # noqa: BLE001 - e.g. Gemma's template has no system role
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
            return self._apply(folded)
        except Exception as exc:  # noqa: BLE001 - the model's own template refused the conversation
            log.error("chat template refused the conversation: %s", where_failed(exc))
            raise GenerationError(
                "This model could not read the conversation in this form. Press Clear and try again."
            ) from None

    def _apply(self, chat: list[dict[str, str]]) -> Any:
        return self.tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def _pad_id(self) -> int | None:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id

    def count_tokens(self, messages: list[Message]) -> int:
        return int(self._template(messages)["input_ids"].shape[-1])

    # -- generation ------------------------------------------------------------

    def stream(
        self, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        inputs = self._template(messages).to(self.model.device)
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
                    self.model.generate(
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
    if isinstance(exc, torch.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.error("generation ran out of memory")
        return GenerationError(
            "The model ran out of memory while writing. Try a shorter text, or ask your "
            "vendor for a smaller model. The assistant is still running."
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
