"""A real OpenAI-compatible server: llama.cpp's (``python -m llama_cpp.server``) with the demo model.

The openai backend streams through it, Stop closes the stream, three staff at once, the server
killed mid-stream, and ``assistant serve --engine openai`` drafting on all three endpoints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from standins import DropsFirst, LlamaServer

from assistant.core.messages import GenerationSettings, Message
from assistant.engine import demo_model, remote
from assistant.engine.engine import Engine
from assistant.engine.remote.base import RemoteError
from assistant.store.endpoint import Endpoint

pytestmark = pytest.mark.slow
ASK = [Message("system", "You are a helpful assistant."), Message("user", "Count from one to fifty in words.")]
GREEDY = GenerationSettings(max_new_tokens=48, temperature=0.0)
NOTE = "Client practiced paced breathing; anxiety 6 out of 10, down from 8. Plan: weekly sessions."


@pytest.fixture(scope="module")
def server():
    running = LlamaServer(demo_model.find_demo_gguf())
    yield running
    running.stop()


def endpoint(server: LlamaServer) -> Endpoint:
    return Endpoint(kind="openai", url=server.url, model=server.alias)


def test_a_connection_dropped_before_the_answer_is_asked_once_more(server):
    relay = DropsFirst(server.port)  # closes the first connection unanswered, like an idle keep-alive
    try:
        via = Endpoint(kind="openai", url=f"http://127.0.0.1:{relay.port}/v1", model=server.alias)
        text = "".join(remote.make(via, None).stream(ASK, GenerationSettings(max_new_tokens=8, temperature=0.0),
                                                     threading.Event()))
        assert text.strip() and relay.accepted == 2
    finally:
        relay.close()


def test_streams_through_llama_cpp_server(server):
    backend = remote.connect(endpoint(server), None)
    assert backend.reached is True
    pieces = list(backend.stream(ASK, GREEDY, threading.Event()))
    assert len(pieces) > 3 and "".join(pieces).strip(), "the answer arrives in pieces"
    words, names = remote.test_connection(endpoint(server), None)
    assert server.alias in names and "127.0.0.1" in words
    assert backend.info.sent_to.startswith("our office server at 127.0.0.1:")


def test_stop_closes_the_stream_and_the_server_is_free_again(server):
    backend = remote.connect(endpoint(server), None)
    stop = threading.Event()
    pieces = backend.stream(ASK, GenerationSettings(max_new_tokens=1500, temperature=0.0), stop)
    next(pieces), next(pieces)
    stop.set()
    started = time.monotonic()
    list(pieces)
    assert time.monotonic() - started < 1.0, "Stop returns within about a second"
    deadline = time.monotonic() + 10
    while not any("Disconnected from client" in line for line in server.output) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("Disconnected from client" in line for line in server.output), "the server stopped writing"
    text = "".join(backend.stream([Message("user", "Say hi.")], GenerationSettings(max_new_tokens=4, temperature=0),
                                  threading.Event()))
    assert text, "and it answers the next request"


def test_three_staff_at_once(server):
    engine = Engine(remote.connect(endpoint(server), None))
    results: list[str] = []
    threads = [threading.Thread(target=lambda i=i: results.append("".join(engine.stream(ASK, GREEDY, f"s{i}"))))
               for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 3 and all(r.strip() for r in results)
    assert len(set(results)) == 1, "greedy: the same answer for each"


def test_server_killed_mid_stream_is_said_plainly_and_the_app_goes_on():
    doomed = LlamaServer(demo_model.find_demo_gguf(), alias="doomed")
    try:
        engine = Engine(remote.connect(endpoint(doomed), None))
        pieces = engine.stream(ASK, GenerationSettings(max_new_tokens=1500, temperature=0.0), "s")
        next(pieces)
        doomed.proc.kill()
        with pytest.raises(RemoteError, match="stopped answering part-way|is not answering"):
            list(pieces)
        with pytest.raises(RemoteError, match="is not answering"):
            "".join(engine.stream(ASK, GREEDY, "s"))
    finally:
        doomed.stop()


def test_serve_with_engine_openai_drafts_on_all_three_endpoints(server, tmp_path: Path):
    home = tmp_path / "served"
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--no-browser", "--engine", "openai", "--engine-url", server.url,
         "--engine-model", server.alias],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        url = None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            url = url or re.match(r"URL: (http://127\.0\.0\.1:(\d+)/\?token=(\S+))$", line.strip())
            if line.startswith("The assistant is ready"):
                break
        assert url and lines[-1].startswith("The assistant is ready"), "".join(lines)
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        port, token = int(url.group(2)), url.group(3)
        headers = {"Authorization": f"Bearer {token}"}
        page = httpx.get(f"http://127.0.0.1:{port}/config", headers=headers).text
        assert f"drafts are written by our office server at 127.0.0.1:{server.port}" in page, "the status line names it"
        client = Client(f"http://127.0.0.1:{port}/", headers=headers, verbose=False)
        note = client.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
        assert note.result(timeout=180).strip()
        letter = client.submit("Jordan Sample", "04/12/1986", "XJH1", "Example Health Plan", "Alex Rivera, PT",
                               "1234567893", "Outpatient PT", "97110", "M54.50", "12 visits",
                               "Pain limits sitting to 20 minutes.", "prior-auth-initial", api_name="/draft_letter")
        assert letter.result(timeout=180).strip()
        history, _ = client.submit("Say hi.", [], "chat-general", api_name="/chat").result(timeout=120)
        assert history[-1]["role"] == "assistant" and history[-1]["content"]
        log = (home / "logs" / "assistant.log").read_text()
        assert "model server request host=127.0.0.1" in log and NOTE[:20] not in log
        audit = "".join(p.read_text() for p in (home / "audit").glob("*"))
        assert "model_server_request" in audit and NOTE[:20] not in audit
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_bench_measures_staff_at_once_against_the_server(server, assistant_home):
    from assistant.ops.bench.remote import measure_remote, render_remote
    from assistant.store.config import Config

    report = measure_remote(Config.load(), endpoint(server), staff=(1, 2), tokens=6, progress=lambda text: None)
    one, two = report["runs"]["1"], report["runs"]["2"]
    assert one["tokens"] > 0 and two["tokens"] > one["tokens"] and not one["errors"] and not two["errors"]
    assert one["first_token_median_s"] > 0 and one["vs_one_alone"] == 1.0
    assert "staff" in render_remote(report)
