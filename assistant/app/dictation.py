"""Dictation: a recording becomes text on this computer. The speech model is loaded on the first dictation and kept
until the setting names another one (the next dictation then loads that). It has its own lock, apart from the
language model's line, so a dictation and a draft run side by side (sharing only the processor). The recording is
deleted as soon as it has been read, whatever happens; the audit records each dictation with its length and the
model, never words or sound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.engine.speech.audio import check, decode
from assistant.engine.speech.demo import NAME as DEMO_NAME
from assistant.engine.speech.demo import find_demo_speech
from assistant.engine.speech.whisper import SpeechModel, Transcript
from assistant.security.audit import AuditLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dictated:
    text: str
    unsure: list[str]  # words the model was unsure of, in order
    seconds: float  # the recording's length
    took: float  # seconds of computing
    stopped: bool
    model: str

    @property
    def speed(self) -> float:
        """Seconds of recording per second of computing (higher is faster)."""
        return self.seconds / self.took if self.took else 0.0


def prompt_of(terms: str) -> str:
    """The practice's words as Whisper's initial prompt: a sentence in the style the transcript should take."""
    words = [w.strip() for w in (terms or "").replace("\n", ",").split(",") if w.strip()]
    return f"Therapy session note. Terms: {', '.join(words)}." if words else ""


class Dictation:
    def __init__(self, audit: AuditLog | None = None, folder: Path | None = None, name: str = "", *,
                 follow: Callable[[], str | None] | None = None) -> None:
        """``folder``: a speech model in CTranslate2 format (None: the built-in demo). ``follow``: where the model is
        read from instead, asked at each dictation (the setting ``speech_model_path``); when it names another folder
        than the loaded model's, that model is dropped and the new one loads, so a change needs no restart."""
        self.audit, self.folder, self._name, self._follow = audit, folder, name, follow
        self._model: SpeechModel | None = None
        self._loaded_from: Path | None = None
        self._lock = threading.Lock()

    def _wanted(self) -> Path | None:
        if self._follow is None:
            return self.folder
        path = self._follow()
        return Path(path) if path else None

    @property
    def model_name(self) -> str:
        folder = self._wanted()
        if self._model is not None and folder == self._loaded_from:
            return self._model.name
        return (self._name if self._follow is None else "") or (folder.name if folder else DEMO_NAME)

    def _loaded(self) -> SpeechModel:
        folder = self._wanted()
        if self._model is not None and folder != self._loaded_from:
            log.info("speech model changed in settings; the one in memory is dropped")
            self._model = None  # freed before the new one loads
        if self._model is None:
            name = (self._name if self._follow is None else "") or (DEMO_NAME if folder is None else folder.name)
            self._model = SpeechModel.load(folder or find_demo_speech(), name)
            self.folder, self._loaded_from = folder, folder
        return self._model

    def transcribe(self, recording: Path, *, terms: str = "", user: str = "", stop: threading.Event | None = None,
                   progress: Callable[[float, float], None] | None = None, delete: bool = True) -> Dictated:
        """The recording's words. ``delete``: the file is a copy the page made (in the app's temp folder), deleted
        as soon as it is read, whatever happens. Raises ``InputError`` for a file it cannot use."""
        started = time.perf_counter()
        try:
            check(recording)
            samples = decode(recording)
        finally:
            if delete:
                _delete(recording)
        with self._lock:
            model = self._loaded()
            heard: Transcript = model.transcribe(samples, terms=prompt_of(terms), stop=stop, progress=progress)
        took = time.perf_counter() - started
        done = Dictated(heard.text, [w.text.strip(" ,.;:!?\"") for w in heard.unsure], heard.seconds, took, heard.stopped,
                        model.name)
        log.info("dictation: %.1f s of recording in %.1f s (%s)%s", done.seconds, took, model.name,
                 " stopped" if done.stopped else "")
        if self.audit is not None:
            self.audit.record("dictation", user=user, model=model.name,
                              detail=f"seconds={done.seconds:.1f} took={took:.1f}" + (" stopped" if done.stopped else ""))
        return done


def _delete(recording: Path) -> None:
    try:
        recording.unlink(missing_ok=True)
    except OSError as exc:  # the temp folder is emptied at start and exit too
        log.warning("a recording could not be deleted now (%s); it goes with the temp folder", type(exc).__name__)
