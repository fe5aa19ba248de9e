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
requests, waits for the running generation and its readers, frees the old
model, then loads the new one (one model in memory at a time). If the new one
fails to load, the previous one is loaded again when possible.

It logs ids, sizes and timings, never text.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import Backend, ModelInfo, can_batch
from assistant.errors import GenerationError, InputTooLong, ModelBusy, ModelNotFound

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 128  # a draft needs at least this much room to be useful
WORDS_PER_TOKEN = 0.75
POLL_S = 0.2  # how often a waiting caller looks at its stop event and its place in line
STALL_LIMIT_S = 300.0  # no new text for this long while running: the model is stuck


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
    done: threading.Event = field(default_factory=threading.Event)
    batch: int = 1  # most answers written together while it ran (for the log)

    def emit(self, piece: str) -> None:
        self.pieces.put(piece)

    def finish(self, error: BaseException | None = None) -> None:
        if not self.done.is_set():
            self.pieces.put(error if error is not None else _END)
            self.done.set()


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
        self._turn = threading.Lock()  # held by the worker while the model writes; switch() takes it
        self._guard = threading.Lock()
        self._switch = threading.Lock()
        self._line_changed = threading.Condition(self._guard)
        self._line: collections.deque[_Ticket] = collections.deque()
        self._active: set[_Ticket] = set()  # started, and their callers still reading
        self._worker: threading.Thread | None = None
        self._sessions: dict[str, list[_Ticket]] = {}  # each person's requests not yet ended
        self.generations = 0
        self.switching = False

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
                        waiting = None
                    self._turn.acquire()
                try:
                    with self._guard:
                        if self._active and waiting is not None:
                            waiting()
                        while self._active:  # their readers still hold the old model's answers
                            self._line_changed.wait(POLL_S)
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
            last = time.monotonic()
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
                    elif time.monotonic() - last > STALL_LIMIT_S:
                        ticket.stop.set()
                        raise GenerationError("The model stopped responding. Press Stop, then try again.") from None
                    continue
                if not waited and ticket.started:
                    waited = time.perf_counter() - start
                last = time.monotonic()
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
            if ticket.started:
                ticket.done.wait(STALL_LIMIT_S)  # the model has let go of this answer
            else:
                self._leave_line(ticket)
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
        """Called with ``_guard`` held: make sure a worker is running for the line."""
        self._line_changed.notify_all()
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="model-worker", daemon=True)
            self._worker.start()

    def _take(self, backend: Backend, limit: int) -> list[_Ticket]:
        """Up to ``limit`` tickets from the head of the line, marked started and fitted to ``backend``."""
        taken: list[_Ticket] = []
        with self._guard:
            while self._line and len(taken) < limit:
                ticket = self._line.popleft()
                if ticket.stop.is_set():
                    continue  # its caller will notice and leave
                ticket.started = True
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
        while True:
            with self._guard:
                if not self._line:
                    self._worker = None
                    return
            with self._turn:
                backend = self.backend
                batching = can_batch(backend)
                limit = max(1, int(getattr(backend, "max_batch", 1))) if batching else 1
                tickets = self._take(backend, limit)
                if not tickets:
                    continue
                if batching:
                    self._run_batch(backend, tickets, limit)
                else:
                    self._run_one(backend, tickets[0])

    def _run_one(self, backend: Backend, ticket: _Ticket) -> None:
        stream = backend.stream(ticket.messages, ticket.settings, ticket.stop)
        try:
            for piece in stream:
                ticket.emit(piece)
                if ticket.stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, never lost
            ticket.finish(exc)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            ticket.finish()

    def _run_batch(self, backend: Backend, tickets: list[_Ticket], limit: int) -> None:
        running = list(tickets)

        def more(room: int) -> list[_Ticket]:
            if room <= 0 or not self._line:
                return []
            joined = self._take(backend, min(room, limit))
            running.extend(joined)
            for ticket in running:
                ticket.batch = max(ticket.batch, sum(not t.done.is_set() for t in running))
            return joined

        for ticket in tickets:
            ticket.batch = len(tickets)
        try:
            backend.run_batch(tickets, more)  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001 - every unfinished caller gets it
            for ticket in running:
                ticket.finish(exc)
        finally:
            for ticket in running:
                ticket.finish()
