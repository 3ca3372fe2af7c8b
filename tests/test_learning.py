"""The learnt mapping: examples in, an MLP out that gives their weights back, blends between
them, keeps to their ranges, and saves and loads as json + safetensors (never pickle)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conductor.learning import (
    MAX_EXAMPLES,
    Example,
    MappingError,
    Mappings,
    check_mapping_name,
    train_mapping,
)

TOLERANCE = 0.02  # how far an example's own input may land from its weights

# A phone's tilt (degrees) between three styles, in three poses.
POSES = [
    Example((0.0, 0.0), {"shakespeare": 1.0, "kjv": 0.0, "python": 0.0}),
    Example((45.0, 0.0), {"shakespeare": 0.0, "kjv": 1.0, "python": 0.0}),
    Example((0.0, 45.0), {"shakespeare": 0.0, "kjv": 0.0, "python": 1.0}),
]


def test_each_example_gives_back_its_weights() -> None:
    mapping = train_mapping(POSES)
    for example in POSES:
        got = mapping(example.inputs)
        for style, weight in example.weights.items():
            assert got[style] == pytest.approx(weight, abs=TOLERANCE)
    assert mapping.training.examples == 3 and mapping.training.loss < TOLERANCE**2


def test_an_input_between_two_examples_gives_a_blend() -> None:
    mapping = train_mapping(POSES)
    halfway = mapping((22.5, 0.0))  # between the shakespeare and the kjv pose
    assert 0.2 < halfway["shakespeare"] < 0.8 and 0.2 < halfway["kjv"] < 0.8
    assert halfway["python"] < 0.2
    nearer = mapping((35.0, 0.0))
    assert nearer["kjv"] > halfway["kjv"] and nearer["shakespeare"] < halfway["shakespeare"]


def test_inputs_of_any_scale_train_alike() -> None:
    """Degrees, MIDI's 0..127 and a dimension that never moves: scaled by the examples."""
    scaled = [
        Example((e.inputs[0] * 127 / 45, e.inputs[1] / 45, 7.0), dict(e.weights)) for e in POSES
    ]
    mapping = train_mapping(scaled)
    for example in scaled:
        got = mapping(example.inputs)
        assert max(abs(got[s] - w) for s, w in example.weights.items()) < TOLERANCE


def test_outputs_keep_to_the_range_the_examples_give() -> None:
    mapping = train_mapping(POSES)
    far = mapping((-500.0, 900.0))  # far outside anything recorded
    assert all(0.0 <= w <= 1.0 for w in far.values())
    signed = [Example((0.0,), {"a": -0.5, "b": 1.0}), Example((1.0,), {"a": 0.5, "b": 0.25})]
    out = train_mapping(signed)((3.0,))
    assert -0.5 <= out["a"] <= 0.5 and 0.25 <= out["b"] <= 1.0


def test_a_style_an_example_does_not_name_is_zero_there() -> None:
    mapping = train_mapping([Example((0.0,), {"a": 1.0}), Example((1.0,), {"b": 1.0})])
    assert mapping.styles == ("a", "b")
    assert mapping((0.0,))["b"] == pytest.approx(0.0, abs=TOLERANCE)


def test_the_same_examples_and_seed_give_the_same_mapping() -> None:
    first, second = train_mapping(POSES, seed=3), train_mapping(POSES, seed=3)
    assert first((10.0, 20.0)) == second((10.0, 20.0))


def test_a_thousand_examples_train() -> None:
    rng = random.Random(0)
    examples = []
    for _ in range(MAX_EXAMPLES):
        x, y = rng.uniform(-1, 1), rng.uniform(-1, 1)
        examples.append(Example((x, y), {"a": (x + 1) / 2, "b": (y + 1) / 2}))
    mapping = train_mapping(examples)
    assert mapping.training.examples == MAX_EXAMPLES
    got = mapping((0.5, -0.5))  # a smooth function: learnt well from this many
    assert got["a"] == pytest.approx(0.75, abs=0.05) and got["b"] == pytest.approx(0.25, abs=0.05)


def test_the_input_length_is_fixed_per_mapping() -> None:
    mappings = Mappings()
    mappings.add(POSES[0])
    with pytest.raises(MappingError, match="inputs are 2 numbers, got 3"):
        mappings.add(Example((1.0, 2.0, 3.0), {"kjv": 1.0}))
    with pytest.raises(MappingError, match="takes 2 inputs, got 1"):
        train_mapping(POSES)((1.0,))
    with pytest.raises(MappingError, match="no example 4: the mapping has 1"):
        mappings.delete(4)
    with pytest.raises(MappingError, match="no examples to train on"):
        train_mapping([])


def test_a_mapping_holds_at_most_so_many_examples() -> None:
    mappings = Mappings(examples=[POSES[0]] * MAX_EXAMPLES)
    with pytest.raises(MappingError, match=f"at most {MAX_EXAMPLES} examples"):
        mappings.add(POSES[1])
    assert len(mappings.examples) == MAX_EXAMPLES


def test_save_and_load_give_the_same_mapping(tmp_path: Path) -> None:
    mappings = Mappings(tmp_path, list(POSES))
    mappings.learned = train_mapping(POSES)
    mappings.save("tilt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tilt.json", "tilt.safetensors"]
    record = json.loads((tmp_path / "tilt.json").read_text())
    assert record["format"] == "conductor-mapping" and len(record["examples"]) == 3
    again = Mappings(tmp_path)
    again.load("tilt")
    assert again.examples == POSES and again.saved() == ["tilt"]
    assert again.learned is not None and again.learned((10.0, 30.0)) == mappings.learned(
        (10.0, 30.0)
    )


def test_a_bad_mapping_file_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    mappings = Mappings(tmp_path, list(POSES))
    mappings.learned = train_mapping(POSES)
    mappings.save("tilt")
    target = Mappings(tmp_path, [POSES[0]])
    with pytest.raises(MappingError, match=r"no mapping 'nowhere' in .* \(saved: tilt\)"):
        target.load("nowhere")
    (tmp_path / "tilt.safetensors").write_bytes(b"not the net")
    with pytest.raises(MappingError, match="not the net tilt.json was saved with"):
        target.load("tilt")
    mappings.save("tilt")
    (tmp_path / "tilt.json").write_text("{ not json")
    with pytest.raises(MappingError, match="cannot read mapping 'tilt'"):
        target.load("tilt")
    (tmp_path / "tilt.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(MappingError, match="is not a conductor mapping"):
        target.load("tilt")
    assert target.examples == [POSES[0]] and target.learned is None


def test_saving_needs_a_trained_net_and_a_name_not_a_path(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="train the mapping before saving"):
        Mappings(tmp_path, list(POSES)).save("tilt")
    for bad in ("../up", "a/b", "", ".hidden"):
        with pytest.raises(MappingError, match="is not a mapping name"):
            check_mapping_name(bad)
    assert list(tmp_path.iterdir()) == []
