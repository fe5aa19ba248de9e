"""Exports: .txt, .docx and .pdf hold the letterhead, the text (any script the
fonts can show) and the signature; file names carry kind and date only;
writing is atomic and failures are plain errors."""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
from pathlib import Path

import docx
import pytest
from PIL import Image
from pypdf import PdfReader

from assistant.core.profile import PracticeProfile
from assistant.errors import ExportError, InputError
from assistant.export.pdf import find_fonts
from assistant.store.exports import export_docx, export_pdf, export_txt

DAY = dt.date(2026, 11, 29)
PATIENT = "Jane Roe"
TEXT = (
    f"Subjective: {PATIENT} moved from São Paulo; naïve to CBT; summers on Ærø.\n"
    "Pain 6/10 at start.\n\nPlan: continue weekly."
)
NAME_PATTERN = re.compile(r"^(progress-note|prior-auth-letter)-\d{4}-\d{2}-\d{2}(-\d+)?\.(txt|docx|pdf)$")


@pytest.fixture
def profile() -> PracticeProfile:
    return PracticeProfile(
        name="Sunrise Therapy", address="12 Main St\nSpringfield, IL 62704", phone="555-201-7788",
        signature_block="Alex Kim, LCSW\nSunrise Therapy",
    )


def only_exports(folder: Path) -> list[str]:
    names = sorted(p.name for p in folder.iterdir())
    assert all(NAME_PATTERN.match(n) for n in names), names  # no temp files left, no patient names
    return names


def test_docx_holds_letterhead_text_and_signature(tmp_path: Path, profile: PracticeProfile) -> None:
    path = export_docx(TEXT, tmp_path, "note", profile, DAY)
    assert path.name == "progress-note-2026-11-29.docx"
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0  # owner only
    document = docx.Document(str(path))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[:4] == ["Sunrise Therapy", "12 Main St", "Springfield, IL 62704", "Phone 555-201-7788"]
    body = "\n".join(paragraphs)
    assert "São Paulo; naïve to CBT; summers on Ærø.\nPain 6/10 at start." in body
    assert "Plan: continue weekly." in body
    assert paragraphs[-1] == "Alex Kim, LCSW\nSunrise Therapy"
    assert PATIENT not in (document.core_properties.title or "") + (document.core_properties.author or "")
    assert len(document.inline_shapes) == 0


def test_docx_logo_when_readable_and_skipped_when_not(tmp_path: Path, profile: PracticeProfile) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGB", (40, 20), "navy").save(logo)
    out = tmp_path / "out"
    with_logo = export_docx(TEXT, out, "letter", profile.model_copy(update={"logo_path": str(logo)}), DAY)
    assert len(docx.Document(str(with_logo)).inline_shapes) == 1
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    for logo_path in (str(broken), str(tmp_path / "missing.png")):
        path = export_docx(TEXT, out, "letter", profile.model_copy(update={"logo_path": logo_path}), DAY)
        assert len(docx.Document(str(path)).inline_shapes) == 0
    assert only_exports(out) == ["prior-auth-letter-2026-11-29-2.docx", "prior-auth-letter-2026-11-29-3.docx",
                                 "prior-auth-letter-2026-11-29.docx"]


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_pdf_holds_the_same_text_with_unicode(tmp_path: Path, profile: PracticeProfile) -> None:
    if not find_fonts():
        pytest.skip("no TrueType font on this computer (the Helvetica fallback is tested below)")
    path = export_pdf(TEXT + "\nΑθήνα, Київ, Łódź — “quoted”", tmp_path, "note", profile, DAY)
    assert path.name == "progress-note-2026-11-29.pdf"
    text = pdf_text(path)
    for piece in ("Sunrise Therapy", "Springfield, IL 62704", "São Paulo", "naïve", "Ærø", "Pain 6/10 at start.",
                  "Plan: continue weekly.", "Αθήνα, Київ, Łódź", "Alex Kim, LCSW"):
        assert piece in text, piece
    assert text.index("Sunrise Therapy") < text.index("São Paulo") < text.index("Alex Kim, LCSW")


def test_pdf_without_any_truetype_font_still_shows_latin1(tmp_path: Path, profile: PracticeProfile) -> None:
    path = export_pdf(TEXT, tmp_path, "letter", profile, DAY, fonts=[])
    text = pdf_text(path)
    for piece in ("São Paulo", "naïve", "Ærø", "Alex Kim, LCSW"):
        assert piece in text, piece


def test_pdf_refuses_characters_no_font_can_show(tmp_path: Path, profile: PracticeProfile) -> None:
    with pytest.raises(ExportError, match=r"U\+0141") as caught:
        export_pdf("Łódź", tmp_path, "note", profile, DAY, fonts=[])  # Helvetica is Latin-1 only
    assert "Word (.docx)" in caught.value.message
    fonts = find_fonts()[:1]
    if fonts:
        with pytest.raises(ExportError, match=r"U\+E000"):
            export_pdf("private \ue000 use", tmp_path, "note", profile, DAY, fonts=fonts)
    assert only_exports(tmp_path) == []


def test_txt_and_file_names(tmp_path: Path, profile: PracticeProfile) -> None:
    first = export_txt(TEXT, tmp_path, "letter", profile, DAY)
    second = export_txt(TEXT + "\n\nAlex Kim, LCSW\nSunrise Therapy", tmp_path, "letter", profile, DAY)
    assert (first.name, second.name) == ("prior-auth-letter-2026-11-29.txt", "prior-auth-letter-2026-11-29-2.txt")
    content = first.read_text(encoding="utf-8")
    assert content.startswith("Sunrise Therapy\n12 Main St\n") and "São Paulo" in content
    assert content.rstrip().endswith("Alex Kim, LCSW\nSunrise Therapy")
    assert second.read_text(encoding="utf-8").count("Alex Kim, LCSW") == 1  # not signed twice
    assert only_exports(tmp_path) == [second.name, first.name]
    plain = export_txt("Just\x00 text \ud800.", tmp_path / "new-folder", "note", None, DAY)
    assert plain.name == "progress-note-2026-11-29.txt"
    assert plain.read_text(encoding="utf-8") == "Just text \ufffd.\n"


def test_empty_text_and_unknown_kind_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no text to export"):
        export_docx("  \n", tmp_path, "note")
    with pytest.raises(InputError, match="not a kind of document"):
        export_txt("text", tmp_path, "invoice")


def test_unwritable_folder_is_a_plain_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="could not be saved") as caught:
        export_pdf(TEXT, blocker / "exports", "note", today=DAY)
    assert isinstance(caught.value, InputError) and "Your text is still on the screen" in caught.value.message


def test_full_disk_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ExportError, match="No space left on device"):
        export_docx(TEXT, tmp_path, "note", today=DAY)
    assert list(tmp_path.iterdir()) == []
