"""Help tab extras: the About panel (version, build date, bundled components and their licenses)
and the Quit button, which stops the assistant cleanly (``POST /quit``, see assistant.web.staged)."""

from __future__ import annotations

import gradio as gr

from assistant.app.services import Services
from assistant.install import about

STOPPED = ("<main style=\\'font-family:system-ui,sans-serif;max-width:30em;margin:4em auto;line-height:1.5\\'>"
           "<h1>The assistant has stopped</h1><p>Start it again from its icon when you need it. "
           "You can close this tab.</p></main>")
QUIT_JS = (
    "() => { if (!window.confirm('Quit the assistant? It stops for everyone using it on this computer.')) return; "
    "fetch('/quit', {method: 'POST', credentials: 'same-origin'}).catch(() => null)"
    f".finally(() => {{ document.body.innerHTML = '{STOPPED}'; }}); }}"
)


def build(services: Services) -> None:
    with gr.Accordion("About this assistant", open=False, elem_id="about"):
        gr.Markdown(about.about_markdown(), elem_id="about-text")
    gr.Markdown("**Quit.** Stops the assistant on this computer (for everyone using it). "
                "Start it again from its icon.")
    quit_button = gr.Button("Quit the assistant", variant="stop", elem_id="quit", size="sm")
    quit_button.click(None, None, None, js=QUIT_JS)
