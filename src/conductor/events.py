"""The events a session sends its viewers, players and files: one typed class each.

Every event has one `to_json` (the protocol's shape, `"type"` first) and `json_text`, made once
however many viewers ask. `serve` (WebSocket, record) and `generate --json` write the same step
shape: `{"type": "step", "i", "symbol", "by", "weights": {style: w}, "attribution": {style: a}}`.
A step's distributions (`dists`) are made from the step only when a viewer wants them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from conductor.generate import Steps
from conductor.notes import Note
from conductor.vocab import Vocab

__all__ = [
    "BarEvent",
    "DistsEvent",
    "ErrorEvent",
    "Event",
    "InputEvent",
    "PrimeEvent",
    "ResetEvent",
    "Sink",
    "StateEvent",
    "StepEvent",
]


def _round(values: Sequence[float], digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


class _Event:
    """`json_text` caches the JSON of `to_json` (events are not changed once made)."""

    _text: str | None = None

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - every event overrides it
        raise NotImplementedError

    def json_text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self.to_json())
        return self._text


@dataclass(eq=False)
class StepEvent(_Event):
    """One generated symbol and what the ensemble thought (stream 0 of the conductor)."""

    i: int
    symbol: str
    by: str
    names: Sequence[str]  # the styles, in ensemble order
    weights: list[float]  # the weights in force, per style
    attribution: list[float]  # each style's share of this symbol
    steps: Steps = field(repr=False)  # the tensors, for `dists`
    ahead: str | None = None  # with search on: the chosen path's next symbols (its foresight)
    _dists: DistsEvent | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_steps(
        cls, steps: Steps, names: Sequence[str], symbol: str, vocab: Vocab | None = None
    ) -> StepEvent:
        """Stream 0 of one engine step (its foresight decoded with `vocab`, if it has one)."""
        ahead = None
        if steps.foresight is not None and vocab is not None:
            ahead = vocab.decode(steps.foresight[0].tolist())
        return cls(
            i=steps.step,
            symbol=symbol,
            by=steps.by(names)[0],
            names=names,
            weights=steps.weights[0].tolist(),
            attribution=steps.attribution[0].tolist(),
            steps=steps,
            ahead=ahead,
        )

    def to_json(self) -> dict[str, Any]:
        step = {
            "type": "step",
            "i": self.i,
            "symbol": self.symbol,
            "by": self.by,
            "weights": dict(zip(self.names, _round(self.weights), strict=True)),
            "attribution": dict(zip(self.names, _round(self.attribution), strict=True)),
        }
        if self.ahead is not None:
            step["ahead"] = self.ahead
        return step

    def dists(self) -> DistsEvent:
        """What every model and the mix predicted at this step (made once, on demand)."""
        if self._dists is None:
            per_model = torch.softmax(self.steps.scaled_logits[0], dim=-1)  # [N, V]
            mixed = self.steps.mixed[0].exp()  # [V]
            ran = [weight != 0.0 for weight in self.weights]  # a 0 in force: not run
            self._dists = DistsEvent(self.i, mixed, per_model, ran)
        return self._dists


@dataclass(eq=False)
class DistsEvent(_Event):
    """A step's mixed distribution and each model's, as probabilities. A style the threshold
    skipped made no distribution: its row is `null` in JSON (a uniform row would look like a
    model that knows nothing)."""

    i: int
    mixed: torch.Tensor  # [V]
    per_model: torch.Tensor  # [N, V] (a skipped style's row is uniform: it did not run)
    ran: list[bool] | None = None  # per style: whether it ran this step (None: all did)

    def to_json(self) -> dict[str, Any]:
        rows = _rounded(self.per_model)
        if self.ran is not None:
            rows = [row if ran else None for row, ran in zip(rows, self.ran, strict=True)]
        return {"type": "dists", "i": self.i, "mixed": _rounded(self.mixed), "per_model": rows}


def _rounded(values: torch.Tensor) -> Any:
    """Probabilities to 4 decimals as nested lists (small JSON; rounding in one tensor op)."""
    return (values.double() * 1e4).round().div(1e4).tolist()


@dataclass(eq=False)
class StateEvent(_Event):
    """The control state (after a change, or as the reply to `get`, with its `id`)."""

    state: dict[str, Any]
    id: str | int | None = None

    def to_json(self) -> dict[str, Any]:
        reply: dict[str, Any] = {"type": "state", "state": self.state}
        if self.id is not None:
            reply["id"] = self.id
        return reply


@dataclass(eq=False)
class PrimeEvent(_Event):
    """Text fed to every model at step `i` (it is part of the history, not generated)."""

    text: str
    i: int

    def to_json(self) -> dict[str, Any]:
        return {"type": "prime", "text": self.text, "i": self.i}


@dataclass(eq=False)
class ResetEvent(_Event):
    """Every model's state was reset at step `i`."""

    i: int

    def to_json(self) -> dict[str, Any]:
        return {"type": "reset", "i": self.i}


@dataclass(eq=False)
class ErrorEvent(_Event):
    """A refused command or message: one line that says what is wrong."""

    message: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "error", "message": self.message}


@dataclass(eq=False)
class InputEvent(_Event):
    """The latest input vector for the learnt mapping (at most at display rate), so every
    surface can draw what the mapping sees, and the weights it gives, if it runs."""

    values: list[float]
    weights: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": "input", "values": _round(self.values), "weights": self.weights}


@dataclass(eq=False)
class BarEvent(_Event):
    """A bar of a tune, placed on the playback timeline: players sound each note at
    `starts_in + onset` seconds from when they receive it (`starts_in` None: not played)."""

    tune: int
    index: int
    abc: str
    header: str
    ok: bool
    error: str | None
    starts_in: float | None
    seconds: float
    notes: tuple[Note, ...]  # onsets from the bar's start
    by: dict[str, float]  # each style's share of the bar's symbols
    played: int  # bars played so far in the session
    skipped: int  # bars that could not be read

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "bar",
            "tune": self.tune,
            "by": self.by,
            "index": self.index,
            "abc": self.abc,
            "header": self.header,
            "ok": self.ok,
            "error": self.error,
            "starts_in": None if self.starts_in is None else round(self.starts_in, 4),
            "seconds": round(self.seconds, 4),
            "notes": [note.to_json() for note in self.notes],
            "played": self.played,
            "skipped": self.skipped,
        }


Event = (
    StepEvent | DistsEvent | StateEvent | PrimeEvent | ResetEvent | ErrorEvent | BarEvent
    | InputEvent
)  # fmt: skip
Sink = Callable[[Event], None]
