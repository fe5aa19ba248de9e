"""Failures in plain words: out of memory (at load and mid-generation, memory freed), a 4-bit
library that cannot use this GPU, damaged or partial files. The library's own message is
inspected, never shown or logged (it may quote input); the log gets its type and location."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from assistant.engine.hf.hardware import _free_memory
from assistant.errors import GenerationError, ModelLoadError, where_failed

log = logging.getLogger(__name__)


def _is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()  # inspected, never logged: it may quote input
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "dispatched on the cpu or the disk" in text


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
