"""Ollama's own API (https://github.com/ollama/ollama/blob/main/docs/api.md), through httpx.

* ``POST /api/chat`` with ``stream: true``: one JSON object per line, ``message.content`` the next
  piece, the last one ``done: true``; an ``error`` field on failure;
* ``GET /api/tags``: the models pulled on that computer;
* ``POST /api/show``: the model's facts, ``model_info["<architecture>.context_length"]`` its window.

Ollama reads only ``num_ctx`` tokens of a prompt (2,048 or 4,096 by default) and silently drops the
rest, so every request sends ``num_ctx``: the model's window, or the admin's, at most ``MAX_CTX``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import httpx

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.remote.base import Opened, Probe, RemoteBackend, RemoteError
from assistant.engine.remote.failures import plain_http, words
from assistant.engine.remote.openai_chat import MAX_LIST, http_client

MAX_CTX = 32768  # Ollama sizes its memory by num_ctx; more than a note needs costs the server dearly
MAX_LINE = 1 << 20  # one streamed line this long is not an answer


class OllamaBackend(RemoteBackend):
    def __init__(self, endpoint, key: str | None, **kwargs) -> None:  # noqa: ANN001, ANN003
        super().__init__(endpoint, key, **kwargs)
        self.http = http_client(endpoint)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}  # a proxy in front of Ollama may want one
        self.num_ctx = min(self.info.context_window, MAX_CTX)

    def learn(self, probe: Probe) -> None:
        super().learn(probe)
        self.num_ctx = min(self.info.context_window, MAX_CTX)
        self.info = replace(self.info, context_window=self.num_ctx)

    def _url(self, path: str) -> str:
        return self.endpoint.base_url() + path

    def _open(self, messages: list[Message], settings: GenerationSettings) -> Opened:
        body = {
            "model": self.endpoint.model, "stream": True,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "options": {"num_predict": settings.max_new_tokens, "temperature": settings.temperature,
                        "top_p": settings.top_p, "repeat_penalty": settings.repetition_penalty,
                        "num_ctx": self.num_ctx},
        }
        request = self.http.build_request("POST", self._url("/api/chat"), json=body, headers=self.headers)
        response = self.http.send(request, stream=True)
        if response.status_code >= 400:
            response.read()
            response.close()
            response.raise_for_status()
        return Opened(self._pieces(response), response.close)

    def _pieces(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():
            if len(line) > MAX_LINE:
                raise ValueError("a streamed line is too long")
            if not line.strip():
                continue
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not an object")
            if item.get("error"):
                raise RemoteError(words(self.endpoint)["broken"])
            text = (item.get("message") or {}).get("content") or ""
            if not isinstance(text, str):
                raise ValueError("content is not text")
            if text:
                yield text
            if item.get("done"):
                return
        raise RemoteError(words(self.endpoint)["midway"])

    def _get_json(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self.http.request(method, self._url(path), json=body, headers=self.headers)
        response.raise_for_status()
        if len(response.content) > 8 * MAX_LINE:
            raise ValueError("answer too large")
        item = response.json()
        if not isinstance(item, dict):
            raise ValueError("not an object")
        return item

    def probe(self) -> Probe:
        try:
            tags = self._get_json("GET", "/api/tags")
            names = tuple(str(m.get("name", "")) for m in (tags.get("models") or [])[:MAX_LIST] if isinstance(m, dict))
            window = None
            if self.endpoint.model in names or f"{self.endpoint.model}:latest" in names:
                shown = self._get_json("POST", "/api/show", {"model": self.endpoint.model})
                info = shown.get("model_info") or {}
                window = next((v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int)), None)
            return Probe(models=names, window=window)
        except RemoteError:
            raise
        except Exception as exc:  # noqa: BLE001 - plain words
            raise self._plain(exc, False) from None

    def _plain(self, error: BaseException, midway: bool) -> RemoteError:
        return plain_http(error, self.endpoint, midway)

    def close(self) -> None:
        self.http.close()
