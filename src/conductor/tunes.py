"""Tune-aware generation: start from a header the user chooses, stop at the tune's end or N bars.

As folk-rnn's page does, the user picks the meter, unit length and key (and may give opening
bars); the ensemble is primed with that header, as the ABC corpora write one, and writes the
body. Generation stops when the models end the tune (a blank line, as between the corpora's
tunes), after `bars` complete bars, or at `max_symbols`.

Bars that fit the meter (`fit_meter`, on by default): when a bar ends, it is read (music21, in
the tune's context); a bar that does not last one bar of the meter (a pickup or a section's last
bar may be short) is taken back — the models return to their state at the bar's start, the
random stream goes on — and sampled again, up to `tries` (200) times; the last try stands if
none fits. Most bars fit at the first or second try; a style asked for a meter it rarely writes
(the German model in 3/4) may need dozens. The mixture itself is untouched: this is rejection
sampling of whole bars, the models' own bars, only the ones that count right.

A whole tune (`form`, a `TuneForm`: parts of so many bars, as a style's corpus writes them):
bars are counted into parts; a short first bar, the tune's pickup, counts in none, and a
repeated form writes its first part's repeat after it (`d|:`), so a repeat never plays it again;
later parts start on the beat, and every bar of every part is whole (abc2midi, the independent
reader, counts a pickup that a repeat returns to, or that a short closing bar does not make
whole, as a short bar; the corpora's own tunes often do both). Inside a part only plain bar
lines stand (a repeat, a double bar or an ending the models write there is resampled); the
part's last bar is closed by the form's bar line (`:|`, `||`, `|]`: the models' bar read again
with it, so they go on from what is on the page); the tune's last bar must end on the key's
tonic; a bar a line's end closes gets a bar line (music21 reads a line's end as one,
abc2midi does not); and a tune the models end before its form is taken back to the bar and
resampled.
Every bar must also be music (`well_formed`: no field line, no title written as notes). Each
bar gets `tries` samples for all of this. When none passes, the models have lost their way (a
2/4 tune written in bars of 4/4): the bar before is taken back and written again, and the bar
after it gets its tries anew (`MAX_BACKS` times a tune; a bar is shown, through `on_bar`, only
once the bar after it stands); past that the last try stands, counted unfit.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from conductor.generate import Conductor, ConductorSnapshot
from conductor.music import (
    Bar,
    BarSplitter,
    ChordGrid,
    TuneForm,
    TuneHeader,
    bar_notes,
    close_bar,
    doubles_bar_line,
    ends_tied,
    fits_meter,
    opens_section,
    plain_bar,
    tonic_pitch_class,
    well_formed,
)
from conductor.music.chords import chord_prefix
from conductor.music.harmony import keeps_to

__all__ = ["Tune", "compose"]


@dataclass
class Tune:
    """A generated tune: its header, the body the ensemble wrote, and who wrote each symbol."""

    header: TuneHeader
    opening: str  # bars the user gave, part of the body
    written: str  # what the ensemble wrote after them
    by: list[str] = field(default_factory=list)  # per written symbol: the style that wrote it
    bars: int = 0  # complete bars in the body
    ended: bool = False  # the models ended the tune themselves
    resampled: int = 0  # bars taken back because they did not fit the meter (or the form)
    unfit: int = 0  # bars kept after `tries` resamples that still do not fit
    backs: int = 0  # times no try of a bar fitted and the bar before it was written again
    form: TuneForm | None = None  # the form asked for
    counted: int = 0  # bars counted toward the form (a pickup is not)
    pickup: Fraction = Fraction(0)  # the tune's pickup, in quarters (0: it starts on the beat)

    @property
    def whole(self) -> bool:
        """Every part of the form asked for was written."""
        return self.form is not None and self.counted >= self.form.total_bars

    @property
    def body(self) -> str:
        return self.opening + self.written

    @property
    def text(self) -> str:
        """The whole tune as ABC, ending with one newline."""
        return self.header.text() + self.body.rstrip("\n") + "\n"


# How many times one tune may go back a bar when no try of a bar fits (each costs `tries`).
MAX_BACKS = 8


@dataclass
class _Mark:
    """Where the current bar began: what `compose` returns to when it samples the bar again."""

    snapshot: ConductorSnapshot  # after the bar's chord, which a grid wrote
    splitter: BarSplitter
    written: int  # symbols written before the bar (and before its chord)
    own: int = -1  # ... before the models' own symbols (after the chord; -1: `written`)

    def __post_init__(self) -> None:
        if self.own < 0:
            self.own = self.written


@dataclass(frozen=True)
class _Back:
    """A kept bar's start, and the tune's counts before it: what going back a bar restores."""

    mark: _Mark
    previous: str | None
    before: str
    counted: int
    pickup: Fraction
    unfit: int


def _ends_on(bar: Bar) -> int | None:
    """The pitch class of a bar's last note (a chord's lowest), None if it has no notes."""
    if not bar.notes:
        return None
    last = max(note.onset for note in bar.notes)
    return min(note.pitch for note in bar.notes if note.onset == last) % 12


def compose(
    conductor: Conductor,
    weights_at: Callable[[int], Sequence[float]],
    header: TuneHeader,
    *,
    opening: str = "",
    bars: int | None = None,
    form: TuneForm | None = None,
    max_symbols: int = 2000,
    fit_meter: bool = True,
    tries: int = 200,
    chords: ChordGrid | None = None,
    fit_chords: bool = True,
    on_bar: Callable[[str, list[str]], None] | None = None,
) -> Tune:
    """Generate one tune on stream 0: prime with `header` (+ `opening`), then sample until the
    tune ends, `bars` bars are complete, or `max_symbols` symbols are written; with a `form`,
    until its parts are written (see the module docs).

    `weights_at(k)` gives the weights for the k-th symbol written (a schedule morphs the tune);
    `on_bar(symbols, by)` sees what was written up to the end of each bar once the bar is final
    (the symbols since the last call, and the style that wrote each; "" for a bar line the form
    wrote).

    `chords` (a `ChordGrid`) imposes a chord on each bar (see `chord_prefix`): the models read
    it before they write the bar, and a bar that writes another chord is resampled; with
    `fit_chords`, for half its tries, so is a bar whose strong-beat notes are not all its chord's.
    """
    conductor.prime("\n" + header.text() + opening)
    splitter = BarSplitter(header=header)
    splitter.feed(opening)
    tune = Tune(header, opening, "", form=form)
    written: list[str] = []
    names = conductor.names
    previous: str | None = None  # the last bar kept
    before = ""  # ... as written (a tie may join its last note to the next bar's first)

    def with_chord(start: int) -> _Mark:
        """The mark of a bar about to be written: with a grid, its chord written first."""
        if chords is not None:
            prefix = chord_prefix(chords, tune.counted, "".join(written) or opening or "\n")
            conductor.prime(prefix)
            splitter.feed(prefix)
            written.extend(prefix)
            tune.by.extend([""] * len(prefix))
        return _Mark(conductor.snapshot(), copy.deepcopy(splitter), start, len(written))

    mark = with_chord(0)
    attempts = 0
    # The bar kept last, to write again when the bar after it cannot be written (the models
    # have lost the meter: no try fits), and its symbols, shown once the bar after it stands.
    back: _Back | None = None
    shown: tuple[str, list[str]] | None = None
    backs = 0
    while len(written) < max_symbols:
        if form is None and bars is not None and splitter.bars >= bars:
            break
        if form is not None and tune.counted >= form.total_bars:
            break
        result = conductor.step(weights_at(len(written)))
        symbol = conductor.ensemble.vocab.decode(result.symbols[:1].tolist())
        written.append(symbol)
        tune.by.append(result.by(names)[0])
        done = splitter.feed(symbol)
        retry = False
        for text, context in done:
            raw = "".join(written[mark.own :])
            opens = opens_section(text, previous)
            due = attempts < tries // 2  # half the tries for strong beats on the chord's tones
            judged = _judge(text, raw, before, context, opens, tune, form, fit_meter)
            if doubles_bar_line(text, previous):
                judged = replace(judged, ok=False)
            if chords is not None:
                judged = _on_grid(
                    judged, text, context, chords.chord(tune.counted), fit_chords and due
                )
            early = form is not None and splitter.ended and judged.counted < form.total_bars
            if (not judged.ok or early) and attempts < tries:
                retry = True  # the bar again (or the models ended the tune before its form)
                break
            if not judged.ok and back is not None and backs < MAX_BACKS:
                # no try fits: the bar before is written again, from where it began
                mark, previous, before = back.mark, back.previous, back.before
                tune.counted, tune.pickup, tune.unfit = back.counted, back.pickup, back.unfit
                back, shown, backs, attempts = None, None, backs + 1, -1
                tune.backs = backs
                retry = True
                break
            undo = _Back(mark, previous, before, tune.counted, tune.pickup, tune.unfit)
            tune.unfit += not judged.ok
            if judged.closing:  # the form closes a part: the bar again, with its bar line
                conductor.restore(mark.snapshot, rewind_random=False)
                splitter = copy.deepcopy(mark.splitter)
                closed = close_bar(raw, judged.closing)
                core = len(closed) - len(judged.closing)
                conductor.prime(closed)
                splitter.feed(closed)
                del tune.by[mark.own + core :]
                tune.by.extend([""] * len(judged.closing))
                written[mark.own :] = list(closed)
            tune.counted = judged.counted
            if judged.pickup is not None:
                tune.pickup = judged.pickup
            if on_bar is not None and shown is not None:
                on_bar(*shown)
            shown, back = ("".join(written[mark.written :]), tune.by[mark.written :]), undo
            previous, attempts = close_bar(text, judged.closing) if judged.closing else text, 0
            before = "".join(written[mark.written :])
            going_on = form is None or tune.counted < form.total_bars
            going_on = going_on and (form is not None or bars is None or splitter.bars < bars)
            mark = (
                with_chord(len(written))
                if going_on
                else _Mark(conductor.snapshot(), copy.deepcopy(splitter), len(written))
            )
        if not retry:
            if not splitter.ended:
                continue
            whole = form is None or tune.counted >= form.total_bars
            if whole or attempts >= tries:
                tune.ended = True
                break
            # the models ended the tune (or began another) before its form: the bar again
        # The bar did not fit: back to where it began, and sample it again.
        conductor.restore(mark.snapshot, rewind_random=False)
        splitter = copy.deepcopy(mark.splitter)
        del written[mark.own :], tune.by[mark.own :]  # (counts change only when kept)
        attempts += 1
        tune.resampled += 1
    if on_bar is not None and shown is not None:
        on_bar(*shown)
    if not splitter.ended:
        splitter.flush()
    text = "".join(written).rstrip("\n")
    last = text.rsplit("\n", 1)
    if len(last) == 2 and last[1].startswith("X:"):  # the next tune began without a blank line
        text = last[0].rstrip("\n")
    tune.written = text
    del tune.by[len(text) :]
    tune.bars = splitter.bars
    return tune


def _on_grid(judged: _Judged, text: str, context: TuneHeader, chord: str, fit: bool) -> _Judged:
    """A judged bar under a chord grid: it stands only if it keeps to the grid's chord
    (`keeps_to`; `fit`: its strong beats on the chord's tones too), read once with `_judge`."""
    bar = judged.bar if judged.bar is not None else bar_notes(text, context, 120.0)
    return replace(judged, ok=judged.ok and keeps_to(bar, chord, fit))


@dataclass(frozen=True)
class _Judged:
    ok: bool  # the bar may stand: it is music, fits its meter (when fitting) and the form
    counted: int  # bars counted toward the form once it stands
    closing: str = ""  # the bar line the form closes it with ("": the bar stays as written)
    pickup: Fraction | None = None  # it is the tune's pickup, this long in quarters
    bar: Bar | None = None  # the bar as read (with its closing bar line), if it was


def _judge(
    text: str,
    raw: str,
    before: str,
    context: TuneHeader,
    opens: bool,
    tune: Tune,
    form: TuneForm | None,
    fit_meter: bool,
) -> _Judged:
    """Whether a bar the models just wrote may stand (`text` as the splitter reads it, `raw` as
    written; `before`, the bar before it as written), and what the form makes of it. Without a
    form or fitting, every bar stands."""
    if form is None:
        if not fit_meter:
            return _Judged(True, tune.counted)
        bar = bar_notes(text, context, 120.0)
        return _Judged(well_formed(raw, before) and fits_meter(bar, opens), tune.counted, bar=bar)
    bar = bar_notes(text, context, 120.0)
    full = context.bar_quarters
    index = tune.counted % form.bars  # the bar's place in its part
    ok = well_formed(raw, before) and bar.ok
    if opens and bar.ok and full is not None and bar.quarters < full:
        # a pickup: the tune's first bar only, counted in no part; a repeated form writes its
        # part's repeat after it (`d|:`), so a repeat never plays it again and every part's
        # bars are whole (abc2midi counts a pickup a repeat returns to as a short bar)
        first = tune.counted == 0 and not tune.pickup
        ok = ok and first and plain_bar(text, may_open=False)
        ok = ok and (not fit_meter or fits_meter(bar, opens))
        closing = "|:" if form.repeat and first else ""
        return _Judged(ok, tune.counted, closing, pickup=bar.exact_quarters, bar=bar)
    if index < form.bars - 1:
        ok = (
            ok
            and plain_bar(text, may_open=index == 0 and form.repeat)
            and (not fit_meter or fits_meter(bar, opens))
        )
        # A line's end closes a bar for music21 (and the splitter), not for abc2midi: the form
        # writes the bar line, so every reader counts the same bars.
        line_end = text.endswith("\n") and not text.rstrip().endswith("|")
        return _Judged(ok, tune.counted + 1, "|\n" if line_end else "", bar=bar)
    closing = form.closing(tune.counted // form.bars)
    ok = ok and plain_bar(close_bar(text, "|"), may_open=index == 0 and form.repeat)
    ok = ok and not (closing.startswith((":", "|]")) and ends_tied(raw))  # no note to tie to
    bar = bar_notes(close_bar(text, closing.rstrip("\n")), context, 120.0)
    if tune.counted + 1 == form.total_bars:  # the tune's last bar ends on its tonic
        tonic = tonic_pitch_class(context.key)
        ok = ok and (tonic is None or _ends_on(bar) == tonic)
    if fit_meter and full is not None:  # a part's last bar is whole too
        ok = ok and bar.ok and bar.exact_quarters == full
    elif fit_meter:
        ok = ok and fits_meter(bar, True)
    return _Judged(ok, tune.counted + 1, closing, bar=bar)
