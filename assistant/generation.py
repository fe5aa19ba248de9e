"""The engine: one model, one generation at a time, stoppable.

Every model-using request in every tab goes through ``Engine.stream``. It
checks that the prompt fits the model's reading window (refusing with a clear
message instead of cutting text silently), waits its turn on one lock so two
staff never run two generations on one GPU at once, and registers a stop event
per session so the Stop button really stops the model.

``Engine.switch`` changes the model without restarting the app: it refuses new
requests, waits for the running generation, frees the old model, then loads
the new one (one model in memory at a time). If the new one fails to load, the
previous one is loaded again when possible.

It logs ids, sizes and timings, never text.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

from assistant.backends import Backend, GenerationSettings, Message, ModelInfo
from assistant.errors import InputTooLong, ModelBusy, ModelNotFound

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 128  # a draft needs at least this much room to be useful
WORDS_PER_TOKEN = 0.75


class NoModel:
    """Stands in while a model is being changed, or after a switch left no model loaded."""

    def __init__(self, message: str, name: str = "(none)") -> None:
        self.message = message
        self.info = ModelInfo(name=name, device="-", precision="-", context_window=0)

    def count_tokens(self, messages: list[Message]) -> int:
        raise ModelNotFound(self.message)

    def stream(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event) -> Iterator[str]:
        raise ModelNotFound(self.message)


def _close(backend: Backend) -> None:
    close = getattr(backend, "close", None)
    if close is not None:
        close()


class Engine:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._turn = threading.Lock()
        self._guard = threading.Lock()
        self._switch = threading.Lock()
        self._stops: dict[str, threading.Event] = {}
        self.generations = 0
        self.switching = False

    @property
    def busy(self) -> bool:
        return self._turn.locked()

    def switch(
        self,
        load: Callable[[], Backend],
        *,
        restore: Callable[[], Backend] | None = None,
        waiting: Callable[[], None] | None = None,
    ) -> Backend:
        """Swap the model: wait for the running generation, free the old model, load the new one.

        ``restore`` reloads the previous model if ``load`` fails; the load's error is re-raised
        either way. ``waiting`` is called once if a generation is still running.
        """
        with self._switch:
            self.switching = True
            try:
                if not self._turn.acquire(blocking=False):
                    if waiting is not None:
                        waiting()
                    self._turn.acquire()
                try:
                    old = self.backend
                    self.backend = NoModel("The model is being changed. Try again in a minute.", old.info.name)
                    _close(old)
                    start = time.perf_counter()
                    try:
                        self.backend = load()
                    except BaseException:
                        self.backend = self._restore(restore)
                        raise
                    log.info("model switched in %.1fs", time.perf_counter() - start)
                    return self.backend
                finally:
                    self._turn.release()
            finally:
                self.switching = False

    @staticmethod
    def _restore(restore: Callable[[], Backend] | None) -> Backend:
        message = "No model is loaded. Open the System tab and choose a model."
        if restore is None:
            return NoModel(message)
        try:
            backend = restore()
            log.info("previous model restored after a failed switch")
            return backend
        except Exception as exc:  # noqa: BLE001 - reported as "no model", never raised over the first error
            log.error("previous model could not be restored: %s", type(exc).__name__)
            return NoModel(message)

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
        if self.switching:
            raise ModelBusy("The assistant is changing its model. Try again in a minute.")
        backend = self.backend
        asked = settings
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
                if self.backend is not backend:  # the model changed while this request waited
                    backend = self.backend
                    settings = self.fit(messages, asked)
                self.generations += 1
                for piece in backend.stream(messages, settings, stop):
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
