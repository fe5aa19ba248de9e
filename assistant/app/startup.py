"""The progress of the background start (what is happening, how far), read by the loading page.

Thread-safe, plain Python. The clock is injectable so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from assistant.engine import stages

READY_LINE = "The assistant is ready."


class Startup:
    """What the background start is doing. ``state``: loading, ready or failed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.state = "loading"
        self.fraction = 0.0
        self.next_fraction = 0.05
        self.words = "Starting"
        self.problem = ""
        self.since = self._clock()
        self.seen_problem = threading.Event()  # the loading page has shown the problem

    def stage(self, fraction: float, words: str, next_fraction: float | None = None) -> None:
        with self._lock:
            self.fraction = max(self.fraction, min(fraction, 0.99))
            self.next_fraction = max(self.fraction, min(next_fraction if next_fraction is not None else self.fraction + 0.1, 0.99))
            self.words = words
            self.since = self._clock()

    def ready(self) -> None:
        with self._lock:
            self.state, self.fraction, self.words = "ready", 1.0, "Ready"

    def fail(self, problem: str) -> None:
        with self._lock:
            self.state, self.problem = "failed", problem

    def snapshot(self) -> dict[str, Any]:
        """For the loading page. Within a long stage the bar creeps toward the next one, so it moves."""
        with self._lock:
            shown = self.fraction
            if self.state == "loading":
                elapsed = self._clock() - self.since
                shown += (self.next_fraction - self.fraction) * 0.9 * (1 - math.exp(-elapsed / 15))
            if self.state == "failed":
                self.seen_problem.set()
            return {"state": self.state, "fraction": round(shown, 3), "words": self.words, "problem": self.problem}


def stage_mapper(startup: Startup, start: float, end: float) -> Callable[[float, str], None]:
    """Map the loader's named stages (``engine.stages``) onto [start, end] of the whole start."""

    def stage(fraction: float, words: str) -> None:
        following = stages.span(stages.at(fraction).name)[1]
        startup.stage(start + (end - start) * fraction, words, start + (end - start) * following)

    return stage
