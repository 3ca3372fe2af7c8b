"""Folk tunes in ABC notation from music21's bundled corpus, one style per tradition.

Cleaning keeps what a tune needs to be played and drops what is about the transcription:
each tune is one `X:` block, its header `X:n`, `T:` (first title only), `M:`, `L:1/8`, `K:` — the
key last, as ABC requires — then the body. Comment lines, inline `%` comments, lyrics
(`w:`/`W:`), notes, sources and transcriber lines (`N:` `B:` `Z:` `S:` `O:` `H:` `A:` `D:` `F:`
`I:` `P:` `C:` …), rhythm names (`R:`) and tempi (`Q:`) are dropped; so is a tune with no `K:` or
no notes. Every style is then written in one notation (`conductor.music.normalise_tune`: all
lengths counted in eighths, no decorations, ties only between equal notes), so that two styles
mixed symbol by symbol count a bar the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from conductor.corpora._recipe import Recipe, package_dir
from conductor.music import MusicError, normalise_tune, tune_body

__all__ = ["ABC_RECIPES", "clean_abc", "split_tunes"]

_MUSIC21_INSTALL = "pip install music21"
_HEADER_ORDER = ("X", "T", "M", "L")
_FIELD = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")
_BODY_FIELD = re.compile(r"^[A-Za-z]:")


def split_tunes(text: str) -> list[list[str]]:
    """The lines of each `X:` block in `text` (anything before the first `X:` is dropped)."""
    tunes: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"^X:", line):
            tunes.append([])
        if tunes:
            tunes[-1].append(line)
    return tunes


def _strip_comment(line: str) -> str:
    # `\%` is an escaped percent sign in ABC text; any other `%` starts a comment.
    return re.sub(r"(?<!\\)%.*$", "", line).rstrip()


def clean_tune(lines: Sequence[str], number: int) -> str | None:
    """One tune, in the one notation; None if it has no key or no music."""
    header: dict[str, str] = {}
    key: str | None = None
    body: list[str] = []
    for raw in lines:
        line = _strip_comment(raw)
        if not line.strip():
            continue
        field = _FIELD.match(line)
        if key is None and field:  # still in the header
            name, value = field.group(1).upper(), field.group(2)
            if name == "K":
                key = value or "C"
            elif name in _HEADER_ORDER and name not in header and name != "X":
                header[name] = value
            continue
        if key is None:
            continue  # music before K: — not valid ABC, skip it
        if _BODY_FIELD.match(line) and line[0] not in "KLMQ":
            continue  # lyrics, notes, parts and other text fields inside the body
        body.append(line.strip())
    if key is None:
        return None
    out = [f"X:{number}"]
    out += [f"{name}:{header[name]}" for name in _HEADER_ORDER if name in header]
    out.append(f"K:{key}")
    out += body
    try:
        tune = normalise_tune("\n".join(out)).rstrip("\n")
    except MusicError:
        return None  # a length no ABC reader could count (`A/0`): not a tune to learn from
    return tune if re.search(r"[A-Ga-g]", tune_body(tune)) else None


def clean_abc(texts: Iterable[str]) -> str:
    """All tunes in `texts`, cleaned and renumbered from 1, separated by blank lines."""
    tunes: list[str] = []
    for text in texts:
        for lines in split_tunes(text):
            tune = clean_tune(lines, len(tunes) + 1)
            if tune is not None:
                tunes.append(tune)
    return "\n\n".join(tunes) + "\n"


def _fix_cp437(text: str) -> str:
    # Some Essen titles were converted from DOS code page 437 as if it were Latin-1, which
    # leaves C1 control characters where umlauts belong (U+0081 for "ü"): map them back.
    return re.sub("[\x80-\x9f]", lambda m: m.group().encode("latin-1").decode("cp437"), text)


def _make_extract(subdirs: tuple[str, ...]) -> Callable[[Path], tuple[str, list[str]]]:
    def extract(root: Path) -> tuple[str, list[str]]:
        files = sorted(p for d in subdirs for p in (root / d).glob("*.abc"))
        if not files and root.is_dir():
            files = sorted(root.glob("*.abc"))  # a plain directory of .abc files
        texts = [_fix_cp437(p.read_bytes().decode("utf-8", errors="replace")) for p in files]
        return clean_abc(texts), [str(p) for p in files]

    return extract


def _corpus_root() -> Path:
    return package_dir("music21", _MUSIC21_INSTALL) / "corpus"


def _abc_recipe(name: str, description: str, subdirs: tuple[str, ...]) -> Recipe:
    return Recipe(
        name=name,
        description=description,
        install=_MUSIC21_INSTALL,
        licence="music21 corpus (BSD software; encodings by permission, some non-commercial: "
        "see music21/corpus/license.txt)",
        locate=_corpus_root,
        extract=_make_extract(subdirs),
    )


ABC_RECIPES = (
    _abc_recipe(
        "abc_irish", "Irish folk tunes: O'Neill's Music of Ireland (1850)", ("oneills1850",)
    ),
    _abc_recipe(
        "abc_german",
        "German and European folk songs: the Essen folksong collection",
        ("essenFolksong",),
    ),
    _abc_recipe(
        "abc_scottish",
        "Scottish and Irish fiddle tunes: Ryan's Mammoth and Aird's Airs",
        ("ryansMammoth", "airdsAirs"),
    ),
)
