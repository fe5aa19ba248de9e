"""Review, approve and export, shared by the note and letter tabs.

After a draft is written it is checked (grounding flags, missing sections,
codes) and the flags are shown highlighted with a count. The check remembers
what it checked: a hash of the text and its flag count (server-side state).
A draft stays a draft until approved; Approve accepts only the very text that
was checked (an edit since needs "Check again") and audits that text's true
flag count; with open flags it needs the "I reviewed the flagged items" tick,
which every new check clears. Only the approved text is copied or exported.
Any change of the draft after approval (typing, "Rewrite this section", a new
draft) clears the approval: Copy and downloads are refused until it is
approved again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from assistant.app.second_look import Progress, second_look
from assistant.app.services import Services
from assistant.checks import MEANING_CATEGORIES, ChecklistItem, DraftCheck, check_draft
from assistant.core.presets import KNOWN_FIELDS
from assistant.security.audit import text_hash
from assistant.store.exports import export_docx, export_pdf, export_txt
from assistant.web.common import guarded, refusal, user_of

LABEL = "not in your notes"
CHANGED = "says it differently from your notes"  # a side, a denied finding, a level of help, a goal, a body part
EXPORTERS = {"docx": export_docx, "pdf": export_pdf, "txt": export_txt}
DRAFT_STATUS = "Status: **draft** (not approved yet)."
APPROVED_STATUS = "Status: **approved** — you can download it now. (Editing it again needs a new approval.)"
CHANGED_STATUS = ("Status: **draft** — the text changed after you approved it. Approve it again before you copy "
                  "or download it.")
# The browser copies only while the page shows this (rendered) text; no other status contains it.
APPROVED_MARK = "approved —"


@dataclass
class Review:
    highlight: gr.HighlightedText
    summary: gr.Markdown
    checked: gr.State  # {"sha": hash of the checked text, "flags": its flag count}, or None
    approved: gr.State  # the approved text, or ""
    status: gr.Markdown
    reviewed: gr.Checkbox
    check_again: gr.Button
    approve: gr.Button
    copy: gr.Button
    buttons: dict[str, gr.Button]
    download: gr.File
    second_look: gr.Button | None = None  # "Ask the model to double-check": the model's second look
    second_result: gr.Markdown | None = None
    checklist: gr.Markdown | None = None  # letters: "Ready to send?"

    @property
    def check_outputs(self) -> list:
        return [self.highlight, self.summary, self.checked, self.reviewed, *([self.checklist] if self.checklist else [])]

    def reset(self) -> tuple[Callable[[], tuple], None, list]:
        """(fn, inputs, outputs) of an event that makes the draft a draft again (new draft, rewrite)."""
        return (lambda: ("", DRAFT_STATUS, False)), None, [self.approved, self.status, self.reviewed]


def checked_record(text: str, flags: int) -> dict[str, Any]:
    return {"sha": text_hash((text or "").strip()), "flags": flags}


def segments(draft: str, result: DraftCheck) -> list[tuple[str, str | None]]:
    """The draft cut into plain and flagged pieces for HighlightedText."""
    out: list[tuple[str, str | None]] = []
    at = 0
    for flag in sorted(result.flags, key=lambda f: f.start):
        if flag.start < at:
            continue
        if flag.start > at:
            out.append((draft[at:flag.start], None))
        out.append((draft[flag.start:flag.end], CHANGED if flag.category in MEANING_CATEGORIES else LABEL))
        at = flag.end
    if at < len(draft):
        out.append((draft[at:], None))
    return out


def summary_text(result: DraftCheck, where: str) -> str:
    lines = []
    changed = [f for f in result.flags if f.category in MEANING_CATEGORIES]
    n = len(result.flags) - len(changed)
    if n:
        lines.append(f"**{n} item{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} not in {where}** — highlighted "
                     "below. Check each one; correct or remove it if it is not right.")
    elif not changed:
        lines.append(f"**Every number, date, name and code in the draft is in {where}.** Still read it through.")
    if changed:
        lines.append(f"**{len(changed)} place{'' if len(changed) == 1 else 's'} where the draft says it differently "
                     f"from {where}** (a side, a finding, a level of help, a goal, a body part) — highlighted in red:")
        lines += [f"- “{f.text.strip()[:60]}”: {f.reason}" for f in changed[:20]]
    if result.missing_sections:
        lines.append(f"**Missing section{'s' if len(result.missing_sections) > 1 else ''}:** "
                     f"{', '.join(result.missing_sections)} (or out of order).")
    for check in result.codes.values():
        mark = "✔" if check.valid and check.billable else ("•" if check.valid is None else "✘")
        lines.append(f"- {mark} {check.message}")
    for note in result.notes:
        lines.append(f"- {note}")
    return "\n".join(lines)


CHECKLIST_WAITING = "**Ready to send?** When a letter is written, what payers look for is checked here."


def checklist_text(items: list[ChecklistItem], labels: dict[str, str] | None = None) -> str:
    """The "Ready to send?" list: each item found, missing (what to add, and in which box) or unknown.
    ``labels``: the form's boxes as the chosen letter type names them (default: the usual names)."""
    labels = labels if labels is not None else {name: f.label for name, f in KNOWN_FIELDS["prior_auth"].items()}
    missing = [i for i in items if i.present is False]
    head = (f"**Ready to send?** {len(missing)} of {len(items)} things payers look for "
            f"{'is' if len(missing) == 1 else 'are'} missing. Add them in the form, not by guessing, then write "
            "the letter again or edit it and press “Check again”." if missing else
            f"**Ready to send?** All {sum(i.present is True for i in items)} things payers look for were found.")
    lines = [head]
    for i in items:
        mark = {True: "✔", False: "✘", None: "•"}[i.present]
        box = labels.get(i.field) if i.present is False else None
        lines.append(f"- {mark} **{i.label}**: {i.hint}" + (f" → fill in **{box}**" if box else ""))
    return "\n".join(lines)


def build(services: Services, prefix: str, checklist: gr.Markdown | None = None) -> Review:
    """The panel under a draft; ``checklist`` (letters): where the "Ready to send?" list is shown."""
    with gr.Group():
        summary = gr.Markdown("When a draft is written, it is checked here against what you typed.",
                              elem_id=f"{prefix}-check-summary")
        highlight = gr.HighlightedText(
            label="Check: yellow is not in your notes; red says it differently", combine_adjacent=False,
            show_legend=False,
            color_map={LABEL: "#fde68a", CHANGED: "#fca5a5"}, elem_id=f"{prefix}-check-flags",
        )
    with gr.Row():
        reviewed = gr.Checkbox(label="I reviewed the flagged items", elem_id=f"{prefix}-reviewed")
        check_again = gr.Button("Check again", elem_id=f"{prefix}-check-again")
        approve = gr.Button("Approve", variant="primary", elem_id=f"{prefix}-approve")
    with gr.Accordion("Advanced: ask the model to double-check each sentence (slower)", open=False):
        gr.Markdown("The model reads your notes again and says, sentence by sentence, whether they say what the "
                    "draft says. Its doubts are hints: a model can be wrong either way. It needs a full model; the "
                    "built-in demo model is too small to judge.")
        second_look = gr.Button("Ask the model", elem_id=f"{prefix}-second-look")
        second_result = gr.Markdown(elem_id=f"{prefix}-second-look-result")
    status = gr.Markdown(DRAFT_STATUS, elem_id=f"{prefix}-approval")
    with gr.Row():
        copy = gr.Button("Copy", elem_id=f"{prefix}-copy")
        buttons = {fmt: gr.Button(f"Download .{fmt}", elem_id=f"{prefix}-export-{fmt}") for fmt in EXPORTERS}
    download = gr.File(label="Your document", visible=False, interactive=False, elem_id=f"{prefix}-download")
    return Review(highlight, summary, gr.State(None), gr.State(""), status, reviewed, check_again, approve, copy,
                  buttons, download, second_look, second_result, checklist)


def checker(services: Services, kind: str, fields_of: Callable[..., tuple[dict[str, Any], list[str]]],
            labels_of: Callable[..., dict[str, str]] | None = None):
    """A handler: (*inputs, draft) -> highlighted draft, summary, what was checked, the tick cleared (and for a
    letter its checklist). ``fields_of`` turns the form inputs into (fields, required sections); ``labels_of``
    the inputs into the names of the boxes shown (where a missing checklist item is filled in)."""
    where = "your notes" if kind == "note" else "your form"

    def extra(checklist: str) -> tuple[str, ...]:
        return (checklist,) if kind == "letter" else ()

    @guarded
    def run(*values: Any):
        *inputs, draft = values
        draft = draft or ""
        if not draft.strip():
            return [], "Nothing to check yet: write a draft first.", None, False, *extra(CHECKLIST_WAITING)
        fields, sections = fields_of(*inputs)
        payer = services.profile.payer(str(fields.get("payer") or "")) if kind == "letter" else None
        result = check_draft(kind, fields, draft, sections, services.profile.as_text(),
                             payer_policies=payer.policy_list() if payer is not None else ())
        return (segments(draft, result), summary_text(result, where), checked_record(draft, len(result.flags)), False,
                *extra(checklist_text(result.checklist, labels_of(*inputs) if labels_of else None)))

    return run


def second_looker(services: Services, fields_of: Callable[..., tuple[dict[str, Any], list[str]]]):
    """A handler: (*inputs, draft) -> what the model doubts, shown as it goes (a generator)."""

    @guarded
    def run(*values: Any):
        *inputs, draft = values
        if not (draft or "").strip():
            yield "Nothing to look at yet: write a draft first."
            return
        if services.model.is_demo:
            yield ("The built-in demo model is too small to judge this. Load a full model (System tab) to use the "
                   "model's second look; the check above still applies.")
            return
        fields, _ = fields_of(*inputs)
        notes = "\n".join(str(v) for v in fields.values() if str(v or "").strip())
        done = None
        for done in second_look(services.engine, notes, draft):
            yield f"Asking the model about sentence {done.asked} of {done.total} ..."
        yield doubts_text(done)

    return run


def doubts_text(done: Progress | None) -> str:
    if done is None or not done.total:
        return "There were no sentences to ask about."
    if not done.doubts:
        text = f"The model found nothing it doubts in {done.total} sentence{'s' if done.total != 1 else ''}."
    else:
        text = (f"**The model is not sure these {len(done.doubts)} sentence{'s are' if len(done.doubts) != 1 else ' is'} "
                f"in your notes** (a hint, not a finding; read them against your notes):\n" +
                "\n".join(f"- “{d.text[:160]}”" for d in done.doubts))
    if done.unclear:
        text += f"\n\n{done.unclear} answer{'s were' if done.unclear != 1 else ' was'} neither yes nor no."
    return text


def wire(services: Services, review: Review, output: gr.Textbox, doc_kind: str, preset: gr.Dropdown) -> None:
    """Approve and export events for one tab (queued, so that a refusal shows as a message box)."""
    private = dict(api_visibility="private")

    @guarded
    def approve(text: str, reviewed: bool, checked: dict | None, preset_id: str, request: gr.Request):
        text = (text or "").strip()
        if not text:
            raise refusal("There is no draft to approve yet.")
        if not checked or checked.get("sha") != text_hash(text):
            raise refusal("The draft changed after it was checked. Press “Check again”, look at any highlighted "
                          "items, then approve.")
        flags = int(checked.get("flags") or 0)
        if flags and not reviewed:
            raise refusal("Some items are flagged. Check them, tick “I reviewed the flagged items”, then approve.")
        user = user_of(request)
        if services.drafts is not None:
            services.drafts.save(doc_kind, preset_id or "", text, status="approved", user=user)
        if services.audit is not None:
            services.audit.record("draft_approved", user=user, kind=doc_kind, preset=preset_id or "",
                                  output=text, detail=f"{flags} flags reviewed" if flags else "no flags")
        return text, APPROVED_STATUS

    review.approve.click(approve, [output, review.reviewed, review.checked, preset], [review.approved, review.status],
                         **private)

    @guarded
    def changed(text: str, approved: str, checked: dict | None):
        """Any change of the text (typing, a rewrite streaming in): an approved draft is a draft again."""
        if approved and (text or "").strip() != approved:
            return "", CHANGED_STATUS
        return gr.update(), gr.update()

    # "change" fires for every change, the person's and the server's; always_last: one call per burst.
    output.change(changed, [output, review.approved, review.checked], [review.approved, review.status],
                  queue=False, trigger_mode="always_last", **private)

    @guarded
    def copied(text: str, approved: str) -> None:
        if not approved:
            raise refusal("Approve the draft first: only an approved draft is copied.")
        if (text or "").strip() != approved:
            raise refusal("The draft changed after you approved it. Approve it again, then copy.")
        gr.Info("Copied. Paste it into your records system.")

    # The browser copies within the click (browsers allow it only then), when the page shows the draft
    # as approved; the server checks the same rule as for downloads and says what happened. A page that
    # did not show it approved yet (a click racing the approval) copied nothing, so the server hears "".
    status_id = review.status.elem_id
    review.copy.click(
        copied, [output, review.approved], None, **private,
        js="(text, approved) => { const status = document.getElementById('" + str(status_id) + "'); "
           "if (!(status && status.innerText.includes('" + APPROVED_MARK + "'))) return [text, '']; "
           "navigator.clipboard.writeText((text || '').trim())"
           ".catch(() => window.alert('This browser did not allow copying. Select the text in the draft box and "
           "press Ctrl+C.')); return [text, approved]; }")

    for fmt, button in review.buttons.items():
        @guarded
        def export(text: str, approved: str, preset_id: str, request: gr.Request, fmt: str = fmt):
            if not approved:
                raise refusal("Approve the draft first: only an approved draft is downloaded.")
            if (text or "").strip() != approved:
                raise refusal("The draft changed after you approved it. Approve it again, then download.")
            # A folder with a random name per download: another signed-in account cannot guess the address.
            folder = services.config.paths.tmp / "exports" / secrets.token_hex(8)
            path = EXPORTERS[fmt](approved, folder, doc_kind, services.profile)
            if services.audit is not None:
                services.audit.record("draft_exported", user=user_of(request), kind=doc_kind, preset=preset_id or "",
                                      output=approved, detail=fmt)
            return gr.update(value=str(path), visible=True)

        button.click(export, [output, review.approved, preset], review.download, **private)
