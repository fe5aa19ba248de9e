"""The real built-in demo model: converted from its GGUF, loaded, generating,
and served by a real `assistant serve --no-browser` process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest
from gradio_client import Client

from assistant.core.messages import GenerationSettings, Message
from assistant.engine import choice

pytestmark = pytest.mark.slow

NOTE = "50 minute session. Client practiced paced breathing, rated anxiety 6 out of 10. Plan: weekly."


def test_demo_model_generates(demo_model_dir: Path):
    from assistant.engine.hf import TransformersBackend

    backend = TransformersBackend.load(demo_model_dir, is_demo=True)
    assert backend.info.is_demo and backend.info.context_window == 8192
    assert "processor" in backend.info.device
    stop = threading.Event()
    messages = [Message("system", "You are brief."), Message("user", "Say hello to the clinic staff.")]
    text = "".join(backend.stream(messages, GenerationSettings(max_new_tokens=24, temperature=0), stop))
    assert text.strip()


def test_demo_model_in_4bit_on_cpu(demo_model_dir: Path):
    from assistant.engine.hf import TransformersBackend

    backend = TransformersBackend.load(demo_model_dir, cpu_precision="4bit", is_demo=True)
    assert "4-bit NF4" in backend.info.precision
    assert any(type(m).__name__ == "Linear4bit" for m in backend.model.modules())
    messages = [Message("user", "Name one color.")]
    text = "".join(backend.stream(messages, GenerationSettings(max_new_tokens=12, temperature=0), threading.Event()))
    assert text.strip()


@pytest.fixture
def served(seeded_home: Path):
    env = {**os.environ, "ASSISTANT_HOME": str(seeded_home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    url = None
    lines = []
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.match(r"URL: (http://127\.0\.0\.1:(\d+)/\?token=(\S+))$", line.strip())
        if match:
            url = match
            break
    assert url, "no URL line:\n" + "".join(lines)
    # The page answers at once; the model loads behind it. Wait until it is ready.
    while time.monotonic() < deadline and not (lines and lines[-1].startswith("The assistant is ready")):
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    assert lines[-1].startswith("The assistant is ready"), "the model did not load:\n" + "".join(lines)
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # keep the pipe drained
    proc.console = lines  # everything it printed: what a terminal, or a desktop session's log, would keep
    yield proc, int(url.group(2)), url.group(3)
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_streams_with_demo_model_and_stop_is_prompt(served, seeded_home: Path):
    proc, port, token = served
    listening = [c for c in psutil.Process(proc.pid).net_connections("inet") if c.status == "LISTEN"]
    assert listening and all(c.laddr.ip in ("127.0.0.1", "::1") for c in listening)

    client = Client(f"http://127.0.0.1:{port}/", headers={"Authorization": f"Bearer {token}"}, verbose=False)
    job = client.submit(NOTE, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    deadline = time.monotonic() + 120
    while len(job.outputs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.outputs() and job.outputs()[-1].strip(), "the note streams in"
    job.cancel()
    cancelled_at = time.time()
    # The model really stopped: the engine logs the end of the note's generation.
    log_file = seeded_home / "logs" / "assistant.log"
    if not choice.nvidia_gpus():  # no NVIDIA GPU: the demo runs from its own GGUF file on llama.cpp, unconverted
        assert "model loaded engine=llama.cpp name=SmolLM2-135M-Instruct.Q4_1" in log_file.read_text()
    ended = None
    while ended is None and time.time() - cancelled_at < 30:
        found = re.search(r"^(\S+ \S+) INFO assistant.engine.engine: generation kind=progress_note outcome=(\w+)",
                          log_file.read_text(), re.M)
        if found:
            ended = found
        time.sleep(0.05)
    assert ended and ended.group(2) in ("closed", "stopped")
    ended_at = datetime.strptime(ended.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    print(f"model stopped {ended_at - cancelled_at:.2f}s after cancel")
    assert ended_at - cancelled_at < 3, "Stop should end the generation within about a second"
    history, _ = client.submit("Say hi.", [], "chat-general", api_name="/chat").result(timeout=120)
    assert history[-1]["role"] == "assistant"

    letter = client.submit(
        "Jordan Sample", "04/12/1986", "XJH1", "Example Health Plan", "Alex Rivera, PT", "1234567893",
        "Outpatient PT", "97110", "M54.50", "12 visits", "Pain limits sitting to 20 minutes.",
        "prior-auth-initial", api_name="/draft_letter",
    )
    deadline = time.monotonic() + 120
    while len(letter.outputs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert letter.outputs()[-1].strip()
    letter.cancel()


def test_no_patient_text_in_console_logs_or_files_even_when_requests_go_wrong(served, seeded_home: Path):
    """A real server: a note, an over-long paste, a forged and a malformed request, all carrying a
    made-up patient detail; afterwards it is nowhere in the console output or the data folder."""
    import httpx

    proc, port, token = served
    secret = "Zanzibar-Quokka-7731"
    auth = {"Authorization": f"Bearer {token}"}
    client = Client(f"http://127.0.0.1:{port}/", headers=auth, verbose=False)
    job = client.submit(f"{NOTE} Patient codename {secret}.", "SOAP", "Behavioral health", "daily-note",
                        api_name="/draft_note")
    deadline = time.monotonic() + 180
    while len(job.outputs()) < 3 and not job.done() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.outputs() and job.outputs()[-1].strip(), "the note streams in"
    job.cancel()  # a few pieces are enough: the canary was in the prompt
    with pytest.raises(Exception, match="too long|shorten|characters"):
        client.predict(f"{secret} " * 20_000, "SOAP", "Behavioral health", "daily-note", api_name="/draft_note")
    base = f"http://127.0.0.1:{port}/gradio_api"
    forged = httpx.post(f"{base}/queue/join", headers=auth, timeout=30,
                        json={"data": [secret], "fn_index": 9999, "session_hash": "forged1234"})
    malformed = httpx.post(f"{base}/queue/join", headers={**auth, "Content-Type": "application/json"}, timeout=30,
                           content=f'{{"data": ["{secret}", '.encode())
    assert forged.status_code >= 400 and malformed.status_code >= 400
    assert secret not in forged.text + malformed.text
    assert httpx.get(f"http://127.0.0.1:{port}/", headers=auth, timeout=30).status_code == 200  # still serving
    proc.terminate()
    proc.wait(timeout=30)
    time.sleep(0.5)  # the reader thread takes the last lines
    console = "".join(proc.console)
    assert "URL: http://127.0.0.1" in console and "The assistant is ready" in console, console[-3000:]
    # Stopped by the system (SIGTERM, as at log-out): it still cleans up and says so.
    assert proc.returncode == 0 and "The assistant has stopped." in console, console[-3000:]
    assert not any((seeded_home / "tmp").iterdir()), "temporary files are emptied at exit"
    assert '"event": "app_stopped"' in (seeded_home / "audit" / "audit.jsonl").read_text()
    assert secret not in console, console[-3000:]
    # The forged request's failure went to the log as a type and a place, not a traceback on screen.
    log_text = (seeded_home / "logs" / "assistant.log").read_text()
    assert "Traceback" not in console + log_text, console[-3000:]
    assert "KeyError at " in log_text
    for path in seeded_home.rglob("*"):
        if path.is_file() and "models" not in path.relative_to(seeded_home).parts:
            assert secret.encode() not in path.read_bytes(), path
