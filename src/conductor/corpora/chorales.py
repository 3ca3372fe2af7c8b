"""Bach's chorale melodies with their harmony as chord symbols, in the ABC styles' one notation.

music21 ships J. S. Bach's four-part chorales as MusicXML (`corpus/bach/*.mxl`). Each becomes one
ABC tune: the soprano's melody, and before each bar's first note the chord Bach's four voices
sound at its downbeat (`"G"`, `"Em"`, `"D7"`, `"F#dim"`: `conductor.music.chords.best_chord`
over the pitch classes sounding there; where they make no chord, the bar carries the last one).
So the style writes a chord with every bar, as a lead sheet does, and a chord grid
(`--chords`) reads to it as its own. Fermatas and the lower voices' lines are not written; the
key is the key signature's, major or minor as music21's key analysis reads the chorale.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from conductor.corpora._recipe import Recipe, package_dir
from conductor.music import MusicError, normalise_tune
from conductor.music.chords import best_chord
from conductor.music.notation import scale_length
from conductor.music.timing import load_music21

__all__ = ["CHORALE_RECIPES", "TRANSPOSITIONS", "Chorale", "read_chorale"]

_MUSIC21_INSTALL = "pip install music21"
_BARS_PER_LINE = 4
TRANSPOSITIONS = tuple(range(-5, 7))  # each chorale in 12 keys, as BachBot learns them


_VOICES = ("Soprano", "Alto", "Tenor", "Bass")
# each shift in semitones, as the intervals that spell it (the one giving the key with the
# fewest sharps or flats is taken)
_SHIFTS: dict[int, tuple[str, ...]] = {
    -5: ("P-4", "A-3"),
    -4: ("M-3", "d-4"),
    -3: ("m-3", "A-2"),
    -2: ("M-2", "d-3"),
    -1: ("m-2", "A-1"),
    0: ("P1",),
    1: ("m2", "A1"),
    2: ("M2", "d3"),
    3: ("m3", "A2"),
    4: ("M3", "d4"),
    5: ("P4", "A3"),
    6: ("A4", "d5"),
}
_ACCIDENTAL = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}


@dataclass(frozen=True)
class _Item:
    pitch: Any  # a music21 Pitch; None for a rest
    length: Fraction  # in eighths
    tie: bool = False


@dataclass(frozen=True)
class _Bar:
    chord: tuple[Any, str] | None  # (root as a music21 Pitch, quality), or None
    items: tuple[_Item, ...]


@dataclass(frozen=True)
class Chorale:
    """One chorale read once: its meter, key, and bars (melody + downbeat chord)."""

    title: str
    meter: str
    key: Any  # a music21 Key
    bars: tuple[_Bar, ...]

    def abc(self, number: int, shift: int = 0) -> str | None:
        """The chorale as an ABC tune, transposed `shift` semitones (None: not writable)."""
        interval = _interval(self.key, shift)
        key = self.key if interval is None else self.key.transpose(interval)
        signature = {p.step: int(p.alter) for p in key.alteredPitches}
        beat = _beat_eighths(self.meter)
        bars = []
        for n, bar in enumerate(self.bars):
            text = _bar_abc(bar, signature, beat, interval)
            if text is None:
                return None
            bars.append(text + (" |]" if n == len(self.bars) - 1 else " |"))
        lines = [
            " ".join(bars[i : i + _BARS_PER_LINE]) for i in range(0, len(bars), _BARS_PER_LINE)
        ]
        head = [f"X:{number}", f"T:{self.title}", f"M:{self.meter}", "L:1/8"]
        head.append(f"K:{_key_name(key)}")
        try:
            return normalise_tune("\n".join(head + lines)).rstrip("\n")
        except MusicError:
            return None


def _interval(key: Any, shift: int) -> Any:
    if shift == 0:
        return None
    from music21 import interval as intervals

    options = [intervals.Interval(name) for name in _SHIFTS[shift]]
    return min(options, key=lambda iv: abs(key.transpose(iv).sharps))


def _beat_eighths(meter: str) -> int:
    """A beat in eighths: a quarter in x/4, a half in x/2, a dotted quarter in x/8."""
    top, bottom = (int(part) for part in meter.split("/"))
    if bottom == 8:
        return 3 if top % 3 == 0 else 1
    return max(1, 8 // bottom)


def _key_name(key: Any) -> str:
    return str(key.tonic.name).replace("-", "b") + ("m" if key.mode == "minor" else "")


def _note_name(pitch: Any, accidental: str) -> str:
    """A pitch as ABC writes it (`accidental` already decided): C4 → `C`, C5 → `c`, B3 → `B,`."""
    step, octave = str(pitch.step), int(pitch.octave)
    if octave >= 5:
        return accidental + step.lower() + "'" * (octave - 5)
    return accidental + step + "," * (4 - octave)


def _bar_abc(bar: _Bar, signature: dict[str, int], beat: int, interval: Any) -> str | None:
    """One bar as ABC in the one notation: its chord, then the notes (`"G"G2 AB c2 d2`), a
    space before each beat (notes within a beat beamed)."""
    out: list[str] = []
    if bar.chord is not None:
        root, quality = bar.chord
        root = root if interval is None else root.transpose(interval)
        if abs(root.alter) > 1:
            return None
        out.append(f'"{root.name.replace("-", "b")}{quality}"')
    written: dict[str, int] = {}  # letter → alteration written in this bar (any octave)
    onset = Fraction(0)
    for number, item in enumerate(bar.items):
        if number and onset % beat == 0:
            out.append(" ")
        suffix = scale_length("", item.length)
        onset += item.length
        if item.pitch is None:
            out.append("z" + suffix)
            continue
        pitch = item.pitch if interval is None else item.pitch.transpose(interval)
        alter, step = int(pitch.alter), pitch.step
        accidental = ""
        # Written whenever the key does not give it, or a note of its letter in this bar had
        # one: readers that carry an accidental across octaves and those that do not agree.
        if alter != signature.get(step, 0) or step in written:
            if alter not in _ACCIDENTAL:
                return None
            accidental = _ACCIDENTAL[alter]
            written[step] = alter
        out.append(_note_name(pitch, accidental) + suffix + ("-" if item.tie else ""))
    return "".join(out).strip()


def read_chorale(score: Any, title: str) -> Chorale | None:
    """A music21 Score of a four-part chorale read as melody + one chord a bar; None where it
    is not one (other voices, a key or meter change, a divided soprano, a tuplet)."""
    voices = [part for part in score.parts if part.partName in _VOICES]
    if len(voices) != 4 or voices[0].partName != "Soprano":
        return None
    soprano = voices[0]
    signatures = list(soprano.recurse().getElementsByClass("KeySignature"))
    meters = list(soprano.recurse().getElementsByClass("TimeSignature"))
    if len(signatures) != 1 or len(meters) != 1:
        return None  # a key or meter change: rare in the chorales, and not written here
    signature = signatures[0]
    analysed = score.analyze("key")
    key = signature.asKey(analysed.mode if analysed.mode in ("major", "minor") else "major")
    harmony = _downbeat_chords(voices)
    bars: list[_Bar] = []
    last: tuple[Any, str] | None = None
    for measure in soprano.getElementsByClass("Measure"):
        items: list[_Item] = []
        for element in measure.notesAndRests:
            length = Fraction(element.quarterLength).limit_denominator(64) * 2  # in eighths
            if length <= 0:
                continue  # a grace note
            if length.denominator not in (1, 2, 4) or element.isChord:
                return None  # a tuplet, or a divided soprano: not written here
            if element.isRest:
                items.append(_Item(None, length))
                continue
            tie = element.tie is not None and element.tie.type in ("start", "continue")
            items.append(_Item(element.pitch, length, tie))
        if not items:
            return None
        last = harmony.get(measure.number) or last
        bars.append(_Bar(last, tuple(items)))
    if not bars:
        return None
    full = Fraction(meters[0].barDuration.quarterLength).limit_denominator(64) * 2
    return Chorale(title, meters[0].ratioString, key, _joined(bars, full))


def _joined(bars: list[_Bar], full: Fraction) -> tuple[_Bar, ...]:
    """The bars with each bar the encoding splits at a phrase's end (a short bar, then the short
    rest of it) joined again, so only a pickup and the last bar are short."""
    out: list[_Bar] = []
    n = 0
    while n < len(bars):
        bar = bars[n]
        length = sum((item.length for item in bar.items), Fraction(0))
        if 0 < n < len(bars) - 1 and length < full:
            rest = sum((item.length for item in bars[n + 1].items), Fraction(0))
            if length + rest == full:
                out.append(_Bar(bar.chord, bar.items + bars[n + 1].items))
                n += 2
                continue
        out.append(bar)
        n += 1
    return tuple(out)


def _downbeat_chords(voices: list[Any]) -> dict[int, tuple[Any, str] | None]:
    """Each bar's chord at its first onset, as the four voices sound it."""
    from music21 import stream

    four: Any = stream.Score(voices)
    found: dict[int, tuple[Any, str] | None] = {}
    for measure in four.chordify().getElementsByClass("Measure"):
        chords = list(measure.getElementsByClass("Chord"))
        if not chords:
            continue
        pitches = chords[0].pitches
        bass = min(pitches, key=lambda p: p.ps).pitchClass
        chord = best_chord((p.pitchClass for p in pitches), bass)
        if chord is not None:
            root = next(p for p in pitches if p.pitchClass == chord[0])
            found[measure.number] = (root, chord[1])
    return found


def _extract(root: Path) -> tuple[str, list[str]]:
    music21 = load_music21()
    files = sorted(root.glob("*.mxl"))
    tunes: list[str] = []
    read: list[str] = []
    for path in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = music21.converter.parse(str(path))
        except Exception:  # a file music21 cannot read is skipped, as any odd source file
            continue
        chorale = read_chorale(score, f"Chorale {path.stem.upper()}")
        if chorale is None:
            continue
        # every transposition of a chorale stands together, so the held-out split (the
        # corpus's last share) holds chorales no key of which was trained on
        for shift in TRANSPOSITIONS:
            tune = chorale.abc(len(tunes) + 1, shift)
            if tune is not None:
                tunes.append(tune)
        read.append(str(path))
    return "\n\n".join(tunes) + "\n", read


def _corpus_root() -> Path:
    return package_dir("music21", _MUSIC21_INSTALL) / "corpus" / "bach"


CHORALE_RECIPES = (
    Recipe(
        name="abc_chorales",
        description="Bach's chorale melodies with their harmony as chord symbols (music21)",
        install=_MUSIC21_INSTALL,
        licence="music21 corpus: Bach chorales (public domain music; encodings BSD, "
        "see music21/corpus/license.txt)",
        locate=_corpus_root,
        extract=_extract,
    ),
)
