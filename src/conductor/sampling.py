"""Drawing the next symbol from a distribution: temperature and an inverse-CDF draw.

A pure function of `(log_probs, params, generator)`, so a seed fixes the stream. The draw is
`cumsum` + `searchsorted` on one uniform number per row: at vocabulary size 128 this is several
times cheaper than `torch.multinomial`, and it consumes exactly one random number per symbol.
"""

from __future__ import annotations

import math

import torch

from conductor.errors import ConductorError

__all__ = ["apply_temperature", "draw", "sample"]


def apply_temperature(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """log_probs [..., V] sharpened (T < 1) or flattened (T > 1), renormalised."""
    if not math.isfinite(temperature) or temperature < 0:
        raise ConductorError(f"temperature must be a finite number >= 0, not {temperature}")
    if temperature == 0:
        return log_probs  # greedy: `sample` takes the argmax
    return torch.log_softmax(log_probs / temperature, dim=-1)  # [..., V]


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of probs [B, V] by inverse CDF → [B]."""
    cdf = torch.cumsum(probs, dim=-1)  # [B, V]
    u = torch.rand(probs.shape[0], 1, generator=generator) * cdf[:, -1:]  # [B, 1]
    index = torch.searchsorted(cdf, u, right=True).squeeze(-1)  # [B]
    return index.clamp_(max=probs.shape[-1] - 1)


def sample(
    log_probs: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Symbols [B] drawn from log_probs [B, V] at `temperature` (0 = greedy)."""
    if temperature == 0:
        return log_probs.argmax(dim=-1)  # [B]
    return draw(apply_temperature(log_probs, temperature).exp(), generator)
