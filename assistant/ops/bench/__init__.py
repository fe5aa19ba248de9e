"""The speed benchmark behind ``assistant bench [--json] [--models demo,synthetic-1b] [--quick]``.

For each model (``demo``: the built-in model's own GGUF and its safetensors copy; ``synthetic-1b``:
a random Llama at 1B size, see ``models``) and each engine (``app``, ``llamacpp_raw``,
``transformers``, see ``engines``), the benchmark starts itself again in a child process
(``assistant bench --child SPEC``) that loads that one engine, measures it and prints its figures as
JSON, so each engine's peak memory is its own. Then, optionally, the seconds until a real
``assistant serve`` answers. The report::

    {"machine": {...}, "models": {"demo": {"app": {...}, "llamacpp_raw": {...}, "transformers": {...}},
     "synthetic-1b": {...}}, "prompt_lookup": {"decode_speedup": X, "identical": true}, "targets": {...}}

Parts: ``workloads`` (fictional requests), ``models`` (preparing the models once), ``engines``
(the measurements, in the child), ``timing`` (timed streams, peak memory, and the transformers
fast path's ``TimedJob``/``measure_engine``), ``serve`` (``measure_serve_start``).
Prompts are fictional; only timings and sizes are reported or logged.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.ops.bench.serve import measure_serve_start
from assistant.ops.bench.timing import TimedJob, figures, measure_engine
from assistant.store.config import Config
from assistant.store.resources import SOURCE_ROOT, is_frozen

MODELS = ("demo", "synthetic-1b")
ENGINES = ("app", "llamacpp_raw", "transformers")
QUICK = {"tokens": 8, "repeats": 1, "cap": 8, "lookup_tokens": 16, "whole": False}
__all__ = ["TimedJob", "figures", "measure_engine", "measure_serve_start", "render", "run_bench", "run_child",
           "targets"]


def machine() -> dict[str, Any]:
    import psutil

    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {"processor": platform.processor() or platform.machine(), "system": platform.platform(terse=True),
            "cores": psutil.cpu_count(logical=False), "logical_cpus": os.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "llama_cpp_python": version("llama-cpp-python"), "torch": version("torch"),
            "transformers": version("transformers")}


def _child_command(spec: dict[str, Any]) -> list[str]:
    program = [sys.executable] if is_frozen() else [sys.executable, "-m", "assistant"]
    return [*program, "bench", "--child", json.dumps(spec)]


def run_child(spec: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """One engine on one model in its own process; its figures, or ``{"error": ...}``."""
    try:
        done = subprocess.run(_child_command(spec), capture_output=True, text=True, timeout=timeout,
                              cwd=None if is_frozen() else str(SOURCE_ROOT), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    last = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or [""])[-1]
    return {"error": f"exit {done.returncode}: {last[:300]}"}


def run_bench(config: Config, *, models: tuple[str, ...] = MODELS, quick: bool = False, tokens: int = 128,
              repeats: int = 2, serve: bool = True, cache: Path | None = None,
              progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Every figure of the benchmark, as plain data (``render`` makes the table)."""
    from assistant.ops.bench.models import prepare

    cache = Path(cache) if cache else config.paths.root / "bench-cache"
    options = {"tokens": tokens, "repeats": repeats, "cap": None, "lookup_tokens": 256, "whole": True}
    if quick:
        options.update(QUICK)
    progress("Preparing the models ...")
    prepared = prepare(list(models), cache, config.paths.demo_model, progress)
    report: dict[str, Any] = {"machine": machine(), "options": {**options, "quick": quick, "decoding": "greedy"},
                              "models": {}}
    for name in models:
        report["models"][name] = {}
        for engine in ENGINES:
            progress(f"{name}: {engine} ...")
            spec = {"model": name, "engine": engine, **prepared[name], **options,
                    "prompt_lookup": name == "demo" and engine == "app"}
            report["models"][name][engine] = run_child(spec)
    demo_app = report["models"].get("demo", {}).get("app", {})
    report["prompt_lookup"] = demo_app.pop("prompt_lookup", None) or {"decode_speedup": None, "identical": None}
    if serve:
        progress("Starting 'assistant serve' ...")
        report["serve"] = measure_serve_start(None)
    report["targets"] = targets(report)
    return report


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets: the value measured in this run, the target, and whether it is met."""
    out: dict[str, dict[str, Any]] = {}

    def check(name: str, value: float | bool | None, target: float, at_most: bool = False) -> None:
        met = None if value is None else (value <= target if at_most else value >= target)
        out[name] = {"value": value, "target": f"{'<=' if at_most else '>='} {target}", "met": met}

    for model, engines in report["models"].items():
        app, raw, hf = engines.get("app", {}), engines.get("llamacpp_raw", {}), engines.get("transformers", {})
        check(f"{model}: app decoding / raw", _ratio(app.get("decode_tokens_per_s"), raw.get("decode_tokens_per_s")), 0.9)
        check(f"{model}: app first token / raw", _ratio(app.get("first_token_s"), raw.get("first_token_s")), 0.3, True)
        if model == "synthetic-1b":
            check(f"{model}: app decoding / transformers",
                  _ratio(app.get("decode_tokens_per_s"), hf.get("decode_tokens_per_s")), 3.0)
            check(f"{model}: app peak RSS (MB)", app.get("peak_rss_mb"), 1536, True)
        if model == "demo":
            check("demo: app note one section at a time (s)", app.get("note_s"), 15.0, True)
            check("demo: app load (s)", app.get("load_s"), 3.0, True)
    lookup = report.get("prompt_lookup") or {}
    if lookup.get("decode_speedup") is not None:
        check("prompt lookup: decoding speedup", lookup["decode_speedup"], 1.3)
        out["prompt lookup: identical greedy text"] = {"value": lookup.get("identical"), "target": "true",
                                                       "met": bool(lookup.get("identical"))}
    if "serve" in report:
        check("serve: page answers (s)", report["serve"].get("page_answers_s"), 3.0, True)
    return out


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    m = report["machine"]
    lines = [f"{m['processor']}, {m['cores']} cores, {m['ram_gb']} GB RAM; {m['system']}; llama-cpp-python "
             f"{m['llama_cpp_python']}, torch {m['torch']}",
             f"Greedy; {report['options']['tokens']} tokens a measured request, "
             f"{report['options']['repeats']} runs (medians)", "",
             f"{'model':14}{'engine':14}{'load s':>8}{'1st tok s':>10}{'decode t/s':>11}{'note s':>8}"
             f"{'whole s':>9}{'peak MB':>9}"]
    for model, engines in report["models"].items():
        for engine, r in engines.items():
            if "error" in r:
                lines.append(f"{model:14}{engine:14}  failed: {r['error']}")
                continue

            def cell(key: str, width: int, digits: int = 2, r: dict[str, Any] = r) -> str:
                value = r.get(key)
                return f"{value:{width}.{digits}f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"

            lines.append(f"{model:14}{engine:14}{cell('load_s', 8)}{cell('first_token_s', 10, 3)}"
                         f"{cell('decode_tokens_per_s', 11, 1)}{cell('note_s', 8, 1)}{cell('note_whole_s', 9, 1)}"
                         f"{cell('peak_rss_mb', 9, 0)}")
    pl = report["prompt_lookup"]
    lines += ["", f"Prompt lookup on a note: decoding {pl.get('decode_speedup')}x, identical text: {pl.get('identical')}"]
    if "serve" in report:
        v = report["serve"]
        lines.append(f"assistant serve: URL printed after {v['url_printed_s']} s, page answered 200 after "
                     f"{v['page_answers_s']} s (last status {v['status']})")
    lines += ["", "Targets:"] + [f"  {name}: {t['value']} (target {t['target']}) "
                                 f"{'met' if t['met'] else 'NOT met' if t['met'] is False else 'not measured'}"
                                 for name, t in report["targets"].items()]
    return "\n".join(lines)
