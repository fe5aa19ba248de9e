"""Word (.docx) export with python-docx: the practice's logo and letterhead at
the top, the approved text, then the signature block."""

from __future__ import annotations

import io
import logging

from docx import Document
from docx.shared import Inches, Pt
from docx.text.paragraph import Paragraph

from assistant.export.layout import Layout

log = logging.getLogger(__name__)


def docx_bytes(layout: Layout, title: str) -> bytes:
    doc = Document()
    props = doc.core_properties
    props.author = layout.practice_name
    props.last_modified_by = layout.practice_name
    props.title = title  # the kind of document, never a patient's name
    props.comments = ""
    style = doc.styles["Normal"]
    style.font.size = Pt(11)

    if layout.logo_path:
        try:
            doc.add_picture(layout.logo_path, width=Inches(1.5))
        except Exception as exc:  # an unreadable or unsupported image: leave the logo out
            log.warning("logo left out of a .docx export: %s", type(exc).__name__)
    for index, line in enumerate(layout.letterhead):
        paragraph = doc.add_paragraph()
        paragraph.paragraph_format.space_after = Pt(0)
        run = paragraph.add_run(line)
        if index == 0:
            run.bold = True
            run.font.size = Pt(14)
    if layout.letterhead:
        doc.add_paragraph()

    for block in layout.body_paragraphs():
        _add_lines(doc.add_paragraph(), block)
    if layout.signature:
        doc.add_paragraph()
        _add_lines(doc.add_paragraph(), layout.signature)

    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _add_lines(paragraph: Paragraph, text: str) -> None:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        run = paragraph.add_run(line)
        if i < len(lines) - 1:
            run.add_break()
