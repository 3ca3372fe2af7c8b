"""Live playback of a generated tune: bars as they complete, timed notes, a playhead ahead of now.

A `Performance` follows the symbols a live session writes. Each completed bar is read (music21,
in the tune's context) into notes at the session's tempo and placed on a playback timeline:
right after the previous bar, or a short lead-in from now if playback has caught up. The session
stops generating while the music scheduled beyond now exceeds `ahead_bars` bars, so generation
runs ahead of playback by a bounded amount: the music never stalls, and a weight change is heard
within about `ahead_bars + 1` bars. A bar that cannot be read is skipped and counted, never fatal.

When the models end a tune (a blank line), the next one starts from the same header with the
next `X:` number, so a session plays tune after tune.

Bars that fit the meter (`fit_meter`, on for `serve --music`): a bar that does not last a bar of
its meter (a pickup or a section's end may be short), is not music (`well_formed`), or opens
with a bar line right after a section's (`doubles_bar_line`: abc2midi reads an empty bar), is
taken back (`Fed.retry`): the session returns the models to the bar's start, drops its symbols
unseen and writes it again, up to `LIVE_TRIES` times (the last stands). Nothing unfit is shown or
played, and a replay takes the same bars back at the same ticks.

A chord grid (`chords`, `serve --music --chords blues`): each tune cycles through it, a chord a
bar. The performer writes each bar's chord before the models write the bar (`Fed.then`: the
session primes it, as `compose` does); with fitting on, a bar with another chord is taken back,
and so (for half its tries, with `fit_chords`) is one whose strong-beat notes are not the
chord's. The pad morphs the melody's styles; the grid, the form, holds.

`Performance` is the ABC kind of `conductor.performer.Performer`: the session drives it through
that protocol only, and knows nothing of bars, headers or music21.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

from conductor.errors import ConductorError
from conductor.events import BarEvent
from conductor.music import (
    Bar,
    BarSplitter,
    ChordGrid,
    TuneHeader,
    bar_notes,
    chord_prefix,
    doubles_bar_line,
    fits_meter,
    keeps_to,
    opens_section,
    well_formed,
)
from conductor.performer import Fed

__all__ = ["LIVE_TRIES", "MusicOptions", "Performance", "ReadyBar"]

LEAD_IN = 0.15  # seconds between a bar being ready and playing it when playback had caught up
LIVE_TRIES = 30  # writes of a bar before one that does not fit stands (most fit in one or two)


@dataclass(frozen=True)
class MusicOptions:
    header: TuneHeader = field(default_factory=TuneHeader)
    tempo: float = 120.0  # quarter notes a minute
    ahead_bars: float = 1.0  # the most music scheduled beyond now, in bars
    fit_meter: bool = True  # take back bars that do not fit the meter, and write them again
    chords: ChordGrid | None = None  # the grid each tune cycles through, one chord a bar
    fit_chords: bool = True  # (with a grid and fitting) strong beats on the chord's tones

    def __post_init__(self) -> None:
        if not 10 <= self.tempo <= 600:
            raise ConductorError(f"tempo {self.tempo} is out of range: 10 to 600 quarters a minute")
        if not 0 < self.ahead_bars <= 16:
            raise ConductorError("ahead_bars must be more than 0 and at most 16")

    def to_json(self) -> dict[str, Any]:
        header = self.header
        return {
            "meter": header.meter,
            "unit": header.unit,
            "key": header.key,
            "title": header.title,
            "tempo": self.tempo,
            "ahead_bars": self.ahead_bars,
            "fit_meter": self.fit_meter,
            "chords": None if self.chords is None else self.chords.to_json(),
            "fit_chords": self.fit_chords,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MusicOptions:
        header = TuneHeader(data["meter"], data["unit"], data["key"], data.get("title"))
        fit = bool(data.get("fit_meter", False))  # records from before live fitting: none
        grid = ChordGrid.from_json(data["chords"]) if data.get("chords") else None
        fit_chords = bool(data.get("fit_chords", True))
        return cls(header, float(data["tempo"]), float(data["ahead_bars"]), fit, grid, fit_chords)


@dataclass(frozen=True)
class ReadyBar:
    """A bar read in the engine thread, to be placed on the timeline on the loop thread."""

    tune: int  # the X: number of its tune
    bar: Bar
    by: dict[str, float]  # each style's share of the bar's symbols


class Performance:
    """Bars from a symbol stream, and where each plays on a monotonic clock (seconds)."""

    kind: ClassVar[str] = "abc"

    def __init__(self, options: MusicOptions) -> None:
        self.options = options
        self.tune = 1  # the X: number of the tune being written
        self.splitter = BarSplitter(header=options.header)
        self.played = 0  # bars placed on the timeline
        self.skipped = 0  # bars that could not be read
        self.playhead_end = 0.0  # when the last placed bar stops sounding
        self.score: list[str] = []  # the current tune's bars so far, for a viewer joining late
        self.resampled = 0  # bars taken back because they did not fit
        self.unfit = 0  # bars that stood unfit after `LIVE_TRIES` tries
        self._writers: dict[str, int] = {}  # symbols of the bar in progress, per style
        self._bar_seconds = self._full_bar_seconds(options.header)
        self._written: list[str] = []  # the bar in progress, as written
        self._previous: tuple[str, str] | None = None  # the last bar kept: as read, as written
        self._tries = 0  # times the bar in progress was taken back
        self._chord: str | None = None  # the chord in force at the last kept bar's end
        self._counted = 0  # bars of this tune kept on the grid (a pickup counts none)
        self._opening = self._grid_prefix("\n")  # the first bar's chord, read with the header

    def _full_bar_seconds(self, header: TuneHeader) -> float:
        quarters = header.bar_quarters or 4
        return float(quarters) * 60.0 / self.options.tempo

    @classmethod
    def from_json(cls, options: dict[str, Any]) -> Performance:
        return cls(MusicOptions.from_json(options))

    def options_json(self) -> dict[str, Any]:
        return self.options.to_json()

    def prime_text(self) -> str:
        """What to prime the models with for the current tune: its header (and, on a grid, its
        first bar's chord, which the performer has read as written)."""
        return "\n" + self.options.header.text(self.tune) + self._opening

    def _grid_prefix(self, so_far: str) -> str:
        """The chord the grid writes before the next bar ("" without a grid), fed to the bar
        splitter as written."""
        if self.options.chords is None:
            return ""
        prefix = chord_prefix(self.options.chords, self._counted, so_far)
        self.splitter.feed(prefix)
        self._written = list(prefix)
        return prefix

    def feed(self, symbol: str, by: str = "") -> Fed:
        """Read one generated symbol and the style that wrote it: → the bars it completed
        (`ReadyBar`s: read, not yet placed), and whether it ended the tune (the caller then
        primes `prime_text()` for the next)."""
        self._writers[by] = self._writers.get(by, 0) + 1
        self._written.append(symbol)
        done = self.splitter.feed(symbol)
        ended = self.splitter.ended
        first = self.splitter.bars - len(done)
        read: list[Bar] = []
        chord = self._chord
        for k, (text, context) in enumerate(done):
            read.append(bar_notes(text, context, self.options.tempo, first + k, chord))
            chord = read[-1].chord
        if read and self.options.fit_meter and not self._fits(read):
            if self._tries < LIVE_TRIES:
                self._tries += 1
                self.resampled += 1
                return Fed(retry=True)  # the session restores the mark: this bar, again
            self.unfit += 1  # the last try stands
        shares: dict[str, float] = {}
        if done:  # the bar's writers, counted since the last bar ended
            total = sum(self._writers.values())
            shares = {name: round(n / total, 3) for name, n in self._writers.items() if name}
            self._writers = {}
            self.score = [*self.score, *(text for text, _ in done)][-64:]
            self._previous = (done[-1][0], "".join(self._written))
            self._written, self._tries = [], 0
            self._chord = chord
            self._counted += sum(not self._is_pickup(bar) for bar in read)
        bars = [ReadyBar(self.tune, bar, shares) for bar in read]
        if ended:
            self.restart()
            return Fed(bars, ended)
        then = self._grid_prefix(symbol) if done else ""
        return Fed(bars, ended, then=then)

    def _is_pickup(self, bar: Bar) -> bool:
        """A tune's short first bar: on a grid it shares the first bar's chord."""
        full = bar.header.bar_quarters
        return self._counted == 0 and full is not None and bar.ok and bar.exact_quarters < full

    def _fits(self, bars: list[Bar]) -> bool:
        """Whether bars just completed are music and last a bar of their meter each (and, on a
        grid, carry its chord and no other; with `fit_chords`, for half the tries, with every
        strong-beat note one of its tones)."""
        previous, before = self._previous or (None, "")
        if not well_formed("".join(self._written), before):
            return False
        grid = self.options.chords
        for bar in bars:
            if doubles_bar_line(bar.abc, previous):  # abc2midi: an empty bar after a section
                return False
            if not fits_meter(bar, opens_section(bar.abc, previous)):
                return False
            due = self.options.fit_chords and self._tries < LIVE_TRIES // 2
            if grid is not None and not keeps_to(bar, grid.chord(self._counted), due):
                return False
            previous = bar.abc
        return True

    @property
    def takes_back(self) -> bool:
        return self.options.fit_meter

    # what a snapshot holds: where the tune stands (the count of tries stays out of it)
    _MARKED = (
        "tune",
        "splitter",
        "score",
        "_writers",
        "_written",
        "_previous",
        "_chord",
        "_counted",
    )

    def snapshot(self) -> Any:
        """Where the tune stands (the session marks it to come back to)."""
        return copy.deepcopy({name: getattr(self, name) for name in self._MARKED})

    def restore(self, snapshot: Any) -> None:
        """Back to a `snapshot`: the symbols since are taken back (the count of tries stays)."""
        for name, value in copy.deepcopy(snapshot).items():
            setattr(self, name, value)

    def restart(self) -> None:
        """The history was reset: the next symbols are a new tune's body."""
        self.tune += 1
        self.splitter = BarSplitter(header=self.options.header)
        self.score = []
        self._written, self._previous, self._tries = [], None, 0
        self._chord, self._counted = None, 0
        self._opening = self._grid_prefix("\n")

    def to_json(self) -> dict[str, Any]:
        """Options and the tune so far, for a viewer that joins late."""
        return {
            **self.options.to_json(),
            "tune": self.tune,
            "resampled": self.resampled,
            "unfit": self.unfit,
            "grid_bar": self._counted,
            "score": {"header": self.splitter.header.text(self.tune), "bars": self.score},
        }

    def place(self, ready: ReadyBar, now: float) -> BarEvent:
        """Put a read bar on the timeline (loop thread): → the `bar` event players receive."""
        starts_in = self.schedule(ready.bar, now)
        return self.bar_event(ready.tune, ready.bar, starts_in, ready.by)

    def schedule(self, bar: Bar, now: float) -> float | None:
        """Put a read bar on the timeline: → seconds from `now` until it starts (None: skipped)."""
        if not bar.ok or bar.seconds <= 0:
            self.skipped += 1
            return None
        start = max(now + LEAD_IN, self.playhead_end)
        self.playhead_end = start + bar.seconds
        self._bar_seconds = self._full_bar_seconds(bar.header)  # a full bar of its meter
        self.played += 1
        return start - now

    def lead(self, now: float) -> float:
        """Seconds of music scheduled beyond `now`."""
        return max(0.0, self.playhead_end - now)

    def wait_before_next(self, now: float) -> float:
        """How long generation should wait so that it stays at most `ahead_bars` ahead."""
        return max(0.0, self.lead(now) - self.options.ahead_bars * self._bar_seconds)

    def bar_event(
        self, tune: int, bar: Bar, starts_in: float | None, by: dict[str, float] | None = None
    ) -> BarEvent:
        """The `bar` event viewers and players receive."""
        return BarEvent(
            tune=tune,
            index=bar.index,
            abc=bar.abc,
            header=bar.header.text(tune),
            ok=bar.ok,
            error=bar.error,
            starts_in=starts_in,
            seconds=bar.seconds,
            notes=bar.sounding,
            by=by or {},
            played=self.played,
            skipped=self.skipped,
        )
