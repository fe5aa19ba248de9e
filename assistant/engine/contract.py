"""The model contract: given chat messages, stream text, stop when told.

A backend knows nothing about notes, letters or the UI. It receives a list of
``Message`` and ``GenerationSettings`` and yields text pieces until it is done
or ``stop`` is set. Implementations: ``hf.TransformersBackend`` (transformers,
4-bit on an NVIDIA GPU; the only package that imports torch), ``llamacpp.backend.
LlamaCppBackend`` (a GGUF file on llama.cpp, on the processor) and
``fake.FakeBackend`` (for tests and for trying the UI without a model).

Optional, for serving several people at once: a backend with ``max_batch`` > 1
also has ``run_batch(jobs, more)``, which writes several answers in one pass
(``BatchingBackend``). The engine uses it when present and otherwise calls
``stream`` once per request, in turn.

What every caller of the engine sees is here too: ``Waiting`` (the marker a
waiting request yields), ``NoModel`` (the stand-in when no model is loaded) and
``fit_window`` (an answer's room in the model's reading window).

Watching for a stuck model is the engine's job, once for every backend: an
answer with no new text for ``STALL_LIMIT_S`` seconds (counted from when it
started, never from when it joined the line) is stopped and its caller told in
plain words. A backend needs no watchdog of its own; it only has to honour
``stop``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from assistant.core.messages import GenerationSettings, Message
from assistant.errors import InputTooLong, ModelNotFound

STALL_LIMIT_S = 300.0  # no new text for this long while an answer runs: the model is stuck
MIN_ANSWER_TOKENS = 128  # a draft needs at least this much room to be useful
WORDS_PER_TOKEN = 0.75


@dataclass(frozen=True)
class ModelInfo:
    """What the UI shows about the running model. Plain words, no secrets."""

    name: str
    device: str  # "GPU: NVIDIA RTX 3060" or "processor (CPU)"
    precision: str  # "4-bit NF4, bfloat16 compute" ...
    context_window: int  # tokens the model can read and write in one go
    is_demo: bool = False
    load_seconds: float = 0.0
    from_saved_4bit: bool = False  # read from the saved 4-bit copy instead of quantized on load
    engine: str = ""  # "llama.cpp on the processor, because no NVIDIA GPU was found" (``choice.Choice.words``)
    sent_to: str = ""  # a model server: where the text goes ("the office server at 10.0.0.5:8000"); "": nowhere
    cloud: bool = False  # ``sent_to`` is a cloud provider, under the practice's BAA
    notice: str = ""  # shown above every tab while this model is in use (the cloud's banner, a fallback)


class Backend(Protocol):
    info: ModelInfo

    def count_tokens(self, messages: list[Message]) -> int:
        """Tokens the prompt for these messages takes, chat template included."""
        ...

    def stream(
        self, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        """Yield text pieces. Must return promptly (about a second) once ``stop`` is set."""
        ...


class Job(Protocol):
    """One request inside a batch: what to answer, and where the answer goes."""

    messages: list[Message]
    settings: GenerationSettings
    stop: threading.Event  # set: drop this answer at the next token, the others go on

    def emit(self, piece: str) -> None:
        """Receive the next piece of text of this answer."""
        ...

    def finish(self, error: BaseException | None = None) -> None:
        """This answer is over (done, stopped, or failed with ``error``). The first call counts."""
        ...


class BatchingBackend(Backend, Protocol):
    max_batch: int  # answers written together at most; 1 means "no batching"

    def run_batch(self, jobs: list[Job], more: Callable[[int], list[Job]]) -> None:
        """Write the answers of ``jobs``, and of jobs ``more(n)`` hands over while running
        (at most ``n``; asked between tokens), until every one is finished. Every job is
        finished; on an error, the jobs not yet finished get it and it is raised."""
        ...


def can_batch(backend: object) -> bool:
    """True when ``backend`` writes several answers in one pass (see ``BatchingBackend``)."""
    return int(getattr(backend, "max_batch", 1) or 1) > 1 and callable(getattr(backend, "run_batch", None))


def fit_window(backend: Backend, messages: list[Message], settings: GenerationSettings) -> GenerationSettings:
    """Settings whose answer length fits ``backend``'s reading window, or ``InputTooLong`` in plain words."""
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


class Waiting(str):
    """A marker the engine yields (only to callers that ask) while a request waits: ``position`` 1 is next.

    It is an empty string, so code that joins the pieces is unaffected."""

    position: int

    def __new__(cls, position: int) -> Waiting:
        marker = super().__new__(cls, "")
        marker.position = position
        return marker


class NoModel:
    """Stands in while a model is being changed, or after a switch left no model loaded."""

    def __init__(self, message: str, name: str = "(none)") -> None:
        self.message = message
        self.info = ModelInfo(name=name, device="-", precision="-", context_window=0)

    def count_tokens(self, messages: list[Message]) -> int:
        raise ModelNotFound(self.message)

    def stream(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event) -> Iterator[str]:
        raise ModelNotFound(self.message)
