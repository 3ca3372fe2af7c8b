"""Chord names, grids, voicings and the strong-beat chord-tone measure."""

from __future__ import annotations

from fractions import Fraction

import pytest

from conductor.music import (
    ChordGrid,
    MusicError,
    TuneHeader,
    bar_notes,
    chord_pitch_classes,
    chords_in,
    tune_chord_tones,
)
from conductor.music.chords import best_chord, chord_prefix, chord_voicing, name_chord
from conductor.music.harmony import ChordTones, bar_chord_tones, strong_beats


@pytest.mark.parametrize(
    ("name", "classes"),
    [
        ("G", {7, 11, 2}),
        ("Em", {4, 7, 11}),
        ("D7", {2, 6, 9, 0}),
        ("F#m7", {6, 9, 1, 4}),
        ("Bbmaj7", {10, 2, 5, 9}),
        ("Bdim", {11, 2, 5}),
        ("Am/E", {9, 0, 4}),
        ("C/B", {0, 4, 7, 11}),
        ("Csus4", {0, 5, 7}),
        ("B-m7", {10, 1, 5, 8}),  # music21's spelling of Bbm7
    ],
)
def test_chord_names_give_their_pitch_classes(name: str, classes: set[int]) -> None:
    assert chord_pitch_classes(name) == frozenset(classes)


@pytest.mark.parametrize("name", ["H7", "Gxyz", "", "fz", "G/H"])
def test_an_unknown_chord_is_a_one_line_error(name: str) -> None:
    with pytest.raises(MusicError, match="chord") as caught:
        chord_pitch_classes(name)
    assert "\n" not in str(caught.value)


def test_sounding_pitch_classes_are_named_as_the_chord_they_make() -> None:
    assert name_chord({7, 11, 2}) == "G"
    assert name_chord({2, 6, 9, 0}) == "D7"
    assert name_chord({9, 0, 4}) == "Am"
    assert name_chord({11, 2, 5}) == "Bdim"
    assert name_chord({10, 2, 5}, spell="Bb") == "Bb"
    assert name_chord({4, 7, 0}, bass=4) == "C"  # a first inversion is still C
    assert best_chord({0, 2}) is None  # no third: no chord
    assert name_chord(set()) is None


def test_the_blues_is_twelve_bars_of_dominant_sevenths_in_the_key() -> None:
    assert ChordGrid.blues("C").bars == (
        "C7", "C7", "C7", "C7", "F7", "F7", "C7", "C7", "G7", "F7", "C7", "C7",
    )  # fmt: skip
    assert set(ChordGrid.parse("blues", "G").bars) == {"G7", "C7", "D7"}
    assert set(ChordGrid.parse("Blues", "F").bars) == {"F7", "Bb7", "C7"}  # flats in F
    assert set(ChordGrid.blues("Am").bars) == {"A7", "D7", "E7"}


def test_a_grid_is_parsed_cycled_and_recorded() -> None:
    grid = ChordGrid.parse("G | C  D7|G")
    assert grid.bars == ("G", "C", "D7", "G")
    assert [grid.chord(k) for k in range(6)] == ["G", "C", "D7", "G", "G", "C"]
    assert ChordGrid.from_json(grid.to_json()) == grid
    assert ChordGrid.blues("D").describe().startswith("blues (D7 D7")
    for bad in ["", "G Q7 C", " ".join(["G"] * 65)]:
        with pytest.raises(MusicError):
            ChordGrid.parse(bad)
    with pytest.raises(MusicError, match="bars"):
        ChordGrid.from_json({"bars": "G C"})


def test_voicings_put_the_root_in_the_bass_and_the_chord_above_it() -> None:
    assert chord_voicing("C") == (48, 60, 64, 67)
    assert chord_voicing("G7") == (55, 67, 71, 74, 77)
    assert {p % 12 for p in chord_voicing("F#m")} == {6, 9, 1}


def test_chords_in_finds_chord_symbols_and_not_other_quotes() -> None:
    assert chords_in('"G"GABc "D7"d2 "fine"A2 |') == ["G", "D7"]
    assert chords_in("GABc |") == []


def test_a_grid_writes_each_bar_its_chord_and_a_line_every_four_bars() -> None:
    grid = ChordGrid.parse("G C D7 G")
    assert chord_prefix(grid, 0, "\n") == '"G"'
    assert chord_prefix(grid, 1, "GABc |") == ' "C"'
    assert chord_prefix(grid, 4, "GABc |") == '\n"G"'
    assert chord_prefix(grid, 2, "GABc | ") == '"D7"'


@pytest.mark.parametrize(
    ("meter", "beats"),
    [
        ("4/4", [0, 2]),
        ("C", [0, 2]),
        ("C|", [0, 2]),
        ("2/4", [0, 1]),
        ("3/4", [0]),
        ("6/8", [0, Fraction(3, 2)]),
        ("9/8", [0]),
        ("12/8", [0, 3]),
        ("none", [0]),
    ],
)
def test_strong_beats_are_the_downbeat_and_an_even_bars_middle(
    meter: str, beats: list[Fraction]
) -> None:
    assert list(strong_beats(TuneHeader(meter=meter))) == beats


def test_a_bars_strong_beat_notes_are_counted_against_its_chord() -> None:
    header = TuneHeader("4/4", "1/8", "G")
    bar = bar_notes("GABc d2 A2 |", header, 120.0)  # G on 1, d on 3: both in G
    assert bar_chord_tones(bar, "G") == ChordTones(2, 2)
    assert bar_chord_tones(bar, "Am") == ChordTones(2, 0)
    held = bar_notes("G4 z4 |", header, 120.0)  # a rest on beat 3: counted apart
    assert bar_chord_tones(held, "G") == ChordTones(1, 1, rests=1)
    assert not bar_chord_tones(held, "G").fits and bar_chord_tones(bar, "G").fits
    over = bar_notes("A2 B4 c2 |", header, 120.0)  # B held over beat 3
    assert bar_chord_tones(over, "G") == ChordTones(2, 1)
    pickup = bar_notes("D2 |", header, 120.0)  # a pickup: no strong beat in it
    assert bar_chord_tones(pickup, "G") == ChordTones(0, 0) and bar_chord_tones(pickup, "G").fits


def test_a_tunes_share_uses_its_own_chords_carried_over_bars_or_a_grid() -> None:
    tune = 'X:1\nM:4/4\nL:1/8\nK:G\nD2 | "G"G2 B2 d2 B2 | c4 A4 | "D7"A2 F2 D4 | "G"G8 |]\n'
    own = tune_chord_tones(tune)
    # the pickup has no strong beat; bar 2 carries G, and its c and A are not G's; the last
    # bar's G is held over beat 3
    assert own == ChordTones(strong=8, on_chord=6)
    assert own.share == pytest.approx(6 / 8)
    grid = tune_chord_tones(tune, ChordGrid.parse("G C D7 G"))
    assert grid == ChordTones(strong=8, on_chord=7)  # c on C; A (beat 3) still not C's
    assert tune_chord_tones("X:1\nK:G\n{{{\n") == ChordTones()
