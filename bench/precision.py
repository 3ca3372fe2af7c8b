"""What reduced precision costs: test BPC of every shipped style read by the engine with its
recurrent matrices in fp32, fp16 and int8, and how far the log-probabilities move.

Each style's test split (the checkpoint's own corpus, last 5%) is cut into `--streams` equal
parts read side by side, one symbol per step through `Ensemble.step`: the live path, whose
int8 and fp16 matrix-vector products are the ones reduced precision changes. Every precision
reads the same parts, so the differences are the precision's alone (the fp32 figure is a few
thousandths above the card's, which reads the split as one unbroken stream).

    python bench/precision.py [--styles-dir styles] [--streams 64] [--json FILE]

Needs the styles' corpora (`conductor corpus build STYLE`); a style without one is skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress

from conductor.checkpoint import load_checkpoint
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.evaluate import held_out
from conductor.library import shipped_dir

PRECISIONS = ("fp32", "fp16", "int8")


def read_split(
    ensemble: Ensemble, ids: torch.Tensor, on_step: Any = None
) -> tuple[float, torch.Tensor]:
    """ids [B, T] read stream-wise by `ensemble` (one model) → (BPC, log-probs [T-1, B, V])."""
    streams, length = ids.shape
    ensemble.set_streams(streams)
    logps = torch.empty(length - 1, streams, len(ensemble.vocab))  # [T-1, B, V]
    for t in range(length - 1):
        logps[t] = torch.log_softmax(ensemble.step(ids[:, t])[:, 0], dim=-1)  # [B, V]
        if on_step is not None:
            on_step()
    targets = ids[:, 1:].T.unsqueeze(-1)  # [T-1, B, 1]
    nats = -logps.gather(-1, targets).mean()
    return float(nats) / math.log(2), logps


def card_bpc(checkpoint: Path) -> float | None:
    """The test BPC `conductor eval` wrote beside the checkpoint (NAME.eval.json), if any."""
    report = checkpoint.with_name(checkpoint.name.removesuffix(".safetensors") + ".eval.json")
    if not report.exists():
        return None
    return float(json.loads(report.read_text())["model_bpc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--streams", type=int, default=64, help="parts read side by side (64)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/precision.json"))
    args = parser.parse_args()

    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    checkpoints = sorted(args.styles_dir.glob("*.safetensors"))
    with Progress() as progress:
        for checkpoint in checkpoints:
            name = checkpoint.name.removesuffix(".safetensors")
            model, record = load_checkpoint(checkpoint)
            try:
                _, _, test, _ = held_out(record, None)
            except ConductorError as error:
                skipped[name] = str(error)
                continue
            ids = torch.frombuffer(bytearray(test), dtype=torch.uint8).long()
            length = ids.numel() // args.streams
            parts = ids[: length * args.streams].view(args.streams, length)  # [B, T]
            task = progress.add_task(name, total=len(PRECISIONS) * (length - 1))
            bpc: dict[str, float] = {}
            seconds: dict[str, float] = {}
            logps: dict[str, torch.Tensor] = {}
            for precision in PRECISIONS:
                ensemble = Ensemble([model], [name], precision=precision)
                start = time.perf_counter()
                bpc[precision], logps[precision] = read_split(
                    ensemble, parts, lambda task=task: progress.advance(task)
                )
                seconds[precision] = time.perf_counter() - start
            worst = {  # per position (and stream): the largest |change| of a probability
                p: (logps[p].exp() - logps["fp32"].exp()).abs().amax(dim=-1).flatten()
                for p in PRECISIONS[1:]
            }
            row: dict[str, Any] = {
                "style": name,
                "config": record.get("config"),
                "test_symbols": int(length * args.streams),
                "card_bpc": card_bpc(checkpoint),
                "bpc": bpc,
                "cost_bits": {p: bpc[p] - bpc["fp32"] for p in PRECISIONS[1:]},
                "max_abs_logp_diff": {
                    p: float((logps[p] - logps["fp32"]).abs().max()) for p in PRECISIONS[1:]
                },
                "mean_abs_logp_diff": {
                    p: float((logps[p] - logps["fp32"]).abs().mean()) for p in PRECISIONS[1:]
                },
                # what sampling sees: the largest change of any symbol's probability, at the
                # worst position and at the 99th percentile of positions
                "max_abs_prob_diff": {p: float(worst[p].max()) for p in PRECISIONS[1:]},
                "p99_abs_prob_diff": {
                    p: float(torch.quantile(worst[p][:: max(1, worst[p].numel() // 200_000)], 0.99))
                    for p in PRECISIONS[1:]
                },
                "seconds": seconds,
            }
            results.append(row)
            progress.console.print(
                f"{name:<13} fp32 {bpc['fp32']:.4f}  fp16 {row['cost_bits']['fp16']:+.5f}  "
                f"int8 {row['cost_bits']['int8']:+.5f} bits/symbol; max |d p| "
                f"fp16 {row['max_abs_prob_diff']['fp16']:.5f}, "
                f"int8 {row['max_abs_prob_diff']['int8']:.5f} (p99 "
                f"{row['p99_abs_prob_diff']['int8']:.5f})"
            )
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    if not results:
        raise SystemExit("no style could be measured: build their corpora first")
    worst = {p: max(r["cost_bits"][p] for r in results) for p in PRECISIONS[1:]}
    print(f"worst cost: fp16 {worst['fp16']:+.5f}, int8 {worst['int8']:+.5f} bits/symbol")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "torch": torch.__version__,
        "streams": args.streams,
        "styles": results,
        "skipped": skipped,
        "worst_cost_bits": worst,
    }
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
