"""`conductor generate`: an ensemble of styles, mixed and morphed; text, JSON events, or a tune.
`conductor sample` is the same path with one style."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from rich.text import Text

from conductor.checkpoint import atomic_write_bytes, read_meta
from conductor.cli._common import (
    COUNT,
    TEMPERATURE,
    add_header_args,
    add_precision_arg,
    add_search_args,
    add_styles_args,
    add_threshold_arg,
    console,
    number,
    parse_floats,
    parse_precision,
    search_settings,
)
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.events import StepEvent
from conductor.generate import Conductor, Schedule
from conductor.library import DEFAULT_STYLES, require_music, resolve_style, resolve_styles
from conductor.mixing import DEFAULT_THRESHOLD, MIXERS, check_weights
from conductor.music.chords import ChordGrid
from conductor.music.form import MAX_PART_BARS, MAX_PARTS, TuneForm
from conductor.sampling import SamplingParams
from conductor.vocab import clean

# Distinct, readable on dark and light terminals; cycles beyond eight styles.
PALETTE = ("cyan", "magenta", "yellow", "green", "bright_blue", "red", "bright_white", "orange3")
TUNE_FORMATS = ("abc", "mid", "wav")


def add_parser(commands: Any) -> None:
    gen = commands.add_parser("generate", help="generate from an ensemble of styles, mixed")
    add_styles_args(gen)
    gen.add_argument("--weights", help="one weight per style, e.g. 0.7,0.3 (default: equal)")
    gen.add_argument(
        "--schedule", help="a morph: keyframes STEP:style=w[,style=w], e.g. '0:a=1 300:b=1'"
    )
    gen.add_argument("--mixer", choices=MIXERS, default="linear", help="linear (paper) | product")
    gen.add_argument("--temperature", type=TEMPERATURE, default=0.8, help="0 = greedy")
    gen.add_argument("--top-k", type=COUNT, default=0, help="keep the k likeliest (0: off)")
    gen.add_argument(
        "--top-p", type=number(float, 1e-6, 1.0, "a nucleus mass is"), default=1.0,
        help="nucleus sampling mass (1: off)",
    )  # fmt: skip
    gen.add_argument(
        "--bias", type=number(float, 0, 100, "Graves' bias is"), default=0.0,
        help="Graves' probability bias",
    )  # fmt: skip
    gen.add_argument("--style-temperatures", help="per-style temperatures, e.g. 1,0.5")
    add_threshold_arg(gen, DEFAULT_THRESHOLD)
    gen.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    gen.add_argument(
        "--chars", type=COUNT, help="symbols to generate (600; for a tune: the most, 3000)"
    )
    gen.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    add_precision_arg(gen)
    gen.add_argument("--json", help="write one JSON event per symbol to FILE ('-': stdout)")
    add_search_args(gen)
    tune = gen.add_argument_group(
        "tunes (ABC styles): with --format or --out, write one tune from a chosen header"
    )
    tune.add_argument("--format", choices=[*TUNE_FORMATS, "midi"], help="abc | mid | wav")
    tune.add_argument("--out", help="the file to write (format from its suffix)")
    add_header_args(tune)
    tune.add_argument("--opening", default="", help="opening bars the models continue")
    tune.add_argument(
        "--parts", type=number(int, 0, MAX_PARTS, "give"),
        help="parts of the tune, each closed by a repeat or a double bar (default: the leading "
        "style's norm, e.g. 2 for a jig); 0: free, the models end the tune",
    )  # fmt: skip
    tune.add_argument(
        "--bars", type=number(int, 1, MAX_PART_BARS, "give"),
        help="bars a part (default: the leading style's norm, e.g. 8); with --parts 0, "
        "stop after this many bars",
    )  # fmt: skip
    tune.add_argument(
        "--no-fit-meter", action="store_true", help="keep bars that do not fit the meter"
    )
    gen.set_defaults(func=run)

    sample = commands.add_parser("sample", help="generate text from one model")
    sample.add_argument("checkpoint", help="a style name or a .safetensors file")
    sample.add_argument("--chars", type=COUNT, default=400, help="symbols to generate")
    sample.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    sample.add_argument("--temperature", type=TEMPERATURE, default=0.8, help="0 = greedy")
    sample.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    sample.set_defaults(func=run_sample)


def run_sample(args: argparse.Namespace) -> int:
    """One style through the generation path `generate` uses (the engine, the sampler)."""
    ensemble = Ensemble.from_checkpoints([resolve_style(args.checkpoint)])
    if not clean(args.prime, ensemble.vocab):
        raise ConductorError("--prime must hold at least one symbol of the vocabulary")
    conductor = Conductor(ensemble, params=SamplingParams(temperature=args.temperature),
                          seed=args.seed)  # fmt: skip
    conductor.prime(args.prime)
    console.print(args.prime, end="", style="dim", highlight=False, markup=False)
    _stream(conductor, Schedule.constant([1.0]), args.chars, None, colours=None)
    return 0


def run(args: argparse.Namespace) -> int:
    paths = resolve_styles(args.styles or DEFAULT_STYLES, args.styles_dir)
    tune = bool(args.format or args.out)
    if args.chords and not tune:
        raise ConductorError("--chords shapes a tune: add --format abc (or --out FILE.mid)")
    if tune:
        require_music(paths, "a tune (--format/--out)")
        if args.chords:
            ChordGrid.parse(args.chords, args.key)  # a wrong chord fails before any model loads
    ensemble = Ensemble.from_checkpoints(paths, precision=parse_precision(args.precision))
    names = ensemble.names
    if args.schedule and args.weights:
        raise ConductorError("give --weights or --schedule, not both")
    if args.schedule:
        schedule = Schedule.parse(args.schedule, names)
    else:
        weights = parse_floats(args.weights, "--weights") if args.weights else [1.0] * len(names)
        schedule = Schedule.constant(weights)
    for keyframe in schedule.keyframes:  # fail before generating anything
        check_weights(list(keyframe.weights), len(names), args.mixer)
    style_temps = (
        parse_floats(args.style_temperatures, "--style-temperatures")
        if args.style_temperatures
        else None
    )
    params = SamplingParams(
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, bias=args.bias
    )
    conductor = Conductor(
        ensemble, args.mixer, params, args.seed, args.threshold, style_temperatures=style_temps
    )
    conductor.search = search_settings(args)
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    if tune:
        return _generate_tune(args, conductor, schedule, colours, paths)
    conductor.prime(args.prime)
    to_stdout = args.json == "-"
    events: IO[str] | None = sys.stdout if to_stdout else None
    if args.json and not to_stdout:
        try:
            events = open(args.json, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as error:
            raise ConductorError(f"cannot write --json {args.json}: {error.strerror}") from None
    if not to_stdout:
        legend = Text("styles: ")
        for name in names:
            legend.append(f" {name} ", style=f"bold black on {colours[name]}")
            legend.append(" ")
        console.print(legend)
        console.print(args.prime, end="", style="dim", highlight=False, markup=False)
    try:
        chars = 600 if args.chars is None else args.chars
        written = _stream(conductor, schedule, chars, events, colours, echo=not to_stdout)
    finally:
        if events is not None and not to_stdout:
            events.close()
    if not to_stdout:
        total = max(1, sum(written.values()))
        summary = "  ".join(f"{n} {100 * k / total:.0f}%" for n, k in written.items())
        console.print(f"[dim]written by: {summary}[/dim]")
    return 0


def _stream(
    conductor: Conductor,
    schedule: Schedule,
    chars: int,
    events: IO[str] | None,
    colours: dict[str, str] | None,
    echo: bool = True,
) -> dict[str, int]:
    """Generate `chars` symbols: with `echo`, printed as they come (coloured by the style that
    wrote each, or plain); to `events`, each as the step event `serve` sends; → symbols
    written per style."""
    names = conductor.ensemble.names
    written = dict.fromkeys(names, 0)
    pending = Text()
    last_flush = time.monotonic()
    for step in range(chars):
        result = conductor.step(schedule.weights_at(step))
        vocab = conductor.ensemble.vocab
        event = StepEvent.from_steps(result, names, vocab.decode(result.symbols.tolist()), vocab)
        written[event.by] += 1
        if events is not None:  # the step shape `serve` sends its viewers
            events.write(event.json_text() + "\n")
        if not echo:
            continue
        pending.append(event.symbol, style=colours[event.by] if colours else "")
        now = time.monotonic()
        if event.symbol == "\n" or now - last_flush > 0.05:
            console.print(pending, end="", highlight=False, markup=False)
            pending, last_flush = Text(), now
    if echo:
        console.print(pending, highlight=False, markup=False)
    return written


def _form(
    args: argparse.Namespace, paths: list[Path], schedule: Schedule, grid: ChordGrid | None
) -> TuneForm | None:
    """The form asked for: --parts and --bars over the norm of the style weighted most at the
    tune's start (its record's `form`, measured on its corpus), else 2 parts of 8, repeated;
    with a chord grid, its choruses (a part is one time through the grid)."""
    if args.parts == 0:
        return None
    first = schedule.weights_at(0)
    leading = paths[max(range(len(paths)), key=lambda i: (first[i], -i))]
    norm = TuneForm()
    if "form" in (meta := read_meta(leading)):
        norm = TuneForm.from_json(meta["form"])
    if grid is not None:  # choruses of the grid, about as many bars as the style's norm
        choruses = max(1, round(norm.total_bars / len(grid.bars)))
        norm = TuneForm(min(choruses, MAX_PARTS), min(len(grid.bars), MAX_PART_BARS), False)
    return replace(
        norm,
        parts=norm.parts if args.parts is None else args.parts,
        bars=norm.bars if args.bars is None else args.bars,
    )


def _generate_tune(
    args: argparse.Namespace,
    conductor: Conductor,
    schedule: Schedule,
    colours: dict[str, str],
    paths: list[Path],
) -> int:
    """`generate --format abc|mid|wav`: one tune from a chosen header, printed bar by bar."""
    from conductor.music import TuneHeader, render_wav, write_midi
    from conductor.tunes import compose

    out = Path(args.out) if args.out else None
    fmt = args.format or (out.suffix.lstrip(".").lower() if out else "abc")
    if fmt == "midi":
        fmt = "mid"
    if fmt not in TUNE_FORMATS:
        raise ConductorError(f"--format {fmt!r}: give abc, mid or wav")
    if fmt != "abc" and out is None:
        raise ConductorError(f"--format {fmt} writes a file: give --out FILE.{fmt}")
    if out is not None and not out.parent.is_dir():
        raise ConductorError(f"cannot write {out}: no directory {out.parent}")
    header = TuneHeader(meter=args.meter, unit=args.unit, key=args.key, title=args.title)
    grid = ChordGrid.parse(args.chords, args.key) if args.chords else None
    if grid is not None:
        console.print(f"[dim]chords: {grid.describe()}[/dim]", highlight=False)
    console.print(header.text(), end="", style="dim", highlight=False, markup=False)
    console.print(args.opening, end="", style="dim", highlight=False, markup=False)

    def show(text: str, by: list[str]) -> None:
        line = Text()
        for symbol, style in zip(text, by, strict=False):
            line.append(symbol, style=colours.get(style, ""))
        console.print(line, end="", highlight=False)

    form = _form(args, paths, schedule, grid)
    tune = compose(
        conductor,
        schedule.weights_at,
        header,
        opening=args.opening,
        bars=args.bars if form is None else None,
        form=form,
        max_symbols=3000 if args.chars is None else args.chars,
        fit_meter=not args.no_fit_meter,
        chords=grid,
        fit_chords=not args.no_fit_chords,
        on_bar=show,
    )
    console.print()
    if form is None:
        ending = "ended by the models" if tune.ended else "stopped"
    else:
        ending = form.describe() + ("" if tune.whole else f", stopped after {tune.counted}")
    console.print(
        f"[dim]{tune.bars} bars, {ending}; {tune.resampled} bars resampled to fit the meter"
        f"{'' if form is None else ' and form'}{'' if grid is None else ' and chords'}, "
        f"{tune.backs} times back a bar, {tune.unfit} kept unfit[/dim]"
    )
    if tune.bars == 0:
        raise ConductorError("the styles wrote no bar of a tune: nothing to write")
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
            with console.status(f"rendering {out} (FluidSynth) …"):
                render_wav(midi, out)
        finally:
            midi.unlink(missing_ok=True)
    console.print(f"wrote {out}")
    return 0
