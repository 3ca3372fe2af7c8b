"""Data-parallel training on this machine: symbols/s of one training process against two
processes under PyTorch's launcher (`torchrun`), at the same global batch.

Each configuration runs in fresh processes: this script, started again as a worker, joins the
world from torchrun's environment (`conductor.distributed.join`, gloo on the CPU), builds the
real `Trainer` with that world (DDP, each process its share of the batch's streams) on a corpus
of random symbols (the content does not change the arithmetic) and times `train_step`: the
TBPTT window, the all-reduced gradients, clipping and AdamW, the global mean loss. Configurations:

- `1 process x 1 thread`  (the baseline: what one core does alone)
- `1 process x 2 threads` (what `conductor train` does on this 2-core machine)
- `2 processes x 1 thread` (`torchrun --standalone --nproc-per-node 2 -m conductor train ...`)

They alternate over `--rounds` rounds; the figures are medians of global symbols/s.

    python bench/train_ddp.py [--size small] [--batch 32] [--steps 20] [--rounds 3]
                              [--json bench/results/train_ddp.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from conductor.distributed import join
from conductor.model import SIZES
from conductor.train import TrainConfig, Trainer
from train_speed import random_corpus

CONFIGS = (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2))
CONFIGS += (("2 processes x 1 thread", 2, 1),)


def worker(args: argparse.Namespace) -> None:
    """One process of one configuration: time `args.steps` steps; the main process prints
    `{"sym_s": ...}` (global symbols a second) as its last line."""
    world = join("cpu")
    out = Path(tempfile.mkdtemp()) / "bench.safetensors"  # train_step writes nothing
    config = TrainConfig(batch=args.batch, seq_len=args.seq_len)
    run = Trainer(random_corpus(1_000_000), out, SIZES[args.size], config, world=world)
    run.train_step(1e-3)  # warm-up: allocations, DDP's first bucket build
    world.barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        run.train_step(1e-3)
    elapsed = world.from_main(time.perf_counter() - start)
    run.release()
    world.leave()
    if world.is_main:
        print(json.dumps({"sym_s": args.steps * args.batch * args.seq_len / elapsed}))


def measure(args: argparse.Namespace, processes: int, threads: int) -> float:
    """Global symbols/s of one configuration, in fresh processes."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOO_SOCKET_IFNAME": "lo"}
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone"]
        launcher += ["--nproc-per-node", str(processes)]
    options = ["--worker", "--size", args.size, "--batch", str(args.batch)]
    options += ["--seq-len", str(args.seq_len), "--steps", str(args.steps)]
    done = subprocess.run([*launcher, __file__, *options], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({processes} x {threads}):\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["sym_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--batch", type=int, default=32, help="global batch (streams)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=Path("bench/results/train_ddp.json"))
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from ensemble_speed import cpu_name

    config = SIZES[args.size]
    print(f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"model {args.size} ({config.parameters:,} parameters), global batch {args.batch}")
    print(f"x {args.seq_len} symbols, {args.steps} steps a round, {args.rounds} rounds")
    rounds: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGS}
    for _ in range(args.rounds):
        for name, processes, threads in CONFIGS:
            rounds[name].append(measure(args, processes, threads))
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    baseline = medians[CONFIGS[0][0]]
    cases: list[dict[str, Any]] = []
    print(f"{'configuration':<24} {'sym/s':>9} {'vs 1x1':>7}")
    for name, processes, threads in CONFIGS:
        cases.append(
            {
                "configuration": name,
                "processes": processes,
                "threads_per_process": threads,
                "sym_s": medians[name],
                "rounds": rounds[name],
                "vs_one_thread": medians[name] / baseline,
            }
        )
        print(f"{name:<24} {medians[name]:>9,.0f} {medians[name] / baseline:>6.2f}x")
    two, one = medians[CONFIGS[2][0]], medians[CONFIGS[1][0]]
    print(f"2 processes vs 1 process (2 threads): {two / one:.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "size": args.size,
        "parameters": config.parameters,
        "batch": args.batch,
        "seq_len": args.seq_len,
        "steps": args.steps,
        "rounds": args.rounds,
        "cases": cases,
        "two_processes_vs_one": two / one,
    }
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
