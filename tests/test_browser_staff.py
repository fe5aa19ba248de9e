"""What new, non-technical staff meet, in a real browser: the first-run setup (with
optional staff sign-in), a note written with the keyboard only, every control
labelled, and pages that fit 1280x720 and 1920x1080 screens.

The server is the real app on a free localhost port, with the scripted backend so
each test starts from a fresh data folder in a second (test_browser.py runs the
same pages with the real demo model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser_kit import SHOTS, record_outside, require_chromium

from assistant.app.services import build_services
from assistant.engine.contract import ModelInfo
from assistant.engine.fake import FakeBackend
from assistant.security.accounts import AccountStore
from assistant.store.config import Config
from assistant.web.app import build_app
from assistant.web.server import serve

pytestmark = pytest.mark.slow

sync_api = require_chromium()
DRAFT = "Subjective: Client reported calmer mornings.\nObjective: Practiced paced breathing.\n" \
        "Assessment: Progressing.\nPlan: Weekly sessions."
TABS = ("Progress note", "Prior-auth letter", "Chat", "Presets", "Settings", "Help")


@pytest.fixture
def app(assistant_home: Path):
    info = ModelInfo(name="a scripted test model", device="processor (CPU)", precision="none", context_window=4096)
    services = build_services(Config.load(), FakeBackend(reply=DRAFT, delay=0.01, info=info))
    running = serve(build_app(services), 0, background=True, accounts=AccountStore(assistant_home),
                    audit=services.audit)
    yield running, assistant_home
    running.stop()


@pytest.fixture
def open_page(browser, app):
    """open_page(width, height): the launch link opened in a fresh browser window of that size."""
    running, _ = app
    contexts, outside = [], []

    def opener(width: int, height: int):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        record_outside(page, outside)
        page.goto(f"http://127.0.0.1:{running.port}/?token={running.token}")
        page.wait_for_selector("#note-draft", timeout=30_000)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not outside, f"the page made requests that leave this computer: {outside}"


def test_first_run_sets_up_the_practice_and_staff_sign_in(open_page, app):
    _, home = app
    page = open_page(1920, 1080)
    welcome = page.locator("#welcome").first
    sync_api.expect(welcome).to_be_visible()
    page.get_by_label("Practice name").fill("Riverside Therapy Group")
    page.get_by_label("Signature (name and credentials)").fill("Alex Rivera, LCSW")
    page.get_by_text("Optional: staff sign-in for a shared computer").click()
    page.get_by_label("Your user name").fill("arivera")
    page.get_by_label("Password (at least 10 characters)").fill("calm river stones")
    page.get_by_label("Password again").fill("calm river stone")
    page.screenshot(path=str(SHOTS / "first-run.png"))
    # A typo in the second password: a plain message, and nothing is saved or lost.
    page.click("#welcome-save")
    sync_api.expect(page.get_by_text("The two passwords are not the same")).to_be_visible()
    assert not (home / "profile.json").exists() and not AccountStore(home).enabled
    assert page.locator("#welcome-name input, #welcome-name textarea").input_value() == "Riverside Therapy Group"

    page.get_by_label("Password again").fill("calm river stones")
    page.click("#welcome-save")
    # The account is made and the page goes to the sign-in form.
    page.wait_for_url("**/login**", timeout=30_000)
    assert json.loads((home / "profile.json").read_text())["name"] == "Riverside Therapy Group"
    assert AccountStore(home).names() == [("arivera", "admin", False)]
    page.get_by_label("User name").fill("arivera")
    page.get_by_label("Password").fill("calm river stones")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#note-draft", timeout=30_000)
    sync_api.expect(page.locator("#status-line")).to_contain_text("Signed in as arivera")
    sync_api.expect(welcome).to_be_hidden()  # shown only until the practice has a name
    page.get_by_role("tab", name="Settings").click()
    sync_api.expect(page.locator("#accounts")).to_be_visible()  # the first account is an admin
    events = [json.loads(line) for line in (home / "audit" / "audit.jsonl").read_text().splitlines()]
    assert {"user_added", "login"} <= {e["event"] for e in events}
    assert "calm river" not in (home / "audit" / "audit.jsonl").read_text()


def test_first_run_can_be_skipped_and_staff_sign_in_stays_off(open_page, app):
    _, home = app
    page = open_page(1280, 720)
    page.click("#welcome-skip")
    sync_api.expect(page.locator("#welcome").first).to_be_hidden()
    assert not AccountStore(home).enabled and not (home / "profile.json").exists()


def focused_id(page) -> str:
    """The elem_id of the Gradio block holding the focused element ('' if none)."""
    return page.evaluate("() => { const b = document.activeElement && document.activeElement.closest('[id]');"
                         " return b ? b.id : ''; }")


def tab_to(page, elem_id: str, presses: int = 80) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if focused_id(page) == elem_id:
            return
    raise AssertionError(f"#{elem_id} cannot be reached with the Tab key")


def test_a_note_written_with_the_keyboard_only(open_page):
    page = open_page(1280, 720)
    tab_to(page, "welcome-skip")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#welcome").first).to_be_hidden()
    page.locator("body").focus()
    tab_to(page, "note-description")
    page.keyboard.type("Client practiced paced breathing and rated anxiety 5 out of 10.")
    tab_to(page, "note-draft")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#note-output textarea")).to_have_value(DRAFT, timeout=60_000)


UNLABELLED = """() => [...document.querySelectorAll('input, textarea, select, button')].filter(el => {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.type === 'hidden' || el.closest('[aria-hidden=true]')) return false;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') ||
                  el.getAttribute('aria-labelledby') || el.getAttribute('title') ||
                  (el.tagName === 'BUTTON' && el.innerText.trim());
    return !named;
}).map(el => (el.closest('[id]') || {}).id + ' ' + el.tagName + ' ' + (el.className || ''))"""

FITS = """() => ({overflow: document.documentElement.scrollWidth - window.innerWidth,
    small: [...document.querySelectorAll('button.primary')].filter(b => b.getBoundingClientRect().height > 0 &&
           b.getBoundingClientRect().height < 36).map(b => b.innerText),
    font: parseFloat(getComputedStyle(document.querySelector('textarea, input') || document.body).fontSize)})"""


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080)])
def test_every_tab_fits_the_screen_and_every_control_is_labelled(open_page, width, height):
    page = open_page(width, height)
    page.click("#welcome-skip")
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        fits = page.evaluate(FITS)
        assert fits["overflow"] <= 0, f"{tab} at {width}x{height} scrolls sideways by {fits['overflow']} px"
        assert not fits["small"], f"{tab}: main buttons too small to hit easily: {fits['small']}"
        assert fits["font"] >= 14, f"{tab}: text is {fits['font']} px"
        unlabelled = page.evaluate(UNLABELLED)
        assert not unlabelled, f"{tab}: controls a screen reader cannot name: {unlabelled}"
    if (width, height) == (1920, 1080):
        page.get_by_role("tab", name="Progress note").click()
        page.screenshot(path=str(SHOTS / "progress-note-1920.png"))


def test_staff_see_why_admin_controls_are_unavailable(browser, app):
    """A staff member signed in: the System, Settings and Presets controls that change what everyone
    uses are disabled, with one plain line saying who can change them."""
    running, home = app
    accounts = AccountStore(home)
    accounts.add("morgan", "calm river stones", "admin")
    accounts.add("sam", "quiet forest paths", "staff")
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{running.port}/?token={running.token}")
        page.wait_for_url("**/login**", timeout=30_000)
        page.get_by_label("User name").fill("sam")
        page.get_by_label("Password").fill("quiet forest paths")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("#note-draft", timeout=30_000)
        page.get_by_role("tab", name="System").click()
        sync_api.expect(page.locator("#system-permission")).to_contain_text(
            "Only an administrator can change models. Ask morgan.")
        sync_api.expect(page.locator("#system-switch")).to_be_disabled()
        page.get_by_role("tab", name="Settings").click()
        sync_api.expect(page.locator("#profile-permission")).to_contain_text("Only an administrator")
        sync_api.expect(page.locator("#profile-save")).to_be_disabled()
        page.get_by_role("tab", name="Presets").click()
        sync_api.expect(page.locator("#preset-permission")).to_contain_text("Only an administrator")
        sync_api.expect(page.locator("#preset-save")).to_be_disabled()
        sync_api.expect(page.locator("#preset-new")).to_be_enabled()  # trying edits in the editor stays open
    finally:
        context.close()
