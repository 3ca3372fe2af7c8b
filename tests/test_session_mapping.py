"""The learnt mapping in a session: inputs, examples, training, running, saving; every mapping
command refused whole or applied whole, and a session that used one replays exactly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from conductor.commands import CommandError
from conductor.events import InputEvent, StateEvent
from conductor.session import Session, replay
from tests.conftest import until
from tests.test_session import make_session

LETTERS = {"letters": 1.0, "digits": 0.0}
DIGITS = {"letters": 0.0, "digits": 1.0}
TOLERANCE = 0.02


def _teach(session: Session, poses: list[tuple[list[float], dict[str, float]]]) -> None:
    """Record one example per pose: the input, then the weights, then `record`."""
    for values, weights in poses:
        session.submit_all(
            [{"type": "input", "values": values}, {"type": "set", "weights": weights}]
        )
        session.submit({"type": "mapping", "action": "record"})


def _mapping(session: Session) -> dict[str, Any]:
    state: dict[str, Any] = session.state()["mapping"]
    return state


def test_examples_train_and_run_inputs_to_their_weights(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0])
    _teach(session, [([0.0, 0.0], LETTERS), ([90.0, 0.0], DIGITS)])
    assert _mapping(session) | {"saved": []} == {
        "examples": 2, "inputs": 2, "trained": False, "stale": True, "styles": [],
        "loss": None, "saved": [], "running": False, "training": False, "input": [90.0, 0.0],
    }  # fmt: skip
    session.submit({"type": "mapping", "action": "train"})  # no clock: trained here and now
    session.submit({"type": "mapping", "action": "run"})
    assert _mapping(session)["trained"] and _mapping(session)["running"]
    session.submit({"type": "input", "values": [0.0, 0.0]})
    assert session.step().weights == pytest.approx([1.0, 0.0], abs=TOLERANCE)
    session.submit({"type": "input", "values": [90.0, 0.0]})
    assert session.step().weights == pytest.approx([0.0, 1.0], abs=TOLERANCE)
    session.submit({"type": "input", "values": [45.0, 0.0]})  # between the two: a blend
    letters, digits = session.step().weights
    assert 0.2 < letters < 0.8 and 0.2 < digits < 0.8
    session.submit({"type": "mapping", "action": "run", "on": False})
    session.submit({"type": "input", "values": [90.0, 0.0]})  # not running: weights stay
    assert session.step().weights == [letters, digits]


def test_a_running_mapping_glides_with_the_session_slew(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0], rate=10, slew=1.0)
    _teach(session, [([0.0], LETTERS), ([1.0], DIGITS)])
    session.step()  # the weights set while teaching glide in
    for _ in range(12):
        session.step()
    session.submit_all(
        [{"type": "mapping", "action": "train"}, {"type": "mapping", "action": "run"}]
    )
    session.submit({"type": "input", "values": [0.0]})
    for _ in range(12):
        session.step()
    assert session.weights == pytest.approx([1.0, 0.0], abs=TOLERANCE)
    session.submit({"type": "input", "values": [1.0]})
    halfway = [session.step().weights for _ in range(6)][-1]  # 10 steps of glide at 10/s
    assert 0.3 < halfway[1] < 0.7


def test_an_example_can_take_a_presets_weights(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0])
    session.submit({"type": "set", "weights": DIGITS})
    session.submit({"type": "save", "name": "numbers"})
    session.submit({"type": "set", "weights": LETTERS})
    session.submit({"type": "input", "values": [3.0]})
    session.submit({"type": "mapping", "action": "record", "preset": "numbers"})
    assert session.mapping.examples[0].weights == DIGITS


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"type": "mapping", "action": "record"}], "no input yet"),
        ([{"type": "mapping", "action": "train"}], "no examples to train on"),
        ([{"type": "mapping", "action": "run"}], "the mapping is not trained"),
        ([{"type": "mapping", "action": "save", "name": "x"}], "train the mapping before saving"),
        ([{"type": "mapping", "action": "delete", "example": 0}], "no example 0"),
        ([{"type": "mapping", "action": "load", "name": "nowhere"}], "no mapping 'nowhere'"),
        ([{"type": "mapping", "action": "load", "name": "../up"}], "is not a mapping name"),
        ([{"type": "mapping", "action": "train", "on": True}], "train takes no on"),
        ([{"type": "input", "values": [1.0, float("nan")]}], "finite number"),
        ([{"type": "input", "values": [0.0] * 65}], "at most 64 items"),
        (
            [
                {"type": "input", "values": [1.0]},
                {"type": "mapping", "action": "record", "preset": "p"},
            ],
            "command 2 of 2: no preset 'p'",
        ),
        (  # a whole scene refused: its input and its record with it
            [
                {"type": "input", "values": [7.0]},
                {"type": "mapping", "action": "record"},
                {"type": "set", "weights": {"nobody": 1.0}},
            ],
            "unknown style 'nobody'",
        ),
    ],
)
def test_a_refused_mapping_command_changes_nothing(
    two_styles: list[Path], tmp_path: Path, messages: list[dict[str, Any]], error: str
) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0], mappings_dir=tmp_path)
    before = session.state()
    with pytest.raises(CommandError, match=error):
        session.submit_all(messages)
    assert session.state() == before and session.mapping.examples == []
    assert session.pending_commands() == [] and list(tmp_path.iterdir()) == []


def test_inputs_of_another_length_are_refused_once_a_mapping_has_examples(
    two_styles: list[Path],
) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0])
    _teach(session, [([0.0, 0.0, 0.0], LETTERS)])
    with pytest.raises(CommandError, match="inputs are 3 numbers, got 2"):
        session.submit({"type": "input", "values": [1.0, 2.0]})
    assert session.input == (0.0, 0.0, 0.0)
    session.submit({"type": "mapping", "action": "clear"})
    session.submit({"type": "input", "values": [1.0, 2.0]})  # a new mapping: any length
    assert _mapping(session)["examples"] == 0 and session.input == (1.0, 2.0)


def test_delete_and_record_again(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0])
    _teach(session, [([0.0], LETTERS), ([1.0], LETTERS), ([2.0], DIGITS)])
    session.submit({"type": "mapping", "action": "delete", "example": 1})  # a wrong one
    _teach(session, [([1.0], DIGITS)])
    assert [(e.inputs, e.weights) for e in session.mapping.examples] == [
        ((0.0,), LETTERS), ((2.0,), DIGITS), ((1.0,), DIGITS),
    ]  # fmt: skip


def test_a_mapping_saved_in_one_session_loads_in_another(
    two_styles: list[Path], tmp_path: Path
) -> None:
    first = make_session(two_styles, weights=[1.0, 0.0], mappings_dir=tmp_path)
    _teach(first, [([0.0, 0.0], LETTERS), ([1.0, 1.0], DIGITS)])
    first.submit_all([{"type": "mapping", "action": "train"}, {"type": "mapping", "action": "run"}])
    with pytest.raises(CommandError, match="train the mapping before saving"):
        first.submit_all(  # nothing trained to save after the clear: refused whole
            [
                {"type": "mapping", "action": "clear"},
                {"type": "mapping", "action": "save", "name": "x"},
            ]
        )
    assert _mapping(first)["trained"] and _mapping(first)["examples"] == 2
    first.submit({"type": "mapping", "action": "save", "name": "pose"})
    assert _mapping(first)["saved"] == ["pose"]
    second = make_session(two_styles, weights=[1.0, 0.0], mappings_dir=tmp_path)
    second.submit_all(
        [
            {"type": "mapping", "action": "load", "name": "pose"},
            {"type": "mapping", "action": "run"},
        ]
    )
    second.submit({"type": "input", "values": [1.0, 1.0]})
    assert second.step().weights == pytest.approx([0.0, 1.0], abs=TOLERANCE)
    assert len(second.mapping.examples) == 2


def test_a_session_conducted_by_a_mapping_replays_exactly(
    two_styles: list[Path], tmp_path: Path
) -> None:
    record = tmp_path / "take.jsonl"
    session = make_session(
        two_styles, weights=[1.0, 0.0], rate=20, slew=0.2, seed=5, record=record,
        style_paths=[str(p) for p in two_styles], mappings_dir=tmp_path / "mappings",
    )  # fmt: skip
    text = [session.step().symbol for _ in range(5)]
    _teach(session, [([0.0], LETTERS), ([1.0], DIGITS)])
    session.submit_all(
        [{"type": "mapping", "action": "train"}, {"type": "mapping", "action": "run"}]
    )
    for step in range(60):
        session.submit({"type": "input", "values": [abs((step % 20) - 10) / 10]})
        text.append(session.step().symbol)
    session.submit({"type": "mapping", "action": "save", "name": "sway"})
    text += [session.step().symbol for _ in range(5)]
    session.close()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    kinds = [line["command"].get("action") for line in lines if "command" in line]
    assert kinds.count("record") == 2 and "train" in kinds and "save" in kinds
    recorded = next(line for line in lines if line.get("command", {}).get("action") == "record")
    assert recorded["example"] == {"inputs": [0.0], "weights": LETTERS}
    (tmp_path / "mappings" / "sway.safetensors").unlink()  # a replay needs only the record
    again = replay(record, lambda styles: [Path(s) for s in styles])
    assert again.matches is True and again.text == "".join(text)


def test_with_a_clock_training_runs_on_its_own_thread_and_says_when_done(
    two_styles: list[Path],
) -> None:
    async def scenario() -> None:
        session = make_session(two_styles, weights=[1.0, 0.0], rate=50)
        events: list[Any] = []
        session.add_sink(events.append)
        clock = asyncio.create_task(session.run())
        _teach(session, [([0.0], LETTERS), ([1.0], DIGITS)])
        session.submit_all(
            [{"type": "mapping", "action": "train"}, {"type": "mapping", "action": "run"}]
        )
        assert _mapping(session)["running"]  # on, and mapping as soon as the net is there
        await until(lambda: _mapping(session)["trained"], what="the training")
        assert not _mapping(session)["training"]
        assert any(isinstance(e, StateEvent) and e.state["mapping"]["trained"] for e in events)
        session.submit({"type": "input", "values": [1.0]})
        await until(lambda: session.weights[1] > 0.95, what="the mapped weights")
        await until(
            lambda: any(isinstance(e, InputEvent) and e.values == [1.0] for e in events),
            what="the input shown",
        )
        session.close()
        await clock

    asyncio.run(scenario())


def test_a_training_that_ends_after_a_clear_is_dropped(two_styles: list[Path]) -> None:
    async def scenario() -> None:
        session = make_session(two_styles, weights=[1.0, 0.0], rate=50)
        clock = asyncio.create_task(session.run())
        _teach(session, [([0.0], LETTERS), ([1.0], DIGITS)])
        session.submit({"type": "mapping", "action": "train"})
        session.submit({"type": "mapping", "action": "clear"})
        await until(lambda: not _mapping(session)["training"], what="the training to end")
        assert not _mapping(session)["trained"] and _mapping(session)["examples"] == 0
        session.close()
        await clock

    asyncio.run(scenario())
