"""Shared adapter pieces: the one error edge, streaming into text, Stop.

The error edge: every handler in the tabs is wrapped in ``guarded`` (streaming or
one-shot alike). A refusal the handler raises itself (``refusal``, a ``gr.Error``)
passes as it is; a domain error (``AssistantError``) becomes its own plain
message; anything else is logged as type and place with a short reference id,
and the person sees that id, never a traceback or the error's text.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from assistant.core.messages import GenerationSettings
from assistant.core.presets import Preset
from assistant.engine.engine import Waiting
from assistant.errors import AssistantError, where_failed
from assistant.security.audit import audited

log = logging.getLogger(__name__)

MODEL_QUEUE = "model"  # model changes (System tab), one at a time; the engine waits for running drafts
# Drafting events run side by side up to this many; the engine then lines them up fairly and
# writes several together (it tells waiting staff their place in line).
DRAFT_QUEUE = "drafts"
DRAFT_CONCURRENCY = 8


def settings_of(preset: Preset) -> GenerationSettings:
    return preset.settings()


def to_user_error(exc: BaseException) -> gr.Error:
    """A domain error becomes its own message; anything else a reference id, no traceback."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, AssistantError):
        return gr.Error(exc.message, title="Could not finish", print_exception=False)
    ref = secrets.token_hex(3).upper()
    log.error("unexpected error ref=%s %s", ref, where_failed(exc))
    return gr.Error(
        f"Something went wrong on our side (reference {ref}). Your text is still here; "
        "please try again. If it keeps happening, tell your vendor the reference.",
        title="Unexpected problem",
        print_exception=False,
    )


def refusal(message: str, title: str | None = None) -> gr.Error:
    """A plain refusal from a handler ("Approve the draft first ..."): shown as it is, never logged as a fault."""
    return gr.Error(message, print_exception=False) if title is None else gr.Error(
        message, title=title, print_exception=False)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a handler, streaming (a generator) or one-shot, so every failure reaches the user as plain words."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def streaming(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # the edge: nothing unexpected escapes as a traceback
                raise to_user_error(exc) from None

        return streaming

    @functools.wraps(fn)
    def one_shot(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # the edge: nothing unexpected escapes as a traceback
            raise to_user_error(exc) from None

    return one_shot


def accumulate(pieces: Iterator[str]) -> Iterator[str]:
    """Running text from a stream of pieces; closing this closes (and stops) the stream."""
    text = ""
    try:
        for piece in pieces:
            text += piece
            yield text
    finally:
        close = getattr(pieces, "close", None)
        if close:
            close()


def model_stream(services: Any, messages: list, preset: Preset, request: gr.Request | None) -> Iterator[str]:
    """The engine's stream for this person, recorded in the audit log (hashes and counts, no text)."""
    stream = services.engine.stream(messages, settings_of(preset), session_of(request), kind=preset.kind,
                                    positions=True)
    tokens_in = services.engine.count_tokens(messages)
    return audited(
        tell_place(stream), services.audit, kind=preset.kind, preset=preset.id, model=services.model.name,
        tokens_in=tokens_in, user=user_of(request),
    )


def tell_place(pieces: Iterator[str]) -> Iterator[str]:
    """Pass the text on; while the request waits, tell the person their place in line (a notice)."""
    try:
        for piece in pieces:
            if isinstance(piece, Waiting):
                gr.Info(f"You are number {piece.position} in line. Your draft starts as soon as the assistant "
                        "is free.", title="Waiting for the assistant", duration=6)
                continue
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close:
            close()


def user_of(request: gr.Request | None) -> str:
    """The signed-in staff member's name, or "" when accounts are off."""
    if request is None:
        return ""
    headers = getattr(request, "headers", None) or {}
    return str(headers.get("x-assistant-user", "") or "")


def preset_choices(presets: list[Preset]) -> list[tuple[str, str]]:
    return [(p.title, p.id) for p in presets]


def session_of(request: gr.Request | None) -> str:
    return (request.session_hash if request is not None else None) or ""


class Stops:
    """Stop signals of the multi-step drafts running now (a note written section by section), per person.

    The engine's stop ends the model's current answer; this tells the draft not to start another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signals: dict[str, set[threading.Event]] = {}

    @contextlib.contextmanager
    def signal(self, session: str) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._signals.setdefault(session, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                mine = self._signals.get(session, set())
                mine.discard(event)
                if not mine:
                    self._signals.pop(session, None)

    def stop(self, session: str) -> None:
        with self._lock:
            events = list(self._signals.get(session, ()))
        for event in events:
            event.set()


def stopper(services: Any, stops: Stops | None = None) -> Callable[[gr.Request], None]:
    """A Stop handler: stops this person's generation in the model, not just the display
    (and, with ``stops``, the rest of a draft written in steps)."""

    def stop(request: gr.Request) -> None:
        session = session_of(request)
        if stops is not None:
            stops.stop(session)
        services.engine.stop(session)

    return stop
