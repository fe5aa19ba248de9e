"""``assistant bench``: it runs end to end on a tiny model, reports every figure, and its
serve timing polls a started process until the page answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from tiny_models import build_tiny_model  # tests/ is on sys.path (no __init__.py)

from assistant import cli
from assistant.ops import bench
from assistant.store.config import Config

FIGURES = ("first_token_s", "decode_tokens_per_s", "draft_s", "tokens", "runs")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Llama 3.1's tiny model: 8192 positions, room for a real preset's prompt in its small vocabulary.
    return build_tiny_model(tmp_path_factory.mktemp("bench") / "tiny-llama31", "llama3.1")


def test_bench_runs_on_a_tiny_model_and_reports_every_figure(tiny: Path) -> None:
    before = set(threading.enumerate())
    report = bench.run_bench(Config.load(), str(tiny), repeats=1, max_new_tokens=4, serve=False,
                             progress=lambda text: None)
    assert report["model"] == "tiny-llama31" and report["device"] and report["precision"]
    assert report["load_s"] > 0 and report["peak_ram_mb"] > 0
    assert report["runtime"]["fast_path"] and report["runtime"]["threads"] >= 1
    for kind in ("note", "letter", "chat"):
        result = report[kind]
        for side in ("baseline", "engine"):
            assert set(FIGURES) <= set(result[side])
            assert result[side]["first_token_s"] > 0 and result[side]["draft_s"] > 0
            assert result[side]["tokens"] == (4 if kind != "chat" else 2)  # chat turns: half a draft
        assert result["first_token_ratio"] > 0 and result["decode_speedup"] > 0 and result["draft_speedup"] > 0
    assert report["chat"]["baseline"]["runs"] == 3  # one conversation of three turns
    staff = report["three_staff"]
    assert staff["staff"] == 3 and staff["failures"] == [] and len(staff["engine_each_finished_s"]) == 3
    assert staff["speedup"] > 0
    assert set(report["targets"]) == {"note_first_token_at_most_half", "decode_at_least_1.25x",
                                      "three_staff_at_least_2x", "page_within_3s"}
    assert report["targets"]["page_within_3s"] is None  # not measured here
    table = bench.render(report)
    assert "progress note" in table and "Three staff at once" in table and "Targets:" in table
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads still running after the benchmark: {left}"


def test_cli_bench_prints_json(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["bench", "--model", str(tiny), "--json", "--repeats", "1", "--tokens", "3", "--no-serve"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_new_tokens"] == 3 and "serve" not in report
    assert report["note"]["engine"]["tokens"] == 3


def test_cli_bench_exits_cleanly(tiny: Path, tmp_path: Path) -> None:
    """A 1B model's benchmark printed its JSON and then aborted ("terminate called without an active
    exception", exit 134): a thread still inside torch at interpreter exit. Every thread is ended first."""
    env = {**os.environ, "ASSISTANT_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "bench", "--model", str(tiny), "--json", "--repeats", "1", "--tokens", "3",
         "--no-serve"], capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert "terminate called" not in done.stderr
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["model"] == "tiny-llama31"


def test_serve_timing_polls_the_printed_url_until_it_answers(tmp_path: Path) -> None:
    """A stand-in server: prints its URL at once, answers 503 for a while, then 200."""
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent("""
        import http.server, socketserver, time
        start = time.monotonic()
        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if time.monotonic() - start > 0.6 else 503)
                self.end_headers()
                self.wfile.write(b"ok")
            def log_message(self, *args):
                pass
        with socketserver.TCPServer(("127.0.0.1", 0), Page) as server:
            print(f"URL: http://127.0.0.1:{server.server_address[1]}/?token=abc", flush=True)
            server.serve_forever()
    """))
    result = bench.measure_serve_start(None, timeout=30, command=[sys.executable, str(script)])
    assert result["status"] == 200
    assert result["url_printed_s"] is not None and result["page_answers_s"] >= 0.6


def test_serve_timing_reports_a_process_that_never_serves(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("print('Problem: no model')\nraise SystemExit(2)\n")
    result = bench.measure_serve_start(None, timeout=30, command=[sys.executable, str(script)])
    assert result["page_answers_s"] is None and result["status"] == "exited with 2"
