"""Which findings a text says are present and which absent, and whether it says so about now, the past, a family
member or a "what if": medspaCy's target matcher and ConText (the successor of NegEx) over spaCy, offline, on the
processor. The only module that imports medspaCy or spaCy. The pipeline is built once, on first use (about a
second), then each note takes milliseconds.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass

from assistant.checks.meaning_vocab import FINDINGS

log = logging.getLogger(__name__)
_PIECE = re.compile(r"[^\n]*?(?:[.;!?](?=\s|$)|\n|$)")  # up to a sentence's end or a line's
_LOCK = threading.Lock()  # spaCy pipelines are not safe to share between threads mid-document
_CUT_OBJECTS = {"food", "shapes", "shape", "paper", "out", "along", "lines", "line", "circles", "squares", "skills",
                "task", "tasks", "vegetables", "meat", "with", "up", "practice", "activities", "activity", "on",
                "simple", "a", "the", "straight", "curved", "through", "skill"}  # "cutting food" is no self-harm

# Cues ConText's own rules (102 of them) do not have, as clinicians write them.
_EXTRA_RULES = (
    ("NEGATED_EXISTENCE", "FORWARD", ["no reports of", "no report of", "no c/o", "no complaints of", "free of",
                                      "negative for", "is negative for", "was negative for", "remains negative for",
                                      "were negative for", "are negative for", "neg for", "no signs of", "no evidence of", "nor", "no longer",
                                      "without any", "not endorse", "did not endorse", "does not endorse",
                                      "not report", "did not report", "does not report", "not experiencing",
                                      "no episodes of", "zero", "none", "w/o", "w/o c/o", "without c/o",
                                      "without complaint of", "without complaints of", "denies any"]),
    ("NEGATED_EXISTENCE", "BACKWARD", ["denied", "absent", "resolved", "none reported", "not reported",
                                       "not present", "0/10", "were denied", "was denied"]),
    ("HISTORICAL", "FORWARD", ["hx of", "h/o", "past history of", "previous", "previously", "prior"]),
    ("HISTORICAL", "BACKWARD", ["last year", "last yr", "in the past", "years ago", "as a child", "as a teenager",
                                "prior to admission", "prior to admit", "before admission", "past month"]),
    ("HYPOTHETICAL", "FORWARD", ["monitor for", "watch for", "call if", "report any", "educated on signs of",
                                 "safety plan for", "in case of", "should", "would", "will monitor"]),
    ("TERMINATE", "TERMINATE", ["+", "positive for", "c/o", "complains of", "reports", "endorses", "endorsed", "reported", "states", "but", "however",
                                "although", "which", "who", "and reports"]),
)


@dataclass(frozen=True)
class Finding:
    concept: str  # one of meaning_vocab.FINDINGS
    start: int  # character offsets in the text given
    end: int
    present: bool  # False where the text denies it
    when: str  # "now", or "past", "family", "if" (a what-if, a plan or an instruction)


@functools.lru_cache(maxsize=1)
def _pipeline():  # noqa: ANN202 - a spaCy Language
    try:
        return _build()
    except ModuleNotFoundError as exc:  # a module's name is no patient data, and it says what the build lacks
        log.error("the findings reader is missing the module %s", exc.name)
        raise


def _build():  # noqa: ANN202
    import medspacy
    from medspacy.context import ConTextRule
    from medspacy.ner import TargetRule

    # Sentences are cut by ``findings`` (PyRuSH, medspaCy's splitter, misses "Denies SI/HI. Pain ...").
    nlp = medspacy.load(medspacy_enable=["medspacy_tokenizer", "medspacy_target_matcher", "medspacy_context"])
    nlp.add_pipe("sentencizer", first=True, config={"punct_chars": ["\u0000"]})  # each piece is one sentence
    rules = []
    for concept, words in FINDINGS.items():
        for word in words.split("|"):
            if word.isupper():  # "SI", "HI", "AH": in capitals only ("hi" is a greeting)
                rules.append(TargetRule(word, concept, pattern=[{"TEXT": word}]))
            else:
                rules.append(TargetRule(word, concept))
    nlp.get_pipe("medspacy_target_matcher").add(rules)
    context = nlp.get_pipe("medspacy_context")
    extra = []
    for category, direction, literals in _EXTRA_RULES:
        for literal in literals:
            kind = category if category != "TERMINATE" else "CONJ"
            extra.append(ConTextRule(literal, kind, direction=direction))
    context.add(extra)
    return nlp


def findings(text: str) -> list[Finding]:
    """Each finding the text names, with whether it is present and when."""
    if not text or not text.strip():
        return []
    # One sentence at a time, cut here: clinicians' shorthand ("Denies SI/HI. Pain R wrist 5/10") defeats the
    # sentence splitter, and a denial must not reach into the next sentence. "Cup: no coughing" is read as
    # "cup, no coughing" (ConText reads "X: no" as X denied); the same length, so offsets hold.
    pieces = [(m.start(), m[0].replace(": ", ", ")) for m in _PIECE.finditer(text) if m[0].strip()]
    with _LOCK:
        docs = list(_pipeline().pipe(piece for _, piece in pieces))
    out = []
    for (offset, _), doc in zip(pieces, docs, strict=True):
        for ent in doc.ents:
            after = doc[ent.end].lower_ if ent.end < len(doc) else ""
            if ent.label_ == "suicidal ideation" and ent.text == "SI" and after in ("joint", "joints"):
                continue  # the sacroiliac joint
            if ent.text.lower() == "cutting" and after in _CUT_OBJECTS:
                continue  # scissors and food
            when = ("family" if ent._.is_family else "if" if ent._.is_hypothetical else
                    "past" if ent._.is_historical else "now")
            out.append(Finding(ent.label_, offset + ent.start_char, offset + ent.end_char, not ent._.is_negated, when))
    return out


def warm() -> None:
    """Build the pipeline now (about a second) so the first check does not wait for it."""
    try:
        findings("No pain.")
    except Exception as exc:  # noqa: BLE001 - the check reports it when it is used
        log.warning("the findings reader could not be prepared: %s", type(exc).__name__)
