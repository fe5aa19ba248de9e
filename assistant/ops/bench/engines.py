"""One engine on one model, measured in a process of its own (so peak memory is that engine's only).

The three engines, each driven through the app's ``Engine`` (its line and streaming) so they are
measured alike:
* ``app``: ``LlamaCppBackend`` (prompt states, prompt lookup as configured: on);
* ``llamacpp_raw``: ``RawLlama``, llama-cpp-python's ``create_chat_completion``, memory reset
  before every request (the anchor);
* ``transformers``: ``TransformersBackend`` on the processor, bf16 (the old path).

Every figure is greedy. ``first_token_s`` and ``decode_tokens_per_s`` are the medians over notes
of the daily-note preset, after the preset was used once (the warm-up, not counted); ``note_s``
is a whole note one section at a time (``draft_by_sections``, the preset's own length), and
``note_whole_s`` the same note in one answer. ``peak_rss_mb`` is the process's peak resident
memory, as the operating system counts it, when everything is done. For ``app`` on the demo
model, ``prompt_lookup`` compares decoding with and without speculation on a note.
Only timings, counts and sizes are reported; texts are compared, never kept.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.app.drafting import draft_by_sections
from assistant.core.documents.notes import note_messages
from assistant.core.messages import GenerationSettings, Message
from assistant.engine.engine import Engine
from assistant.ops.bench.timing import peak_rss_mb, timed
from assistant.ops.bench.workloads import chat_workloads, note_request, note_workload
from assistant.store.config import Config
from assistant.store.user_presets import load_library

ENGINES = ("app", "llamacpp_raw", "transformers")
WARM_TOKENS = 4


class CappedEngine(Engine):
    """The engine with every answer cut to ``cap`` tokens (the quick run for tests)."""

    def __init__(self, backend: Any, cap: int | None) -> None:
        super().__init__(backend)
        self.cap = cap

    def stream(self, messages: list[Message], settings: GenerationSettings, *args: Any, **kwargs: Any):  # noqa: ANN201
        if self.cap:
            settings = replace(settings, max_new_tokens=min(self.cap, settings.max_new_tokens))
        return super().stream(messages, settings, *args, **kwargs)


def load(engine: str, gguf: str, folder: str, is_demo: bool) -> Any:
    if engine == "app":
        from assistant.engine.llamacpp.backend import LlamaCppBackend

        return LlamaCppBackend.load(Path(gguf), is_demo=is_demo)
    if engine == "llamacpp_raw":
        from assistant.engine.llamacpp.raw import RawLlama

        return RawLlama(Path(gguf))
    if engine == "transformers":
        from assistant.engine import hf

        return hf.TransformersBackend.load(Path(folder), cpu_precision="bf16", is_demo=is_demo)
    raise ValueError(f"unknown engine {engine!r}")


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def measure(spec: dict[str, Any], config: Config) -> dict[str, Any]:
    """Every figure of one engine on one model (``spec``: engine, gguf, folder, tokens, repeats, cap, ...)."""
    library = load_library(config.paths)
    preset, _ = note_request(library, 0)
    greedy = replace(preset.settings(), temperature=0.0)
    settings = replace(greedy, max_new_tokens=int(spec["tokens"]))
    start = time.perf_counter()
    backend = load(spec["engine"], spec["gguf"], spec["folder"], spec["model"] == "demo")
    load_s = time.perf_counter() - start
    engine = CappedEngine(backend, spec.get("cap"))
    result: dict[str, Any] = {"engine": spec["engine"], "load_s": round(load_s, 2), "precision": backend.info.precision,
                              "context_window": backend.info.context_window}
    try:
        timed(engine.stream(note_workload(library, 0), replace(settings, max_new_tokens=WARM_TOKENS), "bench"))
        runs = [timed(engine.stream(note_workload(library, i), settings, "bench"))
                for i in range(1, int(spec["repeats"]) + 1)]
        result.update(first_token_s=_median(runs, "first_token_s"), decode_tokens_per_s=_median(runs, "decode_tokens_per_s"),
                      tokens=_median(runs, "tokens"), runs=len(runs))
        index = int(spec["repeats"]) + 1
        preset, request = note_request(library, index)
        sections = timed(draft_by_sections(engine, preset, request, greedy, "bench"))
        result.update(note_s=sections["total_s"], note_tokens=sections["tokens"])
        if spec.get("whole", True):
            whole = timed(engine.stream(note_messages(preset, request), greedy, "bench"))
            result.update(note_whole_s=whole["total_s"], note_whole_tokens=whole["tokens"])
        if spec["engine"] == "app":
            result.update(_prompt_states(engine, backend, library, settings, index + 1))
            if spec.get("prompt_lookup"):
                result["prompt_lookup"] = prompt_lookup(backend, library, int(spec.get("lookup_tokens", 256)))
    finally:
        backend.close()
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _prompt_states(engine: Engine, backend: Any, library: Any, settings: GenerationSettings, index: int) -> dict[str, Any]:
    """Switching: a chat turn, then a note again; how soon the note's first token comes."""
    timed(engine.stream(chat_workloads(library, 0)[0], replace(settings, max_new_tokens=WARM_TOKENS), "bench"))
    after = timed(engine.stream(note_workload(library, index), replace(settings, max_new_tokens=WARM_TOKENS), "bench"))
    return {"first_token_after_chat_s": after["first_token_s"], "states_restored": backend.states.restored}


def prompt_lookup(backend: Any, library: Any, tokens: int) -> dict[str, Any]:
    """A whole note, greedy, decoded plainly and with prompt-lookup speculation, on the same backend."""
    settings = replace(library.get("daily-note", "progress_note").settings(), temperature=0.0, max_new_tokens=tokens)
    messages = note_workload(library, 3)
    timed(backend.stream(messages, replace(settings, max_new_tokens=WARM_TOKENS), threading.Event(), speculate=False))
    plain = timed(backend.stream(messages, settings, threading.Event(), speculate=False))
    drafted, kept = backend.decoder.drafted, backend.decoder.kept
    fast = timed(backend.stream(messages, settings, threading.Event(), speculate=True))
    drafted, kept = backend.decoder.drafted - drafted, backend.decoder.kept - kept
    speedup = fast["decode_tokens_per_s"] / plain["decode_tokens_per_s"] if plain["decode_tokens_per_s"] else None
    return {"decode_speedup": round(speedup, 3) if speedup else None, "identical": fast["text"] == plain["text"],
            "plain_decode_tokens_per_s": plain["decode_tokens_per_s"], "lookup_decode_tokens_per_s":
            fast["decode_tokens_per_s"], "tokens": plain["tokens"], "drafted": drafted, "kept": kept}
