"""One vocabulary for the kinds of document: every other name of a kind comes from core.kinds."""

from __future__ import annotations

import pytest

from assistant.checks.draft import KINDS
from assistant.core.kinds import WORDS, DocumentKind, kind_of, short
from assistant.core.presets import KIND_LABELS
from assistant.export import TITLES
from assistant.export.files import KIND_NAMES, file_stem


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_each_kind_is_named_the_same_everywhere(kind):
    words = WORDS[kind]
    assert kind_of(kind.value) is kind and kind_of(words.short) is kind
    assert short(kind.value) == words.short
    assert KIND_LABELS[kind.value] == words.label
    assert TITLES[words.short] == words.title
    assert KIND_NAMES[words.short] == words.file_stem


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="invoice"):
        kind_of("invoice")
    assert set(KINDS) == {"note", "letter"}  # chat replies are not checked against a form
    assert file_stem("letter").startswith("prior-auth-letter-")
