"""Chat: a system preset plus the conversation so far.

Nothing is dropped silently: a conversation too long for the model is refused
by the engine with a message that says to press Clear.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from assistant.core.documents import clean_text, today_words
from assistant.core.messages import Message
from assistant.core.presets import Preset


def chat_messages(
    preset: Preset, history: Iterable[Mapping[str, Any]], message: str, practice_name: str = ""
) -> list[Message]:
    """History is a list of {"role", "content"} dicts (Gradio's messages format).

    A preset's template (for example "Summarize this document: $message") wraps
    the first message of a conversation; follow-ups are sent as typed.
    """
    spec = preset.resolved_fields()[0]
    text = clean_text(message, "message", max_chars=spec.max_length)
    turns: list[Message] = []
    for item in history or []:
        role = item.get("role")
        content = _text_of(item.get("content"))
        if role not in ("user", "assistant") or not content.strip():
            continue  # files, tool calls and notices are not part of the conversation
        _append(turns, Message(role, clean_text(content, "earlier message", required=False)))
    if preset.template and not any(t.role == "user" for t in turns):
        text = preset.render({"message": text, "today": today_words(), "practice_name": practice_name})
    _append(turns, Message("user", text))
    return [Message("system", preset.system_prompt), *turns]


def _append(turns: list[Message], message: Message) -> None:
    """Keep roles alternating (some chat templates require it): merge a repeated role."""
    if turns and turns[-1].role == message.role:
        turns[-1] = Message(message.role, f"{turns[-1].content}\n\n{message.content}")
    else:
        turns.append(message)


def _text_of(content: Any) -> str:
    """Gradio sends content as a string or as a list of {"type": "text", "text": ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""
