"""One notation for every ABC style: lengths re-counted in 1/8, marks that are no music dropped,
the music itself (pitches, lengths, bars, repeats) unchanged."""

from __future__ import annotations

import shutil
from fractions import Fraction

import pytest

from conductor.music.abc2midi import abc2midi_check
from conductor.music.notation import normalise_body, normalise_tune, scale_length
from conductor.music.timing import parse_abc


def quarters(tune: str) -> Fraction:
    return Fraction(parse_abc(tune).flatten().highestTime).limit_denominator(96)


def test_lengths_are_recounted_in_eighths() -> None:
    assert normalise_body("A B/ c2 z3/2 d//|", Fraction(1, 4)) == "A2 B c4 z3 d/|"
    assert normalise_body("A B/ c2 d3 e4|", Fraction(1, 16)) == "A/ B/4 c d3/ e2|"
    assert normalise_body("[CEG]2 {AB}c (3def|", Fraction(1, 4)) == "[C2E2G2]2 {A2B2}c2 (3d2e2f2|"
    assert scale_length("3/2", Fraction(2)) == "3" and scale_length("/", Fraction(1, 2)) == "/4"


def test_a_whole_tune_gets_one_header_order_and_lasts_as_long() -> None:
    german = "X:7\nR:Lied\nT:Song\nL:1/4\nM:3/4\nK:F\nA B/c/ d | c2 z |]\n"
    out = normalise_tune(german)
    assert out == "X:7\nT:Song\nM:3/4\nL:1/8\nK:F\nA2 Bc d2 | c4 z2 |]\n"
    assert quarters(out) == quarters(german) == 6
    # a unit change inside the body is absorbed: the rest stays in 1/8
    changing = "X:1\nM:2/4\nL:1/8\nK:D\nAB cd|\nL:1/16\nABcd efga|[L:1/4]A B|\n"
    flat = normalise_tune(changing)
    assert flat.endswith("K:D\nAB cd|\nA/B/c/d/ e/f/g/a/|A2 B2|\n")
    assert quarters(flat) == 6  # 2 + 2 + 2 (music21 itself reads no inline `[L:]` in a bar)


def test_marks_that_are_no_music_are_dropped_and_chord_symbols_kept() -> None:
    body = '"G"u((3DEF)|.G2~A"4"B "fz"kc!trill!d+fermata+e|"D7"f-f g-a T^c-c|'
    assert normalise_body(body, Fraction(1, 8)) == '"G"(3DEF|G2AB cde|"D7"f-f ga ^c-c|'
    # a tie to another accidental of the same letter is no tie either
    assert normalise_body("=d3-^d2 f-f|", Fraction(1, 8)) == "=d3^d2 f-f|"


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="needs abcmidi")
def test_abc2midi_reads_the_rewritten_tune_without_complaint() -> None:
    fiddle = (
        "X:2\nT:Reel\nR:reel\nM:2/4\nL:1/16\nK:G\n"
        'v"4"e2 ((3cBA) e2 ((3cBA)|"fz"kd3 AFA dB|d-c B2 A-G FD|G4 G4:|\n'
    )
    before, after = abc2midi_check(fiddle), abc2midi_check(normalise_tune(fiddle))
    assert not before.ok and after.ok, after.errors
    assert quarters(normalise_tune(fiddle)) == quarters(fiddle)
