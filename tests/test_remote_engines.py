"""Ollama, Azure OpenAI and AWS Bedrock: request shapes and failures, against STAND-INS.

None of the three can be reached from here. Ollama's and Azure's documented HTTP APIs are played by
small local servers (tests/standins.py) that check each request; Bedrock by botocore's own Stubber,
which checks each call against the service's published model. The OpenAI-compatible path runs
against a real server in test_remote_llamacpp.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from standins import WORDS, StandIn, State, azure_app, free_port, ollama_app

from assistant.core.messages import GenerationSettings, Message
from assistant.engine import remote
from assistant.engine.engine import Engine
from assistant.engine.remote.base import RemoteError
from assistant.errors import GenerationError
from assistant.store.endpoint import Endpoint, EndpointError

ASK = [Message("system", "You write progress notes."), Message("user", "Client practiced paced breathing.")]
GREEDY = GenerationSettings(max_new_tokens=64, temperature=0.0)


def collect(backend, messages=ASK, settings=GREEDY, stop=None) -> str:
    return "".join(backend.stream(messages, settings, stop or threading.Event()))


@pytest.fixture
def ollama():
    state = State()
    with StandIn(ollama_app(state, {"llama3.2:latest": 131072, "mistral:7b": 32768})) as server:
        server.state = state
        yield server


def ollama_endpoint(server, **more) -> Endpoint:
    return Endpoint(kind="ollama", url=server.url, model="llama3.2:latest", **more)


def test_ollama_stand_in_streams_with_documented_request_and_window(ollama):
    backend = remote.connect(ollama_endpoint(ollama), None)
    assert backend.info.context_window == 32768, "the model's 131,072 is capped at what Ollama is asked to hold"
    assert collect(backend) == "".join(WORDS)
    chat = [r for r in ollama.state.requests if r["path"] == "/api/chat"][-1]["body"]
    assert chat["model"] == "llama3.2:latest" and chat["stream"] is True
    assert chat["messages"] == [{"role": "system", "content": ASK[0].content}, {"role": "user", "content": ASK[1].content}]
    assert chat["options"]["num_ctx"] == 32768, "without num_ctx Ollama silently drops all but 2-4k tokens"
    assert chat["options"]["num_predict"] == 64 and chat["options"]["temperature"] == 0.0
    words, names = remote.test_connection(ollama_endpoint(ollama), None)
    assert names == ("llama3.2:latest", "mistral:7b") and "131,072" in words


def test_ollama_stand_in_unknown_model_is_named_with_the_ones_there(ollama):
    with pytest.raises(RemoteError, match="no model called 'llama3:70b'.*llama3.2:latest, mistral:7b"):
        remote.test_connection(Endpoint(kind="ollama", url=ollama.url, model="llama3:70b"), None)
    backend = remote.connect(Endpoint(kind="ollama", url=ollama.url, model="llama3:70b"), None)
    with pytest.raises(RemoteError, match="has no model called 'llama3:70b'"):
        collect(backend)


@pytest.mark.parametrize(("mode", "words"), [
    ("garbage", "not a model's answer"), ("cut", "stopped answering part-way"), (429, "busy"),
    (401, "refused the key"), (500, "problem of its own"),
])
def test_ollama_stand_in_failures_say_what_to_do(ollama, mode, words):
    backend = remote.connect(ollama_endpoint(ollama), None)
    ollama.state.mode = mode
    with pytest.raises(RemoteError, match=words):
        collect(backend)


def test_an_endless_answer_is_cut_off(ollama):
    backend = remote.connect(ollama_endpoint(ollama), None)
    ollama.state.mode = "endless"
    with pytest.raises(GenerationError, match="far more text than was asked for"):
        collect(backend, settings=GenerationSettings(max_new_tokens=8))


def test_stop_closes_the_stream_and_the_server_sees_it(ollama):
    backend = remote.connect(ollama_endpoint(ollama), None)
    ollama.state.mode = "slow"
    stop = threading.Event()
    pieces = backend.stream(ASK, GREEDY, stop)
    assert next(pieces) == WORDS[0]
    stop.set()
    started = time.monotonic()
    rest = list(pieces)
    assert time.monotonic() - started < 1.0, "Stop returns within about a second"
    assert len(rest) <= 1, "at most the piece already on its way"
    assert ollama.state.disconnected.wait(5), "the server saw the connection close, so it stops writing"


def test_a_server_that_is_down_is_said_plainly_and_the_engine_keeps_serving(ollama):
    down = Endpoint(kind="ollama", url=f"http://127.0.0.1:{free_port()}", model="llama3.2:latest")
    backend = remote.connect(down, None)  # down at start: not fatal
    assert backend.reached is False
    engine = Engine(backend)
    with pytest.raises(RemoteError, match="is not answering. Check that it is on"):
        "".join(engine.stream(ASK, GREEDY))
    engine.backend = remote.connect(ollama_endpoint(ollama), None)
    assert "".join(engine.stream(ASK, GREEDY)) == "".join(WORDS)


def test_three_staff_at_once_are_sent_together(ollama):
    ollama.state.mode = "slow"  # each answer takes a while: together they overlap on the server
    backend = remote.connect(ollama_endpoint(ollama), None)
    engine = Engine(backend)
    results = []

    def one(index: int) -> None:
        text = ""
        for piece in engine.stream(ASK, GREEDY, session=f"s{index}"):
            text += piece
            if len(text) > 20:
                break
        results.append(text)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 3 and all(r.startswith("Client practiced") for r in results)
    assert ollama.state.most_open == 3, "the three answers were on the server at the same time"


# -- Azure OpenAI (stand-in) ---------------------------------------------------------------------

AZ_KEY, AZ_VERSION = "azure-test-key-123", "2024-10-21"


@pytest.fixture
def azure():
    state = State()
    with StandIn(azure_app(state, deployment="notes-gpt4o", key=AZ_KEY, api_version=AZ_VERSION)) as server:
        server.state = state
        yield server


def azure_endpoint(server, **more) -> Endpoint:
    return Endpoint.from_dict({"kind": "azure", "url": server.url, "model": "notes-gpt4o", "api_version": AZ_VERSION,
                               "baa_signed": True, "baa_provider": "Microsoft", **more})


def test_azure_is_refused_without_the_baa_acknowledgement(azure):
    for unsigned in ({"baa_signed": False}, {"baa_provider": ""}, {"baa_provider": "my cousin"}):
        with pytest.raises(EndpointError, match="Business Associate Agreement"):
            remote.make(Endpoint.from_dict({**azure_endpoint(azure).to_dict(), **unsigned}), AZ_KEY)


def test_azure_stand_in_gets_the_documented_request(azure, monkeypatch):
    monkeypatch.setattr(Endpoint, "check", lambda self: self)  # the stand-in is plain http on 127.0.0.1
    backend = remote.connect(azure_endpoint(azure), AZ_KEY)
    assert backend.info.cloud and "Microsoft" in backend.info.notice
    assert collect(backend) == "".join(WORDS)
    sent = azure.state.requests[-1]
    assert sent["path"] == "/openai/deployments/notes-gpt4o/chat/completions"
    assert sent["query"] == {"api-version": AZ_VERSION} and sent["headers"]["api-key"] == AZ_KEY
    assert "authorization" not in sent["headers"], "Azure's key goes in api-key, not a bearer token"
    assert sent["body"]["stream"] is True and sent["body"]["messages"][1]["content"] == ASK[1].content
    words, _ = remote.test_connection(azure_endpoint(azure), AZ_KEY)
    assert "Microsoft" in words


def test_azure_stand_in_wrong_key_and_wrong_deployment(azure, monkeypatch):
    monkeypatch.setattr(Endpoint, "check", lambda self: self)
    with pytest.raises(RemoteError, match="refused the key"):
        collect(remote.connect(azure_endpoint(azure), "wrong-key"))
    with pytest.raises(RemoteError, match="no model called 'other'"):
        collect(remote.connect(azure_endpoint(azure, model="other"), AZ_KEY))


def test_a_cloud_address_must_be_https():
    with pytest.raises(EndpointError, match="must start with https"):
        Endpoint(kind="azure", url="http://x.openai.azure.com", model="d", baa_signed=True,
                 baa_provider="Microsoft").check()
    with pytest.raises(EndpointError, match="user name and password out"):
        Endpoint(kind="openai", url="http://me:secret@10.0.0.5:8000/v1", model="m").check()


# -- AWS Bedrock (botocore's Stubber) ------------------------------------------------------------

def frame(event_type: str, payload: dict) -> bytes:
    """One message in AWS's event-stream encoding (prelude, headers, JSON payload, CRC32s)."""
    import binascii
    import json
    import struct

    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


class Raw:
    """The HTTP body botocore reads an event stream from."""

    def __init__(self, data: bytes) -> None:
        self.data, self.closed = data, False

    def stream(self):
        for start in range(0, len(self.data), 37):  # arbitrary chunks, as a socket gives them
            yield self.data[start:start + 37]

    def close(self) -> None:
        self.closed = True


def bedrock(events: list[tuple[str, dict]], expected: dict):
    """A real botocore client, its ConverseStream answered by botocore's own EventStream decoding real
    event-stream bytes; botocore's Stubber checks the request against the service model."""
    import boto3
    from botocore.eventstream import EventStream
    from botocore.parsers import EventStreamJSONParser
    from botocore.stub import Stubber

    from assistant.engine.remote.bedrock import BedrockBackend

    class StreamStubber(Stubber):
        def _validate_operation_response(self, operation_name, service_response):  # noqa: ANN001
            rest = {k: v for k, v in service_response.items() if k != "stream"}  # the stream is botocore's own
            super()._validate_operation_response(operation_name, rest)

    client = boto3.session.Session(region_name="us-east-1", aws_access_key_id="AKIATEST",
                                   aws_secret_access_key="secret").client("bedrock-runtime")
    shape = client.meta.service_model.operation_model("ConverseStream").output_shape.members["stream"]
    raw = Raw(b"".join(frame(name, payload) for name, payload in events))
    stream = EventStream(raw, shape, EventStreamJSONParser(), "ConverseStream")
    stubber = StreamStubber(client)
    stubber.add_response("converse_stream", {"stream": stream}, expected)
    stubber.activate()
    endpoint = Endpoint(kind="bedrock", region="us-east-1", model="anthropic.claude-3-5-sonnet-20240620-v1:0",
                        baa_signed=True, baa_provider="Amazon Web Services")
    return BedrockBackend(endpoint.check(), "AKIATEST:secret", client=client), stubber, raw


def test_bedrock_stubber_converse_stream_request_and_answer():
    events = [("messageStart", {"role": "assistant"}),
              *(("contentBlockDelta", {"delta": {"text": w}, "contentBlockIndex": 0}) for w in WORDS),
              ("messageStop", {"stopReason": "end_turn"})]
    expected = {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "system": [{"text": ASK[0].content}],
                "messages": [{"role": "user", "content": [{"text": ASK[1].content}]}],
                "inferenceConfig": {"maxTokens": 64, "temperature": 0.0, "topP": 0.9}}
    backend, stubber, raw = bedrock(events, expected)
    assert collect(backend) == "".join(WORDS)
    stubber.assert_no_pending_responses()
    assert raw.closed, "the stream is closed when the answer ends"
    assert backend.info.cloud and "Amazon" in backend.info.notice
    assert backend.endpoint.host_port() == ("bedrock-runtime.us-east-1.amazonaws.com", 443)


def test_bedrock_stubber_stream_cut_off_part_way():
    events = [("messageStart", {"role": "assistant"}),
              ("contentBlockDelta", {"delta": {"text": "Client "}, "contentBlockIndex": 0})]
    backend, _, _ = bedrock(events, None)
    with pytest.raises(RemoteError, match="stopped answering part-way"):
        collect(backend)


def test_bedrock_stubber_errors_in_plain_words():
    import boto3
    from botocore.stub import Stubber

    from assistant.engine.remote.bedrock import BedrockBackend

    client = boto3.session.Session(region_name="us-east-1", aws_access_key_id="A", aws_secret_access_key="B").client(
        "bedrock-runtime")
    stubber = Stubber(client)
    stubber.add_client_error("converse_stream", "AccessDeniedException", http_status_code=403)
    stubber.add_client_error("converse_stream", "ThrottlingException", http_status_code=429)
    stubber.activate()
    endpoint = Endpoint(kind="bedrock", region="us-east-1", model="m", baa_signed=True, baa_provider="AWS")
    backend = BedrockBackend(endpoint, "A:B", client=client)
    with pytest.raises(RemoteError, match="refused the key"):
        collect(backend)
    with pytest.raises(RemoteError, match="busy"):
        collect(backend)
    with pytest.raises(RemoteError, match="ACCESS_KEY_ID:SECRET_ACCESS_KEY"):
        BedrockBackend(endpoint, "only-one-part")


def test_https_with_the_clinics_own_certificate_needs_its_ca_file(tmp_path):
    from standins import self_signed

    cert, key_file = self_signed(tmp_path)
    state = State()
    with StandIn(azure_app(state, deployment="notes-gpt4o", key=AZ_KEY, api_version=AZ_VERSION),
                 certfile=cert, keyfile=key_file) as server:
        assert server.url.startswith("https://")
        without = azure_endpoint(server)
        with pytest.raises(RemoteError, match="certificate of Microsoft .* could not be checked"):
            remote.test_connection(without, AZ_KEY)
        with_ca = azure_endpoint(server, ca_file=cert)
        assert "Microsoft" in remote.test_connection(with_ca, AZ_KEY)[0]
        assert collect(remote.connect(with_ca, AZ_KEY)) == "".join(WORDS)
