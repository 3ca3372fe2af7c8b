"""The symbol table shared by every model of an ensemble.

The default is the paper's: the 128 ASCII code points, symbol id = code point. Models trained on
different corpora can be mixed only because they share this table, so it travels inside every
checkpoint and loading checks it.

Text from the wild is not ASCII. `clean` maps it onto the table, in this order:

1. line ends: ``\\r\\n`` and lone ``\\r`` become ``\\n``;
2. a fixed table for typography: curly quotes become ``'`` and ``"``, dashes become ``-``
   (an em dash ``--``), the ellipsis ``...``, non-breaking and other Unicode spaces a space,
   and a few letters that do not decompose (``ß`` → ``ss``, ``æ`` → ``ae``, ``ø`` → ``o``, …);
3. anything else is decomposed (NFKD) and its combining marks are removed, so accents fold
   (``é`` → ``e``) and compatibility forms unfold (``ﬁ`` → ``fi``, full-width ``Ａ`` → ``A``);
4. what is still not in the table is dropped, as are control characters other than tab and
   newline (form feeds, backspace overstrikes, NUL) — and counted, so a recipe can report it.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from conductor.errors import VocabError

__all__ = ["ASCII128", "CleanReport", "Vocab", "clean"]

# Characters with no useful NFKD decomposition, or whose decomposition is not what a reader
# expects (NFKD turns "…" into "..." already, but not "—" or "’").
_TYPOGRAPHY: dict[str, str] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2039": "'",
    "\u203a": "'",
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2212": "-",
    "\u2014": "--",
    "\u2015": "--",
    "\u2026": "...",
    "\u2022": "*",
    "\u00b7": ".",
    "\u00d7": "x",
    "\u00f7": "/",
    "\u00df": "ss",
    "\u1e9e": "SS",
    "\u00e6": "ae",
    "\u00c6": "AE",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u00f8": "o",
    "\u00d8": "O",
    "\u0142": "l",
    "\u0141": "L",
    "\u0111": "d",
    "\u0110": "D",
    "\u00f0": "d",
    "\u00d0": "D",
    "\u00fe": "th",
    "\u00de": "Th",
    "\u0131": "i",
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u3000": " ",
    "\ufeff": "",
    "\u200b": "",
    "\u00ad": "",
}
_KEPT_CONTROLS = frozenset("\t\n")


@dataclass
class CleanReport:
    """What `clean` changed: characters mapped to others, and characters dropped."""

    mapped: int = 0
    dropped: int = 0
    dropped_examples: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        common = ", ".join(f"{ch!r}x{n}" for ch, n in self.dropped_examples.most_common(5))
        dropped = f"dropped {self.dropped}" + (f" ({common})" if common else "")
        return f"mapped {self.mapped} non-ASCII characters, {dropped}"

    def to_json(self) -> dict[str, Any]:
        return {
            "mapped": self.mapped,
            "dropped": self.dropped,
            "dropped_examples": dict(self.dropped_examples.most_common(20)),
        }


class Vocab:
    """An ordered symbol table: symbol id ``i`` is ``symbols[i]``."""

    def __init__(self, symbols: str, name: str) -> None:
        if len(set(symbols)) != len(symbols):
            raise VocabError(
                f"vocabulary {name!r} lists a symbol twice; each symbol must be unique"
            )
        if not 0 < len(symbols) <= 256:
            raise VocabError(f"vocabulary {name!r} has {len(symbols)} symbols; use 1 to 256")
        self.symbols = symbols
        self.name = name
        self._index = {symbol: i for i, symbol in enumerate(symbols)}
        self._is_identity_ascii = symbols == "".join(chr(i) for i in range(len(symbols)))

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.symbols == self.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def __repr__(self) -> str:
        return f"Vocab({self.name!r}, {len(self)} symbols)"

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def encode(self, text: str) -> npt.NDArray[np.uint8]:
        """Symbol ids of `text`; raises `VocabError` on a symbol outside the table."""
        if self._is_identity_ascii and text.isascii():
            ids = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
            if ids.size and int(ids.max()) >= len(self):
                raise self._unknown_symbol(text)
            return ids.copy()
        try:
            return np.fromiter((self._index[ch] for ch in text), dtype=np.uint8, count=len(text))
        except KeyError:
            raise self._unknown_symbol(text) from None

    def decode(self, ids: Iterable[int]) -> str:
        symbols = self.symbols
        try:
            return "".join(symbols[int(i)] for i in ids)
        except IndexError:
            raise VocabError(
                f"symbol id out of range for vocabulary {self.name!r} ({len(self)} symbols)"
            ) from None

    def _unknown_symbol(self, text: str) -> VocabError:
        bad = next(ch for ch in text if ch not in self._index)
        return VocabError(
            f"symbol {bad!r} is not in vocabulary {self.name!r}; pass the text through "
            "conductor.vocab.clean first"
        )

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "symbols": self.symbols}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Vocab:
        try:
            symbols, name = data["symbols"], data["name"]
        except (KeyError, TypeError):
            raise VocabError("vocabulary record lacks 'name' or 'symbols'") from None
        if not isinstance(symbols, str) or not isinstance(name, str):
            raise VocabError("vocabulary record's 'name' and 'symbols' must be strings")
        return cls(symbols, name)


ASCII128 = Vocab("".join(chr(i) for i in range(128)), name="ascii128")


def _map_char(ch: str, vocab: Vocab) -> str | None:
    """The replacement for one character outside `vocab`, or None to drop it."""
    if ch in _TYPOGRAPHY:
        out = _TYPOGRAPHY[ch]
    else:
        decomposed = unicodedata.normalize("NFKD", ch)
        out = "".join(c for c in decomposed if not unicodedata.combining(c))
        if out == ch:
            return None  # no decomposition: nothing to fold it to
    return out if all(c in vocab and (c >= " " or c in _KEPT_CONTROLS) for c in out) else None


def clean(text: str, vocab: Vocab = ASCII128, report: CleanReport | None = None) -> str:
    """Map `text` onto `vocab` as the module docstring describes; count changes in `report`."""
    report = report if report is not None else CleanReport()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Fast path for the common case: in ASCII only control characters can need dropping.
    if (
        text.isascii()
        and vocab is ASCII128
        and not any(ord(c) < 32 and c not in _KEPT_CONTROLS for c in set(text))
    ):
        return text
    out: list[str] = []
    cache: dict[str, str | None] = {}
    for ch in text:
        if ch in vocab and (ch >= " " or ch in _KEPT_CONTROLS or ch not in ASCII128):
            out.append(ch)
            continue
        if ch not in cache:
            cache[ch] = None if ch in ASCII128 else _map_char(ch, vocab)
        replacement = cache[ch]
        if replacement is None:
            report.dropped += 1
            report.dropped_examples[ch] += 1
        else:
            report.mapped += 1
            out.append(replacement)
    return "".join(out)
