from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conductor.checkpoint import load_checkpoint, read_container
from conductor.corpus import load_corpus
from conductor.errors import CheckpointError, ConductorError
from conductor.model import ModelConfig
from conductor.train import TrainConfig, Trainer, TrainStatus, resume_path

TINY = ModelConfig(layers=1, hidden=32, embed=16)
FAST = TrainConfig(batch=8, seq_len=32, lr=5e-3, warmup_steps=5, eval_every=10, val_symbols=4000)


def test_a_few_steps_lower_the_loss(python_text_file: Path, tmp_path: Path) -> None:
    trainer = Trainer(load_corpus(python_text_file), tmp_path / "m.safetensors", TINY, FAST)
    result = trainer.run(max_steps=60)
    first = sum(trainer.losses[:5]) / 5
    last = sum(trainer.losses[-5:]) / 5
    assert last < first - 0.5
    assert result.stopped_because == "steps" and result.steps == 60
    assert result.history[-1]["val_bpc"] < math.log2(128) - 1


def test_best_checkpoint_holds_the_best_validation_score(
    python_text_file: Path, tmp_path: Path
) -> None:
    trainer = Trainer(load_corpus(python_text_file), tmp_path / "m.safetensors", TINY, FAST)
    result = trainer.run(max_steps=40)
    best = min(h["val_bpc"] for h in result.history)
    _, record = load_checkpoint(result.checkpoint)
    assert record["metrics"]["val_bpc"] == pytest.approx(best)
    assert record["corpus"]["sha256"] == trainer.corpus.sha256
    assert record["name"] == "m"


def test_resumed_run_equals_an_uninterrupted_one(python_text_file: Path, tmp_path: Path) -> None:
    corpus = load_corpus(python_text_file)
    whole = Trainer(corpus, tmp_path / "a" / "m.safetensors", TINY, FAST)
    whole.run(max_steps=30)

    def stop_at_13(status: TrainStatus) -> None:
        if status.step == 13:  # between evaluations, mid-epoch
            part.request_stop()

    part = Trainer(corpus, tmp_path / "b" / "m.safetensors", TINY, FAST, reporter=stop_at_13)
    assert part.run(max_steps=30).stopped_because == "interrupted"
    resumed = Trainer.resume(corpus, tmp_path / "b" / "m.safetensors")
    assert resumed.step == 13
    resumed.run()  # the recorded budget: 30 steps

    assert resumed.losses == whole.losses  # bit for bit, every step
    for (name, a), (_, b) in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_early_stopping_when_validation_stalls(python_text_file: Path, tmp_path: Path) -> None:
    frozen = TrainConfig(
        batch=8, seq_len=32, lr=1e-12, warmup_steps=0, eval_every=2, val_symbols=2000, patience=3
    )
    trainer = Trainer(load_corpus(python_text_file), tmp_path / "m.safetensors", TINY, frozen)
    result = trainer.run(max_steps=1000)
    assert result.stopped_because == "early-stop"
    assert result.steps < 1000


def test_resume_refuses_another_corpus_or_a_missing_state(
    python_text_file: Path, tmp_path: Path
) -> None:
    corpus = load_corpus(python_text_file)
    Trainer(corpus, tmp_path / "m.safetensors", TINY, FAST).run(max_steps=3)
    other = tmp_path / "other.txt"
    other.write_text(python_text_file.read_text()[::-1])
    with pytest.raises(CheckpointError, match="sha256 differs"):
        Trainer.resume(load_corpus(other), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="nothing to resume"):
        Trainer.resume(corpus, tmp_path / "none.safetensors")


def test_a_budget_is_required(python_text_file: Path, tmp_path: Path) -> None:
    trainer = Trainer(load_corpus(python_text_file), tmp_path / "m.safetensors", TINY, FAST)
    with pytest.raises(ConductorError, match="budget"):
        trainer.run()


def test_learning_rate_warms_up_then_decays(python_text_file: Path, tmp_path: Path) -> None:
    config = TrainConfig(batch=8, seq_len=32, lr=1e-2, warmup_steps=10, min_lr_fraction=0.1)
    trainer = Trainer(load_corpus(python_text_file), tmp_path / "m.safetensors", TINY, config)
    rates = []
    for step in range(0, 101, 5):
        trainer.step = step
        rates.append(trainer.learning_rate(100, None))
    assert rates[0] < rates[1] < rates[2]  # warm-up
    assert rates[2] == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.1))))
    assert all(a >= b for a, b in itertools.pairwise(rates[2:]))  # cosine decay
    assert rates[-1] == pytest.approx(1e-3)


def test_ctrl_c_saves_and_exits_cleanly(python_text_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "conductor.cli",
        "train",
        str(python_text_file),
        "--out",
        str(tmp_path),
        "--name",
        "m",
        "--size",
        "tiny",
        "--steps",
        "100000",
        "--batch",
        "8",
        "--seq-len",
        "32",
        "--eval-every",
        "25",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    state = resume_path(tmp_path / "m.safetensors")
    deadline = time.monotonic() + 60
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state.exists(), "training never wrote its state"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in out and "--resume" in out
    _, meta = read_container(state)
    assert meta["step"] > 25
    load_checkpoint(tmp_path / "m.safetensors")
