"""Tune-aware generation with the shipped ABC styles: headers, stopping, meter fitting, files."""

from __future__ import annotations

import re
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.library import shipped_dir
from conductor.music import (
    PEAK_DBFS,
    BarSplitter,
    ChordGrid,
    TuneForm,
    TuneHeader,
    abc2midi_check,
    bar_notes,
    check_tune,
    chords_in,
    fits_meter,
    plain_bar,
    tune_chord_tones,
    tune_form,
)
from conductor.music import opens_section as opens
from conductor.search import SearchSettings
from conductor.tunes import MAX_BACKS, Tune, _judge, compose

STYLES = shipped_dir()
PATHS = [STYLES / "abc_irish.safetensors", STYLES / "abc_german.safetensors"]
CHORDED = [STYLES / "abc_chorales.safetensors", STYLES / "abc_irish.safetensors"]


@pytest.fixture(scope="module")
def conductor() -> Conductor:
    return Conductor(Ensemble.from_checkpoints(PATHS), seed=5)


def test_snapshot_and_restore_give_the_same_symbols_again(conductor: Conductor) -> None:
    conductor.reset()
    conductor.prime("\nX:1\nM:6/8\nL:1/8\nK:D\n")
    snapshot = conductor.snapshot()
    first = [int(conductor.step([0.5, 0.5]).symbols[0]) for _ in range(40)]
    conductor.restore(snapshot)
    assert [int(conductor.step([0.5, 0.5]).symbols[0]) for _ in range(40)] == first
    conductor.restore(snapshot, rewind_random=False)  # a resample: another draw
    assert [int(conductor.step([0.5, 0.5]).symbols[0]) for _ in range(40)] != first


def test_snapshot_keeps_skipped_models_skipped_and_exact(conductor: Conductor) -> None:
    conductor.reset()
    for _ in range(10):
        conductor.step([1.0, 0.0])  # the German model is skipped and falls behind
    snapshot = conductor.snapshot()
    assert snapshot.ensemble.behind == frozenset({1})
    after = [conductor.step([0.5, 0.5]) for _ in range(5)]  # wakes it: catch-up
    conductor.restore(snapshot)
    again = [conductor.step([0.5, 0.5]) for _ in range(5)]
    for a, b in zip(after, again, strict=True):
        torch.testing.assert_close(a.per_model, b.per_model)


def test_a_tune_starts_from_the_header_and_stops_after_n_bars(conductor: Conductor) -> None:
    conductor.reset()
    header = TuneHeader("6/8", "1/8", "G", "Test")
    shown: list[tuple[str, list[str]]] = []
    tune = compose(
        conductor,
        lambda _k: [1.0, 0.0],
        header,
        opening="|:D|",
        bars=6,
        on_bar=lambda text, by: shown.append((text, by)),
    )
    # what a caller is shown, bar by bar, is exactly what was kept, each symbol with its writer
    assert tune.written.startswith("".join(text for text, _ in shown).rstrip("\n"))
    assert all(len(text) == len(by) for text, by in shown)
    assert tune.text.startswith("X:1\nT:Test\nM:6/8\nL:1/8\nK:G\n|:D|")
    assert tune.bars == 6 and not tune.ended
    assert set(tune.by) == {"abc_irish"} and len(tune.by) == len(tune.written)
    splitter = BarSplitter(header=header)
    bars = splitter.feed(tune.body) + splitter.flush()
    previous = None
    for text, context in bars:  # every bar fits the meter
        assert fits_meter(bar_notes(text, context, 120), opens(text, previous)), text
        previous = text
    assert check_tune(tune.text).bar_share == 1.0


def test_models_end_a_tune_and_a_morph_changes_who_writes_it(conductor: Conductor) -> None:
    conductor.reset()
    conductor.generator.manual_seed(8)  # a tune long enough to morph (most end in 5 bars)
    header = TuneHeader("4/4", "1/8", "D")
    tune = compose(conductor, lambda k: [1.0, 0.0] if k < 60 else [0.0, 1.0], header)
    assert tune.ended and tune.bars >= 4 and "\n\n" not in tune.text
    assert tune.by[:50] == ["abc_irish"] * 50 and set(tune.by[70:]) == {"abc_german"}
    assert check_tune(tune.text).parsed


def test_a_tune_composed_with_search_fits_the_meter_and_repeats_exactly(
    conductor: Conductor,
) -> None:
    """Search inside the bar-fitting loop: snapshots and resampled bars work as without it."""
    header = TuneHeader("6/8", "1/8", "D")

    def tune() -> str:
        conductor.reset()
        conductor.generator.manual_seed(9)
        conductor.search = SearchSettings(samples=4, depth=3)
        try:
            return compose(conductor, lambda _k: [0.5, 0.5], header, bars=4).text
        finally:
            conductor.search = None

    text = tune()
    assert text == tune()  # the same seed: the same tune
    assert check_tune(text).bar_share == 1.0


@pytest.mark.parametrize(
    ("weights", "form", "header"),
    [
        ([1.0, 0.0], TuneForm(2, 4, repeat=True), TuneHeader("6/8", "1/8", "G")),
        ([0.5, 0.5], TuneForm(2, 4, repeat=True), TuneHeader("4/4", "1/8", "D")),
        ([0.0, 1.0], TuneForm(1, 8, repeat=False), TuneHeader("3/4", "1/8", "A")),
    ],
)
def test_a_tune_with_a_form_is_whole(
    conductor: Conductor, weights: list[float], form: TuneForm, header: TuneHeader
) -> None:
    """Parts of so many bars, closed by the form's bar lines, every bar music that fits its meter,
    the last note the tonic: a tune a player can read, and abc2midi reads without an error."""
    conductor.reset()
    conductor.generator.manual_seed(11)  # the same tunes whichever tests ran before
    shown: list[str] = []
    tune = compose(
        conductor, lambda _k: weights, header, form=form, on_bar=lambda t, _: shown.append(t)
    )
    assert tune.whole and tune.counted == form.total_bars
    assert "".join(shown).rstrip("\n") == tune.written and len(tune.by) == len(tune.written)
    found = tune_form(tune.text)
    assert found.parts == form.parts and found.ends_on_tonic
    assert found.repeats == (form.parts if form.repeat else 0)
    assert form.total_bars <= found.bars <= form.total_bars + form.parts  # + a pickup a part
    assert tune.text.rstrip().endswith(":|" if form.repeat else "|]")
    assert set(tune.by) <= {"", "abc_irish", "abc_german"}
    # the bar lines the form wrote (its parts' ends, and `|` where a line's end closed a bar)
    # are the form's: "" is their writer
    marks = "".join(
        symbol if by == "" else " " for symbol, by in zip(tune.written, tune.by, strict=True)
    )
    ends = re.findall(r":\||\|\||\|\]", marks.replace("\n", ""))
    assert ends == ([":|"] * form.parts if form.repeat else ["||"] * (form.parts - 1) + ["|]"])
    assert not re.search(r"[^|\n]\n", tune.written)  # every line ends with a bar line
    splitter = BarSplitter(header=header)
    bars = splitter.feed(tune.body) + splitter.flush()
    previous = None
    for number, (text, context) in enumerate(bars):
        assert fits_meter(bar_notes(text, context, 120), opens(text, previous)), text
        if number < len(bars) - 1 and not text.rstrip().endswith((":|", "||")):
            assert plain_bar(text, may_open=True), text  # no repeat or ending inside a part
        previous = text
    assert abc2midi_check(tune.text).errors == ()


def test_a_pickup_stands_outside_the_repeat_and_every_part_is_whole() -> None:
    """Only the tune's first bar may be short; a repeated form writes the repeat after it, so
    the part's bars are whole and abc2midi counts none short, first time or in the repeat."""
    header, form = TuneHeader("2/4", "1/8", "G"), TuneForm(2, 4, repeat=True)
    tune = Tune(header, "", "", form=form)

    def judged(text: str, previous: str | None, counted: int) -> tuple[bool, str]:
        tune.counted = counted
        result = _judge(text, text, "", header, opens(text, previous), tune, form, True)
        return result.ok, result.closing

    assert judged("d|", None, 0) == (True, "|:")  # the tune's pickup
    tune.pickup = Fraction(1, 2)
    assert judged(":B2 BA|", "d|:", 0) == (True, "")  # its part opens after it
    assert judged("BGB|", "e2 dc|", 3) == (False, ":|\n")  # a short closing bar: not whole
    assert judged("BGBd|", "e2 dc|", 3) == (True, ":|\n")
    assert judged("A|", "BGBd:|", 4)[0] is False  # a later part starts on the beat
    assert judged("BAGF|", "BGBd:|", 4) == (True, "")
    text = "X:1\nM:2/4\nL:1/8\nK:G\nd|:B2 BA|F2 D2|G2 FG|BGBd:|BAGF|G2 GA|GB GB|Ad cB:|\n"
    assert abc2midi_check(text).bar_warnings == 0
    pickup_inside = text.replace("d|:B2", "d|B2").replace("BGBd:|", "BGB:|")  # what it avoids
    assert abc2midi_check(pickup_inside.replace("|BAGF", "|A|BAGF")).bar_warnings > 0


def test_a_bar_no_try_fits_sends_the_tune_back_a_bar(conductor: Conductor) -> None:
    """With one try a bar, most bars fail: the bar before is written again (a bounded number of
    times), and what the caller is shown is still exactly what was kept."""
    conductor.reset()
    conductor.generator.manual_seed(2)
    shown: list[str] = []
    tune = compose(
        conductor,
        lambda _k: [1.0, 0.0],
        TuneHeader("6/8", "1/8", "G"),
        form=TuneForm(1, 8, repeat=False),
        tries=1,
        on_bar=lambda text, _: shown.append(text),
    )
    assert 0 < tune.backs <= MAX_BACKS
    assert "".join(shown).rstrip("\n") == tune.written and len(tune.by) == len(tune.written)


def test_a_tune_with_a_form_repeats_exactly(conductor: Conductor) -> None:
    def tune() -> str:
        conductor.reset()
        conductor.generator.manual_seed(4)
        return compose(conductor, lambda _k: [0.5, 0.5], TuneHeader(), form=TuneForm(2, 2)).text

    assert tune() == tune()


def bars_of(tune: Tune) -> list[str]:
    """A tune's bars as the splitter reads them (its body only)."""
    splitter = BarSplitter(header=tune.header)
    found = [text for char in tune.body for text, _ in splitter.feed(char)]
    return found + [text for text, _ in splitter.flush()]


@pytest.mark.parametrize(
    ("weights", "mixer"), [([1.0, 0.0], "linear"), ([0.5, 0.5], "product")], ids=["alone", "mix"]
)
def test_a_tune_on_a_chord_grid_keeps_its_chords_and_their_tones(
    weights: list[float], mixer: str
) -> None:
    grid = ChordGrid.blues("G")
    conductor = Conductor(Ensemble.from_checkpoints(CHORDED), mixer, seed=3)  # type: ignore[arg-type]
    header = TuneHeader("4/4", "1/8", "G")
    tune = compose(conductor, lambda _k: weights, header, form=TuneForm(1, 12, False), chords=grid)
    assert tune.whole and tune.text.startswith('X:1\nM:4/4\nL:1/8\nK:G\n"G7"')
    bars = bars_of(tune)
    counted = bars[len(bars) - 12 :]  # a pickup, if any, shares the first bar's chord
    assert [chords_in(bar) for bar in counted] == [[chord] for chord in grid.bars]
    assert all(by == "" for by, char in zip(tune.by, tune.written, strict=False) if char == '"')
    tones = tune_chord_tones(tune.text, grid)
    assert tones.strong >= 18 and tones.rests <= 3  # the melody plays on the strong beats
    assert tones.share >= 0.9 - 0.1 * tune.unfit  # on the chord's tones, but where tries ran out
    free = compose(conductor, lambda _k: weights, header, form=TuneForm(1, 12, False))
    assert tune_chord_tones(free.text, grid).share < tones.share  # the grid is what holds it
    assert abc2midi_check(tune.text).ok


def run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "conductor.cli", "generate", "--styles-dir", str(STYLES)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)


def test_generate_takes_the_leading_styles_form_or_none(tmp_path: Path) -> None:
    common = ["--styles", "abc_irish,abc_german", "--seed", "3", "--format", "abc"]
    german = run(*common, "--weights", "0.2,0.8")
    assert german.returncode == 0, german.stderr
    assert "1 part of 16 bars, not repeated;" in german.stdout  # the German corpus's norm
    free = run(*common, "--parts", "0", "--bars", "3")
    assert free.returncode == 0, free.stderr
    assert re.search(r"\b3 bars, stopped", free.stdout), free.stdout
    wrong = run(*common, "--parts", "-1")
    assert wrong.returncode == 2 and "--parts" in wrong.stderr and "Traceback" not in wrong.stderr


def test_generate_plays_a_blues_with_its_chords_under_the_melody(tmp_path: Path) -> None:
    common = ["--styles", "abc_chorales,abc_irish", "--weights", "0.6,0.4", "--seed", "1"]
    common += ["--chords", "blues", "--key", "C", "--meter", "4/4"]
    abc = run(*common, "--out", str(tmp_path / "blues.abc"))
    assert abc.returncode == 0, abc.stderr
    assert abc.stdout.startswith("chords: blues (C7 C7 C7 C7 F7 F7 C7 C7 G7 F7 C7 C7)\nX:1\n")
    assert "1 part of 12 bars, not repeated;" in abc.stdout  # one chorus of the grid
    text = (tmp_path / "blues.abc").read_text()
    assert chords_in(text)[-12:] == list(ChordGrid.blues("C").bars)
    mid = run(*common, "--out", str(tmp_path / "blues.mid"))
    assert mid.returncode == 0, mid.stderr
    song = mido.MidiFile(str(tmp_path / "blues.mid"))
    strummed = [m.note % 12 for t in song.tracks for m in t if m.type == "note_on" and m.channel]
    assert set(strummed) == {0, 4, 7, 10, 5, 9, 3, 2, 11}  # C7, F7 and G7 under the tune


def test_generate_writes_a_morphing_tune_as_abc_midi_and_wav(tmp_path: Path) -> None:
    common = ["--styles", "abc_irish,abc_german", "--schedule", "0:abc_irish=1 100:abc_german=1"]
    common += ["--meter", "3/4", "--key", "A", "--seed", "2", "--parts", "2", "--bars", "6"]
    abc = run(*common, "--out", str(tmp_path / "t.abc"))
    assert abc.returncode == 0, abc.stderr
    text = (tmp_path / "t.abc").read_text()
    assert text.startswith("X:1\nM:3/4\nL:1/8\nK:A\n") and check_tune(text).parsed
    # the Irish style leads at the start: its norm (repeated parts) with the length asked for
    assert "2 parts of 6 bars, repeated;" in abc.stdout and tune_form(text).parts == 2
    bars = int(re.search(r"(\d+) bars, ", abc.stdout).group(1))  # type: ignore[union-attr]
    assert 12 <= bars <= 14
    mid = run(*common, "--format", "mid", "--tempo", "150", "--out", str(tmp_path / "t.mid"))
    assert mid.returncode == 0, mid.stderr
    song = mido.MidiFile(str(tmp_path / "t.mid"))
    assert sum(m.type == "note_on" for t in song.tracks for m in t) >= 12
    assert song.length > (bars - 1) * 3 * 60 / 150 * 0.9  # bars of 3 quarters at 150 a minute
    if not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists():
        pytest.skip("fluid-soundfont-gm is not installed (make test installs it)")
    wav = run(*common, "--out", str(tmp_path / "t.wav"))
    assert wav.returncode == 0, wav.stderr
    with wave.open(str(tmp_path / "t.wav")) as audio:
        assert audio.getnframes() / audio.getframerate() > song.length * 0.8
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
    peak_dbfs = 20 * np.log10(np.abs(samples.astype(np.float64)).max() / 32767)
    assert abs(peak_dbfs - PEAK_DBFS) < 0.1  # as loud as a listener expects, never clipped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.abc", "t.mid", "t.wav"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "Q", "--format", "abc"], "not an ABC key"),
        (["--meter", "7-8", "--format", "abc"], "not an ABC meter"),
        (["--out", "/nonexistent/dir/t.mid"], "no directory"),
        (["--format", "mp3"], "invalid choice"),
        (["--tempo", "0", "--format", "mid"], "--tempo"),
        (["--chords", "blues"], "--chords shapes a tune"),
        (["--chords", "G Q7 D", "--format", "abc"], "'Q7' is not a chord"),
    ],
)
def test_bad_tune_options_are_one_line_errors(args: list[str], message: str) -> None:
    result = run("--styles", "abc_irish", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]  # argparse also prints the usage
