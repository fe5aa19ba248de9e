"""Settings tab: the practice profile used by letters and exports.

With staff sign-in on, only admins change it (``roles.Action.EDIT_PROFILE``, checked on the
server); each change is audited as ``settings_changed`` with preset "profile" and the hash of
the saved file, never its text."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from pydantic import ValidationError

from assistant.app.services import Services
from assistant.core.profile import Clinician, Payer, PracticeProfile
from assistant.errors import AssistantError
from assistant.security.roles import Action
from assistant.store.profile import profile_file, save_profile
from assistant.web.common import to_user_error, user_of
from assistant.web.permissions import Gate

LOGO_TYPES = {".png", ".jpg", ".jpeg"}
CLINICIAN_HEADERS = ["Name", "Credentials", "NPI"]
PAYER_HEADERS = ["Payer", "Fax", "Portal", "Policy numbers (comma-separated)"]


def payer_rows(profile: PracticeProfile) -> list[list[str]]:
    return [[p.name, p.fax, p.portal, p.policies] for p in profile.payers] or [["", "", "", ""]]


def _rows(table) -> list[list[str]]:  # noqa: ANN001 - a Dataframe's value: a pandas frame or lists
    return [[str(c or "").strip() for c in list(row)] for row in (table.values.tolist() if hasattr(table, "values")
                                                                  else table or [])]


def current_values(services: Services) -> tuple:
    p = services.profile
    rows = [[c.name, c.credentials, c.npi] for c in p.clinicians] or [["", "", ""]]
    return p.name, p.phone, p.fax, p.address, p.npi, p.tax_id, rows, p.signature_block, payer_rows(p), p.speech_terms


def build(services: Services) -> tuple[list, Callable[[], tuple]]:
    """Build the tab; returns its fields and a loader that refills them from the saved profile."""
    p = services.profile
    gate = Gate(services)
    gr.Markdown("**Practice profile.** Letters and exported documents use these details. "
                "They stay on this computer.")
    note = gate.notice("profile-permission")
    with gr.Row():
        name = gr.Textbox(label="Practice name", value=p.name, elem_id="profile-name")
        phone = gr.Textbox(label="Phone", value=p.phone, elem_id="profile-phone")
        fax = gr.Textbox(label="Fax", value=p.fax, elem_id="profile-fax")
    with gr.Row():
        address = gr.Textbox(label="Address", value=p.address, lines=3, elem_id="profile-address")
        with gr.Column():
            npi = gr.Textbox(label="Practice NPI (type 2)", value=p.npi, elem_id="profile-npi")
            tax_id = gr.Textbox(label="Tax ID (EIN)", value=p.tax_id, elem_id="profile-tax-id")
    clinicians = gr.Dataframe(
        headers=CLINICIAN_HEADERS, value=[[c.name, c.credentials, c.npi] for c in p.clinicians] or [["", "", ""]],
        datatype=["str", "str", "str"], column_count=(3, "fixed"), row_count=(1, "dynamic"),
        label="Clinicians (name, credentials, NPI)", interactive=True, elem_id="profile-clinicians",
    )
    signature = gr.Textbox(
        label="Signature block", value=p.signature_block, lines=4, elem_id="profile-signature",
        placeholder="Alex Rivera, PT, DPT\nLicensed Physical Therapist\nNPI 1234567893",
    )
    payers = gr.Dataframe(
        headers=PAYER_HEADERS, value=payer_rows(p), datatype=["str"] * 4, column_count=(4, "fixed"),
        row_count=(1, "dynamic"), label="Payers you send letters to (chosen in the letter tab; their policy "
        "numbers are checked in each letter)", interactive=True, elem_id="profile-payers",
    )
    terms = gr.Textbox(
        label="Words for dictation: drug names, tests, people's names (separated by commas)", value=p.speech_terms,
        lines=2, elem_id="profile-speech-terms", placeholder="sertraline, Berg Balance Scale, Dr. Okafor",
    )
    logo = gr.File(label="Logo for exported letters (optional, PNG or JPEG)", file_types=list(LOGO_TYPES), elem_id="profile-logo")
    save = gr.Button("Save practice profile", variant="primary", elem_id="profile-save")
    saved = gr.Markdown(elem_id="profile-saved")
    fields = [name, phone, fax, address, npi, tax_id, clinicians, signature, payers, terms]
    gate.lock_for_staff(Action.EDIT_PROFILE, note, [*fields, logo, save])

    def do_save(name_v, phone_v, fax_v, address_v, npi_v, tax_v, rows, signature_v, payer_table, terms_v,  # noqa: ANN001
                logo_file, request: gr.Request):
        gate.check(request, Action.EDIT_PROFILE)
        people = []
        for row in (rows.values.tolist() if hasattr(rows, "values") else rows or []):
            cells = [str(c or "").strip() for c in list(row)[:3]] + [""] * 3
            if any(cells[:3]):
                people.append(Clinician(name=cells[0], credentials=cells[1], npi=cells[2]))
        insurers = [Payer(name=c[0], fax=c[1], portal=c[2], policies=c[3])
                    for c in (row + [""] * 4 for row in _rows(payer_table)) if any(c[:4])]
        logo_path = services.profile.logo_path
        if logo_file:
            source = Path(logo_file)
            if source.suffix.lower() not in LOGO_TYPES:
                raise gr.Error("The logo must be a PNG or JPEG image.", print_exception=False)
            target = services.config.paths.root / f"logo{source.suffix.lower()}"
            shutil.copyfile(source, target)
            logo_path = str(target)
        try:
            profile = PracticeProfile(
                name=name_v.strip(), phone=phone_v.strip(), fax=fax_v.strip(), address=address_v.strip(),
                npi=npi_v.strip(), tax_id=tax_v.strip(), clinicians=people,
                signature_block=signature_v.strip(), logo_path=logo_path, payers=insurers,
                speech_terms=(terms_v or "").strip(),
            )
        except ValidationError as exc:
            field = ".".join(str(x) for x in exc.errors()[0]["loc"])
            raise gr.Error(f"The practice profile has a problem in “{field}”: it is too long.", print_exception=False) from None
        try:
            save_profile(services.config.paths.root, profile)
        except AssistantError as exc:
            raise to_user_error(exc) from None
        services.profile = profile
        if services.audit:
            try:
                stored = profile_file(services.config.paths.root).read_text(encoding="utf-8")
            except OSError:
                stored = profile.model_dump_json()
            services.audit.record("settings_changed", user=user_of(request), preset="profile", output=stored,
                                  detail="practice profile saved")
        return "Saved. New letters and exports use these details."

    save.click(do_save, [*fields, logo], saved, api_visibility="private")
    return fields, lambda: current_values(services)
