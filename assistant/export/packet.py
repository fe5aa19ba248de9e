"""A fax-ready packet: a cover sheet, the approved letter, and the approved notes chosen to go with
it, in one PDF (fpdf2), the way a payer's fax line expects them.

The cover sheet says to whom (the payer and its fax number, from the payer profile), from whom (the
practice), the date, what it is about (the request or the appeal, and the payer's reference
number), how many pages, what is enclosed, and the usual confidentiality notice. The file's name
carries the kind and the date only (``prior-auth-packet-2026-12-02.pdf``), never a patient's name.
Pure: bytes out; ``store.exports`` writes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from assistant.core.profile import PracticeProfile
from assistant.errors import InputError
from assistant.export.layout import build_layout
from assistant.export.pdf import all_text, draw, new_pdf, printable, usable_fonts

STEM = "prior-auth-packet"
MAX_ENCLOSED = 20
CONFIDENTIAL = ("CONFIDENTIAL: this fax contains protected health information. It is meant only for the "
                "recipient named above. If you received it in error, tell the sender at the number above and "
                "destroy every page.")


@dataclass(frozen=True)
class Cover:
    to: str = ""  # the payer
    to_fax: str = ""
    subject: str = "Prior authorization request"
    reference: str = ""  # the payer's case or reference number, if any
    enclosed: list[str] = field(default_factory=list)  # filled in by ``packet_bytes``
    when: dt.date | None = None


def file_name(today: dt.date | None = None) -> str:
    return f"{STEM}-{(today or dt.date.today()).isoformat()}.pdf"


def _cover_lines(cover: Cover, profile: PracticeProfile, when: dt.date) -> list[tuple[str, str]]:
    sender = " · ".join(x for x in (profile.name, f"Phone {profile.phone}" if profile.phone else "",
                                    f"Fax {profile.fax}" if profile.fax else "") if x)
    lines = [("To", cover.to or "(payer not given)"), ("Fax", cover.to_fax or "(not given)"),
             ("From", sender or "(practice not given: fill in Settings)"), ("Date", when.strftime("%B %d, %Y")),
             ("Re", cover.subject + (f", reference {cover.reference}" if cover.reference else "")),
             ("Pages", "{nb}, this cover sheet included")]
    if profile.npi:
        lines.insert(3, ("NPI", profile.npi))
    return lines


def packet_bytes(letter: str, notes: list[tuple[str, str]], cover: Cover, profile: PracticeProfile | None = None,
                 fonts: list[Path] | None = None) -> bytes:
    """``letter``: the approved letter; ``notes``: (title, approved text) pairs, in order."""
    if not (letter or "").strip():
        raise InputError("Approve the letter first: the packet is made from the approved letter.")
    if len(notes) > MAX_ENCLOSED:
        raise InputError(f"Choose at most {MAX_ENCLOSED} notes for one packet.")
    profile = profile or PracticeProfile()
    when = cover.when or dt.date.today()
    letter_layout = build_layout(letter, profile)
    note_layouts = [(title, build_layout(text, None)) for title, text in notes]
    enclosed = ["Letter of medical necessity" if "appeal" not in cover.subject.lower() else "Appeal letter",
                *(title for title, _ in notes)]
    lines = _cover_lines(cover, profile, when)
    everything = "\n".join([all_text(letter_layout), *(t + "\n" + all_text(n) for t, n in note_layouts),
                            *(f"{k}: {v}" for k, v in lines), *enclosed, CONFIDENTIAL])
    pdf, family = new_pdf("Fax packet", profile.name, usable_fonts(everything, fonts))
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(family, size=20)
    pdf.cell(0, 12, "Fax", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for label, value in lines:
        pdf.set_font(family, size=11)
        pdf.cell(28, 7, printable(label) + ":")
        pdf.multi_cell(0, 7, printable(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, size=11)
    pdf.multi_cell(0, 6, "Enclosed:", new_x="LMARGIN", new_y="NEXT")
    for number, title in enumerate(enclosed, start=1):
        pdf.multi_cell(0, 6, f"  {number}. {printable(title)}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font(family, size=9)
    pdf.multi_cell(0, 5, CONFIDENTIAL, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    draw(pdf, family, letter_layout)
    for title, layout in note_layouts:
        pdf.add_page()
        pdf.set_font(family, size=13)
        pdf.multi_cell(0, 7, printable(title), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        draw(pdf, family, layout)
    return bytes(pdf.output())
