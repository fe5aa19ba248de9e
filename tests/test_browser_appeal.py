"""The letter tab's appeal mode and "Ready to send?" checklist, and the notes tab's Medicare helpers, in
Debian's Chromium: a pasted denial and an uploaded PDF are read, the appeal type is chosen and its denial
details filled; an appeal is written by the demo model and checked; the uploaded letter is not left on disk."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from browser_kit import SHOTS, record_outside, require_chromium, served

pytestmark = pytest.mark.slow
sync_api = require_chromium()
DENIALS = Path(__file__).resolve().parent / "data" / "denials"


def make_pdf(text: str, path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    for line in text.split("\n"):
        pdf.multi_cell(0, 4.5, line or " ", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    home = tmp_path_factory.mktemp("appeal-home")
    with served(home) as url:
        yield url, home


@pytest.fixture()
def page(browser, app):
    outside: list[str] = []
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    record_outside(page, outside)
    page.goto(app[0])
    page.wait_for_selector("#note-draft", timeout=30_000)
    if page.locator("#welcome-skip").is_visible():
        page.click("#welcome-skip")
    yield page
    assert not outside, f"the page made requests that leave this computer: {outside}"


def test_pasted_denial_becomes_an_appeal_that_is_checked(page):
    letter = (DENIALS / "02-ma-ot-unsigned.txt").read_text(encoding="utf-8")
    want = json.loads((DENIALS / "02-ma-ot-unsigned.json").read_text(encoding="utf-8"))
    page.get_by_role("tab", name="Prior-auth letter").click()
    sync_api.expect(page.locator("#letter-checklist")).to_contain_text("Ready to send?")
    page.get_by_text("Appeal a denial").click()
    page.click("#appeal-read")  # nothing given yet: a plain message, nothing changes
    sync_api.expect(page.locator(".toast-body, [data-testid='toast-body']").first).to_contain_text("Paste the denial")
    page.locator("#appeal-pasted textarea").fill(letter)
    page.click("#appeal-read")
    found = page.locator("#appeal-found")
    sync_api.expect(found).to_contain_text(want["reference"])
    sync_api.expect(found).to_contain_text(f"Appeal deadline: {want['deadline']}")
    sync_api.expect(found).to_contain_text("Documentation incomplete")
    sync_api.expect(page.locator("#letter-preset input")).to_have_value("Appeal of a denial")
    details = page.locator("#letter-denial_details textarea")
    sync_api.expect(details).to_be_visible()
    assert want["reference"] in details.input_value() and "Reasons given by the payer" in details.input_value()

    for name, value in {"patient_name": "Morgan Example", "date_of_birth": "09/03/1958", "member_id": "XJH123456789",
                        "payer": "Sample Care Advantage Plan", "provider_name": "Priya Shah, OTR/L",
                        "requested_service": "Outpatient occupational therapy", "visits": "12 visits",
                        "justification": "Upper body dressing improved from moderate assist to independent."}.items():
        page.locator(f"#letter-{name} textarea").fill(value)
    page.click("#letter-draft")
    checklist = page.locator("#letter-checklist")
    sync_api.expect(checklist).to_contain_text("things payers look for", timeout=240_000)
    sync_api.expect(checklist).to_contain_text("Goals with a number and a time frame")
    assert page.locator("#letter-output textarea").input_value().strip()
    # The form gave no NPI: the checklist says so and names the box to fill, never a made-up number.
    sync_api.expect(checklist).to_contain_text("fill in Provider NPI")
    sync_api.expect(checklist).to_contain_text("fill in Why the denial should be overturned")  # as this type names it
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.evaluate("window.scrollTo(0, document.querySelector('#letter-checklist').getBoundingClientRect().top"
                  " + window.scrollY - 500)")
    page.screenshot(path=str(SHOTS / "appeal-checklist.png"))


def test_uploaded_pdf_is_read_then_removed(page, app, tmp_path):
    name = "05-scanned-pt-knee-network"
    want = json.loads((DENIALS / f"{name}.json").read_text(encoding="utf-8"))
    pdf = make_pdf((DENIALS / f"{name}.txt").read_text(encoding="utf-8"), tmp_path / "denial-letter-upload.pdf")
    page.get_by_role("tab", name="Prior-auth letter").click()
    page.get_by_text("Appeal a denial").click()
    page.locator("#appeal-upload input[type=file]").set_input_files(str(pdf))
    page.wait_for_timeout(500)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(app[1].rglob("denial-letter-upload.pdf")):
        time.sleep(0.2)  # the upload reaches the app's own upload folder
    page.click("#appeal-read")
    found = page.locator("#appeal-found")
    sync_api.expect(found).to_contain_text(want["reference"])
    sync_api.expect(found).to_contain_text(f"Appeal deadline: {want['deadline']}")
    sync_api.expect(found).to_contain_text("Administrative")
    assert not list(app[1].rglob("denial-letter-upload.pdf")), "the patient's letter was left on disk"


def test_medicare_helpers(page):
    page.get_by_text("Medicare billing helpers").click()
    page.locator("#medicare-session input").fill("53")
    page.click("#medicare-psych")
    sync_api.expect(page.locator("#medicare-psych-out")).to_contain_text("bill 90837")
    page.locator("#medicare-year input").fill("1800")
    page.click("#medicare-kx")
    sync_api.expect(page.locator(".toast-body, [data-testid='toast-body']").first).to_contain_text("four-digit year")
    page.locator("#medicare-year input").fill("2026")
    page.locator("#medicare-spent input").fill("2600")
    page.click("#medicare-kx")
    sync_api.expect(page.locator("#medicare-kx-out")).to_contain_text("$2,480")
    sync_api.expect(page.locator("#medicare-kx-out")).to_contain_text("$120 past the threshold")

    for cell, value in (("0-0", "97110"), ("0-1", "33"), ("1-0", "97140"), ("1-1", "7")):
        page.locator(f"#medicare-minutes [data-testid='cell-{cell}']").click()
        page.keyboard.press("Enter")  # edit the cell
        page.locator(f"#medicare-minutes [data-testid='cell-{cell}'] textarea").fill(value)
        page.keyboard.press("Enter")
    page.click("#medicare-units")
    units = page.locator("#medicare-units-out")
    sync_api.expect(units).to_contain_text("40 timed minutes: bill 3 units")
    sync_api.expect(units).to_contain_text("97140: 1 unit (7 min)")
    page.locator("#medicare-box").screenshot(path=str(SHOTS / "medicare-helpers.png"))
