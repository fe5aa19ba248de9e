"""The seconds until a real ``assistant serve --no-browser`` answers: the launch printed its URL,
and the page at that URL answers 200 (the launch token sets a cookie and redirects)."""

from __future__ import annotations

import http.cookiejar
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any


def measure_serve_start(model: Path | None, timeout: float = 180.0, command: list[str] | None = None) -> dict[str, Any]:
    """Start ``assistant serve --no-browser`` (or ``command``) in a scratch data folder and time until
    the URL it prints answers 200 (the launch token sets a cookie and redirects; cookies are kept)."""
    home = tempfile.mkdtemp(prefix="assistant-bench-")
    if command is None:
        command = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "assistant"]
        command += ["serve", "--no-browser"] + (["--model", str(model)] if model else [])
    env = {**os.environ, "ASSISTANT_HOME": home, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=str(Path(__file__).resolve().parents[3]))
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)],  # type: ignore[union-attr, func-returns-value]
                              name="serve-output", daemon=True)
    reader.start()
    result: dict[str, Any] = {"url_printed_s": None, "page_answers_s": None, "status": None}
    try:
        url = None
        while url is None and time.perf_counter() - start < timeout:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                result["status"] = f"exited with {process.wait()}"
                return result
            if line.startswith("URL: "):
                url = line[5:].strip()
                result["url_printed_s"] = round(time.perf_counter() - start, 2)
        if url is None:
            result["status"] = "no URL within the time limit"
            return result
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        while time.perf_counter() - start < timeout:
            try:
                with opener.open(url, timeout=5) as answer:
                    result["status"] = answer.status
                    if answer.status == 200:
                        result["page_answers_s"] = round(time.perf_counter() - start, 2)
                        return result
            except OSError as exc:
                result["status"] = type(exc).__name__
            time.sleep(0.05)
        return result
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        reader.join(5)  # its output ends with the process
