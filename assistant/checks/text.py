"""Text primitives shared by the checks: the ``Flag`` type, and normalisation
(NFKC, look-alike digits and dashes) that remembers where each normalised
character came from, so that a span found in the normalised text can be
reported at its true place in the original draft.

Knows nothing about notes, letters or codes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

# Look-alikes that NFKC leaves alone but that matter for matching.
_EXTRA = str.maketrans(
    {
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-", "\ufe63": "-", "\uff0d": "-",
        "\u2044": "/", "\u2215": "/",
        "\u2019": "'", "\u2018": "'",
        "\u00b5": "\u03bc",  # micro sign -> Greek mu (NFKC does this too; kept explicit)
    }
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@dataclass(frozen=True)
class Flag:
    """One thing in a draft that a person should look at.

    ``start``/``end`` index the original draft (``draft[start:end] == text``);
    ``category`` is a short word such as ``"number"`` or ``"name"``;
    ``reason`` is a plain-language sentence.
    """

    start: int
    end: int
    text: str
    category: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _normalize_char(ch: str) -> str:
    out = unicodedata.normalize("NFKC", ch).translate(_EXTRA)
    if len(out) == 1 and not out.isascii():
        digit = unicodedata.decimal(out, None)  # Arabic-Indic, Devanagari, ... digits
        if digit is not None:
            return str(digit)
    return out


@dataclass(frozen=True)
class Normalized:
    """Normalised text plus, for each of its characters, the index of the
    original character it came from (``None`` when nothing changed)."""

    text: str
    original: str
    source: list[int] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of ``text`` back to a span of ``original``."""
        if self.source is None:
            return start, end
        if end <= start:
            pos = self.source[start] if start < len(self.source) else len(self.original)
            return pos, pos
        return self.source[start], self.source[end - 1] + 1


def normalize(text: str) -> Normalized:
    """NFKC per character, dashes/slashes/quotes to ASCII, any decimal digit to 0-9.

    Per character (not per string), so offsets map back exactly; ASCII runs are
    copied as they are, so a mostly-ASCII megabyte costs little.
    """
    if text.isascii():
        return Normalized(text, text, None)
    pieces: list[str] = []
    source: list[int] = []
    last = 0
    for match in _NON_ASCII.finditer(text):
        start, end = match.span()
        if start > last:
            pieces.append(text[last:start])
            source.extend(range(last, start))
        for index in range(start, end):
            out = _normalize_char(text[index])
            pieces.append(out)
            source.extend([index] * len(out))
        last = end
    if last < len(text):
        pieces.append(text[last:])
        source.extend(range(last, len(text)))
    return Normalized("".join(pieces), text, source)


def normalize_plain(text: str) -> str:
    """Normalised text without the offset map (for sources)."""
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda m: "".join(_normalize_char(c) for c in m.group()), text)


def field_text(value: object) -> str:
    """A form value as text: None is empty, numbers are written out, lists are joined."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(field_text(v) for v in value)
    return str(value)
