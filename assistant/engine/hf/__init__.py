"""The real backend: Hugging Face transformers + bitsandbytes, 4-bit on a GPU.

The only package that imports torch, transformers or bitsandbytes. It knows nothing about notes,
letters or the UI. Never downloads: ``local_files_only``, safetensors only, no remote code.
This module is the package front: it re-exports what the rest of the app uses. The parts:

* ``backend``   ``TransformersBackend``: what ties the parts together; ``close()`` frees it all.
* ``loader``    loading a folder (``check_model_folder`` first), reporting the named stages of
                ``assistant.engine.stages``.
* ``precision`` the precision policy: NF4 4-bit on a GPU; on the CPU 16-bit when it fits, bf16 or
                fp32 picked by measurement, 4-bit only when 16-bit would not fit (or on request).
* ``quantized`` quantize once: the saved 4-bit copy in the data folder.
* ``hardware``  ``probe_hardware`` (GPUs, CUDA, bitsandbytes) for ``assistant doctor``; free memory.
* ``failures``  out of memory, an unusable 4-bit library, damaged files -> plain
                ``ModelLoadError``/``GenerationError``.
* ``prompts``   chat templates; the system prompt folded in where a template has no system role.
* ``plain``     transformers' ``generate`` in a worker thread (sliding-window models: Gemma 2, 3).
* the fast path, for models whose layers all use full attention: ``kv`` (preallocated key/value
  buffers, the batch), ``prefix`` (the prefix cache), ``lean`` (the lean decoding step, with the
  measured reasons for it), ``sampling``, ``scheduler`` (batching: several answers written
  together, late arrivals joining between tokens) and ``tuning`` (threads, bf16 or fp32, prompt
  products: measured at load).
* ``gguf``      converting the demo model's GGUF file once into safetensors.
* ``anchor``    the benchmark's baseline, plain ``generate`` timed (``assistant.ops.bench``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch  # noqa: F401 - tests reach torch.cuda through here
from transformers import AutoModelForCausalLM  # noqa: F401 - tests replace its from_pretrained

from assistant.engine.hf.anchor import measure_generate, peak_gpu_memory, reset_peak_memory, runtime_facts
from assistant.engine.hf.backend import TransformersBackend
from assistant.engine.hf.failures import _load_error
from assistant.engine.hf.gguf import convert_gguf
from assistant.engine.hf.hardware import gpu_4bit_status, probe_hardware
from assistant.engine.hf.loader import PICKLE_SUFFIXES, check_model_folder
from assistant.engine.hf.precision import _plan_precision as _plan


def _plan_precision(path: Path, cpu_precision: str) -> tuple[dict[str, Any], str, str]:
    """``precision._plan_precision`` asking this module's ``gpu_4bit_status`` (tests replace it here)."""
    return _plan(path, cpu_precision, gpu_4bit_status)


__all__ = [
    "PICKLE_SUFFIXES", "TransformersBackend", "_load_error", "_plan_precision", "check_model_folder", "convert_gguf",
    "gpu_4bit_status", "measure_generate", "peak_gpu_memory", "probe_hardware", "reset_peak_memory", "runtime_facts",
]
