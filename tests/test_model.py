from __future__ import annotations

import math

import pytest
import torch

from conductor.errors import CheckpointError
from conductor.model import SIZES, CharLSTM, ModelConfig, bits_per_symbol


def test_forward_shapes_and_state() -> None:
    model = CharLSTM(ModelConfig(layers=2, hidden=32, embed=8))
    ids = torch.randint(0, 128, (3, 7))
    logits, (h, c) = model(ids)
    assert logits.shape == (3, 7, 128)
    assert h.shape == c.shape == (2, 3, 32)


def test_carrying_state_equals_one_long_call() -> None:
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(layers=2, hidden=16, embed=8)).eval()
    ids = torch.randint(0, 128, (2, 12))
    whole, _ = model(ids)
    first, state = model(ids[:, :5])
    second, _ = model(ids[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_parameter_count_matches_the_module(name: str) -> None:
    config = SIZES[name]
    assert config.parameters == sum(p.numel() for p in CharLSTM(config).parameters())


def test_paper_sizes() -> None:
    assert (SIZES["small"].layers, SIZES["small"].hidden) == (1, 256)
    assert (SIZES["large"].layers, SIZES["large"].hidden) == (3, 512)


def test_untrained_model_scores_about_uniform() -> None:
    torch.manual_seed(0)
    model = CharLSTM(SIZES["tiny"])
    bpc = bits_per_symbol(model, torch.randint(0, 128, (4000,)))
    assert abs(bpc - math.log2(128)) < 0.2


def test_bits_per_symbol_matches_a_direct_computation() -> None:
    torch.manual_seed(1)
    model = CharLSTM(ModelConfig(hidden=16, embed=8)).eval()
    ids = torch.randint(0, 128, (301,))
    logits, _ = model(ids[:-1].unsqueeze(0))
    direct = torch.nn.functional.cross_entropy(logits[0], ids[1:]).item() / math.log(2)
    assert bits_per_symbol(model, ids, streams=1, chunk=64) == pytest.approx(direct, rel=1e-5)


def test_config_from_json_rejects_bad_records() -> None:
    assert ModelConfig.from_json(SIZES["small"].to_json()) == SIZES["small"]
    with pytest.raises(CheckpointError, match="unknown"):
        ModelConfig.from_json({**SIZES["small"].to_json(), "colour": 1})
    with pytest.raises(CheckpointError, match="positive integer"):
        ModelConfig.from_json({**SIZES["small"].to_json(), "hidden": -4})
