"""Section-by-section drafting: a note written one section at a time, each with
a focused prompt, and rewriting a single section of an existing draft.

Small models drift when asked for a whole structured note at once (they skip
headings, repeat themselves, or run on into invented material). Writing one
section at a time keeps each answer short and on topic. The README reports the
measured effect on grounding flags.

Plain Python over the engine; yields text pieces like ``Engine.stream``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace

from assistant.checks.sections import heading_pattern
from assistant.core.documents.notes import NoteRequest, note_messages, resolve_format
from assistant.core.messages import GenerationSettings
from assistant.core.presets import Preset
from assistant.engine.engine import Engine

MIN_SECTION_TOKENS = 96
HEADING_ROOM = 16  # markup, a list number and a delimiter around a heading's name ("### 2. **Plan:**")


def _confirmed(text: str, match) -> bool:  # noqa: ANN001 - re.Match
    """A heading match that more text cannot undo: something follows it, or it ends in a delimiter."""
    return match.end() < len(text) or text[match.start():match.end()].rstrip()[-1:] in (":", "-", "\u2013", "\u2014", "*", "_")


def _safe_end(body: str, pattern, hold: int, finished: bool) -> tuple[int, bool]:  # noqa: ANN001
    """How much of ``body`` can be sent now, and whether a heading (the next section) ends it there.

    A last line that is still short may yet become a heading ("Pla" -> "Plan:"), and a line that
    is only a name may yet turn into prose ("Plan" -> "Plan to continue"): both wait for more text."""
    for match in pattern.finditer(body):
        if finished or _confirmed(body, match):
            return match.start(), True
        return match.start(), False
    if finished:
        return len(body), False
    line_start = body.rfind("\n") + 1
    return (line_start if len(body) - line_start < hold else len(body)), False


def _section_body(
    engine: Engine, messages: list, settings: GenerationSettings, session: str, kind: str, name: str,
    all_names: list[str], stop: threading.Event | None = None,
) -> Iterator[str]:
    """Stream one section's body: a heading the model repeats first is dropped, and
    the model is stopped as soon as it starts a section (another, or this one again).
    Headings are recognised by the section check's own rule (``heading_pattern``)."""
    own = heading_pattern([name])
    others = heading_pattern([*all_names, name])  # any heading after the body starts: the section is over
    hold = max(len(n) for n in [*all_names, name]) + HEADING_ROOM
    raw, sent = "", 0

    def body_of(finished: bool) -> str | None:
        """The text after a repeated heading of this section; None while that is still undecided."""
        stripped = raw.lstrip()
        if not finished and len(stripped) < hold and "\n" not in stripped:
            return None
        match = own.match(stripped)
        if match and (finished or _confirmed(stripped, match)):
            return stripped[match.end():].lstrip()
        return stripped

    with closing(engine.stream(messages, settings, session, kind=kind)) as stream:
        for piece in stream:
            raw += piece
            body = body_of(False)
            if body is None:
                continue
            end, cut = _safe_end(body, others, hold, False)
            end = len(body[:end].rstrip())  # blank space waits too: a heading may follow it
            if end > sent:
                yield body[sent:end]
                sent = end
            if cut or (stop is not None and stop.is_set()):
                return
    body = body_of(True) or ""
    end, _ = _safe_end(body, others, hold, True)
    text = body[:end].rstrip()
    if len(text) > sent:
        yield text[sent:]


def draft_by_sections(
    engine: Engine, preset: Preset, request: NoteRequest, settings: GenerationSettings, session: str = "",
    stop: threading.Event | None = None,
) -> Iterator[str]:
    """The note, one section at a time, as one stream of pieces (headings included).

    ``stop`` (the person pressed Stop) ends the whole note, not only the section being written;
    closing this generator (a cancelled API job, a closed stream) stops the model at once."""
    note_format, _ = resolve_format(preset, request)
    names = preset.required_sections(note_format)
    if not names:
        with closing(engine.stream(note_messages(preset, request), settings, session, kind=preset.kind)) as whole:
            yield from whole
        return
    per_section = replace(settings, max_new_tokens=max(MIN_SECTION_TOKENS, settings.max_new_tokens // len(names)))
    written = ""
    for name in names:
        if stop is not None and stop.is_set():
            return
        heading = ("\n\n" if written else "") + f"{name}:\n"
        written += heading
        yield heading
        messages = note_messages(preset, request, only_section=name, written=written)
        with closing(_section_body(engine, messages, per_section, session, preset.kind, name, names, stop)) as body:
            for piece in body:
                written += piece
                yield piece


def rewrite_section(
    engine: Engine, preset: Preset, request: NoteRequest, draft: str, name: str, settings: GenerationSettings,
    session: str = "", stop: threading.Event | None = None,
) -> Iterator[str]:
    """A new body for one section of ``draft`` (the caller puts it in place)."""
    note_format, _ = resolve_format(preset, request)
    names = preset.required_sections(note_format) or [name]
    per_section = replace(settings, max_new_tokens=max(MIN_SECTION_TOKENS, settings.max_new_tokens // len(names)))
    messages = note_messages(preset, request, only_section=name, written=draft)
    with closing(_section_body(engine, messages, per_section, session, preset.kind, name, names, stop)) as body:
        yield from body
