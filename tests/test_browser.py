"""Acceptance tests in a real browser (Debian's Chromium driven by Playwright),
against a real `assistant serve` with the demo model, walking each tab as a
person would. Every request the page makes is recorded; any that leaves this
computer fails the suite. The screenshots are the ones the README shows."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from browser_kit import SHOTS, record_outside, require_chromium, served_with_demo

pytestmark = pytest.mark.slow

sync_api = require_chromium()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo_model_dir: Path):
    home = tmp_path_factory.mktemp("browser-home")
    with served_with_demo(home, demo_model_dir) as url:
        yield url, home


@pytest.fixture(scope="module")
def outside_requests():
    found: list[str] = []
    yield found
    assert not found, f"the page made requests that leave this computer: {found}"


@pytest.fixture
def page(browser, app_url, outside_requests):
    url, _ = app_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    record_outside(pg, outside_requests)
    pg.goto(url)
    pg.wait_for_selector("#note-draft", timeout=30_000)
    yield pg
    context.close()


def pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def text_of(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea").input_value()


def wait_for_growth(page, elem_id: str, minimum: int = 40, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = text_of(page, elem_id)
        if len(current) >= minimum:
            return current
        time.sleep(0.2)
    raise AssertionError(f"#{elem_id} did not fill in: {text_of(page, elem_id)!r}")


def stop_and_check_it_stays_stopped(page, stop_id: str, output_id: str) -> str:
    page.click(f"#{stop_id}")
    time.sleep(1.5)
    settled = text_of(page, output_id)
    time.sleep(2)
    assert text_of(page, output_id) == settled, "the text kept growing after Stop"
    return settled


def test_launch_link_opens_the_app_and_says_it_is_private(page, browser, app_url):
    assert "running on this computer only" in page.locator("#status-line").inner_text()
    assert "demo model" in page.locator("#demo-notice").inner_text()
    for tab in ("Progress note", "Prior-auth letter", "Chat", "Presets", "Settings", "Help"):
        assert page.get_by_role("tab", name=tab).is_visible()
    # Without the launch link: a plain explanation, not the app.
    url, _ = app_url
    other = browser.new_page()
    other.goto(url.split("?")[0])
    assert "open the assistant from its icon" in other.inner_text("body")
    other.close()


def test_progress_note_example_stream_stop_edit(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.click("#welcome-skip")
    pick(page, "note-preset", "Daily progress note")
    page.click("#note-example")
    sync_api.expect(page.locator("#note-description textarea")).to_have_value(re.compile("wind-down routine"))
    page.click("#note-draft")
    first = wait_for_growth(page, "note-output", 20)
    later = wait_for_growth(page, "note-output", len(first) + 20)
    assert later.startswith(first[:10]), "the draft streams in, growing"
    page.screenshot(path=str(SHOTS / "progress-note.png"))
    stop_and_check_it_stays_stopped(page, "note-stop", "note-output")
    # the finished (stopped) draft was checked against the description
    sync_api.expect(page.locator("#note-check-summary")).to_contain_text(re.compile("not in your notes|Every number"))
    # the clinician edits, checks again, approves and downloads
    edited = ("Subjective:\nClient reports sleeping about 6 hours most nights.\n\nObjective:\nEngaged.\n\n"
              "Assessment:\nAnxiety 6 out of 10, down from 8.\n\nPlan:\nThought record daily; next session in 14 days.")
    page.locator("#note-output textarea").fill(edited)
    page.click("#note-check-again")
    summary = page.locator("#note-check-summary")
    sync_api.expect(summary).to_contain_text("1 item is not in your notes")  # "14 days" was never said
    page.click("#note-approve")
    sync_api.expect(page.locator(".toast-body, [data-testid='toast-body']").first).to_contain_text("I reviewed the flagged items")
    page.locator("#note-reviewed input").check()
    page.click("#note-approve")
    sync_api.expect(page.locator("#note-approval")).to_contain_text("approved —")  # not "(not approved yet)"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#note-copy")
    sync_api.expect(page.get_by_text("Copied.").first).to_be_visible()
    # The server says "Copied." first; the browser then copies (it may take a moment on a busy machine).
    deadline, copied = time.monotonic() + 20, ""
    while copied != edited and time.monotonic() < deadline:
        copied = page.evaluate("() => navigator.clipboard.readText()")
        time.sleep(0.2)
    assert copied == edited
    with page.expect_download() as download_info:
        page.click("#note-export-docx")
        page.locator("#note-download a").first.click(timeout=60_000)
    saved = Path(download_info.value.path())
    import docx

    assert "next session in 14 days" in "\n".join(p.text for p in docx.Document(str(saved)).paragraphs)
    assert re.match(r"progress-note-\d{4}-\d{2}-\d{2}", download_info.value.suggested_filename)
    # nothing typed is kept in the browser's own storage
    stored = page.evaluate("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    assert "wind-down" not in stored and "14 days" not in stored


def test_preset_with_fixed_format_locks_the_format_picker(page):
    pick(page, "note-preset", "PT progress report / re-evaluation summary")
    sync_api.expect(page.locator("#note-goals")).to_be_visible()
    page.click("#note-example")
    sync_api.expect(page.locator("#note-goals textarea")).not_to_have_value("")
    pick(page, "note-preset", "Individual therapy note (DAP)")
    sync_api.expect(page.locator("#note-format input")).to_have_value("DAP")
    sync_api.expect(page.locator("#note-format input")).to_be_disabled()
    sync_api.expect(page.locator("#note-goals")).to_be_hidden()


def test_bad_input_is_said_by_its_field_and_the_draft_box_shows_no_error(page):
    page.locator("#note-description textarea").fill("   ")
    pick(page, "note-format", "DAP")
    page.click("#note-draft")
    sync_api.expect(page.locator("#note-description")).to_contain_text("empty")
    assert "Traceback" not in page.inner_text("body")
    assert "Error" not in page.locator("#note-output").inner_text(), "no error badge in the draft box"
    sync_api.expect(page.locator("#note-format input")).to_have_value("DAP")  # what was chosen stays
    # Once the description is written, the message goes and the note is written.
    page.locator("#note-description textarea").fill("Client calm; practiced breathing. Next session in a week.")
    page.click("#note-draft")
    sync_api.expect(page.locator("#note-description")).not_to_contain_text("empty")
    wait_for_growth(page, "note-output", 20)
    page.click("#note-stop")


def test_rewrite_after_approval_makes_it_a_draft_again(page):
    page.click("#note-example")
    sync_api.expect(page.locator("#note-description textarea")).to_have_value(re.compile("wind-down routine"))
    typed = "Subjective:\nClient reports better sleep.\n\nObjective:\nEngaged.\n\nAssessment:\nImproving.\n\nPlan:\nWeekly."
    page.locator("#note-output textarea").fill(typed)
    page.click("#note-check-again")
    sync_api.expect(page.locator("#note-check-summary")).to_contain_text(re.compile("not in your notes|Every number"))
    page.locator("#note-reviewed input").check()
    page.click("#note-approve")
    sync_api.expect(page.locator("#note-approval")).to_contain_text("approved —")
    pick(page, "note-section", "Plan")
    page.click("#note-rewrite")
    sync_api.expect(page.locator("#note-approval")).to_contain_text("draft")
    deadline = time.monotonic() + 90
    while text_of(page, "note-output") == typed and time.monotonic() < deadline:
        time.sleep(0.2)
    page.wait_for_function("() => !document.querySelector('#note-output .generating, #note-output .pending')",
                           timeout=90_000)
    sync_api.expect(page.locator("#note-approval")).not_to_contain_text("approved —")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("() => navigator.clipboard.writeText('nothing copied')")
    page.click("#note-copy")
    sync_api.expect(page.locator(".toast-body, [data-testid='toast-body']").first).to_contain_text("Approve")
    assert page.evaluate("() => navigator.clipboard.readText()") == "nothing copied"


def test_prior_auth_letter(page):
    page.get_by_role("tab", name="Prior-auth letter").click()
    pick(page, "letter-preset", "Initial treatment request")
    page.click("#letter-example")
    sync_api.expect(page.locator("#letter-payer textarea, #letter-payer input").first).to_have_value("Example Health Plan")
    page.click("#letter-draft")
    wait_for_growth(page, "letter-output", 40)
    page.screenshot(path=str(SHOTS / "prior-auth-letter.png"))
    stop_and_check_it_stays_stopped(page, "letter-stop", "letter-output")


def test_chat_two_turns_then_clear(page):
    page.get_by_role("tab", name="Chat").click()
    bot = page.locator("#chat-log .message.bot, #chat-log [data-testid='bot']")
    for text in ("Write a one-line reminder about Tuesday's appointment.", "Make it friendlier."):
        before = bot.count()
        page.locator("#chat-message textarea").fill(text)
        page.click("#chat-send")
        deadline = time.monotonic() + 90
        while bot.count() <= before and time.monotonic() < deadline:
            time.sleep(0.2)
        page.wait_for_function("() => !document.querySelector('#chat-log .pending, #chat-log .generating')", timeout=90_000)
    assert bot.count() >= 2
    page.screenshot(path=str(SHOTS / "chat.png"))
    page.click("#chat-clear")
    page.wait_for_function("() => document.querySelectorAll('#chat-log .message').length === 0", timeout=10_000)


def test_presets_tab_live_check_save_and_use(page):
    page.get_by_role("tab", name="Presets").click()
    pick(page, "preset-kind", "Progress note")
    page.click("#preset-new")
    page.wait_for_function("() => document.querySelector('#preset-status').innerText.includes('Valid')", timeout=10_000)
    assert "Your text, as the model gets it" in page.locator("#preset-preview textarea").input_value()
    editor = page.locator("#preset-editor .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("schema_version: 1\nid: my-quick-note\nkind: progress_note\ntitle: My quick note\n"
                              "description: Short.\nsystem_prompt: Be brief.\ntemplate: $descripton\n")
    page.wait_for_function("() => document.querySelector('#preset-status').innerText.includes('Not valid')", timeout=10_000)
    assert "$descripton" in page.locator("#preset-status").inner_text()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("schema_version: 1\nid: my-quick-note\nkind: progress_note\ntitle: My quick note\n"
                              "description: Short.\nsystem_prompt: Be brief.\ntemplate: $description\n"
                              "example:\n  description: A short session.\n")
    page.wait_for_function("() => document.querySelector('#preset-status').innerText.includes('Valid')", timeout=10_000)
    page.click("#preset-save")
    page.wait_for_function("() => document.querySelector('#preset-message').innerText.includes('Saved')", timeout=10_000)
    page.screenshot(path=str(SHOTS / "presets.png"))
    page.get_by_role("tab", name="Progress note").click()
    pick(page, "note-preset", "My quick note")


def test_settings_profile_is_saved(page, app_url):
    _, home = app_url
    page.get_by_role("tab", name="Settings").click()
    page.locator("#profile-name textarea, #profile-name input").first.fill("Riverside Therapy Group")
    page.locator("#profile-signature textarea").fill("Alex Rivera, PT, DPT")
    page.click("#profile-save")
    page.wait_for_function("() => document.querySelector('#profile-saved').innerText.includes('Saved')", timeout=10_000)
    assert "Riverside Therapy Group" in (home / "profile.json").read_text()
    page.screenshot(path=str(SHOTS / "settings.png"))


def test_history_keeps_the_approved_note(page):
    """The notes approved earlier in this session (the example note, then the one approved before its
    rewrite) are listed; the first opens read-only, and is not in the page's storage."""
    page.get_by_role("tab", name="History").click()
    sync_api.expect(page.locator("#history-summary")).to_contain_text("2 kept drafts")
    sync_api.expect(page.locator("#history-table")).to_contain_text("Progress note")
    page.locator("#history-pick input").click()
    page.get_by_role("option", name=re.compile("Progress note")).last.click()  # newest first: the example note is last
    sync_api.expect(page.locator("#history-text textarea")).to_have_value(re.compile("next session in 14 days"))
    page.screenshot(path=str(SHOTS / "history.png"))


def test_help_tab_at_small_screen(page):
    page.set_viewport_size({"width": 1280, "height": 720})
    page.get_by_role("tab", name="Help").click()
    assert "How to use the assistant" in page.locator("#help-text").inner_text()


def test_the_whole_session_made_no_outbound_attempt_on_the_server(app_url):
    """Runs last: after every tab was used, the server's egress guard recorded nothing."""
    _, home = app_url
    audit = (home / "audit" / "audit.jsonl").read_text()
    assert '"event": "draft_generated"' in audit, "the session did use the model"
    assert '"event": "outbound_blocked"' not in audit


def test_changed_meaning_is_marked_in_red_with_its_reason(page):
    page.locator("#note-description textarea").fill(
        "Pt c/o R shoulder pain 6/10 w/ reaching. Sit<>stand mod A. STG 1 (I w/ HEP) not yet met. Denies SI/HI.")
    typed = ("Subjective:\nThe patient reports left shoulder pain rated 6/10 with reaching. She denies suicidal or "
             "homicidal ideation.\n\nObjective:\nShe completed sit to stand independently.\n\nAssessment:\n"
             "Goal 1 has been met.\n\nPlan:\nContinue the home program.")
    page.locator("#note-output textarea").fill(typed)
    page.click("#note-check-again")
    summary = page.locator("#note-check-summary")
    sync_api.expect(summary).to_contain_text("3 places where the draft says it differently from your notes")
    sync_api.expect(summary).to_contain_text("The draft says left; your notes say right.")
    sync_api.expect(summary).to_contain_text("The draft says goal 1 is met; your notes say not met.")
    marked = page.locator("#note-check-flags").inner_text()
    assert "left shoulder" in marked and "independently" in marked
    page.get_by_text("Advanced: ask the model to double-check each sentence").click()
    page.click("#note-second-look")
    sync_api.expect(page.locator("#note-second-look-result")).to_contain_text("too small to judge")
    page.locator("#note-check-summary").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "meaning-check.png"))
