"""Help tab: a short guide in plain words, and the welcome box shown on first run."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from assistant.app.services import Services
from assistant.security.accounts import AccountStore, check_new_account
from assistant.security.roles import Action
from assistant.store.profile import save_profile
from assistant.web.common import guarded, refusal, user_of
from assistant.web.permissions import Gate

HELP = """
## How to use the assistant

**Write a progress note**
1. Open **Progress note** and pick the note type, the format (SOAP, DAP, BIRP or narrative) and your discipline.
2. Describe the session in your own words — what the client said, what you did, how they responded, what comes next.
   Not sure what to write? Press **Try an example**.
3. Press **Write the note**. The draft appears on the right as it is written. Press **Stop** at any time.
4. Read the draft carefully and edit it right in the box. Items that are not in your description are highlighted
   below it: check each one. Press **Approve**, then **Copy** it or download it as a Word, PDF or text file.

**Write a prior-authorization letter**: open **Prior-auth letter**, pick the letter type, fill in the form and press
**Write the letter**. Check every code, date and number before you send it.

**Chat**: ask for a patient letter, a reminder, a summary or an answer about office matters. **Clear conversation** starts over.

**Make the assistant write your way**: the **Presets** tab shows the instructions behind every note and letter type.
You can copy one, change it and save it as your own. **Settings** holds your practice's name, address and signature,
used in letters.

### Good to know
- **Private.** Everything stays on this computer. Nothing is sent over the internet.
- **Always review.** The assistant drafts; you decide. It can get facts wrong or add things you did not say.
- **Busy?** When several colleagues ask at once, your request waits its turn (a message shows your place in line)
  and then starts by itself.
- **Shared computer?** An admin can turn on staff sign-in (first-run box, or **Settings**). Each person then signs in
  with their own name and is signed out after 15 minutes without use.
- **If something goes wrong**, the message says what to do. If it shows a reference code, give it to your vendor.
"""


def build(services: Services) -> None:
    gr.Markdown(HELP, elem_id="help-text")


def build_welcome(services: Services) -> tuple[Callable[[], tuple], list]:
    """First run: the practice name and signature, and optional staff sign-in for a shared computer.

    Everything can be skipped and done later (Settings; ``assistant users add``). Returns the page-load
    handler and its outputs: whether to show the box is decided again on every page load."""
    first_run = not services.profile.name
    store = AccountStore(services.config.paths.root)
    with gr.Group(visible=first_run, elem_id="welcome") as box:
        gr.Markdown("### Welcome! A few details to get started\nLetters use your practice's name and your "
                    "signature. You can skip this and fill in everything later under **Settings**.")
        with gr.Row():
            name = gr.Textbox(label="Practice name", elem_id="welcome-name")
            signature = gr.Textbox(label="Signature (name and credentials)", elem_id="welcome-signature",
                                   placeholder="e.g. Alex Rivera, PT, DPT")
        with gr.Accordion("Optional: staff sign-in for a shared computer", open=False, visible=not store.enabled,
                          elem_id="welcome-accounts") as accounts:
            gr.Markdown("If several people use this computer, each person can sign in with their own name, and "
                        "the assistant signs them out after 15 minutes without use. Make the first account here "
                        "(it can add the others later under **Settings**), or leave these empty.")
            with gr.Row():
                user = gr.Textbox(label="Your user name", elem_id="welcome-user", placeholder="e.g. arivera")
                password = gr.Textbox(label="Password (at least 10 characters)", type="password",
                                      elem_id="welcome-password")
                repeat = gr.Textbox(label="Password again", type="password", elem_id="welcome-password2")
        with gr.Row():
            save = gr.Button("Save and start", variant="primary", elem_id="welcome-save")
            skip = gr.Button("Skip for now", elem_id="welcome-skip")
    signed = gr.Markdown(elem_id="welcome-signin")
    gate = Gate(services)

    @guarded
    def do_save(name_value: str, signature_value: str, user_value: str, password_value: str, repeat_value: str,
                request: gr.Request | None = None):
        if store.enabled:  # staff sign-in on: the practice profile is an admin's (roles.Action.EDIT_PROFILE)
            gate.check(request, Action.EDIT_PROFILE)
        user_value = (user_value or "").strip()
        wants_account = bool(user_value or password_value)
        if wants_account:  # checked before anything is saved, so a mistake loses nothing
            if store.enabled:
                raise refusal("Staff sign-in is already on. An admin adds accounts under Settings.")
            if (password_value or "") != (repeat_value or ""):
                raise refusal("The two passwords are not the same. Type them again.")
            check_new_account(user_value, password_value or "")
        profile = services.profile.model_copy(
            update={"name": (name_value or "").strip()[:200], "signature_block": (signature_value or "").strip()[:1000]}
        )
        save_profile(services.config.paths.root, profile)
        services.profile = profile
        if services.audit:
            services.audit.record("settings_changed", user=user_of(request) or user_value, preset="profile",
                                  output=profile.model_dump_json(), detail="practice profile saved (welcome)")
        if wants_account:
            store.add(user_value, password_value, "admin")
        if not wants_account:
            return gr.update(visible=False), "", "", ""
        if services.audit:
            services.audit.record("user_added", user=user_value, detail=user_value)
        return (gr.update(visible=False), "", "",
                f"**Staff sign-in is on.** [Sign in as {user_value}](/login) to go on.")

    private = dict(api_visibility="private")  # queued: a refusal shows as a message box
    save.click(do_save, [name, signature, user, password, repeat], [box, password, repeat, signed], **private).success(
        None, None, None, js="() => { if (document.querySelector('#welcome-signin a')) window.location.href = '/login'; }")
    skip.click(lambda: gr.update(visible=False), None, box, **private)

    def on_load():
        return gr.update(visible=not services.profile.name), gr.update(visible=not store.enabled)

    return on_load, [box, accounts]
