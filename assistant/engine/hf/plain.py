"""The plain ``generate`` path: transformers' own ``generate`` in a worker thread, streamed, for
models the fast path does not cover (sliding-window layers: Gemma 2 and 3). One at a time.

``PlainGeneration`` is a part of ``TransformersBackend``: it uses the backend's tokenizer, prompt
rendering, ``_start_worker`` (a thread that ``close()`` stops and joins) and ``_closing``."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import STALL_LIMIT_S, Job
from assistant.engine.hf.failures import _generation_error
from assistant.errors import GenerationError

log = logging.getLogger(__name__)

TOKEN_TIMEOUT_S = 0.5  # how often the reader wakes to check on the worker


class _StopOnEvent(StoppingCriteria):
    """Stops generation (not just the display) once the event is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> bool:
        return self.event.is_set()


def _drain(pieces: Iterator[str], job: Job) -> None:
    try:
        for piece in pieces:
            job.emit(piece)
    except BaseException as exc:  # noqa: BLE001 - handed to the job's reader
        job.finish(exc)
    job.finish()


class PlainGeneration:
    """``_stream_generate`` (mixed into ``TransformersBackend``)."""

    def _stream_generate(
        self, model: Any, messages: list[Message], settings: GenerationSettings, stop: threading.Event
    ) -> Iterator[str]:
        """transformers' generate in a worker thread: for models the fast path does not cover."""
        inputs = self._template(messages).to(model.device)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=TOKEN_TIMEOUT_S
        )
        sampling: dict[str, Any] = {"do_sample": False}
        if settings.temperature > 0:
            sampling = {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=settings.max_new_tokens,
                        repetition_penalty=settings.repetition_penalty,
                        stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop), _StopOnEvent(self._closing)]),
                        pad_token_id=self._pad_id(),
                        **sampling,
                    )
            except BaseException as exc:  # reported to the reader below, never lost
                failure.append(exc)
                streamer.end()

        worker = self._start_worker(work)
        last = time.monotonic()
        finished = False
        try:
            while True:
                try:
                    piece = next(streamer)
                except StopIteration:
                    break
                except queue.Empty:
                    if not worker.is_alive() and not failure:
                        break
                    if time.monotonic() - last > STALL_LIMIT_S:
                        raise GenerationError(
                            "The model stopped responding. Press Stop, then try again."
                        ) from None
                    continue
                last = time.monotonic()
                if piece:
                    yield piece
            finished = not failure
        finally:
            if not finished:
                stop.set()  # a closed or abandoned stream also stops the model
            # Wait for the current forward pass to end, so the next request never overlaps it.
            self._join_worker(worker)
        if failure:
            raise _generation_error(failure[0])
