from __future__ import annotations

import logging
import wave
from fractions import Fraction
from pathlib import Path

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.errors import DependencyError
from conductor.music import (
    BarSplitter,
    MusicError,
    TuneHeader,
    bar_notes,
    check_tune,
    close_bar,
    doubles_bar_line,
    ends_tied,
    fits_meter,
    opens_section,
    plain_bar,
    playable,
    render_wav,
    tune_body,
    well_formed,
    write_midi,
)

JIG = TuneHeader(meter="6/8", unit="1/8", key="D")
TUNE = JIG.text() + "|:A|dfa afd|gfe dcB|ABc d2A|1 dfa d2:|2 dfa d3||\n"


def feed_all(splitter: BarSplitter, text: str) -> list[tuple[str, TuneHeader]]:
    return [bar for char in text for bar in splitter.feed(char)]  # one symbol at a time


def test_header_is_checked_and_written_as_the_corpora_write_it() -> None:
    assert JIG.text(3) == "X:3\nM:6/8\nL:1/8\nK:D\n"
    assert TuneHeader(title="Morph", key="Ador").text().startswith("X:1\nT:Morph\nM:4/4")
    assert JIG.bar_quarters == Fraction(3)
    assert TuneHeader(meter="C|").bar_quarters == Fraction(4)
    assert TuneHeader(meter="none").bar_quarters is None
    for bad in [{"meter": "6-8"}, {"unit": "3/8"}, {"key": "H minor"}, {"title": "a\nb"}]:
        with pytest.raises(MusicError, match="try|title"):
            TuneHeader(**bad)  # type: ignore[arg-type]
    assert TuneHeader.parse("X:1\nT:A\nM:3/4\nL:1/4\nK:Gm\nabc|\n") == TuneHeader(
        "3/4", "1/4", "Gm", "A"
    )


def test_splitter_returns_each_bar_when_its_bar_line_is_written() -> None:
    splitter = BarSplitter(header=JIG)
    bars = feed_all(splitter, tune_body(TUNE))
    texts = [playable(text) for text, _ in bars]
    assert texts == ["A", "dfa afd", "gfe dcB", "ABc d2A", "dfa d2", "dfa d3"]
    assert splitter.bars == 6 and not splitter.ended


def test_splitter_follows_field_changes_and_ends_at_a_blank_line() -> None:
    splitter = BarSplitter(header=JIG)
    body = "dfa afd|\nK:G\nM:3/4\ngab c'2 d|[K:Em]e6|\n\nX:2\nabc|"
    bars = feed_all(splitter, body)
    assert [(playable(t), h.key, h.meter) for t, h in bars] == [
        ("dfa afd", "D", "6/8"),
        ("gab c'2 d", "G", "3/4"),
        ("e6", "Em", "3/4"),
    ]
    assert "[K:G]" in bars[1][0]  # the change is shown where it happened
    assert splitter.ended  # nothing after the blank line is read


def test_splitter_flushes_a_last_bar_without_bar_line_and_reports_empty_bars() -> None:
    bars = BarSplitter(header=JIG)
    got = feed_all(bars, "dfa afd|| |d3")
    assert [playable(t) for t, _ in got] == ["dfa afd", ""]  # `||` is one bar line; `| |` a bar
    assert [playable(t) for t, _ in bars.flush()] == ["d3"]


def test_a_known_bar_gives_known_onsets_and_durations() -> None:
    bar = bar_notes("dfa a>fd|", JIG, tempo=120.0)  # 120 quarters a minute: an eighth is 0.25 s
    assert bar.ok and bar.quarters == 3.0 and bar.seconds == pytest.approx(1.5)
    assert [n.pitch for n in bar.notes] == [74, 78, 81, 81, 78, 74]  # D major: F sharp
    assert [n.onset for n in bar.notes] == pytest.approx([0, 0.25, 0.5, 0.75, 1.125, 1.25])
    assert [n.duration for n in bar.notes] == pytest.approx([0.25] * 3 + [0.375, 0.125, 0.25])
    assert bar.notes[0].velocity > bar.notes[1].velocity  # the downbeat leads
    chord = bar_notes("[DFA]3 z3|", JIG, tempo=60.0)
    assert sorted(n.pitch for n in chord.notes) == [62, 66, 69]
    assert all(n.duration == pytest.approx(1.5) for n in chord.notes)


def test_unreadable_bars_are_reported_not_raised() -> None:
    assert not bar_notes("| |", JIG, 120).ok
    garbage = bar_notes("((((3[[[", JIG, 120)
    assert not garbage.ok and garbage.error
    with pytest.raises(MusicError, match="tempo"):
        bar_notes("abc|", JIG, 0)


def test_music21s_complaints_go_to_its_logger_never_to_the_terminal(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # music21 writes "Could not get pitch information from note: ^^^, assuming C" straight to
    # stderr (past the warnings module) for a note it cannot read; a generated tune has many
    with caplog.at_level(logging.DEBUG, logger="music21"):
        bar = bar_notes("abc ^^^ d _ _ c|", JIG, 120)
        check_tune(JIG.text() + "abc ^^^ d _ _ c|\n")
    assert bar.ok or bar.error  # read or reported, either way
    out, err = capfd.readouterr()
    assert err == "" and out == ""
    assert any("assuming C" in record.getMessage() for record in caplog.records)


def test_fits_meter_allows_short_pickups_and_section_ends_only() -> None:
    full = bar_notes("dfa afd|", JIG, 120)
    short = bar_notes("dfa|", JIG, 120)
    long = bar_notes("dfa afd e|", JIG, 120)
    assert fits_meter(full, opens=False)
    assert not fits_meter(short, opens=False) and fits_meter(short, opens=True)
    assert fits_meter(bar_notes("dfa:|", JIG, 120), opens=False)
    assert not fits_meter(long, opens=True)
    assert opens_section("A|", None) and opens_section("d2|", "dfa:|")
    assert not opens_section("d2|", "dfa afd|")
    assert opens_section("|: d2|", "dfa afd|")  # `||` or `|:` written together
    assert not opens_section("\n| d2|", "dfa afd |")  # a bar line at the end and at the start


def test_check_tune_counts_bars_of_the_meter() -> None:
    good = check_tune(TUNE)
    assert good.parsed and good.bars >= 5 and good.bar_share == 1.0
    bad = check_tune(JIG.text() + "dfa afd|gfe dcB a|ABc d2 z|\n")
    assert bad.parsed and bad.full_bars == bad.bars - 1
    assert not check_tune("X:1\nK:D\n((((|||]]]\n").parsed


def test_midi_and_wav_are_written_and_readable(tmp_path: Path) -> None:
    midi = write_midi(TUNE, tmp_path / "tune.mid", tempo=150.0)
    song = mido.MidiFile(str(midi))
    pitches = [m.note for track in song.tracks for m in track if m.type == "note_on" and m.velocity]
    assert pitches[:4] == [69, 74, 78, 81]  # A, then d f a in D major
    tempos = [m.tempo for track in song.tracks for m in track if m.type == "set_tempo"]
    assert tempos and mido.tempo2bpm(tempos[0]) == pytest.approx(150.0)
    # music21 plays the repeat: pickup + 3 bars + first ending, 3 bars + second: 24 quarters
    assert 24 * 60 / 150 <= song.length <= 24 * 60 / 150 + 1.0
    try:
        wav = render_wav(midi, tmp_path / "tune.wav")
    except DependencyError as error:  # FluidSynth or its soundfont is not installed; a real
        pytest.skip(str(error))  # rendering failure (a MusicError) fails the test
    with wave.open(str(wav)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
        assert audio.getsampwidth() == 2 and seconds >= song.length * 0.9
        frames = audio.readframes(audio.getnframes())
    assert any(frames)  # not silence
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_line_end_closes_a_bar_as_music21_reads_it() -> None:
    header = TuneHeader(meter="4/2", unit="1/4", key="G")
    body = "G2 | B2B2c2c2 | d4d4\nz2d4d2 | d2e2 \\\nf2d2 |"
    bars = feed_all(BarSplitter(header=header), body)
    assert [playable(t) for t, _ in bars] == ["G2", "B2B2c2c2", "d4d4", "z2d4d2", "d2e2  f2d2"]
    assert "".join(t for t, _ in bars) == body  # bars are the text exactly as written
    assert check_tune(header.text() + body + "\n").bars == 5


def test_a_plain_bar_has_only_plain_bar_lines() -> None:
    assert plain_bar("dfa afd|") and plain_bar("\nA[K:G]B c2|") and plain_bar("abc def\n")
    assert plain_bar("\n|abc|")  # `|` ending a line and `|` starting the next: no double bar
    for written in (
        "dfa afd:|",
        "dfa afd||",
        "abc|]",
        "|1 abc|",
        "[2 abc|",
        "::abc|",
        "|F2 Bc|",
        "1 EFE EFG|",
    ):
        assert not plain_bar(written), written
    assert plain_bar("\n|:A B c|", may_open=True) and not plain_bar("\n|:A B c|")
    assert plain_bar(":A B c|", may_open=True) and not plain_bar("|A B c|", may_open=True)
    assert not plain_bar("\n|:|g>ag bga|", may_open=True)


def test_a_bar_closed_by_another_bar_line_keeps_its_music() -> None:
    assert close_bar("GG Gz ||", ":|") == "GG Gz :|"
    assert close_bar("abc [ceg]\n", ":|") == "abc [ceg]:|"  # a chord's bracket stays
    assert close_bar("d2 e2:|", "|]") == "d2 e2|]" and close_bar("ab|\n", "|") == "ab|"


def test_well_formed_bars_are_music_and_nothing_else() -> None:
    assert well_formed('"G"d2 (3efg [ce]>B {g}A- A/B/^c=d_E,|')
    assert well_formed("A[K:G]B|") and well_formed("dfa afd|\n")
    assert well_formed("(3fed (3edB c2|") and well_formed("(3[ce]{g}fe d|")
    for written in ("B/B/ Ligh (ait|", "abc\nT:A Title\n", "dfa\nK:Dm\ndcB|", "Hdfa|", "c,d|"):
        assert not well_formed(written), written
    assert not well_formed("(3f(3edB c|")  # a tuplet inside a tuplet
    assert well_formed("D4- D2 ^F2-|") and well_formed("F2 A2|", before="D4- D2 ^F2-|")
    assert not well_formed("E2- c2|") and not well_formed("G2 A2|", before="D4- D2 ^F2-|")
    assert well_formed("d2 \\\nc2|") and not well_formed("d2 \\ c2|")  # `\` ends a line only
    assert well_formed("{g}A2 B|") and not well_formed("A2 B{g}|") and not well_formed("z2- z|")
    assert well_formed("A>B c<d d/>e/ [ce]>d|") and not well_formed("A>B2|")  # broken rhythms
    assert well_formed('"Am/E"A2 "D7"d2|')  # a quote holds a chord name, nothing else
    assert well_formed("(3:2:3abc d2 :|") and well_formed("=c^^d__e|")
    assert well_formed("[1 [ce]2 d2 :|") and well_formed("(3 A/B/c d2|")
    for quoted in (
        '"2"G2 A2|',
        '"GEF"B2|',
        '"|GF"G2|',
        '" "z2|',
        '"G2 A2|',
        '"G7"24G|',
        "A2 3B|",
        "d2 :2|",
        "d2=z g2|",
        "B2] c2|",
        "[ce d2|",
        "(3/A/B/c/ d|",
    ):
        assert not well_formed(quoted), quoted


def test_well_formed_refuses_what_abc2midi_refuses_in_generated_bars() -> None:
    """Each of these, seen in generated tunes, is an abc2midi error (or a bar it counts wrong)."""
    for written in (
        "DED { c'2c |",  # a grace group left open: "No note found to follow grace notes"
        "G3/F/G/A/ G{|",
        "d2ef  {2|",  # ... or with no note in it
        "A2 {2}\nB2|",
        "{{g}a}b2|",  # nested: "Nested grace notes not allowed"
        "{g}|",  # leading to no note
        "A/>/B/A/ F/|",  # "stray / not in grace sequence"
        "E/D/ (1E/F/|",  # "Only tuples (2 - (9 allowed"
        "g2- (39|",
        "E=C^A,D [,2C2]|",  # "Unrecognized character: ,"
        "[]A2|",
        "(3ab|",  # a tuplet left unfinished at its bar's end
        "|",  # a bar with nothing in it
        "  |",
        "\n|  | cde |",  # ... or an empty bar inside it
        ":| | A/A/ |",
    ):
        assert not well_formed(written), written
    assert well_formed("{/g}A2 {ga}B2|") and well_formed("[1 (3ABc d2 :|")
    assert well_formed(":A2 B2|") and well_formed("2\\\nGBde g2|")  # the rest of `|:`, `|2`
    assert well_formed("d2 :| [2 d3 ||") and well_formed("A2 |\n| B2|")  # a volta; a line's end


def test_a_bar_tied_into_nothing_and_a_bar_line_doubled_are_seen() -> None:
    assert ends_tied("B2A2G2- ") and ends_tied('"G"[GB]2- |') and not ends_tied("G2-G2 A2|")
    assert doubles_bar_line("\n| B2 |", "B2cB2A :|\n") and doubles_bar_line("| B2 |", "A2 ||")
    assert not doubles_bar_line("\n|: B2 |", "B2cB2A :|\n")  # a repeat opens: one bar line
    assert not doubles_bar_line("\n| B2 |", "B2cB2A |\n")  # inside a part (a line's end)


ABC_SYMBOLS = "ABCDEFGabcdefgz^_=,'/0123456789()[]{}<>-.~\"!:| \n\\KLMX"


@settings(max_examples=300)
@given(st.text(alphabet=ABC_SYMBOLS, max_size=40))
def test_any_text_is_read_or_reported_never_raised(text: str) -> None:
    splitter = BarSplitter(header=JIG)
    bars = splitter.feed(text) + splitter.flush()
    for bar_text, context in bars:
        bar = bar_notes(bar_text, context, 120.0)
        assert bar.ok or bar.error  # a bar music21 cannot read says why
        assert all(n.duration > 0 and 0 <= n.pitch <= 127 for n in bar.notes)
    check = check_tune(JIG.text() + text + "\n")
    assert check.parsed or check.error


def test_chord_symbols_sound_as_an_accompaniment_under_the_melody(tmp_path: Path) -> None:
    header = TuneHeader("4/4", "1/8", "G")
    bar = bar_notes('"G"GABc "D7"d2 A2 |', header, 120.0)
    assert [n.pitch for n in bar.notes] == [67, 69, 71, 72, 74, 69]  # the melody alone
    assert {n.voice for n in bar.accompaniment} == {1} and bar.chord == "D7"
    g = [n for n in bar.accompaniment if n.onset == 0]
    d7 = [n for n in bar.accompaniment if n.onset > 0]
    assert {n.pitch % 12 for n in g} == {7, 11, 2} and all(n.duration == 1.0 for n in g)
    assert {n.pitch % 12 for n in d7} == {2, 6, 9, 0} and d7[0].onset == pytest.approx(1.0)
    assert max(n.velocity for n in bar.accompaniment) < min(n.velocity for n in bar.notes)
    carried = bar_notes("B2 d2 g4 |", header, 120.0, chord="Em")  # no chord: the last one holds
    assert {n.pitch % 12 for n in carried.accompaniment} == {4, 7, 11} and carried.chord == "Em"
    assert not bar_notes("B2 d2 g4 |", header, 120.0).accompaniment
    # in a MIDI file the chords are a guitar on their own channel, repeats played out
    tune = 'X:1\nM:4/4\nL:1/8\nK:G\n|:"G"G2 B2 d4|"Bb"d8|"C"e8:|\n'
    song = mido.MidiFile(str(write_midi(tune, tmp_path / "chords.mid")))
    ons = [m for track in song.tracks for m in track if m.type == "note_on" and m.velocity]
    melody = [m.note for m in ons if m.channel == 0]
    chords = [m.note % 12 for m in ons if m.channel == 1]
    assert melody == [67, 71, 74, 74, 76] * 2
    g, bb, c = [7, 7, 11, 2], [10, 10, 2, 5], [0, 0, 4, 7]
    assert chords == (g + bb + c) * 2
    programs = {
        m.program for t in song.tracks for m in t if m.type == "program_change" and m.channel
    }
    assert programs == {24}  # GM nylon guitar
