"""Build the Gradio Blocks from services. Nothing runs at import time.

What depends on the model in use (the status line, the model details, the demo
model's warning and the other notices, the note tab's demo defaults) is read
from the services at event time: on every page load and whenever a drafting
tab is opened, so a model switched in the System tab shows without a restart."""

from __future__ import annotations

import gradio as gr

from assistant.app.services import Services
from assistant.engine.demo_model import DEMO_NOTICE
from assistant.security.privacy import blocked_attempts
from assistant.web.common import guarded, user_of
from assistant.web.tabs import (
    about_panel,
    accounts_panel,
    chat_tab,
    dictate,
    help_tab,
    history_tab,
    letter_tab,
    notes_tab,
    presets_tab,
    settings_tab,
    system_tab,
)

# System fonts only: the page must load nothing from outside this computer.
THEME = gr.themes.Soft(
    primary_hue="teal",
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "Consolas", "monospace"],
)
CSS = """
#status-line {font-size: 0.9em; opacity: 0.85}
#demo-notice {border-left: 4px solid #d97706; padding-left: 0.75em}
footer {display: none !important}
"""


def status_text(services: Services, user: str = "") -> str:
    """One plain line: where the text goes, what was blocked, which model (and who is signed in)."""
    info = services.model
    blocked = len(blocked_attempts())
    model = "the small demo model (for trying only)" if info.is_demo else info.name
    where = "the graphics card" if info.device.startswith("GPU") else "the processor"
    if info.cloud:
        privacy = f"**Cloud** — drafts are sent to {info.sent_to}"
    elif info.sent_to:
        privacy = f"**Private** — drafts are written by {info.sent_to}, nowhere else"
    else:
        privacy = "**Private** — running on this computer only"
    other = "other " if info.sent_to else ""
    using = f"Using {model}" + ("" if info.sent_to else f" with {info.engine}" if info.engine else f" on {where}")
    return (
        f"{privacy} · {blocked} {other}connection{'' if blocked == 1 else 's'} to the internet blocked · {using}"
        + (f" · Signed in as **{user}** · [Sign out](/logout)" if user else "")
    )


def details_text(services: Services) -> str:
    info = services.model
    return (
        f"- Model: `{info.name}`{' (demo)' if info.is_demo else ''}\n"
        + (f"- Engine: {info.engine}\n" if info.engine else "")
        + (f"- Text goes to: {info.sent_to}\n" if info.sent_to else "")
        + f"- Device: {info.device}\n"
        f"- Precision: {info.precision}\n"
        f"- Reading window: {info.context_window:,} tokens\n"
        f"- Load time: {info.load_seconds:.1f} s\n"
        f"- Outbound connection attempts blocked since start: {len(blocked_attempts())}"
    )


def notice_updates(services: Services) -> tuple[dict, dict]:
    """The demo model's warning (shown only while the demo model runs) and the other notices."""
    demo = services.model.is_demo
    others = [n for n in [services.model.notice, *services.notices] if n and n != DEMO_NOTICE]
    return (gr.update(value=f"**Please note:** {DEMO_NOTICE}" if demo else "", visible=demo),
            gr.update(value="\n\n".join(f"**Please note:** {n}" for n in others), visible=bool(others)))


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="Practice Assistant", analytics_enabled=False) as app:
        gr.Markdown("# Practice Assistant\nDrafts progress notes, prior-authorization letters and everyday writing. "
                    "Everything stays on this computer. Always review a draft before you use it.")
        status = gr.Markdown(status_text(services), elem_id="status-line")
        with gr.Accordion("Advanced: model details", open=False):
            details = gr.Markdown(details_text(services), elem_id="model-details")
        demo_update, other_update = notice_updates(services)
        demo_notice = gr.Markdown(demo_update["value"], visible=demo_update["visible"], elem_id="demo-notice")
        notices = gr.Markdown(other_update["value"], visible=other_update["visible"], elem_id="notices")
        show_welcome, welcome_outputs = help_tab.build_welcome(services)
        with gr.Tabs():
            pickers = {}
            with gr.Tab("Progress note", id="note", elem_id="tab-note") as note_page:
                pickers["progress_note"], (note_defaults, note_default_outputs) = notes_tab.build(services)
            with gr.Tab("Prior-auth letter", id="letter", elem_id="tab-letter") as letter_page:
                pickers["prior_auth"] = letter_tab.build(services)
            with gr.Tab("Chat", id="chat", elem_id="tab-chat") as chat_page:
                pickers["chat"] = chat_tab.build(services)
            with gr.Tab("History", id="history") as history_page:
                show_history, history_outputs = history_tab.build(services)
            history_page.select(show_history, None, history_outputs, api_visibility="private")
            with gr.Tab("Presets", id="presets"):
                presets_tab.build(services, pickers)
            with gr.Tab("Settings", id="settings") as settings_page:
                profile_fields, load_profile_fields = settings_tab.build(services)
                _, (show_accounts, account_outputs) = accounts_panel.build(services)
            # Refill from the saved profile whenever the tab opens (the welcome box may have changed it).
            settings_page.select(load_profile_fields, None, profile_fields, queue=False, api_visibility="private")
            with gr.Tab("System", id="system"):
                system_tab.build(services)
            with gr.Tab("Help", id="help"):
                help_tab.build(services)
                about_panel.build(services)
        @guarded
        def refresh(request: gr.Request):
            return (status_text(services, user_of(request)), details_text(services), *notice_updates(services))

        shown = [status, details, demo_notice, notices]
        private = dict(queue=False, api_visibility="private")
        app.load(refresh, None, shown, **private)
        app.load(note_defaults, note_default_outputs[1:], note_default_outputs, **private)
        for page in (note_page, letter_page, chat_page):  # back from the System tab after a switch
            page.select(refresh, None, shown, **private)
        note_page.select(note_defaults, note_default_outputs[1:], note_default_outputs, **private)
        app.load(show_accounts, None, account_outputs, queue=False, api_visibility="private")
        app.load(show_welcome, None, welcome_outputs, queue=False, api_visibility="private")
        dictate.api(services)  # /transcribe, for scripts
    return app
