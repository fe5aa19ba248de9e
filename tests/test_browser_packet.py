"""A payer in the practice profile (shown in Settings), then in the letter tab: an approved letter made into a fax packet (PDF)
with a cover sheet addressed to that payer, in Debian's Chromium."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from browser_kit import record_outside, require_chromium, served
from pypdf import PdfReader

pytestmark = pytest.mark.slow
sync_api = require_chromium()
LETTER = ("RE: Prior authorization request\n\nDear reviewer,\n\nPlease approve 12 visits of physical therapy "
          "(97110) for low back pain (M54.50).\n\nSincerely,\nAlex Rivera, PT")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo_model_dir: Path):
    from assistant.core.profile import Payer, PracticeProfile
    from assistant.store.profile import save_profile

    home = tmp_path_factory.mktemp("packet-home")
    save_profile(home, PracticeProfile(name="Riverside Therapy Group", fax="555-0101",
                                       payers=[Payer(name="Example Health Plan", fax="555-0199")]))
    with served(home) as url:
        yield url


def test_payer_profile_then_fax_packet(browser, app_url):
    outside: list[str] = []
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    record_outside(page, outside)
    page.goto(app_url)
    page.wait_for_selector("#note-draft", timeout=30_000)
    if page.locator("#welcome-skip").is_visible():
        page.click("#welcome-skip")
    page.get_by_role("tab", name="Settings").click()
    sync_api.expect(page.locator("#profile-payers")).to_contain_text("Example Health Plan")  # the payer table

    page.get_by_role("tab", name="Prior-auth letter").click()
    page.locator("#letter-output textarea").fill(LETTER)
    page.click("#letter-check-again")
    page.locator("#letter-reviewed input").check()
    page.click("#letter-approve")
    sync_api.expect(page.locator("#letter-approval")).to_contain_text("approved —")
    page.get_by_text("Payer and fax packet").click()
    page.locator("#letter-payer-profile input").click()
    page.get_by_role("option", name="Example Health Plan", exact=True).click()
    page.click("#letter-packet-make")
    link = page.locator("#letter-packet-file a").first
    toast = page.locator(".toast-body, [data-testid='toast-body']").first
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not link.is_visible() and not toast.is_visible():
        time.sleep(0.2)
    assert link.is_visible(), toast.inner_text() if toast.is_visible() else "no packet and no message"
    with page.expect_download() as download:
        page.locator("#letter-packet-file a").first.click(timeout=60_000)
    assert re.fullmatch(r"prior-auth-packet-\d{4}-\d{2}-\d{2}\.pdf", download.value.suggested_filename)
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(Path(download.value.path()).read_bytes())).pages]
    assert len(pages) == 2 and "Example Health Plan" in pages[0] and "555-0199" in pages[0]
    assert "Please approve 12 visits" in pages[1]
    assert not outside, f"the page made requests that leave this computer: {outside}"
