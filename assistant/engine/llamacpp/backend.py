"""``LlamaCppBackend``: a GGUF model on llama.cpp (llama-cpp-python), behind the model contract.

What it does, and where:
* load: ``check_gguf`` first (plain reasons for a bad file), then ``llama_cpp.Llama`` with one
  thread per processor core and a reading window of the model's own length (at most
  ``MAX_CONTEXT``);
* prompts: the chat template embedded in the GGUF, rendered by llama-cpp-python's
  ``Jinja2ChatFormatter``; where a template has no system role (Gemma) the system text is folded
  into the first user turn, as on the transformers path;
* ``stream``: ``decode.Decoder`` (sampling, prompt-lookup speculation, stop within a token),
  with ``states.PromptStates`` putting back the saved reading of a prompt seen before.

One answer at a time (``max_batch`` 1): the engine's fair line serves several staff in turn.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from assistant.core.messages import GenerationSettings, Message
from assistant.engine import chat, stages
from assistant.engine.contract import ModelInfo
from assistant.engine.gguf_file import check_gguf
from assistant.engine.llamacpp.decode import Decoder
from assistant.engine.llamacpp.states import PromptStates
from assistant.errors import GenerationError, ModelBusy, ModelLoadError, where_failed

log = logging.getLogger(__name__)

MAX_CONTEXT = 8192  # tokens; longer windows cost memory and no preset needs more
CLOSED = "The model is being changed. Try again in a minute."


def cpu_threads() -> int:
    """One thread per physical core (llama.cpp's own advice); hyper-threads slow decoding down."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - psutil missing or unable: fall back to the logical count
        cores = None
    return max(1, cores or os.cpu_count() or 1)


class LlamaCppBackend:
    max_batch = 1

    def __init__(self, llm: llama_cpp.Llama, info: ModelInfo, path: Path, *, prompt_lookup: bool = True,
                 saved_states: int = 4) -> None:
        self.llm: llama_cpp.Llama | None = llm
        self.info = info
        self.path = path
        self.decoder = Decoder(llm, prompt_lookup=prompt_lookup)
        self.states = PromptStates(max_items=saved_states)
        self._lock = threading.Lock()  # one answer at a time on the one context
        self._prompts: OrderedDict[tuple[Message, ...], list[int]] = OrderedDict()
        self._prompts_lock = threading.Lock()
        bos, eos = llm.token_bos(), llm.token_eos()
        self._formatter = Jinja2ChatFormatter(
            template=str(llm.metadata.get("tokenizer.chat_template", "")),
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        )

    @classmethod
    def load(cls, path: Path, *, is_demo: bool = False, stage: stages.Progress | None = None,
             prompt_lookup: bool = True, context: int = MAX_CONTEXT, threads: int | None = None) -> LlamaCppBackend:
        path = Path(path)
        stages.tell(stage, "check")
        facts = check_gguf(path)
        start = time.perf_counter()
        stages.tell(stage, "weights")
        threads = threads or cpu_threads()
        # llama.cpp's own log goes straight to the console: errors only (a stopped pass is not one).
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        window = max(512, min(context, facts.context_length))
        try:
            llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=window, n_batch=512, n_threads=threads, n_threads_batch=threads,
                n_gpu_layers=0, use_mmap=True, verbose=False,
                flash_attn=False,  # its one-token path rounds differently: see decode.py
            )
        except Exception as exc:  # noqa: BLE001 - llama.cpp says only "failed to load"
            log.error("llama.cpp could not load %s: %s", path.name, where_failed(exc))
            raise ModelLoadError(
                f"The model file {path.name} could not be loaded by llama.cpp. It may be damaged, use a "
                "kind of compression this version cannot read, or need more memory than is free. "
                "Copy the file again or choose a smaller model."
            ) from None
        seconds = time.perf_counter() - start
        info = ModelInfo(
            name=path.stem, device=f"processor (CPU), {threads} threads",
            precision=f"{facts.quantization} GGUF on llama.cpp", context_window=llm.n_ctx(),
            is_demo=is_demo, load_seconds=round(seconds, 2),
        )
        log.info("model loaded engine=llama.cpp name=%s quant=%s ctx=%d threads=%d in %.1fs",
                 info.name, facts.quantization, info.context_window, threads, seconds)
        backend = cls(llm, info, path, prompt_lookup=prompt_lookup)
        stages.tell(stage, "ready")
        return backend

    # -- prompts -------------------------------------------------------------------------

    def _render(self, conversation: list[dict[str, str]]) -> str:
        return self._formatter(messages=conversation).prompt

    def _template(self, messages: list[Message]) -> str:
        return chat.render(messages, self._render)

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        """The prompt's tokens, rendered once per request (the engine counts, then generates)."""
        llm = self.llm
        if llm is None:
            raise ModelBusy(CLOSED)
        key = tuple(messages)
        with self._prompts_lock:
            ids = self._prompts.get(key)
            if ids is not None:
                self._prompts.move_to_end(key)
                return ids
        # The template already holds the special tokens (BOS and turn markers).
        ids = llm.tokenize(self._template(messages).encode("utf-8"), add_bos=False, special=True)
        with self._prompts_lock:
            self._prompts[key] = ids
            while len(self._prompts) > 16:
                self._prompts.popitem(last=False)
        return ids

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self._prompt_ids(messages))

    # -- writing -------------------------------------------------------------------------

    def stream(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event,
               *, speculate: bool | None = None) -> Iterator[str]:
        prompt = self._prompt_ids(messages)
        with self._lock:
            if self.llm is None:
                raise ModelBusy(CLOSED)
            self.states.restore(self.decoder, prompt)
            try:
                # The prompt's reading is saved before the answer: smaller, and what a later prompt shares.
                yield from self.decoder.generate(prompt, settings, stop, speculate=speculate,
                                                 read=lambda: self.states.save(self.decoder, len(prompt)))
            except RuntimeError as exc:
                log.error("llama.cpp failed while writing: %s", where_failed(exc))
                self.decoder.keep(0)
                raise GenerationError("The model stopped with an error. Try again.") from None

    def close(self) -> None:
        """Free the model and its memory (the engine calls it before loading another)."""
        with self._lock:
            llm, self.llm = self.llm, None
            self.states.clear()
            if llm is not None:
                self.decoder.close()
                llm.close()
