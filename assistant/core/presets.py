"""Presets are data with a schema: versioned YAML files, unknown keys rejected,
placeholders checked against the fields a preset declares, settings bounded.

The schema and parsing only (no I/O): ``store.presets`` reads the layers from
disk. A vendor preset marked ``locked`` cannot be overridden or edited by a
user. Errors name the file and the field. Templates use ``string.Template`` ($name) filled with
``substitute``, so a ``{`` or ``$`` that a user types is only text and no code
runs from a preset. Nothing security-relevant is settable from a preset.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assistant.core.kinds import WORDS
from assistant.core.messages import GenerationSettings
from assistant.errors import PresetError

log = logging.getLogger(__name__)

Kind = Literal["progress_note", "prior_auth", "chat"]
KIND_LABELS = {kind.value: words.label for kind, words in WORDS.items()}
MAX_FILE_BYTES = 256 * 1024
DEFAULT_IDS = {"daily-note", "prior-auth-initial", "chat-general"}  # first in each list

NOTE_FORMATS: dict[str, list[str]] = {
    "SOAP": ["Subjective", "Objective", "Assessment", "Plan"],
    "DAP": ["Data", "Assessment", "Plan"],
    "BIRP": ["Behavior", "Intervention", "Response", "Plan"],
    "Narrative": [],
}
DISCIPLINES = [
    "Behavioral health",
    "Occupational therapy",
    "Physical therapy",
    "Speech-language pathology",
]


@dataclass(frozen=True)
class KnownField:
    label: str
    required: bool
    max_length: int
    lines: int = 1  # how tall its box is in the form
    noun: str = ""  # how messages and the prompt name it; default: the label in lower case


# The fields each kind of form has; a preset asks for a subset of them.
KNOWN_FIELDS: dict[str, dict[str, KnownField]] = {
    "progress_note": {
        "description": KnownField("What happened in the session?", True, 20_000, 10, "session description"),
        "goals": KnownField("Goals and progress", False, 8_000, 4),
        "measures": KnownField("Tests and measures", False, 8_000, 4),
    },
    "prior_auth": {
        "patient_name": KnownField("Patient name", True, 200),
        "date_of_birth": KnownField("Date of birth", True, 40),
        "member_id": KnownField("Member ID", True, 80),
        "payer": KnownField("Insurance company (payer)", True, 200),
        "provider_name": KnownField("Provider name and credentials", True, 200),
        "provider_npi": KnownField("Provider NPI", False, 40),
        "requested_service": KnownField("Requested service", True, 500),
        "cpt_codes": KnownField("CPT / HCPCS codes", False, 300),
        "icd10_codes": KnownField("ICD-10 codes", False, 300),
        "visits": KnownField("Visits or date range", True, 200),
        "justification": KnownField("Clinical justification", True, 20_000, 6),
        "progress_to_date": KnownField("Progress so far", False, 8_000, 4),
        "denial_details": KnownField("Denial details (date, reference, reason given)", False, 4_000, 3),
    },
    "chat": {
        "message": KnownField("Your message", True, 20_000, 3),
    },
}
# Values the app supplies itself (not typed into the form).
BUILTIN_VARIABLES: dict[str, frozenset[str]] = {
    "progress_note": frozenset({"note_format", "discipline", "sections", "today"}),
    "prior_auth": frozenset(
        {"today", "practice_name", "practice_address", "practice_phone", "practice_fax",
         "practice_npi", "practice_tax_id", "signature_block"}
    ),
    "chat": frozenset({"today", "practice_name"}),
}


class FieldSpec(BaseModel):
    """A field the preset asks for: one of its kind's known fields, relabelled if wanted."""

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str | None = Field(None, max_length=80)
    help: str = Field("", max_length=300)
    required: bool | None = None
    max_length: int | None = Field(None, ge=1, le=20_000)


class GenerationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(700, ge=16, le=4096)
    temperature: float = Field(0.3, ge=0.0, le=1.5)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    repetition_penalty: float = Field(1.1, ge=1.0, le=2.0)


@dataclass(frozen=True)
class ResolvedField:
    name: str
    label: str
    help: str
    required: bool
    max_length: int
    lines: int
    noun: str


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1]
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    kind: Kind
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=400)
    discipline: str | None = None  # None: any discipline (the user picks)
    note_format: str | None = None  # progress notes: a fixed format, or None for the user's pick
    fields: list[FieldSpec] = Field(default_factory=list)  # empty: the kind's required fields
    sections: list[str] = Field(default_factory=list, max_length=20)  # headings the note must have, in order
    system_prompt: str = Field(min_length=1, max_length=8000)
    template: str = Field("", max_length=8000)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    example: dict[str, str] = Field(default_factory=dict)
    locked: bool = False  # vendor presets only: users cannot override or edit it

    @field_validator("template")
    @classmethod
    def _template_parses(cls, value: str) -> str:
        if not string.Template(value).is_valid():
            raise ValueError("template has a '$' that is not a placeholder; write '$$' for a dollar sign")
        return value

    @field_validator("discipline")
    @classmethod
    def _known_discipline(cls, value: str | None) -> str | None:
        if value is not None and value not in DISCIPLINES:
            raise ValueError(f"must be one of: {', '.join(DISCIPLINES)}")
        return value

    @field_validator("note_format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in NOTE_FORMATS:
            raise ValueError(f"must be one of: {', '.join(NOTE_FORMATS)}")
        return value

    @model_validator(mode="after")
    def _fields_match_template(self) -> Preset:
        known = KNOWN_FIELDS[self.kind]
        names = [f.name for f in self.fields]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"fields: {', '.join(unknown)} is not a field of a {self.kind} form "
                f"(available: {', '.join(known)})"
            )
        if len(set(names)) != len(names):
            raise ValueError("fields: a field is listed twice")
        declared = set(self.field_names())
        allowed = declared | BUILTIN_VARIABLES[self.kind]
        used = set(string.Template(self.template).get_identifiers())
        stray = sorted(used - allowed)
        if stray:
            raise ValueError(
                f"template uses {', '.join('$' + u for u in stray)}, which is not a declared field "
                f"(declared: {', '.join(sorted(declared))}; also available: "
                f"{', '.join(sorted(BUILTIN_VARIABLES[self.kind]))})"
            )
        if self.kind == "chat":
            if self.template and "message" not in used:
                raise ValueError("template must use $message, or the user's message never reaches the model")
        else:
            unused = sorted(declared - used)
            if unused:
                raise ValueError(
                    f"template does not use {', '.join('$' + u for u in unused)}; "
                    "what the user types there would never reach the model"
                )
        if self.kind != "progress_note" and (self.sections or self.note_format):
            raise ValueError("sections and note_format are only for progress notes")
        extra = sorted(set(self.example) - declared - {"note_format", "discipline"})
        if extra:
            raise ValueError(f"example has fields this preset does not ask for: {', '.join(extra)}")
        return self

    def field_names(self) -> list[str]:
        if self.fields:
            return [f.name for f in self.fields]
        return [name for name, spec in KNOWN_FIELDS[self.kind].items() if spec.required]

    def resolved_fields(self) -> list[ResolvedField]:
        """The fields this preset asks for, with labels and limits filled in from the kind."""
        by_name = {f.name: f for f in self.fields}
        out = []
        for name in self.field_names():
            base = KNOWN_FIELDS[self.kind][name]
            spec = by_name.get(name, FieldSpec(name=name))
            out.append(
                ResolvedField(
                    name=name,
                    label=spec.label or base.label,
                    help=spec.help,
                    required=base.required if spec.required is None else spec.required,
                    max_length=min(spec.max_length or base.max_length, base.max_length),
                    lines=base.lines,
                    noun=base.noun or (spec.label or base.label).lower(),
                )
            )
        return out

    def settings(self) -> GenerationSettings:
        """This preset's generation settings, in the model contract's terms."""
        g = self.generation
        return GenerationSettings(
            max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p,
            repetition_penalty=g.repetition_penalty,
        )

    def required_sections(self, note_format: str) -> list[str]:
        return list(self.sections) if self.sections else list(NOTE_FORMATS.get(note_format, []))

    def render(self, values: dict[str, str]) -> str:
        """Fill the template. Values are inserted as plain text, never parsed."""
        names = set(self.field_names()) | BUILTIN_VARIABLES[self.kind]
        return string.Template(self.template).substitute({k: values.get(k, "") for k in names})


@dataclass
class PresetLibrary:
    presets: dict[str, Preset] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)  # id -> "shipped" | "vendor" | "user"

    def of_kind(self, kind: str) -> list[Preset]:
        """This kind's presets: the general-purpose one first, then by title."""
        found = [p for p in self.presets.values() if p.kind == kind]
        return sorted(found, key=lambda p: (p.id not in DEFAULT_IDS, p.title.lower()))

    def get(self, preset_id: str, kind: str) -> Preset:
        preset = self.presets.get(preset_id)
        if preset is None or preset.kind != kind:
            raise PresetError(f"The preset '{preset_id}' was not found. Pick one from the list.")
        return preset


def _problems(name: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = re.sub(r"^Value error, ", "", err["msg"])
        out.append(f"{name}: {where}: {msg}")
    return out


def parse_preset(text: str, name: str = "(editor)") -> Preset:
    """Validate preset YAML text; PresetError lists every problem as 'file: field: problem'."""
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise PresetError(f"{name}: (file): is larger than {MAX_FILE_BYTES // 1024} KB; a preset is a short text file")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise PresetError(f"{name}: {where}: not valid YAML ({getattr(exc, 'problem', None) or 'syntax error'})") from None
    if not isinstance(raw, dict):
        raise PresetError(f"{name}: (file): must be a list of 'key: value' lines")
    try:
        return Preset.model_validate(raw)
    except ValidationError as exc:
        raise PresetError("\n".join(_problems(name, exc))) from None
