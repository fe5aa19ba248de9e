"""Changing the model: one model in memory at a time, the old one back when the new one fails,
and a switch that can never freeze drafting.

Threads are synchronised with events; time is an injected clock, never a wait."""

from __future__ import annotations

import gc
import queue
import threading
import weakref

import pytest

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.engine import Engine, NoModel
from assistant.engine.fake import FakeBackend
from assistant.errors import ModelBusy, ModelLoadError, ModelNotFound

ASK = [Message("user", "hello there")]
SHORT = GenerationSettings(max_new_tokens=5)


class Named(FakeBackend):
    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.info = type(self.info)(name=name, device="test", precision="none", context_window=4096)
        self.closed = False
        self.weights = Weights()  # stands for the gigabytes a real model holds

    def close(self) -> None:
        self.closed = True


class Weights:
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


# -- 2. the old model is gone before the new one loads -----------------------------------------


def _dead_while_loading(refs: list[weakref.ref], name: str, seen: list[bool]):
    def load() -> Named:
        gc.collect()
        seen.append(all(ref() is None for ref in refs))
        return Named(name)

    return load


def test_switch_drops_the_old_model_before_loading_the_new_one():
    old = Named("old")
    engine = Engine(old)
    assert "".join(engine.stream(ASK, SHORT)) == "Subjective: fake reply."  # the worker has used it
    refs = [weakref.ref(old), weakref.ref(old.weights)]
    del old
    seen: list[bool] = []
    engine.switch(_dead_while_loading(refs, "new", seen))
    assert seen == [True], "the old model was still in memory while the new one loaded"
    assert engine.model.name == "new"


def test_a_failed_switch_loads_the_old_model_again_from_its_loader():
    closed: list[str] = []

    class Tracked(Named):
        def close(self) -> None:
            closed.append(self.info.name)

    engine = Engine(Tracked("old"), loader=lambda: Tracked("old, loaded again"))

    def too_big() -> Named:
        raise ModelLoadError("The model in x does not fit in the memory of the graphics card.")

    with pytest.raises(ModelLoadError, match="does not fit") as failed:
        engine.switch(too_big)
    assert "previous model" in failed.value.message  # says what is running now
    assert closed == ["old"]
    assert engine.model.name == "old, loaded again"
    assert "".join(engine.stream(ASK, SHORT))


def test_a_loaded_model_is_the_one_restored_after_the_next_failure():
    engine = Engine(Named("first"))
    engine.switch(lambda: Named("second"))

    def broken() -> Named:
        raise OSError("disk read error")  # not one of ours: still plain words

    with pytest.raises(ModelLoadError, match="could not be loaded") as failed:
        engine.switch(broken)
    assert "disk read error" not in failed.value.message
    assert engine.model.name == "second"  # loaded again by the loader that loaded it


def test_when_the_old_model_cannot_come_back_either_no_model_is_held_with_a_clear_message():
    def broken() -> Named:
        raise ModelLoadError("The model in x does not fit in the memory of the graphics card.")

    engine = Engine(Named("old"), loader=broken)
    with pytest.raises(ModelLoadError, match="No model is loaded now"):
        engine.switch(broken)
    assert isinstance(engine.backend, NoModel)
    with pytest.raises(ModelNotFound, match="No model is loaded. Open the System tab"):
        list(engine.stream(ASK, SHORT))
    assert engine.model.context_window == 0
    engine.switch(lambda: Named("chosen"))  # the System tab can still load one
    assert engine.model.name == "chosen"


# -- 4. a reader that never closes cannot freeze drafting ----------------------------------------


def _in_a_thread(work):
    """What ``work`` returned or raised, from a thread, so a switch that hangs fails the test."""
    outcome: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            outcome.put(work())
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcome.put(exc)

    threading.Thread(target=run, daemon=True).start()
    try:
        return outcome.get(timeout=10)
    except queue.Empty:
        raise AssertionError("the switch never returned: drafting would be frozen") from None


class Holding(Named):
    """Writes one word of a "hold" request, then holds the model until told to stop."""

    held_stopped: list[bool]

    def stream(self, messages, settings, stop):
        if messages[-1].content != "hold":
            return super().stream(messages, settings, stop)
        return self._hold(stop)

    def _hold(self, stop):
        yield "w"
        self.held_stopped = [stop.wait(30)]


def test_a_stream_never_read_nor_closed_makes_the_switch_give_up_in_plain_words():
    clock = Clock()
    old = Holding("old", reply="w " * 200)
    engine = Engine(old, clock=clock)
    abandoned = engine.stream([Message("user", "hold")], SHORT, "away")
    next(abandoned)  # opened, then never read again nor closed
    never_started = engine.stream(ASK, SHORT, "never")  # opened, not even started: holds nothing
    during: list[str] = []

    def waiting() -> None:
        try:
            engine.stream(ASK, SHORT, "b")
        except ModelBusy as exc:
            during.append(exc.message)  # new requests are answered at once, never held on a lock
        clock.now += 3600  # far past any deadline the switch gives the running answers

    def load() -> Named:
        raise AssertionError("the switch went on while a draft was still open")

    refused = _in_a_thread(lambda: engine.switch(load, waiting=waiting))
    assert isinstance(refused, ModelBusy), repr(refused)
    assert "A draft is still being written" in refused.message and "try again when it is done" in refused.message
    assert during and "changing its model" in during[0]
    assert not engine.switching and engine.backend is old and not old.closed
    assert "".join(engine.stream(ASK, SHORT, "c")) == "w w w w w"  # drafting goes on
    assert old.held_stopped == [True]  # the switch stopped the open draft
    abandoned.close()
    never_started.close()
    engine.switch(lambda: Named("new"))  # once the draft is closed, the switch goes through
    assert engine.model.name == "new" and old.closed


def test_a_second_switch_while_one_runs_is_refused_at_once():
    engine = Engine(Named("old"))
    refused: list[str] = []

    def load() -> Named:
        try:
            engine.switch(lambda: Named("other"))
        except ModelBusy as exc:
            refused.append(exc.message)
        return Named("new")

    assert _in_a_thread(lambda: engine.switch(load)) is not None
    assert refused and "already being changed" in refused[0]
    assert engine.model.name == "new"
