"""Performers: what a session's symbols mean beside the text (a tune, today), behind one protocol.

The session knows text; a performer knows a domain. It reads every generated symbol, makes
events of its own out of them (a bar of notes), places them on a playback timeline, and tells
the session's clock how long to wait so that generation stays a bounded amount ahead of playback.
The session holds one (`serve --music`: the ABC performer, `conductor.performance`) and never
looks inside it or its events:

- `prime_text()`: what the models read to begin a piece, and again after each;
- `feed(symbol, by)` (engine thread): one generated symbol and the style that wrote it → what it
  completed, ready to be placed (opaque to the session), and whether it ended the piece (the
  session then primes `prime_text()`), or that it takes back what was written since the last
  item it kept (`retry`: a bar that does not fit its meter), and what it writes itself before
  the models go on (`then`: a chord grid's next chord; the session primes it, and shows it);
- `takes_back`: whether it may (then the session holds each symbol's step event until the item
  it belongs to is kept, and shows nothing it takes back); `snapshot()` / `restore(snapshot)`:
  its own state where the session marks a point to come back to (each kept item, each prime);
- `place(ready, now)` (loop thread): put one ready item on the timeline → the event the sinks
  receive;
- `wait_before_next(now)`: seconds the clock should wait before the next symbol (0: none);
- `restart()`: the history was reset; the next symbols begin a new piece;
- `to_json()`: the options and the piece so far, for a viewer that joins late;
- `options_json()`: what rebuilds an equal performer, for a record's header and `replay`.

A new domain is a corpus recipe, a performer and a renderer: `register(kind, factory)` makes
its records replayable; the shipped kinds are imported only when a record names them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from conductor.errors import ConductorError
from conductor.events import Event

__all__ = ["Fed", "Performer", "performer_from_json", "performer_to_json", "register"]


@dataclass(frozen=True)
class Fed:
    """What one symbol completed: items to place, in order, and whether the piece ended."""

    ready: list[Any] = field(default_factory=list)
    ended: bool = False
    retry: bool = False  # take back the symbols since the last mark, and write them again
    then: str = ""  # text the performer writes next (a grid's chord): the models read it


@runtime_checkable
class Performer(Protocol):
    kind: ClassVar[str]  # the name a record knows it by ("abc")

    def prime_text(self) -> str: ...

    def feed(self, symbol: str, by: str) -> Fed: ...

    def place(self, ready: Any, now: float) -> Event: ...

    def wait_before_next(self, now: float) -> float: ...

    def restart(self) -> None: ...

    @property
    def takes_back(self) -> bool: ...

    def snapshot(self) -> Any: ...

    def restore(self, snapshot: Any) -> None: ...

    def to_json(self) -> dict[str, Any]: ...

    def options_json(self) -> dict[str, Any]: ...


Factory = Callable[[dict[str, Any]], Performer]

# kind → factory, or "module:attribute" imported when a record first names the kind
_FACTORIES: dict[str, Factory | str] = {"abc": "conductor.performance:Performance.from_json"}


def register(kind: str, factory: Factory) -> None:
    """Make records of performers of `kind` replayable: `factory(options)` rebuilds one."""
    _FACTORIES[kind] = factory


def performer_to_json(performer: Performer) -> dict[str, Any]:
    """A record header's description of `performer`."""
    return {"kind": performer.kind, "options": performer.options_json()}


def performer_from_json(data: dict[str, Any]) -> Performer:
    """The performer a record header describes (`performer_to_json`)."""
    kind = data.get("kind")
    factory = _FACTORIES.get(str(kind))
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise ConductorError(f"no performer of kind {kind!r} (known: {known})")
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        target: Any = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
        _FACTORIES[str(kind)] = target
        factory = target
    made: Performer = factory(dict(data.get("options") or {}))
    return made
