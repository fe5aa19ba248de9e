"""Shared adapter pieces: turning core errors into messages, streaming into text."""

from __future__ import annotations

import functools
import logging
import secrets
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


def guarded(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Wrap a streaming handler so every failure reaches the user as plain words."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # the edge: nothing unexpected escapes as a traceback
            raise to_user_error(exc) from None

    return wrapper


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
    tokens_in = services.engine.backend.count_tokens(messages)
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


def stopper(services: Any) -> Callable[[gr.Request], None]:
    """A Stop handler: stops this person's generation in the model, not just the display."""

    def stop(request: gr.Request) -> None:
        services.engine.stop(session_of(request))

    return stop
