"""Dictation in a real browser: Chromium's fake microphone plays a recording espeak-ng made, the page records it and
the words land in the session description where the cursor was, beside what was typed; an uploaded recording does
the same; a note is then written from it. Nothing the page does leaves this computer."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from browser_kit import CHROMIUM, FLAGS, SHOTS, record_outside, require_chromium, served_with_demo

pytestmark = pytest.mark.slow
sync_api = require_chromium()
SAID = "The client slept about six hours most nights and practiced the thought record twice this week."


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    path = tmp_path_factory.mktemp("speech") / "said.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), SAID], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo_model_dir: Path):
    home = tmp_path_factory.mktemp("dictation-home")
    with served_with_demo(home, demo_model_dir) as url:
        yield url, home


@pytest.fixture
def page(app_url, recording: Path):
    url, home = app_url
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            *FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={recording}"])
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=["microphone"])
        pg = context.new_page()
        record_outside(pg, outside)
        pg.goto(url)
        pg.wait_for_selector("#note-draft", timeout=30_000)
        yield pg
        assert not outside, f"the page made requests that leave this computer: {outside}"
        storage = pg.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        assert "hours" not in storage and "thought" not in storage, "no words of the dictation in the browser"
        browser.close()
    kept = [p for p in (home / "tmp").rglob("*") if p.is_file() and p.suffix.lower() in (".wav", ".webm", ".mp3", ".ogg")]
    assert kept == [], f"recordings left in the temp folder: {kept}"


def test_the_microphone_adds_words_where_the_cursor_was(page):
    box = page.locator("#note-description textarea")
    box.fill("Seen for 45 minutes. Plan: weekly.")
    box.evaluate("(el) => { el.focus(); el.setSelectionRange(21, 21); }")  # after "Seen for 45 minutes. "
    page.get_by_text("Dictate (speak instead of typing)").first.click()
    page.locator("#note-audio button[aria-label='Record audio'], #note-audio .record-button").first.click()
    page.wait_for_timeout(7_000)  # the fake microphone plays the recording (about 6 s)
    page.locator("#note-audio button[aria-label='Stop recording'], #note-audio .stop-button").first.click()
    sync_api.expect(page.locator("#note-dictate-result")).to_contain_text("Added", timeout=90_000)
    text = box.input_value()
    assert text.startswith("Seen for 45 minutes. ") and text.endswith("Plan: weekly."), text
    assert re.search(r"six hours|6 hours", text, re.I) and "thought" in text.lower(), text
    page.screenshot(path=str(SHOTS / "dictation.png"))
    page.click("#note-draft")
    page.wait_for_function("() => document.querySelector('#note-output textarea').value.length > 40",
                           timeout=120_000)


def test_an_uploaded_recording_does_the_same(page, recording: Path):
    page.get_by_text("Dictate (speak instead of typing)").first.click()
    page.locator("#note-audio button[aria-label='Upload file']").click()  # the source: a file, not the microphone
    page.locator("#note-audio input[type=file]").set_input_files(str(recording))
    sync_api.expect(page.locator("#note-dictate-result")).to_contain_text("Added", timeout=90_000)
    assert "thought" in page.locator("#note-description textarea").input_value().lower()
    sync_api.expect(page.locator("#note-dictate-heard")).to_contain_text("thought")  # the view of what was heard


def test_a_file_that_is_not_a_recording_is_said_plainly(page, tmp_path: Path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not sound at all")
    page.locator("#note-description textarea").fill("Typed first.")
    page.get_by_text("Dictate (speak instead of typing)").first.click()
    page.locator("#note-audio button[aria-label='Upload file']").click()
    page.locator("#note-audio input[type=file]").set_input_files(str(bad))
    toast = page.locator(".toast-body, [data-testid='toast-body']").first
    sync_api.expect(toast).to_be_visible(timeout=60_000)
    assert "Traceback" not in toast.inner_text()
    assert page.locator("#note-description textarea").input_value() == "Typed first."


def test_a_refused_microphone_is_said_plainly_and_the_typing_stays(app_url):
    """The person (or the practice's policy) refuses the microphone: the page says so; nothing typed is lost."""
    url, _ = app_url
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, "--use-fake-device-for-media-stream"])
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=[])  # nothing granted
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#note-draft", timeout=30_000)
        page.locator("#note-description textarea").fill("Typed before the microphone was refused.")
        page.get_by_text("Dictate (speak instead of typing)").first.click()
        page.locator("#note-audio button[aria-label='Record audio'], #note-audio .record-button").first.click()
        # Gradio's recorder finds no microphone it may use; the panel says what to do about it.
        sync_api.expect(page.locator("#note-audio")).to_contain_text("No microphone found", timeout=30_000)
        sync_api.expect(page.locator("#note-dictate-help")).to_contain_text("allow this page to use the microphone")
        assert page.locator("#note-description textarea").input_value() == "Typed before the microphone was refused."
        assert "Traceback" not in page.content()
        browser.close()
