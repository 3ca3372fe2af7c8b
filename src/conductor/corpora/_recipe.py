"""What a recipe is, and the helpers recipes share for finding installed files."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conductor.errors import DependencyError

__all__ = ["Recipe", "package_dir", "require_program", "spread"]


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


def read_files(paths: list[Path]) -> tuple[str, list[str]]:
    """The files' UTF-8 text joined by blank lines (undecodable bytes replaced), and their names."""
    texts = [p.read_bytes().decode("utf-8", errors="replace").strip("\n") for p in paths]
    return "\n\n".join(texts) + "\n", [str(p) for p in paths]


def spread(names: list[str]) -> list[str]:
    """`names` in a fixed order that looks random: sorted by the SHA-256 of each name.

    Corpora are split into contiguous train / val / test blocks; joining a source tree's files
    in path order would make the test block one corner of the tree (one directory's files, often
    near-copies of one another). In this order every block samples the whole tree, and the same
    files always give the same text.
    """
    return sorted(names, key=lambda name: hashlib.sha256(name.encode()).hexdigest())
