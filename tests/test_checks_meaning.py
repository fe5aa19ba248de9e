"""The meaning check: a side changed, a finding's presence flipped, a level of help, a goal's status, a body part the
notes never name, a frequency in words; each flagged with a plain reason, and paraphrases and abbreviations of what
the notes say left alone. Measured on the planted drafts in tests/data/meaning (and those written blind in
tests/data/meaning-blind): the README's table comes from ``measure``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from assistant.checks import MEANING_CATEGORIES, check_draft, check_meaning
from assistant.checks.context import findings
from assistant.cli import main

DATA = Path(__file__).parent / "data"
NOTES = ("Pt c/o R shoulder pain 6/10 w/ reaching. Sit<>stand mod A, amb 150 ft CGA w/ RW. STG 1 (amb 300 ft) not yet "
         "met, STG 2 (I HEP) met. Denies SI/HI. Mother hx of depression. If pain increases, call clinic. Seen 2x/wk.")


def flags(draft: str, notes: str = NOTES) -> list[tuple[str, str]]:
    return [(f.category, f.text) for f in check_draft("note", {"session_description": notes}, draft).flags]


@pytest.mark.parametrize(("draft", "category", "text", "reason"), [
    ("She reports left shoulder pain with reaching.", "laterality", "left shoulder", "The draft says left; your notes say right."),
    ("Pain in both shoulders with reaching.", "laterality", "both shoulders", "The draft says both sides; your notes say right."),
    ("She completed sit to stand independently.", "assistance", "independently",
     "The draft says independent for sit to stand; your notes say moderate assist."),
    ("She ambulated 150 feet with supervision and a rolling walker.", "assistance", "supervision", "your notes say contact guard"),
    ("Goal 1 has been met.", "goal_status", "Goal 1 has been met", "The draft says goal 1 is met; your notes say not met."),
    ("Short-term goal 2 is not yet met.", "goal_status", "Short-term goal 2 is not yet met", "your notes say met"),
    ("The client reports suicidal ideation.", "negation", "suicidal ideation", "your notes say it is not"),
    ("She also reports neck pain.", "body_part", "neck", "This body part is not in your notes."),
    ("She is seen three times weekly.", "frequency", "three times weekly", "This frequency (how often) is not in your notes."),
    ("She is seen weekly.", "frequency", "weekly", "This frequency"),
])
def test_a_changed_meaning_is_flagged_with_a_plain_reason(draft: str, category: str, text: str, reason: str) -> None:
    result = check_draft("note", {"session_description": NOTES}, draft)
    hits = [f for f in result.flags if f.category == category]
    assert [f.text for f in hits] == [text], result.flags
    assert reason in hits[0].reason and draft[hits[0].start:hits[0].end] == text


@pytest.mark.parametrize("draft", [
    "She reports right shoulder pain with reaching.",  # R = right
    "Sit to stand required moderate assistance.",  # mod A
    "She ambulated 150 feet with contact guard assistance and a rolling walker.",  # CGA; "rolling" is no bed mobility
    "Short-term goal 1 is not yet met; goal 2 has been met.",  # STG n
    "She denies suicidal or homicidal ideation.",  # SI/HI
    "There are no reports of SI.",  # denied another way
    "Her mother has a history of depression.",  # family history, not the client
    "If her pain increases, she will call the clinic.",  # a what-if
    "She is seen twice a week.",  # 2x/wk
    "We will come back to this next visit and she will go back to work.",  # "back" that is not the body's
    "Her right shoulder flexion and abduction were assessed.",  # one side for several motions
])
def test_what_the_notes_say_in_other_words_is_not_flagged(draft: str) -> None:
    assert flags(draft) == []


def test_the_flag_covers_the_changed_words_in_the_original_draft() -> None:
    draft = "Ｐｔ – reports ＬＥＦＴ shoulder pain."  # full-width letters and a dash: offsets still index the draft
    found = check_meaning(draft, [NOTES])
    assert [(f.category, draft[f.start:f.end]) for f in found] == [("laterality", "ＬＥＦＴ shoulder")]


def test_findings_know_now_from_the_past_a_family_member_and_a_what_if() -> None:
    said = {(f.concept, f.present, f.when) for f in findings(
        "Denies SI/HI. Pain R wrist 5/10. Hx of falls in 2023. Father has a history of alcohol use. "
        "Will monitor for dizziness. Thin liquids: no coughing. Negative for SI and HI.")}
    assert ("suicidal ideation", False, "now") in said and ("homicidal ideation", False, "now") in said
    assert ("pain", True, "now") in said  # the denial does not reach into the next sentence
    assert ("falls", True, "past") in said
    assert ("substance use", True, "family") in said
    assert ("dizziness", True, "if") in said
    assert ("coughing", False, "now") in said  # "liquids: no coughing" is a denial of coughing
    assert not [f for f in findings("Tenderness over the SI joint.") if f.concept == "suicidal ideation"]


def test_a_safety_finding_the_notes_never_mention_is_flagged() -> None:
    result = flags("The client denies homicidal ideation.", notes="Client discussed work stress. Practiced breathing.")
    assert result == [("negation", "homicidal ideation")]


def test_check_draft_json_names_the_new_categories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fields, draft = tmp_path / "fields.json", tmp_path / "draft.txt"
    fields.write_text(json.dumps({"session_description": NOTES}), encoding="utf-8")
    draft.write_text("She reports left shoulder pain. Goal 1 has been met. Sit to stand was independent.", encoding="utf-8")
    assert main(["check-draft", "--input", str(fields), "--draft", str(draft), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {f["category"] for f in shown["flags"]} == {"laterality", "goal_status", "assistance"}
    assert set(MEANING_CATEGORIES) == {"laterality", "negation", "assistance", "goal_status", "body_part"}


def test_the_findings_reader_works_offline_with_nothing_let_out() -> None:
    script = ("from assistant.security import privacy\nprivacy.lockdown()\n"
              "from assistant.checks.context import findings\n"
              "print(len(findings('Pt denies SI/HI.')), len(privacy.blocked_attempts()))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split()[-2:] == ["2", "0"], out.stdout + out.stderr


def measure(folder: Path) -> dict:
    """Planted changes caught (a flag of the planted kind over the planted words) and supported statements flagged
    (any flag over them), over every YAML case in ``folder``."""
    caught, planted, flagged, supported, missed, wrong = 0, 0, 0, 0, [], []
    kinds: dict[str, list[int]] = {}
    for path in sorted(folder.glob("*.yaml")):
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        draft = case["draft"]
        result = check_draft("note", {"session_description": case["notes"]}, draft).flags
        for change in case.get("planted") or []:
            start = draft.index(change["text"])
            end, kind = start + len(change["text"]), change["category"]
            hit = any(f.start < end and start < f.end and f.category == kind for f in result)
            planted, caught = planted + 1, caught + hit
            kinds.setdefault(kind, [0, 0])
            kinds[kind] = [kinds[kind][0] + hit, kinds[kind][1] + 1]
            if not hit:
                missed.append(f"{path.stem}: {kind} {change['text']!r}")
        for statement in case.get("supported") or []:
            start = draft.index(statement)
            hits = [f for f in result if f.start < start + len(statement) and start < f.end]
            supported, flagged = supported + 1, flagged + bool(hits)
            if hits:
                wrong.append(f"{path.stem}: {statement!r} <- {[(f.category, f.text) for f in hits]}")
    return {"caught": caught, "planted": planted, "flagged": flagged, "supported": supported, "kinds": kinds,
            "missed": missed, "wrong": wrong}


@pytest.mark.parametrize("folder", ["meaning", "meaning-blind"])
def test_the_planted_sets_meet_the_targets(folder: str) -> None:
    """The issue's targets on each set: at least 90% of the planted changes caught, at most 5% of the supported
    statements flagged. meaning-blind was written by someone who saw neither the rules nor the first set; its
    first-sight figures, before the rules were corrected on it, are in the README."""
    got = measure(DATA / folder)
    assert got["planted"] >= (40 if folder == "meaning" else 30) and got["supported"] >= 100
    assert set(got["kinds"]) == {*MEANING_CATEGORIES, "frequency"}
    assert got["caught"] >= 0.9 * got["planted"], "\n".join(got["missed"])
    assert got["flagged"] <= 0.05 * got["supported"], "\n".join(got["wrong"])
