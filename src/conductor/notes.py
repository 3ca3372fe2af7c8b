"""A note on a timeline: what every performer's events carry and every player sounds.

Domain-neutral on purpose: the ABC reader makes them, the `bar` event carries them, and the OSC,
MIDI and browser players schedule them, without any of those knowing ABC.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACCOMPANIMENT", "MELODY", "Note"]

MELODY = 0
ACCOMPANIMENT = 1


@dataclass(frozen=True)
class Note:
    """One sounding note: MIDI pitch and velocity, onset and duration in seconds from the start of
    the bar (or whatever unit of music carries it), and its voice: `MELODY` (0) or
    `ACCOMPANIMENT` (1: the chords under it), which players may sound apart."""

    pitch: int
    velocity: int
    onset: float
    duration: float
    voice: int = 0

    def to_json(self) -> list[float | int]:
        """`[pitch, velocity, onset, duration, voice]`."""
        return [
            self.pitch,
            self.velocity,
            round(self.onset, 4),
            round(self.duration, 4),
            self.voice,
        ]
