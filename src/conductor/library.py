"""Where styles are found: the shipped ones come with the package; the user's own beside them.

A style is named by its file stem (`shakespeare` → `shakespeare.safetensors`) and looked up, in
order, in `--styles-dir`, in each directory of `$CONDUCTOR_STYLES`, in `./styles`, and last in
the styles shipped inside the package (`conductor/styles/`), so a pip install from any
directory has the default ensemble, and a style the user trains under the same name wins.
A path (anything ending in `.safetensors`, or an existing file) is taken as it is.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from conductor.errors import ConductorError

__all__ = [
    "DEFAULT_STYLES",
    "MUSIC_STYLES",
    "USER_DIR",
    "Library",
    "LibraryStyle",
    "available",
    "card_line",
    "is_music",
    "require_music",
    "resolve_style",
    "resolve_styles",
    "search_path",
    "shipped_dir",
    "style_name",
]

# The shipped default ensemble, in the order the page and the pad show them.
DEFAULT_STYLES = ("shakespeare", "kjv", "python", "c", "latex", "abc_irish", "abc_german",
                  "abc_scottish", "abc_chorales")  # fmt: skip
MUSIC_STYLES = ("abc_irish", "abc_german", "abc_scottish", "abc_chorales")
# Where `conductor train` users keep their own styles (untracked in this repository).
USER_DIR = Path("styles")
ENV = "CONDUCTOR_STYLES"


def style_name(path: Path | str) -> str:
    """A checkpoint file's style name: its file name without `.safetensors`."""
    return Path(path).name.removesuffix(".safetensors")


def shipped_dir() -> Path:
    """The styles that come with the package."""
    return Path(str(files("conductor") / "styles"))


def search_path(styles_dir: Path | str | None = None) -> list[Path]:
    """The directories a style name is looked up in, first match wins."""
    dirs: list[Path] = []
    if styles_dir is not None:
        dirs.append(Path(styles_dir))
    dirs.extend(Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p)
    dirs.extend([USER_DIR, shipped_dir()])
    unique: list[Path] = []
    for directory in dirs:
        if directory not in unique:
            unique.append(directory)
    return unique


def available(styles_dir: Path | str | None = None) -> dict[str, Path]:
    """Every style name on the search path → the file it resolves to."""
    found: dict[str, Path] = {}
    for directory in search_path(styles_dir):
        if directory.is_dir():
            for path in sorted(directory.glob("*.safetensors")):
                if not path.name.endswith(".resume.safetensors"):
                    found.setdefault(path.stem, path)
    return found


@dataclass(frozen=True)
class LibraryStyle:
    name: str
    path: Path
    about: str  # the first line of its model card ("" without one)


def card_line(path: Path, limit: int = 160) -> str:
    """The first line of prose of a style's model card (`NAME.md` beside it), or ""."""
    card = Path(path).with_name(f"{style_name(path)}.md")
    try:
        lines = card.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    line = next((ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Library:
    """The styles a user has, as one object: one found by name (`library("milton")`, a
    one-line error if not), or all of them with a line from each card (`catalogue`)."""

    def __init__(self, styles_dir: Path | str | None = None) -> None:
        self.styles_dir = styles_dir

    def __call__(self, name: str) -> Path:
        return resolve_style(name, self.styles_dir)

    def catalogue(self) -> list[LibraryStyle]:
        return [
            LibraryStyle(name, path, card_line(path))
            for name, path in sorted(available(self.styles_dir).items())
        ]


def resolve_style(item: str, styles_dir: Path | str | None = None) -> Path:
    """A style name or a checkpoint path → the checkpoint file (one line if not found)."""
    direct = Path(item)
    if direct.suffix == ".safetensors" or direct.is_file():
        if not direct.is_file():
            raise ConductorError(
                f"{direct}: no such checkpoint file; check the path, or give a style name"
            )
        return direct
    for directory in search_path(styles_dir):
        candidate = directory / f"{item}.safetensors"
        if candidate.is_file():
            return candidate
    names = sorted(available(styles_dir))
    close = difflib.get_close_matches(item, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listing = ", ".join(names) if names else "none"
    raise ConductorError(
        f"style {item!r} not found; {hint}styles here: {listing} "
        f"(or give a .safetensors path, --styles-dir DIR, or train it: "
        f"conductor train {item} --out {USER_DIR})"
    )


def resolve_styles(spec: str | Sequence[str], styles_dir: Path | str | None = None) -> list[Path]:
    """Comma-separated names or paths (or a list of them) → checkpoint files."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    paths = [resolve_style(item.strip(), styles_dir) for item in items if item.strip()]
    if not paths:
        raise ConductorError("--styles needs at least one style name or checkpoint path")
    return paths


def is_music(path: Path) -> bool:
    """Whether a style writes ABC tunes: named abc_*, trained on an ABC recipe's corpus (all
    named abc_*), or carrying its tunes' form in its record."""
    from conductor.checkpoint import read_meta

    meta = read_meta(path)
    corpus = meta.get("corpus") or {}
    named = str(corpus.get("name") or "")
    return path.stem.startswith("abc") or named.startswith("abc") or "form" in meta


def require_music(paths: Sequence[Path], why: str) -> None:
    """One line naming the styles that do not write tunes, for a command that plays them."""
    prose = [p.stem for p in paths if not is_music(p)]
    if prose:
        shipped = ",".join(MUSIC_STYLES)
        raise ConductorError(
            f"{why} needs styles that write ABC tunes; {', '.join(prose)} "
            f"{'does' if len(prose) == 1 else 'do'} not (try --styles {shipped})"
        )
