"""The benchmark's anchor: plain ``model.generate`` timed token by token on the loaded model, and
the torch-side facts of the report. ``assistant.ops.bench`` runs the measurements, times the
engine itself (no torch needed) and computes the figures."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
from transformers.generation.streamers import BaseStreamer

from assistant.core.messages import GenerationSettings, Message

if TYPE_CHECKING:
    from assistant.engine.hf.backend import TransformersBackend


class _Timer(BaseStreamer):
    """Notes when each new token of a plain ``generate`` arrives (no text decoding)."""

    def __init__(self) -> None:
        self.prompt = True
        self.times: list[float] = []
        self.tokens: list[int] = []

    def put(self, value: torch.Tensor) -> None:
        if self.prompt:  # generate passes the prompt first
            self.prompt = False
            return
        self.times.append(time.perf_counter())
        self.tokens.extend(int(t) for t in value.reshape(-1).tolist())

    def end(self) -> None:
        pass


def measure_generate(backend: TransformersBackend, messages: list[Message], settings: GenerationSettings
                     ) -> tuple[float, list[float], float, list[int]]:
    """The baseline: plain ``model.generate`` on the same prompt and the same loaded model, nothing
    cached, greedy, exactly ``max_new_tokens`` tokens (end-of-text ignored). Returns (start, when
    each token arrived, end, the token ids), ``time.perf_counter`` seconds."""
    model = backend._require_model()
    timer = _Timer()
    with backend._lock, torch.inference_mode():
        start = time.perf_counter()
        inputs = backend._template(messages).to(model.device)
        count = settings.max_new_tokens
        model.generate(**inputs, streamer=timer, max_new_tokens=count, min_new_tokens=count, do_sample=False,
                       repetition_penalty=settings.repetition_penalty, pad_token_id=backend._pad_id())
        end = time.perf_counter()
    return start, timer.times, end, timer.tokens


def reset_peak_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_memory() -> int | None:
    """Bytes of GPU memory torch had allocated at most since the last reset, or None without a GPU."""
    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


def runtime_facts(backend: TransformersBackend) -> dict[str, Any]:
    """Versions, threads and what the fast path does on this model, for the report."""
    import transformers

    facts: dict[str, Any] = {"torch": torch.__version__, "transformers": transformers.__version__,
                             "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                             **backend.tuning}
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
    return facts
