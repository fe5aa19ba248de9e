"""The prefix cache: keys and values of recent prompts, reused by later prompts that begin with
the same tokens. Exactness (why at least MIN_SUFFIX_TOKENS are always computed): the notes in ``lean``."""

from __future__ import annotations

import os
from collections import OrderedDict

import torch

from assistant.engine.hf.kv import _KVLayer

MIN_PREFIX_TOKENS = 16  # shorter shared prefixes are not worth a cache entry
MIN_SUFFIX_TOKENS = 8  # prompt tokens always computed after a cached prefix (see lean's notes)
PREFIX_ENTRIES = 8
PREFIX_BYTES = {"cpu": 256 << 20, "cuda": 512 << 20}


class _PrefixStore:
    """Keys and values of recent prompts, to start later prompts that begin with the same tokens
    (a preset's system prompt and instructions, a conversation so far) from there.

    Matching compares token ids, so a reused prefix is always a true prefix of the new prompt's
    own tokenization; the entry itself is never changed (its tensors are copied into each use)."""

    def __init__(self, max_bytes: int, max_entries: int = PREFIX_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0

    def lookup(self, ids: list[int]) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]] | None]:
        """(tokens that can be reused, their keys and values), or (0, None)."""
        best, found = 0, None
        wanted = tuple(ids)
        for key in self.entries:
            shared = len(os.path.commonprefix([key, wanted]))
            if shared > best:
                best, found = shared, key
        usable = min(best, len(ids) - MIN_SUFFIX_TOKENS)
        if found is None or usable < MIN_PREFIX_TOKENS:
            self.misses += 1
            return 0, None
        self.entries.move_to_end(found)
        self.hits += 1
        return usable, self.entries[found]

    def add(self, ids: list[int], layers: list[_KVLayer]) -> None:
        if len(ids) < MIN_PREFIX_TOKENS + MIN_SUFFIX_TOKENS:
            return
        key = tuple(ids)
        for old in [k for k in self.entries if len(k) <= len(key) and key[: len(k)] == k]:
            self._drop(old)  # a prefix of this prompt: the new entry covers it
        kv = [(layer.k_buf[:, :, : len(ids)].clone(), layer.v_buf[:, :, : len(ids)].clone())  # type: ignore[index]
              for layer in layers]
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if size > self.max_bytes:
            return
        self.entries[key] = kv
        self.bytes += size
        while self.bytes > self.max_bytes or len(self.entries) > self.max_entries:
            self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple[int, ...]) -> None:
        kv = self.entries.pop(key)
        self.bytes -= sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0
