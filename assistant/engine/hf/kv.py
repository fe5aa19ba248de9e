"""Key/value buffers for the fast path: one layer's keys and values in a preallocated buffer
(``_KVLayer``, written in place instead of DynamicCache's torch.cat), one answer being written
with its own text stream (``_Row``), and the running answers' buffers side by side in one
left-padded batch (``_Batch``). Why: the notes in ``lean``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache, TextStreamer
from transformers.cache_utils import DynamicLayer

from assistant.core.messages import GenerationSettings
from assistant.engine.contract import Job


class _KVLayer(DynamicLayer):
    """One layer's keys and values in a preallocated buffer (batch, heads, capacity, dim):
    a new token is written in place instead of copying the whole cache with torch.cat."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = max(1, capacity)
        self.length = 0
        self.k_buf: torch.Tensor | None = None
        self.v_buf: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        b, h, _, d = key_states.shape
        self.device = key_states.device
        self.k_buf = key_states.new_empty((b, h, self.capacity, d))
        self.v_buf = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.is_initialized = True

    def adopt(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        """Use these buffers (already holding ``length`` positions)."""
        self.k_buf, self.v_buf, self.length = keys, values, length
        self.capacity = keys.shape[-2]
        self.device = keys.device
        self.is_initialized = True
        self.keys, self.values = keys[:, :, :length], values[:, :, :length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.k_buf.shape[-2]:  # type: ignore[union-attr]
            self._grow(end)
        self.k_buf[:, :, self.length:end] = key_states  # type: ignore[index]
        self.v_buf[:, :, self.length:end] = value_states  # type: ignore[index]
        self.length = end
        self.keys = self.k_buf[:, :, :end]  # type: ignore[index]
        self.values = self.v_buf[:, :, :end]  # type: ignore[index]
        return self.keys, self.values

    def _grow(self, need: int) -> None:
        capacity = max(need, 2 * self.k_buf.shape[-2])  # type: ignore[union-attr]
        for name in ("k_buf", "v_buf"):
            old = getattr(self, name)
            new = old.new_empty((*old.shape[:2], capacity, old.shape[-1]))
            new[:, :, : self.length] = old[:, :, : self.length]
            setattr(self, name, new)

    def get_seq_length(self) -> int:
        return self.length


def _cache_of(config: Any, layers: list[_KVLayer]) -> DynamicCache:
    cache = DynamicCache(config=config)
    cache.layers = layers  # type: ignore[assignment]
    return cache


class _Text(TextStreamer):
    """transformers' own incremental detokenizer (whole words, complete characters), per answer."""

    def __init__(self, tokenizer: Any, emit: Callable[[str], None]) -> None:
        super().__init__(tokenizer, skip_prompt=False, skip_special_tokens=True)
        self._emit = emit

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self._emit(text)


@dataclass(eq=False)
class _Row:
    """One answer being written inside a batch."""

    job: Job
    ids: list[int]
    settings: GenerationSettings
    eos: frozenset[int]
    text: _Text
    seen: torch.Tensor  # (vocab,) bool: tokens of the prompt and the answer, for the repetition penalty
    max_new: int
    fixed_length: bool = False  # benchmark only: ignore end-of-text, write max_new tokens
    layers: list[_KVLayer] = field(default_factory=list)  # its own cache until it joins the batch
    pad: int = 0  # padding positions before its own, in the batch
    last: int = -1  # the token just chosen, to feed next
    written: int = 0
    done: bool = False


class _Batch:
    """The running answers' caches side by side, left-padded to a common width (``valid`` marks
    each row's real positions), with room for every row's remaining tokens."""

    def __init__(self, layers: list[_KVLayer], valid: torch.Tensor, width: int, padded: bool, config: Any) -> None:
        self.layers = layers
        self.valid = valid
        self.width = width  # filled positions, the same for every row
        self.padded = padded
        self.cache = _cache_of(config, layers)

    def mask(self) -> torch.Tensor | None:
        """For the next token: (rows, 1, 1, width + 1) True where a row has a real position."""
        return self.valid[:, None, None, : self.width + 1] if self.padded else None

    @staticmethod
    def merge(batch: _Batch | None, rows: list[_Row], joined: list[_Row], model: Any) -> _Batch:
        """The batch with ``joined`` rows (their prompts just read) added after ``rows``."""
        if batch is None and len(joined) == 1:  # one answer: its own buffers, nothing copied
            row = joined[0]
            layers, row.layers, row.pad = row.layers, [], 0
            valid = torch.ones((1, layers[0].k_buf.shape[-2]), dtype=torch.bool, device=model.device)  # type: ignore[union-attr]
            return _Batch(layers, valid, len(row.ids), False, model.config)
        old_width = batch.width if batch is not None else 0
        width = max(old_width, *(len(row.ids) for row in joined))
        capacity = width + max(row.max_new - row.written for row in rows + joined) + 1
        shift = width - old_width
        count = len(rows) + len(joined)
        layers = []
        for index in range(len(joined[0].layers)):
            sample = joined[0].layers[index]
            buffers = []
            for name in ("k_buf", "v_buf"):
                part = getattr(sample, name)
                merged = part.new_zeros((count, part.shape[1], capacity, part.shape[-1]))  # zeros: padding stays finite
                if batch is not None:
                    merged[: len(rows), :, shift:width] = getattr(batch.layers[index], name)[:, :, :old_width]
                for offset, row in enumerate(joined, start=len(rows)):
                    merged[offset, :, width - len(row.ids): width] = getattr(row.layers[index], name)[0, :, : len(row.ids)]
                buffers.append(merged)
            layer = _KVLayer(capacity)
            layer.adopt(buffers[0], buffers[1], width)
            layers.append(layer)
        for row in rows:
            row.pad += shift
        for row in joined:
            row.pad, row.layers = width - len(row.ids), []
        valid = torch.zeros((count, capacity), dtype=torch.bool, device=model.device)
        for index, row in enumerate(rows + joined):
            valid[index, row.pad:] = True
        return _Batch(layers, valid, width, any(row.pad for row in rows + joined), model.config)

    @staticmethod
    def drop(batch: _Batch, rows: list[_Row], model: Any) -> tuple[list[_Row], _Batch | None]:
        """Leave out the finished rows (and the padding no remaining row needs)."""
        keep = [index for index, row in enumerate(rows) if not row.done]
        if not keep:
            return [], None
        kept = [rows[index] for index in keep]
        trim = min(row.pad for row in kept)
        chosen = torch.tensor(keep, device=model.device)
        layers = []
        for old in batch.layers:
            keys = old.k_buf.index_select(0, chosen)[:, :, trim:]  # type: ignore[union-attr]
            values = old.v_buf.index_select(0, chosen)[:, :, trim:]  # type: ignore[union-attr]
            layer = _KVLayer(keys.shape[-2])
            layer.adopt(keys, values, batch.width - trim)
            layers.append(layer)
        for row in kept:
            row.pad -= trim
        valid = batch.valid.index_select(0, chosen)[:, trim:]
        return kept, _Batch(layers, valid, batch.width - trim, any(row.pad for row in kept), model.config)
