"""The letter tab's appeal mode: the payer's denial letter in (pasted, or a PDF or text file),
the appeal preset chosen and its "Denial details" filled with what the appeal must answer.

A thin adapter over ``app.appeals``. The uploaded file is read and then deleted at once (it is a
patient's letter); the pasted text stays in its box. The person reads what was found, corrects the
details if needed, fills the rest of the form and presses "Write the letter" as for any letter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from assistant.app import appeals
from assistant.app.services import Services
from assistant.checks.denial import CATEGORY_WORDS, Denial
from assistant.web.common import guarded, refusal

INTRO = ("Got a denial? Paste the payer's letter or upload it. The assistant finds each reason, the reference "
         "number and the appeal deadline, and sets up an appeal that answers each reason.")


def found_text(denial: Denial, today: dt.date) -> str:
    """What was read, in plain words, for the person to check before writing."""
    lines = [f"**{len(denial.reasons)} reason{'' if len(denial.reasons) == 1 else 's'} found**" if denial.reasons
             else "**No reason for the denial was found.** Type the payer's reason into *Denial details*."]
    for number, reason in enumerate(denial.reasons, start=1):
        words = reason.text if len(reason.text) <= 240 else reason.text[:237] + "..."
        lines.append(f"{number}. *{CATEGORY_WORDS[reason.category]}*: “{words}”")
    lines.append(f"- Reference number: {denial.reference or 'not found (add it to Denial details)'}")
    lines.append(f"- Letter date: {denial.letter_date or 'not found'}")
    if denial.deadline:
        left = (dt.date.fromisoformat(denial.deadline) - today).days
        when = (f"{left} day{'' if left == 1 else 's'} from today" if left > 0 else
                "today" if left == 0 else f"{-left} day{'' if left == -1 else 's'} ago — ask the payer whether a late "
                "appeal can still be filed")
        lines.append(f"- **Appeal deadline: {denial.deadline}** ({when})")
    else:
        lines.append("- Appeal deadline: not found. Check the letter's appeal section or call the payer.")
    lines.append("\nThe *Appeal of a denial* letter type is chosen and *Denial details* is filled in. Check them, fill "
                 "in the rest of the form (progress so far, why the denial should be overturned), then press "
                 "**Write the letter**.")
    return "\n".join(lines)


def build(services: Services) -> Callable[[gr.Dropdown, gr.Textbox], None]:
    """The "Appeal a denial" accordion, here in the page; the returned function wires it once the form
    exists: reading a letter sets the letter type (``preset``) and fills the denial details (``details``)."""
    with gr.Accordion("Appeal a denial", open=False, elem_id="appeal-box"):
        gr.Markdown(INTRO)
        pasted = gr.Textbox(label="Denial letter (paste its text here)", lines=6, max_lines=20,
                            elem_id="appeal-pasted")
        upload = gr.File(label="Or upload the letter (PDF or text file)", file_types=[".pdf", ".txt"],
                         file_count="single", elem_id="appeal-upload")
        read = gr.Button("Read the denial", elem_id="appeal-read")
        found = gr.Markdown(elem_id="appeal-found")

    @guarded
    def do_read(text: str, file: str | None):
        try:
            if not file and not (text or "").strip():
                raise refusal("Paste the denial letter's text into the box, or upload the letter as a PDF or text "
                              "file, then press “Read the denial”.")
            today = dt.date.today()
            denial = appeals.read(text, file, today)
        finally:
            if file:  # a patient's letter: not left in the upload folder
                Path(file).unlink(missing_ok=True)
        choice = appeals.APPEAL_PRESET if appeals.APPEAL_PRESET in services.presets.presets else gr.update()
        return found_text(denial, today), appeals.denial_details(denial), choice, None

    def wire(preset: gr.Dropdown, details: gr.Textbox) -> None:
        read.click(do_read, [pasted, upload], [found, details, preset, upload], api_visibility="private")

    return wire
