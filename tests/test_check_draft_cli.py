"""``assistant check-draft``: the JSON contract, the readable summary, and
exit 2 with a plain message for files it cannot use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli import main

NOTE_FIELDS = {"session_description": "Client seen 45 min. Pain 6 out of 10, then 3/10. Zoloft 50mg.", "note_format": "SOAP"}
NOTE = "Subjective: pain 6/10, then 3 out of 10.\nObjective: 45 minutes; sertraline 50 mg; walked 200 ft.\nPlan: continue.\n"
LETTER_FIELDS = {
    "patient_name": "Jane Roe", "payer": "Acme Health", "visits": 12,
    "cpt_codes": "97110, 9711", "icd10_codes": ["M62", "f41.1"],
}
LETTER = "Dear Acme Health,\nWe request 12 visits, CPT 97110 and 97112, for Jane Roe (F41.1).\n"


def write(tmp_path: Path, fields: object, draft: str | bytes) -> tuple[Path, Path]:
    fields_file, draft_file = tmp_path / "fields.json", tmp_path / "draft.txt"
    fields_file.write_text(json.dumps(fields), encoding="utf-8")
    if isinstance(draft, bytes):
        draft_file.write_bytes(draft)
    else:
        draft_file.write_text(draft, encoding="utf-8")
    return fields_file, draft_file


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check-draft", *args])
    return code, capsys.readouterr().out


def test_note_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fields, draft = write(tmp_path, NOTE_FIELDS, NOTE)
    code, out = run(capsys, "--input", str(fields), "--draft", str(draft), "--kind", "note", "--json")
    assert code == 0
    result = json.loads(out)
    assert {"flags", "missing_sections", "codes"} <= set(result)
    assert result["flags"] == [{"start": NOTE.index("200 ft"), "end": NOTE.index("200 ft") + 6, "text": "200 ft",
                                "category": "measurement", "reason": "This measurement is not in your notes."}]
    assert result["missing_sections"] == ["Assessment"]
    assert result["codes"] == {}


def test_letter_codes_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fields, draft = write(tmp_path, LETTER_FIELDS, LETTER)
    code, out = run(capsys, "--input", str(fields), "--draft", str(draft), "--json")  # kind guessed: letter
    assert code == 0
    result = json.loads(out)
    for flag in result["flags"]:
        assert set(flag) == {"start", "end", "text", "category", "reason"}
        assert LETTER[flag["start"]:flag["end"]] == flag["text"]
    assert [(f["text"], f["category"]) for f in result["flags"]] == [("97112", "code")]
    assert result["missing_sections"] == []
    codes = result["codes"]
    assert list(codes) == ["97110", "9711", "M62", "F41.1"]
    assert codes["F41.1"]["valid"] is True and codes["F41.1"]["billable"] is True
    assert codes["F41.1"]["description"] == "Generalized anxiety disorder" and codes["F41.1"]["in_draft"] is True
    assert codes["M62"]["billable"] is False and codes["M62"]["in_draft"] is False
    assert any(s["code"] == "M62.81" for s in codes["M62"]["suggestions"])
    assert codes["9711"]["system"] == "unknown" and "could not be read" in codes["9711"]["message"]
    assert codes["97110"]["valid"] is None


def test_readable_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fields, draft = write(tmp_path, NOTE_FIELDS, NOTE)
    code, out = run(capsys, "--input", str(fields), "--draft", str(draft))
    assert code == 0
    assert "1 thing(s) to look at" in out and 'line 2: "200 ft" (measurement)' in out
    assert "Missing sections: Assessment" in out


@pytest.mark.parametrize(
    ("fields", "draft", "says"),
    [
        (None, NOTE, "could not be read"),
        ("[1, 2]", NOTE, "expected a JSON object"),
        ("{not json", NOTE, "not valid JSON"),
        ('{"a": {"b": 1}}', NOTE, "must be text"),
        (json.dumps(NOTE_FIELDS), b"\xff\xfe\x00binary\x80", "not UTF-8 text"),
    ],
)
def test_unreadable_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: str | None,
                                 draft: str | bytes, says: str) -> None:
    fields_file, draft_file = write(tmp_path, {}, draft)
    if fields is None:
        fields_file = tmp_path / "missing.json"
    else:
        fields_file.write_text(fields, encoding="utf-8")
    code, out = run(capsys, "--input", str(fields_file), "--draft", str(draft_file), "--json")
    assert code == 2
    assert out.startswith("Problem: ") and says in out and "Traceback" not in out


def test_empty_and_odd_input_still_completes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fields, draft = write(tmp_path, {"note_format": "Haiku", "session_description": None}, "")
    code, out = run(capsys, "--input", str(fields), "--draft", str(draft), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["flags"] == [] and result["missing_sections"] == []
    assert any("empty" in n for n in result["notes"]) and any("Haiku" in n for n in result["notes"])


def test_the_real_command(tmp_path: Path) -> None:
    fields, draft = write(tmp_path, NOTE_FIELDS, NOTE)
    env = {**os.environ, "ASSISTANT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "check-draft", "--input", str(fields), "--draft", str(draft), "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["missing_sections"] == ["Assessment"]


def test_letter_checklist_in_json_cites_the_saved_payer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--kind letter`` adds "checklist": the twelve items in order, each present or missing with a hint; the
    payer named in the fields is looked up in the saved profile, so its policy is checked for."""
    import yaml

    from assistant.checks import LABELS
    from assistant.core.profile import Payer, PracticeProfile
    from assistant.store.config import Config
    from assistant.store.profile import save_profile

    letter = yaml.safe_load((Path(__file__).parent / "data" / "letters" / "complete-02-pt-knee.yaml").read_text())
    fields, draft = write(tmp_path, {k: str(v) for k, v in letter["fields"].items()}, letter["draft"])
    code, out = run(capsys, "--input", str(fields), "--draft", str(draft), "--kind", "letter", "--json")
    assert code == 0
    checklist = json.loads(out)["checklist"]
    assert [c["item"] for c in checklist] == list(LABELS)
    assert all({"item", "present", "hint"} <= set(c) and c["hint"] for c in checklist)
    assert [c["item"] for c in checklist if c["present"] is not True] == ["payer_policy"]  # no payer on file: unknown

    save_profile(Config.load().paths.root, PracticeProfile(payers=[Payer(name=letter["fields"]["payer"],
                                                                         policies="LCD L33631, PT-022")]))
    code, out = run(capsys, "--input", str(fields), "--draft", str(draft), "--kind", "letter")
    assert code == 0 and "Ready to send?" in out
    assert "[MISSING] The payer's policy cited: Cite the payer's policy: LCD L33631; PT-022." in out

    code, out = run(capsys, "--input", str(fields), "--draft", str(draft), "--kind", "note", "--json")
    assert "checklist" not in json.loads(out)  # notes have no checklist
