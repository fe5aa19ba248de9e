"""A scripted stand-in for a model, kept beside the real one.

It streams a fixed reply word by word, records every call, honours ``stop``,
and can be told to fail, so tests exercise the same paths as the real backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from assistant.backends import GenerationSettings, Message, ModelInfo
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
