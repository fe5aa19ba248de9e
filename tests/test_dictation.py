"""Dictation with the real demo speech model (Whisper tiny.en on faster-whisper) on speech made by espeak-ng: the
words come back, the recording is deleted, the audit has its length and no words; bad recordings get a plain
message; the words go where the cursor was; ``/transcribe`` through gradio_client on a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from assistant.app.dictation import Dictation, prompt_of
from assistant.errors import InputError
from assistant.security.audit import AuditLog
from assistant.web.tabs.dictate import heard_text, insert, marked

SAID = "The client reports sleeping about six hours most nights. Plan: continue the thought record twice a week."


def speak(text: str, path: Path, speed: int = 150) -> Path:
    """``text`` spoken by espeak-ng into a WAV file."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (./test.sh installs it: apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(path), text], check=True, timeout=60)
    return path


def silence(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16_000)
        out.writeframes(np.zeros(int(16_000 * seconds), dtype=np.int16).tobytes())
    return path


@pytest.fixture(scope="module")
def dictation():
    return Dictation()  # one model for the module (it loads on the first dictation)


def test_speech_becomes_text_and_the_recording_is_deleted(tmp_path: Path, dictation: Dictation) -> None:
    audit = AuditLog(tmp_path / "audit")
    dictation.audit = audit
    recording = speak(SAID, tmp_path / "said.wav")
    done = dictation.transcribe(recording, user="alex")
    words = done.text.lower()
    assert "hours" in words and "nights" in words and "twice a week" in words, done.text
    assert not recording.exists(), "the recording is deleted as soon as it is read"
    assert done.seconds > 4 and done.speed > 1 and not done.stopped
    records = [json.loads(line) for line in (tmp_path / "audit" / "audit.jsonl").read_text().splitlines()]
    assert records[-1]["event"] == "dictation" and records[-1]["user"] == "alex"
    assert "seconds=" in records[-1]["detail"] and "hours" not in json.dumps(records), "no words in the audit"


def test_the_practice_words_are_the_prompt() -> None:
    assert prompt_of("sertraline,  Berg Balance Scale\nDr. Okafor") == (
        "Therapy session note. Terms: sertraline, Berg Balance Scale, Dr. Okafor.")
    assert prompt_of(" , ") == ""


def test_silence_gives_no_words(tmp_path: Path, dictation: Dictation) -> None:
    assert dictation.transcribe(silence(tmp_path / "quiet.wav", 4)).text == ""


def _video(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _two_hours(path: Path) -> Path:
    """Two hours of silence, as small as a WAV gets (4 kHz, 8-bit: 29 MB)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(1), out.setframerate(4_000)
        out.writeframes(b"\x80" * (2 * 60 * 60 * 4_000))
    return path


def _file(name: str, content: bytes):
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(content)
        return folder / name
    return make


@pytest.mark.parametrize(("make", "message"), [
    (_file("empty.wav", b""), "empty"),
    (_file("noise.wav", bytes(range(256)) * 40), "not a recording"),
    (_file("note.mp3", b"Client seen today."), "not a recording"),
    (lambda folder: _video(folder / "clip.mp4"), "video"),
    (lambda folder: _two_hours(folder / "long.wav"), "2 h 0 min long"),
], ids=["empty", "noise", "text", "video", "two-hours"])
def test_bad_recordings_get_a_plain_message(tmp_path: Path, dictation: Dictation, make, message: str) -> None:
    recording = make(tmp_path)
    with pytest.raises(InputError, match=message) as raised:
        dictation.transcribe(recording)
    assert "Traceback" not in str(raised.value) and not recording.exists()


def test_a_missing_recording_is_said_plainly(tmp_path: Path, dictation: Dictation) -> None:
    with pytest.raises(InputError, match="could not be found"):
        dictation.transcribe(tmp_path / "gone.wav")


@pytest.mark.parametrize(("text", "cursor", "expected"), [
    ("", -1, "Walked 150 feet."),
    ("Client calm.", -1, "Client calm. Walked 150 feet."),
    ("Client calm. Plan: weekly.", 13, "Client calm. Walked 150 feet. Plan: weekly."),
    ("Client calm.Plan", 12, "Client calm. Walked 150 feet. Plan"),
    ("Typed", 99, "Typed Walked 150 feet."),
    ("Typed", None, "Typed Walked 150 feet."),
])
def test_the_words_go_where_the_cursor_was(text: str, cursor, expected: str) -> None:
    assert insert(text, " Walked 150 feet. ", cursor) == expected


def test_what_the_page_says() -> None:
    said = heard_text(75, 12, 9.6, ["sertraline", "Okafor", "sertraline"], False)
    assert said.startswith("Added 12 words from a 1:15 recording") and "10× faster" in said
    assert said.count("sertraline") == 1 and "unsure" in said


def test_unsure_words_are_marked_where_they_were_heard() -> None:
    pieces = marked("Start sertraline 50 mg, then sertraline 100 mg per Dr. Okafor.", ["sertraline", "Okafor"])
    assert "".join(piece for piece, _ in pieces) == "Start sertraline 50 mg, then sertraline 100 mg per Dr. Okafor."
    checked = [piece for piece, label in pieces if label == "check"]
    assert checked == ["sertraline", "Okafor."]  # the first sertraline only: the second was heard clearly
    assert marked("", ["x"]) == [] and all(label is None for _, label in marked("All clear.", []))


def test_transcribe_api_through_gradio_client(tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    from assistant.app.services import build_services
    from assistant.engine.fake import FakeBackend
    from assistant.store.config import Config
    from assistant.web.app import build_app
    from assistant.web.server import serve

    services = build_services(Config.load(), FakeBackend())
    running = serve(build_app(services), 0, background=True)
    try:
        client = Client(f"http://127.0.0.1:{running.port}/", headers={"Authorization": f"Bearer {running.token}"},
                        verbose=False)
        text = client.predict(handle_file(str(speak(SAID, tmp_path / "api.wav"))), api_name="/transcribe")
        assert "hours" in text.lower() and "nights" in text.lower(), text
        uploads = list((services.config.paths.tmp / "gradio").rglob("api.wav"))
        assert uploads == [], "the uploaded copy is deleted once read"
    finally:
        running.stop()


@pytest.mark.slow
def test_the_speech_bench_runs_and_reports_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    assert main(["bench", "--speech", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for name in ("times_real_time", "wer", "anchor_times_real_time", "anchor_wer", "first_words_seconds",
                 "peak_ram_mb", "load_seconds"):
        assert isinstance(report[name], (int, float)) and report[name] >= 0, name
    assert len(report["passages"]) == 5 and report["machine"]["cores"]


def test_numbers_compare_as_spoken_words() -> None:
    from assistant.ops.bench.speech import normal

    assert normal("Walked 150 ft, 2x; 22%.") == "walked one hundred fifty ft two x twenty two percent"


def test_a_vendor_installs_a_speech_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main
    from assistant.engine.speech.demo import find_demo_speech
    from assistant.store.config import Config

    folder = tmp_path / "whisper-tiny-en"
    shutil.copytree(find_demo_speech(), folder)
    assert main(["models", "add", str(folder), "--speech", "--copy", "--name", "tiny-en"]) == 0
    assert "Dictation uses it from the next start" in capsys.readouterr().out
    config = Config.load()
    installed = Path(config.settings.speech_model_path)
    assert installed == config.paths.models / "speech" / "tiny-en" and (installed / "model.bin").is_file()
    assert Dictation(folder=installed).model_name == "tiny-en"

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    assert main(["models", "add", str(broken), "--speech"]) == 1
    assert "incomplete (missing model.bin)" in capsys.readouterr().out
    (broken / "model.bin").write_bytes(b"\0" * 1000)
    assert main(["models", "add", str(broken), "--speech"]) == 1
    assert "could not be loaded" in capsys.readouterr().out
    import pickle

    (broken / "model.bin").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))  # a pickle is never loaded
    assert main(["models", "add", str(broken), "--speech"]) == 1
    assert "not a speech model in CTranslate2 format" in capsys.readouterr().out
    assert Path(Config.load().settings.speech_model_path) == installed, "a refused model changes nothing"
