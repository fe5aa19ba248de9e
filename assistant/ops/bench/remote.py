"""The remote engine measured: one, three and eight staff at once against a model server.

``assistant bench --remote URL --remote-model NAME`` measures a server that is already running;
``--remote-llamacpp`` starts llama.cpp's server on the demo model's GGUF first: the C++
``llama-server`` with ``-np 8`` (continuous batching) when ``--llama-server BIN`` names one, else
llama-cpp-python's own (``python -m llama_cpp.server``, one answer at a time). Each request is a
fictional progress note (``workloads``), greedy, through the app's own engine (``Engine`` over the
remote backend), so the figures are what staff would see. The anchor, measured in the same run, is
one staff member alone. Figures: total tokens/s over all answers (a streamed piece is one token
on llama.cpp's and vLLM's servers), first-token seconds (median and slowest), and wall seconds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from assistant.core.messages import GenerationSettings
from assistant.ops.bench.workloads import note_workload
from assistant.store.config import Config
from assistant.store.endpoint import Endpoint

STAFF = (1, 3, 8)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_llamacpp(gguf: Path, port: int, *, binary: str | None = None, parallel: int = 8,
                   threads: int | None = None, n_ctx: int = 2048, alias: str = "demo",
                   capture: bool = False) -> subprocess.Popen:
    """llama.cpp's server on ``gguf`` at 127.0.0.1:``port`` (``binary``: the C++ llama-server). llama-cpp-python's
    server by default drops the answer being written whenever another request arrives; a clinic server serves
    staff in turn instead (build/clinic-server/README.md). ``capture``: its output readable as text."""
    threads = threads or max(1, (os.cpu_count() or 2))
    if binary:
        command = [binary, "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-np", str(parallel),
                   "-c", str(n_ctx * parallel), "-t", str(threads), "--alias", alias, "--no-webui"]
    else:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
                   "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
                   "--interrupt_requests", "False", "--verbose", "False"]
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT if capture else subprocess.DEVNULL,
                            text=capture, env={**os.environ, "OMP_NUM_THREADS": str(threads)})


def wait_until_up(url: str, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url.rstrip("/") + "/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the model server did not start")


def measure_remote(config: Config, endpoint: Endpoint, key: str | None = None, *, staff: tuple[int, ...] = STAFF,
                   tokens: int = 128, progress=print) -> dict[str, Any]:  # noqa: ANN001 - Callable[[str], None]
    from assistant.engine import remote
    from assistant.engine.engine import Engine
    from assistant.security import privacy
    from assistant.store.user_presets import load_library

    privacy.allow_endpoint(*endpoint.host_port())
    library = load_library(config.paths)
    engine = Engine(remote.connect(endpoint, key))
    settings = GenerationSettings(max_new_tokens=tokens, temperature=0.0)
    "".join(engine.stream(note_workload(library, 0), settings, "warm-up"))
    report: dict[str, Any] = {"server": endpoint.where_words(), "model": endpoint.model, "tokens": tokens, "runs": {}}
    for count in staff:
        progress(f"{count} staff at once ...")
        report["runs"][str(count)] = _at_once(engine, library, settings, count)
    one_alone = report["runs"].get("1", {}).get("total_tokens_per_s")
    for run in report["runs"].values():
        run["vs_one_alone"] = round(run["total_tokens_per_s"] / one_alone, 2) if one_alone else None
    return report


def _at_once(engine: Any, library: Any, settings: GenerationSettings, count: int) -> dict[str, Any]:
    """``count`` notes sent together through the engine; their figures."""
    firsts: list[float] = []
    pieces = [0] * count
    errors: list[str] = []

    def one(index: int) -> None:
        began = time.perf_counter()
        try:
            for piece in engine.stream(note_workload(library, 1 + index), settings, f"staff-{index}"):
                if piece and not pieces[index]:
                    firsts.append(time.perf_counter() - began)
                pieces[index] += 1 if piece else 0
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(type(exc).__name__)

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"total_tokens_per_s": round(sum(pieces) / wall, 1), "wall_s": round(wall, 2), "tokens": sum(pieces),
            "first_token_median_s": round(statistics.median(firsts), 3) if firsts else None,
            "first_token_max_s": round(max(firsts), 3) if firsts else None, "errors": errors}


def render_remote(report: dict[str, Any]) -> str:
    lines = [f"Model server: {report['server']}, model {report['model']}, {report['tokens']} tokens a note, greedy",
             f"{'staff':>6}{'total t/s':>11}{'x one':>7}{'1st tok med s':>15}{'1st tok max s':>15}{'wall s':>8}"]
    for count, run in report["runs"].items():
        lines.append(f"{count:>6}{run['total_tokens_per_s']:>11.1f}{run['vs_one_alone'] or 0:>7.2f}"
                     f"{run['first_token_median_s'] or 0:>15.3f}{run['first_token_max_s'] or 0:>15.3f}"
                     f"{run['wall_s']:>8.1f}" + (f"  errors: {run['errors']}" if run["errors"] else ""))
    return "\n".join(lines)
