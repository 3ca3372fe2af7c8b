"""How well a melody keeps to its chords: the share of strong-beat melody notes that are chord
tones (Eck & Schmidhuber's measure of an LSTM improvising over a blues: notes on the chord).

A bar's strong beats are its downbeat and, where the bar divides into an even number of beats,
its middle (4/4 and 2/2: beats 1 and 3; 6/8: 1 and 4 in eighths; 12/8: the first and third
dotted quarter); 3/4, 9/8 and 3/8 have the downbeat only. A strong-beat note is the melody note
sounding there (struck on the beat or held over it); a beat where a rest sounds counts for
nothing. It is a chord tone when its pitch class is one of the chord's that is in force there
(the last chord symbol at or before it, in this bar or an earlier one).

- `bar_chord_tones(bar, chord)`: a read bar (`Bar`, notes in seconds) against one chord;
- `keeps_to(bar, chord, tones)`: whether a bar keeps to a grid's chord (`compose` and the live
  performer judge by it);
- `tune_chord_tones(tune)`: a whole ABC tune against its own chord symbols (music21's reading),
  or against a `ChordGrid` laid over its bars (bar k has chord k of the grid; a pickup none).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from fractions import Fraction

from conductor.music.chords import ChordGrid, chord_pitch_classes, chords_in
from conductor.music.header import MusicError, TuneHeader
from conductor.music.timing import Bar, parse_abc

__all__ = ["ChordTones", "bar_chord_tones", "keeps_to", "strong_beats", "tune_chord_tones"]


@dataclass(frozen=True)
class ChordTones:
    """Strong-beat melody notes, how many of them are chord tones, and the strong beats where
    the melody rests (they count in neither: a tune of rests keeps to no chord)."""

    strong: int = 0
    on_chord: int = 0
    rests: int = 0

    @property
    def share(self) -> float:
        return self.on_chord / self.strong if self.strong else 0.0

    @property
    def fits(self) -> bool:
        """Every strong beat has a melody note, and each is one of its chord's tones."""
        return self.rests == 0 and self.on_chord == self.strong

    def __add__(self, other: ChordTones) -> ChordTones:
        return ChordTones(
            self.strong + other.strong, self.on_chord + other.on_chord, self.rests + other.rests
        )


def strong_beats(header: TuneHeader) -> tuple[Fraction, ...]:
    """A full bar's strong beats, in quarters from its start (free meter: the downbeat)."""
    full = header.bar_quarters
    if full is None:
        return (Fraction(0),)
    meter = {"C": "4/4", "C|": "2/2"}.get(header.meter.strip(), header.meter.strip())
    top_text, bottom_text = meter.split("/")
    top, bottom = sum(int(t) for t in top_text.split("+")), int(bottom_text)
    beats = top // 3 if bottom == 8 and top % 3 == 0 and top > 3 else top  # compound: by 3
    return (Fraction(0), full / 2) if beats % 2 == 0 else (Fraction(0),)


def _count(
    notes: list[tuple[Fraction, Fraction, int]],
    chords: list[tuple[Fraction, frozenset[int]]],
    beats: tuple[Fraction, ...],
    shift: Fraction = Fraction(0),
) -> ChordTones:
    """`notes` (onset, end, pitch class) and `chords` (onset, pitch classes) in one bar, against
    its strong `beats` (a pickup's shifted: it ends where a full bar would)."""
    strong = on = rests = 0
    for beat in beats:
        at = beat - shift
        if at < 0:
            continue
        sounding = [pc for onset, end, pc in notes if onset <= at < end]
        force = [classes for onset, classes in chords if onset <= at]
        if not force:
            continue
        if not sounding:
            rests += 1
            continue
        strong += 1
        on += sounding[-1] in force[-1]  # the top note, where a chord is written in the melody
    return ChordTones(strong, on, rests)


def bar_chord_tones(bar: Bar, chord: str) -> ChordTones:
    """A read bar's strong-beat notes against `chord` (a pickup's beats counted from its end)."""
    if not bar.ok or bar.quarters <= 0:
        return ChordTones()
    quarters_per_second = bar.quarters / bar.seconds

    def quarters(seconds: float) -> Fraction:  # to a 96th, as bars are measured
        return Fraction(seconds * quarters_per_second).limit_denominator(96)

    notes = [
        (quarters(note.onset), quarters(note.onset + note.duration), note.pitch % 12)
        for note in sorted(bar.notes, key=lambda n: (n.onset, n.pitch))
    ]
    full = bar.header.bar_quarters
    shift = full - bar.exact_quarters if full is not None and bar.exact_quarters < full else 0
    chords = [(Fraction(0), chord_pitch_classes(chord))]
    return _count(notes, chords, strong_beats(bar.header), Fraction(shift))


def keeps_to(bar: Bar, chord: str, tones: bool) -> bool:
    """Whether a read bar keeps to a grid's `chord`: it writes that chord and no other, and
    (`tones`) every strong beat sounds one of the chord's tones (`ChordTones.fits`)."""
    return chords_in(bar.abc) == [chord] and (not tones or bar_chord_tones(bar, chord).fits)


def tune_chord_tones(tune: str, grid: ChordGrid | None = None) -> ChordTones:
    """A whole tune's strong-beat melody notes against its chord symbols (or `grid`'s chords,
    bar by bar, a pickup none): music21's reading; a tune it cannot read counts nothing."""
    try:
        score = parse_abc(tune)
        header = TuneHeader.parse(tune)
    except MusicError:
        return ChordTones()
    beats = strong_beats(header)
    full = header.bar_quarters
    total = ChordTones()
    carried: frozenset[int] | None = None
    counted = 0
    measures = list(score.recurse().getElementsByClass("Measure"))
    for number, measure in enumerate(measures):
        length = Fraction(measure.duration.quarterLength).limit_denominator(96)
        pickup = number == 0 and full is not None and 0 < length < full
        notes: list[tuple[Fraction, Fraction, int]] = []
        chords: list[tuple[Fraction, frozenset[int]]] = []
        for element in measure.recurse().notes:
            onset = Fraction(element.offset).limit_denominator(96)
            if "ChordSymbol" in element.classes:
                if grid is None:
                    with suppress(MusicError):  # a chord name this does not know: the last stays
                        chords.append((onset, chord_pitch_classes(element.figure)))
                continue
            length_q = Fraction(element.quarterLength).limit_denominator(96)
            if length_q <= 0:
                continue  # a grace note
            top = max(p.midi for p in element.pitches)
            notes.append((onset, onset + length_q, top % 12))
        if grid is not None:
            chords = [] if pickup else [(Fraction(0), chord_pitch_classes(grid.chord(counted)))]
            counted += not pickup
        elif carried is not None and not (chords and chords[0][0] == 0):
            chords.insert(0, (Fraction(0), carried))
        if chords:
            carried = chords[-1][1]
        shift = full - length if pickup and full is not None else Fraction(0)
        total = total + _count(notes, chords, beats, shift)
    return total
