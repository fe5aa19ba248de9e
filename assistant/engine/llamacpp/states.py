"""Saved reading states of recent prompts, so switching between a note and a chat stays fast.

llama.cpp keeps what it read last in the context's memory, so a prompt that starts like the
previous one only reads the new part. ``PromptStates`` keeps a few more: once a prompt is read and
before its answer, the memory of sequence 0 (its key/value cache, llama.cpp's
``llama_state_seq_get_data``) is saved with the tokens it holds, so a state holds the prompt only
(about 10 MB for a 300-token prompt at 1B size; 45 MB with its answer). Before a prompt is read,
the saved state sharing the longest start with it is put back when that saves more than
``MIN_GAIN`` tokens of reading.

One state per kind of prompt: a new one replaces a saved one whose tokens it mostly shares (the
same preset with a new description). The oldest goes first when there are ``max_items`` or
their bytes pass ``budget_bytes``. States live in memory only and hold the prompt's text in
encoded form: they are never written to disk, and are dropped with the model.
"""

from __future__ import annotations

import ctypes
import logging
import time
from dataclasses import dataclass

import llama_cpp

from assistant.engine.llamacpp.decode import Decoder

log = logging.getLogger(__name__)

MIN_GAIN = 32  # tokens: below this, reading them again is cheaper than copying a state back
SAME_KIND = 0.6  # a new state replaces a saved one when it shares this much of the saved prompt


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class Saved:
    tokens: list[int]
    prompt_len: int
    data: ctypes.Array
    used: float


class PromptStates:
    def __init__(self, *, max_items: int = 4, budget_bytes: int = 1 << 30) -> None:
        self.max_items = max_items
        self.budget_bytes = budget_bytes
        self.saved: list[Saved] = []
        self.restored = 0  # times a state was put back (for the benchmark and tests)

    @property
    def bytes(self) -> int:
        return sum(len(s.data) for s in self.saved)

    def clear(self) -> None:
        self.saved.clear()

    def save(self, decoder: Decoder, prompt_len: int) -> None:
        """Remember what the memory holds now (the prompt just read)."""
        if self.max_items <= 0 or not decoder.tokens:
            return
        ctx = decoder.llm.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size <= 0 or size > self.budget_bytes:
            return
        data = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, data, size, 0)
        if written <= 0:
            return
        tokens = list(decoder.tokens)
        prompt = tokens[:prompt_len]
        self.saved = [s for s in self.saved
                      if common_prefix(s.tokens[:s.prompt_len], prompt) < SAME_KIND * s.prompt_len]
        self.saved.append(Saved(tokens, prompt_len, data, time.monotonic()))
        while self.saved and (len(self.saved) > self.max_items or self.bytes > self.budget_bytes):
            self.saved.remove(min(self.saved, key=lambda s: s.used))

    def restore(self, decoder: Decoder, prompt: list[int]) -> bool:
        """Put back the saved state that shares the most with ``prompt``, when it is worth it."""
        have = common_prefix(decoder.tokens, prompt)
        best, best_len = None, have + MIN_GAIN
        for saved in self.saved:
            n = common_prefix(saved.tokens, prompt)
            if n > best_len:
                best, best_len = saved, n
        if best is None:
            return False
        ctx = decoder.llm.ctx
        decoder.keep(0)
        if llama_cpp.llama_state_seq_set_data(ctx, best.data, len(best.data), 0) == 0:
            log.warning("a saved prompt state could not be put back; reading the prompt again")
            decoder.llm._ctx.kv_cache_seq_rm(0, 0, -1)
            self.saved.remove(best)
            return False
        decoder.tokens = list(best.tokens)
        best.used = time.monotonic()
        self.restored += 1
        return True
