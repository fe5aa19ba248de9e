from __future__ import annotations

import threading
import time

import pytest

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.engine import Engine, Waiting
from assistant.engine.fake import FakeBackend
from assistant.errors import GenerationError, InputTooLong

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
    writing = threading.Event()

    def consume():
        for piece in engine.stream(MSGS, GenerationSettings(max_new_tokens=5000), session="s1"):
            got.append(piece)
            writing.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert writing.wait(10)
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
    engine = Engine(FakeBackend(reply="w " * 5000, delay=0.01))  # runs until closed
    first = engine.stream(MSGS, GenerationSettings(), "a")
    next(first)
    result: list[str] = []
    in_line = threading.Event()

    def wait() -> None:
        for piece in engine.stream(MSGS, GenerationSettings(), "b", positions=True):
            if isinstance(piece, Waiting):
                in_line.set()
            else:
                result.append(piece)

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert in_line.wait(10)
    assert engine.stop("b") is True
    waiter.join(timeout=2)
    assert not waiter.is_alive() and result == []
    first.close()


def test_worker_error_reaches_the_caller():
    engine = Engine(FakeBackend(reply="a b c d", fail_after=2))
    with pytest.raises(GenerationError, match="(?i)try again"):
        list(engine.stream(MSGS, GenerationSettings()))
    assert not engine.busy


# -- a fair line, places in line, batching ---------------------------------------------------


def _replies(messages):
    """A different reply for every request, so crossed streams would show."""
    return " ".join(f"{messages[-1].content}-{i}" for i in range(6))


def _run_all(engine, names, **kwargs):
    results: dict[str, str] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(
        n, "".join(engine.stream([Message("user", n)], GenerationSettings(), n, **kwargs)))) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results


def test_requests_arriving_together_are_written_together_each_to_its_own_caller():
    backend = FakeBackend(reply=_replies, delay=0.02, max_batch=4)
    engine = Engine(backend)
    results = _run_all(engine, ["a", "b", "c"])
    assert results == {n: _replies([Message("user", n)]) for n in "abc"}
    assert max(backend.batches) >= 2  # written side by side, not one after another
    assert not engine.busy and engine.generations == 3


def test_a_request_arriving_later_joins_the_running_batch():
    second_done, release = threading.Event(), threading.Event()

    class Held(FakeBackend):
        """The first answer waits (writing nothing) until the second one is done, then until released."""

        def stream(self, messages, settings, stop):
            pieces = super().stream(messages, settings, stop)
            if messages[-1].content != "first":
                yield from pieces
                second_done.set()
                return
            yield next(pieces)
            for _ in range(1000):  # about 10 s at most
                if second_done.is_set():
                    break
                stop.wait(0.01)
                yield ""  # still thinking: the batch goes on, and the second may join it
            release.wait(10)
            yield from pieces

    backend = Held(reply="w " * 40, max_batch=4)
    engine = Engine(backend)
    first = engine.stream([Message("user", "first")], GenerationSettings(), "a")
    next(first)
    second = "".join(engine.stream([Message("user", "second")], GenerationSettings(max_new_tokens=5), "b"))
    assert second.split() == ["w"] * 5
    assert backend.batches == []  # the second was written and done inside the first's pass, still running
    release.set()
    rest = "".join(first)
    assert len(rest.split()) == 39
    assert backend.batches == [2]  # one pass over the model wrote both


def test_waiting_requests_see_their_place_in_line_first_come_first_served():
    moved_up = threading.Event()  # c has been told it is next

    class Ordered(FakeBackend):
        def stream(self, messages, settings, stop):
            if messages[-1].content == "b":
                moved_up.wait(10)  # b runs until c has moved up
            return super().stream(messages, settings, stop)

    backend = Ordered(reply="w " * 5000, delay=0.01)  # no batching: one at a time; a runs until closed
    engine = Engine(backend)
    first = engine.stream(MSGS, GenerationSettings(), "a")
    next(first)
    seen: dict[str, list[int]] = {"b": [], "c": []}
    told = {"b": threading.Event(), "c": threading.Event()}
    order: list[str] = []

    def wait(name: str) -> None:
        settings = GenerationSettings(max_new_tokens=2)
        for piece in engine.stream([Message("user", name)], settings, name, positions=True):
            if isinstance(piece, Waiting):
                seen[name].append(piece.position)
                told[name].set()
                if name == "c" and piece.position == 1:
                    moved_up.set()
            elif name not in order:
                order.append(name)

    b = threading.Thread(target=wait, args=("b",))
    b.start()
    assert told["b"].wait(10) and engine.position("b") == 1
    c = threading.Thread(target=wait, args=("c",))
    c.start()
    assert told["c"].wait(10) and engine.position("c") == 2
    assert engine.waiting == 2 and engine.position("a") == 0
    first.close()
    b.join(5)
    c.join(5)
    assert order == ["b", "c"]
    assert seen["b"][0] == 1 and seen["c"][0] == 2 and seen["c"][-1] == 1  # c moved up when b started
    assert Waiting(3) == "" and Waiting(3).position == 3  # joins as empty text


def test_stopping_one_request_of_a_batch_leaves_the_others_writing():
    backend = FakeBackend(reply=" ".join(["w"] * 50), delay=0.01, max_batch=4)
    engine = Engine(backend)
    got: dict[str, int] = {}

    def run(name: str) -> None:
        count = 0
        for _ in engine.stream(MSGS, GenerationSettings(), name):
            count += 1
            if name == "stop-me" and count == 3:
                engine.stop(name)
        got[name] = count

    threads = [threading.Thread(target=run, args=(n,)) for n in ("stop-me", "keep-1", "keep-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert got["keep-1"] == got["keep-2"] == 50
    assert got["stop-me"] < 10
    assert not engine.busy


def test_the_app_lets_several_staff_draft_at_once_and_the_engine_batches_them():
    """Through the real app: drafting events no longer wait in Gradio's queue one by one; they
    reach the engine together, which writes them in one batch, each to its own caller."""
    from gradio_client import Client

    from assistant.app.services import build_services
    from assistant.store.config import Config
    from assistant.web.app import build_app
    from assistant.web.server import serve

    backend = FakeBackend(reply=lambda msgs: "Subjective: " + " ".join(["w"] * 60), delay=0.01, max_batch=4)
    services = build_services(Config.load(), backend)
    running = serve(build_app(services), 0, background=True)
    try:
        client = Client(f"http://127.0.0.1:{running.port}/", headers={"Authorization": f"Bearer {running.token}"},
                        verbose=False)
        jobs = [client.submit(f"Session {i}: client practiced breathing.", "SOAP", "Behavioral health", "daily-note",
                              api_name="/draft_note") for i in range(3)]
        finals = [job.result(timeout=60) for job in jobs]
    finally:
        running.stop()
    assert [len(f.split()) for f in finals] == [61] * 3, [f[:80] for f in finals]
    assert max(backend.batches) >= 2  # at least two were written together
