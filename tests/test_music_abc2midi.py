"""The independent ABC check: abc2midi's own errors and bar warnings, sorted and counted."""

from __future__ import annotations

import shutil

import pytest

from conductor.errors import DependencyError
from conductor.music.abc2midi import abc2midi_check

pytestmark = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abcmidi")

GOOD = "X:1\nT:Good\nM:6/8\nL:1/8\nK:G\n|:dfa afd|gfe dcB|ABc d3:|\n"


def test_a_clean_tune_has_nothing_said() -> None:
    check = abc2midi_check(GOOD)
    assert check.ok and check.errors == () and check.bar_warnings == 0


def test_a_short_bar_is_a_bar_warning_not_an_error() -> None:
    check = abc2midi_check("X:1\nM:6/8\nL:1/8\nK:G\ndfa afd|gfe dc|ABc d2 z|\n")
    assert check.ok and check.bar_warnings == 1
    assert "Bar 1 has 5 time units while the time signature has 6" in check.warnings[0]
    # abc2midi warns of a pickup inside a repeat too (real tunes have them: the bench compares)
    assert abc2midi_check("X:1\nM:6/8\nL:1/8\nK:G\nD|dfa afd|gfe dcB|ABc d3:|\n").bar_warnings == 1


def test_errors_are_sorted_out_and_repeats_counted_once() -> None:
    check = abc2midi_check('X:1\nM:4/4\nL:1/8\nK:D\n|:d2 "G d2|\n')
    assert not check.ok
    assert any("Guitar chord name not properly closed" in e for e in check.errors)
    missing = [e for e in check.errors if "Missing :|" in e]
    assert len(missing) == 1  # abc2midi says it three times at the same place
    assert (
        abc2midi_check("X:1\nM:4/4\nL:1/8\nK:D\nA2 B2 2 c4|\n")
        .errors[0]
        .endswith("Unrecognized character: 2")
    )


def test_a_missing_program_is_a_one_line_dependency_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no abc2midi to be found
    with pytest.raises(DependencyError, match="apt-get install abcmidi"):
        abc2midi_check(GOOD)
