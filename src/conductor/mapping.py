"""Control mappings: gestures and controller values → style weights.

The XY conducting pad: styles sit evenly around the unit circle, the first at the top, going
clockwise. A cursor at (x, y) in [-1, 1]² gives style i the weight `1 / d_i²` (inverse-distance,
Shepard's method, power 2), normalised to sum to 1: at a style's point that style alone; at the
centre all equally; in between, the nearer styles dominate smoothly.
"""

from __future__ import annotations

import math

__all__ = ["cc_to_weight", "pad_position", "xy_weights"]


def pad_position(index: int, count: int) -> tuple[float, float]:
    """Where style `index` of `count` sits on the pad (x right, y up)."""
    angle = math.pi / 2 - 2 * math.pi * index / count
    return math.cos(angle), math.sin(angle)


def xy_weights(x: float, y: float, count: int, power: float = 2.0) -> list[float]:
    """Weights (sum 1) for a cursor at (x, y); see the module doc."""
    if count < 1:
        raise ValueError("the pad needs at least one style")
    distances = [math.dist((x, y), pad_position(i, count)) for i in range(count)]
    nearest = min(range(count), key=distances.__getitem__)
    if distances[nearest] < 1e-6:
        return [1.0 if i == nearest else 0.0 for i in range(count)]
    inverse = [d**-power for d in distances]
    total = sum(inverse)
    return [v / total for v in inverse]


def cc_to_weight(value: int) -> float:
    """A MIDI control value 0..127 → a weight 0..1."""
    return max(0, min(127, value)) / 127
