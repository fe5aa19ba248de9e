"""Section headings in a note: which required headings are missing, where each
section is (so that one section can be regenerated on its own), and replacing
one section's body.

A heading is a line that starts with the section's name, in any case, and then
ends, or goes on after ":", "-", "–", "—" or closing bold ("**Plan** ...").
Markdown around it is allowed ("## Plan", "**Plan:**", "__Plan__"), and so
are list numbers ("1. Plan:") and a plural ("Interventions:"). "Plan to continue ..." is not a heading (no
delimiter), and neither is a single letter ("S:", "P:"): letters are ambiguous
(P is Plan or Pulse) and the note prompt asks for the full headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.errors import InputError


@dataclass(frozen=True)
class Section:
    """One part of a note. ``name`` is the required name it matched, as given
    (None for text before the first heading). Offsets index the draft: the
    heading is ``draft[start:body_start]``, the body ``draft[body_start:end]``."""

    name: str | None
    start: int
    body_start: int
    end: int
    heading: str
    body: str


def heading_pattern(names: list[str]) -> re.Pattern[str]:
    """The one heading rule (see the module docstring), for any of ``names``; group 1 is the name
    as written. Section-by-section drafting uses it too, so what it cuts is what the check counts."""
    spelled = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    alternatives = "|".join(r"[ \t]+".join(re.escape(w) for w in n.split()) for n in spelled)
    mark = r"(?:[*_]{1,3})?"
    return re.compile(
        rf"^[ \t]*(?:#{{1,6}}[ \t]*)?(?:(?:\d{{1,2}}|[A-Za-z]|[IVXivx]{{1,4}})[.)][ \t]+)?{mark}[ \t]*"
        rf"({alternatives})s?(?:[ \t]*[*_]{{1,3}}[ \t]*(?:[:\-\u2013\u2014][ \t]*)?"  # closing bold: **Plan** text
        rf"|[ \t]*[:\-\u2013\u2014][ \t]*{mark}[ \t]*|[ \t]*(?=\r?$))",
        re.IGNORECASE | re.MULTILINE,
    )


def _canonical(found: str, names: list[str]) -> str:
    key = " ".join(found.split()).lower()
    for name in names:
        if " ".join(name.split()).lower() == key:
            return name
    return found


def split_sections(draft: str, names: list[str]) -> list[Section]:
    """The draft cut at each heading for one of ``names``, in order. Text before
    the first heading, if any, comes first with ``name=None``."""
    draft = draft or ""
    names = [n for n in names if n and n.strip()]
    if not names:
        return [Section(None, 0, 0, len(draft), "", draft)] if draft else []
    matches = list(heading_pattern(names).finditer(draft))
    sections: list[Section] = []
    if not matches or matches[0].start() > 0:
        first = matches[0].start() if matches else len(draft)
        if draft[:first].strip():
            sections.append(Section(None, 0, 0, first, "", draft[:first]))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(draft)
        sections.append(Section(_canonical(m[1], names), m.start(), m.end(), end, draft[m.start():m.end()],
                                draft[m.end():end]))
    return sections


def check_sections(draft: str, required: list[str]) -> list[str]:
    """Required headings that the draft lacks, in the order given. Headings must
    come in that order: one out of order counts as missing (the fewest
    possible are reported)."""
    required = [r for r in (required or []) if r and r.strip()]
    if not required:
        return []
    seen = [s.name.lower() for s in split_sections(draft, required) if s.name]
    want = [r.lower() for r in required]
    # longest common subsequence of the required order and the headings found
    rows, cols = len(want), len(seen)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if want[i] == seen[j] else max(table[i + 1][j], table[i][j + 1])
    present: set[int] = set()
    i = j = 0
    while i < rows and j < cols:
        if want[i] == seen[j]:
            present.add(i)
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return [name for k, name in enumerate(required) if k not in present]


def replace_section(draft: str, name: str, new_body: str, names: list[str]) -> str:
    """The draft with the body of the first section called ``name`` replaced by
    ``new_body``; the heading and the blank lines around it stay as they were.
    ``names``: all the headings of the note's format (where the section ends)."""
    names = [*names, name] if name.lower() not in {n.lower() for n in names} else list(names)
    for section in split_sections(draft, names):
        if section.name is None or section.name.lower() != name.lower():
            continue
        body = section.body
        lead = len(body) - len(body.lstrip())
        trail = len(body) - len(body.rstrip())
        new = (new_body or "").strip()
        if not body.strip():
            at_line_end = draft[section.body_start:section.body_start + 1] in ("\n", "\r", "")
            insert = ("\n" if at_line_end else " ") + new if new else ""
            return draft[:section.body_start] + insert + draft[section.body_start:]
        content_start = section.body_start + lead
        content_end = section.end - trail
        return draft[:content_start] + new + draft[content_end:]
    raise InputError(f"The draft has no '{name}' heading, so that section cannot be replaced. "
                     "Add the heading, or regenerate the whole note.")
