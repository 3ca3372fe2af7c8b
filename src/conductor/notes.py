"""A note on a timeline: what every performer's events carry and every player sounds.

Domain-neutral on purpose: the ABC reader makes them, the `bar` event carries them, and the OSC,
MIDI and browser players schedule them, without any of those knowing ABC.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Note"]


@dataclass(frozen=True)
class Note:
    """One sounding note: MIDI pitch and velocity, onset and duration in seconds from the start of
    the bar (or whatever unit of music carries it)."""

    pitch: int
    velocity: int
    onset: float
    duration: float

    def to_json(self) -> list[float | int]:
        return [self.pitch, self.velocity, round(self.onset, 4), round(self.duration, 4)]
