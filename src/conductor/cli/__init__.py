"""`conductor` command line: parse, call, print. A module per subcommand (its parser and its
run); what they share is in `_common`. User errors print one line and exit 2."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from conductor import __version__
from conductor.cli import corpus, evaluate, generate, layout, serve, train
from conductor.cli._common import Parser, errors
from conductor.errors import ConductorError

__all__ = ["build_parser", "entry", "main"]

SIGPIPE_EXIT = 128 + 13  # what a shell reports for a program stopped by a closed pipe

EXAMPLES = """\
examples:
  conductor generate --chars 300                        the eight shipped styles, mixed
  conductor generate --styles shakespeare,kjv --schedule "0:shakespeare=1 300:kjv=1"
  conductor generate --styles abc_irish --meter 6/8 --key G --out jig.mid
  conductor serve                                       the live page, OSC and OSCQuery
  conductor corpus build shakespeare && conductor train shakespeare --out styles
  conductor eval shakespeare                            test BPC beside xz, bz2, zstd, PPMd
  conductor layout --out conductor.json                 a surface for Open Stage Control

`conductor COMMAND --help` says more about each."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="conductor",
        description="Live, steerable generation with ensembles of char-LSTMs.",
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"conductor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (corpus, train, evaluate, generate, serve, layout):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    # music21 warns on stderr about what it reads; the tune's own report says what matters.
    warnings.filterwarnings("ignore", module=r"music21(\..*)?")
    try:
        args = parser.parse_args(argv)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except ConductorError as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False, markup=True, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    except BrokenPipeError:
        # stdout was closed early (`conductor generate | head`): stop quietly, as `cat` does.
        # What is still buffered for the closed pipe goes to /dev/null, not to a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT


def entry(argv: Sequence[str] | None = None) -> Any:  # pragma: no cover
    sys.exit(main(argv))
