from __future__ import annotations

from conductor.textstats import (
    distinct_ngrams,
    known_word_rate,
    longest_repeat,
    vocabulary,
    words,
)


def test_words_are_alphabetic_runs_of_three_letters_or_more() -> None:
    assert words("The cat_sat on 2 mats; ok? x1yz") == ["The", "cat", "sat", "mats"]


def test_the_vocabulary_keeps_words_seen_twice_and_the_rate_counts_them() -> None:
    known = vocabulary(["the king and the queen", "the king said"])
    assert known == frozenset({"the", "king"})
    assert known_word_rate("the kingly king of the qeen", known) == (3, 5)
    assert known_word_rate("", known) == (0, 0)


def test_diversity_and_loops() -> None:
    assert distinct_ngrams("abcabc", 3) == 3  # abc, bca, cab
    assert distinct_ngrams("ab", 4) == 0
    assert longest_repeat("abcabcab") == 5  # "abcab" at 0 and 3
    assert longest_repeat("abcd") == 0
    assert longest_repeat("aaaa") == 3
