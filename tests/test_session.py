from __future__ import annotations

import asyncio
import contextlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.commands import CommandError, parse_command
from conductor.engine import MAX_BACKLOG, Ensemble
from conductor.errors import ConductorError
from conductor.events import StepEvent
from conductor.generate import Conductor
from conductor.library import shipped_dir
from conductor.search import SearchSettings
from conductor.session import Session, replay
from tests.conftest import until

NAMES = ["letters", "digits"]
ROOT = Path(__file__).resolve().parents[1]


def make_session(paths: list[Path], **kwargs: Any) -> Session:
    ensemble = Ensemble.from_checkpoints(paths, precision=kwargs.pop("precision", "auto"))
    conductor = Conductor(ensemble, seed=kwargs.pop("seed", 0))
    conductor.search = kwargs.pop("search", None)
    return Session(conductor, **kwargs)


def test_a_weight_change_applies_to_the_very_next_symbol(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0])
    assert all(session.step().by == "letters" for _ in range(10))
    session.submit({"type": "set", "weights": {"letters": 0.0, "digits": 1.0}})
    event = session.step()
    assert event.by == "digits" and event.weights == [0.0, 1.0]


def test_partial_weight_commands_merge_with_those_still_queued(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0])
    session.submit({"type": "set", "weights": {"digits": 1.0}})
    session.submit({"type": "set", "weights": {"letters": 0.0}})  # fine: digits is 1 by then
    assert session.step().weights == [0.0, 1.0]


def test_commands_of_the_step_in_flight_count_as_applied(two_styles: list[Path]) -> None:
    """The clock takes the queue on the loop thread and the engine thread applies it: a command
    checked in between sees the state the step in flight will leave (found by the web fuzz)."""
    session = make_session(two_styles, weights=[1.0, 0.0])
    session.submit({"type": "set", "weights": {"digits": 1.0}, "temperature": 0.5})
    session._in_flight = session._take_queue()  # what `run` does before the engine step
    session.submit({"type": "set", "weights": {"letters": 0.0}})  # digits is 1 by then
    session.submit({"type": "save", "name": "scene"})
    assert session.presets["scene"] == {"letters": 0.0, "digits": 1.0}
    assert [type(c).__name__ for c in session.pending_commands()] == ["SetCommand"] * 2


def test_weights_glide_over_the_slew_counted_in_steps(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0], rate=10)
    session.submit({"type": "set", "weights": {"letters": 0, "digits": 1}, "slew": 1.0})
    seen = [session.step().weights[1] for _ in range(12)]
    # 1 s at 10 symbols/s: 10 steps from 0 to 1, linear (thresholded under 5% share).
    assert seen[0] == 0.0 and seen[10:] == [1.0, 1.0]
    assert seen[5] == pytest.approx(0.5) and seen == sorted(seen)


def test_the_pad_sets_every_weight_by_inverse_distance(two_styles: list[Path]) -> None:
    session = make_session(two_styles, weights=[1.0, 0.0])
    session.submit({"type": "xy", "x": 0.0, "y": -1.0})  # two styles: "digits" at the bottom
    assert session.step().weights == [0.0, 1.0]
    session.submit({"type": "xy", "x": 0.3, "y": 0.0})
    assert session.step().weights == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ({"type": "dance"}, "unknown command type 'dance'"),
        ({"weights": {}}, 'needs a "type"'),
        ({"type": "set", "weights": {"jazz": 1.0}}, "unknown style 'jazz'"),
        ({"type": "set", "weights": {"letters": math.nan}}, "weights.letters"),
        ({"type": "set", "weights": {"letters": 1e9}}, "less than or equal"),
        ({"type": "set", "weights": {"letters": -1.0}}, "linear mixer takes weights >= 0"),
        ({"type": "set", "weights": {"letters": 0, "digits": 0}}, "all weights are zero"),
        ({"type": "set", "temperature": -1}, "temperature"),
        ({"type": "set", "tempo": 3}, "tempo"),
        ({"type": "rate", "chars_per_s": "fast"}, "chars_per_s"),
        ({"type": "prime", "text": ""}, "text"),
        ({"type": "preset", "name": "nope"}, "no preset 'nope'"),
        ({"type": "xy", "x": 2, "y": 0}, "x"),
    ],
)
def test_bad_commands_are_refused_in_one_line(
    two_styles: list[Path], message: Any, complaint: str
) -> None:
    session = make_session(two_styles)
    before = session.state()
    with pytest.raises(CommandError) as caught:
        session.submit(message)
    assert complaint in str(caught.value) and "\n" not in str(caught.value)
    assert session.state() == before
    session.step()  # and it still generates


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=64),
        st.text(max_size=64),
        st.dictionaries(
            st.sampled_from(["type", "weights", "text", "count", "name", "x"]),
            st.one_of(st.none(), st.floats(), st.integers(), st.text(max_size=8), st.binary()),
            max_size=4,
        ),
    )
)
def test_garbage_never_gets_past_validation(message: Any) -> None:
    with contextlib.suppress(CommandError):
        parse_command(message)


def test_presets_are_saved_recalled_with_a_morph_and_persisted(
    two_styles: list[Path], tmp_path: Path
) -> None:
    presets = tmp_path / "presets.json"
    session = make_session(two_styles, weights=[0.0, 1.0], rate=10, presets_file=presets)
    session.submit({"type": "save", "name": "numbers"})
    session.submit({"type": "set", "weights": {"letters": 1, "digits": 0}})
    session.step()
    session.submit({"type": "preset", "name": "numbers", "morph": 0.5})
    glide = [session.step().weights[1] for _ in range(7)]
    assert glide[0] == 0.0 and glide[5:] == [1.0, 1.0] and glide == sorted(glide)
    assert json.loads(presets.read_text()) == {"numbers": {"letters": 0.0, "digits": 1.0}}
    again = make_session(two_styles, presets_file=presets)
    assert again.presets == {"numbers": {"letters": 0.0, "digits": 1.0}}
    presets.write_text("{broken")
    with pytest.raises(ConductorError, match="presets file .* unreadable"):
        make_session(two_styles, presets_file=presets)


@pytest.mark.parametrize("precision", ["auto", "int8"])
def test_record_then_replay_reproduces_the_symbols_exactly(
    two_styles: list[Path], tmp_path: Path, precision: str
) -> None:
    record = tmp_path / "take.jsonl"
    session = make_session(
        two_styles,
        seed=11,
        record=record,
        rate=30,
        style_paths=[str(p) for p in two_styles],
        precision=precision,
    )
    text = []
    script = {
        5: {"type": "set", "weights": {"letters": 0.5, "digits": 0.5}},
        20: {"type": "prime", "text": "abc "},
        30: {"type": "set", "weights": {"digits": 1.0, "letters": 0.0}, "slew": 0.5},
        45: {"type": "set", "temperature": 0.5, "mixer": "product"},
        50: {"type": "prime", "text": "skipped "},  # letters is skipped: it reads it later
        55: {"type": "set", "weights": {"letters": 0.5, "digits": 0.5}},
        60: {"type": "reset"},
    }
    for step in range(80):
        if step in script:
            session.submit(script[step])
        text.append(session.step().symbol)
    session.close()
    header = json.loads(record.read_text().splitlines()[0])
    assert header["precision"] == ["fp32" if precision == "auto" else precision] * 2
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.text == "".join(text) and result.steps == 80 and result.matches is True


def test_replay_refuses_a_file_that_is_not_a_record(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(ConductorError, match="not a conductor session record"):
        replay(bad, lambda styles: [])


def test_the_clock_keeps_its_rate_pauses_and_single_steps(two_styles: list[Path]) -> None:
    session = make_session(two_styles, rate=100)
    events: list[Any] = []
    session.add_sink(events.append)

    def count() -> int:
        return sum(isinstance(e, StepEvent) for e in events)

    def parked() -> bool:
        """Paused, no single steps owed, nothing in the engine thread: nothing can come."""
        return (
            session.paused
            and session._pending_steps == 0
            and session._executor._work_queue.empty()
            and not session._wake.is_set()
        )

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        await until(lambda: count() >= 20, what="20 symbols")
        session.submit({"type": "pause"})
        await until(lambda: session.paused)
        paused_at = count()
        # Paused: steps in flight may land; after them nothing more comes.
        await until(parked, what="the clock parked")
        still = count()
        assert still <= paused_at + 1
        await asyncio.sleep(0)  # one more turn of the loop: a paused clock makes nothing
        assert count() == still
        session.submit({"type": "step", "count": 3})
        await until(lambda: count() >= still + 3, what="3 single steps")
        await until(parked, what="the clock parked again")
        assert count() == still + 3
        session.close()
        await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())
    clock = [e for e in events if isinstance(e, StepEvent)][:20]
    assert [e.i for e in clock] == list(range(20))  # one symbol per tick, none lost or repeated


def test_a_slow_rate_never_traps_the_clock(two_styles: list[Path]) -> None:
    """Found by the fuzz test: a rate of 1e-9 symbols/s, then 100 again; the clock must not
    sit out the first rate's endless period."""
    session = make_session(two_styles, rate=100)
    steps: list[StepEvent] = []

    def sink(event: object) -> None:
        if isinstance(event, StepEvent):
            steps.append(event)
            if len(steps) == 3:  # as the symbol goes out: the next tick is a slow period away
                session.submit({"type": "rate", "chars_per_s": 1e-9})

    session.add_sink(sink)

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        await until(lambda: len(steps) >= 3)
        await until(lambda: not session._wake.is_set(), what="the clock waiting on the slow beat")
        assert len(steps) == 3
        session.submit({"type": "set", "temperature": 0.5})  # another command wakes it too
        session.submit({"type": "rate", "chars_per_s": 100})
        count = len(steps)
        await until(lambda: len(steps) >= count + 20, what="20 symbols at the new rate")
        session.close()
        await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())


def test_a_rate_changed_back_during_the_idle_work_is_kept(
    two_styles: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the OSC fuzz: the tick is planned with a rate of 1e-9 symbols/s, and the rate
    is back at 100 before the idle work ends; the clock must plan with the new one, not wait
    out the old period (a wake that came during the idle work is not lost)."""
    session = make_session(two_styles, rate=100)
    steps: list[StepEvent] = []
    idle = session._idle

    def sink(event: object) -> None:
        if isinstance(event, StepEvent):
            steps.append(event)
            if len(steps) == 3:
                session.submit({"type": "rate", "chars_per_s": 1e-9})

    def idle_then_back(until: float) -> None:
        idle(until)
        if len(steps) == 3:  # what a rate command handled meanwhile on the loop would do
            session.rate = 100.0
            session._wake.set()

    session.add_sink(sink)
    monkeypatch.setattr(session, "_idle", idle_then_back)

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        await until(lambda: len(steps) >= 23, what="20 symbols after the slow plan")
        session.close()
        await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())


def test_a_slow_rate_then_free_running_then_a_fast_one_keeps_time(two_styles: list[Path]) -> None:
    """A tick planned at 1e-9 symbols/s, the rate set free (0) while it waits, then back to
    100: the next tick is never more than one new period away."""
    session = make_session(two_styles, rate=100)
    steps: list[StepEvent] = []
    session.add_sink(lambda e: steps.append(e) if isinstance(e, StepEvent) else None)

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        await until(lambda: len(steps) >= 3)
        session.submit({"type": "rate", "chars_per_s": 1e-9})
        count = len(steps)
        await until(lambda: not session._wake.is_set(), what="the clock waiting on the slow beat")
        session.submit({"type": "rate", "chars_per_s": 0})
        await until(lambda: len(steps) >= count + 50, what="free-running")
        session.submit({"type": "rate", "chars_per_s": 100})
        count = len(steps)
        await until(lambda: len(steps) >= count + 20, what="20 symbols at the new rate")
        session.close()
        await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())


def test_a_style_back_after_a_long_absence_costs_no_stall_and_replays_exactly(
    two_styles: list[Path], tmp_path: Path
) -> None:
    """Digits skipped for 50x MAX_BACKLOG symbols at a live rate, then back: the idle-time
    catch-up keeps its backlog short all along (free-running it would sit at MAX_BACKLOG), the
    return reads next to nothing, and the replay of the take is bit-identical."""
    record = tmp_path / "take.jsonl"
    session = make_session(
        two_styles, weights=[1.0, 0.0], rate=100, record=record,
        style_paths=[str(p) for p in two_styles],
    )  # fmt: skip
    engine = session.conductor.ensemble
    backlog: list[int] = []
    steps: list[StepEvent] = []

    def watch(event: Any) -> None:
        if isinstance(event, StepEvent):
            backlog.append(engine.backlog)
            steps.append(event)

    session.add_sink(watch)
    away = 50 * MAX_BACKLOG

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        await until(lambda: len(steps) >= away, what=f"{away} symbols")
        session.submit({"type": "set", "weights": {"digits": 1.0}})
        await until(lambda: any(e.weights[1] > 0 for e in steps), what="digits back")
        back = len(steps)
        await until(lambda: len(steps) >= back + 50, what="50 more symbols")
        session.close()
        await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())
    returned = next(i for i, e in enumerate(steps) if e.weights[1] > 0)
    assert returned >= away and all(e.weights[1] == 0 for e in steps[:returned])
    assert max(backlog) <= MAX_BACKLOG
    assert sorted(backlog[:returned])[returned // 2] <= 2  # typically one symbol behind
    assert engine.backlog == 0 and engine.kept_symbols == 0
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.matches is True and result.text == "".join(e.symbol for e in steps)


def test_idle_catch_up_ends_at_the_tick_however_long_the_work_before_it(
    two_styles: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock hands the engine thread the tick's time, not a length of time: the lookahead
    and any commands applied first use up part of it (a clock that counted from the end of
    that work made the tick late by a long prime: found in a concert)."""
    session = make_session(two_styles, weights=[1.0, 0.0])
    for _ in range(MAX_BACKLOG):
        session.step()  # digits skipped: it has symbols to read
    engine = session.conductor.ensemble
    now = [100.0]
    monkeypatch.setattr("conductor.session.time.monotonic", lambda: now[0])
    lookahead = session.conductor.lookahead

    def slow_lookahead(weights: Any) -> Any:
        now[0] += 10.0  # the work takes longer than the time left before the tick
        return lookahead(weights)

    monkeypatch.setattr(session.conductor, "lookahead", slow_lookahead)
    behind = engine.backlog
    session._idle(now[0] + 5.0)
    assert engine.backlog == behind > 0  # the tick has passed: no catch-up after it
    session._apply_now([parse_command({"type": "set", "temperature": 0.9})], now[0] + 5.0)
    assert engine.backlog == behind
    session._idle(now[0] + 15.0)  # time is left after the lookahead: it is used
    assert engine.backlog < behind


def test_a_sink_that_raises_is_dropped_and_generation_goes_on(two_styles: list[Path]) -> None:
    session = make_session(two_styles)

    def broken(event: Any) -> None:
        raise RuntimeError("viewer vanished")

    session.add_sink(broken)
    session.step()
    session.step()
    assert broken not in session._sinks


def test_a_record_with_presets_replays_exactly(two_styles: list[Path], tmp_path: Path) -> None:
    """A preset recalled in a session replays with the weights it had then: presets loaded at
    the start are in the record's header, those saved live are recorded when saved."""
    presets, record = tmp_path / "presets.json", tmp_path / "take.jsonl"
    presets.write_text(json.dumps({"start": {"letters": 0.3, "digits": 0.7}}))
    session = make_session(
        two_styles, weights=[1.0, 0.0], rate=10, presets_file=presets, record=record,
        style_paths=[str(p) for p in two_styles],
    )  # fmt: skip
    text = [session.step().symbol for _ in range(5)]
    session.submit({"type": "preset", "name": "start", "morph": 0.3})
    text += [session.step().symbol for _ in range(5)]
    session.submit({"type": "set", "weights": {"letters": 0.0, "digits": 1.0}})
    session.submit({"type": "save", "name": "numbers"})  # saves what the queue leaves
    session.submit({"type": "set", "weights": {"letters": 1.0}})
    text += [session.step().symbol for _ in range(5)]
    session.submit({"type": "preset", "name": "numbers"})
    session.submit({"type": "save", "name": "start"})  # overwritten: the recall keeps the old
    text += [session.step().symbol for _ in range(20)]
    session.close()
    presets.unlink()  # the replay needs nothing but the record
    again = replay(record, lambda styles: [Path(s) for s in styles])
    assert again.matches and again.text == "".join(text)


@pytest.mark.parametrize(("hold", "search"), [(False, False), (True, False), (False, True)])
def test_commands_applied_while_the_clock_waits_replay_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold: bool, search: bool
) -> None:
    """Commands that arrive between ticks are applied at once (with their engine work: a prime
    read, a returning style caught up); they still belong to the next step, so the record
    replays bit for bit, every float included (the shipped models: tiny ones can hide a
    different op order). With `hold`, every prime looks too long for the time left, so it
    waits for the tick after (and is read right after it)."""
    shipped = [shipped_dir() / f"{name}.safetensors" for name in ("shakespeare", "kjv")]
    record = tmp_path / "take.jsonl"
    session = make_session(
        shipped, weights=[1.0, 0.0], rate=40, record=record,
        style_paths=[str(p) for p in shipped],
        search=SearchSettings(samples=4, depth=3) if search else None,
    )  # fmt: skip
    if hold:
        monkeypatch.setattr(session, "_work_ahead", lambda commands: 60.0 if any(
            c.type == "prime" for c in commands) else 0.0)  # fmt: skip
    early: list[int] = []
    apply_now = session._apply_now
    monkeypatch.setattr(
        session, "_apply_now", lambda cs, s: (early.append(len(cs)), apply_now(cs, s))[1]
    )
    steps: list[StepEvent] = []
    session.add_sink(lambda e: steps.append(e) if isinstance(e, StepEvent) else None)
    script: list[dict[str, Any]] = [
        {"type": "reset"},
        {"type": "set", "weights": {"kjv": 1.0, "shakespeare": 0.0}},
        {"type": "prime", "text": "once upon a time "},
        {"type": "set", "weights": {"shakespeare": 1.0}},
        {"type": "save", "name": "both"},
        {"type": "set", "weights": {"shakespeare": 0.0}, "slew": 0.2},
        {"type": "preset", "name": "both", "morph": 0.1},
        {"type": "xy", "x": 0.1, "y": 0.9},
    ]

    async def scenario() -> None:
        runner = asyncio.create_task(session.run())
        for command in script:
            await until(lambda: len(steps) >= 5, what="a few symbols")
            session.submit(command)
            seen = len(steps)
            await until(lambda seen=seen: len(steps) >= seen + 7, what="symbols under it")
        session.close()
        await asyncio.wait_for(runner, 30)

    asyncio.run(scenario())
    assert sum(early) >= 4  # most came in while the clock waited (all, on an idle machine)
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.matches is True and result.text == "".join(e.symbol for e in steps)


def test_search_is_a_session_command_recorded_for_an_exact_replay(
    two_styles: list[Path], tmp_path: Path
) -> None:
    record = tmp_path / "search.jsonl"
    session = make_session(
        two_styles, seed=5, record=record, rate=30, style_paths=[str(p) for p in two_styles]
    )
    script = {
        3: {"type": "set", "search": {"on": True, "samples": 6, "depth": 3}},
        10: {"type": "set", "weights": {"letters": 0.5, "digits": 0.5}},
        20: {"type": "set", "search": {"on": True, "depth": 5, "balance": 2.0, "margin": 0.5}},
        30: {"type": "set", "search": {"on": False}},
        40: {"type": "set", "search": {"on": True}},  # back on with the settings kept
    }
    text, aheads = [], []
    for step in range(50):
        if step in script:
            session.submit(script[step])
        event = session.step()
        text.append(event.symbol)
        aheads.append(event.ahead)
        if step == 25:
            assert session.state()["search"] == {
                "on": True, "samples": 6, "depth": 5, "balance": 2.0, "keep_kind": True,
                "margin": 0.5,
            }  # fmt: skip
    assert session.state()["search"]["on"] and session.conductor.search is not None
    assert session.conductor.search.depth == 5  # kept while it was off
    # the foresight comes with every searched symbol: depth - 1 symbols
    assert aheads[2] is None and len(aheads[4] or "") == 2 and len(aheads[25] or "") == 4
    assert aheads[35] is None
    session.close()
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.text == "".join(text) and result.matches is True


def test_a_search_started_with_the_session_is_in_its_record(
    two_styles: list[Path], tmp_path: Path
) -> None:
    from conductor.search import SearchSettings

    record = tmp_path / "started.jsonl"
    ensemble = Ensemble.from_checkpoints(two_styles)
    conductor = Conductor(ensemble, seed=2)
    conductor.search = SearchSettings(samples=4, depth=3)
    session = Session(conductor, rate=30, record=record, style_paths=[str(p) for p in two_styles])
    text = "".join(session.step().symbol for _ in range(30))
    session.close()
    assert json.loads(record.read_text().splitlines()[0])["search"]["samples"] == 4
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.text == text and result.matches is True


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        ({"type": "set", "search": {"samples": 0}}, "samples"),
        ({"type": "set", "search": {"depth": 99}}, "depth"),
        ({"type": "set", "search": {"balance": -1}}, "balance"),
        ({"type": "set", "search": {"margin": float("nan")}}, "margin"),
        ({"type": "set", "search": {"on": "maybe"}}, "on"),
        ({"type": "set", "search": {"width": 3}}, "width"),
    ],
)
def test_a_bad_search_setting_is_refused_and_changes_nothing(
    two_styles: list[Path], command: dict[str, Any], fragment: str
) -> None:
    session = make_session(two_styles)
    before = session.state()
    with pytest.raises(CommandError, match=fragment) as refused:
        session.submit(command)
    assert "\n" not in str(refused.value)
    session.step()
    assert session.state()["search"] == before["search"] and session.conductor.search is None
    session.close()


def test_a_search_too_wide_for_the_rate_is_narrowed_and_says_so(
    two_styles: list[Path], tmp_path: Path
) -> None:
    """At 10,000 symbols/s no search fits a symbol's 0.1 ms: it is halved, step by step, then
    made shallower, then turned off; each narrowing is an error event and a recorded command,
    so the replay (which has no clock) narrows at the same steps."""
    record = tmp_path / "narrowed.jsonl"
    session = make_session(
        two_styles, seed=1, record=record, rate=10_000, style_paths=[str(p) for p in two_styles]
    )
    events: list[Any] = []
    session.add_sink(events.append)
    session.submit({"type": "set", "search": {"on": True, "samples": 8, "depth": 3}})
    text = "".join(session.step().symbol for _ in range(60))
    session.close()
    said = [e.message for e in events if type(e).__name__ == "ErrorEvent"]
    assert said[0].startswith("search 8x3 takes") and said[0].endswith("narrowed it to 4x3")
    assert any(line.endswith("turned search off") for line in said)
    assert session.conductor.search is None
    result = replay(record, lambda styles: [Path(s) for s in styles])
    assert result.text == text and result.matches is True
