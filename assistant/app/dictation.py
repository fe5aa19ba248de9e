"""Dictation: a recording becomes text on this computer. The speech model is loaded on the first dictation and kept;
it has its own lock, apart from the language model's line, so a dictation and a draft run side by side (sharing
only the processor). The recording is deleted as soon as it has been read, whatever happens; the audit records each
dictation with its length and the model, never words or sound.
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
    def __init__(self, audit: AuditLog | None = None, folder: Path | None = None, name: str = "") -> None:
        """``folder``: a speech model in CTranslate2 format (None: the built-in demo)."""
        self.audit, self.folder, self._name = audit, folder, name
        self._model: SpeechModel | None = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self._model.name if self._model else (self._name or (self.folder.name if self.folder else DEMO_NAME))

    def _loaded(self) -> SpeechModel:
        if self._model is None:
            folder = self.folder or find_demo_speech()
            self._model = SpeechModel.load(folder, self._name or (DEMO_NAME if self.folder is None else folder.name))
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
