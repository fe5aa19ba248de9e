"""Whisper through faster-whisper: int8 on the processor (one thread per physical core), float16 on an NVIDIA GPU;
voice-activity detection (Silero, bundled with faster-whisper) skips silence; the practice's own words are given as
the initial prompt. Segments come one at a time, so a long recording shows progress and stops between segments."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from assistant.engine.speech.audio import RATE
from assistant.errors import ModelLoadError, ModelNotFound

log = logging.getLogger(__name__)
NEEDED = ("model.bin", "config.json")
UNSURE = 0.5  # a word the model gives less than this probability is shown for review
MAX_TERMS_CHARS = 600  # Whisper's prompt is at most half its 448-token window


@dataclass(frozen=True)
class Word:
    start: float  # seconds into the recording
    end: float
    text: str  # as Whisper wrote it, with its leading space
    probability: float


@dataclass(frozen=True)
class Transcript:
    text: str
    words: list[Word] = field(default_factory=list)
    seconds: float = 0.0  # the recording's length
    spoken: float = 0.0  # of which speech (after the silence is skipped)
    stopped: bool = False  # Stop was pressed part-way

    @property
    def unsure(self) -> list[Word]:
        return [w for w in self.words if w.probability < UNSURE]


class SpeechModel:
    """One Whisper model in memory; ``transcribe`` may be called from one thread at a time (the caller's lock)."""

    def __init__(self, model, name: str, device: str, compute: str, english_only: bool) -> None:  # noqa: ANN001
        self._model, self.name, self.device, self.compute = model, name, device, compute  # model: a WhisperModel
        self.english_only = english_only

    @classmethod
    def load(cls, folder: Path, name: str = "") -> SpeechModel:
        check_folder(folder)
        import ctranslate2
        from faster_whisper import WhisperModel

        gpu = ctranslate2.get_cuda_device_count() > 0
        device, compute = ("cuda", "float16") if gpu else ("cpu", "int8")
        started = time.perf_counter()
        try:
            model = WhisperModel(str(folder), device=device, compute_type=compute,
                                 cpu_threads=psutil.cpu_count(logical=False) or 1, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            log.error("speech model load failed: %s", type(exc).__name__)
            raise ModelLoadError(f"The speech model in {folder} could not be loaded: it may be damaged. Install it "
                                 "again, or ask your vendor.") from None
        name = name or folder.name
        log.info("speech model loaded: %s on %s (%s) in %.1f s", name, device, compute, time.perf_counter() - started)
        return cls(model, name, device, compute, not model.model.is_multilingual)

    def transcribe(self, samples: np.ndarray, *, terms: str = "", stop: threading.Event | None = None,
                   progress: Callable[[float, float], None] | None = None) -> Transcript:
        """``samples``: 16 kHz mono. ``progress(done_seconds, total_seconds)`` after each segment."""
        total = len(samples) / RATE
        segments, info = self._model.transcribe(
            samples, language="en" if self.english_only else None, beam_size=1, vad_filter=True,
            word_timestamps=True, condition_on_previous_text=False,
            initial_prompt=(terms or "").strip()[:MAX_TERMS_CHARS] or None)
        parts, words, stopped = [], [], False
        for segment in segments:  # decoded as they are read
            parts.append(segment.text)
            words += [Word(w.start, w.end, w.word, float(w.probability)) for w in segment.words or []]
            if progress is not None:
                progress(min(segment.end, total), total)
            if stop is not None and stop.is_set():
                stopped = True
                break
        spoken = float(getattr(info, "duration_after_vad", total) or 0.0)
        return Transcript(" ".join(p.strip() for p in parts).strip(), words, total, spoken, stopped)


def check_folder(folder: Path) -> None:
    """The checks made before a speech model is loaded (also by the vendor build, which loads nothing): the folder
    has model.bin and config.json, and model.bin is not a pickle. Raises ``ModelNotFound`` or ``ModelLoadError``."""
    missing = [f for f in NEEDED if not (folder / f).is_file()]
    if not folder.is_dir() or missing:
        raise ModelNotFound(f"The speech model in {folder} is incomplete (missing {', '.join(missing) or 'it all'}). "
                            "Install it again, or ask your vendor.")
    if not _ctranslate2_file(folder / "model.bin"):
        raise ModelLoadError(f"{folder / 'model.bin'} is not a speech model in CTranslate2 format (it may be a "
                             "PyTorch or pickle file, which the assistant never loads). Convert it with "
                             "ct2-transformers-converter, or ask your vendor.")


def _ctranslate2_file(weights: Path) -> bool:
    """Not a pickle (which starts with 0x80) or PyTorch's zip of pickles ("PK"): those are never handed to a loader.
    CTranslate2's own model.bin starts with its format version; a damaged one is left for CTranslate2 to refuse."""
    try:
        with weights.open("rb") as file:
            head = file.read(2)
    except OSError:
        return False
    return head[:1] != b"\x80" and head != b"PK"
