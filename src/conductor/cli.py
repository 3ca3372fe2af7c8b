"""`conductor` command line: parse, call, print. User errors print one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from conductor import __version__, control
from conductor.checkpoint import atomic_write_bytes, load_checkpoint
from conductor.corpora import DEFAULT_DIR, RECIPES, build, corpus_path
from conductor.corpus import load_corpus
from conductor.engine import PRECISIONS, Ensemble
from conductor.errors import ConductorError
from conductor.evaluate import evaluate_checkpoint
from conductor.events import StepEvent
from conductor.generate import Conductor, Schedule
from conductor.library import DEFAULT_STYLES, MUSIC_STYLES, resolve_style, resolve_styles
from conductor.mixing import DEFAULT_THRESHOLD, MIXERS, check_weights
from conductor.model import SIZES, ModelConfig
from conductor.sampling import SamplingParams, sample
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
    minutes = args.minutes
    if args.minutes is None and args.steps is None and not args.resume:
        minutes = 10.0  # a fresh run's default; a resumed run keeps its recorded budget
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


def _parse_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        a, sep, b = item.strip().partition(":")
        if not sep or not a or not b:
            raise ConductorError(f"--pairs takes a:b[,c:d], not {item!r}")
        pairs.append((a, b))
    return pairs


def _cmd_control(args: argparse.Namespace) -> int:
    paths = resolve_styles(args.styles or DEFAULT_STYLES, args.styles_dir)
    names = [p.name.removesuffix(".safetensors") for p in paths]
    pairs = _parse_pairs(args.pairs) if args.pairs else list(itertools.pairwise(names))
    if args.samples < 1 or args.length < 10:
        raise ConductorError("--samples must be >= 1 and --length >= 10")
    with console.status("controllability…") as status:

        def say(line: str) -> None:
            status.update(line)
            console.print(f"[dim]{line}[/dim]")

        report = control.run_control(
            paths,
            pairs,
            samples=args.samples,
            length=args.length,
            temperature=args.temperature,
            progress=say,
        )
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


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.control:
        return _cmd_control(args)
    if not args.checkpoint:
        raise ConductorError("give a checkpoint to score, or --control for the ensemble test")
    checkpoint = resolve_style(args.checkpoint, args.styles_dir)
    with console.status("scoring model and compressors on the held-out text…"):
        report = evaluate_checkpoint(
            checkpoint,
            Path(args.text) if args.text else None,
            not args.no_compressors,
            dynamic=args.dynamic,
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
        console.print(f"beats: {', '.join(beaten) if beaten else 'none'}")
        if report.dynamic_bpc is not None:
            dynamic = report.beaten(dynamic=True)
            console.print(f"with dynamic evaluation beats: {', '.join(dynamic) or 'none'}")
    if args.json:
        payload = json.dumps(report.to_json(), indent=2) + "\n"
        atomic_write_bytes(Path(args.json), payload.encode())
        console.print(f"wrote {args.json}")
    return 0


# -- sample ------------------------------------------------------------------------------------


def _cmd_sample(args: argparse.Namespace) -> int:
    model, record = load_checkpoint(resolve_style(args.checkpoint))
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


# -- generate ----------------------------------------------------------------------------------

# Distinct, readable on dark and light terminals; cycles beyond eight styles.
_PALETTE = ("cyan", "magenta", "yellow", "green", "bright_blue", "red", "bright_white", "orange3")


STYLES_DIR_HELP = (
    "look style names up here first (then $CONDUCTOR_STYLES, ./styles, the shipped styles)"
)


def _add_styles_args(parser: Any, music: bool = False) -> None:
    """--styles and --styles-dir, as every command that runs an ensemble takes them."""
    default = ",".join(DEFAULT_STYLES)
    shown = f"{default}; with --music: {','.join(MUSIC_STYLES)}" if music else default
    parser.add_argument(
        "--styles", default=None, help=f"comma-separated style names or paths (default: {shown})"
    )
    parser.add_argument("--styles-dir", help=STYLES_DIR_HELP)


def _parse_precision(text: str) -> str | dict[str, str]:
    """`--precision`: one of PRECISIONS for all styles, or STYLE=KIND[,STYLE=KIND] (others auto)."""
    if "=" not in text:
        return text.strip()
    chosen: dict[str, str] = {}
    for item in text.split(","):
        name, sep, kind = item.partition("=")
        if not sep or not name.strip():
            raise ConductorError(
                f"--precision takes one of {', '.join(PRECISIONS)} or STYLE=KIND[,STYLE=KIND], "
                f"not {text!r}"
            )
        chosen[name.strip()] = kind.strip()
    return chosen


def _add_precision_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        help="how the recurrent weights are stored: auto (int8 only for ensembles far larger "
        "than the CPU cache) | fp32 | fp16 | int8, or per style: kjv=int8,c=fp16 (auto)",
    )


def _parse_floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConductorError(f"{what} must be comma-separated numbers, not {text!r}") from None


def _cmd_generate(args: argparse.Namespace) -> int:
    paths = resolve_styles(args.styles or DEFAULT_STYLES, args.styles_dir)
    ensemble = Ensemble.from_checkpoints(paths, precision=_parse_precision(args.precision))
    names = ensemble.names
    if args.schedule and args.weights:
        raise ConductorError("give --weights or --schedule, not both")
    if args.schedule:
        schedule = Schedule.parse(args.schedule, names)
    else:
        weights = _parse_floats(args.weights, "--weights") if args.weights else [1.0] * len(names)
        schedule = Schedule.constant(weights)
    for keyframe in schedule.keyframes:  # fail before generating anything
        check_weights(list(keyframe.weights), len(names), args.mixer)
    style_temps = (
        _parse_floats(args.style_temperatures, "--style-temperatures")
        if args.style_temperatures
        else None
    )
    params = SamplingParams(
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, bias=args.bias
    )
    conductor = Conductor(
        ensemble, args.mixer, params, args.seed, args.threshold, style_temperatures=style_temps
    )
    colours = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}
    if args.format or args.out:
        return _generate_tune(args, conductor, schedule, colours)
    conductor.prime(args.prime)
    to_stdout = args.json == "-"
    events: Any = sys.stdout if to_stdout else None
    if args.json and not to_stdout:
        try:
            events = open(args.json, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as error:
            raise ConductorError(f"cannot write --json {args.json}: {error.strerror}") from None
    show = not to_stdout
    if show:
        legend = Text("styles: ")
        for name in names:
            legend.append(f" {name} ", style=f"bold black on {colours[name]}")
            legend.append(" ")
        console.print(legend)
        console.print(args.prime, end="", style="dim", highlight=False, markup=False)
    written = dict.fromkeys(names, 0)
    pending = Text()
    last_flush = time.monotonic()
    try:
        for step in range(600 if args.chars is None else args.chars):
            weights = schedule.weights_at(step)
            result = conductor.step(weights)
            step_event = StepEvent.from_steps(
                result, names, ensemble.vocab.decode(result.symbols.tolist())
            )
            symbol, by = step_event.symbol, step_event.by
            written[by] += 1
            if show:
                pending.append(symbol, style=colours[by])
                now = time.monotonic()
                if symbol == "\n" or now - last_flush > 0.05:
                    console.print(pending, end="", highlight=False)
                    pending, last_flush = Text(), now
            if events is not None:  # the step shape `serve` sends its viewers
                events.write(step_event.json_text() + "\n")
    finally:
        if events is not None and not to_stdout:
            events.close()
    if show:
        console.print(pending, highlight=False)
        total = max(1, sum(written.values()))
        summary = "  ".join(f"{n} {100 * k / total:.0f}%" for n, k in written.items())
        console.print(f"[dim]written by: {summary}[/dim]")
    return 0


_TUNE_FORMATS = ("abc", "mid", "wav")


def _generate_tune(
    args: argparse.Namespace, conductor: Conductor, schedule: Schedule, colours: dict[str, str]
) -> int:
    """`generate --format abc|mid|wav`: one tune from a chosen header, printed bar by bar."""
    from conductor.music import TuneHeader, render_wav, write_midi
    from conductor.tunes import compose

    out = Path(args.out) if args.out else None
    fmt = args.format or (out.suffix.lstrip(".").lower() if out else "abc")
    if fmt == "midi":
        fmt = "mid"
    if fmt not in _TUNE_FORMATS:
        raise ConductorError(f"--format {fmt!r}: give abc, mid or wav")
    if fmt != "abc" and out is None:
        out = Path(f"tune.{fmt}")
    if out is not None and not out.parent.is_dir():
        raise ConductorError(f"cannot write {out}: no directory {out.parent}")
    if args.tempo <= 0:
        raise ConductorError("--tempo is quarter notes per minute and must be positive")
    header = TuneHeader(meter=args.meter, unit=args.unit, key=args.key, title=args.title)
    console.print(header.text(), end="", style="dim", highlight=False, markup=False)
    console.print(args.opening, end="", style="dim", highlight=False, markup=False)

    def show(text: str, by: list[str]) -> None:
        line = Text()
        for symbol, style in zip(text, by, strict=False):
            line.append(symbol, style=colours.get(style, ""))
        console.print(line, end="", highlight=False)

    tune = compose(
        conductor,
        schedule.weights_at,
        header,
        opening=args.opening,
        bars=args.bars,
        max_symbols=3000 if args.chars is None else args.chars,
        fit_meter=not args.no_fit_meter,
        on_bar=show,
    )
    console.print()
    ending = "ended by the models" if tune.ended else "stopped"
    console.print(
        f"[dim]{tune.bars} bars, {ending}; {tune.resampled} bars resampled to fit the meter, "
        f"{tune.unfit} kept unfit[/dim]"
    )
    if out is None:
        return 0
    if fmt == "abc":
        atomic_write_bytes(out, tune.text.encode("ascii"))
    elif fmt == "mid":
        write_midi(tune.text, out, tempo=args.tempo)
    else:
        midi = out.with_name(f".{out.name}.mid")
        try:
            write_midi(tune.text, midi, tempo=args.tempo)
            render_wav(midi, out)
        finally:
            midi.unlink(missing_ok=True)
    console.print(f"wrote {out}")
    return 0


# -- serve and replay --------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    from conductor.music import TuneHeader
    from conductor.performance import MusicOptions
    from conductor.server.midi import MidiControl, MidiOut, load_mapping
    from conductor.server.run import Endpoints, serve
    from conductor.session import Session

    styles = args.styles or (MUSIC_STYLES if args.music else DEFAULT_STYLES)
    paths = resolve_styles(styles, args.styles_dir)
    music = None
    if args.music:
        header = TuneHeader(meter=args.meter, unit=args.unit, key=args.key, title=args.title)
        music = MusicOptions(header, args.tempo, args.ahead_bars)
    elif args.midi_out:
        raise ConductorError("--midi-out plays the tune: add --music")
    ensemble = Ensemble.from_checkpoints(paths, precision=_parse_precision(args.precision))
    params = SamplingParams(temperature=args.temperature)
    conductor = Conductor(ensemble, args.mixer, params, args.seed, args.threshold)
    weights = _parse_floats(args.weights, "--weights") if args.weights else None
    if weights is not None:
        check_weights(weights, len(ensemble), args.mixer)
    session = Session(
        conductor,
        weights,
        rate=args.rate,
        slew=args.slew,
        presets_file=Path(args.presets) if args.presets else None,
        record=Path(args.record) if args.record else None,
        style_paths=[str(p) for p in paths],
        music=music,
    )
    if args.midi_out:
        midi_out = MidiOut.open(args.midi_out)  # a one-line error where there is no MIDI
        session.add_sink(midi_out)
    if args.prime:
        session.submit({"type": "prime", "text": args.prime})
    midi = None
    if args.midi_in:
        map_file = Path(args.midi_map) if args.midi_map else None
        mapping, channel = (
            load_mapping(map_file, ensemble.names)
            if map_file is not None and map_file.exists()
            else ({}, None)
        )
        midi = MidiControl(session, mapping, channel, map_file)

    if args.realtime:
        _raise_priority()
    # The engine thread's idle work is a run of short torch calls; with CPython's 5 ms switch
    # interval a socket write waiting for the GIL could wait that long behind it.
    sys.setswitchinterval(LIVE_SWITCH_INTERVAL)

    def ready(endpoints: Endpoints) -> None:
        console.print(f"conductor is live: [bold]{endpoints.url}[/bold]", highlight=False)
        if endpoints.osc:
            console.print(
                f"OSC: udp://{endpoints.osc[0]}:{endpoints.osc[1]}  "
                f"(OSCQuery {endpoints.oscquery})",
                highlight=False,
            )
        console.print(f"styles: {', '.join(ensemble.names)} — Ctrl-C stops", highlight=False)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                session,
                host=args.host,
                port=args.port,
                osc_port=None if args.osc_port < 0 else args.osc_port,
                oscquery_port=args.oscquery_port,
                token=args.token,
                on_ready=ready,
                midi=midi,
                midi_in=args.midi_in,
            )
        )
    if args.record:
        console.print(f"recorded → {args.record} (conductor replay {args.record})")
    return 0


REALTIME_NICE = -10  # `serve --realtime`: the symbol clock ahead of viewers and other work
LIVE_SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL while another waits (serve)


def _raise_priority() -> None:
    """Ask the OS to schedule this process ahead of ordinary ones (`serve --realtime`): on a
    busy machine the clock's thread otherwise waits for a core, and symbols come late. Only
    the niceness changes; refused (no root / CAP_SYS_NICE), say so and go on."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, REALTIME_NICE)
    except (AttributeError, OSError) as error:  # no setpriority here; EPERM
        why = getattr(error, "strerror", None) or "not supported here"
        errors.print(
            f"--realtime: cannot raise the priority ({why}; needs root or CAP_SYS_NICE): "
            "running at normal priority",
            highlight=False,
            soft_wrap=True,
        )


def _cmd_replay(args: argparse.Namespace) -> int:
    from conductor.session import replay

    result = replay(
        Path(args.record),
        lambda styles: [
            Path(s) if Path(s).exists() else resolve_style(Path(s).stem, args.styles_dir)
            for s in styles
        ],
        extra_steps=args.chars,
    )
    console.print(result.text, highlight=False, markup=False)
    if result.matches is True:
        console.print(f"[green]replayed {result.steps} steps: identical to the recording[/green]")
    elif result.matches is False:
        raise ConductorError(f"replay of {args.record} differs from the recording")
    else:
        console.print("[yellow]the recording has no end mark (the session did not close)[/]")
    return 0


# -- parser ------------------------------------------------------------------------------------


def _add_header_args(group: argparse._ArgumentGroup) -> None:
    """The tune header a user chooses (generate --format, serve --music)."""
    group.add_argument("--meter", default="4/4", help="M: of the header (4/4)")
    group.add_argument("--unit", default="1/8", help="L: of the header (1/8)")
    group.add_argument("--key", default="D", help="K: of the header (D)")
    group.add_argument("--title", help="T: of the header")
    group.add_argument("--tempo", type=float, default=120.0, help="quarter notes a minute (120)")


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
    _add_styles_args(ctl)
    ctl.add_argument("--pairs", help="sweeps a:b[,c:d] (default: neighbours in --styles)")
    ctl.add_argument("--samples", type=int, default=100, help="samples per point (100)")
    ctl.add_argument("--length", type=int, default=300, help="symbols per sample (300)")
    ctl.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    ctl.add_argument("--plot", help="write the sweep curves as a PNG to this file")
    evaluate.set_defaults(func=_cmd_eval)

    sample_cmd = commands.add_parser("sample", help="generate text from one model")
    sample_cmd.add_argument("checkpoint", help="a style name or a .safetensors file")
    sample_cmd.add_argument("--chars", type=int, default=400, help="symbols to generate (400)")
    sample_cmd.add_argument("--prime", default="\n", help="text to start from (a newline)")
    sample_cmd.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (0.8)")
    sample_cmd.add_argument("--seed", type=int, default=0)
    sample_cmd.set_defaults(func=_cmd_sample)

    gen = commands.add_parser("generate", help="generate from an ensemble of styles, mixed")
    _add_styles_args(gen)
    gen.add_argument("--weights", help="one weight per style, e.g. 0.7,0.3 (default: equal)")
    gen.add_argument(
        "--schedule", help="a morph: keyframes STEP:style=w[,style=w], e.g. '0:a=1 300:b=1'"
    )
    gen.add_argument("--mixer", choices=MIXERS, default="linear", help="linear (paper) | product")
    gen.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (0.8)")
    gen.add_argument("--top-k", type=int, default=0, help="keep the k likeliest symbols (off)")
    gen.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (off)")
    gen.add_argument("--bias", type=float, default=0.0, help="Graves' probability bias (0)")
    gen.add_argument("--style-temperatures", help="per-style temperatures, e.g. 1,0.5")
    gen.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="styles under this share of the weight are not run (0.05)",
    )
    gen.add_argument("--prime", default="\n", help="text to start from")
    gen.add_argument(
        "--chars", type=int, help="symbols to generate (600; for a tune: the most, 3000)"
    )
    gen.add_argument("--seed", type=int, default=0)
    _add_precision_arg(gen)
    gen.add_argument("--json", help="write one JSON event per symbol to FILE ('-': stdout)")
    tune = gen.add_argument_group(
        "tunes (ABC styles): with --format or --out, write one tune from a chosen header"
    )
    tune.add_argument("--format", choices=[*_TUNE_FORMATS, "midi"], help="abc | mid | wav")
    tune.add_argument("--out", help="the file to write (format from its suffix)")
    _add_header_args(tune)
    tune.add_argument("--opening", default="", help="opening bars the models continue")
    tune.add_argument("--bars", type=int, help="stop after this many bars (default: tune end)")
    tune.add_argument(
        "--no-fit-meter", action="store_true", help="keep bars that do not fit the meter"
    )
    gen.set_defaults(func=_cmd_generate)

    srv = commands.add_parser("serve", help="live session: web page, OSC, OSCQuery")
    _add_styles_args(srv, music=True)
    srv.add_argument("--weights", help="starting weights (default: the first style)")
    srv.add_argument("--mixer", choices=MIXERS, default="linear")
    srv.add_argument("--temperature", type=float, default=0.8)
    srv.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    srv.add_argument("--rate", type=float, default=20.0, help="symbols/s, 0 = free (20)")
    srv.add_argument("--slew", type=float, default=0.0, help="default weight glide, seconds")
    srv.add_argument("--prime", help="text to start from")
    srv.add_argument("--seed", type=int, default=0)
    _add_precision_arg(srv)
    srv.add_argument(
        "--realtime",
        action="store_true",
        help=f"run at a higher scheduling priority (nice {REALTIME_NICE}), so the symbol clock "
        "keeps time on a busy machine (needs root or CAP_SYS_NICE)",
    )
    srv.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1)")
    srv.add_argument("--port", type=int, default=8765, help="web port (8765)")
    srv.add_argument("--osc-port", type=int, default=9000, help="OSC UDP port, -1 = off (9000)")
    srv.add_argument("--oscquery-port", type=int, help="OSCQuery HTTP port (OSC port + 1)")
    srv.add_argument("--token", help="required on WS and OSC; needed for any --host but local")
    srv.add_argument("--presets", help="JSON file to keep presets in")
    srv.add_argument("--midi-in", help="MIDI input port name: controllers steer the weights")
    srv.add_argument("--midi-map", help="JSON CC→style map (learned bindings are saved here)")
    srv.add_argument("--record", help="write every command with its step to this file")
    music = srv.add_argument_group("music: play the tune the ABC styles write, bar by bar")
    music.add_argument(
        "--music", action="store_true", help=f"on (styles default to {','.join(MUSIC_STYLES)})"
    )
    _add_header_args(music)
    music.add_argument(
        "--ahead-bars", type=float, default=1.0, help="how far generation runs ahead (1 bar)"
    )
    music.add_argument("--midi-out", help="also play the notes on this MIDI output port")
    srv.set_defaults(func=_cmd_serve)

    rep = commands.add_parser("replay", help="re-run a --record file; checks it is identical")
    rep.add_argument("record", help="the JSON-lines file that serve --record wrote")
    rep.add_argument("--styles-dir", help=STYLES_DIR_HELP)
    rep.add_argument("--chars", type=int, default=0, help="extra steps if it has no end mark")
    rep.set_defaults(func=_cmd_replay)
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
