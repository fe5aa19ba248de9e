"""A connection that breaks before the model server answers is asked once more, at once.

Servers close a kept-alive connection after a few idle seconds (uvicorn and llama-server after 5);
a draft sent just as that happens finds it gone. CI met this: a chat five seconds after the System
tab's connection test failed with "the certificate could not be checked". ``DropsFirst`` closes a
real server's first connections unanswered, so the same break happens every time, over plain http
(Ollama's STAND-IN; the real llama.cpp server in test_remote_llamacpp.py) and over TLS (Azure's STAND-IN with the clinic's
own certificate).
"""

from __future__ import annotations

import logging
import threading

import pytest
from standins import WORDS, DropsFirst, StandIn, State, azure_app, ollama_app, self_signed

from assistant.core.messages import GenerationSettings, Message
from assistant.engine import remote
from assistant.engine.remote.base import RemoteError
from assistant.store.endpoint import Endpoint

ASK = [Message("system", "You write progress notes."), Message("user", "Client practiced paced breathing.")]
GREEDY = GenerationSettings(max_new_tokens=64, temperature=0.0)
AZ_KEY, AZ_VERSION = "azure-test-key-123", "2024-10-21"


def collect(backend) -> str:
    return "".join(backend.stream(ASK, GREEDY, threading.Event()))


@pytest.fixture
def ollama():
    state = State()
    with StandIn(ollama_app(state, {"llama3.2:latest": 8192})) as server:
        server.state = state
        yield server


@pytest.fixture
def azure_tls(tmp_path):
    cert, key_file = self_signed(tmp_path)
    state = State()
    with StandIn(azure_app(state, deployment="notes-gpt4o", key=AZ_KEY, api_version=AZ_VERSION),
                 certfile=cert, keyfile=key_file) as server:
        server.state, server.cert = state, cert
        yield server


def azure_via(relay: DropsFirst, cert: str) -> Endpoint:
    return Endpoint.from_dict({"kind": "azure", "url": f"https://127.0.0.1:{relay.port}", "model": "notes-gpt4o",
                               "api_version": AZ_VERSION, "baa_signed": True, "baa_provider": "Microsoft",
                               "ca_file": cert})


def chats(state: State) -> int:
    return sum(1 for r in state.requests if r["path"].endswith(("/api/chat", "/chat/completions")))


def test_ollama_a_dropped_connection_is_asked_once_more_and_the_draft_arrives(ollama, caplog):
    relay = DropsFirst(ollama.port)
    try:
        backend = remote.make(Endpoint(kind="ollama", url=f"http://127.0.0.1:{relay.port}", model="llama3.2:latest"), None)
        with caplog.at_level(logging.INFO, logger="assistant.engine.remote.base"):
            assert collect(backend) == "".join(WORDS)
        assert relay.accepted == 2 and chats(ollama.state) == 1, "one drop, one more try, one answer"
        assert "dropped the connection before answering" in caplog.text and "RemoteProtocolError" in caplog.text
    finally:
        relay.close()


def test_azure_over_tls_a_dropped_handshake_is_not_called_a_certificate_problem(azure_tls, caplog):
    relay = DropsFirst(azure_tls.port)
    try:
        endpoint = azure_via(relay, azure_tls.cert)
        backend = remote.make(endpoint, AZ_KEY)
        with caplog.at_level(logging.INFO, logger="assistant.engine.remote.base"):
            assert collect(backend) == "".join(WORDS)
        assert relay.accepted == 2 and chats(azure_tls.state) == 1
        assert azure_tls.state.requests[-1]["headers"]["api-key"] == AZ_KEY
        assert "asking once more" in caplog.text
    finally:
        relay.close()


def test_azure_over_tls_a_server_that_drops_every_connection_is_tried_twice_then_said_plainly(azure_tls):
    relay = DropsFirst(azure_tls.port, drops=10)
    try:
        backend = remote.make(azure_via(relay, azure_tls.cert), AZ_KEY)
        with pytest.raises(RemoteError, match="Microsoft .*is not answering") as caught:
            collect(backend)
        assert "certificate" not in str(caught.value)
        assert caught.value.unreachable, "nothing reached it: a local fallback may step in"
        assert relay.accepted == 2, "asked once more, not again and again while a person waits"
        assert chats(azure_tls.state) == 0
    finally:
        relay.close()


def test_a_refused_key_is_not_asked_twice(azure_tls):
    relay = DropsFirst(azure_tls.port, drops=0)
    try:
        backend = remote.make(azure_via(relay, azure_tls.cert), "wrong-key")
        with pytest.raises(RemoteError, match="refused the key"):
            collect(backend)
        assert relay.accepted == 1 and chats(azure_tls.state) == 1
    finally:
        relay.close()

