"""``TransformersBackend``: a loaded model and its tokenizer, what the engine talks to.

Its parts live beside it, one concern a module: loading (``loader``), prompts (``prompts``), the
plain ``generate`` path (``plain``), the fast path's batching scheduler (``scheduler``) and CPU
tuning (``tuning``). This module holds what ties them together: setting up the fast path, the
reader of a streamed answer, the worker threads, and ``close()``."""

from __future__ import annotations

import inspect
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from assistant.core.messages import GenerationSettings, Message
from assistant.engine import stages
from assistant.engine.contract import ModelInfo
from assistant.engine.hf.failures import _generation_error
from assistant.engine.hf.hardware import _free_memory
from assistant.engine.hf.lean import lean_plan
from assistant.engine.hf.loader import load_backend
from assistant.engine.hf.plain import STALL_LIMIT_S, TOKEN_TIMEOUT_S, PlainGeneration
from assistant.engine.hf.prefix import PREFIX_BYTES, _PrefixStore
from assistant.engine.hf.prompts import CLOSED, ChatPrompts
from assistant.engine.hf.scheduler import MAX_BATCH, BatchScheduler, _QueueJob
from assistant.engine.hf.tuning import CpuTuning
from assistant.errors import GenerationError, ModelBusy

log = logging.getLogger(__name__)


class TransformersBackend(ChatPrompts, PlainGeneration, BatchScheduler, CpuTuning):
    """A loaded causal LM and its tokenizer. Use ``load()`` to build one, ``close()`` to free it."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo, *, path: Path | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.path = path
        self.from_saved_4bit = False  # loaded from the quantize-once copy
        self.tokens_written = 0  # by the fast path, all answers together (tests and the benchmark read it)
        self._lock = threading.Lock()  # one pass over the model at a time
        self._prompts: OrderedDict[tuple[Message, ...], list[int]] = OrderedDict()  # rendered once per request
        self._prompts_lock = threading.Lock()
        self._fixed_length = False
        self._closing = threading.Event()  # set by close(): every answer ends at its next token
        self._workers: set[threading.Thread] = set()  # "generate" threads, joined by close()
        self._workers_lock = threading.Lock()
        self._setup_fast_path()

    def _setup_fast_path(self) -> None:
        """Decide what the fast path can do with this model (full-attention layers only)."""
        self.max_batch = 1
        self._fast = False
        self._lean: list[tuple[Any, ...]] | None = None
        self._prefill_fp32 = False
        self._linears: list[torch.nn.Linear] = []
        self._prefixes = _PrefixStore(0)
        self.tuning: dict[str, Any] = {"fast_path": False}
        model = self.model
        if model is None:
            return
        kind = "cuda" if model.device.type == "cuda" else "cpu"
        try:
            layers = DynamicCache(config=model.config).layers
        except Exception:  # noqa: BLE001 - an unusual cache structure: transformers' own generate
            layers = []
        if not layers or any(type(layer) is not DynamicLayer for layer in layers):
            log.info("fast path off for %s: sliding-window or other special attention layers", model.config.model_type)
            return
        self._fast = True
        self._n_layers = len(layers)
        self._cache_key = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._prefixes = _PrefixStore(PREFIX_BYTES[kind])
        self._lean = lean_plan(model)
        self.max_batch = MAX_BATCH[kind] if self._lean else 1  # batching needs the lean step's exact attention
        if kind == "cpu" and next(model.parameters()).dtype in (torch.bfloat16, torch.float16):
            self._linears = [m for m in model.get_decoder().modules() if type(m) is torch.nn.Linear]
        self._all_true = torch.ones((1, 1, 1, 64), dtype=torch.bool, device=model.device)
        self.tuning = {
            "fast_path": True, "max_batch": self.max_batch, "prefix_cache": True,
            "decode": "lean step" if self._lean else "model forward",
            "attention": f"{model.config._attn_implementation}, query heads packed onto key/value heads when decoding",
            "threads": torch.get_num_threads() if kind == "cpu" else None,
            "prompt_products": "model precision",
        }

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        cpu_precision: str = "auto",
        is_demo: bool = False,
        cache_dir: Path | None = None,
        stage: stages.Progress | None = None,
    ) -> TransformersBackend:
        """Load a model folder. With ``cache_dir``, a 4-bit load is quantized once and saved there.
        ``stage(fraction, words)`` hears each loading stage as it begins (``assistant.engine.stages``)."""
        return load_backend(cls, path, cpu_precision=cpu_precision, is_demo=is_demo, cache_dir=cache_dir, stage=stage)

    def close(self) -> None:
        """Free the model's memory (CPU and GPU). The backend cannot be used afterwards.

        Whatever is being written ends at its next token; the backend's threads are joined and a
        pass running in another thread (the engine's worker) is waited for. Then everything that
        holds the weights goes: the model, the lean plan's closures, the list of linears, the
        prefix cache, and the tokenizer."""
        self._closing.set()
        with self._workers_lock:
            workers = list(self._workers)
        for worker in workers:
            self._join_worker(worker)
        with self._lock:
            self.model = self.tokenizer = None
            self._fast, self.max_batch = False, 1
            self._lean, self._linears, self._prefill_fp32 = None, [], False
            self._prefixes.clear()
            self._prefixes = _PrefixStore(0)
            self._all_true = None
        with self._prompts_lock:
            self._prompts.clear()
        _free_memory()
        log.info("model unloaded name=%s", self.info.name)

    def _require_model(self) -> Any:
        if self.model is None:
            raise ModelBusy(CLOSED)
        return self.model

    def _start_worker(self, work: Any) -> threading.Thread:
        """A "generate" thread running ``work``; ``close()`` stops and joins it."""
        worker = threading.Thread(target=work, name="generate", daemon=True)
        with self._workers_lock:
            self._workers.add(worker)
        worker.start()
        return worker

    def _join_worker(self, worker: threading.Thread) -> None:
        """Wait for the current pass to end (the next request never overlaps it)."""
        worker.join(timeout=STALL_LIMIT_S)
        if worker.is_alive():
            log.error("generation worker still running after stop")
            return
        with self._workers_lock:
            self._workers.discard(worker)

    # -- generation ------------------------------------------------------------

    def stream(
        self, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        if not self._fast:
            yield from self._stream_generate(self._require_model(), messages, settings, stop)
            return
        self._require_model()  # not kept: a suspended stream must not hold the weights after close()
        job = _QueueJob(messages, settings, stop)

        def work() -> None:
            try:
                self.run_batch([job], lambda room: [])
            except BaseException as exc:  # reported to the reader below, never lost
                job.finish(exc)

        worker = self._start_worker(work)
        last = time.monotonic()
        finished = False
        try:
            while True:
                try:
                    piece = job.pieces.get(timeout=TOKEN_TIMEOUT_S)
                except queue.Empty:
                    if time.monotonic() - last > STALL_LIMIT_S:
                        raise GenerationError("The model stopped responding. Press Stop, then try again.") from None
                    continue
                last = time.monotonic()
                if piece is _QueueJob.END:
                    break
                yield piece
            finished = job.error is None
        finally:
            if not finished:
                stop.set()  # a closed or abandoned stream also stops the model
            self._join_worker(worker)
        if job.error is not None:
            raise job.error if isinstance(job.error, (GenerationError, ModelBusy)) else _generation_error(job.error)
