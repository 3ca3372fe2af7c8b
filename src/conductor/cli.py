"""`conductor` command line: parse, call, print. User errors print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from conductor import __version__
from conductor.checkpoint import atomic_write_bytes, load_checkpoint
from conductor.corpora import DEFAULT_DIR, RECIPES, build, corpus_path
from conductor.corpus import load_corpus
from conductor.errors import ConductorError
from conductor.evaluate import evaluate_checkpoint
from conductor.model import SIZES, ModelConfig
from conductor.sampling import sample
from conductor.train import TrainConfig, Trainer, TrainStatus
from conductor.vocab import Vocab, clean

__all__ = ["main"]

console = Console()
errors = Console(stderr=True)


# -- corpus ------------------------------------------------------------------------------------


def _cmd_corpus(args: argparse.Namespace) -> int:
    if args.corpus_command == "list":
        table = Table("style", "source", "install")
        for recipe in RECIPES.values():
            table.add_row(recipe.name, recipe.description, recipe.install)
        console.print(table)
        return 0
    names = sorted(RECIPES) if args.style == ["all"] else args.style
    for name in names:
        out = build(name, Path(args.dir), Path(args.source) if args.source else None)
        size = out.stat().st_size
        console.print(f"built {out} ({size / 1e6:.2f} MB)")
    return 0


# -- train -------------------------------------------------------------------------------------


def _resolve_corpus(spec: str, corpus_dir: Path) -> tuple[Path, str]:
    """A style name (built on demand) or a text file → (file, style name)."""
    if spec in RECIPES:
        path = corpus_path(spec, corpus_dir)
        if not path.exists():
            console.print(f"building corpus {spec!r} → {path}")
            build(spec, corpus_dir)
        return path, spec
    path = Path(spec)
    if not path.exists():
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


def _cmd_train(args: argparse.Namespace) -> int:
    text_file, style = _resolve_corpus(args.corpus, Path(args.corpus_dir))
    corpus = load_corpus(text_file)
    checkpoint = Path(args.out) / f"{args.name or style}.safetensors"
    minutes = args.minutes if (args.minutes is not None or args.steps is not None) else 10.0
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        reporter: Callable[[TrainStatus], None] = _TrainProgress(progress)
        if args.resume:
            trainer = Trainer.resume(corpus, checkpoint, reporter)
        else:
            config = TrainConfig(
                batch=args.batch,
                seq_len=args.seq_len,
                lr=args.lr,
                eval_every=args.eval_every,
                patience=args.patience,
                seed=args.seed,
            )
            trainer = Trainer(corpus, checkpoint, _model_config(args), config, reporter)
        result = trainer.run(max_steps=args.steps, minutes=minutes)
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
    return 130 if result.stopped_because == "interrupted" else 0


# -- eval --------------------------------------------------------------------------------------


def _cmd_eval(args: argparse.Namespace) -> int:
    checkpoint = Path(args.checkpoint)
    with console.status("scoring model and compressors on the held-out text…"):
        report = evaluate_checkpoint(
            checkpoint, Path(args.text) if args.text else None, not args.no_compressors
        )
    table = Table(title=f"{report.name}: {report.test_symbols:,} held-out symbols")
    table.add_column("predictor")
    table.add_column("bits/symbol", justify="right")
    table.add_row(f"conductor ({checkpoint.name})", f"{report.model_bpc:.3f}", style="bold")
    for name, bpc in report.compressors.items():
        table.add_row(f"{name} (marginal)", f"{bpc:.3f}")
    console.print(table)
    console.print(f"test text: {report.test_source}")
    if report.compressors:
        beaten = report.beaten()
        console.print(f"beats: {', '.join(beaten) if beaten else 'none'}")
    if args.json:
        payload = json.dumps(report.to_json(), indent=2) + "\n"
        atomic_write_bytes(Path(args.json), payload.encode())
        console.print(f"wrote {args.json}")
    return 0


# -- sample ------------------------------------------------------------------------------------


def _cmd_sample(args: argparse.Namespace) -> int:
    model, record = load_checkpoint(Path(args.checkpoint))
    vocab = Vocab.from_json(record["vocab"])
    prime = clean(args.prime)
    if not prime:
        raise ConductorError("--prime must hold at least one symbol of the vocabulary")
    generator = torch.Generator().manual_seed(args.seed)
    ids = torch.from_numpy(vocab.encode(prime).astype("int64")).unsqueeze(0)  # [1, P]
    console.print(prime, end="", style="dim", highlight=False, markup=False)
    with torch.no_grad():
        logits, state = model(ids)  # [1, P, V]
        for _ in range(args.chars):
            log_probs = torch.log_softmax(logits[:, -1], dim=-1)  # [1, V]
            symbol = sample(log_probs, args.temperature, generator)  # [1]
            console.print(vocab.decode(symbol.tolist()), end="", highlight=False, markup=False)
            logits, state = model(symbol.unsqueeze(0), state)  # [1, 1, V]
    console.print()
    return 0


# -- parser ------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conductor", description="Live, steerable generation with ensembles of char-LSTMs."
    )
    parser.add_argument("--version", action="version", version=f"conductor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    corpus = commands.add_parser("corpus", help="build style corpora from installed packages")
    corpus_commands = corpus.add_subparsers(dest="corpus_command", required=True)
    corpus_commands.add_parser("list", help="list the styles that have a recipe")
    build_cmd = corpus_commands.add_parser("build", help="build STYLE's corpus file")
    build_cmd.add_argument("style", nargs="+", help="style name(s), or 'all'")
    build_cmd.add_argument("--dir", default=str(DEFAULT_DIR), help="output directory")
    build_cmd.add_argument("--source", help="read from this path instead of the installed one")
    corpus.set_defaults(func=_cmd_corpus)

    train = commands.add_parser("train", help="train a style model on a corpus")
    train.add_argument("corpus", help="a style name (see 'corpus list') or a UTF-8 text file")
    train.add_argument("--out", default="runs", help="directory for the checkpoint (runs/)")
    train.add_argument("--name", help="checkpoint name (default: the style or file stem)")
    train.add_argument("--corpus-dir", default=str(DEFAULT_DIR), help=argparse.SUPPRESS)
    budget = train.add_argument_group("budget (default: 10 minutes)")
    budget.add_argument("--steps", type=int, help="stop after this many optimizer steps")
    budget.add_argument("--minutes", type=float, help="stop after this many minutes")
    budget.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    shape = train.add_argument_group("model")
    shape.add_argument("--size", choices=sorted(SIZES), default="small", help="preset (small)")
    shape.add_argument("--layers", type=int, help="override the preset's layers")
    shape.add_argument("--hidden", type=int, help="override the preset's hidden size")
    shape.add_argument("--embed", type=int, help="override the preset's embedding size")
    shape.add_argument("--dropout", type=float, default=0.0, help="dropout (0)")
    opt = train.add_argument_group("optimisation")
    defaults = TrainConfig()
    opt.add_argument("--batch", type=int, default=defaults.batch)
    opt.add_argument("--seq-len", type=int, default=defaults.seq_len, help="TBPTT window")
    opt.add_argument("--lr", type=float, default=defaults.lr)
    opt.add_argument("--eval-every", type=int, default=defaults.eval_every)
    opt.add_argument("--patience", type=int, default=defaults.patience)
    opt.add_argument("--seed", type=int, default=defaults.seed)
    train.set_defaults(func=_cmd_train)

    evaluate = commands.add_parser("eval", help="test BPC beside compressors' marginal BPC")
    evaluate.add_argument("checkpoint", help="the model's .safetensors file")
    evaluate.add_argument("--text", help="score this text file instead of the test split")
    evaluate.add_argument("--json", help="also write the table as JSON to this file")
    evaluate.add_argument("--no-compressors", action="store_true", help="model BPC only")
    evaluate.set_defaults(func=_cmd_eval)

    sample_cmd = commands.add_parser("sample", help="generate text from one model")
    sample_cmd.add_argument("checkpoint", help="the model's .safetensors file")
    sample_cmd.add_argument("--chars", type=int, default=400, help="symbols to generate (400)")
    sample_cmd.add_argument("--prime", default="\n", help="text to start from (a newline)")
    sample_cmd.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (0.8)")
    sample_cmd.add_argument("--seed", type=int, default=0)
    sample_cmd.set_defaults(func=_cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConductorError as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False, markup=True, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


def entry(argv: Sequence[str] | None = None) -> Any:  # pragma: no cover
    sys.exit(main(argv))


if __name__ == "__main__":  # pragma: no cover
    entry()
