"""Precision policy: which weights and which device a model gets.

* GPU (CUDA): NF4 4-bit with double quantization; bf16 compute where the GPU
  supports it, else fp16.
* CPU: precision by measurement. On the 2-core machines we build on, NF4 on the
  CPU ran the demo model at ~5 tokens/s against ~22 for bf16 (README has the
  figures), so "auto" uses 16-bit weights when they fit comfortably in memory,
  keeping bf16 or fp32 by timing the decoding step in each at load (``tuning``),
  and NF4 4-bit only when 16-bit would not fit. Settings can force "4bit".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import BitsAndBytesConfig

import assistant.engine.hf.hardware as hardware
from assistant.engine.hf.hardware import _available_ram

log = logging.getLogger(__name__)


def _nf4(compute: torch.dtype) -> BitsAndBytesConfig:
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute)


def _plan_precision(path: Path, cpu_precision: str, gpu_status: Callable[[], tuple[bool, str]] | None = None
                    ) -> tuple[dict[str, Any], str, str]:
    """Return (from_pretrained kwargs, device words, precision words). ``gpu_status``: whether
    bitsandbytes works on the GPU (default ``hardware.gpu_4bit_status``)."""
    cpu_device = "processor (CPU)"
    if torch.cuda.is_available():
        usable, reason = (gpu_status or hardware.gpu_4bit_status)()
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


def _cast_weights(model: Any, dtype: torch.dtype) -> None:
    """Convert the weights only. ``model.to(dtype)`` would also round float32 buffers such as the
    rotary inverse frequencies to bf16 (what a bf16 load keeps in float32), shifting positions."""
    for parameter in model.parameters():
        if parameter.is_floating_point() and parameter.dtype != dtype:
            parameter.data = parameter.data.to(dtype)


def _dtype_words(model: Any) -> str:
    return {torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(next(model.parameters()).dtype, "float32")
