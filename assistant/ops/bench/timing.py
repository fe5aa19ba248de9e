"""Timing helpers: a ``Job`` for a batching backend that notes when each token is chosen
(``TimedJob``, ``measure_engine``: the transformers fast path, also used by its tests), a timed
stream of text pieces, and the process's peak resident memory."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.core.messages import GenerationSettings, Message


@dataclass(eq=False)
class TimedJob:
    """A job for ``run_batch`` that notes when each token is chosen; the text is not kept."""

    messages: list[Message]
    settings: GenerationSettings
    stop: threading.Event = field(default_factory=threading.Event)
    fixed_length: bool = True  # ignore end-of-text: exactly max_new_tokens
    times: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    error: BaseException | None = None
    ended: float = 0.0

    def emit(self, piece: str) -> None:
        pass

    def on_token(self, token: int) -> None:
        self.times.append(time.perf_counter())
        self.tokens.append(token)

    def finish(self, error: BaseException | None = None) -> None:
        if not self.ended:
            self.ended, self.error = time.perf_counter(), error


def figures(start: float, times: list[float], end: float, tokens: list[int]) -> dict[str, Any]:
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return {"first_token_s": (times[0] - start) if times else None, "tokens": len(tokens),
            "decode_tokens_per_s": decode, "draft_s": end - start, "token_ids": tokens}


def measure_engine(backend: Any, messages: list[Message], settings: GenerationSettings) -> dict[str, Any]:
    """One request through the fast path (prefix cache and all), greedy, exactly ``max_new_tokens``."""
    job = TimedJob(messages, settings)
    start = time.perf_counter()
    backend.run_batch([job], lambda room: [])
    if job.error is not None:
        raise job.error
    return figures(start, job.times, job.ended, job.tokens)


def timed(pieces: Iterable[str], start: float | None = None) -> dict[str, Any]:
    """Read a stream of text pieces; each non-empty piece counts as a token (one piece a token on
    every engine measured, so the ratios compare like with like). The text is returned to the
    caller (to compare runs), never logged or reported."""
    start = time.perf_counter() if start is None else start
    times: list[float] = []
    text = []
    for piece in pieces:
        if piece:
            times.append(time.perf_counter())
            text.append(piece)
    end = time.perf_counter()
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return {"first_token_s": round(times[0] - start, 3) if times else None, "tokens": len(times),
            "decode_tokens_per_s": round(decode, 2), "total_s": round(end - start, 3), "text": "".join(text)}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (the operating system's own count). On Linux the
    address space's high-water mark (``VmHWM``): ``ru_maxrss`` would carry the parent's peak over
    into a child started with fork and exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 2**10, 1)  # kB
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)  # bytes on macOS, KiB on Linux
    except ImportError:  # Windows
        import psutil

        info = psutil.Process().memory_info()
        return round(getattr(info, "peak_wset", info.rss) / 2**20, 1)

