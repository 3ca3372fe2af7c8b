"""Ensemble generation speed: symbols/s of the full loop (engine step + mix + sample) against a
naive baseline in the same run, and against the rate at which this machine can read the weights.

The naive baseline is what a straightforward port of Akten & Grierson's system does: a Python
loop over N separate `nn.LSTM` modules, each stepped alone (embedding, LSTM, head, softmax), the
distributions mixed, `torch.multinomial` to draw.

The read bound: one step must read every active model's matrices once, so no single stream can
go faster than (bandwidth of reading that many bytes) / (bytes per step). The bandwidth is
measured with fp32 matrix-vector products over one matrix of exactly the case's weight bytes, so
an ensemble that fits in cache is held to the cache's speed and a large one to memory's. It is
reported for one stream only: many streams share each read, and are bound by arithmetic.

Big ensembles are run in fp32 and in reduced precision (`Ensemble(precision=...)`: fp16, int8
weights with per-row scales), and "auto" is what `conductor serve` picks by default.

    python bench/ensemble_speed.py [--seconds 1] [--rounds 5] [--json FILE]

This VM's speed drifts by tens of percent from one second to the next, so each case is measured
in rounds that interleave ours, the naive loop and the read bandwidth; the figures are the
medians over the rounds, with the lowest and highest round (every round is kept in the JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.model import SIZES, CharLSTM, ModelConfig
from conductor.sampling import SamplingParams

V = 128


def read_bandwidth(nbytes: int, seconds: float = 0.3) -> float:
    """Sustained bytes/s of back-to-back fp32 matrix-vector products over one matrix of
    `nbytes` (at least 1 MB): the operation a single-stream step is made of, at its best.

    Sustained (total bytes / total time over `seconds`), like the rates it is compared with,
    not the best single product: on this shared VM single reads vary by tens of percent.
    """
    columns = 1024
    matrix = torch.ones(max(nbytes, 1 << 20) // (4 * columns), columns)  # [rows, 1024]
    vector = torch.ones(columns)
    torch.mv(matrix, vector)
    reads, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mv(matrix, vector)
        reads += 1
    return reads * matrix.numel() * 4 / (time.perf_counter() - start)


def weight_bytes_per_step(ensemble: Ensemble) -> int:
    """Bytes one step of every model must read, as the engine stores them: recurrent and
    inter-layer matrices at their precision (fp32 4, fp16 2, int8 1 byte + a 4-byte scale per
    row), fp32 heads, biases and one row of each layer-0 input table."""
    size = {"fp32": 4, "fp16": 2, "int8": 1}
    total = 0
    for model, precision in zip(ensemble.models, ensemble.precisions, strict=True):
        h, layers = model.config.hidden, model.config.layers
        matrix = h * 4 * h + (layers - 1) * 2 * h * 4 * h  # elements
        total += size[precision] * matrix
        if precision == "int8":
            total += 4 * 4 * h * layers  # per-row scales
        total += 4 * ((layers - 1) * 4 * h + h * V + V + 4 * h)  # biases, head, a table row
    return total


def rate(step: Callable[[], Any], seconds: float) -> float:
    for _ in range(5):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count / (time.perf_counter() - start)


def naive_loop(models: list[CharLSTM]) -> Callable[[], None]:
    states: list[Any] = [None] * len(models)
    weights = torch.full((len(models),), 1.0 / len(models))
    symbol = torch.tensor([[10]])

    @torch.no_grad()
    def step() -> None:
        nonlocal symbol
        mixed = torch.zeros(V)
        for i, model in enumerate(models):
            out, states[i] = model.lstm(model.embedding(symbol), states[i])
            probs = torch.softmax(model.head(out[0, -1]), dim=-1)
            mixed += weights[i] * probs
        symbol = torch.multinomial(mixed / mixed.sum(), 1).view(1, 1)

    return step


def ours_loop(
    models: list[CharLSTM], streams: int, active: int | None = None, precision: str = "auto"
) -> tuple[Callable[[], Any], Ensemble]:
    ensemble = Ensemble(models, [f"m{i}" for i in range(len(models))], precision=precision)
    ensemble.set_streams(streams)
    conductor = Conductor(ensemble, params=SamplingParams(temperature=1.0))
    n = len(models)
    weights = torch.ones(n) if active is None else (torch.arange(n) < active).float()
    return (lambda: conductor.step(weights)), ensemble


def measure(
    steps: dict[str, Callable[[], Any]], seconds: float, rounds: int, nbytes: dict[str, int]
) -> dict[str, list[float]]:
    """Rates of each step function and the read bandwidth of each byte count, interleaved over
    `rounds` rounds."""
    samples: dict[str, list[float]] = {name: [] for name in [*steps, *nbytes]}
    for _ in range(rounds):
        for name, count in nbytes.items():
            samples[name].append(read_bandwidth(count))
        for name, step in steps.items():
            samples[name].append(rate(step, seconds))
    return samples


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "low": min(values), "high": max(values)}


XL = ModelConfig(layers=3, hidden=1024, embed=64)

# (label, model configs, streams, precisions to run); "auto" is serve's default.
PLAN: list[tuple[str, list[ModelConfig], int, tuple[str, ...]]] = [
    *[(f"{n} small", [SIZES["small"]] * n, 1, ("auto",)) for n in (1, 4, 8, 16)],
    *[(f"{n} large", [SIZES["large"]] * n, 1, ("auto",)) for n in (1, 4)],
    ("8 large", [SIZES["large"]] * 8, 1, ("fp32", "fp16", "int8")),
    ("16 large + 16 small", [SIZES["large"]] * 16 + [SIZES["small"]] * 16, 1, ("fp32", "auto")),
    ("8 xl (3x1024)", [XL] * 8, 1, ("fp32", "fp16", "int8")),
    *[("16 small", [SIZES["small"]] * 16, b, ("auto",)) for b in (8, 64)],
    *[("8 large", [SIZES["large"]] * 8, b, ("auto",)) for b in (8, 64)],
]


def models_for(configs: list[ModelConfig]) -> list[CharLSTM]:
    torch.manual_seed(0)
    return [CharLSTM(config).eval() for config in configs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case")
    parser.add_argument("--json", type=Path, default=Path("bench/results/ensemble_speed.json"))
    args = parser.parse_args()

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_name()}; "
        f"medians of {args.rounds} rounds (lowest-highest)"
    )
    cases: list[dict[str, Any]] = []
    print(
        f"{'case':<20} {'B':>3} {'precision':<11} {'ours sym/s':>20} {'naive':>6} "
        f"{'x naive':>8} {'MB/step':>8} {'read bound':>10} {'of bound':>8}"
    )
    for label, configs, streams, precisions in PLAN:
        models = models_for(configs)
        steps: dict[str, Callable[[], Any]] = {}
        ensembles: dict[str, Ensemble] = {}
        for precision in precisions:
            steps[precision], ensembles[precision] = ours_loop(models, streams, precision=precision)
        if streams == 1:
            steps["naive"] = naive_loop(models)
        nbytes = {f"bw {p}": weight_bytes_per_step(ensembles[p]) for p in precisions}
        samples = measure(steps, args.seconds, args.rounds, nbytes if streams == 1 else {})
        naive = statistics.median(samples["naive"]) if "naive" in samples else None
        for precision in precisions:
            ensemble = ensembles[precision]
            ours = spread([r * streams for r in samples[precision]])
            kinds = sorted(set(ensemble.precisions))
            case: dict[str, Any] = {
                "case": label,
                "models": len(configs),
                "streams": streams,
                "precision": precision,
                "stored_as": kinds,
                "weight_mb_per_step": nbytes.get(f"bw {precision}", 0) / 1e6 or None,
                "ours_sym_s": ours["median"],
                "ours_spread": ours,
                "rounds": {"ours_sym_s": [r * streams for r in samples[precision]]},
            }
            naive_text = f"{'':>6} {'':>8}"
            if naive is not None:
                case["naive_sym_s"] = naive
                case["rounds"]["naive_sym_s"] = samples["naive"]
                naive_text = f"{naive:>6,.0f} {ours['median'] / naive:>7.1f}x"
            bound_text = f"{'':>8} {'':>10} {'':>8}"
            if streams == 1:
                bandwidth = statistics.median(samples[f"bw {precision}"])
                bound = bandwidth / nbytes[f"bw {precision}"]
                case["read_bandwidth_gb_s"] = bandwidth / 1e9
                case["rounds"]["read_bandwidth_gb_s"] = [
                    b / 1e9 for b in samples[f"bw {precision}"]
                ]
                case["read_bound_sym_s"] = bound
                bound_text = (
                    f"{nbytes[f'bw {precision}'] / 1e6:>8.1f} {bound:>10,.0f} "
                    f"{ours['median'] / bound:>7.0%}"
                )
            cases.append(case)
            shown = precision if precision != "auto" else f"auto={'/'.join(kinds)}"
            ours_text = f"{ours['median']:,.0f} ({ours['low']:,.0f}-{ours['high']:,.0f})"
            print(f"{label:<20} {streams:>3} {shown:<11} {ours_text:>20} {naive_text} {bound_text}")

    print("\nskipping: 16 small models, weight on k of them (threshold 5%)")
    models = models_for([SIZES["small"]] * 16)
    active = (16, 8, 4, 2, 1)
    samples = measure(
        {str(k): ours_loop(models, 1, active=k)[0] for k in active},
        args.seconds,
        args.rounds,
        {},
    )
    skip_cases = []
    for k in active:
        ours = spread(samples[str(k)])
        skip_cases.append(
            {
                "size": "small",
                "models": 16,
                "active": k,
                "ours_sym_s": ours["median"],
                "ours_spread": ours,
            }
        )
        print(
            f"  active {k:>2}: {ours['median']:>8,.0f} sym/s "
            f"({ours['low']:,.0f}-{ours['high']:,.0f})"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "cpu": cpu_name(),
                "rounds": args.rounds,
                "seconds_per_measurement": args.seconds,
                "cases": cases,
                "skipping": skip_cases,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


def cpu_name() -> str:
    """The CPU's model name (figures from one CPU do not carry over to another)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
