"""The speech benchmark's anchor: faster-whisper as its README shows it (``WhisperModel(...).transcribe(path)`` with
its defaults: beam search of 5, no voice detection, no word timings), on the same model and threads as the app.
Used by ``assistant.ops.bench`` only."""

from __future__ import annotations

import time
from pathlib import Path

import psutil


def raw_transcribe(folder: Path, recording: Path) -> tuple[str, float, float]:
    """(text, seconds to the first segment, seconds in all), the model already loaded."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=psutil.cpu_count(logical=False) or 1,
                         local_files_only=True)
    started = time.perf_counter()
    segments, _ = model.transcribe(str(recording), language="en")
    first, parts = None, []
    for segment in segments:
        first = first if first is not None else time.perf_counter() - started
        parts.append(segment.text.strip())
    return " ".join(parts), first or 0.0, time.perf_counter() - started
