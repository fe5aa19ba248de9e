"""Model servers behind the model contract: the office's (OpenAI-compatible), Ollama, Azure OpenAI and
AWS Bedrock. The only package that imports ``openai`` and ``boto3``.

``connect`` makes the backend for an ``Endpoint`` (and asks the server about itself, without failing
when it is down: the drafts say so then); ``test_connection`` is the System tab's button.
"""

from __future__ import annotations

import logging

from assistant.engine.remote.base import Probe, RemoteBackend, RemoteError, RequestReport
from assistant.errors import where_failed
from assistant.store.endpoint import AZURE, BEDROCK, OLLAMA, OPENAI, Endpoint

log = logging.getLogger(__name__)
__all__ = ["Probe", "RemoteBackend", "RemoteError", "connect", "make", "test_connection"]


def make(endpoint: Endpoint, key: str | None, *, on_request: RequestReport | None = None) -> RemoteBackend:
    """The backend for ``endpoint`` (checked first), not yet in touch with the server."""
    endpoint.check()
    if endpoint.kind in (OPENAI, AZURE):
        from assistant.engine.remote.openai_chat import OpenAIChatBackend

        return OpenAIChatBackend(endpoint, key, on_request=on_request)
    if endpoint.kind == OLLAMA:
        from assistant.engine.remote.ollama import OllamaBackend

        return OllamaBackend(endpoint, key, on_request=on_request)
    if endpoint.kind == BEDROCK:
        from assistant.engine.remote.bedrock import BedrockBackend

        return BedrockBackend(endpoint, key, on_request=on_request)
    raise ValueError(f"not a remote kind: {endpoint.kind}")


def connect(endpoint: Endpoint, key: str | None, *, on_request: RequestReport | None = None) -> RemoteBackend:
    """The backend, having asked the server for its reading window; a server that is down now is
    logged, not fatal (it may come back; each draft then says what happened)."""
    backend = make(endpoint, key, on_request=on_request)
    if endpoint.cloud:
        return backend  # asking costs a paid request; the admin's Test connection does it
    try:
        backend.learn(backend.probe())
        backend.reached = True
    except RemoteError as exc:
        backend.reached = False
        log.warning("the model server did not answer at start: %s", where_failed(exc))
    return backend


def test_connection(endpoint: Endpoint, key: str | None) -> tuple[str, tuple[str, ...]]:
    """Plain words for the admin and the server's model names; raises ``RemoteError`` (or the
    endpoint's own ``EndpointError``) when it does not work."""
    backend = make(endpoint, key)
    try:
        probe = backend.probe()
    finally:
        backend.close()
    host, port = endpoint.host_port()
    where = endpoint.provider if endpoint.cloud else f"{host}:{port}"
    if probe.models and endpoint.model not in probe.models and f"{endpoint.model}:latest" not in probe.models:
        shown = ", ".join(probe.models[:12]) + (" ..." if len(probe.models) > 12 else "")
        raise RemoteError(f"Connected to {where}, but it has no model called '{endpoint.model}'. "
                          f"It has: {shown}. Choose one of those.")
    window = f" It reads up to {probe.window:,} tokens at once." if probe.window else ""
    return f"Connected to {where}: the model '{endpoint.model}' is there.{window}", probe.models
