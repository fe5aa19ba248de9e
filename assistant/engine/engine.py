"""The engine: one model, a fair line of requests, stoppable, changeable. Logs ids, sizes, timings, never text.

Every model-using request goes through ``Engine.stream``: it checks the prompt fits the model's
reading window (refusing in plain words, never cutting text), then joins one first-come line. A
worker thread hands requests to the model, one at a time or, when the backend can batch, several
together (later arrivals join between tokens); each caller reads its own answer, and ``Waiting``
markers (``positions=True``) or ``position(session)`` tell its place in line. ``stop(session)``
stops that person's requests only. The worker survives anything a backend raises (that request gets
a plain ``GenerationError``). The one stall watchdog is the reader's: ``STALL_LIMIT_S`` from the
answer's start, on the injected ``clock``. The UI asks the engine (``model``, ``count_tokens``,
``position``), never the backend behind it.

``switch`` changes the model without a restart: it refuses new requests, stops the running answers,
waits a bounded time for them to end (else refuses, in plain words), closes and drops the old model,
then loads the new one: one model in memory at a time. If that fails, the previous model is loaded
again from its loader, else a ``NoModel`` says what to do.
"""

from __future__ import annotations

import collections
import gc
import logging
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import STALL_LIMIT_S, Backend, ModelInfo, NoModel, Waiting, can_batch, fit_window
from assistant.errors import AssistantError, GenerationError, ModelBusy, ModelLoadError, where_failed

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often a waiting caller looks at its stop event and its place in line
STOP_GRACE_S = 10.0  # a stopped answer's caller waits this long at most for the model to let go
SWITCH_WAIT_S = 30.0  # a switch waits this long at most for the stopped answers to end
NO_MODEL = "No model is loaded. Open the System tab and choose a model."
UNEXPECTED = ("The model stopped because of an unexpected problem (reference {ref}). Try again; your text is still "
              "here. If it happens again, restart the assistant and tell your vendor the reference.")
Loader = Callable[[], Backend]  # loads a model (again)
__all__ = ["STALL_LIMIT_S", "Engine", "NoModel", "Waiting"]  # the last two live in the contract
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
    ref = secrets.token_hex(3).upper()
    log.error("generation failed ref=%s %s", ref, where_failed(error))
    return GenerationError(UNEXPECTED.format(ref=ref))


def _close(backend: Backend) -> None:
    try:
        getattr(backend, "close", lambda: None)()
    except Exception as exc:  # noqa: BLE001 - the new model is loaded all the same
        log.error("closing the old model failed: %s", where_failed(exc))


def _switch_failed(error: BaseException, restored: bool) -> AssistantError:
    """The load's error in plain words, saying which model is in use now."""
    ours = isinstance(error, AssistantError)
    if not ours:
        log.error("model switch failed: %s", where_failed(error))
    words = (error.message if ours else "The new model could not be loaded.") + (
        " The previous model is in use again." if restored else " No model is loaded now: open the System tab and choose a model.")
    try:
        return type(error)(words) if ours else ModelLoadError(words)
    except TypeError:
        return ModelLoadError(words)


class Engine:
    def __init__(self, backend: Backend, *, loader: Loader | None = None, clock: Callable[[], float] = time.monotonic):
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
        """What is known about the loaded model (the UI shows it), the saved 4-bit copy included."""
        backend = self.backend
        saved = bool(getattr(backend, "from_saved_4bit", False)) or backend.info.from_saved_4bit
        return replace(backend.info, from_saved_4bit=saved)

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
        return self._place(lambda waiting: waiting.session == session)

    def _place(self, matches: Callable[[_Ticket], bool]) -> int:
        with self._guard:
            return next((index for index, t in enumerate(self._line, start=1) if matches(t)), 0)

    @property
    def waiting(self) -> int:
        """How many requests wait for the model."""
        with self._guard:
            return len(self._line)

    # -- changing the model -----------------------------------------------------------------------

    def switch(self, load: Loader, *, restore: Loader | None = None, waiting: Callable[[], None] | None = None,
               reload: Loader | None = None) -> Backend:
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
                for ticket in self._active:
                    ticket.stop.set()
            deadline = self._clock() + SWITCH_WAIT_S
            if running and waiting is not None:
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

    def _load(self, load: Loader, restore: Loader | None, reload: Loader) -> Backend:
        start = time.perf_counter()
        try:
            self.backend, self._loader = load(), reload
        except BaseException as exc:
            self.backend, self._loader = NoModel(NO_MODEL), None
            if restore is not None:
                try:
                    self.backend, self._loader = restore(), restore
                    log.info("previous model restored after a failed switch")
                except Exception as again:  # noqa: BLE001 - reported as "no model", never raised over the first
                    log.error("previous model could not be restored: %s", where_failed(again))
            if not isinstance(exc, Exception):
                raise
            raise _switch_failed(exc, self._loader is not None) from None
        log.info("model switched in %.1fs", time.perf_counter() - start)
        return self.backend

    def fit(self, messages: list[Message], settings: GenerationSettings, backend: Backend | None = None) -> GenerationSettings:
        """Return settings whose answer length fits the window, or refuse the input."""
        return fit_window(backend or self.backend, messages, settings)

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
        start, waited, pieces, chars, outcome = time.perf_counter(), 0.0, 0, 0, "error"
        with self._guard:
            self._sessions.setdefault(ticket.session, []).append(ticket)
            self._line.append(ticket)
            self._wake_worker()
        try:
            shown, heard = -1, self._clock()  # heard: the model's last word; its start counts as one
            while True:
                try:
                    item = ticket.pieces.get(timeout=POLL_S)
                except queue.Empty:
                    if not ticket.started:
                        if ticket.stop.is_set() and self._leave_line(ticket):
                            outcome = "stopped-while-waiting"
                            return
                        place = self._place(lambda waiting: waiting is ticket)
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
                pieces, chars = pieces + 1, chars + len(item)
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
            if ticket in self._line:
                self._line.remove(ticket)
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
                ready.append(ticket)
            except Exception as exc:  # noqa: BLE001 - the caller gets it, in plain words
                ticket.finish(exc)
        self.generations += len(ready)
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
        except BaseException as exc:  # noqa: BLE001 - every unfinished caller gets it in plain words; the worker goes on
            error = _for_the_caller(exc)
            for ticket in running:
                ticket.finish(error)
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
            getattr(stream, "close", lambda: None)()

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
