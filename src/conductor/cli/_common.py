"""What every subcommand shares: the consoles, argument types that check ranges where they are
parsed (so a bad value is one line, never a traceback further in), and shared options."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich import progress as bars
from rich.console import Console
from rich.progress import (
    BarColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from conductor.engine import PRECISIONS
from conductor.errors import ConductorError
from conductor.library import DEFAULT_STYLES, MUSIC_STYLES
from conductor.progress import Progress
from conductor.search import MAX_BALANCE, MAX_DEPTH, MAX_MARGIN, MAX_SAMPLES, SearchSettings


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A closed stdout ends the command as `main` ends it for print (rich would exit 1)."""
        raise BrokenPipeError


console = _Console()
errors = _Console(stderr=True)

STYLES_DIR_HELP = (
    "look style names up here first (then $CONDUCTOR_STYLES, ./styles, the shipped styles)"
)


class UsageError(ConductorError):
    """A value refused where it was parsed: `main` prints it as one line, like any error."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says what to do (`conductor CMD --help`
    for the rest), and every option's help shows its default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see: {self.prog} --help)")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Adds "(default: X)" to an option's help when it has a default it does not show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.help is argparse.SUPPRESS:
            return action.help
        default = action.default
        if (
            default is not None
            and default is not False
            and default is not argparse.SUPPRESS
            and action.option_strings
            and "default" not in text
        ):
            text = f"{text} (default: {default})" if text else f"default: {default}"
        return text


def number(
    kind: Callable[[str], float] = float,
    low: float | None = None,
    high: float | None = None,
    what: str = "",
    span: str | None = None,
) -> Callable[[str], Any]:
    """An argparse type: `kind(text)` within [low, high], else one line naming the range."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            name = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None
        if (
            value != value
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            allowed = span or (
                f"from {low:g} to {high:g}"
                if low is not None and high is not None
                else f"at least {low:g}"
                if low is not None
                else f"at most {high:g}"
            )
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what or 'give'} {allowed}")
        return value

    return parse


@contextmanager
def progress_bars(
    names: dict[str, str] | None = None,
) -> Iterator[Progress]:
    """A `conductor.progress.Progress` drawn as rich bars with an ETA, one per task (named by
    `names`, else by the task itself), on stderr so piped output stays clean."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    tasks: dict[str, TaskID] = {}
    with bars.Progress(*columns, console=errors, transient=False) as shown:

        def report(task: str, done: float, total: float) -> None:
            if task not in tasks:
                tasks[task] = shown.add_task((names or {}).get(task, task), total=total)
            shown.update(tasks[task], completed=done, total=total)

        yield report


PORT = number(int, 0, 65535, "a port is")
OSC_PORT = number(int, -1, 65535, "an OSC port is", "from 0 to 65535, or -1 (off)")
POSITIVE_INT = number(int, 1, None, "give")
COUNT = number(int, 0, None, "give")
FRACTION = number(float, 0.0, 1.0, "a share is")
NON_NEGATIVE = number(float, 0.0, None, "give")
TEMPERATURE = number(float, 0.0, 10.0, "a temperature is")


def add_search_args(parser: Any) -> None:
    """`--search` and its settings (generate, serve): lookahead search over the mix."""
    default = SearchSettings()
    group = parser.add_argument_group("lookahead search (legible text when many styles are mixed)")
    group.add_argument(
        "--search", action="store_true",
        help="choose each symbol by looking ahead: sample paths, keep the likeliest",
    )  # fmt: skip
    group.add_argument(
        "--search-samples", type=number(int, 1, MAX_SAMPLES, "search samples go"),
        default=default.samples, help="paths explored per symbol",
    )  # fmt: skip
    group.add_argument(
        "--search-depth", type=number(int, 1, MAX_DEPTH, "search depth goes"),
        default=default.depth, help="symbols each path looks ahead, its first included",
    )  # fmt: skip
    group.add_argument(
        "--search-balance", type=number(float, 0, MAX_BALANCE, "search balance goes"),
        default=default.balance,
        help="penalty on paths where a style writes more than its weight says (0: off)",
    )  # fmt: skip
    group.add_argument(
        "--search-margin", type=number(float, 0, MAX_MARGIN, "search margin goes"),
        default=default.margin,
        help="nats a path must score above plain sampling's own to replace it (0: the best path)",
    )  # fmt: skip
    group.add_argument(
        "--search-any-kind", action="store_true",
        help="the paper's rule: the best path wins whatever symbol it starts with (by default "
        "sampling picks the kind of symbol, letter, digit, space or other, but for a word's end)",
    )  # fmt: skip


def search_settings(args: argparse.Namespace) -> SearchSettings | None:
    """The `SearchSettings` the search options ask for, or None without `--search`."""
    if not args.search:
        return None
    return SearchSettings(
        args.search_samples,
        args.search_depth,
        args.search_balance,
        not args.search_any_kind,
        args.search_margin,
    )


def add_threshold_arg(parser: Any, default: float) -> None:
    parser.add_argument(
        "--threshold", type=FRACTION, default=default,
        help="styles under this share of the weight are not run",
    )  # fmt: skip


def add_styles_args(parser: Any, music: bool = False) -> None:
    """--styles and --styles-dir, as every command that runs an ensemble takes them."""
    shown = f"the {len(DEFAULT_STYLES)} shipped styles"
    if music:
        shown += f"; with --music the {len(MUSIC_STYLES)} ABC ones"
    parser.add_argument(
        "--styles", default=None, help=f"comma-separated style names or paths (default: {shown})"
    )
    parser.add_argument("--styles-dir", help=STYLES_DIR_HELP)


def parse_precision(text: str) -> str | dict[str, str]:
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


def add_precision_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        help="how the recurrent weights are stored: auto (int8 only for ensembles far larger "
        "than the CPU cache) | fp32 | fp16 | int8, or per style: kjv=int8,c=fp16",
    )


def parse_floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConductorError(f"{what} must be comma-separated numbers, not {text!r}") from None


def add_header_args(group: argparse._ArgumentGroup) -> None:
    """The tune header a user chooses (generate --format, serve --music)."""
    group.add_argument("--meter", default="4/4", help="M: of the header")
    group.add_argument("--unit", default="1/8", help="L: of the header")
    group.add_argument("--key", default="D", help="K: of the header")
    group.add_argument("--title", help="T: of the header")
    group.add_argument(
        "--tempo", type=number(float, 1, 1000, "a tempo is"), default=120.0,
        help="quarter notes a minute",
    )  # fmt: skip
    group.add_argument(
        "--chords",
        help="a chord grid the tune keeps to, one chord a bar, cycled: 'G C D7 G', or 'blues' "
        "(the 12-bar blues in --key); its chords sound under the melody",
    )
    group.add_argument(
        "--no-fit-chords", action="store_true",
        help="with --chords: keep bars whose strong-beat notes are not the chord's tones",
    )  # fmt: skip
