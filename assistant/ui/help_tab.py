"""Help tab: a short guide in plain words, and the welcome box shown on first run."""

from __future__ import annotations

import gradio as gr

from assistant.errors import AssistantError
from assistant.profile import save_profile
from assistant.services import Services
from assistant.ui.common import to_user_error

HELP = """
## How to use the assistant

**Write a progress note**
1. Open **Progress note** and pick the note type, the format (SOAP, DAP, BIRP or narrative) and your discipline.
2. Describe the session in your own words — what the client said, what you did, how they responded, what comes next.
   Not sure what to write? Press **Try an example**.
3. Press **Write the note**. The draft appears on the right as it is written. Press **Stop** at any time.
4. Read the draft carefully and edit it right in the box. Copy it with the copy button at the top right of the box.

**Write a prior-authorization letter**: open **Prior-auth letter**, pick the letter type, fill in the form and press
**Write the letter**. Check every code, date and number before you send it.

**Chat**: ask for a patient letter, a reminder, a summary or an answer about office matters. **Clear conversation** starts over.

**Make the assistant write your way**: the **Presets** tab shows the instructions behind every note and letter type.
You can copy one, change it and save it as your own. **Settings** holds your practice's name, address and signature,
used in letters.

### Good to know
- **Private.** Everything stays on this computer. Nothing is sent over the internet.
- **Always review.** The assistant drafts; you decide. It can get facts wrong or add things you did not say.
- **One at a time.** The assistant writes one document at a time for the whole office. If a colleague is using it,
  your request waits its turn and then starts by itself.
- **If something goes wrong**, the message says what to do. If it shows a reference code, give it to your vendor.
"""


def build(services: Services) -> None:
    gr.Markdown(HELP, elem_id="help-text")


def build_welcome(services: Services) -> None:
    """First run: ask for the practice name and signature; can be skipped and done later in Settings."""
    first_run = not services.profile.name
    with gr.Group(visible=first_run, elem_id="welcome") as box:
        gr.Markdown("### Welcome! Two details to get started\nLetters use your practice's name and your "
                    "signature. You can skip this and fill in everything later under **Settings**.")
        with gr.Row():
            name = gr.Textbox(label="Practice name", elem_id="welcome-name")
            signature = gr.Textbox(label="Signature (name and credentials)", elem_id="welcome-signature",
                                   placeholder="e.g. Alex Rivera, PT, DPT")
        with gr.Row():
            save = gr.Button("Save and start", variant="primary", elem_id="welcome-save")
            skip = gr.Button("Skip for now", elem_id="welcome-skip")

    def do_save(name_value: str, signature_value: str):
        profile = services.profile.model_copy(
            update={"name": (name_value or "").strip()[:200], "signature_block": (signature_value or "").strip()[:1000]}
        )
        try:
            save_profile(services.config.paths.root, profile)
        except AssistantError as exc:
            raise to_user_error(exc) from None
        services.profile = profile
        return gr.update(visible=False)

    private = dict(api_visibility="private")  # queued: a refusal shows as a message box
    save.click(do_save, [name, signature], box, **private)
    skip.click(lambda: gr.update(visible=False), None, box, **private)
