"""The model's second look at a draft: one short question a sentence, "do the notes say this?", asked of the model
in use. Its doubts are hints, softer than the check's flags: a model can be wrong either way, and the built-in demo
model is far too small for its answers to mean anything (the page says so, and the README). Plain Python over the
engine, like ``drafting``."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.engine import Engine

HINT = "The model is not sure this is in your notes."
MOST_SENTENCES = 60  # a long letter is asked about its first 60 sentences
MOST_NOTES_CHARS = 6_000  # what the model is shown of the notes with each question
SYSTEM = "You check a clinical draft against the clinician's notes. Answer with one word: yes or no."
QUESTION = ("The clinician's notes:\n\n{notes}\n\nOne sentence of a draft written from them:\n\n{sentence}\n\n"
            "Do the notes say everything this sentence says? Answer yes or no.")
ANSWER = GenerationSettings(max_new_tokens=4, temperature=0.0, top_p=1.0, repetition_penalty=1.0)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@dataclass(frozen=True)
class Doubt:
    start: int  # where the sentence is in the draft
    end: int
    text: str
    answer: str  # the model's own first words


@dataclass(frozen=True)
class Progress:
    asked: int  # sentences asked about so far
    total: int
    doubts: list[Doubt]
    unclear: int  # answers that were neither yes nor no


def sentences(draft: str) -> list[tuple[int, int]]:
    """The sentences worth asking about: four words or more, not a heading ("Plan:")."""
    out = []
    for m in _SENTENCE.finditer(draft or ""):
        start = m.start() + len(m[0]) - len(m[0].lstrip())
        text = m[0].strip()
        if len(text.split()) >= 4 and not text.endswith(":"):
            out.append((start, start + len(text)))
    return out[:MOST_SENTENCES]


def verdict(answer: str) -> bool | None:
    """True for yes, False for no, None for anything else."""
    word = re.sub(r"[^a-z]", "", (answer.strip().split() or [""])[0].lower())
    return {"yes": True, "no": False}.get(word)


def second_look(engine: Engine, notes: str, draft: str, *, session: str = "",
                stop: threading.Event | None = None) -> Iterator[Progress]:
    """Ask about each sentence in turn; a ``Progress`` after each answer (the last one is the result)."""
    spans, doubts, unclear = sentences(draft), [], 0
    shown = (notes or "").strip()[:MOST_NOTES_CHARS]
    for asked, (start, end) in enumerate(spans, 1):
        if stop is not None and stop.is_set():
            return
        messages = [Message("system", SYSTEM), Message("user", QUESTION.format(notes=shown, sentence=draft[start:end]))]
        with closing(engine.stream(messages, ANSWER, session, kind="chat")) as stream:
            answer = "".join(stream)
        said = verdict(answer)
        if said is False:
            doubts.append(Doubt(start, end, draft[start:end], answer.strip()[:40]))
        unclear += said is None
        yield Progress(asked, len(spans), list(doubts), unclear)
