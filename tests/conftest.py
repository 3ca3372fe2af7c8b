"""Shared fixtures: small real text and a tiny trained model, built once per session."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import settings

from conductor.commands import (
    InputCommand,
    LearnCommand,
    LoadCommand,
    MappingCommand,
    PauseCommand,
    PlayCommand,
    PresetCommand,
    RateCommand,
    SaveCommand,
    SetCommand,
    UnloadCommand,
    XyCommand,
)
from conductor.corpus import load_corpus
from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.learning import LearnedMapping, Mappings
from conductor.library import Library
from conductor.mapping import xy_weights
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
            Conductor(Ensemble.from_checkpoints(paths), seed=0),
            [1.0, 0.0],
            rate=rate,
            library=Library(paths[0].parent),
            mappings_dir=paths[0].parent / "mappings",
        )
        super().__init__(session, port=0, osc_port=0, token=token)
        self.rate = rate

    def _regroup(self, scene: list[dict[str, Any]], names: list[str]) -> None:
        self.call(lambda: self.session.submit_all(scene))
        wait_for(lambda: self.call(lambda: self.session.names) == names, what=f"styles {names}")

    def restore(self) -> None:
        """Back to how it started (the clock running at its rate, letters alone, the styles
        letters and digits in that order), whatever a test (a fuzz test above all) left."""
        if self.call(lambda: list(self.session.names)) != ["letters", "digits"]:
            if "letters" not in self.call(lambda: self.session.names):
                self._regroup(
                    [{"type": "load", "style": "letters"}], [*self.session.names, "letters"]
                )
            others = [name for name in self.session.names if name != "letters"]
            self._regroup(
                [{"type": "set", "weights": {"letters": 1.0}, "mixer": "linear"}]
                + [{"type": "unload", "style": name} for name in others],
                ["letters"],
            )
            self._regroup([{"type": "load", "style": "digits"}], ["letters", "digits"])
        scene = [
            {"type": "play"},
            {"type": "rate", "chars_per_s": self.rate},
            {"type": "learn", "style": None},
            {"type": "mapping", "action": "clear"},
            {
                "type": "set",
                "weights": {"letters": 1.0, "digits": 0.0},
                "mixer": "linear",
                "search": {"on": False},
            },
            {"type": "set", "temperature": 1.0, "top_k": 0, "top_p": 1.0, "bias": 0.0},
        ]
        self.call(lambda: self.session.submit_all(scene))
        wait_for(lambda: self.call(lambda: self.session.target) == [1.0, 0.0], what="restore")

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


def pending_view(session: Session) -> dict[str, Any]:
    """Everything a command can change, as it will be once the queue is applied: the same
    before and after any number of steps, so a fuzz test can compare it around one message
    while the clock runs. (Call on the session's loop: `live.call(lambda: pending_view(s))`.)"""
    params = dict(vars(session.conductor.params))
    for queued in session.pending_commands():
        if isinstance(queued, SetCommand):
            params.update(
                {
                    k: v
                    for k in ("temperature", "top_k", "top_p", "bias")
                    if (v := getattr(queued, k)) is not None
                }
            )
    names, target, mixer = session._pending_plan()
    return {
        "names": names,
        "target": [target[name] for name in names],
        "mixer": mixer,
        "params": params,
        "rate": session.rate,
        "paused": session.paused,
        "learning": session.learning,
        "presets": {name: dict(w) for name, w in session.presets.items()},
        "mapping": {
            "examples": [[list(e.inputs), dict(e.weights)] for e in session.mapping.examples],
            "input": None if session.input is None else list(session.input),
            "running": session.mapping_running,
            "saved": session.mapping.saved(),
        },
    }


def settled_view(server: BackgroundServer) -> tuple[dict[str, Any], LearnedMapping | None]:
    """`pending_view` once no mapping is training (what an input maps with is then fixed),
    and the trained mapping it runs."""
    session = server.session
    wait_for(lambda: server.call(lambda: session._training == 0), what="the training to end")
    return server.call(lambda: (pending_view(session), session.mapping.learned))


def expected_view(
    view: dict[str, Any],
    commands: list[Any],
    learned: LearnedMapping | None = None,
    mappings: Path | None = None,
) -> dict[str, Any]:
    """The view once `commands` (validated `Command`s) are taken, as the protocol describes
    (with `learned`, the mapping running then, and `mappings`, where mappings are saved)."""
    out = json.loads(json.dumps(view))
    for command in commands:
        names = out["names"]
        if isinstance(command, InputCommand):
            out["mapping"]["input"] = list(command.values)
            if not out["mapping"]["running"] or learned is None:
                continue
            mapped = {s: w for s, w in learned(command.values).items() if s in names}
            if not mapped:
                continue
            command = SetCommand(weights=mapped)
        if isinstance(command, MappingCommand):
            learned = _expected_mapping(out, command, learned, mappings)
            continue
        if isinstance(command, XyCommand):
            weights = xy_weights(command.x, command.y, len(names))
            command = SetCommand(weights=dict(zip(names, weights, strict=True)), slew=command.slew)
        if isinstance(command, SetCommand):
            if command.weights is not None:
                out["target"] = [
                    command.weights.get(n, w) for n, w in zip(names, out["target"], strict=True)
                ]
            out["mixer"] = command.mixer or out["mixer"]
            for key in ("temperature", "top_k", "top_p", "bias"):
                if getattr(command, key) is not None:
                    out["params"][key] = getattr(command, key)
        elif isinstance(command, PresetCommand):
            out["target"] = [out["presets"][command.name].get(n, 0.0) for n in names]
        elif isinstance(command, SaveCommand):
            out["presets"][command.name] = dict(zip(names, out["target"], strict=True))
        elif isinstance(command, LoadCommand):
            out["names"], out["target"] = [*names, command.style], [*out["target"], 0.0]
        elif isinstance(command, UnloadCommand):
            index = names.index(command.style)
            out["names"] = names[:index] + names[index + 1 :]
            out["target"] = out["target"][:index] + out["target"][index + 1 :]
        elif isinstance(command, RateCommand):
            out["rate"] = command.chars_per_s
        elif isinstance(command, PlayCommand | PauseCommand):
            out["paused"] = isinstance(command, PauseCommand)
        elif isinstance(command, LearnCommand):
            out["learning"] = command.style
    return out


def _expected_mapping(
    view: dict[str, Any],
    command: MappingCommand,
    learned: LearnedMapping | None,
    directory: Path | None,
) -> LearnedMapping | None:
    """A mapping command's change to the view, as the protocol describes; → the mapping that
    runs after it (a training's comes later: not in a view)."""
    mapping = view["mapping"]
    if command.action == "record":
        target = dict(zip(view["names"], view["target"], strict=True))
        weights = view["presets"][command.preset] if command.preset else target
        mapping["examples"].append([mapping["input"], dict(weights)])
    elif command.action == "run":
        mapping["running"] = command.on is not False
    elif command.action == "clear":
        mapping["examples"], mapping["running"] = [], False
        return None
    elif command.action == "delete":
        assert command.example is not None
        del mapping["examples"][command.example]
    elif command.action == "save":
        mapping["saved"] = sorted({*mapping["saved"], command.name})
    elif command.action == "load":
        assert directory is not None and command.name is not None
        loaded = Mappings(directory)
        loaded.load(command.name)
        mapping["examples"] = [[list(e.inputs), dict(e.weights)] for e in loaded.examples]
        return loaded.learned
    return learned


class Heard:
    """A `Progress` that keeps every report, per task."""

    def __init__(self) -> None:
        self.reports: dict[str, list[tuple[float, float]]] = {}

    def __call__(self, task: str, done: float, total: float) -> None:
        self.reports.setdefault(task, []).append((done, total))

    def finished(self) -> set[str]:
        """The tasks that rose steadily to their total."""
        return {
            task
            for task, seen in self.reports.items()
            if seen[-1][0] == seen[-1][1] > 0
            and all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
        }
