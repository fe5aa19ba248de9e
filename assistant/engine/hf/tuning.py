"""CPU tuning at load, by measurement on this processor: the thread count, bf16 or fp32 weights
(the faster decoding step) and the precision of the products that read prompts; and for models
off the fast path, bf16 or fp32 by timing ``generate``. The precision policy that asks for the
measurement is in ``precision``.

``CpuTuning`` is a part of ``TransformersBackend``: it runs the backend's own prompt reading and
decoding step (``_probe``) and writes what it found into ``tuning``."""

from __future__ import annotations

import logging
import statistics
import threading
import time
from typing import Any

import torch

from assistant.core.messages import GenerationSettings
from assistant.engine.hf.kv import _Batch, _cache_of, _KVLayer, _Row, _Text
from assistant.engine.hf.precision import _cast_weights, _dtype_words
from assistant.engine.hf.prefix import _PrefixStore
from assistant.engine.hf.scheduler import _QueueJob

log = logging.getLogger(__name__)


def _tokens_per_second(model: Any, tokenizer: Any, tokens: int = 12) -> float:
    """Time a short greedy generation: the measurement that decides CPU precision."""
    ids = tokenizer("Write one sentence about a therapy appointment.", return_tensors="pt")
    with torch.inference_mode():
        model.generate(**ids, max_new_tokens=2, min_new_tokens=2, do_sample=False)
        start = time.perf_counter()
        model.generate(**ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
    return tokens / (time.perf_counter() - start)


def _pick_cpu_dtype(model: Any, tokenizer: Any, fp32_fits: bool) -> str:
    """Keep bf16 or switch to fp32, whichever generates faster on this processor."""
    bf16 = _tokens_per_second(model, tokenizer)
    fp32 = 0.0
    if fp32_fits:
        _cast_weights(model, torch.float32)
        fp32 = _tokens_per_second(model, tokenizer)
    log.info("cpu precision measured: bf16=%.1f tok/s fp32=%.1f tok/s", bf16, fp32)
    if bf16 >= fp32:
        _cast_weights(model, torch.bfloat16)
        return "bfloat16"
    return "float32"


class CpuTuning:
    """Measuring this processor at load (mixed into ``TransformersBackend``)."""

    def _tune_cpu(self, choose_dtype: bool = False, fp32_fits: bool = False) -> str:
        """Measure on this processor, in this order: the thread count; bf16 or fp32 weights when
        ``choose_dtype`` (the faster decoding step; prompts are read in float32 products either way
        when that is faster); the precision of the products that read prompts. Returns the weights'
        precision in words."""
        start = time.perf_counter()
        ids = self.tokenizer("Write one sentence about a therapy appointment today. " * 12,
                             add_special_tokens=False)["input_ids"][:48]
        if len(ids) < 32:
            return _dtype_words(self.model)
        default = torch.get_num_threads()
        candidates = sorted({default, max(1, default // 2)}, reverse=True)
        if len(candidates) > 1:
            steps: dict[int, list[float]] = {n: [] for n in candidates}
            for n in candidates + candidates:
                if len(steps[n]) == 1 and max(min(v) for v in steps.values()) > 1.5 * min(min(v) for v in steps.values()):
                    break  # clear after one try each (a busy processor makes extra threads wait)
                torch.set_num_threads(n)
                steps[n].append(self._probe(ids[:8], 4)[1])
            best = min(candidates, key=lambda n: statistics.median(steps[n]))
            torch.set_num_threads(best)
            self.tuning["threads"] = best
            self.tuning["threads_tested_ms_per_token"] = {n: round(1000 * statistics.median(v), 1) for n, v in steps.items()}
        if choose_dtype and fp32_fits:
            self._choose_dtype(ids[:8])
        if self._linears:
            timing: dict[bool, list[float]] = {False: [], True: []}
            self._prefill_fp32 = True
            self._probe(ids[:8], 0)  # warm-up: the first float32 products set up their kernels
            for choice in (True, False, True, False):
                self._prefill_fp32 = choice
                timing[choice].append(self._probe(ids[:32], 0)[0])
                if len(timing[False]) == 1 and timing[False][0] > 2 * timing[True][0]:
                    break  # clear enough (bf16 without bf16 instructions): no need to repeat the slow one
            self._prefill_fp32 = min(timing[True]) < 0.9 * min(timing[False])
            self.tuning["prompt_products"] = "float32" if self._prefill_fp32 else "model precision"
            self.tuning["prompt_tokens_per_s"] = {
                "float32": round(32 / min(timing[True]), 1), "model precision": round(32 / min(timing[False]), 1)}
        self.tuning["tuning_seconds"] = round(time.perf_counter() - start, 2)
        log.info("cpu tuning: weights=%s prompt products=%s threads=%s in %.1fs", _dtype_words(self.model),
                 self.tuning["prompt_products"], self.tuning.get("threads"), time.perf_counter() - start)
        return _dtype_words(self.model)

    def _choose_dtype(self, ids: list[int]) -> None:
        """bf16 or fp32 weights: the faster decoding step, measured alternately (a busy processor is noisy)."""
        steps: dict[str, list[float]] = {"bfloat16": [], "float32": []}
        for dtype in ("bfloat16", "float32", "bfloat16", "float32"):
            if len(steps["float32"]) == 1 and not 0.8 < steps["float32"][0] / steps["bfloat16"][0] < 1.25:
                break  # clear after one try each
            _cast_weights(self.model, getattr(torch, dtype))
            steps[dtype].append(self._probe(ids, 4)[1])
        best = min(steps, key=lambda name: min(steps[name]))
        _cast_weights(self.model, getattr(torch, best))
        if best == "float32":
            self._linears, self._prefill_fp32 = [], False
        self.tuning["weights_tested_ms_per_token"] = {k: round(1000 * min(v), 3) for k, v in steps.items()}
        log.info("cpu precision measured: bf16=%.0f ms fp32=%.0f ms a token", 1000 * min(steps["bfloat16"]),
                 1000 * min(steps["float32"]))

    def _probe(self, ids: list[int], steps: int) -> tuple[float, float]:
        """(seconds to read ``ids``, median seconds a token for ``steps`` tokens), nothing cached."""
        model = self.model
        job = _QueueJob([], GenerationSettings(max_new_tokens=steps + 1, temperature=0, repetition_penalty=1.0),
                        threading.Event())
        eos = frozenset()
        with self._lock, torch.inference_mode():
            saved, self._prefixes = self._prefixes, _PrefixStore(0)
            try:
                start = time.perf_counter()
                row = _Row(job, ids, job.settings, eos, _Text(self.tokenizer, lambda piece: None),
                           torch.zeros(1, dtype=torch.bool), steps + 1, fixed_length=True)
                layers = [_KVLayer(len(ids) + steps + 1) for _ in range(self._n_layers)]
                with self._float32_products():
                    out = model(input_ids=torch.tensor([ids], device=model.device), use_cache=True, logits_to_keep=1,
                                **{self._cache_key: _cache_of(model.config, layers)})
                read = time.perf_counter() - start
                row.layers, row.last, row.written = layers, int(out.logits[0, -1].argmax()), 1
                batch = _Batch.merge(None, [], [row], model)
                times = []
                for _ in range(steps):
                    start = time.perf_counter()
                    logits = self._step(model, [row], batch, self._lean)
                    row.last, row.written = int(logits[0].argmax()), row.written + 1
                    times.append(time.perf_counter() - start)
            finally:
                self._prefixes = saved
        return read, statistics.median(times) if times else 0.0
