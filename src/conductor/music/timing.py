"""Bars and tunes read as music by music21: a bar in its tune's context → notes timed at a tempo
(`bar_notes`; unreadable bars reported, never raised), whether a bar fills its meter
(`fits_meter`), how well a whole tune reads (`check_tune`). music21's complaints (some written
straight to stderr) go to the `music21` logger, never to the terminal."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from conductor.errors import DependencyError
from conductor.music.bars import CLOSES_SECTION, NOTE_LETTER, playable
from conductor.music.chords import chord_spans
from conductor.music.header import MusicError, TuneHeader
from conductor.notes import ACCOMPANIMENT, Note

__all__ = ["Bar", "TuneCheck", "bar_notes", "check_tune", "fits_meter", "load_music21", "parse_abc"]


@dataclass(frozen=True)
class Bar:
    """One bar as written and as music: its notes at the tempo, or why it could not be read."""

    index: int  # 0-based, within its tune
    abc: str  # the text as generated, bar line included
    header: TuneHeader  # the context it was read in
    notes: tuple[Note, ...] = ()  # the melody
    quarters: float = 0.0  # its length in quarter notes
    seconds: float = 0.0  # its length at the tempo it was timed for
    error: str | None = None  # None when music21 read it
    accompaniment: tuple[Note, ...] = ()  # its chord symbols sounded (voice ACCOMPANIMENT)
    chord: str | None = None  # the chord in force at its end (carried into the next bar)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def sounding(self) -> tuple[Note, ...]:
        """Everything a player sounds: the melody and the chords under it."""
        return self.notes + self.accompaniment

    @property
    def exact_quarters(self) -> Fraction:
        """Its length as a fraction of quarters (music21's float, to a 96th)."""
        return Fraction(self.quarters).limit_denominator(96)


LOG = logging.getLogger("music21")


def _to_log(self: Any, msg: Any, header: str | None = None) -> None:
    """music21's `Environment.warn`, to the `music21` logger instead of straight to stderr."""
    LOG.debug("%s", " ".join(str(part) for part in (msg if isinstance(msg, list) else [msg])))


def load_music21() -> Any:
    """music21, with its own warnings kept off the terminal: some of its complaints (a note it
    cannot read: "assuming C") go past `warnings`, straight to stderr, and a generated tune is
    full of them. They go to the `music21` logger (debug) instead."""
    try:
        import music21
    except ImportError as error:  # pragma: no cover - music21 is a dependency
        raise DependencyError("music needs music21; run: pip install music21") from error
    music21.environment.Environment.warn = _to_log  # type: ignore[method-assign]
    return music21


def parse_abc(text: str) -> Any:
    """music21's reading of an ABC text (a Score), or a `MusicError` with its complaint."""
    music21 = load_music21()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # music21 warns on every odd token
            return music21.converter.parse(text, format="abc", forceSource=True)
    except Exception as error:  # music21 raises many kinds on bad input
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MusicError(f"music21 cannot read this ABC: {first[:200]}") from error


def bar_notes(
    bar_text: str, header: TuneHeader, tempo: float, index: int = 0, chord: str | None = None
) -> Bar:
    """Read one bar in its tune's context into notes timed at `tempo` quarter notes a minute.

    A downbeat is played a little louder. Chord symbols (`"G"`, `"D7"`) sound as an
    accompaniment: each chord (`chord_voicing`) from its place until the next or the bar's end;
    `chord`, the chord in force from an earlier bar, until the bar's first. A bar music21 cannot
    read, or with no notes, comes back with `error` set (playback skips it and counts it); this
    function does not raise for it.
    """
    if not (tempo > 0 and tempo < 10_000):
        raise MusicError(f"tempo {tempo} is not a speed; give quarter notes per minute, e.g. 120")
    body = playable(bar_text)
    if not NOTE_LETTER.search(body):  # as `has_notes`, without reading the bar twice
        return Bar(index, bar_text, header, error="no notes in this bar")
    try:
        score = parse_abc(header.text() + body + "\n")
    except MusicError as error:
        return Bar(index, bar_text, header, error=str(error))
    seconds_per_quarter = 60.0 / tempo
    notes: list[Note] = []
    symbols: list[tuple[float, str]] = []  # the bar's chord symbols: (onset, name)
    try:
        flat = score.flatten()
        length = float(flat.highestTime)
        for element in flat.notes:
            onset = float(element.offset)
            if "ChordSymbol" in element.classes:
                symbols.append((onset, str(element.figure)))
                continue
            duration = float(element.quarterLength)
            if duration <= 0:  # grace notes: music21 gives them no time; so do we
                continue
            velocity = 96 if onset == 0 else 80
            for pitch in element.pitches:
                notes.append(
                    Note(
                        int(pitch.midi),
                        velocity,
                        onset * seconds_per_quarter,
                        duration * seconds_per_quarter,
                    )
                )
    except Exception as error:  # a reading music21 produced but cannot walk
        return Bar(index, bar_text, header, error=f"music21 cannot time this bar: {error}")
    if length <= 0:
        return Bar(index, bar_text, header, error="this bar takes no time")
    accompaniment, chord = _accompaniment(symbols, chord, length, seconds_per_quarter)
    return Bar(
        index,
        bar_text,
        header,
        tuple(notes),
        quarters=length,
        seconds=length * seconds_per_quarter,
        accompaniment=accompaniment,
        chord=chord,
    )


ACCOMPANIMENT_VELOCITY = 52  # under the melody (80-96)


def _accompaniment(
    symbols: list[tuple[float, str]], carried: str | None, length: float, per_quarter: float
) -> tuple[tuple[Note, ...], str | None]:
    """Chord symbols at their onsets (and the chord carried in) → the accompaniment's notes, and
    the chord in force at the bar's end. A name this does not know sounds nothing."""
    named: list[tuple[float, str]] = []
    if carried is not None and not (symbols and symbols[0][0] <= 0):
        named.append((0.0, carried))
    spans = chord_spans(named + sorted(symbols), length)
    velocity = ACCOMPANIMENT_VELOCITY
    notes = [
        Note(pitch, velocity, onset * per_quarter, (stop - onset) * per_quarter, ACCOMPANIMENT)
        for onset, stop, _, pitches in spans
        if stop > onset
        for pitch in pitches
    ]
    return tuple(notes), spans[-1][2] if spans else carried


def fits_meter(bar: Bar, opens: bool) -> bool:
    """Does a read bar last one full bar of its meter? A pickup (`opens`) or a section's last bar
    (closed by `:|`) may be shorter, never longer; free meter fits anything that was read."""
    if not bar.ok:
        return False
    full = bar.header.bar_quarters
    if full is None:
        return True
    length = bar.exact_quarters
    if length == full:
        return True
    return length < full and (opens or bool(CLOSES_SECTION.search(bar.abc)))


@dataclass(frozen=True)
class TuneCheck:
    """How well music21 reads a tune: parsed at all, and bars of the meter's length."""

    parsed: bool
    bars: int = 0
    full_bars: int = 0  # bars of the meter's length, or pickups and section ends no longer
    error: str | None = None

    @property
    def bar_share(self) -> float:
        return self.full_bars / self.bars if self.bars else 0.0


def check_tune(tune: str) -> TuneCheck:
    """Parse a whole ABC tune with music21 and measure its bars against the meter.

    A bar counts as right when it lasts exactly one bar of the meter, or when it is a pickup (the
    first bar, or the first after a repeat or double bar) or a section's last bar (before a
    repeat, double or final bar, or the tune's last bar) and is shorter, not longer. A tune in
    free meter (`M:none`) has no bar length to check: all its bars count as right.
    """
    try:
        score = parse_abc(tune)
    except MusicError as error:
        return TuneCheck(parsed=False, error=str(error))
    measures = list(score.recurse().getElementsByClass("Measure"))
    if not measures:
        flat = score.flatten()
        if not flat.notes:
            return TuneCheck(parsed=False, error="music21 found no notes")
        return TuneCheck(parsed=True, bars=1, full_bars=1)
    try:
        full = _full_bars(tune, measures)
    except Exception as error:  # a reading music21 produced but cannot measure
        return TuneCheck(parsed=False, error=f"music21 cannot measure this tune: {error}")
    return TuneCheck(parsed=True, bars=len(measures), full_bars=full)


def _full_bars(tune: str, measures: list[Any]) -> int:
    try:
        bar = TuneHeader.parse(tune).bar_quarters
    except MusicError:  # a header we cannot read: no bar length to check
        bar = None
    full = 0
    for number, measure in enumerate(measures):
        length = Fraction(measure.duration.quarterLength).limit_denominator(96)
        if bar is None or length == bar:
            full += 1
            continue
        previous = measures[number - 1] if number else None
        opens = number == 0 or measure.leftBarline is not None
        opens = opens or (previous is not None and previous.rightBarline is not None)
        closes = number == len(measures) - 1 or measure.rightBarline is not None
        if (opens or closes) and 0 < length < bar:
            full += 1
    return full
