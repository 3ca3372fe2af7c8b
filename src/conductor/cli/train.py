"""`conductor train`: a style model on a corpus (a recipe's name or any UTF-8 text file)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from conductor.cli._common import COUNT, POSITIVE_INT, console, number
from conductor.corpora import RECIPES, build, corpus_path, data_dir
from conductor.corpus import Corpus, load_corpus, split
from conductor.distributed import DEVICES, join
from conductor.errors import ConductorError
from conductor.model import SIZES, ModelConfig
from conductor.train import TrainConfig, Trainer, TrainStatus


def add_parser(commands: Any) -> None:
    train = commands.add_parser("train", help="train a style model on a corpus")
    train.add_argument("corpus", help="a style name (see 'corpus list') or a UTF-8 text file")
    train.add_argument("--out", default="runs", help="directory for the checkpoint")
    train.add_argument("--name", help="checkpoint name (default: the style or file stem)")
    train.add_argument("--corpus-dir", help=argparse.SUPPRESS)
    budget = train.add_argument_group("budget (default: 10 minutes)")
    budget.add_argument("--steps", type=POSITIVE_INT, help="stop after this many optimizer steps")
    budget.add_argument(
        "--minutes", type=number(float, 0.01, None, "give"), help="stop after this many minutes"
    )
    budget.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    shape = train.add_argument_group("model")
    shape.add_argument("--size", choices=sorted(SIZES), default="small", help="preset")
    shape.add_argument("--layers", type=POSITIVE_INT, help="override the preset's layers")
    shape.add_argument("--hidden", type=POSITIVE_INT, help="override the preset's hidden size")
    shape.add_argument("--embed", type=POSITIVE_INT, help="override the preset's embedding size")
    shape.add_argument("--dropout", type=number(float, 0, 0.95, "dropout is"), default=0.0)
    opt = train.add_argument_group("optimisation")
    defaults = TrainConfig()
    opt.add_argument("--batch", type=POSITIVE_INT, default=defaults.batch, help="streams a step")
    opt.add_argument("--seq-len", type=POSITIVE_INT, default=defaults.seq_len, help="TBPTT window")
    opt.add_argument(
        "--lr", type=number(float, 1e-7, 1.0, "a learning rate is"), default=defaults.lr,
        help="AdamW's learning rate (peak)",
    )  # fmt: skip
    opt.add_argument(
        "--eval-every", type=POSITIVE_INT, default=defaults.eval_every,
        help="steps between validation passes",
    )  # fmt: skip
    opt.add_argument(
        "--patience", type=COUNT, default=defaults.patience,
        help="validations without a new best before stopping early",
    )  # fmt: skip
    opt.add_argument("--seed", type=int, default=defaults.seed, help="initialisation and data")
    opt.add_argument(
        "--device", choices=DEVICES, default="auto",
        help="where to train: auto = CUDA when present (bf16 there), else the CPU (fp32); "
        "under torchrun, each process its share of the batch",
    )  # fmt: skip
    train.set_defaults(func=run)


def _resolve_corpus(spec: str, corpus_dir: Path, build_it: bool = True) -> tuple[Path, str]:
    """A style name (built on demand) or a text file → (file, style name)."""
    if spec in RECIPES:
        path = corpus_path(spec, corpus_dir)
        if build_it and not path.exists():
            console.print(f"building corpus {spec!r} → {path}")
            build(spec, corpus_dir)
        return path, spec
    path = Path(spec)
    if not path.is_file():
        raise ConductorError(
            f"{spec!r} is neither a style ({', '.join(sorted(RECIPES))}) nor an existing file"
        )
    return path, path.stem


def _model_config(args: argparse.Namespace) -> ModelConfig:
    base = SIZES[args.size]
    return ModelConfig(
        vocab_size=base.vocab_size,
        layers=args.layers or base.layers,
        hidden=args.hidden or base.hidden,
        embed=args.embed or base.embed,
        dropout=args.dropout,
    )


def summary(corpus: Corpus, text_file: Path) -> str:
    """What training is about to read: size, what cleaning dropped, the splits."""
    n = int(corpus.ids.size)
    report = corpus.report
    dropped = ""
    if report.dropped:
        examples = ", ".join(repr(ch) for ch, _ in report.dropped_examples.most_common(5))
        dropped = f"; {report.dropped:,} characters dropped (not in the vocabulary: {examples})"
    mapped = f"; {report.mapped:,} mapped to ASCII" if report.mapped else ""
    splits = split(corpus.ids)  # the trainer's own split
    return (
        f"corpus {text_file}: {n:,} symbols{mapped}{dropped}; train {splits.train.size:,}, "
        f"validation {splits.val.size:,}, test {splits.test.size:,} (held out)"
    )


class _TrainProgress:
    """A rich progress bar fed by the trainer's status reports."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("train", total=None, info="")
        self.val = "-"

    def __call__(self, status: TrainStatus) -> None:
        if status.val_bpc is not None:
            self.val = f"{status.val_bpc:.3f}"
        if status.max_steps is not None and status.budget_s is None:
            total, done = float(status.max_steps), float(status.step)
        else:
            total, done = float(status.budget_s or 1), status.elapsed_s
        info = (
            f"step {status.step}  epoch {status.epoch}  train {status.train_bpc:.3f}  "
            f"val {self.val} bpc  {status.symbols_per_s / 1000:.1f}k chars/s"
        )
        self.progress.update(self.task, total=total, completed=done, info=info)


def run(args: argparse.Namespace) -> int:
    corpus_dir = Path(args.corpus_dir) if args.corpus_dir else data_dir()
    world = join(args.device)  # alone, or one of torchrun's processes
    text_file, style = _resolve_corpus(args.corpus, corpus_dir, build_it=world.is_main)
    world.barrier()  # the main process built the corpus the others read
    corpus = load_corpus(text_file)
    main = world.is_main
    if main:
        where = f" on {world.size} processes" if world.shared else ""
        console.print(
            summary(corpus, text_file) + f"; training on {world.device}{where}", highlight=False
        )
    checkpoint = Path(args.out) / f"{args.name or style}.safetensors"
    minutes = args.minutes
    if args.minutes is None and args.steps is None and not args.resume:
        minutes = 10.0  # a fresh run's default; a resumed run keeps its recorded budget
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False, disable=not main) as progress:
        reporter: Callable[[TrainStatus], None] | None = _TrainProgress(progress) if main else None
        if args.resume:
            trainer = Trainer.resume(corpus, checkpoint, reporter, world)
        else:
            config = TrainConfig(
                batch=args.batch,
                seq_len=args.seq_len,
                lr=args.lr,
                eval_every=args.eval_every,
                patience=args.patience,
                seed=args.seed,
            )
            trainer = Trainer(corpus, checkpoint, _model_config(args), config, reporter, world)
        try:
            result = trainer.run(max_steps=args.steps, minutes=minutes)
        finally:
            trainer.release()
            world.leave()
    code = 130 if result.stopped_because == "interrupted" else 0
    if not main:
        return code
    why = {
        "steps": "step budget reached",
        "time": "time budget reached",
        "early-stop": "validation stopped improving",
        "interrupted": "interrupted",
    }[result.stopped_because]
    console.print(
        f"{why} after {result.steps} steps ({result.elapsed_s:.0f} s); best val BPC "
        f"{result.best_val_bpc:.3f} at step {result.best_step} → {result.checkpoint}"
    )
    console.print(
        f"resume with: conductor train {args.corpus} --out {args.out}"
        + (f" --name {args.name}" if args.name else "")
        + " --resume [--steps N | --minutes M]"
    )
    return code
