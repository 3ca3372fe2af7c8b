"""Manuals: the Debian Reference in English, French and German (its plain-text edition), and
the Linux man pages of system calls and library functions in their roff source (markup)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from conductor.corpora._language import is_in
from conductor.corpora._recipe import (
    Recipe,
    join_without_near_copies,
    read_maybe_gzip,
    require_path,
    without_paragraphs,
)
from conductor.errors import CorpusError

__all__ = ["MANUAL_RECIPES"]

_MANPAGES_INSTALL = "apt-get install manpages-dev"
REFERENCE_DIR = Path("/usr/share/debian-reference")
MAN_DIR = Path("/usr/share/man")
# A page of the Linux man-pages project: its title line names it (other packages' pages in
# man3, perl's or OpenSSL's, are other styles of writing).
_LINUX_PAGE = re.compile(r'^\.TH .*"Linux man-pages', re.MULTILINE)
# The comment block that opens each page: copyright holders, licence, change history.
_HEADER_COMMENTS = re.compile(r'\A(?:\.\\".*\n|\'\\".*\n)+')
# Sections 2 and 3 hold 3.8 MB of roff once copies are out (15 MB with them); at most 8 MB,
# as much as the C style reads, keeps evaluation beside the compressors quick.
_MAN_BYTES = 8_000_000


# A table's caption: "Tableau 1.16. Liste …", "Tabelle 1.16. Liste …" (a no-break space after
# the word).
_CAPTION = re.compile(r"\A\s*(?:Tableau|Tabelle)\s\d+\.\d+\.")


def _is_table(paragraph: str) -> bool:
    """Whether a paragraph of the plain-text edition is one of its tables, drawn in `+`, `-`
    and `|` (most of its lines start with a border), or a table's caption."""
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    drawn = bool(lines) and sum(line[0] in "|+" for line in lines) > 0.8 * len(lines)
    return drawn or _CAPTION.match(paragraph) is not None


def _reference(code: str) -> Callable[[Path], tuple[str, list[str]]]:
    """The Debian Reference in language `code` as its plain-text edition prints it. A
    translation's prose only: without the sections it leaves in English (the French one
    leaves many) and without its tables, which every edition shares (lists of packages with
    Debian's English descriptions, nearly half of each edition's text), so that what is
    left is the translation's own."""

    def extract(source: Path) -> tuple[str, list[str]]:
        text = read_maybe_gzip(source).strip("\n")
        if code != "en":
            text, _ = without_paragraphs(
                text, lambda paragraph: _is_table(paragraph) or is_in(paragraph, "en", code)
            )
        return text + "\n", [str(source)]

    return extract


def _man_pages(root: Path) -> tuple[str, list[str]]:
    """Sections 2 and 3 of the Linux man pages as roff, in `spread` order: no `.so` stubs (a
    page that only points at another), no other project's pages, no opening comment block,
    no near-copies (a page copied under another name)."""
    pages: dict[str, str] = {}
    for section in ("man2", "man3"):
        for path in sorted((root / section).glob("*.gz")):
            text = read_maybe_gzip(path)
            if _LINUX_PAGE.search(text) is None:  # a stub (`.so man3/x.3`) or another's page
                continue
            pages[f"{section}/{path.name}"] = _HEADER_COMMENTS.sub("", text).strip("\n")
    if not pages:
        raise CorpusError(f"no Linux man pages under {root}/man2, man3; run: {_MANPAGES_INSTALL}")
    _, kept = join_without_near_copies(pages)  # a page copied under another name: once
    names: list[str] = []
    total = 0
    for name in kept:  # whole pages, up to the cap
        if total >= _MAN_BYTES:
            break
        names.append(name)
        total += len(pages[name]) + 2
    return "\n\n".join(pages[name] for name in names) + "\n", names


def _reference_recipe(code: str, language: str) -> Recipe:
    install = f"apt-get install debian-reference-{code}"
    return Recipe(
        name=f"reference_{code}",
        description=(
            f"{language} technical prose: the Debian Reference (Osamu Aoki), its plain-text "
            + (
                "edition, tables and command examples kept"
                if code == "en"
                else "edition, its prose and command examples (no tables, no paragraphs left "
                "in English)"
            )
        ),
        install=install,
        licence="GPL-2+ (debian-reference, Osamu Aoki; /usr/share/doc/debian-reference-"
        f"{code}/copyright)",
        locate=lambda: require_path(REFERENCE_DIR / f"debian-reference.{code}.txt.gz", install),
        extract=_reference(code),
    )


MANUAL_RECIPES = (
    _reference_recipe("en", "English"),
    _reference_recipe("fr", "French"),
    _reference_recipe("de", "German"),
    Recipe(
        name="manpages",
        description=(
            "roff markup: the Linux man pages of system calls and C library functions "
            "(sections 2 and 3, their source; no stubs, no copyright comments)"
        ),
        install=_MANPAGES_INSTALL,
        licence="Linux man-pages licences (mostly Linux-man-pages-copyleft, GPL-2+, BSD; "
        "/usr/share/doc/manpages-dev/copyright)",
        locate=lambda: require_path(MAN_DIR / "man2", _MANPAGES_INSTALL).parent,
        extract=_man_pages,
    ),
)
