"""What a recipe is, and the helpers recipes share for finding installed files."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conductor.errors import DependencyError

__all__ = [
    "Recipe",
    "join_without_near_copies",
    "package_dir",
    "require_program",
    "spread",
    "without_paragraphs",
]


@dataclass(frozen=True)
class Recipe:
    """A style's corpus: where its text comes from and how to turn it into one string."""

    name: str
    description: str
    install: str  # the command that installs the source, shown when it is missing
    licence: str
    locate: Callable[[], Path]  # the installed source; raises DependencyError if absent
    extract: Callable[[Path], tuple[str, list[str]]]  # source → (raw text, files read)

    def collect(self, source: Path | None = None) -> tuple[str, list[str]]:
        root = Path(source) if source is not None else self.locate()
        if not root.exists():
            raise DependencyError(f"{root} does not exist; install the source: {self.install}")
        return self.extract(root)


def package_dir(module: str, install: str) -> Path:
    """The directory of an installed Python package, or a one-line error naming `install`."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(f"Python package {module!r} is not installed; run: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def require_program(program: str, install: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise DependencyError(f"program {program!r} is not installed; run: {install}")
    return found


def require_path(path: Path, install: str) -> Path:
    if not path.exists():
        raise DependencyError(f"{path} is missing; run: {install}")
    return path


def read_files(
    paths: list[Path], each: Callable[[str], str] | None = None
) -> tuple[str, list[str]]:
    """The files' UTF-8 text joined by blank lines (undecodable bytes replaced), and their
    names; with `each`, every file's text passes through it before the join."""
    texts = [p.read_bytes().decode("utf-8", errors="replace").strip("\n") for p in paths]
    if each is not None:
        texts = [each(text) for text in texts]
    return "\n\n".join(texts) + "\n", [str(p) for p in paths]


def read_maybe_gzip(path: Path) -> str:
    """The UTF-8 text of a file, gunzipped first if its name ends in `.gz` (bad bytes
    replaced)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def spread(names: list[str]) -> list[str]:
    """`names` in a fixed order that looks random: sorted by the SHA-256 of each name.

    Corpora are split into contiguous train / val / test blocks; joining a source tree's files
    in path order would make the test block one corner of the tree (one directory's files, often
    near-copies of one another). In this order every block samples the whole tree, and the same
    files always give the same text.
    """
    return sorted(names, key=lambda name: hashlib.sha256(name.encode()).hexdigest())


# A file most of whose lines (whitespace aside) an earlier file already has is a near-copy
# (glibc's wfileops.c of fileops.c, a man page copied under another name, ...): left out.
_NEAR_COPY = 0.5


def join_without_near_copies(files: dict[str, str]) -> tuple[str, list[str]]:
    """`files` (name → text, without the blank lines around it) joined by blank lines in
    `spread` order, each file left out that is a near-copy of one before it (most of its
    lines, whitespace aside, already seen)."""
    seen: set[str] = set()
    names: list[str] = []
    texts: list[str] = []
    for name in spread(list(files)):
        text = files[name]
        lines = {key for line in text.splitlines() if len(key := "".join(line.split())) > 3}
        if lines and len(lines & seen) > _NEAR_COPY * len(lines):
            continue
        seen |= lines
        names.append(name)
        texts.append(text)
    return "\n\n".join(texts) + "\n", names


_BLANK_LINES = re.compile(r"(\n(?:[^\S\n]*\n)+)")  # what separates paragraphs (kept by split)


def without_paragraphs(text: str, unwanted: Callable[[str], bool]) -> tuple[str, int]:
    """`text` without the paragraphs (blocks between blank lines) that are `unwanted`, and how
    many were dropped; the spacing between the paragraphs kept stays as it was."""
    pieces = _BLANK_LINES.split(text)  # paragraph, separator, paragraph, …
    kept: list[str] = []
    dropped = 0
    for index in range(0, len(pieces), 2):
        paragraph = pieces[index]
        if unwanted(paragraph):
            dropped += 1
            continue
        if kept:
            kept.append(pieces[index - 1])  # the separator before it
        kept.append(paragraph)
    return "".join(kept), dropped
