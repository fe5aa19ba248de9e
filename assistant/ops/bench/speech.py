"""``assistant bench --speech``: the installed speech model on clinical passages spoken by espeak-ng (numbers, drug
names, durations): how many times faster than real time, the word error rate, the first words after a 30-second
recording ends, and the peak memory; beside faster-whisper's own defaults (the anchor) in the same run."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.store.config import Config

PASSAGES = (
    "The client reports sleeping about six hours most nights, up from four. Anxiety was rated six out of ten, down "
    "from eight. She practiced paced breathing twice a day and the thought record three times this week.",
    "The patient walked one hundred fifty feet with a rolling walker and contact guard assistance. Knee flexion "
    "improved to one hundred ten degrees. Plan: continue physical therapy twice a week for four weeks.",
    "He takes sertraline fifty milligrams every morning and trazodone at night. He denies suicidal ideation. Mood "
    "is better and he returned to work on Monday.",
    "Swallowing evaluation: no coughing with thin liquids by cup. She needed two cues to use the chin tuck. "
    "Recommend a soft diet and speech therapy three times a week for two weeks.",
    "Grip strength was twenty two pounds on the right and thirty pounds on the left. Dressing required minimal "
    "assistance. The home exercise program was reviewed for fifteen minutes.",
)
_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spoken(number: int) -> str:
    if number < 20:
        return _ONES[number]
    if number < 100:
        return _TENS[number // 10] + ("" if number % 10 == 0 else " " + _ONES[number % 10])
    if number < 1000:
        rest = number % 100
        return _ONES[number // 100] + " hundred" + ("" if rest == 0 else " " + spoken(rest))
    return str(number)


def normal(text: str) -> str:
    """Lower case, digits spelled out, punctuation gone: "150 ft." and "one hundred fifty feet" compare as words."""
    text = re.sub(r"(\d+)%", r"\1 percent", text.lower())
    text = re.sub(r"\d+", lambda m: f" {spoken(int(m[0]))} ", text.replace(",", ""))
    return " ".join(re.sub(r"[^a-z' ]", " ", text).split())


def _speak(text: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True, timeout=60)
    return path


class _Peak:
    """The process's largest resident memory while it runs (sampled every 50 ms)."""

    def __init__(self) -> None:
        import psutil

        self.proc, self.peak, self._done = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


def measure_speech(config: Config, folder: Path | None = None, progress=print) -> dict[str, Any]:  # noqa: ANN001
    import jiwer

    from assistant.engine.speech.audio import decode
    from assistant.engine.speech.demo import NAME, find_demo_speech
    from assistant.engine.speech.raw import raw_transcribe
    from assistant.engine.speech.whisper import SpeechModel

    if shutil.which("espeak-ng") is None:
        raise InputError("The speech benchmark speaks its passages with espeak-ng: install it (sudo apt-get install "
                         "espeak-ng), then run it again.")
    folder = folder or find_demo_speech()
    work = config.paths.tmp / "bench-speech"
    work.mkdir(parents=True, exist_ok=True)
    try:
        with _Peak() as peak:
            started = time.perf_counter()
            model = SpeechModel.load(folder, NAME if folder == find_demo_speech() else folder.name)
            load = time.perf_counter() - started
            rows, audio_total, compute_total, raw_compute = [], 0.0, 0.0, 0.0
            references, ours, anchors = [], [], []
            for n, passage in enumerate(PASSAGES, 1):
                progress(f"Passage {n} of {len(PASSAGES)} ...")
                recording = _speak(passage, work / f"passage-{n}.wav")
                started = time.perf_counter()
                samples = decode(recording)
                heard = model.transcribe(samples)
                took = time.perf_counter() - started
                raw_text, _, raw_took = raw_transcribe(folder, recording)
                audio_total, compute_total, raw_compute = audio_total + heard.seconds, compute_total + took, \
                    raw_compute + raw_took
                references.append(normal(passage)), ours.append(normal(heard.text)), anchors.append(normal(raw_text))
                rows.append({"seconds": round(heard.seconds, 1), "took": round(took, 2),
                             "wer": round(jiwer.wer(references[-1], ours[-1]), 3), "text": heard.text})
            progress("A 30-second recording ...")
            long = _speak(" ".join(PASSAGES[:2]), work / "thirty.wav")
            first_words = _first_words(model, long)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"model": model.name, "device": f"{model.device} ({model.compute})", "load_seconds": round(load, 2),
            "audio_seconds": round(audio_total, 1), "compute_seconds": round(compute_total, 2),
            "times_real_time": round(audio_total / compute_total, 1), "wer": round(jiwer.wer(references, ours), 3),
            "anchor_times_real_time": round(audio_total / raw_compute, 1),
            "anchor_wer": round(jiwer.wer(references, anchors), 3), "first_words_seconds": first_words,
            "peak_ram_mb": round(peak.peak / 2**20), "passages": rows}


def _first_words(model, recording: Path) -> float:  # noqa: ANN001 - a SpeechModel
    """Seconds from the end of the recording (the file ready) to the first segment's words."""
    from assistant.engine.speech.audio import decode

    started, first = time.perf_counter(), []
    model.transcribe(decode(recording), progress=lambda *_: first.append(time.perf_counter() - started) if not first
                     else None)
    return round(first[0] if first else 0.0, 2)


def render_speech(report: dict[str, Any]) -> str:
    lines = [f"Speech model: {report['model']} on {report['device']}, loaded in {report['load_seconds']} s.",
             f"{report['audio_seconds']} s of speech transcribed in {report['compute_seconds']} s: "
             f"{report['times_real_time']}× faster than real time (faster-whisper's defaults: "
             f"{report['anchor_times_real_time']}×).",
             f"Word error rate {report['wer']:.0%} (faster-whisper's defaults: {report['anchor_wer']:.0%}).",
             f"First words {report['first_words_seconds']} s after a 30-second recording ends.",
             f"Peak memory {report['peak_ram_mb']} MB."]
    return "\n".join(lines)
