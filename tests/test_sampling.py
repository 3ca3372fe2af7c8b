from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.errors import ConductorError
from conductor.sampling import (
    SamplingParams,
    draw,
    per_style_temperature,
    sample,
    sample_probs,
    shape,
)

V = 32


def log_probs_from(seed: int, b: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(b, V, generator=g) * 2, dim=-1)


params_strategy = st.builds(
    SamplingParams,
    temperature=st.floats(0.05, 3.0),
    top_k=st.integers(0, V + 5),
    top_p=st.floats(0.05, 1.0),
    bias=st.floats(0.0, 3.0),
)


@settings(max_examples=200, deadline=None)
@given(params_strategy, st.integers(0, 10_000))
def test_shaped_distributions_are_valid(params: SamplingParams, seed: int) -> None:
    shaped = shape(log_probs_from(seed), params)
    probs = shaped.exp()
    torch.testing.assert_close(probs.sum(-1), torch.ones(4), atol=1e-5, rtol=0)
    assert not torch.isnan(shaped).any()
    if params.top_k:
        assert int((probs > 0).sum(-1).max()) <= params.top_k
    symbols = sample(log_probs_from(seed), params, torch.Generator().manual_seed(seed))
    assert bool((probs.gather(-1, symbols.unsqueeze(-1)) > 0).all())  # never a dropped symbol


@given(st.integers(0, 10_000))
def test_temperature_towards_zero_is_greedy(seed: int) -> None:
    lp = log_probs_from(seed)
    greedy = sample(lp, SamplingParams(temperature=0))
    assert torch.equal(greedy, lp.argmax(-1))
    cold = sample(lp, SamplingParams(temperature=1e-4), torch.Generator().manual_seed(seed))
    assert torch.equal(cold, greedy)


@given(st.integers(0, 10_000), params_strategy)
def test_same_seed_same_stream(seed: int, params: SamplingParams) -> None:
    lp = log_probs_from(seed)
    a = [sample(lp, params, g) for g in [torch.Generator().manual_seed(seed)] for _ in range(5)]
    b = [sample(lp, params, g) for g in [torch.Generator().manual_seed(seed)] for _ in range(5)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 10_000),
    st.floats(0.05, 3.0),
    st.floats(0.0, 3.0),
    st.sampled_from([(0, 1.0), (5, 1.0), (0, 0.7)]),
)
def test_sampling_probabilities_follows_the_same_law_as_sampling_log_probabilities(
    seed: int, temperature: float, bias: float, cut: tuple[int, float]
) -> None:
    """`sample_probs(p)` (power, no logs) draws from exactly `shape(log p)`'s distribution."""
    params = SamplingParams(temperature=temperature, bias=bias, top_k=cut[0], top_p=cut[1])
    lp = log_probs_from(seed, b=1).double()  # [1, V]
    expected = shape(lp, params).exp()  # [1, V]
    draws = 4000
    picks = sample_probs(
        lp.exp().expand(draws, V).float(), params, torch.Generator().manual_seed(seed)
    )
    freq = torch.bincount(picks, minlength=V).double() / draws
    # Every draw is a symbol the shaped law allows; frequencies match it (4000 draws: ±0.035).
    assert bool((expected[0, picks] > 0).all())
    torch.testing.assert_close(freq, expected[0], atol=0.035, rtol=0)


def test_sampling_probabilities_greedy_and_seeded() -> None:
    probs = torch.softmax(torch.randn(3, V, generator=torch.Generator().manual_seed(0)), -1)
    assert torch.equal(sample_probs(probs, SamplingParams(temperature=0)), probs.argmax(-1))
    runs = [
        [sample_probs(probs, SamplingParams(), g) for _ in range(5)]
        for g in (torch.Generator().manual_seed(4), torch.Generator().manual_seed(4))
    ]
    assert all(torch.equal(x, y) for x, y in zip(*runs, strict=True))


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = shape(probs.log(), SamplingParams(top_p=0.7)).exp()
    torch.testing.assert_close(kept, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    kept = shape(probs.log(), SamplingParams(top_p=0.45)).exp()
    torch.testing.assert_close(kept, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))


def test_bias_sharpens_like_graves() -> None:
    lp = log_probs_from(3, 1)
    biased = shape(lp, SamplingParams(bias=1.0))
    torch.testing.assert_close(biased, torch.log_softmax(lp * 2, dim=-1))
    entropy = lambda x: float(-(x.exp() * x).sum())  # noqa: E731
    assert entropy(biased) < entropy(lp)


def test_draw_matches_the_distribution() -> None:
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2]).expand(20_000, 4)
    picks = draw(probs, torch.Generator().manual_seed(0))
    counts = torch.bincount(picks, minlength=4).float() / 20_000
    assert counts[1] == 0
    torch.testing.assert_close(counts, torch.tensor([0.5, 0.0, 0.3, 0.2]), atol=0.015, rtol=0)


def test_draw_never_returns_a_trailing_zero_probability_symbol() -> None:
    probs = torch.tensor([[0.0, 1.0, 0.0, 0.0]]).expand(5000, 4)
    assert bool((draw(probs, torch.Generator().manual_seed(1)) == 1).all())


def test_per_style_temperature_applies_per_model() -> None:
    lp = torch.log_softmax(torch.randn(2, 3, V), dim=-1)
    out = per_style_temperature(lp, torch.tensor([1.0, 0.5, 2.0]))
    torch.testing.assert_close(out[:, 0], lp[:, 0])
    torch.testing.assert_close(out[:, 1], torch.log_softmax(lp[:, 1] / 0.5, dim=-1))
    with pytest.raises(ConductorError):
        per_style_temperature(lp, torch.tensor([1.0, 0.0, 1.0]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": -1},
        {"temperature": math.nan},
        {"top_k": -2},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"bias": -0.1},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConductorError):
        SamplingParams(**kwargs)  # type: ignore[arg-type]
