"""AWS Bedrock through ``boto3``: the ConverseStream API (one request shape for every model there).

The practice's credentials are kept as the engine key, ``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` (or
with ``:SESSION_TOKEN`` after it); without one, boto3's own chain (an AWS profile on this computer)
is used, never the cloud metadata service (``AWS_EC2_METADATA_DISABLED``, set by the lockdown).
Only ``bedrock-runtime.<region>.amazonaws.com`` is reached; no retries, the clinic's CA file when set.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import botocore.config
import botocore.exceptions

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.remote.base import Opened, Probe, RemoteBackend, RemoteError
from assistant.engine.remote.failures import words

CODES = {
    "AccessDeniedException": "key", "UnrecognizedClientException": "key", "ExpiredTokenException": "key",
    "InvalidSignatureException": "key", "ResourceNotFoundException": "model", "ThrottlingException": "busy",
    "ServiceQuotaExceededException": "busy", "ValidationException": "refused", "ModelNotReadyException": "busy",
    "ModelTimeoutException": "timeout", "InternalServerException": "broken", "ServiceUnavailableException": "broken",
    "ModelStreamErrorException": "midway",
}


def credentials(key: str | None) -> dict:
    if not key:
        return {}
    parts = key.strip().split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise RemoteError("The AWS key must be written as ACCESS_KEY_ID:SECRET_ACCESS_KEY. An admin can enter it "
                          "again in the System tab, under Where the model runs.")
    names = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
    return dict(zip(names, parts, strict=False))


def converse_request(model: str, messages: list[Message], settings: GenerationSettings) -> dict:
    """The ConverseStream request: system text apart, then the turns, each a list of text blocks."""
    system = [{"text": m.content} for m in messages if m.role == "system"]
    turns = [{"role": m.role, "content": [{"text": m.content}]} for m in messages if m.role != "system"]
    request = {"modelId": model, "messages": turns,
               "inferenceConfig": {"maxTokens": settings.max_new_tokens, "temperature": settings.temperature,
                                   "topP": settings.top_p}}
    if system:
        request["system"] = system
    return request


class BedrockBackend(RemoteBackend):
    def __init__(self, endpoint, key: str | None, *, client=None, **kwargs) -> None:  # noqa: ANN001, ANN003
        super().__init__(endpoint, key, **kwargs)
        if client is None:
            config = botocore.config.Config(connect_timeout=endpoint.connect_timeout_s,
                                            read_timeout=endpoint.read_timeout_s, retries={"max_attempts": 1})
            session = boto3.session.Session(region_name=endpoint.region, **credentials(key))
            client = session.client("bedrock-runtime", config=config, verify=endpoint.ca_file or None)
        self.client = client

    def _open(self, messages: list[Message], settings: GenerationSettings) -> Opened:
        response = self.client.converse_stream(**converse_request(self.endpoint.model, messages, settings))
        events = response["stream"]
        return Opened(self._pieces(events), getattr(events, "close", lambda: None))

    def _pieces(self, events) -> Iterator[str]:  # noqa: ANN001 - botocore's EventStream
        for event in events:
            if "contentBlockDelta" in event:
                text = event["contentBlockDelta"].get("delta", {}).get("text")
                if text:
                    yield text
            elif "messageStop" in event:
                return
            else:
                for name in CODES:
                    if name[0].lower() + name[1:] in event:  # an error sent inside the stream
                        raise RemoteError(words(self.endpoint)[CODES[name]])
        raise RemoteError(words(self.endpoint)["midway"])

    def probe(self) -> Probe:
        """Bedrock's model list is on another host (the control plane): ask for one token instead."""
        try:
            self.client.converse(**{**converse_request(self.endpoint.model, [Message("user", "Say OK.")],
                                                       GenerationSettings(max_new_tokens=1, temperature=0.0)),
                                    })
            return Probe(models=(self.endpoint.model,))
        except RemoteError:
            raise
        except Exception as exc:  # noqa: BLE001 - plain words
            raise self._plain(exc, False) from None

    def _plain(self, error: BaseException, midway: bool) -> RemoteError:
        said = words(self.endpoint)
        if isinstance(error, botocore.exceptions.ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            return RemoteError(said[CODES.get(code, "broken")])
        if isinstance(error, botocore.exceptions.SSLError):
            return RemoteError(said["tls"])
        if isinstance(error, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.EndpointConnectionError):
            return RemoteError(said["down"], unreachable=not midway)
        if isinstance(error, botocore.exceptions.ReadTimeoutError):
            return RemoteError(said["timeout"])
        if isinstance(error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
            return RemoteError(said["key"])
        return RemoteError(said["midway"] if midway else said["broken"])
