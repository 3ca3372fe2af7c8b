"""Chord symbols and chord grids: what a chord name means, the form a grid imposes, how well a
melody keeps to it.

- `chord_pitch_classes("D7")` → the pitch classes it names ({2, 6, 9, 0}); the names ABC tunes
  write (`"G"`, `"Em"`, `"D7"`, `"F#m7"`, `"Bdim"`, `"Am/E"`, `"Gmaj7"`, `"Csus4"` …);
  anything else is a `MusicError` that says which names are known;
- `name_chord(pitches)`: the chord a set of sounding pitch classes makes (triads, sevenths,
  diminished), as the chorale recipe names Bach's harmony at each downbeat;
- `ChordGrid`: one entry per bar, each one chord (Eck & Schmidhuber's blues is one a bar), that a
  tune cycles through; `ChordGrid.parse("G C D7 G")` or `"blues"` (the 12-bar blues in the
  tune's key: I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 I7); `to_json`/`from_json` for records;
- `chord_voicing(name)`: the accompaniment's notes for a chord (root in the bass, the chord
  above it), as MIDI pitches;
- `chords_in(text)`: the chord symbols a bar's text writes, in order;
- `chord_prefix(grid, bar, so_far)`: what a grid writes before the models write a bar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from conductor.music.header import MusicError

__all__ = [
    "BLUES",
    "ChordGrid",
    "best_chord",
    "chord_pitch_classes",
    "chord_prefix",
    "chord_root",
    "chord_spans",
    "chord_voicing",
    "chords_in",
    "is_chord_name",
    "name_chord",
]

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# quality → intervals above the root, in semitones
_QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "maj": (0, 4, 7),
    "M": (0, 4, 7),
    "m": (0, 3, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "m7": (0, 3, 7, 10),
    "min7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11),
    "M7": (0, 4, 7, 11),
    "dim": (0, 3, 6),
    "dim7": (0, 3, 6, 9),
    "m7b5": (0, 3, 6, 10),
    "aug": (0, 4, 8),
    "+": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus": (0, 5, 7),
    "sus2": (0, 2, 7),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "9": (0, 4, 7, 10, 2),
    "7sus4": (0, 5, 7, 10),
}
# a root (music21 writes a flat as `-`: "B-m7"), a quality, optionally /bass
_NAME = re.compile(r"^([A-G])([#b-]?)([^/]*)(?:/([A-Ga-g])([#b-]?))?$")
_IN_TEXT = re.compile(r'"([^"\n]*)"')
BLUES = ("I7", "I7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "I7")
_DEGREES = {"I": 0, "IV": 5, "V": 7}
# the names `name_chord` gives, best first where two fit as well
_NAMED = tuple((quality, _QUALITIES[quality]) for quality in ("", "m", "7", "m7", "dim"))
_SHARP_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _pc(letter: str, accidental: str) -> int:
    return (_LETTER_PC[letter.upper()] + {"#": 1, "b": -1, "-": -1, "": 0}[accidental]) % 12


def chord_root(name: str) -> int:
    """The pitch class of a chord's root (`"F#m"` → 6)."""
    match = _NAME.match(name.strip())
    if not match:
        raise MusicError(f"{name!r} is not a chord name; write e.g. G, Em, D7, F#m7, Bdim")
    return _pc(match.group(1), match.group(2))


def chord_pitch_classes(name: str) -> frozenset[int]:
    """The pitch classes a chord symbol names (with a slash chord's bass)."""
    match = _NAME.match(name.strip())
    if not match or match.group(3) not in _QUALITIES:
        known = ", ".join(repr(q) for q in _QUALITIES if q)
        raise MusicError(
            f"{name!r} is not a chord this knows: a root A-G (# or b), then one of "
            f"'' (major), {known}, optionally /bass"
        )
    root = _pc(match.group(1), match.group(2))
    classes = {(root + step) % 12 for step in _QUALITIES[match.group(3)]}
    if match.group(4):
        classes.add(_pc(match.group(4), match.group(5)))
    return frozenset(classes)


def chord_voicing(name: str, bass_octave: int = 3) -> tuple[int, ...]:
    """An accompaniment for a chord: its root in octave `bass_octave` (C3 = 48), and the
    chord's tones once each in the octave above the root, as MIDI pitches."""
    root = chord_root(name)
    bass = 12 * (bass_octave + 1) + root
    above = sorted({bass + 12 + ((pc - root) % 12) for pc in chord_pitch_classes(name)})
    return (bass, *above)


def is_chord_name(name: str) -> bool:
    """Whether `chord_pitch_classes` knows `name`."""
    try:
        chord_pitch_classes(name)
    except MusicError:
        return False
    return True


def chords_in(text: str) -> list[str]:
    """The chord symbols a piece of ABC writes (quoted names that are chords), in order."""
    return [quoted.strip() for quoted in _IN_TEXT.findall(text) if is_chord_name(quoted)]


def chord_spans(
    symbols: Sequence[tuple[float, str]], end: float
) -> list[tuple[float, float, str, tuple[int, ...]]]:
    """Chord symbols `(onset, name)`, in order, as what sounds: each chord's (onset, stop, name,
    voicing) from its onset until the next symbol's, the last until `end`. A name this does not
    know is left out (silence until the next); a span may be empty (stop <= onset)."""
    spans = []
    for k, (onset, name) in enumerate(symbols):
        if is_chord_name(name):
            stop = symbols[k + 1][0] if k + 1 < len(symbols) else end
            spans.append((onset, stop, name, chord_voicing(name)))
    return spans


def best_chord(pitch_classes: Iterable[int], bass: int | None = None) -> tuple[int, str] | None:
    """The chord sounding pitch classes make, as (root pitch class, quality): the triad or
    seventh (major "", minor "m", dominant seventh "7", minor seventh "m7", diminished "dim")
    whose tones cover the most of them and leave the fewest out; the bass's root wins ties.
    None if no chord covers a sounding root and its third."""
    sounding = set(pitch_classes)
    best: tuple[float, int, str] | None = None
    for root in sorted(sounding):
        if not {(root + 3) % 12, (root + 4) % 12} & sounding:
            continue
        for rank, (quality, steps) in enumerate(_NAMED):
            tones = {(root + s) % 12 for s in steps}
            covered = len(tones & sounding)
            score = covered - 1.5 * len(sounding - tones) - 0.25 * len(tones - sounding)
            score += 0.5 * (root == bass) - 0.01 * rank
            if best is None or score > best[0]:
                best = (score, root, quality)
    return None if best is None else (best[1], best[2])


def name_chord(
    pitch_classes: Iterable[int], bass: int | None = None, spell: str = ""
) -> str | None:
    """`best_chord` as a name (`"F#m"`); `spell`: root names to prefer (e.g. "F# Bb"), as the
    key writes its sharps or flats."""
    found = best_chord(pitch_classes, bass)
    return None if found is None else _root_name(found[0], spell) + found[1]


def _root_name(pc: int, spell: str) -> str:
    for name in spell.split():
        if _pc(name[0], name[1:2]) == pc:
            return name
    return _SHARP_NAMES[pc]


@dataclass(frozen=True)
class ChordGrid:
    """A chord cycle: bar k of a tune is given `bars[k % len(bars)]`."""

    bars: tuple[str, ...]
    name: str = ""  # "blues" when it was asked for by name

    def __post_init__(self) -> None:
        if not self.bars:
            raise MusicError("a chord grid needs at least one chord")
        if len(self.bars) > 64:
            raise MusicError(f"a chord grid of {len(self.bars)} bars is too long (at most 64)")
        for chord in self.bars:
            chord_pitch_classes(chord)

    @classmethod
    def parse(cls, text: str, key: str = "C") -> ChordGrid:
        """`"G C D7 G"` (one chord a bar; `|` between bars is allowed) or `"blues"`: the 12-bar
        blues in `key` (its tonic; a minor key's blues is still dominant sevenths)."""
        words = [w for w in re.split(r"[\s|]+", text.strip()) if w]
        if [w.lower() for w in words] == ["blues"]:
            return cls.blues(key)
        if not words:
            raise MusicError("no chords given; write e.g. --chords 'G C D7 G' or --chords blues")
        return cls(tuple(words))

    @classmethod
    def blues(cls, key: str = "C") -> ChordGrid:
        """The 12-bar blues in `key`: I7 ×4, IV7 ×2, I7 ×2, V7, IV7, I7 ×2."""
        match = re.match(r"^\s*([A-Ga-g])([#b]?)", key)
        if not match:
            raise MusicError(f"key {key!r} has no tonic to build a blues on")
        tonic = _pc(match.group(1), match.group(2))
        spell = _SPELLING.get(match.group(1).upper() + match.group(2), "")
        chords = tuple(_root_name((tonic + _DEGREES[d[:-1]]) % 12, spell) + "7" for d in BLUES)
        return cls(chords, "blues")

    def chord(self, bar: int) -> str:
        """The chord of the tune's bar `bar` (0-based, a pickup counts none)."""
        return self.bars[bar % len(self.bars)]

    def describe(self) -> str:
        return f"{self.name} ({' '.join(self.bars)})" if self.name else " ".join(self.bars)

    def to_json(self) -> dict[str, object]:
        return {"bars": list(self.bars), "name": self.name}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ChordGrid:
        bars = data.get("bars")
        if not isinstance(bars, Sequence) or isinstance(bars, str):
            raise MusicError("a chord grid's record needs 'bars', a list of chord names")
        return cls(tuple(str(b) for b in bars), str(data.get("name") or ""))


# roots as a key's blues spells them (flat keys write flats)
_SPELLING = {
    "F": "Bb",
    "Bb": "Bb Eb F",
    "Eb": "Eb Ab Bb",
    "Ab": "Ab Db Eb",
    "Db": "Db Gb Ab",
    "Gb": "Gb B Db",
}


def chord_prefix(grid: ChordGrid, counted: int, so_far: str) -> str:
    """What a grid writes before the models write bar `counted` (0-based; a pickup shares bar
    0's): the chord, as the chorale style writes it (`| "G7"d2 B2 ...`), after a line break every
    four bars, else a space (none where the text so far ends a line or a space)."""
    gap = " "
    if so_far.endswith(("\n", " ")):
        gap = ""
    elif counted % 4 == 0 and counted:
        gap = "\n"
    return f'{gap}"{grid.chord(counted)}"'
