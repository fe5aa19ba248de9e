"""GGUF conversion: the built-in demo model ships as a GGUF file; it is converted once into a
safetensors folder that loads fast (``assistant.engine.demo_model`` decides when)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers import logging as hf_logging

from assistant.errors import ModelLoadError

log = logging.getLogger(__name__)


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
