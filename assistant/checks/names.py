"""People's names in a draft, by a heuristic tuned so that a typical note does
not drown in false flags: a capitalised word after a title ("Dr. Patel",
"Ms. Roe"), or two or three capitalised words in a row ("Maria J. Lopez")
that are not common words. A word is common when it is in NOT_NAMES (clinical
words, headings, months, payers, ...) or appears in lower case anywhere in
the draft or the sources ("Will" is common when "will" is used).

Known limits: a single first name alone ("Sarah said") is not found, and a
place ("Los Angeles") can be taken for a name.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable

from assistant.checks.vocab import MEDICATION_LOOKUP, NOT_NAMES, NUMBER_WORDS, TITLES

CAPWORD = re.compile(r"(?<![\w'-])(?=[^\W\d_a-z])[^\W\d_]+(?:[-'][^\W\d_]+)*")
LOWERWORD = re.compile(r"(?<![\w'-])[a-z][a-z]*")
LONGWORD = re.compile(r"[^\W\d_]{4,}")


def find_names(text: str, common: set[str], free: Callable[[int, int], bool]) -> list[tuple[int, int, tuple[str, ...]]]:
    """People's names: capitalised words after a title ("Dr. Patel"), or two or
    three capitalised words in a row ("Maria J. Lopez") none of which is a
    common word (NOT_NAMES, or seen in lower case in the draft or sources).
    Title-case lines (short, not ending like a sentence: headings) and
    "Words Like This:" labels are skipped. ``free(start, end)``: whether that
    span is not already taken by another fact. Returns (start, end, keys), the
    keys being ``word:<name>`` for each word of the name."""
    tokens = [(m.start(), m.end(), m.group()) for m in CAPWORD.finditer(text) if m.group()[0].isupper()]
    common = common | set(LOWERWORD.findall(text))
    breaks = [m.start() for m in re.finditer("\n", text)]
    headings: dict[int, bool] = {}

    def heading(pos: int) -> bool:
        line = bisect.bisect(breaks, pos)
        if line not in headings:
            start = breaks[line - 1] + 1 if line else 0
            end = breaks[line] if line < len(breaks) else len(text)
            words = LONGWORD.findall(text, start, end)
            title_case = 3 <= len(words) <= 12 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)
            headings[line] = title_case and not text[start:end].rstrip().endswith((".", "!", "?"))
        return headings[line]

    @functools.cache
    def capital(word: str) -> bool:
        return any(c.islower() for c in word[1:]) and word.lower() not in NOT_NAMES

    @functools.cache
    def namey(word: str) -> bool:
        low = word.lower()
        low = low[:-2] if low.endswith("'s") else low
        return capital(word) and low not in common and low not in MEDICATION_LOOKUP and low not in NUMBER_WORDS

    def initial(tok: tuple[int, int, str]) -> bool:
        return len(tok[2]) == 1 and text[tok[1]:tok[1] + 1] == "."

    found: list[tuple[int, int, tuple[str, ...]]] = []
    i, n = 0, len(tokens)
    while i < n:
        start, _end, word = tokens[i]
        titled = word.lower() in TITLES
        if not titled and (not namey(word) or heading(start)):
            i += 1
            continue
        accept = capital if titled else namey
        parts = [] if titled else [tokens[i]]
        j = i + 1
        while j < n and len(parts) < 3:
            after_dot = (j - 1 == i and titled) or (parts and initial(parts[-1]))
            gap = text[tokens[j - 1][1]:tokens[j][0]]
            if not (gap == " " or (after_dot and gap in (". ", ".\u00a0"))):
                break
            if not (initial(tokens[j]) or accept(tokens[j][2])):
                break
            parts.append(tokens[j])
            j += 1
        while parts and initial(parts[-1]):
            parts.pop()  # "... Dr. Smith J." : the initial starts something else
        full = [p for p in parts if len(p[2]) > 1]
        enough = len(full) >= 1 if titled else len(full) >= 2
        if enough and text[parts[-1][1]:parts[-1][1] + 1] != ":" and free(start, parts[-1][1]):
            found.append((start, parts[-1][1], tuple("word:" + re.sub(r"'s$", "", p[2].lower()) for p in full)))
            i = j
        else:
            i += 1
    return found
