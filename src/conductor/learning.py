"""A mapping learnt by example: any input vector → style weights, the way Wekinator does it.

A performer streams an input vector (a phone's tilt, a face tracker's numbers, MIDI faders, the
pad), records *examples* — this input ↔ these weights — and trains a small MLP regressor on
them; running, every input then gives the weights. Examples are inputs with the weights named by
style; a style an example does not name has weight 0 there.

The net is two tanh layers of `HIDDEN` units. Inputs are scaled to [-1, 1] by the examples'
range in each dimension (a dimension the examples never vary is ignored), so degrees, pixels and
0..127 controller values train alike; each output is kept within the range the examples give it
(an example set without negative weights never makes one, so a linear mix stays usable).
Training is full-batch L-BFGS from a seeded start: the same examples and seed give the same
mapping, in well under a second for `MAX_EXAMPLES`.

Saved as two files (`NAME.json`: the examples, scaling and training; `NAME.safetensors`: the
net), written atomically; the json names the weights file's sha256, so a mismatched pair is
refused. Never pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from conductor.checkpoint import atomic_write_bytes
from conductor.errors import ConductorError

__all__ = [
    "FORMAT",
    "HIDDEN",
    "MAX_EXAMPLES",
    "MAX_INPUTS",
    "Example",
    "LearnedMapping",
    "MappingError",
    "Mappings",
    "Training",
    "check_mapping_name",
    "train_mapping",
    "warm_up",
]

MAX_INPUTS = 64  # the longest input vector (a face tracker's 66 points need 132: send fewer)
MAX_EXAMPLES = 1000
HIDDEN = 32
# Training's stopping rule: rounds of ROUND L-BFGS iterations, at most MAX_ROUNDS, until the mean
# squared error over the examples' weights is under GOOD_FIT.
ROUND = 25
MAX_ROUNDS = 12
GOOD_FIT = 1e-5
FORMAT = "conductor-mapping"
VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


class MappingError(ConductorError):
    """A mapping that cannot be recorded, trained, run, saved or loaded (one line)."""


def check_mapping_name(name: str) -> str:
    """A mapping's name is a file stem in the mappings directory, never a path."""
    if not _NAME.fullmatch(name):
        raise MappingError(f"{name!r} is not a mapping name (letters, digits, _ . -; not a path)")
    return name


@dataclass(frozen=True)
class Example:
    """One input vector and the weights it should give, by style name."""

    inputs: tuple[float, ...]
    weights: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "weights": dict(self.weights)}


@dataclass(frozen=True)
class Training:
    """What a training did: on how many examples, how well it fits them, how long it took."""

    examples: int
    loss: float  # mean squared error over the examples' weights, after training
    seconds: float
    iterations: int


def _net(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh(),
        nn.Linear(HIDDEN, outputs),
    )  # fmt: skip


class LearnedMapping:
    """A trained mapping: call it with an input vector for the weights, by style name."""

    def __init__(
        self,
        styles: Sequence[str],
        scaling: Mapping[str, Sequence[float]],
        net: nn.Sequential,
        training: Training,
    ) -> None:
        self.styles = tuple(styles)
        self.input_low = torch.tensor(scaling["input_low"], dtype=torch.float32)  # [I]
        self.input_high = torch.tensor(scaling["input_high"], dtype=torch.float32)  # [I]
        self.output_low = torch.tensor(scaling["output_low"], dtype=torch.float32)  # [S]
        self.output_high = torch.tensor(scaling["output_high"], dtype=torch.float32)  # [S]
        self.net = net.eval()
        self.training = training

    @property
    def inputs(self) -> int:
        return len(self.input_low)

    def scaling(self) -> dict[str, list[float]]:
        return {
            "input_low": self.input_low.tolist(),
            "input_high": self.input_high.tolist(),
            "output_low": self.output_low.tolist(),
            "output_high": self.output_high.tolist(),
        }

    def scale(self, inputs: torch.Tensor) -> torch.Tensor:
        """[E, I] raw inputs → [E, I] in [-1, 1] over the examples' range (0 where it is flat)."""
        span = self.input_high - self.input_low  # [I]
        flat = span <= 0
        scaled = 2 * (inputs - self.input_low) / torch.where(flat, 1.0, span) - 1  # [E, I]
        return torch.where(flat, 0.0, scaled)

    def raw(self, inputs: torch.Tensor) -> torch.Tensor:
        """[E, I] → [E, S] the net's weights, kept within each output's example range."""
        with torch.no_grad():
            out = self.net(self.scale(inputs))  # [E, S]
        return torch.maximum(torch.minimum(out, self.output_high), self.output_low)

    def __call__(self, inputs: Sequence[float]) -> dict[str, float]:
        if len(inputs) != self.inputs:
            raise MappingError(
                f"this mapping takes {self.inputs} inputs, got {len(inputs)}: send the vector "
                "it was trained on, or clear it and record anew"
            )
        vector = torch.tensor([list(inputs)], dtype=torch.float32)  # [1, I]
        weights = self.raw(vector)[0].tolist()  # [S]
        return {style: round(w, 6) for style, w in zip(self.styles, weights, strict=True)}


def _styles_of(examples: Sequence[Example]) -> list[str]:
    styles: list[str] = []
    for example in examples:
        styles.extend(name for name in example.weights if name not in styles)
    return styles


def warm_up() -> None:
    """Train a one-example mapping: the first training in a process pays ~2 s of torch's
    optimiser machinery loading; a session pays it here, on its mapping thread, not when a
    performer first presses train."""
    train_mapping([Example((0.0,), {"warm-up": 0.0})])


def train_mapping(examples: Sequence[Example], seed: int = 0) -> LearnedMapping:
    """An MLP fitted to `examples` (full-batch L-BFGS from a start seeded by `seed`)."""
    if not examples:
        raise MappingError("no examples to train on: record some first (input ↔ weights)")
    started = time.perf_counter()
    styles = _styles_of(examples)
    inputs = torch.tensor([e.inputs for e in examples], dtype=torch.float32)  # [E, I]
    targets = torch.tensor(
        [[e.weights.get(s, 0.0) for s in styles] for e in examples], dtype=torch.float32
    )  # [E, S]
    scaling = {
        "input_low": inputs.min(0).values.tolist(),
        "input_high": inputs.max(0).values.tolist(),
        "output_low": targets.min(0).values.tolist(),
        "output_high": targets.max(0).values.tolist(),
    }
    generator = torch.Generator().manual_seed(seed)
    net = _net(inputs.shape[1], len(styles))
    with torch.no_grad():  # a seeded start, whatever torch's global generator has done
        for parameter in net.parameters():
            bound = 1 / math.sqrt(parameter.shape[-1]) if parameter.dim() > 1 else 0.1
            parameter.uniform_(-bound, bound, generator=generator)
    mapping = LearnedMapping(styles, scaling, net, Training(len(examples), 0.0, 0.0, 0))
    scaled = mapping.scale(inputs)  # [E, I]
    optimiser = torch.optim.LBFGS(
        net.parameters(), lr=1.0, max_iter=ROUND, tolerance_grad=1e-9, tolerance_change=1e-12,
        history_size=20, line_search_fn="strong_wolfe",
    )  # fmt: skip
    loss_fn = nn.MSELoss()
    calls = 0

    def closure() -> torch.Tensor:
        nonlocal calls
        calls += 1
        optimiser.zero_grad()
        loss: torch.Tensor = loss_fn(net(scaled), targets)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.enable_grad():
        net.train()
        last = math.inf
        # Rounds of L-BFGS until the fit is good enough to hear no difference (every weight
        # within ~0.003 of its example's), or stops improving, or the budget is spent.
        for _ in range(MAX_ROUNDS):
            loss = optimiser.step(closure).item()  # type: ignore[no-untyped-call]
            if loss < GOOD_FIT or loss > 0.99 * last:
                break
            last = loss
    net.eval()
    with torch.no_grad():
        loss = float(loss_fn(mapping.raw(inputs), targets))
    mapping.training = Training(len(examples), loss, time.perf_counter() - started, calls)
    return mapping


@dataclass
class Mappings:
    """A session's mapping: its examples, the net trained on them (if any), and where mappings
    are saved. `input_size` is fixed by the first example (or the mapping loaded)."""

    directory: Path = Path("mappings")
    examples: list[Example] = field(default_factory=list)
    learned: LearnedMapping | None = None
    stale: bool = False  # examples changed since the net was trained

    def copy(self) -> Mappings:
        """Another `Mappings` with the same examples (a list of its own) and net."""
        return Mappings(self.directory, list(self.examples), self.learned, self.stale)

    @property
    def input_size(self) -> int | None:
        if self.examples:
            return len(self.examples[0].inputs)
        return self.learned.inputs if self.learned is not None else None

    def check_inputs(self, inputs: Sequence[float]) -> None:
        size = self.input_size
        if size is not None and len(inputs) != size:
            raise MappingError(
                f"this mapping's inputs are {size} numbers, got {len(inputs)}: send vectors "
                "of one length (or clear the mapping to start one of another)"
            )

    def add(self, example: Example) -> None:
        self.check_inputs(example.inputs)
        if len(self.examples) >= MAX_EXAMPLES:
            raise MappingError(
                f"a mapping holds at most {MAX_EXAMPLES} examples: delete some, or clear it"
            )
        self.examples.append(example)
        self.stale = True

    def delete(self, index: int) -> None:
        if not 0 <= index < len(self.examples):
            raise MappingError(
                f"no example {index}: the mapping has {len(self.examples)} (numbered from 0)"
            )
        del self.examples[index]
        self.stale = True

    def clear(self) -> None:
        self.examples.clear()
        self.learned = None
        self.stale = False

    def state(self) -> dict[str, Any]:
        learned = self.learned
        return {
            "examples": len(self.examples),
            "inputs": self.input_size,
            "trained": learned is not None,
            "stale": self.stale,
            "styles": list(learned.styles) if learned is not None else [],
            "loss": None if learned is None else learned.training.loss,
            "saved": self.saved(),
        }

    # -- files ---------------------------------------------------------------------------------

    def _paths(self, name: str) -> tuple[Path, Path]:
        check_mapping_name(name)
        return self.directory / f"{name}.json", self.directory / f"{name}.safetensors"

    def saved(self) -> list[str]:
        """The mappings saved in the directory, by name."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json"))

    def save(self, name: str) -> Path:
        """Write the examples and the trained net as `name` (both files atomically)."""
        if self.learned is None:
            raise MappingError("train the mapping before saving it (nothing trained yet)")
        description, weights_path = self._paths(name)
        learned = self.learned
        weights = save_tensors({k: v.contiguous() for k, v in learned.net.state_dict().items()})
        record = {
            "format": FORMAT,
            "version": VERSION,
            "inputs": learned.inputs,
            "styles": list(learned.styles),
            "hidden": HIDDEN,
            "scaling": learned.scaling(),
            "training": vars(learned.training),
            "stale": self.stale,
            "examples": [example.to_json() for example in self.examples],
            "safetensors_sha256": hashlib.sha256(weights).hexdigest(),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(weights_path, weights)
            atomic_write_bytes(description, (json.dumps(record, indent=1) + "\n").encode())
        except OSError as error:
            raise MappingError(
                f"cannot save mapping {name!r} in {self.directory}: {error}"
            ) from None
        return description

    def load(self, name: str) -> None:
        """Take the mapping saved as `name` (examples and net); nothing changes if it will not
        load."""
        description, weights_path = self._paths(name)
        if not description.is_file():
            saved = ", ".join(self.saved()) or "none saved yet"
            raise MappingError(f"no mapping {name!r} in {self.directory} (saved: {saved})")
        try:
            record = json.loads(description.read_text(encoding="utf-8"))
            weights = weights_path.read_bytes()
        except (OSError, ValueError) as error:
            raise MappingError(f"cannot read mapping {name!r}: {error}") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise MappingError(f"{description} is not a conductor mapping: save it again")
        if hashlib.sha256(weights).hexdigest() != record.get("safetensors_sha256"):
            raise MappingError(
                f"{weights_path} is not the net {description.name} was saved with (its sha256 "
                "differs): save the mapping again"
            )
        try:
            examples = [
                Example(
                    tuple(float(v) for v in e["inputs"]),
                    {str(k): float(v) for k, v in e["weights"].items()},
                )
                for e in record["examples"]
            ]
            styles = [str(s) for s in record["styles"]]
            inputs = int(record["inputs"])
            net = _net(inputs, len(styles))
            net.load_state_dict(load_tensors(weights))
            training = Training(**record["training"])
            learned = LearnedMapping(styles, record["scaling"], net, training)
            if any(len(e.inputs) != inputs for e in examples) or len(examples) > MAX_EXAMPLES:
                raise ValueError("examples of another input size, or too many")
            if int(record.get("hidden", HIDDEN)) != HIDDEN:
                raise ValueError(f"a net of {record['hidden']} hidden units, not {HIDDEN}")
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            raise MappingError(f"{description} is damaged ({error}): save it again") from None
        self.examples, self.learned = examples, learned
        self.stale = bool(record.get("stale", False))
