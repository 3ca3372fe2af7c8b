"""A tune's form, as a player sees it on the page: how many bars, parts and repeats, and whether
it ends on its tonic.

- bars: full or partial bars with notes in them (split as `BarSplitter` splits them);
- parts: sections closed by a repeat (`:|`, `::`), a double bar (`||`) or a final bar (`|]`),
  and a last section left open at the end of the tune; a repeat followed by a second ending
  (`:|2`, `:|[2`) closes a first ending, not the part;
- repeats: repeat signs (`:|`, `::`), a first ending's included (its part is played twice);
- final: the pitch class of the last note music21 reads, and the key's tonic (the letter of
  `K:` with its accidental, whatever the mode: `K:Ador` ends well on A).

`TuneForm` is the form a generated tune is asked to have (`conductor.tunes.compose`): parts of so
many bars, each closed by a repeat or a double bar. `corpus_form` measures a style's norm from its
corpus (the most common number of parts; the median bars a part, in phrases of four bars; repeats
when most tunes have them), and a style's record carries it.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conductor.music.bars import BarSplitter, playable, tune_body
from conductor.music.header import MusicError, TuneHeader
from conductor.music.timing import parse_abc

__all__ = ["Form", "TuneForm", "corpus_form", "tonic_pitch_class", "tune_form"]

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


def _counts(tune: str) -> tuple[TuneHeader, int, int, int]:
    """A tune's header, bars, parts and repeats (text only: nothing is read as music)."""
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
    return header, count, parts, len(_REPEAT.findall(body))


def tune_form(tune: str) -> Form:
    """The form of one ABC tune (header included)."""
    header, bars, parts, repeats = _counts(tune)
    return Form(bars, parts, repeats, _final_pitch_class(tune), tonic_pitch_class(header.key))


MAX_PARTS = 16
MAX_PART_BARS = 64


@dataclass(frozen=True)
class TuneForm:
    """The form asked of a generated tune: `parts` parts of `bars` bars, each closed by a repeat
    (`:|`) when `repeat`, else by a double bar (`||`, the last by `|]`); a pickup is not counted."""

    parts: int = 2
    bars: int = 8
    repeat: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.parts <= MAX_PARTS:
            raise MusicError(f"a tune has 1 to {MAX_PARTS} parts, not {self.parts}")
        if not 1 <= self.bars <= MAX_PART_BARS:
            raise MusicError(f"a part has 1 to {MAX_PART_BARS} bars, not {self.bars}")

    @property
    def total_bars(self) -> int:
        return self.parts * self.bars

    def closing(self, part: int) -> str:
        """The bar line that closes part `part` (0-based), with the line break after it."""
        last = part == self.parts - 1
        if self.repeat:
            return ":|" if last else ":|\n"
        return "|]" if last else "||\n"

    def describe(self) -> str:
        closed = "repeated" if self.repeat else "not repeated"
        return f"{self.parts} part{'s' * (self.parts != 1)} of {self.bars} bars, {closed}"

    def to_json(self) -> dict[str, Any]:
        return {"parts": self.parts, "bars": self.bars, "repeat": self.repeat}

    @classmethod
    def from_json(cls, data: Any) -> TuneForm:
        """A form from a style's record; a `MusicError` if it is not one."""
        try:
            return cls(int(data["parts"]), int(data["bars"]), bool(data["repeat"]))
        except (KeyError, TypeError, ValueError) as error:
            raise MusicError(f"not a tune form: {data!r}") from error


def corpus_form(tunes: Iterable[str]) -> TuneForm:
    """A style's norm, from its corpus's tunes: the most common number of parts, the median bars
    a part rounded to whole phrases of four bars (a pickup or a second ending adds a bar to a
    part of eight), and repeats when at least half the tunes have one."""
    parts: Counter[int] = Counter()
    per_part: list[float] = []
    repeated = total = 0
    for tune in tunes:
        _, bars, count, repeats = _counts(tune)
        if not bars or not count:
            continue
        total += 1
        parts[count] += 1
        per_part.append(bars / count)
        repeated += repeats > 0
    if not total:
        raise MusicError("no tunes with bars to measure a form from")
    bars = max(4, min(MAX_PART_BARS, 4 * round(statistics.median(per_part) / 4)))
    return TuneForm(min(MAX_PARTS, parts.most_common(1)[0][0]), bars, repeated * 2 >= total)


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
