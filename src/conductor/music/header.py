"""An ABC tune's header: the fields a user chooses to start a tune, checked, and written the way
the corpora write them; `MusicError` for music a user gave that is not usable."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction

from conductor.errors import ConductorError

__all__ = ["FIELD_LINE", "MusicError", "TuneHeader"]

_METER = re.compile(r"^(?:\d+(?:\+\d+)*/\d+|C\|?|none)$")
_UNIT = re.compile(r"^1/(?:1|2|4|8|16|32|64)$")
_MODES = "maj|major|ion|min|minor|m|aeo|mix|dor|phr|lyd|loc"
_KEY = re.compile(rf"^(?:[A-Ga-g][#b]?(?:{_MODES})?|none|HP|Hp)$", re.IGNORECASE)
FIELD_LINE = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")


class MusicError(ConductorError):
    """A tune header, tune or tempo the user gave is not usable music."""


@dataclass(frozen=True)
class TuneHeader:
    """What a user chooses to start a tune, as folk-rnn's page offers: meter, unit, key, title."""

    meter: str = "4/4"  # M: 6/8, 3/4, C, C| ...
    unit: str = "1/8"  # L: the length of a note written without a number
    key: str = "D"  # K: D, Gm, Ador, Bb ...
    title: str | None = None  # T:

    def __post_init__(self) -> None:
        checks = [
            (_METER, self.meter, "meter", "M:", "6/8, 3/4, 4/4, C or C|"),
            (_UNIT, self.unit, "unit length", "L:", "1/8, 1/16 or 1/4"),
            (_KEY, self.key, "key", "K:", "D, Gm, Ador or Bb"),
        ]
        for pattern, value, what, name, examples in checks:
            if not pattern.match(value.strip()):
                raise MusicError(f"{value!r} is not an ABC {what} ({name}); try e.g. {examples}")
        if self.title is not None and ("\n" in self.title or not self.title.isascii()):
            raise MusicError("a tune title is one line of ASCII text")

    def text(self, number: int = 1) -> str:
        """The header as the corpora write it: `X:`, `T:`, `M:`, `L:`, then `K:` last."""
        title = f"T:{self.title}\n" if self.title else ""
        return f"X:{number}\n{title}M:{self.meter}\nL:{self.unit}\nK:{self.key}\n"

    def with_field(self, name: str, value: str) -> TuneHeader:
        """This header after a field change met in the body (`K:G`, `M:3/4`, `L:1/16`)."""
        value = value.strip()
        try:
            if name == "M":
                return replace(self, meter=value)
            if name == "L":
                return replace(self, unit=value)
            if name == "K":
                return replace(self, key=value.split()[0] if value else "C")
        except MusicError:
            return self  # a garbled change: keep the last good context
        return self

    @property
    def bar_quarters(self) -> Fraction | None:
        """The length of a full bar in quarter notes (None for free meter)."""
        meter = self.meter.strip()
        if meter == "none":
            return None
        if meter in ("C", "C|"):
            meter = "4/4" if meter == "C" else "2/2"
        top, bottom = meter.split("/")
        return Fraction(sum(int(t) for t in top.split("+")) * 4, int(bottom))

    @classmethod
    def parse(cls, text: str) -> TuneHeader:
        """The header fields of an ABC tune (defaults where a field is missing)."""
        fields: dict[str, str] = {}
        for line in text.splitlines():
            match = FIELD_LINE.match(line)
            if not match:
                break
            name, value = match.group(1), match.group(2)
            fields.setdefault(name, value)
            if name == "K":
                break
        return cls(
            meter=fields.get("M", "4/4"),
            unit=fields.get("L", "1/8"),
            key=(fields.get("K") or "C").split()[0],
            title=fields.get("T") or None,
        )
