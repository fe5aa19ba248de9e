"""Prior-authorization letters: a request form in, a letter to the payer out."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from assistant.backends import Message
from assistant.documents import clean_text, fenced
from assistant.presets import Preset

# name -> (label shown to staff, required, max characters)
LETTER_FIELDS: dict[str, tuple[str, bool, int]] = {
    "patient_name": ("Patient name", True, 200),
    "date_of_birth": ("Date of birth", True, 40),
    "member_id": ("Member ID", True, 80),
    "payer": ("Insurance company (payer)", True, 200),
    "provider_name": ("Provider name and credentials", True, 200),
    "provider_npi": ("Provider NPI", False, 40),
    "requested_service": ("Requested service", True, 500),
    "cpt_codes": ("CPT / HCPCS codes", False, 300),
    "icd10_codes": ("ICD-10 codes", False, 300),
    "visits": ("Visits or date range", True, 200),
    "justification": ("Clinical justification", True, 20_000),
}


@dataclass(frozen=True)
class LetterRequest:
    patient_name: str = ""
    date_of_birth: str = ""
    member_id: str = ""
    payer: str = ""
    provider_name: str = ""
    provider_npi: str = ""
    requested_service: str = ""
    cpt_codes: str = ""
    icd10_codes: str = ""
    visits: str = ""
    justification: str = ""
    preset_id: str = "prior-auth-initial"


def letter_messages(preset: Preset, request: LetterRequest, today: dt.date | None = None) -> list[Message]:
    values = asdict(request)
    filled: dict[str, str] = {}
    for name, (label, required, limit) in LETTER_FIELDS.items():
        text = clean_text(values[name], label.lower(), max_chars=limit, required=required)
        filled[name] = text or "(not given)"
    filled["justification"] = fenced("clinical justification", filled["justification"])
    filled["today"] = (today or dt.date.today()).strftime("%B %d, %Y").replace(" 0", " ")
    return [Message("system", preset.system_prompt), Message("user", preset.render(filled))]
