"""The System tab's "Where the model runs", in Debian's Chromium: a cloud cannot be saved without the
BAA acknowledgement; with it, every tab shows where drafts go and a chat is answered by the cloud.

The cloud is a STAND-IN for Azure OpenAI (tests/standins.py) served over https with a certificate of
its own, so the admin also gives the CA file; the real service cannot be reached from here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_kit import SHOTS, record_outside, require_chromium, served
from standins import WORDS, StandIn, State, azure_app, self_signed

pytestmark = pytest.mark.slow
sync_api = require_chromium()
KEY = "azure-browser-key-" + "9" * 16
BANNER = "Drafts are sent to Microsoft (Azure OpenAI) under your Business Associate Agreement."


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cloud")
    cert, key_file = self_signed(folder)
    state = State()
    with StandIn(azure_app(state, deployment="notes-gpt4o", key=KEY, api_version="2024-10-21"),
                 certfile=cert, keyfile=key_file) as server:
        server.state, server.cert = state, cert
        yield server


@pytest.fixture(scope="module")
def app(tmp_path_factory, demo_model_dir: Path):
    home = tmp_path_factory.mktemp("server-home")
    with served(home) as url:
        yield url, home


def test_cloud_needs_the_baa_then_every_tab_says_where_drafts_go(browser, app, cloud):
    url, home = app
    outside: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    record_outside(page, outside)
    page.goto(url)
    page.wait_for_selector("#note-draft", timeout=30_000)
    page.get_by_role("tab", name="System").click()
    page.locator("#server-kind").get_by_label("Azure OpenAI").check()
    page.locator("#server-url input, #server-url textarea").first.fill(cloud.url)
    page.locator("#server-model input, #server-model textarea").first.fill("notes-gpt4o")
    page.locator("#server-key input").fill(KEY)
    page.get_by_text("Advanced", exact=True).last.click()
    page.locator("#server-ca input, #server-ca textarea").first.fill(cloud.cert)
    page.click("#server-save")
    toast = page.locator(".toast-body, [data-testid='toast-body']").first
    sync_api.expect(toast).to_contain_text("needs a signed Business Associate Agreement")
    assert "running on this computer only" in page.locator("#status-line").inner_text()

    page.locator("#server-baa-tick input").check()
    page.locator("#server-baa-provider input, #server-baa-provider textarea").first.fill("Microsoft")
    page.click("#server-save")
    sync_api.expect(page.locator("#server-result")).to_contain_text("Saved.", timeout=60_000)
    assert page.locator("#server-key input").input_value() == "", "the key box is emptied"
    page.locator("#server-kind").scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "model-server.png"))

    page.get_by_role("tab", name="Chat").click()
    sync_api.expect(page.locator("#notices")).to_contain_text(BANNER)
    assert "Cloud" in page.locator("#status-line").inner_text()
    for tab in ("Progress note", "Prior-auth letter", "Chat", "History", "Presets", "Settings", "System", "Help"):
        page.get_by_role("tab", name=tab).click()
        assert page.locator("#notices").is_visible() and BANNER in page.locator("#notices").inner_text(), tab

    page.get_by_role("tab", name="Chat").click()
    page.locator("#chat-message textarea").fill("Write a two-line appointment reminder.")
    page.click("#chat-send")
    try:
        sync_api.expect(page.locator("#chat-log")).to_contain_text("".join(WORDS).strip(), timeout=60_000)
    except AssertionError as failed:  # say what the page said (a toast) along with it
        toasts = page.locator(".toast-body, [data-testid='toast-body']").all_inner_texts()
        raise AssertionError(f"{failed}\nthe page said: {toasts}") from None
    assert cloud.state.requests[-1]["headers"]["api-key"] == KEY

    stored = page.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert KEY not in stored and KEY not in page.content(), "the key never reaches the browser"
    assert KEY not in (home / "settings.json").read_text()
    assert not outside, f"the page made requests that leave this computer: {outside}"
    context.close()
