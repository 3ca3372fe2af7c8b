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
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from conductor.generate import Conductor
from conductor.music import BarSplitter, TuneHeader, bar_notes, fits_meter, opens_section

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
    resampled: int = 0  # bars taken back because they did not fit the meter
    unfit: int = 0  # bars kept after `tries` resamples that still do not fit

    @property
    def body(self) -> str:
        return self.opening + self.written

    @property
    def text(self) -> str:
        """The whole tune as ABC, ending with one newline."""
        return self.header.text() + self.body.rstrip("\n") + "\n"


def compose(
    conductor: Conductor,
    weights_at: Callable[[int], Sequence[float]],
    header: TuneHeader,
    *,
    opening: str = "",
    bars: int | None = None,
    max_symbols: int = 2000,
    fit_meter: bool = True,
    tries: int = 200,
    on_bar: Callable[[str, list[str]], None] | None = None,
) -> Tune:
    """Generate one tune on stream 0: prime with `header` (+ `opening`), then sample until the
    tune ends, `bars` bars are complete, or `max_symbols` symbols are written.

    `weights_at(k)` gives the weights for the k-th symbol written (a schedule morphs the tune);
    `on_bar(symbols, by)` sees what was written up to the end of each bar once the bar is final
    (the symbols since the last call, and the style that wrote each).
    """
    conductor.prime("\n" + header.text() + opening)
    splitter = BarSplitter(header=header)
    splitter.feed(opening)
    tune = Tune(header, opening, "")
    written: list[str] = []
    names = conductor.names
    previous: str | None = None  # the last bar kept
    mark = (conductor.snapshot(), copy.deepcopy(splitter), 0)  # where the current bar began
    attempts = 0
    while len(written) < max_symbols:
        if bars is not None and splitter.bars >= bars:
            break
        result = conductor.step(weights_at(len(written)))
        symbol = conductor.ensemble.vocab.decode(result.symbols[:1].tolist())
        written.append(symbol)
        tune.by.append(result.by(names)[0])
        done = splitter.feed(symbol)
        for text, context in done:
            fits = fits_meter(bar_notes(text, context, 120.0), opens_section(text, previous))
            if fit_meter and not fits and attempts < tries:
                break
            tune.unfit += not fits
            if on_bar is not None:
                on_bar("".join(written[mark[2] :]), tune.by[mark[2] :])
            previous, attempts = text, 0
            mark = (conductor.snapshot(), copy.deepcopy(splitter), len(written))
        else:
            if splitter.ended:
                tune.ended = True
                break
            continue
        # The bar did not fit: back to where it began, and sample it again.
        snapshot, saved, start = mark
        conductor.restore(snapshot, rewind_random=False)
        splitter = copy.deepcopy(saved)
        del written[start:], tune.by[start:]
        attempts += 1
        tune.resampled += 1
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
