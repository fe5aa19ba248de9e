"""The real app on a free localhost port, driven through gradio_client.

Uses the scripted fake backend so these tests are fast; test_demo_model.py
runs the same calls against the real demo model in a real `assistant serve`.
"""

from __future__ import annotations

import time

import httpx
import pytest
from gradio_client import Client

from assistant.app.services import build_services
from assistant.engine.fake import FakeBackend
from assistant.store.config import Config
from assistant.web.app import build_app
from assistant.web.server import serve

NOTE = "Client practiced paced breathing; anxiety 6 out of 10, down from 8. Plan: weekly sessions."


@pytest.fixture
def backend():
    return FakeBackend(reply=lambda msgs: "Subjective: reported. " + "more " * 400, delay=0.005)


@pytest.fixture
def server(backend):
    services = build_services(Config.load(), backend)
    running = serve(build_app(services), 0, background=True)
    yield running
    running.stop()


@pytest.fixture
def client(server):
    return Client(f"http://127.0.0.1:{server.port}/", headers={"Authorization": f"Bearer {server.token}"}, verbose=False)


def test_server_listens_on_loopback_only(server):
    import psutil

    ours = [c for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.laddr.port == server.port]
    assert ours and all(c.laddr.ip in ("127.0.0.1", "::1") for c in ours)


def test_without_token_gets_401_and_wrong_host_403(server):
    base = f"http://127.0.0.1:{server.port}"
    assert httpx.get(base + "/").status_code == 401
    assert httpx.get(base + "/config").status_code == 401
    assert httpx.get(base + "/", headers={"Host": "attacker.example", "Authorization": f"Bearer {server.token}"}).status_code == 403
    page = httpx.get(base + "/", params={"token": server.token}, follow_redirects=True)
    assert page.status_code == 200 and "Practice Assistant" in page.text


def test_draft_note_streams(client):
    job = client.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    final = job.result(timeout=60)
    assert final.startswith("Subjective: reported.")
    assert len(job.outputs()) > 2, "the draft arrives in pieces, not all at once"


def test_draft_letter_streams(client, server):
    fields = ["Jordan Sample", "04/12/1986", "XJH1", "Example Health Plan", "Alex Rivera, PT", "1234567893",
              "Outpatient PT", "97110", "M54.50", "12 visits", "Pain limits sitting to 20 minutes."]
    final = client.submit(*fields, "prior-auth-initial", api_name="/draft_letter").result(timeout=60)
    assert final.startswith("Subjective")


def test_chat_multi_turn(client, backend):
    history, box = client.submit("Write a reminder", [], "chat-general", api_name="/chat").result(timeout=60)
    assert box == "" and [m["role"] for m in history] == ["user", "assistant"]
    history, _ = client.submit("Shorter please", history, "chat-general", api_name="/chat").result(timeout=60)
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    sent = backend.calls[-1]
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize(
    "description, expected",
    [("", "empty"), ("x" * 200_000, "200,000 characters"), ("\x00\x01\x02" * 300, "does not look like text")],
)
def test_bad_input_gets_a_plain_message_and_server_keeps_serving(client, description, expected):
    with pytest.raises(Exception, match=expected):
        client.predict(description, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    assert client.predict(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")


def test_unexpected_error_shows_a_reference_not_a_traceback(client, backend):
    def boom(messages):
        raise KeyError("secret internal detail")

    backend.reply = boom
    with pytest.raises(Exception) as err:
        client.predict(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    text = str(err.value)
    assert "reference" in text and "Traceback" not in text and "secret internal detail" not in text


def test_cancel_stops_the_model_and_frees_the_queue(client, backend):
    backend.delay = 0.02
    job = client.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    while len(job.outputs()) < 2:
        time.sleep(0.02)
    job.cancel()
    started = time.monotonic()
    backend.delay = 0.0
    backend.reply = "quick answer"
    result = client.predict(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    assert result == "quick answer"
    assert time.monotonic() - started < 3
    assert backend.stopped[0] is True


def test_two_staff_share_one_model_queue(server, backend):
    backend.delay = 0.002
    clients = [
        Client(f"http://127.0.0.1:{server.port}/", headers={"Authorization": f"Bearer {server.token}"}, verbose=False)
        for _ in range(2)
    ]
    jobs = [c.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note") for c in clients]
    results = [j.result(timeout=60) for j in jobs]
    assert all(r.startswith("Subjective") for r in results)
    assert len(backend.calls) == 2


def test_no_prompt_text_in_logs_or_temp_files(client, assistant_home):
    secret = "Zanzibar-Quokka-7731"
    client.predict(f"{NOTE} Patient codename {secret}.", "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    for path in assistant_home.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert secret.encode() not in path.read_bytes(), path
