from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conductor.mapping import cc_to_weight, pad_position, xy_weights


@given(st.floats(-1, 1), st.floats(-1, 1), st.integers(1, 12))
def test_pad_weights_are_a_distribution(x: float, y: float, count: int) -> None:
    weights = xy_weights(x, y, count)
    assert len(weights) == count and all(w >= 0 for w in weights)
    assert math.isclose(sum(weights), 1.0, rel_tol=1e-9)


@pytest.mark.parametrize("count", [2, 3, 8])
def test_at_a_style_that_style_alone_and_at_the_centre_all_equal(count: int) -> None:
    for i in range(count):
        x, y = pad_position(i, count)
        assert xy_weights(x, y, count) == [1.0 if j == i else 0.0 for j in range(count)]
    assert xy_weights(0, 0, count) == pytest.approx([1 / count] * count)


def test_nearer_styles_weigh_more_and_the_first_is_at_the_top() -> None:
    assert pad_position(0, 4) == pytest.approx((0.0, 1.0))
    assert pad_position(1, 4) == pytest.approx((1.0, 0.0))  # clockwise
    weights = xy_weights(0.0, 0.5, 4)
    assert weights[1] == pytest.approx(weights[3])
    assert weights[0] > weights[1] > weights[2]


def test_cc_values_map_to_unit_weights() -> None:
    assert [cc_to_weight(v) for v in (0, 127, 200, -5)] == [0.0, 1.0, 1.0, 0.0]
