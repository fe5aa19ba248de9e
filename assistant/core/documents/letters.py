"""Prior-authorization letters: a request form in, a letter to the payer out."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from assistant.core.documents import field_values, today_words
from assistant.core.messages import Message
from assistant.core.presets import KNOWN_FIELDS, Preset
from assistant.core.profile import PracticeProfile

# name -> (label shown to staff, required by default, max characters)
LETTER_FIELDS: dict[str, tuple[str, bool, int]] = {
    name: (spec.label, spec.required, spec.max_length) for name, spec in KNOWN_FIELDS["prior_auth"].items()
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
    progress_to_date: str = ""
    denial_details: str = ""
    preset_id: str = "prior-auth-initial"


def letter_messages(
    preset: Preset, request: LetterRequest, profile: PracticeProfile | None = None, today: dt.date | None = None
) -> list[Message]:
    values = field_values(preset, asdict(request))
    practice = profile or PracticeProfile()
    values.update(
        today=today_words(today),
        practice_name=practice.name or "(not given)",
        practice_address=", ".join(line.strip() for line in practice.address.splitlines() if line.strip()) or "(not given)",
        practice_phone=practice.phone or "(not given)",
        practice_fax=practice.fax or "(not given)",
        practice_npi=practice.npi or "(not given)",
        practice_tax_id=practice.tax_id or "(not given)",
        signature_block=practice.signature_block or "(not given)",
    )
    return [Message("system", preset.system_prompt), Message("user", preset.render(values))]
