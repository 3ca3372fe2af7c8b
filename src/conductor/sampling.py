"""Drawing the next symbol: temperature, Graves' bias, top-k, top-p, greedy, inverse-CDF draw.

Pure functions of `(log_probs, params, generator)`, so a seed fixes the stream. The draw is
`cumsum` + `searchsorted` on one uniform number per row: at vocabulary size 128 this is several
times cheaper than `torch.multinomial`, and it consumes exactly one random number per symbol,
which keeps seeded streams aligned however the distribution is shaped.

Order of operations on the mixed log-probabilities: Graves' bias (multiply by `1 + bias`, which
sharpens as bias grows: Graves 2013, §5.4), then temperature (divide by `T`; 0 is greedy), then
top-k, then top-p (the smallest set of symbols whose probability reaches p), then the draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from conductor.errors import ConductorError

__all__ = [
    "SamplingParams",
    "apply_temperature",
    "draw",
    "per_style_temperature",
    "sample",
    "sample_probs",
    "shape",
    "style_temperatures",
]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    bias: float = 0.0  # Graves' probability bias; 0 = off

    def __post_init__(self) -> None:
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ConductorError(
                f"temperature must be a finite number >= 0, not {self.temperature}"
            )
        if self.top_k < 0:
            raise ConductorError(f"top-k must be >= 0 (0 = off), not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ConductorError(f"top-p must be in (0, 1], not {self.top_p}")
        if not math.isfinite(self.bias) or self.bias < 0:
            raise ConductorError(f"bias must be a finite number >= 0, not {self.bias}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def apply_temperature(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """log_probs [..., V] sharpened (T < 1) or flattened (T > 1), renormalised; T = 0 unchanged."""
    if not math.isfinite(temperature) or temperature < 0:
        raise ConductorError(f"temperature must be a finite number >= 0, not {temperature}")
    if temperature == 0 or temperature == 1:
        return log_probs
    return torch.log_softmax(log_probs / temperature, dim=-1)  # [..., V]


def style_temperatures(temperatures: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Per-style temperatures [N] (finite, > 0; else an error) as [1, N, 1] to divide [B, N, V].

    Dividing a model's logits or its log-probabilities by T gives the same distribution once
    normalised, so the generation loop divides logits and normalises once.
    """
    temps = torch.as_tensor(temperatures, dtype=torch.float32).flatten()  # [N]
    if not bool(torch.isfinite(temps).all()) or bool((temps <= 0).any()):
        raise ConductorError("per-style temperatures must be finite numbers > 0")
    return temps.view(1, -1, 1)


def per_style_temperature(log_probs: torch.Tensor, temperatures: torch.Tensor) -> torch.Tensor:
    """Each model's distribution at its own temperature: log_probs [B, N, V], temps [N] (> 0)."""
    return torch.log_softmax(log_probs / style_temperatures(temperatures), dim=-1)  # [B, N, V]


def shape(log_probs: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """The distribution that will be sampled: log_probs [B, V] → log_probs [B, V]."""
    out = log_probs
    if params.bias:
        out = torch.log_softmax(out * (1 + params.bias), dim=-1)
    if params.greedy:
        best = out.argmax(-1, keepdim=True)  # [B, 1]
        return torch.full_like(out, -math.inf).scatter_(-1, best, 0.0)
    out = apply_temperature(out, params.temperature)
    if params.top_k and params.top_k < out.shape[-1]:
        kth = out.topk(params.top_k, dim=-1).values[..., -1:]  # [B, 1]
        out = torch.where(out < kth, torch.full_like(out, -math.inf), out)
    if params.top_p < 1:
        sorted_lp, order = out.sort(dim=-1, descending=True)  # [B, V]
        before = sorted_lp.exp().cumsum(-1) - sorted_lp.exp()  # mass of the better symbols
        drop_sorted = before >= params.top_p  # keeps at least the first symbol
        drop = torch.zeros_like(drop_sorted).scatter_(-1, order, drop_sorted)
        out = out.masked_fill(drop, -math.inf)
    if params.top_k or params.top_p < 1:
        out = torch.log_softmax(out, dim=-1)
    return out


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of probs [B, V] (unnormalised is fine) by inverse CDF → [B].

    The CDF is accumulated in float64 and the uniform draw scaled by its total, so the index
    found is the first whose CDF exceeds the draw: a symbol of zero probability is never drawn
    (short of a draw within 2^-53 of the total, where the index is clamped to the last symbol).
    """
    cdf = torch.cumsum(probs, dim=-1, dtype=torch.float64)  # [B, V]
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64)  # [B, 1]
    index = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)  # [B]
    return index.clamp_(max=probs.shape[-1] - 1)


def sample(
    log_probs: torch.Tensor,
    params: SamplingParams | float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Symbols [B] drawn from log_probs [B, V]; `params` may be just a temperature."""
    if not isinstance(params, SamplingParams):
        params = SamplingParams(temperature=float(params))
    shaped = shape(log_probs, params)
    if params.greedy:
        return shaped.argmax(dim=-1)  # [B]
    return draw(shaped.exp(), generator)


def sample_probs(
    probs: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Symbols [B] drawn from probabilities probs [B, V]: the same law as `sample` on their log.

    Without top-k or top-p, bias and temperature only raise the distribution to the power
    `(1 + bias) / T`, which `draw` takes unnormalised: no log, no softmax, one op at most.
    """
    if params.greedy:
        return probs.argmax(dim=-1)  # [B]
    if params.top_k or params.top_p < 1:
        return sample(probs.log(), params, generator)
    power = (1 + params.bias) / params.temperature
    if power == 1:
        return draw(probs, generator)
    # Divide by the row's largest first: at a low temperature p**power underflows to 0 for every
    # symbol of the row, while (p / max p)**power keeps the likeliest at exactly 1.
    return draw((probs / probs.amax(-1, keepdim=True)).pow_(power), generator)
