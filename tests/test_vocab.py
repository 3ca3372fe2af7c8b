from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conductor.errors import VocabError
from conductor.vocab import ASCII128, CleanReport, Vocab, clean

PRINTABLE = st.text(
    alphabet=st.sampled_from(
        string.printable.replace("\r", "").replace("\x0b", "").replace("\x0c", "")
    )
)


def test_default_vocabulary_is_the_128_ascii_code_points() -> None:
    assert len(ASCII128) == 128
    assert all(ASCII128.symbols[i] == chr(i) for i in range(128))


@given(PRINTABLE)
def test_printable_ascii_round_trips_unchanged(text: str) -> None:
    assert clean(text) == text
    ids = ASCII128.encode(text)
    assert ids.dtype == np.uint8
    assert ASCII128.decode(ids) == text


@given(st.text())
def test_any_unicode_cleans_to_vocabulary_symbols_that_round_trip(text: str) -> None:
    report = CleanReport()
    cleaned = clean(text, report=report)
    assert all(ch in ASCII128 for ch in cleaned)
    assert all(ch >= " " or ch in "\t\n" for ch in cleaned)
    assert ASCII128.decode(ASCII128.encode(cleaned)) == cleaned
    assert clean(cleaned) == cleaned  # idempotent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("café déjà vu", "cafe deja vu"),
        ("Ångström Œuvre", "Angstrom OEuvre"),
        ("\u201cquoted\u201d and \u2018single\u2019", "\"quoted\" and 'single'"),
        ("a\u2013b\u2014c", "a-b--c"),
        ("wait\u2026", "wait..."),
        ("\ufb01ne \uff21", "fine A"),
        ("Stra\u00dfe", "Strasse"),
        ("non\u00a0breaking", "non breaking"),
        ("dos\r\nline\rend", "dos\nline\nend"),
    ],
)
def test_non_ascii_is_folded_as_documented(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_unmappable_and_control_characters_are_dropped_and_counted() -> None:
    report = CleanReport()
    assert clean("a\x00b\x08c\x0cd\u4e2de\U0001f600f", report=report) == "abcdef"
    assert report.dropped == 5
    assert report.dropped_examples["\u4e2d"] == 1
    assert "dropped 5" in report.summary()


def test_mapped_characters_are_counted() -> None:
    report = CleanReport()
    clean("é\u2014", report=report)
    assert report.mapped == 2 and report.dropped == 0


def test_encode_rejects_text_outside_the_vocabulary_with_advice() -> None:
    with pytest.raises(VocabError, match="clean"):
        ASCII128.encode("naïve")


def test_small_vocabulary_encodes_by_lookup() -> None:
    vocab = Vocab("ab\n", name="abn")
    assert vocab.encode("ba\n").tolist() == [1, 0, 2]
    assert vocab.decode([2, 0]) == "\na"
    with pytest.raises(VocabError):
        vocab.encode("c")
    with pytest.raises(VocabError, match="out of range"):
        vocab.decode([5])


def test_vocabulary_record_round_trips_and_validates() -> None:
    assert Vocab.from_json(ASCII128.to_json()) == ASCII128
    with pytest.raises(VocabError):
        Vocab.from_json({"name": "x"})
    with pytest.raises(VocabError, match="twice"):
        Vocab("aa", name="dup")
