"""The stages of loading a model, in order: one list for the loader, the launcher and the System tab.

Plain Python (no torch). Each stage has a ``name`` (stable, for code), ``words`` (what the user
sees) and ``start``, the fraction of the load where it begins; it runs until the next stage's
start (``span``). The loader (``assistant.engine.hf``) reports progress through a callback
``progress(fraction, words)``, the signature used before this module existed:

* ``fraction`` is the ``start`` of the stage that begins, so ``at(fraction)`` gives the stage
  back and ``span(at(fraction).name)`` the part of the bar it covers (a long stage, reading the
  weights, can creep toward its end so the bar moves);
* ``words`` is a ``StageWords``: a ``str`` (what to show; a stage may say it more exactly, e.g.
  "Loading the saved 4-bit copy" for ``weights``) that also carries ``.stage``, the ``Stage``.

A loader calls ``tell(progress, "weights")`` or ``tell(progress, "weights", "Loading the saved
4-bit copy")``. ``start`` is never reported by the loader: it is where a progress display begins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[float, str], None]  # (fraction done, words to show)


@dataclass(frozen=True)
class Stage:
    name: str
    words: str
    start: float


STAGES: tuple[Stage, ...] = (
    Stage("start", "Starting", 0.0),
    Stage("check", "Checking the model files", 0.02),
    Stage("convert", "Converting the model for this computer (first time only, a few minutes)", 0.03),
    Stage("tokenizer", "Reading the tokenizer", 0.08),
    Stage("weights", "Loading the model", 0.15),  # by far the longest
    Stage("tune", "Testing what runs fastest on this processor", 0.8),
    Stage("save", "Saving a 4-bit copy so the next start is faster (first time only)", 0.85),
    Stage("ready", "Ready", 1.0),
)
_BY_NAME = {stage.name: stage for stage in STAGES}


class StageWords(str):
    """The words shown for a stage, with the stage itself as ``.stage``."""

    stage: Stage

    def __new__(cls, words: str, stage: Stage) -> StageWords:
        text = super().__new__(cls, words)
        text.stage = stage
        return text


def get(name: str) -> Stage:
    """The stage called ``name`` (KeyError for an unknown name: a typo in code, not user input)."""
    return _BY_NAME[name]


def span(name: str) -> tuple[float, float]:
    """[start, next) of the stage: where it begins and where the next one begins (1.0 for the last)."""
    index = STAGES.index(get(name))
    following = STAGES[index + 1].start if index + 1 < len(STAGES) else 1.0
    return STAGES[index].start, following


def at(fraction: float) -> Stage:
    """The stage running at ``fraction``: the last one that starts at or before it."""
    found = STAGES[0]
    for stage in STAGES:
        if stage.start <= fraction:
            found = stage
    return found


def tell(progress: Progress | None, name: str, words: str | None = None) -> None:
    """Report that stage ``name`` begins: ``progress(start, StageWords(words or its own words))``."""
    if progress is not None:
        stage = get(name)
        progress(stage.start, StageWords(words or stage.words, stage))
