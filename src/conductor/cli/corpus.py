"""`conductor corpus list | build`: each style's text from the files a package installs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from conductor.cli._common import console, progress_bars
from conductor.corpora import RECIPES, build, data_dir, get_recipe


def add_parser(commands: Any) -> None:
    corpus = commands.add_parser("corpus", help="build style corpora from installed packages")
    corpus_commands = corpus.add_subparsers(dest="corpus_command", required=True)
    corpus_commands.add_parser("list", help="list the styles that have a recipe")
    build_cmd = corpus_commands.add_parser("build", help="build STYLE's corpus file")
    build_cmd.add_argument("style", nargs="+", help="style name(s), or 'all'")
    build_cmd.add_argument(
        "--dir", help="output directory (default: $CONDUCTOR_DATA, else data/corpora)"
    )
    build_cmd.add_argument("--source", help="read from this path instead of the installed one")
    corpus.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.corpus_command == "list":
        table = Table("style", "source", "install")
        for recipe in RECIPES.values():
            table.add_row(recipe.name, recipe.description, recipe.install)
        console.print(table)
        return 0
    names = sorted(RECIPES) if args.style == ["all"] else args.style
    directory = Path(args.dir) if args.dir else data_dir()
    source = Path(args.source) if args.source else None
    for name in names:
        get_recipe(name)  # a typo is one line before anything is built
    task = f"building {len(names)} corpora"
    with progress_bars() as progress:
        for done, name in enumerate(names):
            progress(task, done, len(names))
            out = build(name, directory, source)
            console.print(f"built {out} ({out.stat().st_size / 1e6:.2f} MB)")
        progress(task, len(names), len(names))
    return 0
