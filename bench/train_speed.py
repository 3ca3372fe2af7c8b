"""Training speed: symbols/s of `Trainer`'s step for small and large models, the fraction of this
machine's measured matmul FLOP/s it reaches, and a naive per-timestep `nn.LSTMCell` loop (what a
straightforward port would write) in the same run for comparison.

    python bench/train_speed.py [--steps 20] [--json bench/results/train_speed.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from conductor.model import SIZES, CharLSTM, ModelConfig


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

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch, steps = ids.shape
        x = self.embedding(ids)  # [B, T, E]
        states = [
            (torch.zeros(batch, self.config.hidden), torch.zeros(batch, self.config.hidden))
            for _ in self.cells
        ]
        outputs = []
        for t in range(steps):
            h = x[:, t]  # [B, E]
            for i, cell in enumerate(self.cells):
                states[i] = cell(h, states[i])
                h = states[i][0]  # [B, H]
            outputs.append(h)
        return self.head(torch.stack(outputs, dim=1))  # [B, T, V]


def time_training(model: nn.Module, batch: int, seq_len: int, steps: int) -> float:
    """Symbols per second of forward + backward + AdamW on random symbols."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, 128, (steps + 2, batch, seq_len + 1))

    def one(i: int) -> None:
        out = model(ids[i, :, :-1])
        logits = out[0] if isinstance(out, tuple) else out  # [B, T, V]
        loss = nn.functional.cross_entropy(logits.reshape(-1, 128), ids[i, :, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for i in range(2):
        one(i)
    start = time.perf_counter()
    for i in range(2, steps + 2):
        one(i)
    return steps * batch * seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--json", type=Path, default=Path("bench/results/train_speed.json"))
    args = parser.parse_args()

    peak = matmul_flops()
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads, torch {torch.__version__}"
    )
    print(f"measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s (2048x2048)")
    cases: list[dict[str, Any]] = []
    header = (
        f"{'size':<7} {'params':>9} {'ours sym/s':>11} {'naive sym/s':>12} {'ratio':>6} "
        f"{'GFLOP/s':>8} {'of peak':>8}"
    )
    print(header)
    for size in ("small", "large"):
        config = SIZES[size]
        torch.manual_seed(0)
        ours = time_training(CharLSTM(config), args.batch, args.seq_len, args.steps)
        naive = time_training(NaiveLSTM(config), args.batch, args.seq_len, max(3, args.steps // 4))
        flops = ours * train_flops_per_symbol(config)
        case = {
            "size": size,
            "layers": config.layers,
            "hidden": config.hidden,
            "parameters": config.parameters,
            "batch": args.batch,
            "seq_len": args.seq_len,
            "ours_sym_s": ours,
            "naive_sym_s": naive,
            "speedup": ours / naive,
            "gflop_s": flops / 1e9,
            "fraction_of_matmul_peak": flops / peak,
        }
        cases.append(case)
        print(
            f"{size:<7} {config.parameters:>9,} {ours:>11,.0f} {naive:>12,.0f} "
            f"{ours / naive:>5.1f}x {flops / 1e9:>8.1f} {flops / peak:>7.0%}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "matmul_peak_gflop_s": peak / 1e9,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "cases": cases,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
