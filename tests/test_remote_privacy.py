"""With a model server configured: the egress guard lets exactly that host and port through, keys
live only in the key store, and a cloud cannot be chosen without the BAA acknowledgement."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from standins import WORDS, StandIn, State, free_port, ollama_app

from assistant.app import endpoints
from assistant.app.services import build_services
from assistant.core.messages import GenerationSettings, Message
from assistant.engine.fake import FakeBackend
from assistant.errors import AssistantError
from assistant.store import secrets
from assistant.store.config import Config
from assistant.store.endpoint import KEY_NAME, Endpoint, EndpointError

GUARD = r"""
import socket, sys
from assistant.errors import NetworkRefused
from assistant.security import privacy
privacy.lockdown()
privacy.allow_endpoint("10.255.255.1", 8000)
def attempt(host, port):
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.connect((host, port))
        return "let through"  # the guard let it pass (this sandbox may answer anything)
    except NetworkRefused:
        return "blocked"
    except OSError:
        return "let through"
    finally:
        s.close()
print(attempt("10.255.255.1", 8000), attempt("10.255.255.1", 8001), attempt("10.255.255.2", 8000),
      attempt("93.184.215.14", 443), len(privacy.blocked_attempts()))
privacy.allow_endpoint(None)
print(attempt("10.255.255.1", 8000), len(privacy.blocked_attempts()))
"""


def test_the_guard_lets_only_the_configured_host_and_port_through():
    out = subprocess.run([sys.executable, "-c", GUARD], capture_output=True, text=True, timeout=60, check=True)
    first, second = out.stdout.splitlines()
    assert first.split() == ["let", "through", "blocked", "blocked", "blocked", "3"], out.stdout
    assert second.split() == ["blocked", "4"], "with the server removed, nothing goes out again"


def test_a_cloud_cannot_be_saved_without_the_baa(assistant_home):
    services = build_services(Config.load(), FakeBackend())
    azure = Endpoint(kind="azure", url="https://practice.openai.azure.com", model="notes")
    with pytest.raises(EndpointError, match="signed Business Associate Agreement"):
        endpoints.use_endpoint(services, azure, "key-1")
    assert Config.load().settings.endpoint == {}, "nothing was saved"
    assert secrets.load_secret(assistant_home, KEY_NAME, use_keyring=False) is None


def test_the_key_is_kept_apart_and_appears_nowhere_else(assistant_home, monkeypatch):
    monkeypatch.setattr(secrets, "keyring_backend", lambda: None)  # no key store here: the 0600 file
    state = State()
    key = "sk-clinic-" + "7" * 24
    with StandIn(ollama_app(state, {"llama3.2:latest": 8192})) as server:
        config = Config.load()
        services = build_services(config, FakeBackend())
        chosen = Endpoint(kind="ollama", url=server.url, model="llama3.2:latest")
        words, _ = endpoints.test(services, chosen, key)
        assert "llama3.2:latest" in words
        endpoints.use_endpoint(services, chosen, key, user="admin")
        assert services.model.sent_to == f"Ollama at 127.0.0.1:{server.port}"
        text = "".join(services.engine.stream([Message("user", "Hello")], GenerationSettings(max_new_tokens=16)))
        assert text == "".join(WORDS)
        assert state.requests[-1]["headers"]["authorization"] == f"Bearer {key}"
    key_file = assistant_home / "keys" / f"{KEY_NAME}.key"
    assert key_file.read_text() == key and (key_file.stat().st_mode & 0o777) == 0o600
    saved = json.loads((assistant_home / "settings.json").read_text())
    assert saved["endpoint"]["kind"] == "ollama" and key not in json.dumps(saved)
    from assistant.ops.support import make_bundle

    make_bundle(Config.load(), assistant_home / "bundle.zip", report={})
    with zipfile.ZipFile(assistant_home / "bundle.zip") as bundle:
        assert not any(key in bundle.read(name).decode("utf-8", "replace") for name in bundle.namelist())
    for path in assistant_home.rglob("*"):
        if path.is_file() and path != key_file and path.suffix != ".zip":
            assert key.encode() not in path.read_bytes(), f"the key leaked into {path}"
    audit = "".join(p.read_text() for p in (assistant_home / "audit").glob("*"))
    assert "model runs on: ollama 127.0.0.1" in audit and "model_server_request" in audit


def test_fallback_writes_here_when_the_server_cannot_be_reached(assistant_home, monkeypatch):
    from assistant.app import services as services_module

    local = FakeBackend(reply=lambda msgs: "Written on this computer.")
    monkeypatch.setattr(services_module, "load_here", lambda *args, **kwargs: local)
    config = Config.load()
    config.settings.endpoint = Endpoint(kind="openai", url=f"http://127.0.0.1:{free_port()}/v1", model="m",
                                        fallback_local=True).to_dict()
    backend = services_module.load_model(config, None)
    assert backend.info.sent_to and not backend.info.notice
    text = "".join(backend.stream([Message("user", "Hi")], GenerationSettings(max_new_tokens=16), threading.Event()))
    assert text == "Written on this computer."
    assert "could not be reached, so drafts are being written on this computer" in backend.info.notice
    assert backend.info.sent_to == "", "the status line no longer says the text goes to the server"


def test_without_fallback_a_down_server_is_said_plainly(assistant_home):
    from assistant.app.services import load_model

    config = Config.load()
    config.settings.endpoint = Endpoint(kind="openai", url=f"http://127.0.0.1:{free_port()}/v1", model="m").to_dict()
    backend = load_model(config, None)
    with pytest.raises(AssistantError, match="is not answering"):
        "".join(backend.stream([Message("user", "Hi")], GenerationSettings(max_new_tokens=8), threading.Event()))


def test_serve_refuses_a_cloud_without_the_baa_and_never_takes_a_key_as_an_argument(tmp_path: Path):
    run = subprocess.run([sys.executable, "-m", "assistant", "serve", "--no-browser", "--engine", "azure",
                          "--engine-url", "https://practice.openai.azure.com", "--engine-model", "notes"],
                         capture_output=True, text=True, timeout=60, env={**__import__("os").environ,
                                                                          "ASSISTANT_HOME": str(tmp_path)})
    assert run.returncode == 2 and "Business Associate Agreement" in run.stdout and "Traceback" not in run.stderr
    helped = subprocess.run([sys.executable, "-m", "assistant", "serve", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert "--engine-key-file" in helped.stdout and "--engine-key " not in helped.stdout


def test_the_clinic_server_vendor_example_is_a_valid_vendor_file(assistant_home):
    from assistant.install import vendor

    example = Path(__file__).resolve().parent.parent / "build" / "clinic-server" / "vendor-settings.example.json"
    setup = vendor.parse(json.loads(example.read_text()), str(example))
    assert setup.locked == ["endpoint"] and setup.settings["endpoint"]["kind"] == "openai"
    with pytest.raises(vendor.VendorError, match="settings.endpoint: .*Business Associate Agreement"):
        vendor.parse({"settings": {"endpoint": {"kind": "bedrock", "region": "us-east-1", "model": "m"}}}, "v.json")
