"""A scripted stand-in for a model, kept beside the real one.

It streams a fixed reply word by word, records every call, honours ``stop``,
and can be told to fail, so tests exercise the same paths as the real backend.
With ``max_batch`` > 1 it also writes several replies together (``run_batch``),
one word of each per step, like the real backend's batching.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import Job, ModelInfo
from assistant.errors import GenerationError


@dataclass
class FakeBackend:
    reply: str | Callable[[list[Message]], str] = "Subjective: fake reply."
    delay: float = 0.0  # seconds between pieces
    fail_after: int | None = None  # raise GenerationError after this many pieces
    info: ModelInfo = field(
        default_factory=lambda: ModelInfo(
            name="fake", device="test", precision="none", context_window=4096
        )
    )
    calls: list[list[Message]] = field(default_factory=list)
    stopped: list[bool] = field(default_factory=list)  # per call: ended early?
    max_batch: int = 1  # > 1: run_batch writes up to this many replies together
    batches: list[int] = field(default_factory=list)  # per run_batch: most replies written at once

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(m.content.split()) + 4 for m in messages)

    def stream(
        self, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        self.calls.append(list(messages))
        text = self.reply(messages) if callable(self.reply) else self.reply
        words = text.split(" ")
        finished = False
        try:
            for index, word in enumerate(words[: settings.max_new_tokens]):
                if stop.is_set():
                    return
                if self.fail_after is not None and index >= self.fail_after:
                    raise GenerationError("The model stopped with an error. Try again.")
                if self.delay:
                    stop.wait(self.delay)
                yield word if index == 0 else " " + word
            finished = True
        finally:
            self.stopped.append(not finished)  # True: stopped or abandoned before the end

    def run_batch(self, jobs: list[Job], more: Callable[[int], list[Job]]) -> None:
        """One word of every running reply per step; jobs from ``more`` join between steps."""
        running = [(job, self.stream(job.messages, job.settings, job.stop)) for job in jobs]
        widest = len(running)
        try:
            while running:
                for job in more(self.max_batch - len(running)):
                    running.append((job, self.stream(job.messages, job.settings, job.stop)))
                widest = max(widest, len(running))
                for entry in list(running):
                    job, pieces = entry
                    try:
                        piece = next(pieces) if not job.stop.is_set() else None
                    except StopIteration:
                        piece = None
                    except GenerationError as exc:
                        running.remove(entry)
                        job.finish(exc)
                        continue
                    if piece is None:
                        pieces.close()
                        running.remove(entry)
                        job.finish()
                    else:
                        job.emit(piece)
        finally:
            for job, pieces in running:
                pieces.close()
                job.finish()
            self.batches.append(widest)
