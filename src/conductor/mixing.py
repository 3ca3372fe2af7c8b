"""Mixers: N per-model next-symbol distributions + control weights → one distribution.

Both are pure functions `(log_probs [B, N, V], weights [B, N]) -> log_probs [B, V]`:

- `linear` — the paper's mixture, `rho = W pi / |W pi|_1`: weights must be >= 0 and are
  normalised to sum to 1. A symbol is likely if *any* heavily weighted style finds it likely.
- `product` — a log-linear product of experts, `log rho ∝ sum_i w_i log pi_i`. Weights are
  divided by the sum of the positive ones, so one style at weight 1 gives exactly that style and
  two at 0.5 give their geometric mean. A negative weight makes a style an anti-expert (as in
  DExperts): symbols it likes are pushed down. A symbol is likely only if *every* weighted style
  allows it, which keeps morphs between distant styles grammatical on both sides.

Models whose |weight| is below a threshold (default 5%, as in the paper) count as weight 0; the
engine does not run them at all (see `engine.py`).

Attribution answers "which style wrote this symbol": for `linear`, model i's share of the
symbol's probability, `w_i pi_i(x) / sum_j w_j pi_j(x)`; for `product`, its share of the
positive evidence for x in log space, `max(0, w_i (log pi_i(x) + log V))` normalised — how much
more than a uniform guess each weighted style supported x.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from conductor.errors import ConductorError

__all__ = [
    "DEFAULT_THRESHOLD",
    "MIXERS",
    "MixerName",
    "MixingError",
    "active_mask",
    "attribute",
    "check_weights",
    "linear",
    "linear_probs",
    "linear_shares",
    "mix",
    "normalised",
    "product",
    "thresholded",
]

MixerName = Literal["linear", "product"]
MIXERS: tuple[MixerName, ...] = ("linear", "product")
DEFAULT_THRESHOLD = 0.05


class MixingError(ConductorError):
    """Weights that cannot be mixed: NaN, infinite, all zero, negative for linear, wrong length."""


def check_weights(
    weights: torch.Tensor | Sequence[float], n_models: int, mixer: MixerName = "linear"
) -> torch.Tensor:
    """Weights as a float tensor [N] or [B, N], or a `MixingError` that says what is wrong."""
    if mixer not in MIXERS:
        raise MixingError(f"unknown mixer {mixer!r}; use one of {', '.join(MIXERS)}")
    w = torch.as_tensor(weights, dtype=torch.float32)
    if w.dim() not in (1, 2) or w.shape[-1] != n_models:
        given = int(w.shape[-1]) if w.dim() >= 1 else 1
        raise MixingError(
            f"got {given} weight{'s' * (given != 1)} for {n_models} "
            f"style{'s' * (n_models != 1)}; give one weight per style"
        )
    if not bool(torch.isfinite(w).all()):
        raise MixingError("weights must be finite numbers (got NaN or infinity)")
    if mixer == "linear" and bool((w < 0).any()):
        raise MixingError(
            "the linear mixer takes weights >= 0; use --mixer product for "
            "negative (anti-expert) weights"
        )
    if mixer == "product" and bool(((w > 0).sum(-1) == 0).any()):
        raise MixingError("the product mixer needs at least one positive weight")
    if bool((w.abs().sum(-1) == 0).any()):
        raise MixingError("all weights are zero; give at least one style a weight")
    return w


def _kept(weights: torch.Tensor, threshold: float) -> torch.Tensor:
    """bool [B, N]: |w| at or above `threshold` of its row's total |w|, or the row's largest."""
    w = weights.abs().reshape(-1, weights.shape[-1])  # [B, N]
    share = w / w.sum(-1, keepdim=True)  # [B, N]
    return (share >= threshold) | (share == share.amax(-1, keepdim=True))  # [B, N]


def active_mask(weights: torch.Tensor, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """Models that matter in some row [N] bool; the largest weight of a row always does."""
    return _kept(weights, threshold).any(0)  # [N]


def thresholded(weights: torch.Tensor, threshold: float) -> torch.Tensor:
    """weights [B, N] with those that do not matter (see `active_mask`) set to 0."""
    kept = _kept(weights, threshold).view_as(weights)
    return torch.where(kept, weights, torch.zeros_like(weights))


def normalised(weights: torch.Tensor) -> torch.Tensor:
    """weights [B, N] scaled to sum to 1 per row (the linear mixer's weights)."""
    return weights / weights.sum(-1, keepdim=True)


def linear_probs(probs: torch.Tensor, norm_weights: torch.Tensor) -> torch.Tensor:
    """`sum_i w_i pi_i` [B, V] from probs [B, N, V] and normalised weights [B, N]: one bmm.

    The generation loop uses this probability-space form; `torch.logsumexp` costs several
    times more per step at this size (it guards against infinities that cannot occur here).
    """
    return torch.bmm(norm_weights.unsqueeze(1), probs).squeeze(1)  # [B, V]


def _at(per_model: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
    """Each model's entry for each stream's symbol: per_model [B, N, V], symbols [B] → [B, N]."""
    index = symbols.view(-1, 1, 1).expand(-1, per_model.shape[1], 1)  # [B, N, 1]
    return per_model.gather(-1, index).squeeze(-1)  # [B, N]


def linear_shares(
    probs: torch.Tensor, norm_weights: torch.Tensor, symbols: torch.Tensor
) -> torch.Tensor:
    """`w_i pi_i(x) / sum_j w_j pi_j(x)` [B, N] for symbols x [B]."""
    evidence = norm_weights * _at(probs, symbols)  # [B, N]
    return evidence / evidence.sum(-1, keepdim=True)


def linear(log_probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """log of `sum_i w_i pi_i / sum_i w_i`: log_probs [B, N, V], weights [B, N] → [B, V]."""
    log_w = torch.log(normalised(weights)).unsqueeze(-1)  # [B, N, 1]; log 0 = -inf
    return torch.logsumexp(log_probs + log_w, dim=1)  # [B, V]


def product(log_probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """log_softmax of `sum_i w_i log pi_i` with w scaled so the positive weights sum to 1."""
    scale = weights.clamp(min=0).sum(-1, keepdim=True)  # [B, 1]
    w = (weights / scale).unsqueeze(-1)  # [B, N, 1]
    # A zero weight must not turn a -inf log-probability into NaN.
    terms = torch.where(w == 0, torch.zeros_like(log_probs), w * log_probs)  # [B, N, V]
    return torch.log_softmax(terms.sum(1), dim=-1)  # [B, V]


def mix(
    log_probs: torch.Tensor,
    weights: torch.Tensor,
    mixer: MixerName = "linear",
    threshold: float = 0.0,
) -> torch.Tensor:
    """Mix log_probs [B, N, V] with weights [N] or [B, N] (checked); → log_probs [B, V]."""
    w = check_weights(weights, log_probs.shape[1], mixer)
    w = w.expand(log_probs.shape[0], -1) if w.dim() == 1 else w  # [B, N]
    if threshold > 0:
        w = thresholded(w, threshold)
    return linear(log_probs, w) if mixer == "linear" else product(log_probs, w)


def attribute(
    log_probs: torch.Tensor,
    weights: torch.Tensor,
    symbols: torch.Tensor,
    mixer: MixerName = "linear",
) -> torch.Tensor:
    """Each model's share [B, N] (rows sum to 1) of the sampled symbols [B]."""
    w = weights.expand(log_probs.shape[0], -1) if weights.dim() == 1 else weights  # [B, N]
    chosen = _at(log_probs, symbols)  # [B, N]
    if mixer == "linear":
        evidence = w * chosen.exp()  # [B, N]; same as linear_shares, from weights
    else:
        log_v = math.log(log_probs.shape[-1])
        evidence = torch.nan_to_num((w * (chosen + log_v)).clamp_(min=0), posinf=0.0)  # [B, N]
    total = evidence.sum(-1, keepdim=True)  # [B, 1]
    if bool((total > 0).all()):
        return evidence / total
    # No style supported the symbol (every share is 0): credit the loudest style.
    loudest = (w.abs() == w.abs().amax(-1, keepdim=True)).float()  # [B, N]
    fallback = loudest / loudest.sum(-1, keepdim=True)
    safe_total = torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, evidence / safe_total, fallback)  # [B, N]
