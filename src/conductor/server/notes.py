"""One note scheduler for every player that sounds a placed bar (OSC out, MIDI out).

A `bar` event says when its bar starts (`starts_in` seconds from now) and when each note sounds
within it. `schedule_notes` puts each note's start, and optionally its release, on the running
event loop; the players only say how to start and release a note on their wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from conductor.events import BarEvent
from conductor.notes import Note

__all__ = ["HOLD", "schedule_notes"]

HOLD = 0.95  # the share of its written length a note is held: a breath between notes


def schedule_notes(
    event: BarEvent,
    start: Callable[[Note], None],
    release: Callable[[Note], None] | None = None,
    hold: float = HOLD,
) -> int:
    """`start(note)` when each note of the bar sounds and `release(note)` after `hold` of its
    length, on the running loop: → how many notes were scheduled (0 for a bar not played)."""
    if event.starts_in is None:
        return 0  # a bar that could not be read is not played
    loop = asyncio.get_running_loop()
    for note in event.notes:
        at = event.starts_in + note.onset
        loop.call_later(at, start, note)
        if release is not None:
            loop.call_later(at + note.duration * hold, release, note)
    return len(event.notes)
