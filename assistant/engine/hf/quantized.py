"""Quantize once: after the first 4-bit load of a model its 4-bit weights are saved (bitsandbytes
serialises them) into the data folder, never into the model folder, and later loads read that
copy instead of quantizing again. The copy is keyed by the model's files, the device and the
library versions; it is written into a ``.partial`` folder renamed into place when complete."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from assistant.engine import models as model_files
from assistant.errors import where_failed

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump to invalidate every saved 4-bit copy


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
