"""Which engine runs the model: transformers with 4-bit weights on a usable NVIDIA GPU, else llama.cpp.

``settings.json`` may force either (``"engine": "transformers"`` or ``"llamacpp"``); ``"auto"``
(the default) decides at load. The GPU is looked for through NVIDIA's management library
(``libnvidia-ml``, installed with the driver) without importing torch, so a computer without
one starts in a second; only when a GPU is there does ``hf.gpu_4bit_status`` try 4-bit on it.
The reason is kept in plain words for the status line and ``assistant doctor``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import logging
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

TRANSFORMERS, LLAMACPP = "transformers", "llamacpp"
NAMES = {TRANSFORMERS: "transformers with 4-bit weights on the NVIDIA GPU", LLAMACPP: "llama.cpp on the processor"}


@dataclass(frozen=True)
class Choice:
    engine: str  # TRANSFORMERS or LLAMACPP
    reason: str  # plain words: why this one

    @property
    def words(self) -> str:
        """"llama.cpp on the processor, because no NVIDIA GPU was found"."""
        return f"{NAMES[self.engine]}, because {self.reason}"


def nvidia_gpus() -> int:
    """How many NVIDIA GPUs the driver reports (0 without a driver). Never imports torch."""
    names = ["nvml.dll"] if sys.platform == "win32" else ["libnvidia-ml.so.1", ctypes.util.find_library("nvidia-ml")]
    for name in filter(None, names):
        try:
            nvml = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if nvml.nvmlInit_v2() != 0:
                return 0
            count = ctypes.c_uint(0)
            ok = nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0
            nvml.nvmlShutdown()
            return int(count.value) if ok else 0
        except (AttributeError, OSError):
            return 0
    return 0


def llamacpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def choose(setting: str = "auto") -> Choice:
    """The engine for ``setting`` ("auto", "transformers" or "llamacpp") on this computer."""
    if setting == TRANSFORMERS:
        return Choice(TRANSFORMERS, "it was chosen in settings.json")
    if setting == LLAMACPP:
        return Choice(LLAMACPP, "it was chosen in settings.json")
    if nvidia_gpus():
        from assistant.engine import hf  # torch: only where a GPU is there to use

        usable, why = hf.gpu_4bit_status()
        if usable:
            return Choice(TRANSFORMERS, "an NVIDIA GPU that runs 4-bit weights was found")
        reason = f"the NVIDIA GPU here cannot be used: {why}"
    else:
        reason = "no NVIDIA GPU was found"
    if not llamacpp_installed():
        log.warning("llama.cpp is not installed; using transformers on the processor")
        return Choice(TRANSFORMERS, f"{reason} and llama.cpp is not installed (run the setup again)")
    return Choice(LLAMACPP, reason)
