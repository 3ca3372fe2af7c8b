"""Live music: bars from the symbol stream, placed on a playback timeline, sent to players."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import mido
import pytest

from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.events import BarEvent, ResetEvent, StepEvent
from conductor.generate import Conductor
from conductor.library import shipped_dir
from conductor.music import (
    ChordGrid,
    TuneHeader,
    bar_notes,
    chord_pitch_classes,
    chords_in,
    fits_meter,
    opens_section,
)
from conductor.notes import Note
from conductor.performance import LEAD_IN, MusicOptions, Performance
from conductor.performer import Performer, performer_from_json, performer_to_json
from conductor.server.midi import MidiOut
from conductor.server.run import BackgroundServer
from conductor.session import Session, replay
from tests.conftest import until
from tests.test_server_osc import Peer, osc

STYLES = shipped_dir()
ABC = [STYLES / "abc_irish.safetensors", STYLES / "abc_german.safetensors"]
CHORDED = [STYLES / "abc_chorales.safetensors", STYLES / "abc_irish.safetensors"]
JIG = MusicOptions(TuneHeader("6/8", "1/8", "D"), tempo=120.0, ahead_bars=1.0, fit_meter=False)
FITTED = replace(JIG, fit_meter=True)


def test_options_are_checked() -> None:
    with pytest.raises(ConductorError, match="tempo"):
        MusicOptions(tempo=1000)
    with pytest.raises(ConductorError, match="ahead_bars"):
        MusicOptions(ahead_bars=0)
    assert MusicOptions.from_json(JIG.to_json()) == JIG
    assert MusicOptions.from_json(FITTED.to_json()) == FITTED
    old = {k: v for k, v in FITTED.to_json().items() if k != "fit_meter"}
    assert MusicOptions.from_json(old) == JIG  # a record from before live fitting: none


def test_a_bar_that_does_not_fit_is_taken_back_and_the_next_try_stands() -> None:
    performance = Performance(FITTED)
    assert performance.takes_back and not Performance(JIG).takes_back
    [first] = [r for char in "A|dfa afd|" for r in performance.feed(char, "irish").ready][1:]
    mark = performance.snapshot()
    fed = [performance.feed(char, "irish") for char in "dfa af|"]  # five eighths: too short
    assert fed[-1].retry and not fed[-1].ready and performance.resampled == 1
    performance.restore(mark)  # what the session does: back to the bar's start
    [again] = [r for char in "gfe dcB|" for r in performance.feed(char, "irish").ready]
    assert again.bar.index == first.bar.index + 1 and again.bar.abc == "gfe dcB|"
    assert performance.score == ["A|", "dfa afd|", "gfe dcB|"]
    fed = [performance.feed(char, "irish") for char in "dfa\nT:X\n|"]  # a field: no music
    assert any(f.retry for f in fed)
    performance.restore(mark)
    [closed] = [r for char in "gfe dcB:|" for r in performance.feed(char, "irish").ready]
    mark, taken = performance.snapshot(), performance.resampled
    fed = [performance.feed(char, "irish") for char in "\n|gfe dcB|"]  # abc2midi: an empty bar
    assert fed[-1].retry and performance.resampled == taken + 1
    performance.restore(mark)
    [after] = [r for char in "\ngfe dcB|" for r in performance.feed(char, "irish").ready]
    assert after.bar.index == closed.bar.index + 1


def test_bars_are_placed_back_to_back_and_generation_waits_for_playback() -> None:
    performance = Performance(JIG)
    assert isinstance(performance, Performer) and performance.kind == "abc"
    assert performance.prime_text() == "\nX:1\nM:6/8\nL:1/8\nK:D\n"
    bars = [bar for char in "dfa afd|gfe dcB|" for bar in performance.feed(char, "irish").ready]
    assert [(r.tune, r.bar.index, r.bar.seconds) for r in bars] == [(1, 0, 1.5), (1, 1, 1.5)]
    assert bars[0].by == {"irish": 1.0}
    now = 100.0
    first = performance.schedule(bars[0].bar, now)
    second = performance.place(bars[1], now + 0.01)  # placed: the `bar` event players get
    assert first == pytest.approx(LEAD_IN)  # playback had caught up: a short lead-in
    assert second.starts_in == pytest.approx(LEAD_IN + 1.5 - 0.01)  # right after the first bar
    assert second.by == {"irish": 1.0} and second.index == 1 and second.played == 2
    assert performance.lead(now) == pytest.approx(LEAD_IN + 3.0)
    # one bar ahead at most: wait until only one bar's worth is left to play
    assert performance.wait_before_next(now) == pytest.approx(LEAD_IN + 1.5)
    assert performance.wait_before_next(now + 10) == 0
    # a short pickup does not shrink how far ahead generation may run: a full 6/8 bar is 1.5 s
    [pickup] = performance.feed("A|").ready
    assert pickup.bar.seconds == pytest.approx(0.25)
    performance.schedule(pickup.bar, now + 0.02)
    assert performance.wait_before_next(now) == pytest.approx(LEAD_IN + 1.75)
    event = performance.bar_event(1, bars[0].bar, first).to_json()
    assert event["type"] == "bar" and event["notes"][0] == [74, 96, 0.0, 0.25, 0]
    assert isinstance(second.notes[0], Note)


def test_unreadable_bars_are_skipped_and_a_blank_line_starts_the_next_tune() -> None:
    performance = Performance(JIG)
    [bad] = performance.feed("d((((3[[[|").ready
    assert not bad.bar.ok and performance.place(bad, 0.0).starts_in is None
    assert performance.skipped == 1
    fed = performance.feed("dfa afd|\n\n")
    assert fed.ended and [r.tune for r in fed.ready] == [1]
    assert performance.prime_text().startswith("\nX:2\n")
    assert performance.to_json()["score"]["bars"] == []
    again = performer_from_json(performer_to_json(performance))  # as a replay rebuilds it
    assert isinstance(again, Performance) and again.options == performance.options


def collect(session: Session) -> list[Any]:
    events: list[Any] = []
    session.add_sink(events.append)
    return events


@pytest.mark.parametrize("options", [JIG, FITTED], ids=["as written", "fitted"])
def test_a_music_session_primes_the_header_and_sends_timed_bars(
    tmp_path: Path, options: MusicOptions
) -> None:
    record = tmp_path / "tune.jsonl"
    conductor = Conductor(Ensemble.from_checkpoints(ABC), seed=4)
    performance = Performance(options)
    session = Session(
        conductor,
        [1.0, 0.0],
        rate=0,
        performer=performance,
        record=record,
        style_paths=[str(p) for p in ABC],
    )
    assert session.text_tail.endswith("K:D\n")
    events = collect(session)
    ticks = 2 if options.fit_meter else 1  # the bars taken back take ticks too
    for _ in range(150 * ticks):
        session.step()
    bars = [e for e in events if isinstance(e, BarEvent)]
    assert len(bars) >= 5
    played = [b for b in bars if b.ok]
    assert played and all(b.notes and b.starts_in and b.starts_in > 0 for b in played)
    assert session.performer_state()["score"]["bars"]  # type: ignore[index]
    assert all(b.by == {"abc_irish": 1.0} for b in bars)
    # morph to the German model: the bars after the change are the German model's
    session.submit({"type": "set", "weights": {"abc_german": 1.0, "abc_irish": 0.0}})
    before = len(events)
    for _ in range(100 * ticks**3):  # the German model rarely writes 6/8: many bars again
        session.step()
    later = [e for e in events[before:] if isinstance(e, BarEvent)]
    assert len(later) >= 3 and all(b.by == {"abc_german": 1.0} for b in later[1:])
    session.close()
    text = "".join(e.symbol for e in events if isinstance(e, StepEvent))
    # what is shown is what plays (line breaks aside, and a next tune's `X:` the models began)
    squeezed = "".join(re.sub(r"X:[^\n]*", "", text).split())
    assert "".join("".join(b.abc for b in bars + later).split()) in squeezed
    if options.fit_meter:  # every bar shown and played fits its meter; the rest went unseen
        previous, unfit, tune = None, 0, 1
        for event in bars + later:  # ... unless its tries ran out (the last try stands)
            if event.tune != tune:
                previous, tune = None, event.tune
            read = bar_notes(event.abc, TuneHeader.parse(event.header), 120.0)
            unfit += not fits_meter(read, opens_section(event.abc, previous))
            previous = event.abc
        assert performance.resampled > 0 and unfit == performance.unfit
        assert unfit <= len(bars + later) // 10
    again = replay(record, lambda styles: [Path(s) for s in styles])
    assert again.matches and again.text == text


class FakePort:
    """A MIDI output port double: the machine has no MIDI system."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, mido.Message]] = []

    def send(self, message: mido.Message) -> None:
        self.messages.append((time.monotonic(), message))


def bar(starts_in: float | None, notes: list[tuple[int, int, float, float]]) -> BarEvent:
    played = tuple(Note(*note) for note in notes)
    return BarEvent(
        1, 0, "d2f|", "X:1", starts_in is not None, None, starts_in, 0.2, played, {}, 1, 0
    )


def test_midi_out_plays_each_note_at_its_time() -> None:
    port = FakePort()
    out = MidiOut(port)
    event = bar(0.05, [(62, 96, 0.0, 0.1), (66, 80, 0.1, 0.1)])

    async def play() -> None:
        out(event)
        out(bar(None, [(70, 80, 0.0, 0.1)]))  # a bar that could not be read is not played
        out(ResetEvent(3))
        await until(lambda: len(port.messages) >= 4, what="both notes on and off")

    start = time.monotonic()
    asyncio.run(play())
    kinds = [(m.type, m.note) for _, m in port.messages]
    assert kinds == [("note_on", 62), ("note_off", 62), ("note_on", 66), ("note_off", 66)]
    onsets = [t - start for t, m in port.messages if m.type == "note_on"]
    assert onsets[0] == pytest.approx(0.05, abs=0.04) and onsets[1] == pytest.approx(0.15, abs=0.04)
    assert {m.channel for _, m in port.messages} == {0}


def test_midi_out_plays_the_accompaniment_on_the_next_channel() -> None:
    port = FakePort()
    out = MidiOut(port, channel=3)
    chord = BarEvent(
        1, 0, '"G"G2|', "X:1", True, None, 0.0, 0.2,
        (Note(67, 96, 0.0, 0.1), Note(55, 52, 0.0, 0.1, voice=1)), {}, 1, 0,
    )  # fmt: skip

    async def play() -> None:
        out(chord)
        await until(lambda: len(port.messages) >= 4, what="melody and chord, on and off")

    asyncio.run(play())
    channels = {(m.note, m.channel) for _, m in port.messages}
    assert channels == {(67, 3), (55, 4)}


def test_midi_out_without_a_midi_system_is_a_one_line_error() -> None:
    with pytest.raises(ConductorError, match="MIDI output 'nowhere'") as error:
        MidiOut.open("nowhere")
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def music_server() -> Iterator[BackgroundServer]:
    conductor = Conductor(Ensemble.from_checkpoints(CHORDED), seed=1)
    header = TuneHeader("4/4", "1/8", "G")
    options = MusicOptions(header, tempo=480.0, ahead_bars=1.0, chords=ChordGrid.blues("G"))
    session = Session(conductor, [1.0, 0.0], rate=0, performer=Performance(options))
    server = BackgroundServer(session, port=0, osc_port=0)
    yield server
    server.stop()


def test_osc_subscribers_hear_each_note_as_it_sounds(music_server: BackgroundServer) -> None:
    assert music_server.endpoints is not None and music_server.endpoints.osc is not None
    peer = Peer(music_server.endpoints.osc)
    try:
        peer.send(osc("/conductor/subscribe", "127.0.0.1", peer.port))
        bar = peer.first("/conductor/bar", seconds=15)
        assert isinstance(bar[0], int) and "|" in bar[1]
        pitch, velocity, duration = peer.first("/conductor/note", seconds=5)
        assert 21 <= pitch <= 108 and 1 <= velocity <= 127 and 0 < duration < 5
        # the blues's chords sound under the melody: G7, C7 or D7 tones, softer
        pitch, velocity, duration = peer.first("/conductor/chord", seconds=5)
        assert pitch % 12 in {7, 11, 2, 5, 0, 4, 10, 6, 9} and velocity < 80 and duration > 0
        # generation waits for playback: a few bars on, at most ~2 bars of 4/4 at 480 per
        # minute (0.5 s each) are scheduled beyond now
        for _ in range(3):
            peer.first("/conductor/bar", seconds=30)
        lead = music_server.call(
            lambda: music_server.session.performer.lead(time.monotonic())  # type: ignore[union-attr]
        )
        assert lead <= LEAD_IN + 2 * 0.5 + 0.6
    finally:
        peer.send(osc("/conductor/unsubscribe", "127.0.0.1", peer.port))
        peer.close()


def test_a_grid_writes_each_bars_chord_before_the_models_write_the_bar() -> None:
    grid = ChordGrid.parse("G C D7")
    options = MusicOptions(TuneHeader("4/4", "1/8", "G"), fit_meter=True, chords=grid)
    assert MusicOptions.from_json(options.to_json()) == options
    performance = Performance(options)
    assert performance.prime_text().endswith('K:G\n"G"')  # the first bar's chord, with the header
    fed = [performance.feed(char, "x") for char in "GABc d2B2 |"]
    assert fed[-1].then == ' "C"' and not any(f.then for f in fed[:-1])
    [ready] = fed[-1].ready
    assert ready.bar.abc == '"G"GABc d2B2 |'
    chord = ready.bar.accompaniment
    assert chord and {n.pitch % 12 for n in chord} == {7, 11, 2} and {n.voice for n in chord} == {1}
    assert ready.bar.sounding == ready.bar.notes + chord
    mark = performance.snapshot()  # the session marks after it read the chord
    fed = [performance.feed(char, "x") for char in 'c2"D"e2 g2 e2 |']  # another chord
    assert fed[-1].retry
    performance.restore(mark)
    fed = [performance.feed(char, "x") for char in "d2 e2 f2 a2 |"]  # d and f: not C's tones
    assert fed[-1].retry
    performance.restore(mark)
    fed = [performance.feed(char, "x") for char in "c2 e2 g2 e2 |"]
    assert fed[-1].ready and fed[-1].then == ' "D7"'
    assert performance.to_json()["grid_bar"] == 2
    bar = performance.place(fed[-1].ready[0], time.monotonic())
    assert any(n.voice == 1 for n in bar.notes)  # players get the accompaniment with the bar


def test_a_music_session_on_a_grid_keeps_the_form_and_replays_exactly(tmp_path: Path) -> None:
    record = tmp_path / "blues.jsonl"
    grid = ChordGrid.blues("G")
    options = MusicOptions(TuneHeader("4/4", "1/8", "G"), fit_meter=True, chords=grid)
    conductor = Conductor(Ensemble.from_checkpoints(CHORDED), seed=2)
    session = Session(
        conductor,
        [1.0, 0.0],
        rate=0,
        performer=Performance(options),
        record=record,
        style_paths=[str(p) for p in CHORDED],
    )
    events = collect(session)
    for _ in range(500):  # (bars taken back take ticks too)
        session.step()
    session.submit({"type": "set", "weights": {"abc_chorales": 0.5, "abc_irish": 0.5}})
    for _ in range(500):  # the pad morphs the melody; the grid holds
        session.step()
    bars = [e for e in events if isinstance(e, BarEvent) and e.tune == 1]
    assert len(bars) >= 8
    pickup = 1 if bars[0].seconds < 1.99 else 0  # a short first bar shares bar 0's chord
    for k, event in enumerate(bars[pickup:]):
        assert chords_in(event.abc)[0] == grid.chord(k)
        if event.ok:
            chord = {n.pitch % 12 for n in event.notes if n.voice == 1}
            assert chord == set(chord_pitch_classes(grid.chord(k)))
    session.close()
    again = replay(record, lambda styles: [Path(s) for s in styles])
    text = "".join(e.symbol for e in events if isinstance(e, StepEvent))
    assert again.matches and again.text == text
