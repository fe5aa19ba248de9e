"""The engine: one model, one generation at a time, stoppable.

Every model-using request in every tab goes through ``Engine.stream``. It
checks that the prompt fits the model's reading window (refusing with a clear
message instead of cutting text silently), waits its turn on one lock so two
staff never run two generations on one GPU at once, and registers a stop event
per session so the Stop button really stops the model.

It logs ids, sizes and timings, never text.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

from assistant.backends import Backend, GenerationSettings, Message
from assistant.errors import InputTooLong

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 128  # a draft needs at least this much room to be useful
WORDS_PER_TOKEN = 0.75


class Engine:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._turn = threading.Lock()
        self._guard = threading.Lock()
        self._stops: dict[str, threading.Event] = {}
        self.generations = 0

    @property
    def busy(self) -> bool:
        return self._turn.locked()

    def fit(self, messages: list[Message], settings: GenerationSettings) -> GenerationSettings:
        """Return settings whose answer length fits the window, or refuse the input."""
        window = self.backend.info.context_window
        prompt = self.backend.count_tokens(messages)
        room = window - prompt
        if room < MIN_ANSWER_TOKENS:
            over = prompt + MIN_ANSWER_TOKENS - window
            raise InputTooLong(
                f"This is too long for the model to read at once: it can take about "
                f"{int(window * WORDS_PER_TOKEN):,} words, including its answer, and this is about "
                f"{int(over * WORDS_PER_TOKEN) + 1:,} words over. Shorten the text, or for a chat "
                "press Clear to start a new conversation."
            )
        if room < settings.max_new_tokens:
            settings = replace(settings, max_new_tokens=room)
        return settings

    def stream(
        self, messages: list[Message], settings: GenerationSettings, session: str = "", kind: str = "-"
    ) -> Iterator[str]:
        """Yield text pieces of the model's answer. Closing the generator stops the model."""
        settings = self.fit(messages, settings)
        stop = threading.Event()
        session = session or uuid.uuid4().hex
        with self._guard:
            previous = self._stops.get(session)
            if previous is not None:
                previous.set()  # a new request from the same person replaces the old one
            self._stops[session] = stop
        start = time.perf_counter()
        pieces = chars = 0
        outcome = "error"
        try:
            while not self._turn.acquire(timeout=0.2):
                if stop.is_set():
                    outcome = "stopped-while-waiting"
                    return
            try:
                self.generations += 1
                for piece in self.backend.stream(messages, settings, stop):
                    pieces += 1
                    chars += len(piece)
                    yield piece
                outcome = "stopped" if stop.is_set() else "done"
            finally:
                stop.set()
                self._turn.release()
        except GeneratorExit:
            outcome = "closed"
            raise
        finally:
            stop.set()
            with self._guard:
                if self._stops.get(session) is stop:
                    del self._stops[session]
            log.info(
                "generation kind=%s outcome=%s pieces=%d chars=%d seconds=%.2f",
                kind, outcome, pieces, chars, time.perf_counter() - start,
            )

    def stop(self, session: str) -> bool:
        """Stop the running or waiting generation of this session. True if there was one."""
        with self._guard:
            event = self._stops.get(session)
        if event is None:
            return False
        event.set()
        return True
