"""Presets are data with a schema: versioned YAML files, unknown keys rejected,
placeholders checked against the variables their kind provides, settings bounded.

Layers, later overriding earlier by id: shipped (read-only, ``presets/`` beside
the app), then the user's own folder. A broken file is skipped with a visible
warning that names the file and field; it never silently falls back.
Templates use ``string.Template`` ($name) and are filled with ``substitute``, so
a ``{`` or ``$`` that a user types is only text and no code runs from a preset.
"""

from __future__ import annotations

import logging
import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assistant.errors import PresetError

log = logging.getLogger(__name__)

Kind = Literal["progress_note", "prior_auth", "chat"]

# The variables each kind of document supplies to its template.
KIND_VARIABLES: dict[str, frozenset[str]] = {
    "progress_note": frozenset({"description", "note_format", "discipline", "sections"}),
    "prior_auth": frozenset(
        {
            "patient_name", "date_of_birth", "member_id", "payer", "provider_name",
            "provider_npi", "requested_service", "cpt_codes", "icd10_codes", "visits",
            "justification", "today",
        }
    ),
    "chat": frozenset(),
}
KIND_LABELS = {"progress_note": "Progress note", "prior_auth": "Prior-auth letter", "chat": "Chat"}


class GenerationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(700, ge=16, le=4096)
    temperature: float = Field(0.3, ge=0.0, le=1.5)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    repetition_penalty: float = Field(1.1, ge=1.0, le=2.0)


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1]
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    kind: Kind
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=400)
    system_prompt: str = Field(min_length=1, max_length=8000)
    template: str = Field("", max_length=8000)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    example: dict[str, str] = Field(default_factory=dict)

    @field_validator("template")
    @classmethod
    def _template_parses(cls, value: str) -> str:
        try:
            string.Template(value).get_identifiers()
        except ValueError as exc:
            raise ValueError(f"template has a broken placeholder ({exc})") from exc
        if not string.Template(value).is_valid():
            raise ValueError("template has a '$' that is not a placeholder; write '$$' for a dollar sign")
        return value

    @model_validator(mode="after")
    def _placeholders_match_kind(self) -> Preset:
        allowed = KIND_VARIABLES[self.kind]
        used = set(string.Template(self.template).get_identifiers())
        unknown = sorted(used - allowed)
        if unknown:
            raise ValueError(
                f"template uses {', '.join('$' + u for u in unknown)}, which a {self.kind} "
                f"does not provide (allowed: {', '.join(sorted(allowed)) or 'none'})"
            )
        if self.kind != "chat" and not used:
            raise ValueError("template must use at least one field, or the user's text never reaches the model")
        stray = sorted(set(self.example) - allowed - {"message", "note_format", "discipline"})
        if stray:
            raise ValueError(f"example has fields this kind does not have: {', '.join(stray)}")
        return self

    def render(self, values: dict[str, str]) -> str:
        """Fill the template. Values are inserted as plain text, never parsed."""
        return string.Template(self.template).substitute({k: values.get(k, "") for k in KIND_VARIABLES[self.kind]})


@dataclass
class PresetLibrary:
    presets: dict[str, Preset] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Preset]:
        return [p for p in self.presets.values() if p.kind == kind]

    def get(self, preset_id: str, kind: str) -> Preset:
        preset = self.presets.get(preset_id)
        if preset is None or preset.kind != kind:
            raise PresetError(f"The preset '{preset_id}' was not found. Pick one from the list.")
        return preset


def shipped_dir() -> Path:
    """The read-only presets that come with the app (also inside a frozen build)."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    return base / "presets"


def _problems(path: Path, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = re.sub(r"^Value error, ", "", err["msg"])
        out.append(f"{path.name}: {where}: {msg}")
    return out


def load_file(path: Path) -> Preset:
    """Parse and validate one preset file; PresetError lists every problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PresetError(f"{path.name}: (file): cannot be read as YAML ({type(exc).__name__})") from exc
    if not isinstance(raw, dict):
        raise PresetError(f"{path.name}: (file): must be a mapping of keys to values")
    try:
        return Preset.model_validate(raw)
    except ValidationError as exc:
        raise PresetError("\n".join(_problems(path, exc))) from exc


def load_presets(folders: list[Path]) -> PresetLibrary:
    """Load each folder in order; a later layer overrides an earlier one by id."""
    library = PresetLibrary()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            try:
                preset = load_file(path)
            except PresetError as exc:
                library.warnings.extend(exc.message.splitlines())
                log.warning("preset file skipped: %s", path.name)
                continue
            library.presets[preset.id] = preset
    return library
