"""The model contract: given chat messages, stream text, stop when told.

A backend knows nothing about notes, letters or the UI. It receives a list of
``Message`` and ``GenerationSettings`` and yields text pieces until it is done
or ``stop`` is set. Implementations: ``hf.TransformersBackend`` (the real one,
the only module that imports torch) and ``fake.FakeBackend`` (for tests and
for trying the UI without a model).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 700
    temperature: float = 0.3
    top_p: float = 0.9
    repetition_penalty: float = 1.1


@dataclass(frozen=True)
class ModelInfo:
    """What the UI shows about the running model. Plain words, no secrets."""

    name: str
    device: str  # "GPU: NVIDIA RTX 3060" or "processor (CPU)"
    precision: str  # "4-bit NF4, bfloat16 compute" ...
    context_window: int  # tokens the model can read and write in one go
    is_demo: bool = False
    load_seconds: float = 0.0


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
