"""The practice profile: who the letters come from and how exports are signed.

Stored as JSON in the data directory (``profile.json``), written atomically.
Plain Python: used by letters, checks (as supporting text) and exports.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)


class Clinician(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=120)
    credentials: str = Field("", max_length=80)  # e.g. "PT, DPT" or "LCSW"
    npi: str = Field("", max_length=20)


class Payer(BaseModel):
    """An insurer the practice writes to: where its letters go and which of its policies to cite."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=160)
    fax: str = Field("", max_length=40)
    portal: str = Field("", max_length=300)  # where requests are filed online (shown to staff only)
    policies: str = Field("", max_length=600)  # its medical policy numbers or titles, comma-separated

    def policy_list(self) -> list[str]:
        return [p.strip() for p in self.policies.replace(";", ",").split(",") if p.strip()]


class PracticeProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    address: str = Field("", max_length=400)
    phone: str = Field("", max_length=40)
    fax: str = Field("", max_length=40)
    npi: str = Field("", max_length=20)
    tax_id: str = Field("", max_length=20)
    clinicians: list[Clinician] = Field(default_factory=list, max_length=100)
    signature_block: str = Field("", max_length=1000)
    logo_path: str = Field("", max_length=500)  # an image file on this computer, optional
    payers: list[Payer] = Field(default_factory=list, max_length=200)
    speech_terms: str = Field("", max_length=2000)  # words dictation should know: drugs, tests, staff names

    def payer(self, name: str) -> Payer | None:
        """The payer profile whose name matches ``name`` (ignoring case and spacing), or None."""
        wanted = " ".join((name or "").lower().split())
        return next((p for p in self.payers if wanted and " ".join(p.name.lower().split()) == wanted), None)

    def letterhead_lines(self) -> list[str]:
        """Name, address lines, and a phone/fax line, skipping what is empty."""
        lines = [self.name] if self.name else []
        lines += [line.strip() for line in self.address.splitlines() if line.strip()]
        contact = " · ".join(x for x in (f"Phone {self.phone}" if self.phone else "", f"Fax {self.fax}" if self.fax else "") if x)
        if contact:
            lines.append(contact)
        return lines

    def as_text(self) -> str:
        """Everything in the profile as plain text (supporting facts for the grounding check)."""
        parts = [*self.letterhead_lines(), self.npi, self.tax_id, self.signature_block]
        parts += [f"{c.name}, {c.credentials} {c.npi}".strip() for c in self.clinicians]
        return "\n".join(p for p in parts if p)
