"""A tune's form: bars, parts, repeats, and whether it ends on its tonic."""

from __future__ import annotations

from conductor.music.form import tonic_pitch_class, tune_form

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
