"""Checks on drafts: pure functions over text (no gradio, no torch, no model).

- ``check_grounding``: facts in a draft that what the user gave does not support.
- ``parse_codes`` / ``check_icd10`` / ``check_requested_codes`` / ``check_letter_codes``:
  CPT, HCPCS and ICD-10-CM codes.
- ``check_sections`` / ``split_sections`` / ``replace_section``: note headings.
- ``check_letter`` / ``npi_valid``: the "Ready to send?" checklist of a prior-authorization letter.
- ``read_denial``: the reasons, reference and appeal deadline of a payer's denial letter.
- ``check_draft``: all of it for one note or letter, as a ``DraftCheck``.
"""

from __future__ import annotations

from assistant.checks.checklist import LABELS, ChecklistItem, check_letter, npi_valid
from assistant.checks.codes import (
    CodeCheck,
    LetterCodes,
    ParsedCodes,
    Suggestion,
    check_icd10,
    check_letter_codes,
    check_requested_codes,
    parse_codes,
)
from assistant.checks.denial import CATEGORY_WORDS, Denial, DenialReason, read_denial
from assistant.checks.draft import DraftCheck, check_draft
from assistant.checks.grounding import CATEGORIES, check_grounding
from assistant.checks.meaning import CATEGORIES as MEANING_CATEGORIES
from assistant.checks.meaning import check_meaning
from assistant.checks.sections import Section, check_sections, replace_section, split_sections
from assistant.checks.text import Flag

__all__ = [
    "CATEGORIES",
    "CATEGORY_WORDS",
    "LABELS",
    "ChecklistItem",
    "CodeCheck",
    "Denial",
    "DenialReason",
    "DraftCheck",
    "Flag",
    "LetterCodes",
    "MEANING_CATEGORIES",
    "ParsedCodes",
    "Section",
    "Suggestion",
    "check_draft",
    "check_letter",
    "check_grounding",
    "check_icd10",
    "check_letter_codes",
    "check_meaning",
    "check_requested_codes",
    "check_sections",
    "npi_valid",
    "parse_codes",
    "read_denial",
    "replace_section",
    "split_sections",
]
