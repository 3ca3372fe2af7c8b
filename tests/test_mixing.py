from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.mixing import (
    MixingError,
    active_mask,
    attribute,
    check_weights,
    linear,
    linear_probs,
    linear_shares,
    mix,
    normalised,
    product,
    thresholded,
)

V = 16


def random_log_probs(seed: int, b: int, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(b, n, V, generator=g) * 3, dim=-1)


weights_strategy = st.lists(st.floats(0.0, 10.0), min_size=1, max_size=6).filter(
    lambda w: sum(w) > 1e-3
)


@settings(max_examples=200, deadline=None)
@given(weights_strategy, st.integers(0, 10_000), st.sampled_from(["linear", "product"]))
def test_mixtures_are_valid_distributions(weights: list[float], seed: int, mixer: str) -> None:
    log_probs = random_log_probs(seed, 2, len(weights))
    mixed = mix(log_probs, torch.tensor(weights), mixer)  # type: ignore[arg-type]
    assert mixed.shape == (2, V)
    assert torch.isfinite(mixed).all()
    torch.testing.assert_close(mixed.exp().sum(-1), torch.ones(2), atol=1e-5, rtol=0)


@pytest.mark.parametrize("mixer", ["linear", "product"])
def test_one_hot_weight_gives_that_model_exactly(mixer: str) -> None:
    log_probs = random_log_probs(1, 3, 4)
    mixed = mix(log_probs, torch.tensor([0.0, 0.0, 2.5, 0.0]), mixer)  # type: ignore[arg-type]
    torch.testing.assert_close(mixed, log_probs[:, 2], atol=1e-5, rtol=1e-5)


def test_linear_is_the_papers_normalised_weighted_sum() -> None:
    log_probs = random_log_probs(2, 1, 3)
    w = torch.tensor([[0.2, 0.5, 0.3]])
    expected = (w.unsqueeze(-1) * log_probs.exp()).sum(1)
    expected = expected / expected.sum(-1, keepdim=True)
    torch.testing.assert_close(linear(log_probs, w).exp(), expected)
    torch.testing.assert_close(linear(log_probs, 4 * w), linear(log_probs, w))


def test_product_with_equal_weights_is_the_normalised_geometric_mean() -> None:
    log_probs = random_log_probs(3, 1, 2)
    geometric = (log_probs[:, 0].exp() * log_probs[:, 1].exp()).sqrt()
    expected = geometric / geometric.sum(-1, keepdim=True)
    torch.testing.assert_close(product(log_probs, torch.tensor([[1.0, 1.0]])).exp(), expected)


def test_negative_weight_makes_an_anti_expert() -> None:
    log_probs = torch.log_softmax(torch.zeros(1, 2, V), dim=-1).clone()
    log_probs[0, 1] = torch.log_softmax(torch.eye(V)[3] * 5, dim=-1)  # the anti-expert likes 3
    plain = product(log_probs, torch.tensor([[1.0, 0.0]])).exp()[0]
    pushed = product(log_probs, torch.tensor([[1.0, -0.5]])).exp()[0]
    assert pushed[3] < plain[3] / 5
    assert pushed.argmin() == 3


@pytest.mark.parametrize(
    ("weights", "mixer", "message"),
    [
        ([float("nan"), 1.0], "linear", "finite"),
        ([float("inf"), 1.0], "product", "finite"),
        ([0.0, 0.0], "linear", "all weights are zero"),
        ([1.0], "linear", "1 styles|one weight per style"),
        ([1.0, 2.0, 3.0], "linear", "one weight per style"),
        ([1.0, -0.5], "linear", "product"),
        ([-1.0, 0.0], "product", "positive"),
        ([1.0, 1.0], "geometric", "unknown mixer"),
    ],
)
def test_bad_weights_give_clear_errors(weights: list[float], mixer: str, message: str) -> None:
    with pytest.raises(MixingError, match=message):
        check_weights(weights, 2, mixer)  # type: ignore[arg-type]


def test_threshold_drops_small_weights_but_keeps_the_largest() -> None:
    w = torch.tensor([[0.9, 0.04, 0.06]])
    torch.testing.assert_close(thresholded(w, 0.05), torch.tensor([[0.9, 0.0, 0.06]]))
    assert active_mask(w, 0.05).tolist() == [True, False, True]
    many = torch.full((1, 40), 1.0)  # every share is 2.5%, under 5%: the row's max is kept
    assert bool(active_mask(many, 0.05).all())
    assert torch.equal(thresholded(many, 0.05), many)
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert active_mask(rows).tolist() == [True, True]  # active if it matters in any stream


@settings(max_examples=100, deadline=None)
@given(weights_strategy, st.integers(0, 10_000), st.sampled_from(["linear", "product"]))
def test_attribution_rows_sum_to_one(weights: list[float], seed: int, mixer: str) -> None:
    log_probs = random_log_probs(seed, 3, len(weights))
    symbols = torch.randint(0, V, (3,), generator=torch.Generator().manual_seed(seed))
    shares = attribute(log_probs, torch.tensor(weights), symbols, mixer)  # type: ignore[arg-type]
    assert shares.shape == (3, len(weights))
    assert bool((shares >= 0).all())
    torch.testing.assert_close(shares.sum(-1), torch.ones(3), atol=1e-5, rtol=0)


def test_linear_attribution_is_each_models_share_of_the_probability() -> None:
    log_probs = random_log_probs(5, 1, 2)
    w = torch.tensor([[0.25, 0.75]])
    x = torch.tensor([7])
    p = log_probs[0, :, 7].exp()
    expected = torch.stack([0.25 * p[0], 0.75 * p[1]]) / (0.25 * p[0] + 0.75 * p[1])
    torch.testing.assert_close(attribute(log_probs, w, x)[0], expected)
    assert attribute(log_probs, torch.tensor([[0.0, 1.0]]), x)[0].tolist() == [0.0, 1.0]


def test_product_attribution_credits_the_style_that_supported_the_symbol() -> None:
    log_probs = torch.log_softmax(torch.zeros(1, 2, V), dim=-1).clone()
    log_probs[0, 0] = torch.log_softmax(torch.eye(V)[4] * 6, dim=-1)
    shares = attribute(log_probs, torch.tensor([[0.5, 0.5]]), torch.tensor([4]), "product")
    assert shares[0, 0] == pytest.approx(1.0)
    assert math.isclose(float(shares.sum()), 1.0, rel_tol=1e-6)


@settings(max_examples=100, deadline=None)
@given(weights_strategy, st.integers(0, 10_000))
def test_probability_space_forms_equal_the_reference(weights: list[float], seed: int) -> None:
    """The generation loop's bmm form of the linear mixer and its shares match the log forms."""
    log_probs = random_log_probs(seed, 2, len(weights))
    w = torch.tensor([weights, weights[::-1]])
    norm = normalised(w)
    mixed = linear_probs(log_probs.exp(), norm)
    torch.testing.assert_close(mixed.log(), linear(log_probs, w), atol=1e-5, rtol=1e-5)
    symbols = torch.tensor([3, 9])
    torch.testing.assert_close(
        linear_shares(log_probs.exp(), norm, symbols),
        attribute(log_probs, w, symbols),
        atol=1e-5,
        rtol=1e-5,
    )
