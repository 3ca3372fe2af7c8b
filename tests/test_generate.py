from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conductor.checkpoint import save_checkpoint
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.generate import KEPT, Conductor, Schedule, ScheduleError
from conductor.mixing import mix
from conductor.model import CharLSTM, ModelConfig
from conductor.sampling import SamplingParams
from conductor.vocab import ASCII128

NAMES = ["letters", "digits"]


def test_schedule_interpolates_between_keyframes() -> None:
    schedule = Schedule.parse("0:a=1 100:b=1 200:a=0.5,c=0.5", ["a", "b", "c"])
    assert schedule.weights_at(0) == [1.0, 0.0, 0.0]
    assert schedule.weights_at(50) == [0.5, 0.5, 0.0]
    assert schedule.weights_at(150) == [0.25, 0.5, 0.25]
    assert schedule.weights_at(10_000) == [0.5, 0.0, 0.5]
    assert Schedule.parse("300:b=1 0:a=1", ["a", "b"]).weights_at(150) == [0.5, 0.5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0:klingon=1", "not style=weight"),
        ("zero:a=1", "STEP:style"),
        ("0:a=x", "not a number"),
        ("0:a=nan", "finite"),
        ("0:a=1 0:b=1", "share a step"),
        ("", "at least one keyframe"),
    ],
)
def test_bad_schedules_are_refused(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse(text, ["a", "b"])


def test_same_seed_same_stream(two_styles: list[Path]) -> None:
    def run() -> list[int]:
        conductor = Conductor(Ensemble.from_checkpoints(two_styles), seed=7)
        return [int(conductor.step([0.5, 0.5]).symbols) for _ in range(100)]

    assert run() == run()


def test_a_weight_change_applies_to_the_very_next_symbol(two_styles: list[Path]) -> None:
    conductor = Conductor(Ensemble.from_checkpoints(two_styles), seed=1)
    conductor.prime("abc ")
    for _ in range(20):
        step = conductor.step([1.0, 0.0])
        assert step.by(NAMES) == ["letters"] and step.weights[0].tolist() == [1.0, 0.0]
    step = conductor.step([0.0, 1.0])
    assert step.by(NAMES) == ["digits"]
    assert chr(int(step.symbols)) in "0123456789 "


def test_schedule_morphs_from_one_style_to_the_other(two_styles: list[Path]) -> None:
    conductor = Conductor(
        Ensemble.from_checkpoints(two_styles), seed=3, params=SamplingParams(temperature=0.8)
    )
    schedule = Schedule.parse("0:letters=1 100:letters=1 200:digits=1", NAMES)
    text = "".join(chr(int(conductor.step(schedule.weights_at(i)).symbols)) for i in range(300))
    head, tail = text[:100], text[200:]
    # Tiny models still give unseen symbols a little mass: allow a stray one or two.
    assert sum(c in "abcdefghij" for c in head) > 60 and sum(c.isdigit() for c in head) <= 2
    assert sum(c.isdigit() for c in tail) > 60 and sum(c in "abcdefghij" for c in tail) <= 2


def test_skipping_with_catch_up_gives_the_same_stream_as_running_everything(
    two_styles: list[Path],
) -> None:
    """A model at weight 0 is skipped, then returns: output equals never skipping at all."""
    weights = [[1.0, 0.0]] * 40 + [[0.5, 0.5]] * 40 + [[0.0, 1.0]] * 40 + [[0.3, 0.7]] * 40
    streams = []
    for threshold in (0.0, 0.05):
        conductor = Conductor(Ensemble.from_checkpoints(two_styles), seed=5, threshold=threshold)
        streams.append([int(conductor.step(w).symbols) for w in weights])
    assert streams[0] == streams[1]


def test_lookahead_gives_the_same_stream_as_stepping_plainly(two_styles: list[Path]) -> None:
    """Engine work done ahead (with the weights then known) changes no symbol, including when
    the next weights wake a model the lookahead skipped, and across a prime."""
    weights = [[1.0, 0.0]] * 30 + [[0.0, 1.0]] * 30 + [[0.5, 0.5]] * 30 + [[1.0, 0.0]] * 30
    streams = []
    for ahead in (False, True):
        conductor = Conductor(Ensemble.from_checkpoints(two_styles), seed=9)
        text = []
        for i, w in enumerate(weights):
            if i == 70:
                conductor.prime("abc 123 ")
            text.append(int(conductor.step(w).symbols))
            if ahead:
                conductor.lookahead(weights[i])  # the weights in force now, not the next ones
        streams.append(text)
    assert streams[0] == streams[1]


def test_current_logits_are_what_the_next_step_would_give(two_styles: list[Path]) -> None:
    ensemble = Ensemble.from_checkpoints(two_styles)
    ensemble.step(torch.tensor([ord("a")]))
    now = ensemble.current_logits({0, 1})  # [1, 2, V]
    for i, model in enumerate(ensemble.models):
        h, _ = ensemble.state(i)
        torch.testing.assert_close(now[:, i], model.head(h[-1]), atol=1e-5, rtol=1e-5)


def test_bad_weights_and_temperatures(two_styles: list[Path]) -> None:
    conductor = Conductor(Ensemble.from_checkpoints(two_styles))
    with pytest.raises(ConductorError, match="finite"):
        conductor.step([float("nan"), 1.0])
    with pytest.raises(ConductorError, match="one weight per style"):
        conductor.step([1.0])
    conductor.step([1.0, 0.0])  # and it still works after refusing bad input
    with pytest.raises(ConductorError, match="unknown style 'jazz'"):
        conductor.weights_from({"jazz": 1.0})
    with pytest.raises(ConductorError, match="per-style temperatures"):
        Conductor(Ensemble.from_checkpoints(two_styles), style_temperatures=[1.0])


@pytest.mark.parametrize("mixer", ["linear", "product"])
def test_steps_carry_the_distributions_that_were_sampled(
    two_styles: list[Path], mixer: str
) -> None:
    ensemble = Ensemble.from_checkpoints(two_styles)
    conductor = Conductor(ensemble, mixer=mixer, style_temperatures=[1.0, 0.5])  # type: ignore[arg-type]
    conductor.prime("abc 12")
    pending = conductor.pending.clone()
    state = [ensemble.state(i) for i in range(2)]
    step = conductor.step([0.6, 0.4])
    # Each model's distribution: its own model run alone on the same input, over its temperature.
    for i, (model, temperature) in enumerate(zip(ensemble.models, [1.0, 0.5], strict=True)):
        logits, _ = model(pending.view(1, 1), state[i])  # [1, 1, V]
        alone = torch.log_softmax(logits[:, 0] / temperature, dim=-1)  # [1, V]
        torch.testing.assert_close(step.per_model[:, i], alone, atol=1e-5, rtol=1e-5)
    expected = mix(step.per_model, step.weights, mixer)  # type: ignore[arg-type]
    torch.testing.assert_close(step.mixed, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(step.attribution.sum(-1) > 0.999, torch.ones(1, dtype=torch.bool))


def test_multi_stream_steps_are_independent(two_styles: list[Path]) -> None:
    ensemble = Ensemble.from_checkpoints(two_styles)
    ensemble.set_streams(2)
    conductor = Conductor(ensemble, seed=0)
    step = conductor.step(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert step.symbols.shape == (2,) and step.by(NAMES) == ["letters", "digits"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conductor.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_generate_streams_json_events(two_styles: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = cli(
        "generate",
        "--styles",
        ",".join(map(str, two_styles)),
        "--schedule",
        "0:letters=1 50:digits=1",
        "--chars",
        "80",
        "--json",
        str(out),
        "--seed",
        "2",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == 80 and events[0]["type"] == "step" and events[0]["i"] == 0
    assert events[0]["weights"] == {"letters": 1.0, "digits": 0.0}
    assert events[-1]["by"] == "digits" and events[0]["by"] == "letters"
    assert "written by" in result.stdout
    reduced = cli(
        "generate",
        "--styles",
        ",".join(map(str, two_styles)),
        "--chars",
        "20",
        "--precision",
        "letters=int8,digits=fp16",
    )
    assert reduced.returncode == 0 and "written by" in reduced.stdout, reduced.stderr


def test_cli_generate_errors_are_one_line(two_styles: list[Path], tmp_path: Path) -> None:
    styles = ",".join(map(str, two_styles))
    cases = [
        (["--styles", "nosuch", "--styles-dir", str(tmp_path)], "not found"),
        (["--styles", styles, "--weights", "1,nan"], "finite"),
        (["--styles", styles, "--weights", "1,x"], "comma-separated numbers"),
        (["--styles", styles, "--weights", "1,-1"], "product"),
        (["--styles", styles, "--schedule", "0:jazz=1"], "not style=weight"),
        (["--styles", styles, "--top-p", "0"], "top-p"),
        (["--styles", styles, "--json", str(tmp_path / "no" / "dir.jsonl")], "cannot write"),
        (["--styles", styles, "--precision", "int4"], "unknown precision 'int4'"),
        (["--styles", styles, "--precision", "letters=int4"], "unknown precision 'int4'"),
        (["--styles", styles, "--precision", "zz=int8"], "precision given for zz"),
        (["--styles", styles, "--precision", "=int8"], "--precision takes"),
    ]
    for args, message in cases:
        result = cli("generate", *args, "--chars", "5")
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert message in result.stderr, (args, result.stderr)


def test_checkpoint_paths_work_as_styles(tmp_path: Path) -> None:
    path = save_checkpoint(
        tmp_path / "x.safetensors", CharLSTM(ModelConfig(hidden=8, embed=4)), ASCII128
    )
    result = cli("generate", "--styles", str(path), "--chars", "20", "--seed", "1")
    assert result.returncode == 0, result.stderr


def _models(count: int, seed: int = 0) -> list[CharLSTM]:
    torch.manual_seed(seed)
    models = [CharLSTM(ModelConfig(layers=1, hidden=24, embed=8)).eval() for _ in range(count)]
    with torch.no_grad():
        for model in models:
            for p in model.parameters():
                p.mul_(3.0)  # away from init scale, so that a wrong state would show
    return models


@pytest.mark.parametrize("lookahead", [False, True], ids=["plain", "after a lookahead"])
def test_a_style_joins_where_the_text_is_and_changes_nothing_at_weight_zero(
    lookahead: bool,
) -> None:
    a, b, c = _models(3, seed=5)
    alone = Conductor(Ensemble([a, b], ["a", "b"]), seed=3)
    joined = Conductor(Ensemble([a, b], ["a", "b"]), seed=3)
    written = [int(joined.step([0.6, 0.4]).symbols[0]) for _ in range(20)]
    assert written == [int(alone.step([0.6, 0.4]).symbols[0]) for _ in range(20)]
    if lookahead:  # a live session's lookahead has read the pending symbol already
        joined.lookahead([0.6, 0.4])
        alone.lookahead([0.6, 0.4])
    joined.join(c, "c", context=torch.tensor([written[-12:]]))  # [B, T], pending last
    assert joined.names == ["a", "b", "c"]
    for _ in range(20):  # at weight 0 it is skipped: the same symbols, the same random stream
        assert int(joined.step([0.6, 0.4, 0.0]).symbols[0]) == int(
            alone.step([0.6, 0.4]).symbols[0]
        )
    # what it predicted first: the model alone after reading the context and then the text on
    fresh = Conductor(Ensemble([a, b], ["a", "b"]), seed=3)
    text = [int(fresh.step([0.6, 0.4]).symbols[0]) for _ in range(40)]
    with torch.no_grad():
        reference = c(torch.tensor([text[8:40]]))[0][:, -1]  # [B, V]
    got = joined.step([0.0, 0.0, 1.0]).scaled_logits[:, 2]  # c caught up on what it skipped
    torch.testing.assert_close(got, reference, atol=1e-5, rtol=1e-5)


def test_a_style_leaves_and_the_rest_go_on_as_if_it_had_never_played() -> None:
    a, b, c = _models(3, seed=6)
    three = Conductor(Ensemble([a, b, c], ["a", "b", "c"]), seed=1)
    two = Conductor(Ensemble([a, c], ["a", "c"]), seed=1)
    for _ in range(15):  # "b" at weight 0: skipped, the same symbols as without it
        assert int(three.step([0.5, 0.0, 0.5]).symbols[0]) == int(two.step([0.5, 0.5]).symbols[0])
    three.lookahead([0.5, 0.0, 0.5])
    two.lookahead([0.5, 0.5])
    three.leave("b")
    assert three.names == ["a", "c"]
    for _ in range(15):
        assert int(three.step([0.5, 0.5]).symbols[0]) == int(two.step([0.5, 0.5]).symbols[0])
    with pytest.raises(ConductorError, match="no style 'b'"):
        three.leave("b")


def test_a_context_must_end_where_the_text_is() -> None:
    a, b = _models(2, seed=7)
    conductor = Conductor(Ensemble([a], ["a"]), seed=2)
    conductor.step([1.0])
    wrong = (int(conductor.pending[0]) + 1) % 128
    with pytest.raises(ConductorError, match="ends with the pending symbol"):
        conductor.join(b, "b", context=torch.tensor([[65, wrong]]))
    with pytest.raises(ConductorError, match=r"context is symbols \[streams=1, T\]"):
        conductor.join(b, "b", context=torch.tensor([1, 2]))
    assert conductor.names == ["a"]  # refused: nothing changed


def test_the_history_keeps_the_latest_symbols_with_their_positions() -> None:
    """What a style that joins reads: the symbols the models read, the pending one last,
    numbered since the start; a reset starts the context afresh, a restore counts itself."""
    (a,) = _models(1, seed=8)
    conductor = Conductor(Ensemble([a], ["a"]), seed=4)
    assert conductor.history.tolist() == [[10]] and conductor.written == 1
    conductor.prime("abc")
    written = [int(conductor.step([1.0]).symbols[0]) for _ in range(5)]
    assert conductor.history.tolist() == [[10, 97, 98, 99, *written]]
    assert conductor.written == 9 and conductor.history_start == 0
    assert conductor.at(2, 4).tolist() == [[98, 99]]
    mark = conductor.snapshot()
    for _ in range(900):
        conductor.step([1.0])
    assert conductor.history.shape[1] == KEPT and conductor.history_start == 909 - KEPT
    with pytest.raises(ConductorError, match="not in the history"):
        conductor.at(2, 4)
    conductor.restore(mark)
    assert conductor.written == 9 and conductor.restores == 1
    conductor.reset()
    assert conductor.history.tolist() == [[10]] and conductor.history_start == 9
