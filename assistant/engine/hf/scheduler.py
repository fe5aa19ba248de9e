"""The batching scheduler of the fast path: several answers written together, late arrivals
joining between tokens (``run_batch``, the ``BatchingBackend`` contract). Each prompt is read on
its own, from a cached prefix when there is one; then every answer advances one token per step as
one left-padded batch, through the lean step (``lean``) or the model's own forward.

``BatchScheduler`` is a part of ``TransformersBackend``; it uses the backend's model, tokenizer,
lock, prefix cache (``_prefixes``), lean plan (``_lean``), ``_linears``/``_prefill_fp32`` and
``_closing`` (set by ``close()``: every answer ends at its next token)."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import Job
from assistant.engine.hf.failures import _generation_error
from assistant.engine.hf.kv import _Batch, _cache_of, _KVLayer, _Row, _Text
from assistant.engine.hf.lean import _has_hooks, float32_products, lean_step
from assistant.engine.hf.plain import _drain
from assistant.engine.hf.sampling import choose_token
from assistant.errors import GenerationError, ModelBusy

log = logging.getLogger(__name__)

MAX_BATCH = {"cpu": 4, "cuda": 8}


class _QueueJob:
    """A job whose pieces a reader takes from a queue (``TransformersBackend.stream``)."""

    END = object()

    def __init__(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event) -> None:
        self.messages = messages
        self.settings = settings
        self.stop = stop
        self.pieces: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._finished = False

    def emit(self, piece: str) -> None:
        self.pieces.put(piece)

    def finish(self, error: BaseException | None = None) -> None:
        if not self._finished:
            self._finished = True
            self.error = error
            self.pieces.put(self.END)


def _eos_ids(model: Any) -> frozenset[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        return frozenset()
    return frozenset([int(eos)] if isinstance(eos, int) else (int(e) for e in eos))


class BatchScheduler:
    """``run_batch`` and the steps under it (mixed into ``TransformersBackend``)."""

    def run_batch(self, jobs: list[Job], more: Callable[[int], list[Job]]) -> None:
        """Write the answers of ``jobs`` together, taking in ``more`` jobs between tokens (see
        ``BatchingBackend``). Each prompt is read on its own (reusing a cached prefix), then all
        answers advance one token per step as one left-padded batch."""
        model = self._require_model()
        seen: list[Job] = []

        def take(room: int) -> list[Job]:
            joined = more(room) if room > 0 else []
            seen.extend(joined)
            return joined

        seen.extend(jobs)
        if not self._fast:  # not expected (max_batch is 1 then): one at a time through generate
            for job in jobs:
                _drain(self._stream_generate(model, job.messages, job.settings, job.stop), job)
            return
        try:
            with self._lock, torch.inference_mode():
                self._run(self._require_model(), list(jobs), take)  # closed while waiting: ModelBusy
        except BaseException as exc:
            error = exc if isinstance(exc, (GenerationError, ModelBusy)) else _generation_error(exc)
            for job in seen:
                job.finish(error)  # the ones already finished ignore it
            raise error from None
        for job in seen:
            job.finish()  # those stopped before their prompt was read

    def _run(self, model: Any, pending: list[Job], more: Callable[[int], list[Job]]) -> None:
        rows: list[_Row] = []
        batch: _Batch | None = None
        lean = self._lean if self._lean and not _has_hooks(model) else None
        eos = _eos_ids(model)
        while True:
            room = self.max_batch - len(rows) - len(pending)
            if room > 0:
                pending.extend(more(room))
            joined = [row for row in (self._start(model, job, eos) for job in pending) if row is not None]
            pending = []
            if joined:
                batch = _Batch.merge(batch, rows, joined, model)
                rows = rows + joined
            if not rows:
                return
            logits = self._step(model, rows, batch, lean)  # type: ignore[arg-type]
            for row, row_logits in zip(rows, logits, strict=True):
                self._advance(row, row_logits)
            if any(row.done for row in rows):
                rows, batch = _Batch.drop(batch, rows, model)  # type: ignore[arg-type]

    def _start(self, model: Any, job: Job, eos: frozenset[int]) -> _Row | None:
        """Read one prompt (from its cached prefix when there is one) and choose its first token."""
        if job.stop.is_set() or self._closing.is_set():
            job.finish()
            return None
        ids = self._prompt_ids(job.messages)
        reuse, cached = self._prefixes.lookup(ids)
        layers = [_KVLayer(len(ids) + job.settings.max_new_tokens + 1) for _ in range(self._n_layers)]
        if cached is not None:
            for layer, (keys, values) in zip(layers, cached, strict=True):
                layer.update(keys[:, :, :reuse], values[:, :, :reuse])
        device = model.device
        with self._float32_products():
            out = model(
                input_ids=torch.tensor([ids[reuse:]], device=device),
                position_ids=torch.arange(reuse, len(ids), device=device).unsqueeze(0),
                use_cache=True, logits_to_keep=1, **{self._cache_key: _cache_of(model.config, layers)},
            )
        self._prefixes.add(ids, layers)
        logits = out.logits[0, -1]
        seen = torch.zeros(logits.shape[-1], dtype=torch.bool, device=device)
        seen[torch.tensor(ids, device=device)] = True
        row = _Row(job, ids, job.settings, eos, _Text(self.tokenizer, job.emit), seen, job.settings.max_new_tokens,
                   fixed_length=bool(getattr(job, "fixed_length", False) or self._fixed_length), layers=layers)
        log.debug("prompt read tokens=%d reused=%d", len(ids), reuse)
        self._advance(row, logits)
        return None if row.done else row

    def _advance(self, row: _Row, logits: torch.Tensor) -> None:
        """Choose the row's next token from its logits (``sampling``) and stream it."""
        if row.job.stop.is_set() or self._closing.is_set():
            self._end(row)
            return
        token = choose_token(logits, row.seen, row.settings, self.model.generation_config)
        row.written += 1
        self.tokens_written += 1
        on_token = getattr(row.job, "on_token", None)
        if on_token is not None:
            on_token(token)
        if token in row.eos and not row.fixed_length:
            self._end(row)
            return
        row.seen[token] = True
        row.last = token
        row.text.put(torch.tensor([token]))
        if row.written >= row.max_new:
            self._end(row)

    @staticmethod
    def _end(row: _Row) -> None:
        row.done = True
        row.text.end()
        row.job.finish()

    def _step(self, model: Any, rows: list[_Row], batch: _Batch, lean: list[tuple[Any, ...]] | None) -> torch.Tensor:
        """One token for every row: (rows, vocab) logits."""
        device = model.device
        tokens = torch.tensor([[row.last] for row in rows], device=device)
        positions = torch.tensor([[len(row.ids) + row.written - 1] for row in rows], device=device)
        mask = batch.mask()
        if lean is not None:
            starts = [row.pad for row in rows] if batch.padded else None
            logits = lean_step(model, lean, tokens, positions, starts, batch.layers)
        else:
            if model.config._attn_implementation != "sdpa":
                extra = {"attention_mask": batch.valid[:, : batch.width + 1].long()}
            elif mask is not None:
                extra = {"attention_mask": mask}
            elif device.type == "cpu":  # a mask makes transformers pack the query heads: faster here
                extra = {"attention_mask": self._ones(batch.width + 1)}
            else:
                extra = {}
            out = model(input_ids=tokens, position_ids=positions, use_cache=True, logits_to_keep=1,
                        **{self._cache_key: batch.cache}, **extra)
            logits = out.logits[:, -1]
        batch.width += 1
        return logits

    def _ones(self, width: int) -> torch.Tensor:
        if self._all_true.shape[-1] < width:
            self._all_true = torch.ones((1, 1, 1, 2 * width), dtype=torch.bool, device=self._all_true.device)
        return self._all_true[..., :width]

    def _float32_products(self) -> contextlib.AbstractContextManager[None]:
        """While reading a prompt: the decoder's matrix products in float32 (see the notes in ``lean``)."""
        return float32_products(self._linears if self._prefill_fp32 else [])

    @contextlib.contextmanager
    def fixed_length(self) -> Iterator[None]:
        """Benchmark only: answers ignore end-of-text and write exactly max_new_tokens."""
        self._fixed_length = True
        try:
            yield
        finally:
            self._fixed_length = False
