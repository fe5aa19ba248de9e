"""The model's second look: one question a sentence, its "no" answers shown as hints. The mechanics with a scripted
backend (which sentence was asked about, and what its answer became), then with the real demo model on llama.cpp
(whatever it answers, every sentence is asked once and every hint points at a sentence of the draft). Whether its
doubts are right needs a full model (README)."""

from __future__ import annotations

import pytest

from assistant.app.second_look import MOST_SENTENCES, SYSTEM, second_look, sentences, verdict
from assistant.engine.engine import Engine
from assistant.engine.fake import FakeBackend
from assistant.web.tabs.review import doubts_text

NOTES = "Pt c/o R shoulder pain 6/10. Sit<>stand mod A. Denies SI/HI."
DRAFT = ("Subjective:\nThe patient reports right shoulder pain rated 6 out of 10.\n"
         "She completed sit to stand independently today. She denies suicidal or homicidal ideation.\nOk.")


def test_the_sentences_asked_about() -> None:
    spans = sentences(DRAFT)
    assert [DRAFT[s:e] for s, e in spans] == ["The patient reports right shoulder pain rated 6 out of 10.",
                                               "She completed sit to stand independently today.",
                                               "She denies suicidal or homicidal ideation."]  # not "Subjective:", "Ok."
    assert len(sentences("One two three four. " * 200)) == MOST_SENTENCES


@pytest.mark.parametrize(("answer", "said"), [("Yes", True), ("yes.", True), (" No, it is not", False),
                                              ("NO", False), ("Maybe", None), ("", None)])
def test_answers(answer: str, said: bool | None) -> None:
    assert verdict(answer) is said


def test_a_no_becomes_a_hint_on_that_sentence() -> None:
    def answer(messages) -> str:
        asked = messages[-1].content
        return "No." if "independently" in asked else "Maybe so" if "suicidal" in asked else "Yes"

    backend = FakeBackend(reply=answer)
    steps = list(second_look(Engine(backend), NOTES, DRAFT))
    assert [(p.asked, p.total) for p in steps] == [(1, 3), (2, 3), (3, 3)]
    done = steps[-1]
    assert [d.text for d in done.doubts] == ["She completed sit to stand independently today."]
    assert DRAFT[done.doubts[0].start:done.doubts[0].end] == done.doubts[0].text and done.unclear == 1
    assert len(backend.calls) == 3 and all(c[0].content == SYSTEM and NOTES in c[1].content for c in backend.calls)
    shown = doubts_text(done)
    assert "not sure" in shown and "independently" in shown and "1 answer was neither yes nor no" in shown


@pytest.mark.slow
def test_the_demo_model_answers_every_sentence() -> None:
    from assistant.engine.demo_model import find_demo_gguf
    from assistant.engine.llamacpp.backend import LlamaCppBackend

    backend = LlamaCppBackend.load(find_demo_gguf(), is_demo=True)
    try:
        steps = list(second_look(Engine(backend), NOTES, DRAFT))
    finally:
        backend.close()
    done = steps[-1]
    assert done.asked == done.total == 3 and len(done.doubts) + done.unclear <= 3
    assert all(DRAFT[d.start:d.end] == d.text for d in done.doubts)
