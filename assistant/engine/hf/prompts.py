"""Prompt rendering: the model's own chat template, and when a template refuses or drops the
system message (Gemma 2 has no system role; Phi-3 as first released drops it), the system text
folded into the first user turn, repeated roles merged. Token ids are rendered once per request.

``ChatPrompts`` is a part of ``TransformersBackend``: it uses ``tokenizer`` (None once closed),
``_prompts`` and ``_prompts_lock``."""

from __future__ import annotations

import logging
from typing import Any

from assistant.core.messages import Message
from assistant.engine import chat
from assistant.errors import ModelBusy

log = logging.getLogger(__name__)

CLOSED = "The model is being changed. Try again in a minute."


class ChatPrompts:
    """Rendering and counting prompts (mixed into ``TransformersBackend``)."""

    def _template(self, messages: list[Message]) -> Any:
        return self._encode(chat.render(messages, self._render))

    def _render(self, conversation: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def _encode(self, text: str) -> Any:
        # The template already holds the special tokens (BOS and turn markers).
        return self.tokenizer(text, add_special_tokens=False, return_tensors="pt")

    def _pad_id(self) -> int | None:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self._prompt_ids(messages))

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        """The prompt's token ids, rendered once per request (the engine counts, then generates)."""
        if self.tokenizer is None:  # closed
            raise ModelBusy(CLOSED)
        key = tuple(messages)
        with self._prompts_lock:
            ids = self._prompts.get(key)
            if ids is not None:
                self._prompts.move_to_end(key)
                return ids
        ids = self._template(messages)["input_ids"][0].tolist()
        with self._prompts_lock:
            self._prompts[key] = ids
            while len(self._prompts) > 16:
                self._prompts.popitem(last=False)
        return ids
