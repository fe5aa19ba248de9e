"""History tab: the drafts kept after approval (encrypted, deleted after the retention period).

Lists the kept drafts newest first, opens one read-only with a download, and
deletes one or all of them after a confirmation tick. With staff accounts on,
each person sees and deletes only their own drafts; every handler checks that
again on the server, whatever draft id the page sends. Without accounts,
everyone at this computer is the one local user and sees every kept draft.
Deletions go into the audit log (how many, kind, preset, the deleted text's
hash; never the text).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import gradio as gr

from assistant.app.services import Services
from assistant.security.accounts import AccountStore
from assistant.store.drafts import Draft
from assistant.store.exports import export_docx, export_pdf, export_txt
from assistant.web.common import guarded, refusal, user_of

KIND_WORDS = {"note": "Progress note", "progress_note": "Progress note", "letter": "Prior-auth letter",
              "prior_auth": "Prior-auth letter", "chat": "Chat reply"}
EXPORT_KIND = {"note": "note", "progress_note": "note", "letter": "letter", "prior_auth": "letter", "chat": "chat"}
STATUS_WORDS = {"approved": "Approved", "draft": "Not approved"}
EXPORTERS = {"docx": export_docx, "pdf": export_pdf, "txt": export_txt}
HEADERS = ["Date", "Kind", "Preset", "Status", "Who"]
CONFIRM_ONE = "Yes, delete this draft"
CONFIRM_ALL = "Yes, delete all my drafts"
PICK_HINT = "Pick a draft in the list to read it here."


def when(draft: Draft) -> str:
    """The save time in this computer's time zone, e.g. ``2026-11-29 14:05``."""
    try:
        return dt.datetime.fromisoformat(draft.created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return draft.created


def kind_words(draft: Draft) -> str:
    return KIND_WORDS.get(draft.kind, draft.kind.replace("_", " ").capitalize())


def build(services: Services) -> tuple[Callable[..., tuple], list]:
    """Build the tab; returns its refresh handler and outputs (run when the tab is selected)."""
    accounts = AccountStore(services.config.paths.root)
    store = services.drafts
    days = store.retention_days if store is not None else 30
    empty = f"No kept drafts yet. Approved drafts are kept here for {days} days, encrypted."

    gr.Markdown(f"**Kept drafts.** Each draft you approve is kept here, encrypted, for {days} days, then deleted "
                "automatically. Only you see your own drafts when staff accounts are in use.")
    summary = gr.Markdown(empty, elem_id="history-summary")
    table = gr.Dataframe(headers=HEADERS, value=[], interactive=False, elem_id="history-table")
    with gr.Row():
        picker = gr.Dropdown(label="Open a kept draft", choices=[], value=None, elem_id="history-pick", scale=4)
        refresh_button = gr.Button("Refresh list", elem_id="history-refresh", scale=1)
    details = gr.Markdown(PICK_HINT, elem_id="history-details")
    text = gr.Textbox(label="Draft text (read-only)", lines=14, interactive=False, elem_id="history-text")
    with gr.Row():
        buttons = {fmt: gr.Button(f"Download .{fmt}", elem_id=f"history-export-{fmt}") for fmt in EXPORTERS}
    download = gr.File(label="Your document", visible=False, interactive=False, elem_id="history-download")
    with gr.Row():
        confirm_one = gr.Checkbox(label=CONFIRM_ONE, value=False, elem_id="history-confirm-one")
        delete_one = gr.Button("Delete this draft", variant="stop", elem_id="history-delete")
    with gr.Row():
        confirm_all = gr.Checkbox(label=CONFIRM_ALL, value=False, elem_id="history-confirm-all")
        delete_all = gr.Button("Delete all my drafts", variant="stop", elem_id="history-delete-all")
    result = gr.Markdown("", elem_id="history-result")
    ids = gr.State([])

    def owner(request: gr.Request | None) -> str | None:
        """Whose drafts this person may see: None (all) without accounts, else their own name
        ("" when no one is signed in: then only drafts kept before accounts were turned on)."""
        return (user_of(request) or "") if accounts.enabled else None

    def visible(request: gr.Request | None) -> list[Draft]:
        if store is None:
            return []
        drafts = store.list()
        who = owner(request)
        return drafts if who is None else [d for d in drafts if d.user == who]

    def own(draft_id: str | None, request: gr.Request | None) -> Draft | None:
        """The draft, if it exists and this person may see it (checked here, not trusted from the page)."""
        if store is None or not draft_id:
            return None
        draft = store.get(str(draft_id))
        who = owner(request)
        if draft is None or (who is not None and draft.user != who):
            return None
        return draft

    def title_of(preset_id: str) -> str:
        preset = services.presets.presets.get(preset_id)
        return preset.title if preset is not None else (preset_id or "—")

    def listing(request: gr.Request | None) -> tuple:
        drafts = visible(request)
        lines = [f"**{len(drafts)} kept draft{'' if len(drafts) == 1 else 's'}**, newest first."] if drafts else [empty]
        if store is not None and store.unreadable:
            lines.append(f"{store.unreadable} kept draft file{' was' if store.unreadable == 1 else 's were'} damaged "
                         "or could not be opened, so not shown. Tell your vendor if this keeps happening.")
        rows = [[when(d), kind_words(d), title_of(d.preset), STATUS_WORDS.get(d.status, d.status), d.user or "—"]
                for d in drafts]
        choices = [(f"{when(d)} · {kind_words(d)} · {title_of(d.preset)}", d.id) for d in drafts]
        return ("\n\n".join(lines), rows, gr.update(choices=choices, value=None), "", PICK_HINT,
                gr.update(value=None, visible=False), False, False, [d.id for d in drafts])

    outputs = [summary, table, picker, text, details, download, confirm_one, confirm_all, ids]

    @guarded
    def refresh(request: gr.Request):
        return listing(request)

    @guarded
    def show(draft_id: str | None, request: gr.Request):
        if not draft_id:
            return "", PICK_HINT, gr.update(value=None, visible=False)
        draft = own(draft_id, request)
        if draft is None:
            raise refusal("That draft is no longer kept. Click “Refresh list” to see the drafts there are now.")
        who = f" · by {draft.user}" if draft.user else ""
        line = (f"**{kind_words(draft)}** · {title_of(draft.preset)} · "
                f"{STATUS_WORDS.get(draft.status, draft.status)} · {when(draft)}{who}")
        return draft.text, line, gr.update(value=None, visible=False)

    @guarded
    def pick_row(row_ids: list[str], evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if isinstance(row, int) and 0 <= row < len(row_ids):
            return gr.update(value=row_ids[row])
        return gr.update()

    def exporter(fmt: str):
        @guarded
        def export(draft_id: str | None, request: gr.Request):
            draft = own(draft_id, request)
            if draft is None:
                raise refusal("Pick a kept draft first, then download it.")
            kind = EXPORT_KIND.get(draft.kind, "chat")
            # A folder of its own with a random name: another account cannot guess the file's address.
            folder = services.config.paths.tmp / "exports" / secrets.token_hex(8)
            path = EXPORTERS[fmt](draft.text, folder, kind, services.profile)
            if services.audit is not None:
                services.audit.record("draft_exported", user=user_of(request), kind=draft.kind, preset=draft.preset,
                                      output=draft.text, detail=f"{fmt}, from history")
            return gr.update(value=str(path), visible=True)

        return export

    @guarded
    def remove(draft_id: str | None, confirmed: bool, request: gr.Request):
        draft = own(draft_id, request)
        if draft is None:
            raise refusal("Pick a kept draft first.")
        if not confirmed:
            raise refusal(f"Tick “{CONFIRM_ONE}” first, then click “Delete this draft”.", title="Nothing deleted")
        assert store is not None
        deleted = store.delete(draft.id)
        if deleted and services.audit is not None:
            services.audit.record("drafts_deleted", user=user_of(request), kind=draft.kind, preset=draft.preset,
                                  output=draft.text, detail="1 kept draft deleted by hand")
        return (*listing(request), "Deleted that draft." if deleted else "That draft was already gone.")

    @guarded
    def remove_all(confirmed: bool, request: gr.Request):
        if not confirmed:
            raise refusal(f"Tick “{CONFIRM_ALL}” first, then click “Delete all my drafts”.", title="Nothing deleted")
        if store is None:
            return (*listing(request), "There are no kept drafts to delete.")
        who = owner(request)
        count = store.delete_all() if who is None else store.delete_all(user=who)
        if services.audit is not None:
            scope = "every kept draft on this computer" if who is None else "all of this person's kept drafts"
            services.audit.record("drafts_deleted", user=user_of(request), detail=f"{count} deleted: {scope}")
        return (*listing(request), f"Deleted {count} kept draft{'' if count == 1 else 's'}.")

    private = dict(api_visibility="private")  # queued: a refusal shows as a message box
    refresh_button.click(refresh, None, outputs, **private)
    picker.change(show, picker, [text, details, download], **private)
    table.select(pick_row, ids, picker, **private)
    for fmt, button in buttons.items():
        button.click(exporter(fmt), picker, download, **private)
    delete_one.click(remove, [picker, confirm_one], [*outputs, result], **private)
    delete_all.click(remove_all, confirm_all, [*outputs, result], **private)
    return refresh, outputs
