"""Where the model runs: this computer, the office's model server, Ollama, or a cloud under a BAA.

``Endpoint`` is the ``endpoint`` object in settings.json (and a vendor build's settings). It holds
addresses and names only: the API key is kept by ``store.secrets`` under ``KEY_NAME``, never here.
``check`` says in plain words what is wrong; a cloud endpoint is refused until an admin has
ticked "We have a signed Business Associate Agreement" and typed the provider's name.
Plain Python: no network here.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from assistant.errors import InputError

log = logging.getLogger(__name__)

KEY_NAME = "engine-key"  # store.secrets name of the model server's key
LOCAL, OPENAI, OLLAMA, AZURE, BEDROCK = "local", "openai", "ollama", "azure", "bedrock"
KINDS = (LOCAL, OPENAI, OLLAMA, AZURE, BEDROCK)
LABELS = {LOCAL: "This computer", OPENAI: "Our office server", OLLAMA: "Ollama", AZURE: "Azure OpenAI",
          BEDROCK: "AWS Bedrock"}
CLOUD = {AZURE: "Microsoft (Azure OpenAI)", BEDROCK: "Amazon Web Services (AWS Bedrock)"}
# What the admin's typed provider name must contain (any one), like typing a name to confirm.
PROVIDER_WORDS = {AZURE: ("microsoft", "azure"), BEDROCK: ("amazon", "aws")}
DEFAULT_PORTS = {"http": 80, "https": 443}
AZURE_API_VERSION = "2024-10-21"  # Azure OpenAI's current GA data-plane version
DEFAULT_WINDOW = 8192


class EndpointError(InputError):
    """Raised when the model server's settings cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Endpoint:
    kind: str = LOCAL  # one of KINDS
    url: str = ""  # openai: http://host:8000/v1 · ollama: http://host:11434 · azure: https://NAME.openai.azure.com
    model: str = ""  # the model's name on the server; Azure: the deployment; Bedrock: the model id
    api_version: str = ""  # Azure only ("" = AZURE_API_VERSION)
    region: str = ""  # Bedrock only, e.g. us-east-1
    ca_file: str = ""  # the clinic's own certificate authority (a PEM file), for https with its own certificate
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0  # longest wait for the next piece of an answer
    context_window: int = 0  # tokens; 0: ask the server where it says, else DEFAULT_WINDOW
    baa_signed: bool = False  # cloud: the admin ticked "We have a signed Business Associate Agreement"
    baa_provider: str = ""  # cloud: the provider's name, typed by the admin
    fallback_local: bool = False  # when the server cannot be reached, write the draft on this computer

    @property
    def remote(self) -> bool:
        return self.kind != LOCAL

    @property
    def cloud(self) -> bool:
        return self.kind in CLOUD

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)

    @property
    def provider(self) -> str:
        """Who receives the text: the cloud provider, or the server's address."""
        return CLOUD.get(self.kind) or self.host_port()[0]

    def base_url(self) -> str:
        if self.kind == BEDROCK:
            return f"https://bedrock-runtime.{self.region}.amazonaws.com"
        return self.url.strip().rstrip("/")

    def host_port(self) -> tuple[str, int]:
        """The one host and port the egress guard lets the assistant reach."""
        parts = urlsplit(self.base_url())
        return (parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 0))

    def where_words(self) -> str:
        """For the status line: where the text goes."""
        host, port = self.host_port()
        if self.cloud:
            return f"{CLOUD[self.kind]} ({host}), under your Business Associate Agreement"
        return f"{self.label.lower() if self.kind == OPENAI else self.label} at {host}:{port}"

    def check(self) -> Endpoint:
        """Self, or ``EndpointError`` naming every problem in plain words."""
        problems = []
        if self.kind not in KINDS:
            problems.append(f"'{self.kind}' is not a place a model can run (choose one of: {', '.join(KINDS)}).")
            raise EndpointError(" ".join(problems))
        if not self.remote:
            return self
        if self.kind == BEDROCK:
            if not self.region.strip() or not self.region.replace("-", "").isalnum():
                problems.append("Type the AWS region the model is in, for example us-east-1.")
        else:
            parts = urlsplit(self.url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append("Type the server's address starting with http:// or https://, for example "
                                "http://10.0.0.5:8000/v1.")
            elif parts.username or parts.password:
                problems.append("Leave the user name and password out of the address; put the key in the key box.")
            elif self.cloud and parts.scheme != "https":
                problems.append("A cloud address must start with https://.")
        if not self.model.strip():
            problems.append("Type the model's name (for Azure: the deployment name; for Bedrock: the model id).")
        if self.ca_file and not Path(self.ca_file).expanduser().is_file():
            problems.append(f"The certificate file {self.ca_file} was not found.")
        if not (0 < self.connect_timeout_s <= 120 and 0 < self.read_timeout_s <= 3600):
            problems.append("The waiting times must be more than 0 seconds (connect at most 120, answer at most 3600).")
        if not isinstance(self.context_window, int) or not 0 <= self.context_window <= 2_000_000:
            problems.append("The reading window must be a whole number of tokens (0: ask the server).")
        if self.cloud:
            typed = self.baa_provider.strip().lower()
            if not self.baa_signed or not any(word in typed for word in PROVIDER_WORDS[self.kind]):
                problems.append(
                    f"Sending patient text to {CLOUD[self.kind]} needs a signed Business Associate Agreement: "
                    "tick the box that you have one and type the provider's name.")
        if problems:
            raise EndpointError(" ".join(problems))
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: object) -> Endpoint:
        """An endpoint from settings.json; unknown keys are logged and ignored, wrong types refused."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise EndpointError("The model server's settings must be a JSON object.")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            log.warning("settings: endpoint has unknown keys %s; they are ignored", unknown)
        values = {}
        defaults = cls()
        for name, value in raw.items():
            if name not in known:
                continue
            want = type(getattr(defaults, name))
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise EndpointError(f"The model server's setting '{name}' must be {want.__name__}.")
            values[name] = value.strip() if isinstance(value, str) else value
        return replace(defaults, **values)
