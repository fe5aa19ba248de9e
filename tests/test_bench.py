"""``assistant bench``: the quick run measures the three engines on the real demo model, each in its
own process, and prints the JSON shape scripts read; the synthetic 1B model is built at the size
the issue names; the targets are computed from the figures; the serve timing polls a started
process until its page answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assistant import cli
from assistant.engine.llamacpp.convert import _safetensors_params
from assistant.ops import bench
from assistant.ops.bench import models

FIVE = ("first_token_s", "decode_tokens_per_s", "note_s", "load_s", "peak_rss_mb")


@pytest.mark.slow
def test_quick_bench_measures_three_engines_on_the_demo_model(demo_model_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ASSISTANT_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "bench", "--json", "--models", "demo", "--quick", "--no-serve",
         "--cache", str(demo_model_dir.parent)],
        capture_output=True, text=True, env=env, timeout=600, cwd=Path(__file__).resolve().parent.parent)
    assert "terminate called" not in done.stderr
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert set(report["models"]) == {"demo"}
    engines = report["models"]["demo"]
    assert set(engines) == {"app", "llamacpp_raw", "transformers"}
    for name, figures in engines.items():
        assert "error" not in figures, (name, figures)
        for key in FIVE:
            assert figures[key] > 0, (name, key, figures)
        assert figures["tokens"] == 8 or name == "transformers"  # the demo may end a short answer early
    assert engines["app"]["precision"].startswith("Q4_1 GGUF")  # the demo's own file: no conversion
    assert engines["transformers"]["precision"] == "bfloat16"
    assert engines["app"]["states_restored"] >= 1  # the note came back after a chat from a saved state
    lookup = report["prompt_lookup"]
    assert lookup["identical"] is True and lookup["decode_speedup"] > 0 and lookup["tokens"] > 0
    assert "demo: app decoding / raw" in report["targets"] and "serve" not in report
    table = bench.render(report)
    assert "llamacpp_raw" in table and "Targets:" in table


def test_an_unknown_model_is_refused_in_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--models", "gpt-9", "--no-serve"]) == 2
    assert "unknown model gpt-9" in capsys.readouterr().out


def test_the_synthetic_model_has_the_1b_shape_and_valid_safetensors(tmp_path: Path) -> None:
    config = {**models.SYNTHETIC, "vocab_size": 49152}
    params = sum(int(__import__("math").prod(shape)) for _, shape, _ in models._tensors(config))
    assert 1.0e9 < params < 1.1e9  # Llama-3.2-1B's layers with the demo tokenizer's vocabulary
    small = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128, "vocab_size": 300}
    tensors = models._tensors(small)
    path = tmp_path / "model.safetensors"
    models._write_safetensors(path, tensors)
    assert _safetensors_params(path, tmp_path) == sum(int(__import__("math").prod(s)) for _, s, _ in tensors)
    header = json.loads(path.read_bytes()[8:8 + int.from_bytes(path.read_bytes()[:8], "little")])
    assert header["model.layers.1.self_attn.k_proj.weight"] == {"dtype": "BF16", "shape": [32, 64],
                                                                "data_offsets": header["model.layers.1.self_attn.k_proj.weight"]["data_offsets"]}
    norm = header["model.norm.weight"]["data_offsets"]
    data = path.read_bytes()[8 + int.from_bytes(path.read_bytes()[:8], "little"):]
    assert data[norm[0]:norm[1]] == b"\x80\x3f" * 64  # bf16 1.0 for the norms


def test_targets_are_ratios_of_the_same_run() -> None:
    report = {"models": {"synthetic-1b": {
        "app": {"decode_tokens_per_s": 20.0, "first_token_s": 0.1, "peak_rss_mb": 1200},
        "llamacpp_raw": {"decode_tokens_per_s": 20.0, "first_token_s": 1.0},
        "transformers": {"decode_tokens_per_s": 5.0}}},
        "prompt_lookup": {"decode_speedup": 1.2, "identical": True}}
    found = bench.targets(report)
    assert found["synthetic-1b: app decoding / raw"] == {"value": 1.0, "target": ">= 0.9", "met": True}
    assert found["synthetic-1b: app first token / raw"]["met"] is True
    assert found["synthetic-1b: app decoding / transformers"]["value"] == 4.0
    assert found["synthetic-1b: app peak RSS (MB)"]["met"] is True
    assert found["prompt lookup: decoding speedup"]["met"] is False


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
