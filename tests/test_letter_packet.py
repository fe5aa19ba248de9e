"""The fax packet (cover sheet + approved letter + approved notes in one PDF) and payer profiles."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from assistant.core.profile import Payer, PracticeProfile
from assistant.errors import InputError
from assistant.export.packet import Cover, file_name, packet_bytes

PROFILE = PracticeProfile(name="Riverside Therapy Group", phone="555-0100", fax="555-0101", npi="1234567893",
                          payers=[Payer(name="Example Health Plan", fax="555-0199", portal="https://portal.example",
                                        policies="MP-PT-017, LCD L33631")])
LETTER = "RE: Request for prior authorization\n\nDear reviewer,\n\nJordan Sample needs 12 visits of PT.\n\nSincerely,"
NOTES = [("Progress note, 2026-11-30", "S: Pain 5/10.\nO: Flexion 112 degrees.\nA: Improving.\nP: Continue."),
         ("Progress note, 2026-11-23", "S: Pain 6/10.\nO: Flexion 104 degrees.\nA: Improving.\nP: Continue.")]


def text_of(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def test_packet_has_cover_letter_and_each_note_in_order():
    payer = PROFILE.payer("  example health   PLAN ")
    assert payer is not None and payer.policy_list() == ["MP-PT-017", "LCD L33631"]
    cover = Cover(to=payer.name, to_fax=payer.fax, reference="UR-26-004417", when=dt.date(2026, 12, 2))
    pages = text_of(packet_bytes(LETTER, NOTES, cover, PROFILE))
    assert len(pages) == 4, "cover, letter, two notes"
    cover_page = pages[0]
    for expected in ("Example Health Plan", "555-0199", "Riverside Therapy Group", "December 02, 2026",
                     "UR-26-004417", "Pages: 4", "1. Letter of medical necessity", "2. Progress note, 2026-11-30",
                     "CONFIDENTIAL"):
        assert expected in cover_page, expected
    assert "Jordan Sample needs 12 visits" in pages[1]
    assert "Flexion 112 degrees" in pages[2] and "Flexion 104 degrees" in pages[3]


def test_packet_needs_the_approved_letter_and_names_no_patient():
    with pytest.raises(InputError, match="Approve the letter first"):
        packet_bytes("  ", NOTES, Cover(), PROFILE)
    assert file_name(dt.date(2026, 12, 2)) == "prior-auth-packet-2026-12-02.pdf"
    appeal = text_of(packet_bytes(LETTER, [], Cover(subject="Appeal of a denial"), PracticeProfile()))
    assert len(appeal) == 2 and "1. Appeal letter" in appeal[0] and "(payer not given)" in appeal[0]


def test_payer_profiles_are_saved_with_the_practice_profile(assistant_home):
    from assistant.store.profile import load_profile, save_profile

    save_profile(assistant_home, PROFILE)
    again = load_profile(assistant_home)
    assert again.payers[0].fax == "555-0199" and again.payer("Unknown plan") is None
