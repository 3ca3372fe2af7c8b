"""Ensemble generation speed: symbols/s of the full loop (engine step + mix + sample) against a
naive baseline in the same run, and against this machine's memory-bandwidth roofline.

The naive baseline is what a straightforward port of Akten & Grierson's system does: a Python
loop over N separate `nn.LSTM` modules, each stepped alone (embedding, LSTM, head, softmax), the
distributions mixed, `torch.multinomial` to draw. The roofline is the rate at which this machine
can merely *read* the weights one step needs (measured read bandwidth / weight bytes per step).

    python bench/ensemble_speed.py [--seconds 1] [--rounds 5] [--json FILE]

This VM's speed drifts by tens of percent from one second to the next, so each case is measured
in rounds that interleave ours, the naive loop and the read bandwidth; the figures are the
medians over the rounds (every round is kept in the JSON).
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


def read_bandwidth(megabytes: int = 256, seconds: float = 0.3) -> float:
    """Sustained bytes/s of back-to-back full reads of a buffer far larger than the caches.

    Sustained (total bytes / total time over `seconds`), like the rates it is compared with,
    not the best single read: on this shared VM single reads vary by tens of percent.
    """
    x = torch.ones(megabytes * 1024 * 1024 // 4)
    x.sum()
    reads, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x.sum()
        reads += 1
    return reads * x.numel() * 4 / (time.perf_counter() - start)


def weight_bytes_per_step(config: ModelConfig, models: int) -> int:
    """fp32 bytes one step must read: recurrent and inter-layer matrices, heads, one table row."""
    h = config.hidden
    per_model = h * 4 * h  # layer-0 recurrent matrix
    per_model += (config.layers - 1) * (2 * h * 4 * h + 4 * h)  # [W_ih; W_hh] and bias
    per_model += h * V + V  # head
    per_model += 4 * h  # one row of the layer-0 input table
    return 4 * per_model * models


def rate(step: Callable[[], Any], seconds: float) -> float:
    for _ in range(5):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count / (time.perf_counter() - start)


def random_models(config: ModelConfig, n: int) -> list[CharLSTM]:
    torch.manual_seed(0)
    return [CharLSTM(config).eval() for _ in range(n)]


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


def ours_loop(models: list[CharLSTM], streams: int, active: int | None = None) -> Callable[[], Any]:
    ensemble = Ensemble(models, [f"m{i}" for i in range(len(models))])
    ensemble.set_streams(streams)
    conductor = Conductor(ensemble, params=SamplingParams(temperature=1.0))
    n = len(models)
    weights = torch.ones(n) if active is None else (torch.arange(n) < active).float()
    return lambda: conductor.step(weights)


def measure(
    steps: dict[str, Callable[[], Any]], seconds: float, rounds: int
) -> dict[str, list[float]]:
    """Rates of each step function and the read bandwidth, interleaved over `rounds` rounds."""
    samples: dict[str, list[float]] = {name: [] for name in [*steps, "bandwidth"]}
    for _ in range(rounds):
        samples["bandwidth"].append(read_bandwidth())
        for name, step in steps.items():
            samples[name].append(rate(step, seconds))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case")
    parser.add_argument("--json", type=Path, default=Path("bench/results/ensemble_speed.json"))
    args = parser.parse_args()

    bandwidth = read_bandwidth()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"read bandwidth {bandwidth / 1e9:.1f} GB/s; medians of {args.rounds} rounds"
    )
    cases: list[dict[str, Any]] = []
    plan = [("small", n, 1) for n in (1, 4, 8, 16)] + [("large", n, 1) for n in (1, 4, 8)]
    plan += [("small", 16, b) for b in (8, 64)] + [("large", 8, b) for b in (8, 64)]
    print(
        f"{'size':<6} {'N':>3} {'B':>3} {'ours sym/s':>11} {'naive':>8} {'x naive':>8} "
        f"{'roofline':>9} {'of roof':>8}"
    )
    for size, n, streams in plan:
        config = SIZES[size]
        models = random_models(config, n)
        steps = {"ours": ours_loop(models, streams)}
        if streams == 1:
            steps["naive"] = naive_loop(models)
        samples = measure(steps, args.seconds, args.rounds)
        ours = statistics.median(samples["ours"]) * streams
        case_bandwidth = statistics.median(samples["bandwidth"])
        roofline = case_bandwidth / weight_bytes_per_step(config, n) * streams
        case: dict[str, Any] = {
            "size": size,
            "models": n,
            "streams": streams,
            "ours_sym_s": ours,
            "roofline_sym_s": roofline,
            "read_bandwidth_gb_s": case_bandwidth / 1e9,
            "rounds": {
                "ours_sym_s": [r * streams for r in samples["ours"]],
                "read_bandwidth_gb_s": [b / 1e9 for b in samples["bandwidth"]],
            },
        }
        naive_text = f"{'':>8} {'':>8}"
        if "naive" in samples:
            naive = statistics.median(samples["naive"])
            case["naive_sym_s"] = naive
            case["rounds"]["naive_sym_s"] = samples["naive"]
            naive_text = f"{naive:>8,.0f} {ours / naive:>7.1f}x"
        cases.append(case)
        print(
            f"{size:<6} {n:>3} {streams:>3} {ours:>11,.0f} {naive_text} {roofline:>9,.0f} "
            f"{ours / roofline:>7.0%}"
        )

    print("\nskipping: 16 small models, weight on k of them (threshold 5%)")
    models = random_models(SIZES["small"], 16)
    active = (16, 8, 4, 2, 1)
    samples = measure(
        {str(k): ours_loop(models, 1, active=k) for k in active}, args.seconds, args.rounds
    )
    skip_cases = []
    for k in active:
        ours = statistics.median(samples[str(k)])
        skip_cases.append({"size": "small", "models": 16, "active": k, "ours_sym_s": ours})
        print(f"  active {k:>2}: {ours:>8,.0f} sym/s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "rounds": args.rounds,
                "seconds_per_measurement": args.seconds,
                "read_bandwidth_gb_s": bandwidth / 1e9,
                "cases": cases,
                "skipping": skip_cases,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
