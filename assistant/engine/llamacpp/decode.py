"""The decoding loop on one llama.cpp context: prompt, sampling, prompt-lookup speculation, stop.

``Decoder`` owns what the context's memory holds (``tokens``: sequence 0, in order), so a new
prompt only evaluates what differs from what is already there, and a saved state (``states``)
can be put back. It uses llama-cpp-python's own wrappers: the context, batch and sampler chain
of a loaded ``Llama``.

Prompt-lookup speculation: after each token, the longest recent n-gram that also occurs earlier
(in the prompt or the answer so far) proposes the tokens that followed it there. All of them are
evaluated in one pass with logits at every position, and each position is sampled in turn:
a proposal is kept while it equals what the model picks itself, so the text is exactly what
plain decoding writes (greedy: the same tokens; sampled: the same distribution). The first
mismatch is the model's own next token; the rejected proposals leave the memory. An answer that
does not restate its prompt stops proposing after a trial (``TRIAL_TOKENS``): checking proposals
that are never kept only costs time. llama-cpp-python's own ``LlamaPromptLookupDecoding`` falls
back to single-token matches, which on our notes proposed 40 tokens for each one kept and
halved the speed; this one needs 2 to 4 tokens to match.

Identical text needs the same arithmetic for one token and for several. Measured here: llamafile's
matrix kernels (which llama.cpp uses for several rows at once) and flash attention (whose one-token
path splits the reading window across threads) each made greedy text drift after 20 to 80 tokens.
So llama.cpp is built with ``-DGGML_LLAMAFILE=OFF`` (scripts/setup.sh) and flash attention stays
off (the backend); then speculated and plain greedy text are the same, token for token.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import random
import threading
from collections.abc import Callable, Iterator

import llama_cpp
import numpy as np
from llama_cpp import _internals as internals

from assistant.core.messages import GenerationSettings

log = logging.getLogger(__name__)

PENALTY_LAST_N = 64  # the repetition penalty looks this many tokens back (llama.cpp's default)
MIN_NGRAM, MAX_NGRAM = 2, 4  # a proposal needs the last 2 to 4 tokens to have occurred before
DRAFT_TOKENS = 8
TRIAL_TOKENS, MIN_KEPT = 24, 0.3  # after 24 proposed tokens, go on proposing only if 30% were kept



def _set_abort_callback(ctx: object, callback: object) -> None:
    """llama.cpp's ``llama_set_abort_callback``, which llama-cpp-python does not wrap."""
    function = llama_cpp.llama_cpp._lib.llama_set_abort_callback
    function.argtypes = [llama_cpp.llama_context_p_ctypes, llama_cpp.ggml_abort_callback, ctypes.c_void_p]
    function.restype = None
    function(ctx, callback, None)


class Aborted(Exception):
    """The prompt's evaluation was stopped part-way (``stop`` was set)."""


class Decoder:
    def __init__(self, llm: llama_cpp.Llama, *, prompt_lookup: bool = True) -> None:
        self.llm = llm
        self.prompt_lookup = prompt_lookup
        self.tokens: list[int] = []  # what the context's memory holds, position by position
        self.n_batch = llm.n_batch
        self.n_ctx = llm.n_ctx()
        self.batch = internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
        self.vocab = llm._model.vocab
        self._stop: threading.Event | None = None
        self._abort = llama_cpp.ggml_abort_callback(self._should_abort)  # kept: C holds a pointer
        _set_abort_callback(llm.ctx, self._abort)
        self.drafted = 0  # proposals evaluated, and of them kept (for the benchmark)
        self.kept = 0
        self.evaluated = 0  # tokens read into the memory, prompts and answers (for tests and the benchmark)

    def _should_abort(self, _data: object) -> bool:
        stop = self._stop
        return bool(stop is not None and stop.is_set())

    def close(self) -> None:
        _set_abort_callback(self.llm.ctx, llama_cpp.ggml_abort_callback(0))
        self.batch.close()

    # -- the context's memory -------------------------------------------------------------

    def keep(self, n: int) -> None:
        """Keep the first ``n`` positions of the memory, drop the rest."""
        if n < len(self.tokens):
            self.llm._ctx.kv_cache_seq_rm(0, n, -1)
            del self.tokens[n:]

    def reuse(self, prompt: list[int]) -> int:
        """Trim the memory to its common prefix with ``prompt`` (at least one token left to evaluate)."""
        common = 0
        for have, want in zip(self.tokens, prompt, strict=False):
            if have != want:
                break
            common += 1
        common = min(common, len(prompt) - 1)
        self.keep(common)
        return common

    def _eval(self, tokens: list[int], *, all_logits: bool = False) -> None:
        """Append ``tokens`` to the memory (in passes of ``n_batch``); logits for the last, or all."""
        for start in range(0, len(tokens), self.n_batch):
            part = tokens[start:start + self.n_batch]
            self.batch.set_batch(batch=part, n_past=len(self.tokens), logits_all=all_logits)
            code = llama_cpp.llama_decode(self.llm.ctx, self.batch.batch)
            if code == 2:  # aborted: what was evaluated of this pass stays; drop it
                self.llm._ctx.kv_cache_seq_rm(0, len(self.tokens), -1)
                raise Aborted
            if code != 0:
                self.llm._ctx.kv_cache_seq_rm(0, len(self.tokens), -1)
                raise RuntimeError(f"llama_decode returned {code}")
            self.tokens.extend(part)
            self.evaluated += len(part)

    # -- sampling ---------------------------------------------------------------------------

    def sampler(self, settings: GenerationSettings) -> internals.LlamaSampler:
        chain = internals.LlamaSampler()
        if settings.repetition_penalty and settings.repetition_penalty != 1.0:
            chain.add_penalties(n_vocab=self.llm.n_vocab(), penalty_last_n=PENALTY_LAST_N,
                                penalty_repeat=settings.repetition_penalty, penalty_freq=0.0, penalty_present=0.0)
        if settings.temperature <= 0:
            chain.add_greedy()
        else:
            if 0 < settings.top_p < 1:
                chain.add_top_p(settings.top_p, 1)
            chain.add_temp(settings.temperature)
            chain.add_dist(random.getrandbits(32))  # a new seed each time: "Write again" differs
        return chain

    def _is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def _draft(self, pending: int) -> list[int]:
        return lookup(np.array(self.tokens + [pending], dtype=np.intc))

    def generate(self, prompt: list[int], settings: GenerationSettings, stop: threading.Event,
                 *, speculate: bool | None = None, read: Callable[[], None] | None = None) -> Iterator[str]:
        """Yield the answer's text, piece by piece, until an end token, the length limit or ``stop``.
        ``read`` is called once the whole prompt is in the memory, before the first token."""
        speculate = self.prompt_lookup if speculate is None else speculate
        self._stop = stop
        text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sampler = self.sampler(settings)
        limit = min(settings.max_new_tokens, self.n_ctx - len(prompt))
        written = drafted = kept = 0
        try:
            start = self.reuse(prompt)
            self._eval(prompt[start:])
            if read is not None:
                read()
            pending = sampler.sample(self.llm._ctx, -1)
            while not stop.is_set() and written < limit and not self._is_end(pending):
                written += 1
                piece = text.decode(self.llm.detokenize([pending], special=False))
                if piece:
                    yield piece
                room = min(limit - written, self.n_ctx - len(self.tokens) - 2)
                draft = self._draft(pending)[:max(0, room - 1)] if speculate and room > 1 else []
                if stop.is_set() or room <= 0:
                    break
                self._eval([pending] + draft, all_logits=bool(draft))
                pending = sampler.sample(self.llm._ctx, 0 if draft else -1)
                taken = 0
                while taken < len(draft) and pending == draft[taken] and written < limit:
                    if self._is_end(pending):
                        break
                    written += 1
                    taken += 1
                    piece = text.decode(self.llm.detokenize([pending], special=False))
                    if piece:
                        yield piece
                    pending = sampler.sample(self.llm._ctx, taken)
                if draft:
                    drafted, kept = drafted + len(draft), kept + taken
                    self.keep(len(self.tokens) - (len(draft) - taken))
                    if drafted >= TRIAL_TOKENS and kept < MIN_KEPT * drafted:
                        speculate = False  # this answer does not restate its prompt: plain decoding is faster
            tail = text.decode(b"", final=True)
            if tail:
                yield tail
        except Aborted:
            return
        finally:
            self._stop = None
            self.drafted, self.kept = self.drafted + drafted, self.kept + kept


def lookup(history: np.ndarray, *, draft: int = DRAFT_TOKENS) -> list[int]:
    """Prompt lookup: the tokens that followed the latest earlier occurrence of the last n-gram."""
    for n in range(MAX_NGRAM, MIN_NGRAM - 1, -1):
        if len(history) <= n:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(history[:-1], n)
        hits = np.nonzero((windows == history[-n:]).all(axis=1))[0]
        if len(hits):
            start = int(hits[-1]) + n
            return [int(t) for t in history[start:start + draft]]
    return []
