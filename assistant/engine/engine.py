"""The engine: one model, a fair line of requests, stoppable.

Every model-using request in every tab goes through ``Engine.stream``. It
checks that the prompt fits the model's reading window (refusing with a clear
message instead of cutting text silently), then joins one first-come,
first-served line. A single worker thread takes requests from the line and
hands them to the model: one at a time, or, when the backend can batch
(``can_batch``), several together, with later arrivals joining the running
batch between tokens. Each request's text streams back to its own caller.
``position(session)`` says where a waiting request stands in the line, and a
caller that asks for it (``positions=True``) gets ``Waiting`` markers while
it waits. Each request has its own stop event; ``stop(session)`` sets those of
that person's requests, so the Stop button really stops the model, for that
person only. (One person may have several requests at once, say a note and a
chat, or a script's jobs; none replaces another.)

``Engine.switch`` changes the model without restarting the app: it refuses new
requests, stops the running answers and waits a bounded time for them to end
(refusing the switch, in plain words, if one is still open), closes and drops
the old model, then loads the new one (one model in memory at a time). If the
new one fails to load, the previous one is loaded again from its loader; if
that fails too, the engine holds a ``NoModel`` that says what to do.

The worker survives anything a backend raises: the request it was writing gets
a plain ``GenerationError``, the next ones are served. The one stall watchdog
is here (``STALL_LIMIT_S``, see the contract); the clock is injected, so tests
move time instead of waiting. The UI asks the engine (``model``,
``count_tokens``, ``position``), never the backend behind it.

It logs ids, sizes and timings, never text.
"""

from __future__ import annotations

import collections
import gc
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import STALL_LIMIT_S, Backend, ModelInfo, can_batch
from assistant.errors import (
    AssistantError,
    GenerationError,
    InputTooLong,
    ModelBusy,
    ModelLoadError,
    ModelNotFound,
    where_failed,
)

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 128  # a draft needs at least this much room to be useful
WORDS_PER_TOKEN = 0.75
POLL_S = 0.2  # how often a waiting caller looks at its stop event and its place in line
STOP_GRACE_S = 10.0  # a stopped answer's caller waits this long at most for the model to let go
SWITCH_WAIT_S = 30.0  # a switch waits this long at most for the stopped answers to end
NO_MODEL = "No model is loaded. Open the System tab and choose a model."
UNEXPECTED = ("The model stopped because of an unexpected problem. Try again; if it happens again, "
              "restart the assistant.")
__all__ = ["STALL_LIMIT_S", "Engine", "NoModel", "Waiting"]


class Waiting(str):
    """A marker yielded (only to callers that ask) while a request waits: ``position`` 1 is next.

    It is an empty string, so code that joins the pieces is unaffected."""

    position: int

    def __new__(cls, position: int) -> Waiting:
        marker = super().__new__(cls, "")
        marker.position = position
        return marker


_END = object()


@dataclass(eq=False)
class _Ticket:
    """One request in the line; the worker fills ``pieces``, the caller reads it (a ``Job``)."""

    messages: list[Message]
    settings: GenerationSettings
    asked: GenerationSettings
    stop: threading.Event
    session: str
    pieces: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    started: bool = False
    started_at: float = 0.0  # on the engine's clock; the stall clock runs from here
    done: threading.Event = field(default_factory=threading.Event)
    batch: int = 1  # most answers written together while it ran (for the log)

    def emit(self, piece: str) -> None:
        self.pieces.put(piece)

    def finish(self, error: BaseException | None = None) -> None:
        if not self.done.is_set():
            self.pieces.put(_for_the_caller(error) if error is not None else _END)
            self.done.set()


def _for_the_caller(error: BaseException) -> BaseException:
    """Plain words for the caller, and no traceback that would keep the model's frames alive."""
    if isinstance(error, AssistantError):
        return error.with_traceback(None)
    log.error("generation failed: %s", where_failed(error))
    return GenerationError(UNEXPECTED)


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
    if close is None:
        return
    try:
        close()
    except Exception as exc:  # noqa: BLE001 - the new model is loaded all the same
        log.error("closing the old model failed: %s", where_failed(exc))


def _switch_failed(error: BaseException, restored: bool) -> AssistantError:
    """The load's error in plain words, saying which model is in use now."""
    if isinstance(error, AssistantError):
        words = error.message
    else:
        log.error("model switch failed: %s", where_failed(error))
        words = "The new model could not be loaded."
    words += (" The previous model is in use again." if restored
              else " No model is loaded now: open the System tab and choose a model.")
    try:
        return type(error)(words) if isinstance(error, AssistantError) else ModelLoadError(words)
    except TypeError:
        return ModelLoadError(words)


class Engine:
    def __init__(
        self, backend: Backend, *, loader: Callable[[], Backend] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``loader`` loads ``backend``'s model again (after a failed switch); ``clock``: seconds."""
        self.backend = backend
        self._loader = loader
        self._clock = clock
        self._guard = threading.Lock()
        self._switch = threading.Lock()
        self._line_changed = threading.Condition(self._guard)
        self._line: collections.deque[_Ticket] = collections.deque()
        self._active: set[_Ticket] = set()  # started, and their callers still reading
        self._worker: threading.Thread | None = None
        self._writing = False  # the worker is inside the model
        self._sessions: dict[str, list[_Ticket]] = {}  # each person's requests not yet ended
        self.generations = 0
        self.switching = False

    # -- what the UI asks -------------------------------------------------------------------------

    @property
    def model(self) -> ModelInfo:
        """What is known about the loaded model (the UI shows it)."""
        backend = self.backend
        info = backend.info
        if getattr(backend, "from_saved_4bit", False) and not info.from_saved_4bit:
            info = replace(info, from_saved_4bit=True)
        return info

    def count_tokens(self, messages: list[Message]) -> int:
        """Tokens the model reads for these messages, chat template included."""
        return self.backend.count_tokens(messages)

    @property
    def busy(self) -> bool:
        """A request is waiting, being written, or still being read by its caller."""
        with self._guard:
            return bool(self._line or self._active)

    def position(self, session: str) -> int:
        """The place in line (1 = next) of this session's first waiting request, or 0 when none waits."""
        with self._guard:
            for index, waiting in enumerate(self._line, start=1):
                if waiting.session == session:
                    return index
        return 0

    def _place(self, ticket: _Ticket) -> int:
        with self._guard:
            for index, waiting in enumerate(self._line, start=1):
                if waiting is ticket:
                    return index
        return 0

    @property
    def waiting(self) -> int:
        """How many requests wait for the model."""
        with self._guard:
            return len(self._line)

    # -- changing the model -----------------------------------------------------------------------

    def switch(
        self,
        load: Callable[[], Backend],
        *,
        restore: Callable[[], Backend] | None = None,
        waiting: Callable[[], None] | None = None,
        reload: Callable[[], Backend] | None = None,
    ) -> Backend:
        """Swap the model: stop the running answers, free the old model, load the new one.

        Refused (``ModelBusy``) when another switch runs, or when an answer is still open
        ``SWITCH_WAIT_S`` after it was stopped. If ``load`` fails, the previous model is loaded
        again with ``restore`` (default: the loader it came from) and the error is raised in
        plain words. ``waiting`` is called once if answers are running. ``reload`` loads the
        new model again after a later failed switch (default: ``load``).
        """
        if not self._switch.acquire(blocking=False):
            raise ModelBusy("The model is already being changed. Wait until that is done, then try again.")
        try:
            with self._guard:
                self.switching = True
                running = bool(self._active or self._writing)
            deadline = self._clock() + SWITCH_WAIT_S
            if running:
                self._stop_running()
                if waiting is not None:
                    waiting()
            with self._guard:
                while (self._active or self._writing) and self._clock() < deadline:
                    for ticket in self._active:
                        ticket.stop.set()
                    self._line_changed.wait(POLL_S)
                if self._active or self._writing:
                    log.warning("model switch refused: %d answers still open", len(self._active))
                    raise ModelBusy("A draft is still being written; try again when it is done.")
                name = self.backend.info.name
                self.backend, old = NoModel("The model is being changed. Try again in a minute.", name), self.backend
            _close(old)
            del old  # nothing here holds the old model while the new one loads
            gc.collect()
            return self._load(load, restore or self._loader, reload or load)
        finally:
            with self._guard:
                self.switching = False
                if self._line:
                    self._wake_worker()
            self._switch.release()

    def _stop_running(self) -> None:
        with self._guard:
            for ticket in self._active:
                ticket.stop.set()

    def _load(
        self, load: Callable[[], Backend], restore: Callable[[], Backend] | None, reload: Callable[[], Backend]
    ) -> Backend:
        start = time.perf_counter()
        try:
            backend = load()
        except BaseException as exc:
            self.backend, self._loader = self._restore(restore)
            if not isinstance(exc, Exception):
                raise
            raise _switch_failed(exc, self._loader is not None) from None
        self.backend, self._loader = backend, reload
        log.info("model switched in %.1fs", time.perf_counter() - start)
        return backend

    @staticmethod
    def _restore(restore: Callable[[], Backend] | None) -> tuple[Backend, Callable[[], Backend] | None]:
        if restore is None:
            return NoModel(NO_MODEL), None
        try:
            backend = restore()
            log.info("previous model restored after a failed switch")
            return backend, restore
        except Exception as exc:  # noqa: BLE001 - reported as "no model", never raised over the first error
            log.error("previous model could not be restored: %s", where_failed(exc))
            return NoModel(NO_MODEL), None

    # -- requests ---------------------------------------------------------------------------------

    def fit(self, messages: list[Message], settings: GenerationSettings, backend: Backend | None = None) -> GenerationSettings:
        """Return settings whose answer length fits the window, or refuse the input."""
        backend = backend or self.backend
        window = backend.info.context_window
        prompt = backend.count_tokens(messages)
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
        self, messages: list[Message], settings: GenerationSettings, session: str = "", kind: str = "-",
        *, positions: bool = False,
    ) -> Iterator[str]:
        """Yield text pieces of the model's answer. Closing the generator stops the model.

        With ``positions``, a ``Waiting`` marker (an empty string) is yielded first and whenever
        the place in line changes, while the request waits."""
        if self.switching:
            raise ModelBusy("The assistant is changing its model. Try again in a minute.")
        ticket = _Ticket(messages, self.fit(messages, settings), settings, threading.Event(), session or uuid.uuid4().hex)
        return self._follow(ticket, kind, positions)

    def _follow(self, ticket: _Ticket, kind: str, positions: bool) -> Iterator[str]:
        start = time.perf_counter()
        waited = 0.0
        pieces = chars = 0
        outcome = "error"
        with self._guard:
            self._sessions.setdefault(ticket.session, []).append(ticket)
            self._line.append(ticket)
            self._wake_worker()
        try:
            shown = -1
            heard = self._clock()  # the model's last word; its start counts as one
            while True:
                try:
                    item = ticket.pieces.get(timeout=POLL_S)
                except queue.Empty:
                    if not ticket.started:
                        if ticket.stop.is_set() and self._leave_line(ticket):
                            outcome = "stopped-while-waiting"
                            return
                        place = self._place(ticket)
                        if positions and place and place != shown:
                            shown = place
                            yield Waiting(place)
                    elif self._clock() - max(heard, ticket.started_at) > STALL_LIMIT_S:
                        ticket.stop.set()
                        raise GenerationError("The model stopped responding. Press Stop, then try again.") from None
                    continue
                if not waited and ticket.started:
                    waited = time.perf_counter() - start
                heard = self._clock()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                pieces += 1
                chars += len(item)
                yield item
            outcome = "stopped" if ticket.stop.is_set() else "done"
        except GeneratorExit:
            outcome = "closed"
            raise
        finally:
            ticket.stop.set()
            if not ticket.started:
                self._leave_line(ticket)
            elif not ticket.done.wait(STOP_GRACE_S):  # the model lets go of this answer
                log.warning("the model had not let go of a stopped answer after %.0fs", STOP_GRACE_S)
            log.info(
                "generation kind=%s outcome=%s pieces=%d chars=%d batch=%d waited=%.2f seconds=%.2f",
                kind, outcome, pieces, chars, ticket.batch, waited, time.perf_counter() - start,
            )
            with self._guard:  # last: a waiting model switch may go on from here
                self._active.discard(ticket)
                mine = self._sessions.get(ticket.session, [])
                if ticket in mine:
                    mine.remove(ticket)
                if not mine:
                    self._sessions.pop(ticket.session, None)
                self._line_changed.notify_all()

    def stop(self, session: str) -> bool:
        """Stop the running or waiting generations of this session. True if there was one."""
        with self._guard:
            tickets = list(self._sessions.get(session, []))
        for ticket in tickets:
            ticket.stop.set()
        return bool(tickets)

    # -- the worker: takes requests from the line and hands them to the model ------------------

    def _leave_line(self, ticket: _Ticket) -> bool:
        """Take a waiting ticket out of the line; False if the worker already started it."""
        with self._guard:
            if ticket.started:
                return False
            try:
                self._line.remove(ticket)
            except ValueError:
                pass
            self._line_changed.notify_all()
            return True

    def _wake_worker(self) -> None:
        """Called with ``_guard`` held: make sure a worker is running for the line (none while switching)."""
        self._line_changed.notify_all()
        if self._worker is None and not self.switching:
            self._worker = threading.Thread(target=self._work, name="model-worker", daemon=True)
            self._worker.start()

    def _take(self, backend: Backend, limit: int) -> list[_Ticket]:
        """Up to ``limit`` tickets from the head of the line, marked started and fitted to ``backend``."""
        taken: list[_Ticket] = []
        with self._guard:
            while self._line and len(taken) < limit and not self.switching:
                ticket = self._line.popleft()
                if ticket.stop.is_set():
                    continue  # its caller will notice and leave
                ticket.started, ticket.started_at = True, self._clock()
                self._active.add(ticket)
                taken.append(ticket)
            self._line_changed.notify_all()
        ready = []
        for ticket in taken:
            try:
                ticket.settings = self.fit(ticket.messages, ticket.asked, backend)  # the model may have changed
            except Exception as exc:  # noqa: BLE001 - the caller gets it, in plain words
                ticket.finish(exc)
                continue
            self.generations += 1
            ready.append(ticket)
        return ready

    def _work(self) -> None:
        """Serve the line until it is empty (or a switch begins). Nothing a backend raises ends it."""
        while True:
            with self._guard:
                if not self._line or self.switching:
                    self._worker = None
                    self._line_changed.notify_all()
                    return
                self._writing = True
            try:
                self._serve_next()  # its frame, and the model it holds, are gone before a switch goes on
            finally:
                with self._guard:
                    self._writing = False
                    self._line_changed.notify_all()

    def _serve_next(self) -> None:
        """Hand the next request (or batch) to the model; every ticket taken is finished."""
        backend = self.backend
        running: list[_Ticket] = []
        try:
            batching = can_batch(backend)
            limit = max(1, int(getattr(backend, "max_batch", 1))) if batching else 1
            running.extend(self._take(backend, limit))
            if running and batching:
                self._run_batch(backend, running, limit)
            elif running:
                self._run_one(backend, running[0])
        except BaseException as exc:  # noqa: BLE001 - every unfinished caller gets it, in plain words
            for ticket in running:
                ticket.finish(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            for ticket in running:
                ticket.finish()

    def _run_one(self, backend: Backend, ticket: _Ticket) -> None:
        stream = backend.stream(ticket.messages, ticket.settings, ticket.stop)
        try:
            for piece in stream:
                ticket.emit(piece)
                if ticket.stop.is_set():
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def _run_batch(self, backend: Backend, running: list[_Ticket], limit: int) -> None:
        """``running`` grows as later arrivals join between tokens."""
        first = list(running)

        def more(room: int) -> list[_Ticket]:
            if room <= 0 or not self._line:
                return []
            joined = self._take(backend, min(room, limit))
            running.extend(joined)
            for ticket in running:
                ticket.batch = max(ticket.batch, sum(not t.done.is_set() for t in running))
            return joined

        for ticket in first:
            ticket.batch = len(first)
        backend.run_batch(first, more)  # type: ignore[attr-defined]
