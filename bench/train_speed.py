"""Training speed: symbols/s of `Trainer.train_step` for small and large models, the fraction of
this machine's measured matmul FLOP/s it reaches, and a naive per-timestep `nn.LSTMCell` loop
(what a straightforward port would write) in the same run for comparison.

Both are timed through the real step: a `Trainer` on a corpus of random symbols (the data's
content does not change the arithmetic) reads its TBPTT windows, carries the hidden state,
clips gradients and steps AdamW; the baseline is the same `Trainer` with its model swapped for
the cell loop. Ours and the baseline alternate over `--rounds` rounds; the figures are medians.

    python bench/train_speed.py [--steps 10] [--rounds 3] [--json bench/results/train_speed.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from conductor.corpus import Corpus
from conductor.model import SIZES, ModelConfig, State
from conductor.train import TrainConfig, Trainer
from conductor.vocab import ASCII128, CleanReport
from ensemble_speed import cpu_name


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    """Best observed fp32 FLOP/s of an n x n @ n x n matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def train_flops_per_symbol(config: ModelConfig) -> float:
    """Multiply-adds x 2 for forward, x 3 for forward + backward (the usual estimate)."""
    forward = 0
    for layer in range(config.layers):
        inputs = config.embed if layer == 0 else config.hidden
        forward += 2 * 4 * config.hidden * (inputs + config.hidden)
    forward += 2 * config.hidden * config.vocab_size
    return 3.0 * forward


class NaiveLSTM(nn.Module):
    """The same model stepped one timestep at a time through `nn.LSTMCell`s in Python."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.cells = nn.ModuleList(
            nn.LSTMCell(config.embed if i == 0 else config.hidden, config.hidden)
            for i in range(config.layers)
        )
        self.head = nn.Linear(config.hidden, config.vocab_size)
        self.config = config

    def initial_state(self, batch: int) -> State:
        zeros = torch.zeros(self.config.layers, batch, self.config.hidden)  # [L, B, H]
        return zeros, zeros.clone()

    def forward(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """ids [B, T], state (h, c) [L, B, H] → logits [B, T, V], the new state (as CharLSTM)."""
        steps = ids.shape[1]
        x = self.embedding(ids)  # [B, T, E]
        states = [(state[0][i], state[1][i]) for i in range(len(self.cells))]  # [B, H] each
        outputs = []
        for t in range(steps):
            h = x[:, t]  # [B, E]
            for i, cell in enumerate(self.cells):
                states[i] = cell(h, states[i])
                h = states[i][0]  # [B, H]
            outputs.append(h)
        h_all = torch.stack([s[0] for s in states])  # [L, B, H]
        c_all = torch.stack([s[1] for s in states])
        return self.head(torch.stack(outputs, dim=1)), (h_all, c_all)  # [B, T, V]


def random_corpus(symbols: int = 2_000_000) -> Corpus:
    ids = np.random.default_rng(0).integers(32, 127, symbols).astype(np.uint8)
    return Corpus(ids=ids, source="random", sha256="", vocab=ASCII128, report=CleanReport())


def trainer(config: ModelConfig, corpus: Corpus, train: TrainConfig, naive: bool) -> Trainer:
    scratch = Path(tempfile.mkdtemp()) / "bench.safetensors"  # train_step writes nothing
    result = Trainer(corpus, scratch, config, train)
    if naive:
        torch.manual_seed(0)
        result.model = NaiveLSTM(config)  # type: ignore[assignment]
        result.optimizer = result._make_optimizer()
    return result


def time_steps(run: Trainer, steps: int) -> float:
    """Symbols per second of `steps` real training steps (after one warm-up step)."""
    run.train_step(1e-3)
    start = time.perf_counter()
    for _ in range(steps):
        run.train_step(1e-3)
    return steps * run.config.batch * run.config.seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per round (ours)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--json", type=Path, default=Path("bench/results/train_speed.json"))
    args = parser.parse_args()

    peak = matmul_flops()
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s (2048x2048)")
    corpus = random_corpus()
    train = TrainConfig(batch=args.batch, seq_len=args.seq_len)
    cases: list[dict[str, Any]] = []
    print(
        f"{'size':<7} {'params':>9} {'ours sym/s':>11} {'naive sym/s':>12} {'ratio':>6} "
        f"{'GFLOP/s':>8} {'of peak':>8}"
    )
    for size in ("small", "large"):
        config = SIZES[size]
        runs = {"ours": trainer(config, corpus, train, False)}
        runs["naive"] = trainer(config, corpus, train, True)
        rounds: dict[str, list[float]] = {"ours": [], "naive": []}
        for _ in range(args.rounds):
            rounds["ours"].append(time_steps(runs["ours"], args.steps))
            rounds["naive"].append(time_steps(runs["naive"], max(2, args.steps // 4)))
        ours, naive = statistics.median(rounds["ours"]), statistics.median(rounds["naive"])
        flops = ours * train_flops_per_symbol(config)
        cases.append(
            {
                "size": size,
                "layers": config.layers,
                "hidden": config.hidden,
                "parameters": config.parameters,
                "batch": args.batch,
                "seq_len": args.seq_len,
                "ours_sym_s": ours,
                "naive_sym_s": naive,
                "rounds": rounds,
                "speedup": ours / naive,
                "gflop_s": flops / 1e9,
                "fraction_of_matmul_peak": flops / peak,
            }
        )
        print(
            f"{size:<7} {config.parameters:>9,} {ours:>11,.0f} {naive:>12,.0f} "
            f"{ours / naive:>5.1f}x {flops / 1e9:>8.1f} {flops / peak:>7.0%}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "cpu": cpu_name(),
                "matmul_peak_gflop_s": peak / 1e9,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "rounds": args.rounds,
                "cases": cases,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
