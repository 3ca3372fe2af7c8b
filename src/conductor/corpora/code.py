"""Code and markup styles: Python's standard library, glibc's C sources, a LaTeX book, Perl's
standard modules, npm's JavaScript."""

from __future__ import annotations

import re
import shutil
import sysconfig
import tarfile
from pathlib import Path

from conductor.corpora._recipe import (
    Recipe,
    join_without_near_copies,
    read_files,
    read_maybe_gzip,
    require_path,
    spread,
)
from conductor.errors import CorpusError, DependencyError

__all__ = ["CODE_RECIPES"]

_GLIBC_INSTALL = "apt-get install glibc-source"
_LATEX_INSTALL = "apt-get install c++-annotations-latex"
# The C library's portable directories: plain C, little assembly or generated code. Forty of
# them (7.9 MB after cleaning), so the test split is C the model has not seen in another form.
_GLIBC_DIRS = (
    "string", "stdlib", "stdio-common", "libio", "malloc", "time", "posix", "misc", "locale",
    "resolv", "nss", "inet", "argp", "intl", "dirent", "io", "signal", "elf", "iconv", "wcsmbs",
    "sunrpc", "nscd", "login", "pwd", "grp", "termios", "catgets", "gmon", "assert", "ctype",
    "dlfcn", "nptl", "rt", "csu", "setjmp", "shadow", "debug", "timezone", "crypt", "socket",
)  # fmt: skip


# Not the library's own code: test suites (generated fixtures, huge literal tables), the IDLE
# editor's tests, installed third-party packages, and the config/build helpers.
_PYTHON_SKIP = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
# Files that say at the top that a program wrote them (the charmap codecs, pydoc's topics,
# token.py, ...): tables, not code a person wrote, and near-copies of one another.
_GENERATED = re.compile(r"generated|do not edit", re.IGNORECASE)
# glibc's test programs: those its Makefiles list (tests, xtests, test-srcs, ...), and by name
# (tst-*, test-*, tester.c, bug-*, xbug.c, ...; not malloc-debug.c) what those lists build in.
_GLIBC_TEST = re.compile(r"tst|test|(?<!de)bug")
_MAKE_TESTS = re.compile(r"^(x?tests[-\w.]*|test-srcs)\s*[:+]?=(.*)$")
# The LGPL notice that opens every glibc file: the same ~700 characters some 500 times over.
# The file's one-line description before it is kept.
_LICENCE = re.compile(r"\A\s*/\*(.*?)\n?[ \t]*Copyright \(C\).*?\*/\n*", re.DOTALL)


def _is_generated(path: Path) -> bool:
    with path.open("rb") as handle:  # the top of the file is enough
        return _GENERATED.search(handle.read(400).decode("utf-8", errors="replace")) is not None


def _python_file(inside: Path) -> bool:
    """`inside` (relative to the stdlib) is the library's own code, not tests or build helpers."""
    return not _PYTHON_SKIP & set(inside.parts[:-1]) and not inside.parts[0].startswith("config-")


def _python_stdlib(root: Path) -> tuple[str, list[str]]:
    found = {
        p.relative_to(root).as_posix(): p
        for p in root.rglob("*.py")
        if _python_file(p.relative_to(root)) and not _is_generated(p)
    }
    if not found:
        raise CorpusError(f"{root} holds no *.py files; give Python's stdlib directory")
    return read_files([found[name] for name in spread(list(found))])


def _make_tests(makefile: str) -> set[str]:
    """The program names a glibc Makefile lists in its test variables."""
    names: set[str] = set()
    for line in makefile.replace("\\\n", " ").splitlines():
        match = _MAKE_TESTS.match(line.strip())
        if match:
            names.update(word for word in match.group(2).split() if "$" not in word)
    return names


def _glibc_sources(files: dict[str, str]) -> tuple[str, list[str]]:
    """Library C code from `files` (path inside the tree → text), joined in `spread` order."""
    tests = {
        f"{directory}/{name}"
        for directory in _GLIBC_DIRS
        for name in _make_tests(files.get(f"{directory}/Makefile", ""))
    }
    wanted = [
        path
        for path in files
        if path.endswith((".c", ".h"))
        and path.removesuffix(".c") not in tests
        and _GLIBC_TEST.search(path.rsplit("/", 1)[-1]) is None
    ]
    if not wanted:
        raise CorpusError(f"no C library files under {', '.join(_GLIBC_DIRS[:5])}, ...")
    texts = {name: _without_licence(files[name].strip("\n")) for name in wanted}
    return join_without_near_copies(texts)


def _without_licence(text: str) -> str:
    match = _LICENCE.match(text)
    if match is None or "License" not in match.group(0):
        return text
    description = match.group(1).rstrip()
    return (f"/*{description}  */\n\n" if description.strip() else "") + text[match.end() :]


def _glibc_reads(inside: str) -> bool:
    """What `_glibc_sources` needs (path inside the tree): core C files and their Makefiles."""
    return inside.split("/")[0] in _GLIBC_DIRS and inside.endswith((".c", ".h", "/Makefile"))


def _glibc(source: Path) -> tuple[str, list[str]]:
    """glibc's core directories from an unpacked tree or the source tarball."""
    files: dict[str, str] = {}
    if source.is_dir():  # an unpacked tree (or a test fixture)
        for path in source.rglob("*"):
            inside = path.relative_to(source).as_posix()
            if path.is_file() and _glibc_reads(inside):
                files[inside] = path.read_bytes().decode("utf-8", errors="replace")
        return _glibc_sources(files)
    with tarfile.open(source, "r:*") as archive:
        for member in archive.getmembers():
            inside = member.name.split("/", 1)[-1]  # without the glibc-VERSION/ top directory
            if member.isfile() and _glibc_reads(inside):
                handle = archive.extractfile(member)
                if handle is not None:
                    files[inside] = handle.read().decode("utf-8", errors="replace")
    return _glibc_sources(files)


def _glibc_tarball() -> Path:
    found = sorted(Path("/usr/src/glibc").glob("glibc-*.tar.xz"))
    if not found:
        return require_path(Path("/usr/src/glibc/glibc-VERSION.tar.xz"), _GLIBC_INSTALL)
    return found[-1]


def _latex(source: Path) -> tuple[str, list[str]]:
    return read_maybe_gzip(source), [str(source)]


_PERL_INSTALL = "apt-get install perl-modules-5.36 (installed with perl)"
# POD, Perl's documentation markup, between `=head1` (or any `=word` at a line's start) and
# `=cut`; and what follows `__END__`/`__DATA__`: documentation and data, not Perl.
_POD = re.compile(r"^=[a-zA-Z].*?(?:^=cut\b.*?$|\Z)", re.MULTILINE | re.DOTALL)
_PERL_END = re.compile(r"^__(?:END|DATA)__\s*$.*", re.MULTILINE | re.DOTALL)
# Unicode's tables (`unicore/`) and the character-set maps are generated data.
_PERL_SKIP = {"unicore", "Unicode"}


def _perl_code(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", _POD.sub("", _PERL_END.sub("", text))).strip("\n")


def _perl_modules(root: Path) -> tuple[str, list[str]]:
    """Perl's standard modules (`*.pm`, `*.pl`) without their POD, generated files or
    near-copies."""
    files = {
        p.relative_to(root).as_posix(): _perl_code(p.read_text("utf-8", errors="replace"))
        for p in sorted(root.rglob("*.p[ml]"))
        if p.is_file()
        and not _PERL_SKIP & set(p.relative_to(root).parts[:-1])
        and not _is_generated(p)
    }
    if not files:
        raise CorpusError(f"{root} holds no Perl modules (*.pm); run: {_PERL_INSTALL}")
    return join_without_near_copies(files)


def _perl_root() -> Path:
    found = sorted(p for p in Path("/usr/share/perl").glob("5.*") if p.is_dir())
    return found[-1] if found else require_path(Path("/usr/share/perl/5.36"), _PERL_INSTALL)


_NPM_INSTALL = "apt-get install npm (or Node.js's own installer, which brings npm)"
# Tests, bundles (`dist/`, `*.min.js`: the same code again, squeezed), type declarations.
_JS_SKIP = {"test", "tests", "__tests__", "dist", "umd", "example", "examples", "benchmark"}
_MINIFIED = 400  # a line this long is a bundle's, not a person's


def _javascript(root: Path) -> tuple[str, list[str]]:
    """npm's JavaScript and that of the packages it bundles: no tests, bundles or minified
    files, no near-copies."""
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        inside = path.relative_to(root)
        if path.suffix not in (".js", ".cjs", ".mjs") or not path.is_file():
            continue
        if _JS_SKIP & set(inside.parts[:-1]) or path.name.endswith(".min.js"):
            continue
        text = path.read_text("utf-8", errors="replace")
        if max((len(line) for line in text.splitlines()), default=0) > _MINIFIED:
            continue
        files[inside.as_posix()] = text.strip("\n")
    if not files:
        raise CorpusError(f"{root} holds no JavaScript (*.js); run: {_NPM_INSTALL}")
    return join_without_near_copies(files)


def _npm_root() -> Path:
    """npm's own directory (`.../node_modules/npm`), from the `npm` on the PATH."""
    npm = shutil.which("npm")
    if npm is None:
        raise DependencyError(f"program 'npm' is not installed; run: {_NPM_INSTALL}")
    for parent in Path(npm).resolve().parents:
        if (parent / "package.json").is_file() and (parent / "node_modules").is_dir():
            return parent
    raise DependencyError(f"{npm} is not inside an npm package directory; run: {_NPM_INSTALL}")


CODE_RECIPES = (
    Recipe(
        name="python",
        description=(
            "Python: the interpreter's own standard library (all packages; no tests, "
            "no generated files)"
        ),
        install="nothing: it is the running Python's stdlib",
        licence="PSF License",
        locate=lambda: Path(sysconfig.get_paths()["stdlib"]),
        extract=_python_stdlib,
    ),
    Recipe(
        name="c",
        description=(
            "C: GNU C library sources (40 portable directories: string, stdlib, stdio, "
            "malloc, posix, nptl, ...; no test programs, licence notices or near-copies)"
        ),
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
    Recipe(
        name="perl",
        description=(
            "Perl: the interpreter's standard modules (*.pm, *.pl; no POD, no generated "
            "Unicode tables, no near-copies)"
        ),
        install=_PERL_INSTALL,
        licence="GPL-1+ or Artistic (Perl 5)",
        locate=_perl_root,
        extract=_perl_modules,
    ),
    Recipe(
        name="javascript",
        description=(
            "JavaScript: npm's own code and the packages it bundles (no tests, bundles, "
            "minified files or near-copies)"
        ),
        install=_NPM_INSTALL,
        licence="Artistic-2.0 (npm); its bundled packages mostly ISC and MIT (each package.json)",
        locate=_npm_root,
        extract=_javascript,
    ),
)
