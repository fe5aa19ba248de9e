"""The benchmark's anchor on llama.cpp: llama-cpp-python's own ``create_chat_completion`` on a GGUF
file, its memory reset before every request (nothing carried over from the one before).

``RawLlama`` has the model contract's ``count_tokens`` and ``stream``, so the benchmark can drive it
through the same ``Engine`` and section-by-section drafting as the app's backend and compare the
two on equal terms. Loaded like ``LlamaCppBackend`` (same window, batch, threads, flash attention).
Used by ``assistant.ops.bench`` only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import llama_cpp

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import ModelInfo
from assistant.engine.gguf_file import check_gguf
from assistant.engine.llamacpp.backend import MAX_CONTEXT, cpu_threads


class RawLlama:
    max_batch = 1

    def __init__(self, path: Path, *, context: int = MAX_CONTEXT, threads: int | None = None) -> None:
        facts = check_gguf(Path(path))
        threads = threads or cpu_threads()
        start = time.perf_counter()
        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=max(512, min(context, facts.context_length)), n_batch=512, n_threads=threads,
            n_threads_batch=threads, n_gpu_layers=0, use_mmap=True, verbose=False, flash_attn=True,
        )
        self.info = ModelInfo(name=Path(path).stem, device=f"processor (CPU), {threads} threads",
                              precision=f"{facts.quantization} GGUF, create_chat_completion",
                              context_window=self.llm.n_ctx(), load_seconds=round(time.perf_counter() - start, 2))

    def count_tokens(self, messages: list[Message]) -> int:
        text = "\n".join(f"{m.role}: {m.content}" for m in messages)
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=True)) + 8 * len(messages)  # turn markers

    def stream(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event) -> Iterator[str]:
        self.llm.reset()
        chunks = self.llm.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in messages], max_tokens=settings.max_new_tokens,
            temperature=settings.temperature, top_p=settings.top_p if settings.temperature > 0 else 1.0,
            repeat_penalty=settings.repetition_penalty or 1.0, stream=True,
        )
        try:
            for chunk in chunks:
                if stop.is_set():
                    break
                piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index, union-attr]
                if piece:
                    yield piece
        finally:
            getattr(chunks, "close", lambda: None)()

    def close(self) -> None:
        self.llm.close()
