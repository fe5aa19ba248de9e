"""Build the Gradio Blocks from services. Nothing runs at import time."""

from __future__ import annotations

import gradio as gr

from assistant.privacy import blocked_attempts
from assistant.services import Services
from assistant.ui import chat_tab, letter_tab, notes_tab, presets_tab, settings_tab

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


def status_text(services: Services) -> str:
    info = services.model
    blocked = len(blocked_attempts())
    kind = " (demo)" if info.is_demo else ""
    return (
        f"Private: running on this computer only · {blocked} outbound connection attempt"
        f"{'' if blocked == 1 else 's'} blocked · Model: {info.name}{kind} on {info.device}, {info.precision}"
    )


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="Practice Assistant", analytics_enabled=False) as app:
        gr.Markdown("# Practice Assistant\nDrafts progress notes, prior-authorization letters and everyday writing. "
                    "Everything stays on this computer. Always review a draft before you use it.")
        status = gr.Markdown(status_text(services), elem_id="status-line")
        for notice in services.notices:
            gr.Markdown(f"**Please note:** {notice}", elem_id="demo-notice" if "demo model" in notice else None)
        with gr.Tabs():
            pickers = {}
            with gr.Tab("Progress note", id="note"):
                pickers["progress_note"] = notes_tab.build(services)
            with gr.Tab("Prior-auth letter", id="letter"):
                pickers["prior_auth"] = letter_tab.build(services)
            with gr.Tab("Chat", id="chat"):
                pickers["chat"] = chat_tab.build(services)
            with gr.Tab("Presets", id="presets"):
                presets_tab.build(services, pickers)
            with gr.Tab("Settings", id="settings"):
                settings_tab.build(services)
        app.load(lambda: status_text(services), None, status, queue=False, api_visibility="private")
    return app
