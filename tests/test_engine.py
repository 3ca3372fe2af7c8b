from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conductor import engine as engine_module
from conductor.checkpoint import save_checkpoint
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.model import CharLSTM, ModelConfig
from conductor.vocab import ASCII128

SHAPES = [
    ModelConfig(layers=1, hidden=24, embed=8),
    ModelConfig(layers=2, hidden=16, embed=12),
    ModelConfig(layers=1, hidden=24, embed=5),  # same group as the first: embed is folded away
    ModelConfig(layers=3, hidden=8, embed=8),
]


def make_models(configs: list[ModelConfig], seed: int = 0) -> list[CharLSTM]:
    torch.manual_seed(seed)
    models = []
    for config in configs:
        model = CharLSTM(config).eval()
        with torch.no_grad():  # larger than init scale, so differences would show
            for p in model.parameters():
                p.mul_(3.0)
        models.append(model)
    return models


def reference_logits(models: list[CharLSTM], ids: torch.Tensor) -> torch.Tensor:
    """Each model run alone over ids [B, T] → logits [B, T, N, V]."""
    with torch.no_grad():
        return torch.stack([m(ids)[0] for m in models], dim=2)


@pytest.mark.parametrize("streams", [1, 3])
def test_engine_equals_each_model_alone_for_mixed_sizes(streams: int) -> None:
    models = make_models(SHAPES)
    engine = Ensemble(models, [f"m{i}" for i in range(len(models))])
    assert len(engine.groups) == 3
    engine.set_streams(streams)
    ids = torch.randint(0, 128, (streams, 40))
    expected = reference_logits(models, ids)  # [B, T, N, V]
    for t in range(ids.shape[1]):
        got = engine.step(ids[:, t])  # [B, N, V]
        torch.testing.assert_close(got, expected[:, t], atol=1e-5, rtol=1e-5)


def test_skipped_model_catches_up_exactly() -> None:
    models = make_models(SHAPES, seed=1)
    engine = Ensemble(models, ["a", "b", "c", "d"])
    engine.set_streams(2)
    ids = torch.randint(0, 128, (2, 60))
    expected = reference_logits(models, ids)
    # Model 1 sleeps for steps 10..29, model 3 for 5..49, model 0 for 20..21.
    for t in range(60):
        active = torch.ones(4, dtype=torch.bool)
        if 10 <= t < 30:
            active[1] = False
        if 5 <= t < 50:
            active[3] = False
        if 20 <= t < 22:
            active[0] = False
        got = engine.step(ids[:, t], active)
        for m in range(4):
            if active[m]:
                torch.testing.assert_close(got[:, m], expected[:, t, m], atol=1e-5, rtol=1e-5)
            else:
                assert torch.equal(got[:, m], torch.zeros_like(got[:, m]))
    # and the states equal those of models that never slept
    for m, model in enumerate(models):
        with torch.no_grad():
            _, (h, c) = model.lstm(model.embedding(ids))
        got_h, got_c = engine.state(m)
        torch.testing.assert_close(got_h, h, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got_c, c, atol=1e-5, rtol=1e-5)


def test_a_long_absence_keeps_a_bounded_backlog_and_returns_exactly() -> None:
    """Far more steps away than MAX_BACKLOG: memory and the work of a return stay bounded, and
    the state is still that of a model that never slept."""
    models = make_models(SHAPES, seed=4)
    engine = Ensemble(models, ["a", "b", "c", "d"])
    steps = 6 * engine_module.MAX_BACKLOG
    ids = torch.randint(0, 128, (1, steps + 1))
    for t in range(steps):
        engine.step(ids[:, t], {0})
        assert engine.kept_symbols <= engine_module.MAX_BACKLOG
        assert engine.backlog <= engine_module.MAX_BACKLOG
    assert engine.backlog == engine_module.MAX_BACKLOG  # free-running: nobody worked it off
    expected = reference_logits(models, ids)[:, -1]  # [1, N, V]
    torch.testing.assert_close(engine.step(ids[:, -1]), expected, atol=1e-5, rtol=1e-5)
    assert engine.backlog == 0 and engine.kept_symbols == 0


def test_work_off_in_idle_time_changes_no_float() -> None:
    """Catching up between steps (as a live session does, at times set by the clock) and all at
    once on return (as a replay does) give bit-identical logits."""
    models = make_models(SHAPES, seed=5)
    idle = Ensemble(models, ["a", "b", "c", "d"])
    lazy = Ensemble(models, ["a", "b", "c", "d"])
    idle.set_streams(2)
    lazy.set_streams(2)
    ids = torch.randint(0, 128, (2, 200))
    generator = torch.Generator().manual_seed(0)
    for t in range(200):
        active = {0, 2} if 20 <= t < 150 else {0, 1, 2, 3}
        a, b = idle.step(ids[:, t], active), lazy.step(ids[:, t], active)
        assert torch.equal(a, b), f"step {t}"
        budget = int(torch.randint(0, 6, (1,), generator=generator))  # irregular idle time
        while budget and idle.work_off(int(torch.randint(1, 4, (1,), generator=generator))):
            budget -= 1
    assert idle.work_off() == 0


def test_work_off_reads_what_was_missed_and_nothing_more() -> None:
    engine = Ensemble(make_models(SHAPES[:2]), ["a", "b"])
    away = engine_module.MAX_BACKLOG
    for _ in range(away):
        engine.step(torch.randint(0, 128, (1,)), {0})
    assert engine.backlog == away
    assert engine.work_off(3) == 3 and engine.backlog == away - 3
    assert engine.kept_symbols == away - 3
    assert engine.work_off(100) == away - 3 and engine.backlog == 0 and engine.kept_symbols == 0
    assert engine.work_off() == 0


def test_missed_symbols_are_forgotten_once_everyone_caught_up() -> None:
    engine = Ensemble(make_models(SHAPES[:2]), ["a", "b"])
    off = torch.tensor([True, False])
    for _ in range(5):
        engine.step(torch.randint(0, 128, (1,)), off)
    assert len(engine._missed) == 5
    engine.step(torch.randint(0, 128, (1,)))
    assert len(engine._missed) == 0


def test_advance_then_step_equals_stepping() -> None:
    models = make_models(SHAPES, seed=2)
    a = Ensemble(models, ["a", "b", "c", "d"])
    b = Ensemble(models, ["a", "b", "c", "d"])
    ids = torch.randint(0, 128, (1, 30))
    for t in range(30):
        stepped = a.step(ids[:, t])
    b.advance(ids[:, :-1])
    torch.testing.assert_close(b.step(ids[:, -1]), stepped, atol=1e-5, rtol=1e-5)


def test_reset_and_fork_streams() -> None:
    models = make_models(SHAPES[:2], seed=3)
    engine = Ensemble(models, ["a", "b"])
    engine.set_streams(2)
    ids = torch.randint(0, 128, (2, 10))
    for t in range(10):
        engine.step(ids[:, t])
    child = engine.fork(1)
    assert child == 2 and engine.streams == 3
    engine.reset(0)
    nxt = torch.tensor([5, 6, 6])
    out = engine.step(nxt)
    torch.testing.assert_close(out[1], out[2])  # the fork continues exactly like its parent
    fresh = Ensemble(models, ["a", "b"])
    torch.testing.assert_close(out[0], fresh.step(torch.tensor([5]))[0], atol=1e-6, rtol=1e-6)
    with pytest.raises(ConductorError, match="no stream 7"):
        engine.reset(7)


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    models = make_models(SHAPES[:2])
    with pytest.raises(ConductorError, match="distinct name"):
        Ensemble(models, ["a", "a"])
    engine = Ensemble(models, ["a", "b"])
    with pytest.raises(ConductorError, match="one symbol per stream"):
        engine.step(torch.tensor([1, 2]))


def test_from_checkpoints_names_models_by_file(tmp_path: Path) -> None:
    paths = []
    for name, model in zip(["shakes", "bible"], make_models(SHAPES[:2]), strict=True):
        paths.append(save_checkpoint(tmp_path / f"{name}.safetensors", model, ASCII128))
    engine = Ensemble.from_checkpoints(paths)
    assert engine.names == ["shakes", "bible"]
    assert engine.step(torch.tensor([65])).shape == (1, 2, 128)


# Reduced precision: what the fp16 and int8 stores are allowed to change in the logits of these
# test models (weights at 3x init scale) over 40 steps; real styles' BPC costs are measured in
# bench/precision.py.
REDUCED_TOLERANCE = {"fp16": 1e-2, "int8": 1e-1}


@pytest.mark.parametrize("precision", ["fp16", "int8"])
@pytest.mark.parametrize("streams", [1, 3])
def test_reduced_precision_stays_close_to_fp32(precision: str, streams: int) -> None:
    models = make_models(SHAPES, seed=7)
    names = [f"m{i}" for i in range(len(models))]
    exact, reduced = Ensemble(models, names), Ensemble(models, names, precision=precision)
    assert exact.precisions == ["fp32"] * 4 and reduced.precisions == [precision] * 4
    for engine in (exact, reduced):
        engine.set_streams(streams)
    ids = torch.randint(0, 128, (streams, 40))
    worst = 0.0
    for t in range(ids.shape[1]):
        a = torch.log_softmax(exact.step(ids[:, t]), dim=-1)  # [B, N, V]
        b = torch.log_softmax(reduced.step(ids[:, t]), dim=-1)
        worst = max(worst, float((a - b).abs().max()))
    assert 0.0 < worst < REDUCED_TOLERANCE[precision]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_catches_up_bit_for_bit(precision: str) -> None:
    """Skipping and idle-time catch-up in reduced precision: the same floats whenever it runs."""
    models = make_models(SHAPES, seed=8)
    names = ["a", "b", "c", "d"]
    idle = Ensemble(models, names, precision=precision)
    never = Ensemble(models, names, precision=precision)
    ids = torch.randint(0, 128, (1, 120))
    for t in range(120):
        active = {0, 2} if 10 <= t < 90 else {0, 1, 2, 3}
        got, want = idle.step(ids[:, t], active), never.step(ids[:, t])
        for m in active:
            assert torch.equal(got[:, m], want[:, m]), f"step {t}, model {m}"
        idle.work_off(3)
    assert idle.state_digest() == never.state_digest()


def test_precision_per_style_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    models = make_models(SHAPES, seed=9)
    names = ["a", "b", "c", "d"]
    assert Ensemble(models, names).precisions == ["fp32"] * 4  # small: auto keeps fp32
    mixed = Ensemble(models, names, precision={"a": "int8", "d": "fp16"})
    assert mixed.precisions == ["int8", "fp32", "fp32", "fp16"]
    assert len(mixed.groups) == 4  # a and c share a shape but not a precision
    # auto reduces a shape whose members' recurrent weights together pass the threshold
    group_bytes = 2 * 4 * 24 * 4 * 24  # a and c: 1 layer, hidden 24
    monkeypatch.setattr(engine_module, "AUTO_REDUCE_BYTES", group_bytes)
    assert Ensemble(models, names).precisions == ["int8", "fp32", "int8", "fp32"]
    with pytest.raises(ConductorError, match="unknown precision 'int4'.*fp16"):
        Ensemble(models, names, precision="int4")
    with pytest.raises(ConductorError, match="precision given for zz"):
        Ensemble(models, names, precision={"zz": "fp16"})


def test_a_prime_read_by_some_models_reaches_the_others_as_missed_symbols() -> None:
    """advance(ids, models): the others take the text as missed symbols; their state once
    caught up is that of reading it (to float tolerance), a backlog past the bound shrinks two
    a step free-running, and when the catch-up runs changes no float."""
    models = make_models(SHAPES, seed=10)
    names = ["a", "b", "c", "d"]
    ids = torch.randint(0, 128, (1, 80))
    expected = reference_logits(models, ids)  # [1, T, N, V]
    idle, lazy = Ensemble(models, names), Ensemble(models, names)
    for engine in (idle, lazy):
        for t in range(10):
            engine.step(ids[:, t])
        engine.advance(ids[:, 10:40], {0, 2})  # b and d skip the prime
    assert lazy.backlog == 30 and lazy.kept_symbols == 30
    for t in range(40, 79):
        got = lazy.step(ids[:, t], {0, 2})
        for m in (0, 2):
            torch.testing.assert_close(got[:, m], expected[:, t, m], atol=1e-5, rtol=1e-5)
        idle.step(ids[:, t], {0, 2})
        idle.work_off(3)
    assert lazy.backlog == engine_module.MAX_BACKLOG  # shrunk from 30 + 39 missed steps
    for engine in (idle, lazy):
        got = engine.step(ids[:, 79])  # b and d back
        torch.testing.assert_close(got, expected[:, 79], atol=1e-5, rtol=1e-5)
    assert idle.state_digest() == lazy.state_digest()


def test_a_joined_model_reads_the_context_and_the_others_keep_their_state() -> None:
    """A style added mid-stream: the models there go on exactly as if nothing happened (a
    skipped one caught up as it would be), and the newcomer's next logits are those of the
    same model alone after reading the same context."""
    models = make_models(SHAPES, seed=2)
    engine = Ensemble(models[:3], ["a", "b", "c"])
    engine.set_streams(2)
    ids = torch.randint(0, 128, (2, 50))
    expected = reference_logits(models, ids)  # [B, T, N, V]
    for t in range(30):
        active = torch.tensor([True, t < 20, True])  # "b" is skipped for the last ten
        engine.step(ids[:, t], active)
    joined = engine.joined(models[3], "d", context=ids[:, 18:30])  # it reads the last 12
    assert joined.names == ["a", "b", "c", "d"] and engine.names == ["a", "b", "c"]
    alone = reference_logits([models[3]], ids[:, 18:31])[:, -1, 0]  # [B, V]
    for t in range(30, 50):
        got = joined.step(ids[:, t])  # [B, N, V]
        torch.testing.assert_close(got[:, :3], expected[:, t, :3], atol=1e-5, rtol=1e-5)
        if t == 30:
            torch.testing.assert_close(got[:, 3], alone, atol=1e-5, rtol=1e-5)


def test_a_model_taken_out_leaves_the_others_as_they_were() -> None:
    models = make_models(SHAPES, seed=3)
    engine = Ensemble(models, ["a", "b", "c", "d"], precision={"c": "int8"})
    ids = torch.randint(0, 128, (1, 40))
    for t in range(25):
        engine.step(ids[:, t], torch.tensor([True, True, True, t < 10]))
    before = [engine.state(i) for i in (0, 1, 2)]
    fewer = engine.without("d")
    assert fewer.names == ["a", "b", "c"] and fewer.precisions == engine.precisions[:3]
    for i in range(3):
        assert all(torch.equal(x, y) for x, y in zip(fewer.state(i), before[i], strict=True))
    got, ref = fewer.step(ids[:, 25]), engine.step(ids[:, 25])  # [B, N, V]
    assert torch.equal(got, ref[:, :3])


def test_joining_and_leaving_refuse_what_makes_no_ensemble() -> None:
    models = make_models(SHAPES[:2], seed=4)
    engine = Ensemble(models[:1], ["a"])
    with pytest.raises(ConductorError, match="already has a style named 'a'"):
        engine.joined(models[1], "a")
    with pytest.raises(ConductorError, match=r"context is symbols \[streams=1, T\]"):
        engine.joined(models[1], "b", context=torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ConductorError, match="no style 'z' in the ensemble"):
        engine.without("z")
    with pytest.raises(ConductorError, match="only style"):
        engine.without("a")
    with pytest.raises(ConductorError, match=r"is \[L, B, H\]"):
        engine.set_state(0, torch.zeros(1, 1, 3), torch.zeros(1, 1, 3))


def test_a_newcomer_that_read_ahead_ends_as_one_that_read_it_all_as_missed() -> None:
    """`read_ahead` on a fresh ensemble (off the engine thread) and the rest as missed symbols
    give the very floats of reading everything as missed: what a live load and its replay do."""
    models = make_models(SHAPES, seed=9)
    ids = torch.randint(0, 128, (1, 60))
    playing = Ensemble(models[:2], ["a", "b"])
    for t in range(40):
        playing.step(ids[:, t])
    early = Ensemble(models[:3], ["a", "b", "c"])
    state = early.read_ahead("c", ids[:, 10:30])  # prepared while "a" and "b" went on
    early.inherit(playing, ids[:, 30:40], states={"c": state})
    late = Ensemble(models[:3], ["a", "b", "c"])
    late.inherit(playing, ids[:, 10:40])
    assert early.backlog == 10 and late.backlog == 30
    for engine in (early, late):
        engine.catch_up()
    assert early.state_digest() == late.state_digest()
    with pytest.raises(ConductorError, match="'a' is not new here"):
        Ensemble(models[:3], ["a", "b", "c"]).inherit(playing, states={"a": state})
