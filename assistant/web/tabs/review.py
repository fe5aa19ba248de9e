"""Review, approve and export, shared by the note and letter tabs.

After a draft is written it is checked (grounding flags, missing sections,
codes) and the flags are shown highlighted with a count. A draft stays a draft
until approved; approving with open flags needs the "I reviewed the flagged
items" tick. Only the approved text is exported, and a draft edited after
approval must be approved again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from assistant.app.services import Services
from assistant.checks import DraftCheck, check_draft
from assistant.errors import AssistantError
from assistant.export import export_docx, export_pdf, export_txt
from assistant.web.common import to_user_error, user_of

LABEL = "not in your notes"
EXPORTERS = {"docx": export_docx, "pdf": export_pdf, "txt": export_txt}


@dataclass
class Review:
    highlight: gr.HighlightedText
    summary: gr.Markdown
    flag_count: gr.State
    approved: gr.State
    status: gr.Markdown


def segments(draft: str, result: DraftCheck) -> list[tuple[str, str | None]]:
    """The draft cut into plain and flagged pieces for HighlightedText."""
    out: list[tuple[str, str | None]] = []
    at = 0
    for flag in sorted(result.flags, key=lambda f: f.start):
        if flag.start < at:
            continue
        if flag.start > at:
            out.append((draft[at:flag.start], None))
        out.append((draft[flag.start:flag.end], LABEL))
        at = flag.end
    if at < len(draft):
        out.append((draft[at:], None))
    return out


def summary_text(result: DraftCheck, where: str) -> str:
    lines = []
    n = len(result.flags)
    if n:
        lines.append(f"**{n} item{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} not in {where}** — highlighted "
                     "below. Check each one; correct or remove it if it is not right.")
    else:
        lines.append(f"**Every number, date, name and code in the draft is in {where}.** Still read it through.")
    if result.missing_sections:
        lines.append(f"**Missing section{'s' if len(result.missing_sections) > 1 else ''}:** "
                     f"{', '.join(result.missing_sections)} (or out of order).")
    for check in result.codes.values():
        mark = "✔" if check.valid and check.billable else ("•" if check.valid is None else "✘")
        lines.append(f"- {mark} {check.message}")
    for note in result.notes:
        lines.append(f"- {note}")
    return "\n".join(lines)


def build(services: Services, prefix: str) -> Review:
    with gr.Group():
        summary = gr.Markdown("When a draft is written, it is checked here against what you typed.", elem_id=f"{prefix}-check-summary")
        highlight = gr.HighlightedText(
            label="Check: items not in your notes are highlighted", combine_adjacent=False, show_legend=False,
            color_map={LABEL: "#fde68a"}, elem_id=f"{prefix}-check-flags",
        )
    with gr.Row():
        reviewed = gr.Checkbox(label="I reviewed the flagged items", elem_id=f"{prefix}-reviewed")
        check_again = gr.Button("Check again", elem_id=f"{prefix}-check-again")
        approve = gr.Button("Approve", variant="primary", elem_id=f"{prefix}-approve")
    status = gr.Markdown("Status: **draft** (not approved yet).", elem_id=f"{prefix}-approval")
    with gr.Row():
        copy = gr.Button("Copy", elem_id=f"{prefix}-copy")
        buttons = {fmt: gr.Button(f"Download .{fmt}", elem_id=f"{prefix}-export-{fmt}") for fmt in EXPORTERS}
    download = gr.File(label="Your document", visible=False, interactive=False, elem_id=f"{prefix}-download")
    review = Review(highlight, summary, gr.State(0), gr.State(""), status)
    review.reviewed = reviewed  # type: ignore[attr-defined]
    review.check_again = check_again  # type: ignore[attr-defined]
    review.approve = approve  # type: ignore[attr-defined]
    review.buttons = buttons  # type: ignore[attr-defined]
    review.copy = copy  # type: ignore[attr-defined]
    review.download = download  # type: ignore[attr-defined]
    return review


def checker(services: Services, kind: str, fields_of: Callable[..., tuple[dict[str, Any], list[str]]]):
    """A handler: (*inputs, draft) -> highlighted draft, summary, flag count. ``fields_of``
    turns the form inputs into (fields, required sections)."""
    where = "your notes" if kind == "note" else "your form"

    def run(*values: Any):
        *inputs, draft = values
        draft = draft or ""
        if not draft.strip():
            return [], "Nothing to check yet: write a draft first.", 0
        try:
            fields, sections = fields_of(*inputs)
            result = check_draft(kind, fields, draft, sections, services.profile.as_text())
        except AssistantError as exc:
            raise to_user_error(exc) from None
        return segments(draft, result), summary_text(result, where), len(result.flags)

    return run


def wire(services: Services, review: Review, output: gr.Textbox, doc_kind: str, preset: gr.Dropdown) -> None:
    """Approve and export events for one tab (queued, so that a refusal shows as a message box)."""
    private = dict(api_visibility="private")

    def approve(text: str, reviewed: bool, flags: int, preset_id: str, request: gr.Request):
        text = (text or "").strip()
        if not text:
            raise gr.Error("There is no draft to approve yet.", print_exception=False)
        if flags and not reviewed:
            raise gr.Error("Some items are flagged. Check them, tick “I reviewed the flagged items”, then approve.",
                           print_exception=False)
        user = user_of(request)
        try:
            if services.drafts is not None:
                services.drafts.save(doc_kind, preset_id or "", text, status="approved", user=user)
        except AssistantError as exc:
            raise to_user_error(exc) from None
        if services.audit is not None:
            services.audit.record("draft_approved", user=user, kind=doc_kind, preset=preset_id or "",
                                  output=text, detail=f"{flags} flags reviewed" if flags else "no flags")
        return text, "Status: **approved** — you can download it now. (Editing it again needs a new approval.)"

    review.approve.click(approve, [output, review.reviewed, review.flag_count, preset], [review.approved, review.status], **private)

    def edited(text: str, approved: str):
        if approved and (text or "").strip() != approved:
            return "Status: **edited after approval** — approve it again before you download it."
        return gr.update()

    output.input(edited, [output, review.approved], review.status, **private)

    def copied(text: str, approved: str) -> None:
        if not approved:
            raise gr.Error("Approve the draft first: only an approved draft is copied.", print_exception=False)
        if (text or "").strip() != approved:
            raise gr.Error("The draft changed after you approved it. Approve it again, then copy.", print_exception=False)
        gr.Info("Copied. Paste it into your records system.")

    # The browser copies within the click (browsers allow it only then), when the page shows the draft
    # as approved; the server checks the same rule as for downloads and says what happened.
    status_id = review.status.elem_id
    review.copy.click(  # type: ignore[attr-defined]
        copied, [output, review.approved], None, **private,
        js="(text, approved) => { const status = document.getElementById('" + str(status_id) + "'); "
           "if (status && status.innerText.includes('approved —')) navigator.clipboard.writeText((text || '').trim())"
           ".catch(() => window.alert('This browser did not allow copying. Select the text in the draft box and "
           "press Ctrl+C.')); return [text, approved]; }")

    for fmt, button in review.buttons.items():  # type: ignore[attr-defined]
        def export(text: str, approved: str, preset_id: str, request: gr.Request, fmt: str = fmt):
            if not approved:
                raise gr.Error("Approve the draft first: only an approved draft is downloaded.", print_exception=False)
            if (text or "").strip() != approved:
                raise gr.Error("The draft changed after you approved it. Approve it again, then download.",
                               print_exception=False)
            try:
                # A folder with a random name per download: another signed-in account cannot guess the address.
                folder = services.config.paths.tmp / "exports" / secrets.token_hex(8)
                path = EXPORTERS[fmt](approved, folder, doc_kind, services.profile)
            except AssistantError as exc:
                raise to_user_error(exc) from None
            if services.audit is not None:
                services.audit.record("draft_exported", user=user_of(request), kind=doc_kind, preset=preset_id or "",
                                      output=approved, detail=fmt)
            return gr.update(value=str(path), visible=True)

        button.click(export, [output, review.approved, preset], review.download, **private)
