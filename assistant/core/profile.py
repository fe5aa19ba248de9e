"""The practice profile: who the letters come from and how exports are signed.

Stored as JSON in the data directory (``profile.json``), written atomically.
Plain Python: used by letters, checks (as supporting text) and exports.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import InputError

log = logging.getLogger(__name__)


class Clinician(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=120)
    credentials: str = Field("", max_length=80)  # e.g. "PT, DPT" or "LCSW"
    npi: str = Field("", max_length=20)


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


def profile_file(data_root: Path) -> Path:
    return data_root / "profile.json"


def load_profile(data_root: Path) -> PracticeProfile:
    """The saved profile, or an empty one. A damaged file is reported and left in place."""
    path = profile_file(data_root)
    try:
        return PracticeProfile.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return PracticeProfile()
    except (OSError, ValueError, ValidationError) as exc:
        log.warning("practice profile unreadable (%s); using an empty one", type(exc).__name__)
        return PracticeProfile()


def save_profile(data_root: Path, profile: PracticeProfile) -> None:
    """Write atomically: a crash leaves either the old or the new file, never half of one."""
    path = profile_file(data_root)
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(profile.model_dump(), indent=2), encoding="utf-8")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        raise InputError(
            f"The practice profile could not be saved ({exc.strerror or type(exc).__name__}). "
            "Check that the disk is not full, then try again. Your changes are still on the screen."
        ) from exc
