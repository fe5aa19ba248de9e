from __future__ import annotations

import threading
import time

import pytest

from assistant.backends import GenerationSettings, Message
from assistant.backends.fake import FakeBackend
from assistant.errors import GenerationError, InputTooLong
from assistant.generation import Engine

MSGS = [Message("system", "s"), Message("user", "hello there")]


def test_stream_yields_reply_pieces():
    engine = Engine(FakeBackend(reply="one two three"))
    assert "".join(engine.stream(MSGS, GenerationSettings())) == "one two three"


def test_too_long_for_window_is_refused_with_numbers():
    backend = FakeBackend()
    engine = Engine(backend)
    long = [Message("user", "word " * 5000)]
    with pytest.raises(InputTooLong, match="too long for the model"):
        list(engine.stream(long, GenerationSettings()))
    assert backend.calls == []  # never sent to the model


def test_answer_length_is_trimmed_to_the_room_left():
    engine = Engine(FakeBackend())
    fitted = engine.fit([Message("user", "word " * 3800)], GenerationSettings(max_new_tokens=700))
    assert 128 <= fitted.max_new_tokens < 700


def test_stop_ends_a_running_generation_quickly():
    backend = FakeBackend(reply="w " * 5000, delay=0.01)
    engine = Engine(backend)
    got: list[str] = []

    def consume():
        for piece in engine.stream(MSGS, GenerationSettings(max_new_tokens=5000), session="s1"):
            got.append(piece)

    worker = threading.Thread(target=consume)
    worker.start()
    while not got:
        time.sleep(0.01)
    started = time.monotonic()
    assert engine.stop("s1") is True
    worker.join(timeout=2)
    assert not worker.is_alive()
    assert time.monotonic() - started < 1.0
    assert backend.stopped == [True]
    assert engine.stop("s1") is False


def test_closing_the_stream_stops_the_model_and_frees_the_queue():
    backend = FakeBackend(reply="w " * 100)
    engine = Engine(backend)
    stream = engine.stream(MSGS, GenerationSettings())
    next(stream)
    assert engine.busy
    stream.close()
    assert not engine.busy
    assert "".join(engine.stream(MSGS, GenerationSettings(max_new_tokens=3)))


def test_one_generation_at_a_time_across_sessions():
    active = []
    peak = []

    class Counting(FakeBackend):
        def stream(self, messages, settings, stop):
            active.append(1)
            peak.append(len(active))
            yield from super().stream(messages, settings, stop)
            active.pop()

    engine = Engine(Counting(reply="a b c d e", delay=0.01))
    threads = [threading.Thread(target=lambda i=i: list(engine.stream(MSGS, GenerationSettings(), f"s{i}"))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert max(peak) == 1 and len(peak) == 4


def test_stop_while_waiting_for_the_model_never_starts():
    engine = Engine(FakeBackend(reply="w " * 200, delay=0.01))
    first = engine.stream(MSGS, GenerationSettings(), "a")
    next(first)
    result: list[str] = []
    waiter = threading.Thread(target=lambda: result.extend(engine.stream(MSGS, GenerationSettings(), "b")))
    waiter.start()
    time.sleep(0.3)
    engine.stop("b")
    waiter.join(timeout=2)
    assert not waiter.is_alive() and result == []
    first.close()


def test_worker_error_reaches_the_caller():
    engine = Engine(FakeBackend(reply="a b c d", fail_after=2))
    with pytest.raises(GenerationError, match="(?i)try again"):
        list(engine.stream(MSGS, GenerationSettings()))
    assert not engine.busy
