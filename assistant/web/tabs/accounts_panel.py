"""Staff accounts panel (Settings tab): admins add, remove and unlock accounts.

Shown only to a signed-in admin; every action re-checks that on the server
(``roles.Action.MANAGE_ACCOUNTS``). A removed account, a new password or a lock ends that
person's live sessions at once: the web guard checks each session against accounts.json.
"""

from __future__ import annotations

import gradio as gr

from assistant.app.services import Services
from assistant.security.accounts import AuthError
from assistant.security.roles import Action
from assistant.web.common import to_user_error, user_of
from assistant.web.permissions import Gate


def build(services: Services) -> tuple[gr.Accordion, object]:
    gate = Gate(services)
    store = gate.accounts
    with gr.Accordion("Staff accounts (admins only)", open=False, visible=False, elem_id="accounts") as panel:
        table = gr.Dataframe(headers=["User", "Role", "Locked"], interactive=False, elem_id="accounts-table")
        with gr.Row():
            name = gr.Textbox(label="User name", elem_id="accounts-name")
            password = gr.Textbox(label="Password (at least 10 characters)", type="password", elem_id="accounts-password")
            role = gr.Radio(["staff", "admin"], value="staff", label="Role")
        with gr.Row():
            add = gr.Button("Add account", variant="primary")
            new_password = gr.Button("Set this password")
            unlock = gr.Button("Unlock")
            remove = gr.Button("Remove account", variant="stop")
        result = gr.Markdown()

    def rows():
        return [[n, r, "yes" if locked else ""] for n, r, locked in store.names()]

    def require_admin(request: gr.Request) -> str:
        user = user_of(request)
        if not user:  # sign-in off: this panel is not shown, and accounts are made from the command line
            raise gr.Error("Only an admin can manage accounts.", print_exception=False)
        gate.check(request, Action.MANAGE_ACCOUNTS)
        return user

    def act(verb: str):
        def handler(name_v: str, password_v: str, role_v: str, request: gr.Request):
            admin = require_admin(request)
            name_v = (name_v or "").strip()
            try:
                if verb == "add":
                    store.add(name_v, password_v or "", role_v)
                    event, note = "user_added", f"Added {name_v}."
                elif verb == "passwd":
                    store.set_password(name_v, password_v or "")
                    event, note = "password_changed", f"Set a new password for {name_v}."
                elif verb == "unlock":
                    store.unlock(name_v)
                    event, note = None, f"Unlocked {name_v}."
                else:
                    if name_v == admin:
                        raise AuthError("You cannot remove your own account while signed in.")
                    store.remove(name_v)
                    event, note = "user_removed", f"Removed {name_v}."
            except AuthError as exc:
                raise to_user_error(exc) from None
            if event and services.audit:
                services.audit.record(event, user=admin, detail=name_v)
            return rows(), "", note

        return handler

    inputs, outputs = [name, password, role], [table, password, result]
    private = dict(api_visibility="private")  # queued: a refusal shows as a message box
    add.click(act("add"), inputs, outputs, **private)
    new_password.click(act("passwd"), inputs, outputs, **private)
    unlock.click(act("unlock"), inputs, outputs, **private)
    remove.click(act("remove"), inputs, outputs, **private)

    def show(request: gr.Request):
        is_admin = bool(user_of(request)) and gate.allowed(request, Action.MANAGE_ACCOUNTS)
        return gr.update(visible=is_admin), rows() if is_admin else []

    return panel, (show, [panel, table])
