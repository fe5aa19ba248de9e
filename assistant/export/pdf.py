"""PDF export with fpdf2 (pure Python), with a Unicode TrueType font.

fpdf2 ships no Unicode font, so one is looked for, in order: a .ttf placed in
``assistant/export/fonts/`` (a vendor build can ship DejaVu Sans there), then
the usual system fonts (DejaVu, Liberation, Noto on Linux; Arial, Segoe UI on
Windows; Arial on macOS). Fonts found after the first one are fallbacks for
characters the first lacks. With no TrueType font at all, the PDF's built-in
Helvetica (Latin-1 only) is used.

Before anything is drawn, every character of the text is checked against the
fonts: if one cannot be shown, the export stops with ExportError (naming the
character by its code point, e.g. U+6F22), rather than leave it out silently.
"""

from __future__ import annotations

import functools
import logging
import os
import unicodedata
from pathlib import Path

from fpdf import FPDF

from assistant.errors import ExportError
from assistant.export.layout import Layout

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parent / "fonts"
SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "{windir}/Fonts/arial.ttf",
    "{windir}/Fonts/segoeui.ttf",
    "{windir}/Fonts/calibri.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
)
MAX_FONTS = 4
LATIN1 = frozenset(range(0x20, 0x7F)) | frozenset(range(0xA0, 0x100))
# Invisible formatting characters (zero-width space, soft hyphen, ...) are left out of a PDF.
_INVISIBLE = {"Cf"}


def find_fonts() -> list[Path]:
    """TrueType fonts to use, best first (may be empty)."""
    windir = os.environ.get("WINDIR") or os.environ.get("SystemRoot") or "C:/Windows"
    found: list[Path] = []
    candidates = sorted(BUNDLED.glob("*.ttf")) if BUNDLED.is_dir() else []
    candidates += [Path(p.format(windir=windir)) for p in SYSTEM_FONTS]
    for path in candidates:
        if path.is_file() and os.access(path, os.R_OK) and path not in found:
            found.append(path)
        if len(found) >= MAX_FONTS:
            break
    return found


@functools.cache
def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # fpdf2 depends on fontTools

    try:
        with TTFont(str(path), lazy=True) as font:
            return frozenset(font.getBestCmap() or {})
    except Exception as exc:  # a damaged font file: do not use it
        log.warning("font unreadable: %s", type(exc).__name__)
        return frozenset()


def printable(text: str) -> str:
    return "".join(ch for ch in text.replace("\t", "    ") if unicodedata.category(ch) not in _INVISIBLE)


def missing_characters(text: str, coverage: frozenset[int]) -> list[str]:
    return sorted({ch for ch in text if ch != "\n" and ord(ch) not in coverage})


def usable_fonts(everything: str, fonts: list[Path] | None = None) -> list[Path]:
    """The fonts to draw ``everything`` with (the first, plus fallbacks it needs), or ``ExportError``
    naming the characters no font here can show."""
    fonts = [f for f in (find_fonts() if fonts is None else fonts) if _cmap(f)]
    if fonts:  # fallbacks only when the first font lacks something (they slow fpdf2 down)
        lacking = set(missing_characters(everything, _cmap(fonts[0])))
        fonts = fonts[:1] + [f for f in fonts[1:] if any(ord(ch) in _cmap(f) for ch in lacking)]
    coverage: frozenset[int] = frozenset().union(*(_cmap(f) for f in fonts)) if fonts else LATIN1
    missing = missing_characters(everything, coverage)
    if missing:
        sample = ", ".join(f"U+{ord(ch):04X}" for ch in missing[:5])
        raise ExportError(
            f"The PDF could not be made: the text has {len(missing)} character(s) that no font on this "
            f"computer can show ({sample}). Export as Word (.docx) or text instead; your text is still on the screen."
        )
    return fonts


def new_pdf(title: str, author: str, fonts: list[Path]) -> tuple[FPDF, str]:
    """A Letter-size document with the fonts added; returns it and the font family to use."""
    pdf = FPDF(format="Letter", unit="mm")
    pdf.set_title(title)
    pdf.set_creator("Practice Assistant")
    pdf.set_author(author)
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=18)
    if not fonts:
        return pdf, "helvetica"
    names = []
    for index, path in enumerate(fonts):
        name = f"font{index}"
        pdf.add_font(name, "", str(path))
        names.append(name)
    if len(names) > 1:
        pdf.set_fallback_fonts(names[1:], exact_match=False)
    return pdf, names[0]


def draw(pdf: FPDF, family: str, layout: Layout) -> None:
    """Logo, letterhead, the text and the signature block, from the current position."""
    letterhead = [printable(line) for line in layout.letterhead]
    if layout.logo_path:
        try:
            pdf.image(layout.logo_path, w=35)
            pdf.ln(2)
        except Exception as exc:  # an unreadable or unsupported image: leave the logo out
            log.warning("logo left out of a PDF export: %s", type(exc).__name__)
    for index, line in enumerate(letterhead):
        pdf.set_font(family, size=14 if index == 0 else 10)
        pdf.multi_cell(0, 6 if index == 0 else 5, line, align="L", new_x="LMARGIN", new_y="NEXT")
    if letterhead:
        pdf.ln(6)
    pdf.set_font(family, size=11)
    pdf.multi_cell(0, 5.5, printable(layout.text.strip("\n")), align="L", new_x="LMARGIN", new_y="NEXT")
    signature = printable(layout.signature)
    if signature:
        pdf.ln(8)
        pdf.multi_cell(0, 5.5, signature, align="L", new_x="LMARGIN", new_y="NEXT")


def all_text(layout: Layout) -> str:
    return "\n".join([*(printable(line) for line in layout.letterhead), printable(layout.text),
                      printable(layout.signature)])


def pdf_bytes(layout: Layout, title: str, fonts: list[Path] | None = None) -> bytes:
    chosen = usable_fonts(all_text(layout), fonts)
    pdf, family = new_pdf(title, layout.practice_name, chosen)
    pdf.add_page()
    draw(pdf, family, layout)
    return bytes(pdf.output())
