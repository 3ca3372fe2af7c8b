"""Shared fixtures: small real text and a tiny trained model, built once per session."""

from __future__ import annotations

import asyncio
import os
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from conductor.corpus import load_corpus
from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.model import ModelConfig
from conductor.server.run import BackgroundServer
from conductor.session import Session
from conductor.train import TrainConfig, Trainer

# Property tests explore the same examples on every run (set HYPOTHESIS_PROFILE=explore to
# search afresh): a red CI run then always means a change broke something.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(1)  # tests run in parallel with nothing; one thread keeps runs repeatable


DEADLINE = 60.0  # seconds: generous, so a loaded machine is slow but never red


def wait_for(condition: Callable[[], object], timeout: float = DEADLINE, what: str = "") -> None:
    """Poll `condition` until it is true; fail (saying what was awaited) after `timeout` s.

    Tests synchronise on what they wait for, never on a fixed sleep or a rate of steps per
    wall-clock second, so a busy machine makes them slower, not red."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(0.005)


async def until(condition: Callable[[], object], timeout: float = DEADLINE, what: str = "") -> None:
    """`wait_for` inside an event loop: polls without blocking the loop."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        await asyncio.sleep(0.005)


@pytest.fixture(scope="session")
def python_text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300 kB of real text: modules of the running Python's standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    for path in sorted(stdlib.glob("*.py")):
        parts.append(path.read_text(encoding="utf-8", errors="replace"))
        if sum(map(len, parts)) > 300_000:
            break
    out = tmp_path_factory.mktemp("corpus") / "stdlib.txt"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def two_styles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two tiny models, "letters" (lowercase words) and "digits", each trained in seconds on its
    own generated corpus file (kept, so the checkpoints' corpus records resolve)."""
    rng = np.random.default_rng(0)
    texts = {
        "letters": " ".join(
            "".join(rng.choice(list("abcdefghij"), size=rng.integers(2, 7))) for _ in range(12_000)
        ),
        "digits": " ".join(
            "".join(rng.choice(list("0123456789"), size=rng.integers(2, 7))) for _ in range(12_000)
        ),
    }
    out = tmp_path_factory.mktemp("styles")
    paths = []
    config = TrainConfig(batch=16, seq_len=32, lr=1e-2, warmup_steps=10, eval_every=100)
    for name, text in texts.items():
        corpus_file = out / f"{name}.txt"
        corpus_file.write_text(text, encoding="ascii")
        trainer = Trainer(
            load_corpus(corpus_file),
            out / f"{name}.safetensors",
            ModelConfig(hidden=32, embed=8),
            config,
        )
        trainer.run(max_steps=200)
        paths.append(out / f"{name}.safetensors")
    return paths


class LiveServer(BackgroundServer):
    """A real server (web + OSC on free ports) over the two tiny styles, for real clients."""

    def __init__(self, paths: list[Path], rate: float = 50.0, token: str | None = None) -> None:
        session = Session(
            Conductor(Ensemble.from_checkpoints(paths), seed=0), [1.0, 0.0], rate=rate
        )
        super().__init__(session, port=0, osc_port=0, token=token)

    @property
    def ws_url(self) -> str:
        assert self.endpoints is not None
        return self.endpoints.url.replace("http://", "ws://") + "ws"

    @property
    def osc(self) -> tuple[str, int]:
        assert self.endpoints is not None and self.endpoints.osc is not None
        return self.endpoints.osc


@pytest.fixture(scope="module")
def live(two_styles: list[Path]) -> Iterator[LiveServer]:
    server = LiveServer(two_styles)
    yield server
    server.stop()
