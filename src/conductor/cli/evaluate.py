"""`conductor eval`: test BPC beside compressors; `--control`: does a weight steer the text?"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from conductor import control
from conductor.checkpoint import atomic_write_bytes
from conductor.cli._common import (
    POSITIVE_INT,
    TEMPERATURE,
    add_styles_args,
    console,
    number,
    progress_bars,
)
from conductor.errors import ConductorError
from conductor.evaluate import evaluate_checkpoint
from conductor.library import DEFAULT_STYLES, resolve_style, resolve_styles, style_name


def add_parser(commands: Any) -> None:
    evaluate = commands.add_parser(
        "eval", help="test BPC beside compressors' marginal BPC; --control: does a weight steer?"
    )
    evaluate.add_argument(
        "checkpoint", nargs="?", help="a style name (e.g. shakespeare) or a .safetensors file"
    )
    evaluate.add_argument("--text", help="score this text file instead of the test split")
    evaluate.add_argument("--json", help="also write the results as JSON to this file")
    evaluate.add_argument("--no-compressors", action="store_true", help="model BPC only")
    evaluate.add_argument(
        "--dynamic",
        action="store_true",
        help=(
            "also score with dynamic evaluation (the model adapts as it reads, as compressors "
            "do; its chunk and step size are picked on the validation split)"
        ),
    )
    ctl = evaluate.add_argument_group("controllability (--control)")
    ctl.add_argument(
        "--control", action="store_true", help="judge generated text with a style classifier"
    )
    add_styles_args(ctl)
    ctl.add_argument("--pairs", help="sweeps a:b[,c:d] (default: neighbours in --styles)")
    ctl.add_argument("--samples", type=POSITIVE_INT, default=100, help="samples per point")
    ctl.add_argument(
        "--length", type=number(int, 10, None, "give"), default=300, help="symbols per sample"
    )
    ctl.add_argument("--temperature", type=TEMPERATURE, default=0.8, help="sampling temperature")
    ctl.add_argument("--plot", help="write the sweep curves as a PNG to this file")
    evaluate.set_defaults(func=run)


def _parse_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        a, sep, b = item.strip().partition(":")
        if not sep or not a or not b:
            raise ConductorError(f"--pairs takes a:b[,c:d], not {item!r}")
        pairs.append((a, b))
    return pairs


def _run_control(args: argparse.Namespace) -> int:
    paths = resolve_styles(args.styles or DEFAULT_STYLES, args.styles_dir)
    names = [style_name(p) for p in paths]
    pairs = _parse_pairs(args.pairs) if args.pairs else list(itertools.pairwise(names))
    tasks = {
        "judge": f"training the judge on {len(paths)} corpora",
        "recognition": "recognition at weight 1",
        "sweeps": f"{len(pairs)} weight sweep{'s' if len(pairs) > 1 else ''}, both mixers",
    }
    with progress_bars(tasks) as progress:
        report = control.run_control(
            paths,
            pairs,
            samples=args.samples,
            length=args.length,
            temperature=args.temperature,
            progress=progress,
        )
    console.print(f"judge accuracy on held-out real text: {report.judge_holdout_accuracy:.1%}")
    table = Table(title=f"recognised at weight 1 ({report.samples} samples of {report.length})")
    table.add_column("style")
    table.add_column("judged as itself", justify="right")
    for name, share in report.recognition.items():
        table.add_row(name, f"{share:.0%}")
    console.print(table)
    for key, by_mixer in report.sweeps.items():
        a, b = key.split(":")
        for mixer, points in by_mixer.items():
            curve = " ".join(f"{p.share_b:.2f}" for p in points)
            rising = report.verdict(key, mixer)
            console.print(
                f"{a} → {b} ({mixer}): judged {b} at w=0..1: {curve}  ({rising})", markup=False
            )
    if args.json:
        control.write_json(report, Path(args.json))
        console.print(f"wrote {args.json}")
    if args.plot:
        control.plot_sweeps(report, Path(args.plot))
        console.print(f"wrote {args.plot}")
    return 0


EVAL_TASKS = {
    "model": "model",
    "tuning": "dynamic: tuning on validation",
    "dynamic": "dynamic evaluation",
    "compressors": "compressors",
}


def run(args: argparse.Namespace) -> int:
    if args.control:
        return _run_control(args)
    if not args.checkpoint:
        raise ConductorError("give a checkpoint to score, or --control for the ensemble test")
    checkpoint = resolve_style(args.checkpoint, args.styles_dir)
    with progress_bars(EVAL_TASKS) as progress:
        report = evaluate_checkpoint(
            checkpoint,
            Path(args.text) if args.text else None,
            not args.no_compressors,
            dynamic=args.dynamic,
            progress=progress,
        )
    table = Table(title=f"{report.name}: {report.test_symbols:,} held-out symbols")
    table.add_column("predictor")
    table.add_column("bits/symbol", justify="right")
    table.add_row(f"conductor ({checkpoint.name})", f"{report.model_bpc:.3f}", style="bold")
    if report.dynamic_bpc is not None:
        tuned = report.dynamic_settings or {}
        how = f" (chunk {tuned.get('chunk')}, lr {tuned.get('lr')})" if tuned else ""
        table.add_row(
            f"conductor, dynamic evaluation{how}", f"{report.dynamic_bpc:.3f}", style="bold"
        )
    for name, bpc in report.compressors.items():
        table.add_row(f"{name} (marginal)", f"{bpc:.3f}")
    console.print(table)
    console.print(f"test text: {report.test_source}")
    if report.compressors:
        beaten = report.beaten()
        hint = "" if beaten else " (a longer training run, or --size medium, usually helps)"
        console.print(f"beats: {', '.join(beaten) if beaten else 'none'}{hint}")
        if report.dynamic_bpc is not None:
            dynamic = report.beaten(dynamic=True)
            console.print(f"with dynamic evaluation beats: {', '.join(dynamic) or 'none'}")
    if args.json:
        payload = json.dumps(report.to_json(), indent=2) + "\n"
        atomic_write_bytes(Path(args.json), payload.encode())
        console.print(f"wrote {args.json}")
    return 0
