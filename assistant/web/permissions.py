"""The role policy (``assistant.security.roles``) at the web edge.

``Gate(services)`` answers for the signed-in person of a request: ``check`` raises the plain refusal
as a message box (every handler that changes models, the profile, shared presets or accounts calls
it first, on the server), and ``lock_for_staff`` shows staff a short line saying why a group of
controls is unavailable, and disables those controls, each time the page opens.
"""

from __future__ import annotations

import gradio as gr

from assistant.security.accounts import AccountStore
from assistant.security.roles import Action, may, refusal
from assistant.web.common import user_of


class Gate:
    def __init__(self, services) -> None:  # noqa: ANN001 - Services (app layer), kept loose for fakes
        self.accounts = AccountStore(services.config.paths.root)

    def allowed(self, request: gr.Request | None, action: Action) -> bool:
        return may(self.accounts, user_of(request), action)

    def check(self, request: gr.Request | None, action: Action) -> None:
        """A message box with the refusal unless the request's person may do ``action``."""
        if not self.allowed(request, action):
            raise gr.Error(refusal(self.accounts, action), title="Not available", print_exception=False)

    def note(self, request: gr.Request | None, action: Action) -> str:
        """The short line shown above the controls: empty when allowed."""
        return "" if self.allowed(request, action) else f"**{refusal(self.accounts, action)}**"

    @staticmethod
    def notice(elem_id: str) -> gr.Markdown:
        """The place for the short line, put where staff will look for the controls."""
        return gr.Markdown("", elem_id=elem_id)

    def lock_for_staff(self, action: Action, note: gr.Markdown, controls: list) -> None:
        """On every page load: fill ``note`` with the refusal and disable ``controls`` for people whose
        role does not allow ``action`` (empty and enabled for those it does)."""

        def on_load(request: gr.Request):
            allowed = self.allowed(request, action)
            return [self.note(request, action), *[gr.update(interactive=allowed) for _ in controls]]

        root = gr.context.Context.root_block
        if root is not None:  # inside the app's Blocks (always, except a tab built on its own)
            root.load(on_load, None, [note, *controls], api_visibility="private")
