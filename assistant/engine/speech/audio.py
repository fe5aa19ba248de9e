"""A recording, read: checked before it is decoded (empty, not audio, a video, too long), then decoded to 16 kHz
mono by PyAV (FFmpeg's libraries, which faster-whisper uses), in memory. PyAV is imported on first use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.errors import InputError

RATE = 16_000  # what Whisper listens at
MAX_SECONDS = 60 * 60  # an hour at a time; a session's dictation is minutes
MAX_BYTES = 500 * 1024 * 1024
KINDS = "wav, mp3, m4a, ogg or webm"


def _minutes(seconds: float) -> str:
    whole = int(round(seconds / 60))
    return f"{whole // 60} h {whole % 60} min" if whole >= 60 else f"{max(1, whole)} min"


def check(path: Path) -> float:
    """The recording's length in seconds; ``InputError`` in plain words for anything that cannot be used."""
    import av  # FFmpeg's libraries load on the first dictation, not at the app's start

    try:
        size = path.stat().st_size
    except OSError:
        raise InputError("The recording could not be found. Record or upload it again.") from None
    if size == 0:
        raise InputError("The recording is empty (0 bytes). Record again, or choose another file.")
    if size > MAX_BYTES:
        raise InputError(f"That file is too large ({size // (1024 * 1024)} MB). Give a recording of an hour or less.")
    try:
        with av.open(str(path)) as container:
            if container.streams.video and any(s.frames > 1 or s.average_rate for s in container.streams.video):
                raise InputError("That is a video file. Give an audio recording (" + KINDS + ").")
            if not container.streams.audio:
                raise InputError("That file has no sound in it. Give an audio recording (" + KINDS + ").")
            stream = container.streams.audio[0]
            seconds = float(container.duration / av.time_base) if container.duration else (
                float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0)
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError):
        raise InputError("That file is not a recording the assistant can read. Give an audio recording (" + KINDS
                         + ").") from None
    if seconds > MAX_SECONDS:
        raise InputError(f"That recording is {_minutes(seconds)} long; the assistant takes up to "
                         f"{_minutes(MAX_SECONDS)} at a time. Split it, or dictate in parts.")
    return seconds


def decode(path: Path) -> np.ndarray:
    """The recording as 16 kHz mono float32 samples (after ``check``)."""
    import av
    from faster_whisper.audio import decode_audio

    try:
        samples = decode_audio(str(path), sampling_rate=RATE)
    except (av.error.FFmpegError, OSError, ValueError):
        raise InputError("That recording is damaged and could not be read. Record again, or choose another "
                         "file.") from None
    if samples.size == 0:
        raise InputError("The recording has no sound in it. Record again, closer to the microphone.")
    return samples.astype(np.float32, copy=False)
