"""Dictate into a box: record with the microphone or upload a recording; the words are added where the cursor was,
never replacing what was typed. Words the speech model was unsure of are listed, and marked in a view of what was
heard, for review. The recording is deleted
as soon as it is read (``app.dictation``); nothing of it stays in the page. Also the ``/transcribe`` API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from assistant.app.services import Services
from assistant.web.common import Stops, guarded, refusal, session_of, user_of

FORMATS = "wav, mp3, m4a, ogg or webm"


def insert(text: str, words: str, cursor: float | None) -> str:
    """``words`` put into ``text`` at ``cursor`` (a character position; anything else: the end), spaced."""
    text, words = text or "", (words or "").strip()
    if not words:
        return text
    at = int(cursor) if isinstance(cursor, (int, float)) and 0 <= cursor <= len(text) else len(text)
    before, after = text[:at], text[at:]
    lead = "" if not before or before[-1].isspace() else " "
    trail = "" if not after or after[0].isspace() else " "
    return f"{before}{lead}{words}{trail}{after}"


def heard_text(seconds: float, words: int, speed: float, unsure: list[str], stopped: bool) -> str:
    length = f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    said = (f"Added {words} word{'s' if words != 1 else ''} from a {length} recording"
            f"{' (stopped part-way)' if stopped else ''}, transcribed on this computer")
    said += f" ({speed:.0f}× faster than real time)." if speed >= 1 else "."
    if unsure:
        listed = ", ".join(f"**{w}**" for w in dict.fromkeys(unsure))
        said += f" Check these words, which the speech model was unsure of: {listed}."
    return said


def marked(text: str, unsure: list[str]) -> list[tuple[str, str | None]]:
    """``text`` as (piece, label) pairs for a HighlightedText: the words the model was unsure of labelled "check",
    in the order they were heard (a repeated word is marked only where it was unsure)."""
    wanted = [w.lower() for w in unsure if w]
    pieces: list[tuple[str, str | None]] = []
    for word in (text or "").split():
        bare = word.strip(" ,.;:!?\"").lower()
        if wanted and bare == wanted[0]:
            wanted.pop(0)
            pieces.append((word, "check"))
        else:
            pieces.append((word, None))
        pieces.append((" ", None))
    return pieces[:-1]


def attach(services: Services, box: gr.Textbox, prefix: str) -> None:
    """A Dictate panel under ``box`` (call where the panel should appear)."""
    stops = Stops()
    box_id = box.elem_id
    with gr.Accordion("Dictate (speak instead of typing)", open=False, elem_id=f"{prefix}-dictate"):
        audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label=f"Record, or upload a recording "
                         f"({FORMATS})", elem_id=f"{prefix}-audio")
        # A microphone the browser refuses shows as "No microphone found" in Gradio's recorder: say what to do.
        gr.Markdown("If the recorder says *No microphone found*, allow this page to use the microphone (the icon at "
                    "the right of the address bar), then reload the page; or upload a recording instead.",
                    elem_id=f"{prefix}-dictate-help")
        stop = gr.Button("Stop transcribing", variant="stop", elem_id=f"{prefix}-dictate-stop")
        said = gr.Markdown(elem_id=f"{prefix}-dictate-result")
        heard = gr.HighlightedText(label="What was heard (words to check are marked)", show_legend=False,
                                   combine_adjacent=True, color_map={"check": "orange"}, visible=False,
                                   elem_id=f"{prefix}-dictate-heard")
        cursor = gr.Number(value=-1, visible=False)

    @guarded
    def dictate(recording: str | None, text: str, at: float | None, request: gr.Request,
                progress: gr.Progress = gr.Progress()):  # noqa: B008 - gradio's own way to report progress
        if not recording:
            raise refusal("There is no recording yet: press the microphone to record, or upload a recording.")
        with stops.signal(session_of(request)) as stop:
            done = services.dictation.transcribe(
                Path(recording), terms=services.profile.speech_terms, user=user_of(request), stop=stop,
                progress=lambda at_, total: progress(at_ / total if total else 1.0, desc="Transcribing ..."))
        if not done.text:
            return (text, "No words were heard in the recording. Record again, closer to the microphone.", None,
                    gr.update(value=None, visible=False))
        return (insert(text, done.text, at), heard_text(done.seconds, len(done.text.split()), done.speed, done.unsure,
                                                       done.stopped), None,
                gr.update(value=marked(done.text, done.unsure), visible=True))

    # The cursor is read in the page as the recording comes in; the box keeps what was typed around the words.
    js = f"(a, t, c) => [a, t, (document.querySelector('#{box_id} textarea') || {{}}).selectionStart ?? -1]"
    private = dict(api_visibility="private")
    for trigger in (audio.stop_recording, audio.upload):  # the words are added as soon as the recording is in
        trigger(dictate, [audio, box, cursor], [box, said, audio, heard], js=js, concurrency_limit=2,
                concurrency_id="dictation", **private)

    def halt(request: gr.Request) -> None:
        stops.stop(session_of(request))

    stop.click(halt, None, None, queue=False, **private)


def api(services: Services) -> None:
    """``/transcribe``: one audio file in, its text out (for scripts; the launch token applies like everywhere)."""
    recording = gr.File(visible=False, file_types=["audio"])
    text = gr.Textbox(visible=False)

    @guarded
    def transcribe(upload: Any, request: gr.Request) -> str:
        path = getattr(upload, "name", upload)
        if not path:
            raise refusal("Send one audio file (" + FORMATS + ").")
        return services.dictation.transcribe(Path(str(path)), terms=services.profile.speech_terms,
                                             user=user_of(request)).text

    gr.Button(visible=False).click(transcribe, recording, text, api_name="transcribe", concurrency_limit=2,
                                   concurrency_id="dictation")
