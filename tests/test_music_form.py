"""A tune's form: bars, parts, repeats, and whether it ends on its tonic."""

from __future__ import annotations

import pytest

from conductor.music import MusicError
from conductor.music.form import TuneForm, corpus_form, tonic_pitch_class, tune_form

REEL = (
    "X:1\nT:Two parts\nM:4/4\nL:1/8\nK:D\n"
    "|:A2|d2fd A2FA|d2fd e4|d2fd A2FA|1 B2AG F2E2:|2 B2AG F2D2||\n"
    "|:fg|a2fa g2eg|f2df e4|a2fa g2eg|f2e2 d2:|\n"
)


def test_parts_repeats_and_a_tonic_ending() -> None:
    form = tune_form(REEL)
    assert form.parts == 2  # the first ending's `:|` closes no part
    assert form.repeats == 2  # the first ending's `:|` repeats its part too
    assert form.bars == 11 and form.tonic == 2 and form.final == 2 and form.ends_on_tonic


def test_an_open_tune_has_one_part_and_may_end_elsewhere() -> None:
    form = tune_form("X:1\nM:6/8\nL:1/8\nK:G\ndfa afd|gfe dcB|ABc d2e\n")
    assert (form.parts, form.repeats, form.bars) == (1, 0, 3)
    assert form.tonic == 7 and form.final == 4 and not form.ends_on_tonic  # ends on E


def test_the_tonic_of_any_mode_and_accidental() -> None:
    assert [tonic_pitch_class(k) for k in ("D", "Gm", "Ador", "Bb", "F#m", "none")] == [
        2, 7, 9, 10, 6, None,
    ]  # fmt: skip


def test_a_tune_form_is_checked_and_closes_its_parts() -> None:
    jig = TuneForm(parts=2, bars=8, repeat=True)
    assert jig.total_bars == 16 and jig.describe() == "2 parts of 8 bars, repeated"
    assert [jig.closing(0), jig.closing(1)] == [":|\n", ":|"]
    song = TuneForm(parts=1, bars=16, repeat=False)
    assert song.closing(0) == "|]" and TuneForm(3, 4, False).closing(1) == "||\n"
    assert TuneForm.from_json(jig.to_json()) == jig
    for parts, bars in [(0, 8), (17, 8), (2, 0), (2, 65)]:
        with pytest.raises(MusicError, match="parts|bars"):
            TuneForm(parts, bars)
    with pytest.raises(MusicError, match="not a tune form"):
        TuneForm.from_json({"parts": "two"})


def test_a_corpus_norm_is_its_common_form() -> None:
    two_parts = "X:1\nM:6/8\nL:1/8\nK:G\n" + "dfa afd|" * 7 + "gfe d3:|\n" + "gfe dcB|" * 8 + "\n"
    one_part = "X:2\nM:2/4\nL:1/8\nK:D\n" + "A2 B2|" * 15 + "d4\n"
    assert corpus_form([two_parts, two_parts, one_part]) == TuneForm(2, 8, True)
    assert corpus_form([one_part, one_part, two_parts]) == TuneForm(1, 16, False)
    with pytest.raises(MusicError, match="no tunes"):
        corpus_form(["X:1\nK:G\n"])
