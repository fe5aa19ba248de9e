"""The letter tab's helpers beside the draft: payer profiles and the fax packet.

Thin adapters over ``export.packet`` and the kept drafts. The packet is made only from the approved
letter and approved notes, and it is audited like any export (never the text).
"""

from __future__ import annotations

import secrets

import gradio as gr

from assistant.app.services import Services
from assistant.export.packet import Cover, file_name, packet_bytes
from assistant.store.exports import write_export
from assistant.web.common import guarded, refusal, user_of


def build(services: Services, boxes: dict, output: gr.Textbox, review) -> None:  # noqa: ANN001 - review.Review
    """Add the payer picker and the fax packet under the draft."""
    payer_names = [p.name for p in services.profile.payers if p.name]
    with gr.Accordion("Payer and fax packet", open=False, elem_id="letter-packet") as packet_box:
        payer_pick = gr.Dropdown(payer_names, value=None, label="Payer profile (Settings tab)",
                                 elem_id="letter-payer-profile", allow_custom_value=False)
        notes = gr.Dropdown([], value=[], multiselect=True, label="Approved notes to send with the letter",
                            elem_id="letter-packet-notes")
        make = gr.Button("Make the fax packet (PDF)", elem_id="letter-packet-make")
        packet = gr.File(label="Fax packet", visible=False, interactive=False, elem_id="letter-packet-file")

    def on_open(request: gr.Request) -> tuple[dict, dict]:
        """The payers saved in Settings and this person's approved notes, as they are now."""
        payers = gr.update(choices=[p.name for p in services.profile.payers if p.name])
        store = services.drafts
        mine = user_of(request)
        kept = [d for d in (store.list() if store is not None else [])
                if d.kind == "progress_note" and d.status == "approved" and (not mine or d.user == mine)]
        return payers, gr.update(choices=[(f"{d.created[:10]} — {d.preset}", d.id) for d in kept[:50]])

    @guarded
    def do_packet(letter: str, approved: str, payer: str, chosen: list[str], pick: str | None, request: gr.Request):
        if not approved:
            raise refusal("Approve the letter first: only an approved letter goes into the packet.")
        if (letter or "").strip() != approved:
            raise refusal("The letter changed after you approved it. Approve it again, then make the packet.")
        mine, store = user_of(request), services.drafts
        attached = []
        for draft_id in chosen or []:
            draft = store.get(draft_id) if store is not None else None
            if draft is None or draft.status != "approved" or (mine and draft.user != mine):
                raise refusal("One of the chosen notes is no longer kept. Choose the notes again.")
            attached.append((f"Progress note, {draft.created[:10]}", draft.text))
        profile = services.profile.payer(pick or payer)
        cover = Cover(to=(profile.name if profile else payer) or "", to_fax=profile.fax if profile else "",
                      subject="Appeal of a denial" if "appeal" in approved.lower()[:400] else
                      "Prior authorization request")
        data = packet_bytes(approved, attached, cover, services.profile)
        folder = services.config.paths.tmp / "exports" / secrets.token_hex(8)
        path = write_export(data, folder, "letter", ".pdf")
        path = path.rename(path.with_name(file_name()))
        if services.audit is not None:
            services.audit.record("draft_exported", user=mine, kind="letter", output=approved,
                                  detail=f"fax packet with {len(attached)} notes")
        return gr.update(value=str(path), visible=True)

    private = dict(queue=False, api_visibility="private")
    payer_pick.select(lambda name: name, payer_pick, boxes["payer"], **private)
    # Queued, so that a refusal ("Approve the letter first") shows as a message box.
    make.click(do_packet, [output, review.approved, boxes["payer"], notes, payer_pick], packet,
               api_visibility="private")
    packet_box.expand(on_open, None, [payer_pick, notes], **private)
