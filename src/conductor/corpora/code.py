"""Code and markup styles: Python's standard library, glibc's C sources, a LaTeX book."""

from __future__ import annotations

import gzip
import sysconfig
import tarfile
from pathlib import Path

from conductor.corpora._recipe import Recipe, read_files, require_path
from conductor.errors import CorpusError

__all__ = ["CODE_RECIPES"]

_GLIBC_INSTALL = "apt-get install glibc-source"
_LATEX_INSTALL = "apt-get install c++-annotations-latex"
# Core C library directories: plain portable C, little assembly or generated code.
_GLIBC_DIRS = ("string", "stdlib", "stdio-common", "libio", "malloc")


# Not the library's own code: test suites (generated fixtures, huge literal tables), the IDLE
# editor's tests, installed third-party packages, and the config/build helpers.
_PYTHON_SKIP = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def _python_stdlib(root: Path) -> tuple[str, list[str]]:
    files = sorted(
        p
        for p in root.rglob("*.py")
        if not _PYTHON_SKIP & set(p.relative_to(root).parts[:-1])
        and not p.relative_to(root).parts[0].startswith("config-")
    )
    if not files:
        raise CorpusError(f"{root} holds no *.py files; give Python's stdlib directory")
    return read_files(files)


def _glibc(source: Path) -> tuple[str, list[str]]:
    if source.is_dir():  # an unpacked tree (or a test fixture)
        files = sorted(
            p for d in _GLIBC_DIRS for p in (source / d).rglob("*") if p.suffix in (".c", ".h")
        )
        return read_files(files)
    texts: list[str] = []
    names: list[str] = []
    with tarfile.open(source, "r:*") as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            if (
                member.isfile()
                and len(parts) > 2
                and parts[1] in _GLIBC_DIRS
                and member.name.endswith((".c", ".h"))
            ):
                handle = archive.extractfile(member)
                if handle is not None:
                    texts.append(handle.read().decode("utf-8", errors="replace").strip("\n"))
                    names.append(member.name)
    if not texts:
        raise CorpusError(f"{source} holds no C files under {', '.join(_GLIBC_DIRS)}")
    return "\n\n".join(texts) + "\n", names


def _glibc_tarball() -> Path:
    found = sorted(Path("/usr/src/glibc").glob("glibc-*.tar.xz"))
    if not found:
        return require_path(Path("/usr/src/glibc/glibc-VERSION.tar.xz"), _GLIBC_INSTALL)
    return found[-1]


def _latex(source: Path) -> tuple[str, list[str]]:
    raw = gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
    return raw.decode("utf-8", errors="replace"), [str(source)]


CODE_RECIPES = (
    Recipe(
        name="python",
        description="Python: the interpreter's own standard library (all packages, no tests)",
        install="nothing: it is the running Python's stdlib",
        licence="PSF License",
        locate=lambda: Path(sysconfig.get_paths()["stdlib"]),
        extract=_python_stdlib,
    ),
    Recipe(
        name="c",
        description="C: GNU C library sources (string, stdlib, stdio-common, libio, malloc)",
        install=_GLIBC_INSTALL,
        licence="LGPL-2.1-or-later (GNU C Library)",
        locate=_glibc_tarball,
        extract=_glibc,
    ),
    Recipe(
        name="latex",
        description="LaTeX: the C++ Annotations book (Frank B. Brokken), LaTeX source",
        install=_LATEX_INSTALL,
        licence="GPL-2+ (c++-annotations, see its copyright file)",
        locate=lambda: require_path(
            Path("/usr/share/doc/c++-annotations/cplusplus.latex.gz"), _LATEX_INSTALL
        ),
        extract=_latex,
    ),
)
