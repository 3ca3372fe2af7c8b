"""A tune's form, as a player sees it on the page: how many bars, parts and repeats, and whether
it ends on its tonic.

- bars: full or partial bars with notes in them (split as `BarSplitter` splits them);
- parts: sections closed by a repeat (`:|`, `::`), a double bar (`||`) or a final bar (`|]`),
  and a last section left open at the end of the tune; a repeat followed by a second ending
  (`:|2`, `:|[2`) closes a first ending, not the part;
- repeats: repeat signs (`:|`, `::`), a first ending's included (its part is played twice);
- final: the pitch class of the last note music21 reads, and the key's tonic (the letter of
  `K:` with its accidental, whatever the mode: `K:Ador` ends well on A).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conductor.music.bars import BarSplitter, playable, tune_body
from conductor.music.header import MusicError, TuneHeader
from conductor.music.timing import parse_abc

__all__ = ["Form", "tonic_pitch_class", "tune_form"]

_SECTION_END = re.compile(r"(:\||::|\|\||\|\])(?!\s*\[?2)")
_REPEAT = re.compile(r":\||::")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Form:
    bars: int
    parts: int
    repeats: int
    final: int | None  # pitch class of the last note (None: music21 found none)
    tonic: int | None  # pitch class of the key's tonic (None: K:none and the like)

    @property
    def ends_on_tonic(self) -> bool:
        return self.final is not None and self.final == self.tonic


def tonic_pitch_class(key: str) -> int | None:
    """The tonic of an ABC key (`D`, `Gm`, `Ador`, `Bb`, `F#m`) as a pitch class 0–11."""
    key = key.strip()
    if not key or key[0].upper() not in _PITCH_CLASS:
        return None
    pitch = _PITCH_CLASS[key[0].upper()]
    if key[1:2] == "#":
        pitch += 1
    elif key[1:2] == "b":
        pitch -= 1
    return pitch % 12


def tune_form(tune: str) -> Form:
    """The form of one ABC tune (header included)."""
    try:
        header = TuneHeader.parse(tune)
    except MusicError:
        header = TuneHeader()
    body = tune_body(tune)
    bars = BarSplitter(header=header).feed(body + "\n\n")
    count = sum(1 for text, _ in bars if playable(text))
    ends = list(_SECTION_END.finditer(body))
    tail = body[ends[-1].end() :] if ends else body
    open_end = bool(re.search(r"[A-Ga-g]", playable(tail)))
    parts = len(ends) + (1 if open_end else 0)
    repeats = len(_REPEAT.findall(body))
    return Form(count, parts, repeats, _final_pitch_class(tune), tonic_pitch_class(header.key))


def _final_pitch_class(tune: str) -> int | None:
    try:
        notes = parse_abc(tune).flatten().notes
    except MusicError:
        return None
    if not len(notes):
        return None
    last = notes[-1]
    pitches = getattr(last, "pitches", ())
    if not pitches:
        return None
    return int(min(pitches).pitchClass)  # a chord: its lowest note
