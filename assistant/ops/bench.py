"""The speed benchmark behind ``assistant bench [--model PATH] [--json]``.

It loads the model once and runs each kind of request several times, twice each on the same
loaded model: the baseline (plain ``model.generate``, nothing cached) and the engine (prefix cache,
lean decoding loop, batching), both greedy and exactly ``max_new_tokens`` tokens long. The kinds:
a progress note from a ~150-word description, its preset already used once; a prior-authorization
letter; a 3-turn chat (scripted assistant turns); three staff drafting at once (through ``Engine``,
against the baseline one after another); and the seconds until a real ``assistant serve
--no-browser`` answers. Plain Python: only the baseline's timing (``assistant.engine.hf.anchor``)
needs torch. Every thread it starts has ended when it returns (a thread still inside torch at
interpreter exit aborts the process). Prompts are fictional; only timings are logged.
"""

from __future__ import annotations

import http.cookiejar
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.core.documents.chat import chat_messages
from assistant.core.documents.letters import LetterRequest, letter_messages
from assistant.core.documents.notes import NoteRequest, note_messages
from assistant.core.messages import GenerationSettings, Message
from assistant.engine.engine import Engine
from assistant.store.config import Config
from assistant.store.user_presets import load_library

# Fictional session descriptions of about 150 words: the first warms the preset up, the others are measured.
DESCRIPTIONS = [
    "Individual therapy, 50 minutes, in person. Client arrived on time and said the week was mixed. She slept about "
    "six hours most nights after keeping the wind-down routine, but two nights she was up past two worrying about her "
    "mother's surgery. Rated anxiety 6 out of 10 today, 7 last week. We reviewed her thought record; she caught three "
    "all-or-nothing thoughts about work and wrote balanced alternatives for two of them. Practiced paced breathing for "
    "ten minutes; she said her shoulders felt looser afterwards. She was tearful once when talking about feeling alone "
    "at home. Denies thoughts of self-harm. Affect brighter by the end of the session, good eye contact, speech "
    "normal. Plan: continue the thought record daily, paced breathing twice a day, call her sister on Sunday as "
    "planned, next session in one week. Will revisit the sleep goal if the surgery date moves.",
    "Outpatient physical therapy, 45 minutes. Patient is a 58-year-old man eight weeks after a right total knee "
    "replacement. He reports pain 3 out of 10 at rest and 5 out of 10 on stairs, improved from 6 last week. Knee "
    "flexion measured 112 degrees actively and 118 passively; extension lacks 3 degrees. He walked 300 feet without "
    "the cane with a mild antalgic pattern that improved with cueing. Treatment: stationary bike ten minutes for "
    "warm-up, quad sets, step-ups on a 6-inch step, terminal knee extension with the band, and patellar mobilization. "
    "He tolerated the session well with no increase in swelling. Home program reviewed and progressed: step-ups added, "
    "three sets of ten daily. Goal to climb a full flight reciprocally by week ten is on track. Next visit Thursday; "
    "reassess flexion and gait then, and consider discharge planning in three weeks.",
    "Speech therapy, 30 minutes, telehealth. Child is 6 years old and working on the r sound and following two-step "
    "directions. Mother joined the call and helped with the materials. Produced initial r correctly in 14 of 20 single "
    "words with a visual cue and 9 of 20 without a cue, up from 6 of 20 last session. In short phrases accuracy "
    "dropped to about half. Followed two-step directions in 8 of 10 trials with one repetition. He stayed engaged for "
    "the whole session, though he needed a movement break after fifteen minutes. We used the picture cards and the "
    "robot game he likes. Mother practiced the cueing and said the home practice sheet is easy to use. Plan: practice "
    "r words for five minutes a day with the new card set, move to phrases when word accuracy is above 80 percent "
    "without cues, next session next Tuesday at the same time.",
    "Occupational therapy, 60 minutes. Client is a 72-year-old woman recovering from a left wrist fracture, cast "
    "removed three weeks ago. Reports stiffness in the morning and pain 4 out of 10 when opening jars. Grip strength "
    "28 pounds on the left against 46 on the right; wrist extension 45 degrees, flexion 40 degrees. Completed "
    "fluidotherapy for warm-up, active and active-assisted range of motion, putty exercises for grip and pinch, and a "
    "simulated kitchen task carrying a light pot with both hands. She needed rest breaks but finished every task. "
    "Discussed adaptive tools for jars and a built-up handle for her kitchen knife; she will try them this week. Edema "
    "minimal. Plan: continue twice weekly for four more weeks, progress putty resistance, add functional reaching "
    "tasks, and recheck grip strength and range of motion at the next visit.",
    "Group therapy, 90 minutes, six members present. Topic was managing stress at work. The client participated "
    "actively, shared an example about a conflict with a coworker, and gave supportive feedback to two other members. "
    "She practiced the assertive request script in a role play and said it felt awkward but useful. Rated her stress 5 "
    "out of 10 before group and 4 after. She mentioned sleeping better since she stopped checking email at night. No "
    "safety concerns reported or observed. Mood appeared euthymic, affect full range, thought process organized. She "
    "agreed to try the script with her supervisor this week and report back to the group. Plan: continue weekly group, "
    "individual check-in in two weeks, review the stress log she keeps on her phone, and introduce the problem-solving "
    "worksheet next session.",
]
CHAT_TURNS = [
    ("Write a short, friendly reminder text for a patient about an appointment next Tuesday at 3 pm. Ask them to "
     "call the office if they need to reschedule.",
     "Hi! This is a reminder of your appointment on Tuesday at 3 pm. If you need to reschedule, please call the "
     "office. We look forward to seeing you."),
    ("Make it a little more formal and mention that late cancellations may be charged.",
     "Dear patient, this is a reminder of your appointment on Tuesday at 3:00 pm. If you need to reschedule, please "
     "call our office at least 24 hours in advance; late cancellations may be charged."),
    ("Now write a version for a patient who prefers Spanish.", ""),
]
CHAT_OPENERS = ["next Tuesday at 3 pm", "next Monday at 10 am", "this Friday at 1 pm", "next Wednesday at 4 pm"]


def note_workload(library: Any, index: int) -> list[Message]:
    preset = library.get("daily-note", "progress_note")
    request = NoteRequest(DESCRIPTIONS[index % len(DESCRIPTIONS)], "SOAP", "Behavioral health", preset.id)
    return note_messages(preset, request)


def letter_workload(library: Any, index: int) -> list[Message]:
    preset = library.get("prior-auth-initial", "prior_auth")
    fields = {k: v for k, v in preset.example.items() if k in LetterRequest.__dataclass_fields__}
    names = ["Jordan Sample", "Casey Example", "Riley Placeholder", "Morgan Testcase", "Avery Demo"]
    fields.update(patient_name=names[index % len(names)], member_id=f"XJH12345{index:04d}",
                  justification=f"{fields.get('justification', '')} Visit {index + 1} of the request series.")
    return letter_messages(preset, LetterRequest(**fields))


def chat_workloads(library: Any, index: int) -> list[list[Message]]:
    """The three prompts of one 3-turn conversation."""
    preset = library.get("chat-general", "chat")
    opener = CHAT_OPENERS[index % len(CHAT_OPENERS)]
    history: list[dict[str, str]] = []
    prompts = []
    for user, assistant in CHAT_TURNS:
        text = user.replace("next Tuesday at 3 pm", opener)
        prompts.append(chat_messages(preset, history, text))
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": assistant}]
    return prompts


# -- measuring -----------------------------------------------------------------------------------


@dataclass(eq=False)
class TimedJob:
    """A job for ``run_batch`` that notes when each token is chosen; the text is not kept."""

    messages: list[Message]
    settings: GenerationSettings
    stop: threading.Event = field(default_factory=threading.Event)
    fixed_length: bool = True  # ignore end-of-text: exactly max_new_tokens
    times: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    error: BaseException | None = None
    ended: float = 0.0

    def emit(self, piece: str) -> None:
        pass

    def on_token(self, token: int) -> None:
        self.times.append(time.perf_counter())
        self.tokens.append(token)

    def finish(self, error: BaseException | None = None) -> None:
        if not self.ended:
            self.ended, self.error = time.perf_counter(), error


def figures(start: float, times: list[float], end: float, tokens: list[int]) -> dict[str, Any]:
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return {"first_token_s": (times[0] - start) if times else None, "tokens": len(tokens),
            "decode_tokens_per_s": decode, "draft_s": end - start, "token_ids": tokens}


def measure_engine(backend: Any, messages: list[Message], settings: GenerationSettings) -> dict[str, Any]:
    """One request through the fast path (prefix cache and all), greedy, exactly ``max_new_tokens``."""
    job = TimedJob(messages, settings)
    start = time.perf_counter()
    backend.run_batch([job], lambda room: [])
    if job.error is not None:
        raise job.error
    return figures(start, job.times, job.ended, job.tokens)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else 0.0


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"first_token_s": _median(runs, "first_token_s"), "decode_tokens_per_s": _median(runs, "decode_tokens_per_s"),
            "draft_s": _median(runs, "draft_s"), "tokens": _median(runs, "tokens"), "runs": len(runs)}


def _compare(base: list[dict[str, Any]], fast: list[dict[str, Any]]) -> dict[str, Any]:
    b, e = _summary(base), _summary(fast)
    same = sum(x["token_ids"] == y["token_ids"] for x, y in zip(base, fast, strict=True))
    return {
        "baseline": b, "engine": e,
        "first_token_ratio": round(e["first_token_s"] / b["first_token_s"], 3) if b["first_token_s"] else None,
        "decode_speedup": round(e["decode_tokens_per_s"] / b["decode_tokens_per_s"], 3) if b["decode_tokens_per_s"] else None,
        "draft_speedup": round(b["draft_s"] / e["draft_s"], 3) if e["draft_s"] else None,
        "same_tokens_as_baseline": f"{same}/{len(base)}",
    }


def measure_kind(hf: Any, backend: Any, prompts: list[list[Message]], settings: GenerationSettings,
                 warm: list[Message]) -> dict[str, Any]:
    """Baseline and engine, interleaved, over ``prompts``; ``warm`` is run first on both (not counted)."""
    runs = [(figures(*hf.measure_generate(backend, messages, settings)), measure_engine(backend, messages, settings))
            for messages in [warm, *prompts]]  # after ``warm`` the preset is "already used once"
    return _compare([base for base, _ in runs[1:]], [fast for _, fast in runs[1:]])


def measure_staff(hf: Any, backend: Any, prompts: list[list[Message]], settings: GenerationSettings) -> dict[str, Any]:
    """Several staff at once: the engine (real queue, batching) against the baseline one after another."""
    start = time.perf_counter()
    for messages in prompts:
        hf.measure_generate(backend, messages, settings)
    sequential = time.perf_counter() - start
    before = set(threading.enumerate())
    engine = Engine(backend)
    ready = threading.Barrier(len(prompts) + 1)
    finished: list[float] = []
    failures: list[str] = []

    def staff(index: int, messages: list[Message]) -> None:
        ready.wait()
        try:
            "".join(engine.stream(messages, settings, session=f"staff-{index}", kind="bench"))
        except Exception as exc:  # noqa: BLE001 - reported in the result
            failures.append(type(exc).__name__)
        finished.append(time.perf_counter())

    threads = [threading.Thread(target=staff, args=(i, m), name=f"bench-staff-{i}", daemon=True)
               for i, m in enumerate(prompts)]
    with backend.fixed_length():
        for thread in threads:
            thread.start()
        ready.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
    together = max(finished) - start
    for thread in set(threading.enumerate()) - before:  # the engine's worker too: none may stay inside torch
        thread.join(60)
    return {
        "staff": len(prompts), "baseline_one_after_another_s": round(sequential, 2),
        "engine_all_finished_s": round(together, 2), "speedup": round(sequential / together, 3) if together else None,
        "engine_each_finished_s": sorted(round(t - start, 2) for t in finished), "failures": failures,
    }


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
                               cwd=str(Path(__file__).resolve().parents[2]))
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


class _PeakMemory(threading.Thread):
    """The process's peak resident memory while the benchmark runs (sampled every 0.1 s)."""

    def __init__(self) -> None:
        import psutil

        super().__init__(name="bench-memory", daemon=True)
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> None:
        self.done.set()
        self.join()


def run_bench(
    config: Config, model: str | None = None, *, repeats: int = 3, max_new_tokens: int = 160, serve: bool = True,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every figure of the benchmark, as plain data (``render`` makes the table)."""
    from assistant.app.services import load_model
    from assistant.engine import hf

    memory, backend = _PeakMemory(), None
    try:
        library = load_library(config.paths)
        settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0)
        progress("Loading the model ...")
        start = time.perf_counter()
        backend = load_model(config, model or config.settings.model_path, progress=lambda text: None)
        load_s = time.perf_counter() - start
        hf.reset_peak_memory()
        info = backend.info
        report: dict[str, Any] = {
            "model": info.name, "device": info.device, "precision": info.precision, "load_s": round(load_s, 2),
            "max_new_tokens": max_new_tokens, "repeats": repeats, "decoding": "greedy, fixed length",
            "runtime": hf.runtime_facts(backend),
        }
        progress("Progress notes ...")
        notes = [note_workload(library, i + 1) for i in range(repeats)]
        report["note"] = measure_kind(hf, backend, notes, settings, note_workload(library, 0))
        progress("Prior-auth letters ...")
        letters = [letter_workload(library, i + 1) for i in range(repeats)]
        report["letter"] = measure_kind(hf, backend, letters, settings, letter_workload(library, 0))
        progress("3-turn chats ...")
        chats = [prompt for i in range(repeats) for prompt in chat_workloads(library, i + 1)]
        report["chat"] = measure_kind(hf, backend, chats, replace(settings, max_new_tokens=max(2, max_new_tokens // 2)),
                                      chat_workloads(library, 0)[0])
        progress("Three staff at once ...")
        report["three_staff"] = measure_staff(hf, backend, [note_workload(library, i) for i in (2, 3, 4)], settings)
        if (gpu := hf.peak_gpu_memory()) is not None:
            report["gpu"] = {"name": report["runtime"].get("gpu"), "peak_memory_mb": round(gpu / 2**20), "precision":
                             info.precision, "decode_tokens_per_s": report["note"]["engine"]["decode_tokens_per_s"]}
    finally:  # whatever happened, the sampler stops and the model's memory and threads go
        memory.stop()
        if backend is not None and hasattr(backend, "close"):
            backend.close()
    report["peak_ram_mb"] = round(memory.peak / 2**20)
    if serve:
        progress("Starting 'assistant serve' ...")
        report["serve"] = measure_serve_start(getattr(backend, "path", None))
    report["targets"] = targets(report)
    return report


def targets(report: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets, each True when met in this run (None when not measured)."""
    serve = report.get("serve", {}).get("page_answers_s")
    return {
        "note_first_token_at_most_half": (report["note"]["first_token_ratio"] or 9) <= 0.5,
        "decode_at_least_1.25x": (report["note"]["decode_speedup"] or 0) >= 1.25,
        "three_staff_at_least_2x": (report["three_staff"]["speedup"] or 0) >= 2.0,
        "page_within_3s": None if "serve" not in report else (serve is not None and serve <= 3.0),
    }


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"Model {report['model']} on {report['device']}, {report['precision']}; "
        f"threads {report['runtime'].get('threads')}; loaded in {report['load_s']} s",
        f"Greedy, {report['max_new_tokens']} tokens a draft (chat turns half), {report['repeats']} runs a kind; "
        f"peak RAM {report['peak_ram_mb']} MB" + (f"; peak GPU memory {report['gpu']['peak_memory_mb']} MB" if "gpu" in report else ""),
        "",
        f"{'':22}{'first token s':>22}{'decode tokens/s':>24}{'s a draft':>22}",
        f"{'':22}{'base':>8}{'engine':>8}{'ratio':>6}{'base':>8}{'engine':>8}{'x':>8}{'base':>8}{'engine':>8}{'x':>6}",
    ]
    for kind, label in (("note", "progress note"), ("letter", "prior-auth letter"), ("chat", "chat turn (3-turn)")):
        r = report[kind]
        b, e = r["baseline"], r["engine"]
        lines.append(
            f"{label:22}{b['first_token_s']:8.2f}{e['first_token_s']:8.2f}{r['first_token_ratio'] or 0:6.2f}"
            f"{b['decode_tokens_per_s']:8.1f}{e['decode_tokens_per_s']:8.1f}{r['decode_speedup'] or 0:8.2f}"
            f"{b['draft_s']:8.1f}{e['draft_s']:8.1f}{r['draft_speedup'] or 0:6.2f}"
        )
    s = report["three_staff"]
    lines += ["", f"Three staff at once: baseline one after another {s['baseline_one_after_another_s']} s, "
              f"engine all finished in {s['engine_all_finished_s']} s ({s['speedup']}x)"]
    if "serve" in report:
        v = report["serve"]
        lines.append(f"assistant serve: URL printed after {v['url_printed_s']} s, page answered 200 after "
                     f"{v['page_answers_s']} s (last status {v['status']})")
    lines += ["", "Targets: " + ", ".join(f"{k} {'met' if ok else 'NOT met' if ok is False else 'not measured'}"
                                          for k, ok in report["targets"].items())]
    return "\n".join(lines)
