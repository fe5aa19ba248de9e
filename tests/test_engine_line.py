"""The engine's line and worker: the stall clock, and a worker that survives a backend's surprise.

Threads are synchronised with events and queues; time is an injected clock, never a wait."""

from __future__ import annotations

import queue
import threading

import pytest

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.engine import STALL_LIMIT_S, Engine, Waiting
from assistant.engine.fake import FakeBackend
from assistant.errors import GenerationError

SETTINGS = GenerationSettings(max_new_tokens=50)


class Clock:
    """Seconds that move only when the test says so; ``on_call`` sees every reading."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.on_call = lambda: None

    def __call__(self) -> float:
        self.on_call()
        return self.now


def _ask(name: str) -> list[Message]:
    return [Message("user", name)]


def _read(engine: Engine, name: str, results: queue.Queue, **kwargs) -> threading.Thread:
    """Read one request's answer in a thread named ``name``; its text or its error goes to ``results``."""

    def run() -> None:
        try:
            text = "".join(p for p in engine.stream(_ask(name), SETTINGS, name, **kwargs) if not isinstance(p, Waiting))
            results.put(text)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results.put(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


# -- 1. the stall clock starts when a request starts, not when it joins the line --------------


def test_a_request_that_waited_longer_than_the_stall_limit_still_gets_its_answer():
    second_started, second_polled = threading.Event(), threading.Event()
    clock = Clock()

    def polled_by_the_second_reader() -> None:
        if second_started.is_set() and threading.current_thread().name == "second":
            second_polled.set()

    clock.on_call = polled_by_the_second_reader

    class Scripted(FakeBackend):
        def stream(self, messages, settings, stop):
            if messages[-1].content == "first":
                yield "a"
                stop.wait(30)  # holds the model until its caller lets go
                return
            second_started.set()
            second_polled.wait(10)  # the second's reader looks at its stall clock before any text comes
            yield "one"
            yield " two"

    engine = Engine(Scripted(), clock=clock)
    first = engine.stream(_ask("first"), SETTINGS, "first")
    assert next(first) == "a"
    in_line = threading.Event()
    results: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            pieces = []
            for piece in engine.stream(_ask("second"), SETTINGS, "second", positions=True):
                if isinstance(piece, Waiting):
                    in_line.set()
                else:
                    pieces.append(piece)
            results.put("".join(pieces))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results.put(exc)

    threading.Thread(target=run, name="second", daemon=True).start()
    assert in_line.wait(10)
    clock.now += STALL_LIMIT_S + 60  # it waited in line longer than the stall limit
    first.close()
    outcome = results.get(timeout=10)
    assert outcome == "one two", outcome
    assert second_polled.is_set()


def test_a_running_request_with_no_new_text_past_the_stall_limit_is_stopped_in_plain_words():
    clock = Clock()
    started = threading.Event()

    class Stuck(FakeBackend):
        def stream(self, messages, settings, stop):
            started.set()
            clock.now += STALL_LIMIT_S + 1  # the model says nothing for longer than the limit
            stop.wait(30)
            yield from ()

    engine = Engine(Stuck(), clock=clock)
    with pytest.raises(GenerationError, match="stopped responding"):
        list(engine.stream(_ask("x"), SETTINGS, "x"))
    assert started.is_set() and not engine.busy


# -- 3. the worker survives anything a backend raises ----------------------------------------


class Surprise(FakeBackend):
    """Raises an exception the engine has never heard of, once, at ``where``."""

    def __init__(self, where: str, **kwargs) -> None:
        super().__init__(reply="fine answer", **kwargs)
        self.where = where
        self.raised = False

    def _once(self) -> bool:
        if self.raised:
            return False
        self.raised = True
        return True

    def stream(self, messages, settings, stop):
        if self.where == "call" and self._once():
            raise LookupError("a cache slot that does not exist")
        pieces = super().stream(messages, settings, stop)
        if self.where == "middle" and self._once():
            return self._break_after_one(pieces)
        return pieces

    @staticmethod
    def _break_after_one(pieces):
        yield next(pieces)
        raise ZeroDivisionError("inside the model")

    def run_batch(self, jobs, more):
        if self.where == "batch" and self._once():
            raise MemoryError("the batch did not fit")
        super().run_batch(jobs, more)


@pytest.mark.parametrize("where, batch", [("call", 1), ("middle", 1), ("batch", 4)])
def test_the_worker_survives_an_unexpected_error_and_serves_the_next_request(where: str, batch: int):
    engine = Engine(Surprise(where, max_batch=batch))
    results: queue.Queue = queue.Queue()
    _read(engine, "unlucky", results)
    failed = results.get(timeout=10)
    assert isinstance(failed, GenerationError), repr(failed)
    assert "Try again" in failed.message and "cache slot" not in failed.message
    _read(engine, "next", results)
    assert results.get(timeout=10) == "fine answer"
    assert not engine.busy
