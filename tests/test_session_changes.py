"""Styles loaded into and unloaded from a running session (`load` / `unload`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from conductor.commands import CommandError
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.events import ErrorEvent, StateEvent, StepEvent
from conductor.generate import Conductor
from conductor.library import Library
from conductor.session import Session, replay
from tests.conftest import until


def _letters_alone(two_styles: list[Path], **kwargs: Any) -> Session:
    """A session that starts with "letters" only; "digits" is in its library."""
    conductor = Conductor(Ensemble.from_checkpoints(two_styles[:1]), seed=kwargs.pop("seed", 4))
    return Session(conductor, [1.0], library=Library(two_styles[0].parent), **kwargs)


def test_a_loaded_style_joins_at_weight_zero_and_changes_nothing_until_weighted(
    two_styles: list[Path],
) -> None:
    loaded, alone = _letters_alone(two_styles), _letters_alone(two_styles)
    before = [loaded.step().symbol for _ in range(30)]
    assert before == [alone.step().symbol for _ in range(30)]
    loaded.submit({"type": "load", "style": "digits"})
    assert loaded.names == ["letters"]  # at the step boundary, not before
    event = loaded.step()
    assert loaded.names == ["letters", "digits"] and event.weights == [1.0, 0.0]
    assert loaded.state()["target"] == {"letters": 1.0, "digits": 0.0}
    assert len(loaded.state()["pad"]) == 2
    after = [event.symbol] + [loaded.step().symbol for _ in range(29)]
    assert after == [alone.step().symbol for _ in range(30)]  # the same random stream too
    loaded.submit({"type": "set", "weights": {"letters": 0.0, "digits": 1.0}})
    digits = "".join(loaded.step().symbol for _ in range(40))
    assert sum(c.isdigit() for c in digits) > 25, digits


def test_a_loaded_style_has_read_the_text_before_it_plays(two_styles: list[Path]) -> None:
    """Its first weighted prediction is the model's alone after the conductor's history."""
    session = _letters_alone(two_styles)
    for _ in range(50):
        session.step()
    session.submit({"type": "load", "style": "digits"})
    session.step()
    history = session.conductor.history.clone()  # [1, T], the pending symbol last
    session.submit({"type": "set", "weights": {"letters": 0.0, "digits": 1.0}})
    got = session.conductor  # its step reads the pending symbol and predicts
    steps = got.step([0.0, 1.0])
    reference = Conductor(Ensemble.from_checkpoints(two_styles[1:]), seed=0)
    reference.ensemble.advance(history[:, :-1])
    expected = reference.ensemble.step(history[:, -1])[:, 0]  # [B, V]
    assert history.shape[1] > 40
    assert float((steps.scaled_logits[:, 1] - expected).abs().max()) < 1e-5


def test_unload_takes_a_style_out_and_refuses_what_leaves_no_mix(two_styles: list[Path]) -> None:
    session = _letters_alone(two_styles)
    session.submit({"type": "load", "style": "digits"})
    session.step()
    with pytest.raises(CommandError, match="unloading letters leaves no usable mix"):
        session.submit({"type": "unload", "style": "letters"})  # digits is at 0
    with pytest.raises(CommandError, match="'digits' is in the ensemble already"):
        session.submit({"type": "load", "style": "digits"})
    with pytest.raises(CommandError, match="unknown style 'vowels'"):
        session.submit({"type": "unload", "style": "vowels"})
    # a scene: weight first, then out, applied together
    session.submit_all(
        [
            {"type": "set", "weights": {"digits": 1.0}},
            {"type": "unload", "style": "letters"},
        ]
    )
    event = session.step()
    assert session.names == ["digits"] and event.weights == [1.0]
    with pytest.raises(CommandError, match="'digits' is the only style"):
        session.submit({"type": "unload", "style": "digits"})
    with pytest.raises(CommandError, match="unknown style 'letters'"):
        session.submit({"type": "set", "weights": {"letters": 1.0}})


def test_a_missing_or_broken_file_is_one_line_and_changes_nothing(
    two_styles: list[Path], tmp_path: Path
) -> None:
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint at all")
    conductor = Conductor(Ensemble.from_checkpoints(two_styles[:1]), seed=1)
    session = Session(conductor, [1.0], library=Library(tmp_path))
    with pytest.raises(CommandError, match="style 'nowhere' not found"):
        session.submit({"type": "load", "style": "nowhere"})
    with pytest.raises(CommandError, match=r"cannot load 'broken': .*") as refused:
        session.submit_all(
            [{"type": "set", "temperature": 0.3}, {"type": "load", "style": "broken"}]
        )
    assert "\n" not in str(refused.value)
    with pytest.raises(CommandError, match=r"^load: style: '\.\./x' is not a style"):
        session.submit({"type": "load", "style": "../x"})
    session.step()
    assert session.names == ["letters"] and session.conductor.params.temperature == 1.0


def test_with_the_clock_running_a_broken_load_drops_its_whole_message(
    two_styles: list[Path], tmp_path: Path
) -> None:
    """Live, a file is read on the loader thread: a broken one comes back as an error event,
    and nothing of its message applies; the messages after it go on."""
    (tmp_path / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    for path in two_styles:
        (tmp_path / path.name).symlink_to(path)
    conductor = Conductor(Ensemble.from_checkpoints(two_styles[:1]), seed=1)
    session = Session(conductor, [1.0], rate=200, library=Library(tmp_path))
    events: list[Any] = []
    session.add_sink(events.append)

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        await until(lambda: sum(isinstance(e, StepEvent) for e in events) > 5)
        session.submit_all(
            [{"type": "set", "temperature": 0.3}, {"type": "load", "style": "broken"}]
        )
        session.submit({"type": "set", "temperature": 0.7})  # waits behind it, then applies
        await until(lambda: any(isinstance(e, ErrorEvent) for e in events), what="the error")
        await until(lambda: session.conductor.params.temperature == 0.7)
        session.submit({"type": "load", "style": "digits"})
        await until(lambda: session.names == ["letters", "digits"], what="digits loaded")
        session.close()
        await runner

    asyncio.run(scenario())
    errors = [e.message for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].startswith("cannot load 'broken': ")
    temperatures = [e.state["temperature"] for e in events if isinstance(e, StateEvent)]
    assert 0.3 not in temperatures  # the broken message's set never applied
    styles = [e.state["styles"] for e in events if isinstance(e, StateEvent)]
    assert styles[-1] == ["letters", "digits"]


def test_a_session_with_loads_and_unloads_replays_exactly(
    two_styles: list[Path], tmp_path: Path
) -> None:
    """Live, at a rate, loads made ready on the loader thread and applied at whatever step
    they land on: the record names each file and its sha256, and the replay is bit-exact."""
    record = tmp_path / "take.jsonl"
    session = _letters_alone(
        two_styles, rate=150, record=record, style_paths=[str(two_styles[0])], seed=9
    )
    shown: list[str] = []
    session.add_sink(lambda e: shown.append(e.symbol) if isinstance(e, StepEvent) else None)

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        script: list[Any] = [
            {"type": "load", "style": "digits"},
            {"type": "set", "weights": {"letters": 0.4, "digits": 0.6}},
            {"type": "prime", "text": "abc 123 "},
            [{"type": "set", "weights": {"digits": 1.0}}, {"type": "unload", "style": "letters"}],
            {"type": "load", "style": "letters"},
            {"type": "set", "weights": {"letters": 0.5}, "slew": 0.1},
        ]
        for message in script:
            await until(lambda: len(shown) > 0)
            mark = len(shown)
            await until(lambda mark=mark: len(shown) >= mark + 12)
            session.submit_all(message if isinstance(message, list) else [message])
        await until(lambda: len(shown) >= 160 and session.names == ["digits", "letters"])
        session.close()
        await runner

    asyncio.run(scenario())
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    loads = [line for line in lines if line.get("command", {}).get("type") == "load"]
    assert [line["command"]["style"] for line in loads] == ["digits", "letters"]
    assert all(len(line["sha256"]) == 64 and Path(line["path"]).is_file() for line in loads)
    assert any(line.get("command", {}).get("type") == "unload" for line in lines)
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.matches is True and result.text == "".join(shown)
    assert result.names == ["digits", "letters"]


def test_replay_refuses_a_loaded_file_that_changed(two_styles: list[Path], tmp_path: Path) -> None:
    for path in two_styles:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    conductor = Conductor(Ensemble.from_checkpoints([tmp_path / "letters.safetensors"]), seed=2)
    record = tmp_path / "take.jsonl"
    session = Session(
        conductor, [1.0], record=record, library=Library(tmp_path),
        style_paths=[str(tmp_path / "letters.safetensors")],
    )  # fmt: skip
    session.submit({"type": "load", "style": "digits"})
    for _ in range(5):
        session.step()
    session.close()
    (tmp_path / "digits.safetensors").write_bytes(two_styles[0].read_bytes())  # another model
    with pytest.raises(ConductorError, match="is not the file the record loaded"):
        replay(record, lambda styles: [Path(s) for s in styles])
