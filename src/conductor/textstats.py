"""Measures of generated text, for benchmarks: how legible (known words), how diverse (distinct
n-grams), how loopy (the longest repeated substring)."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable

__all__ = ["distinct_ngrams", "known_word_rate", "longest_repeat", "vocabulary", "words"]

_WORD = re.compile(r"[A-Za-z]+")
MIN_LETTERS = 3


def words(text: str, min_letters: int = MIN_LETTERS) -> list[str]:
    """The alphabetic words of `text` with at least `min_letters` letters, as written."""
    return [w for w in _WORD.findall(text) if len(w) >= min_letters]


def vocabulary(texts: Iterable[str], min_count: int = 2) -> frozenset[str]:
    """The words (as `words` finds them) that occur at least `min_count` times in `texts`."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text))
    return frozenset(w for w, n in counts.items() if n >= min_count)


def known_word_rate(text: str, known: frozenset[str]) -> tuple[int, int]:
    """(known words, all words) of `text`: the share is the first over the second."""
    found = words(text)
    return sum(w in known for w in found), len(found)


def distinct_ngrams(text: str, n: int = 4) -> int:
    """How many different n-grams of symbols `text` has."""
    return len({text[i : i + n] for i in range(len(text) - n + 1)})


def longest_repeat(text: str) -> int:
    """The length of the longest substring that occurs at least twice (overlaps allowed): the
    longest common prefix of neighbouring suffixes in sorted order."""
    suffixes = sorted(range(len(text)), key=lambda i: text[i:])
    best = 0
    for a, b in itertools.pairwise(suffixes):
        k = 0
        while a + k < len(text) and b + k < len(text) and text[a + k] == text[b + k]:
            k += 1
        best = max(best, k)
    return best
