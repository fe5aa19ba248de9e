"""The hardware as torch sees it: GPUs, CUDA, the NVIDIA driver, bitsandbytes, free memory.

``probe_hardware`` is plain data for ``assistant doctor`` (the verdict in words lives in
``assistant.ops.doctor``); ``gpu_4bit_status`` decides whether a GPU load can use 4-bit weights.
"""

from __future__ import annotations

import functools
import gc
import logging
from typing import Any

import torch

from assistant.errors import where_failed

log = logging.getLogger(__name__)


def _available_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _free_memory() -> None:
    """Give freed tensors back (after an out-of-memory error or when a model is unloaded)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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
