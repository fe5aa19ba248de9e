"""Chat turns for a model's own template, shared by every local backend.

Some templates refuse or drop the system message (Gemma 2 and 3 have no system role; Phi-3 as
first released drops it). ``fold_system`` then puts the system text at the start of the first
user turn and merges repeated roles, as the model's makers advise. Plain Python.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from assistant.core.messages import Message
from assistant.errors import GenerationError, where_failed

log = logging.getLogger(__name__)


def turns(messages: list[Message]) -> list[dict[str, str]]:
    """The messages as the ``{"role", "content"}`` dicts chat templates read."""
    return [{"role": m.role, "content": m.content} for m in messages]


def keeps_system(messages: list[Message], rendered: str) -> bool:
    """True when every non-empty system text made it into the rendered prompt."""
    return all(m.content.strip() in rendered for m in messages if m.role == "system" and m.content.strip())


def fold_system(chat: list[dict[str, str]]) -> list[dict[str, str]]:
    """The system text folded into the first user turn, repeated roles merged."""
    folded: list[dict[str, str]] = []
    system = "\n\n".join(t["content"] for t in chat if t["role"] == "system")
    for turn in (t for t in chat if t["role"] != "system"):
        if folded and folded[-1]["role"] == turn["role"]:
            folded[-1] = {"role": turn["role"], "content": folded[-1]["content"] + "\n\n" + turn["content"]}
        else:
            folded.append(dict(turn))
    if system:
        if folded and folded[0]["role"] == "user":
            folded[0] = {"role": "user", "content": f"{system}\n\n{folded[0]['content']}"}
        else:
            folded.insert(0, {"role": "user", "content": system})
    return folded


def render(messages: list[Message], render_chat: Callable[[list[dict[str, str]]], str]) -> str:
    """The prompt text from the model's own template (``render_chat``), with the system text folded in
    where the template refuses or drops it; a conversation it still refuses is a plain error."""
    chat = turns(messages)
    try:
        text = render_chat(chat)
        if keeps_system(messages, text):
            return text
        log.info("chat template dropped the system message; folding it into the first user turn")
    except Exception:  # noqa: BLE001 - e.g. Gemma's template has no system role
        pass
    try:
        return render_chat(fold_system(chat))
    except Exception as exc:  # noqa: BLE001 - the model's own template refused the conversation
        log.error("chat template refused the conversation: %s", where_failed(exc))
        raise GenerationError(
            "This model could not read the conversation in this form. Press Clear and try again."
        ) from None
