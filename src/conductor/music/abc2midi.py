"""An independent reading of a tune: abcmidi's `abc2midi`, the long-standing reference ABC → MIDI
converter (Debian package `abcmidi`), not music21.

`abc2midi_check` runs it in checking mode (`-c`, nothing written) on one tune and sorts what it
says into errors ("Error in line-char 5-11 : Guitar chord name not properly closed") and
warnings, counting apart the bar-length warnings ("Track 0 Bar 3 has 5 time units while the time
signature has 6"). The same complaint at the same place is counted once (abc2midi repeats some
once per voice pass). A benchmark judges generated tunes by it beside real ones.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conductor.errors import DependencyError
from conductor.music.header import MusicError

__all__ = ["Abc2MidiCheck", "abc2midi_check"]

_INSTALL = "apt-get install abcmidi"
_LINE = re.compile(r"^(Error|Warning) in line-char (\d+)-(\d+) : (.*?)\s*$")
_BAR_LENGTH = re.compile(r"Bar \d+ has [\d/]+ time units while the time signature has [\d/]+")
TIMEOUT = 20.0  # seconds: abc2midi reads a tune in milliseconds; a hang is its failure


@dataclass(frozen=True)
class Abc2MidiCheck:
    """What abc2midi said about one tune."""

    errors: tuple[str, ...]  # each "line:column message", in the order said
    warnings: tuple[str, ...]  # likewise, bar-length warnings included
    bar_warnings: int  # of the warnings, those that a bar's length does not fit the meter

    @property
    def ok(self) -> bool:
        return not self.errors


def abc2midi_check(tune: str, program: str | None = None) -> Abc2MidiCheck:
    """abc2midi's errors and warnings on one ABC tune (its text, header included)."""
    found = program or shutil.which("abc2midi")
    if found is None:
        raise DependencyError(f"the independent ABC check needs abc2midi; run: {_INSTALL}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tune.abc"
        path.write_text(
            tune if tune.endswith("\n") else tune + "\n", encoding="ascii", errors="replace"
        )
        try:
            result = subprocess.run(
                [found, str(path), "-c"],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=TIMEOUT,
                check=False,
                cwd=tmp,  # abc2midi leaves files (barloc.txt) where it runs
            )
        except subprocess.TimeoutExpired:
            return Abc2MidiCheck((f"abc2midi took over {TIMEOUT:g} s",), (), 0)
        except OSError as error:
            raise MusicError(f"cannot run {found}: {error.strerror}") from None
    errors: list[str] = []
    warnings: list[str] = []
    seen: set[tuple[str, str, str, str]] = set()
    for line in (result.stdout + result.stderr).splitlines():
        match = _LINE.match(line)
        if not match or match.groups() in seen:
            continue
        seen.add(match.groups())  # type: ignore[arg-type]
        kind, row, column, message = match.groups()
        (errors if kind == "Error" else warnings).append(f"{row}:{column} {message}")
    if result.returncode not in (0, 1) and not errors:  # a crash says nothing in our format
        errors.append(f"abc2midi exited with {result.returncode}")
    bars = sum(bool(_BAR_LENGTH.search(w)) for w in warnings)
    return Abc2MidiCheck(tuple(errors), tuple(warnings), bars)
