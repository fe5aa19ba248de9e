"""What a model is asked and how: chat messages and generation settings.

Domain types shared by documents, presets and every engine. Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
