"""OpenAI-style chat completions, streamed, through the official ``openai`` SDK.

``kind`` "openai": any OpenAI-compatible server (vLLM, llama.cpp's ``llama-server``, LM Studio,
``transformers serve``, Ollama's ``/v1``) at a base URL ending in ``/v1``. ``kind`` "azure": Azure
OpenAI (endpoint, deployment, ``api-version``, the ``api-key`` header), by the SDK's
``AzureOpenAI``. No SDK retries (a person is waiting and sees what happened; ``RemoteBackend``
asks once more only when the connection broke before any answer), no proxy from the
environment (the egress guard lets only the configured host through), the clinic's CA file when set.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.remote.base import Opened, Probe, RemoteBackend, RemoteError, ssl_context
from assistant.engine.remote.failures import plain_http, words
from assistant.store.endpoint import AZURE, AZURE_API_VERSION, Endpoint

MAX_LIST = 500  # model names read from a server's list at most
MAX_BODY = 8 << 20  # an answer that says it is bigger than this is not a model server's


def _not_huge(response: httpx.Response) -> None:
    size = response.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_BODY:
        raise ValueError("the answer is too large")  # said as "not a model's answer"


def http_client(endpoint: Endpoint) -> httpx.Client:
    """No proxy from the environment, no redirects (the guard allows one host), the clinic's CA file."""
    timeout = httpx.Timeout(endpoint.read_timeout_s, connect=endpoint.connect_timeout_s)
    return httpx.Client(verify=ssl_context(endpoint), timeout=timeout, trust_env=False, follow_redirects=False,
                        event_hooks={"response": [_not_huge]})


class OpenAIChatBackend(RemoteBackend):
    def __init__(self, endpoint: Endpoint, key: str | None, **kwargs) -> None:  # noqa: ANN003 - RemoteBackend's
        super().__init__(endpoint, key, **kwargs)
        http = http_client(endpoint)
        if endpoint.kind == AZURE:
            self.client = openai.AzureOpenAI(
                azure_endpoint=endpoint.base_url(), api_key=key or "", api_version=endpoint.api_version or AZURE_API_VERSION,
                http_client=http, max_retries=0)
        else:  # servers without keys take any; the SDK insists on one
            self.client = openai.OpenAI(base_url=endpoint.base_url(), api_key=key or "no-key", http_client=http,
                                        max_retries=0)

    def _open(self, messages: list[Message], settings: GenerationSettings) -> Opened:
        stream = self.client.chat.completions.create(
            model=self.endpoint.model, messages=[{"role": m.role, "content": m.content} for m in messages],
            stream=True, max_tokens=settings.max_new_tokens, temperature=settings.temperature,
            top_p=settings.top_p if settings.temperature > 0 else 1.0,
        )
        return Opened(self._pieces(stream), stream.close)

    def _pieces(self, stream) -> Iterator[str]:  # noqa: ANN001 - openai.Stream
        finished = False
        for chunk in stream:
            for choice in chunk.choices or ():
                text = getattr(choice.delta, "content", None) if choice.delta is not None else None
                if text:
                    yield text
                if choice.finish_reason:
                    finished = True
        if not finished:  # the stream ended without the server saying it was done
            raise RemoteError(words(self.endpoint)["midway"])

    def probe(self) -> Probe:
        try:
            if self.endpoint.kind == AZURE:  # a data-plane key cannot list deployments: ask for one token
                self.client.chat.completions.create(
                    model=self.endpoint.model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1)
                return Probe(models=(self.endpoint.model,))
            page = self.client.models.list()
            names, window = [], None
            for item in list(page.data)[:MAX_LIST]:
                names.append(str(item.id))
                if str(item.id) == self.endpoint.model:
                    extra = item.model_extra or {}
                    meta = extra.get("meta") if isinstance(extra.get("meta"), dict) else {}
                    window = extra.get("max_model_len") or meta.get("n_ctx") or None  # vLLM; llama-server
            return Probe(models=tuple(names), window=int(window) if isinstance(window, int) else None)
        except RemoteError:
            raise
        except Exception as exc:  # noqa: BLE001 - plain words
            raise self._plain(exc, False) from None

    def _plain(self, error: BaseException, midway: bool) -> RemoteError:
        return plain_http(error, self.endpoint, midway)

    def close(self) -> None:
        self.client.close()
