"""Loading a model folder: checked first, then ``from_pretrained`` with ``local_files_only``,
safetensors only and no remote code (never a download, never a pickle). The precision comes
from ``precision``, a saved 4-bit copy from ``quantized``; progress is reported by the named
stages of ``assistant.engine.stages``."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from transformers import logging as hf_logging

from assistant.engine import models as model_files
from assistant.engine import stages
from assistant.engine.contract import ModelInfo
from assistant.engine.hf.failures import _is_out_of_memory, _load_error
from assistant.engine.hf.hardware import _free_memory
from assistant.engine.hf.precision import _plan_precision
from assistant.engine.hf.quantized import _quantized_copy, _save_quantized
from assistant.engine.hf.tuning import _pick_cpu_dtype
from assistant.errors import ModelLoadError

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = model_files.PICKLE_SUFFIXES


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


def load_backend(
    cls: type,
    path: Path,
    *,
    cpu_precision: str = "auto",
    is_demo: bool = False,
    cache_dir: Path | None = None,
    stage: stages.Progress | None = None,
) -> Any:
    """Load a model folder into a ``cls`` (``TransformersBackend``). With ``cache_dir``, a 4-bit load is quantized once and saved there."""
    path = Path(path)
    stages.tell(stage, "check")
    facts = check_model_folder(path)
    hf_logging.disable_progress_bar()
    start = time.perf_counter()
    kwargs, device, precision = _plan_precision(path, cpu_precision)
    fp32_fits = kwargs.pop("_measure", False)
    saved = _quantized_copy(cache_dir, path, facts, kwargs) if cache_dir and "quantization_config" in kwargs else None
    from_saved = saved is not None and (saved / "complete.json").is_file()
    base = dict(local_files_only=True, trust_remote_code=False, use_safetensors=True, low_cpu_mem_usage=True)
    try:
        stages.tell(stage, "tokenizer")
        config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        model = None
        if from_saved:
            stages.tell(stage, "weights", "Loading the saved 4-bit copy")
            model = _load_saved(saved, base, kwargs)  # type: ignore[arg-type]
            from_saved = model is not None
        if model is None:
            quantizing = "quantization_config" in kwargs
            stages.tell(stage, "weights", "Loading and converting the model to 4-bit" if quantizing else None)
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
        stages.tell(stage, "tune")
        picked = backend._tune_cpu(choose_dtype=precision == "measure", fp32_fits=fp32_fits)
        if precision == "measure":
            precision = f"{picked} (picked by a speed test on this computer)"
    elif precision == "measure":  # CPU: 16-bit fits; let this processor decide bf16 or fp32
        stages.tell(stage, "tune", "Testing which precision is fastest on this processor")
        precision = _pick_cpu_dtype(model, tokenizer, fp32_fits) + " (picked by a speed test on this computer)"
    seconds = time.perf_counter() - start
    if saved is not None and not from_saved:
        stages.tell(stage, "save")
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
    stages.tell(stage, "ready")
    return backend


def _load_saved(saved: Path, base: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """The saved 4-bit copy, or None when it is unusable (deleted: it is rebuilt from the original)."""
    try:
        placed = {k: v for k, v in kwargs.items() if k != "quantization_config"}
        return AutoModelForCausalLM.from_pretrained(saved, **base, **placed)
    except Exception as exc:  # noqa: BLE001 - a damaged copy is rebuilt from the original
        if _is_out_of_memory(exc):
            raise
        log.warning("saved 4-bit copy unusable (%s); quantizing again", type(exc).__name__)
        shutil.rmtree(saved, ignore_errors=True)
        _free_memory()
        return None
