"""ABC tunes as music: headers, bars split from a symbol stream, timed notes, validity, MIDI, WAV.

The engine writes ABC one character at a time; this module turns that text into music:

- `TuneHeader`: the fields a user chooses to start a tune (meter `M:`, unit `L:`, key `K:`,
  optional title), checked, and written the way the corpora write them;
- `BarSplitter`: fed symbols as they are generated, it returns each bar as soon as its bar line
  is written, follows inline field changes (`K:G` on its own line, `[K:G]`) and notices the end
  of a tune (a blank line, as between the corpora's tunes);
- `bar_notes`: one bar parsed by music21 with the tune's header as context → `Note`s with onsets
  and durations in seconds at a tempo. A bar music21 cannot read is reported, never raised;
- `check_tune`: does music21 parse a whole tune, and how many bars have the meter's length;
- `write_midi` / `render_wav`: a tune to a Standard MIDI File (music21) and to audio (FluidSynth
  with a General MIDI soundfont; a missing program is a one-line `DependencyError`).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from conductor.errors import ConductorError, DependencyError

__all__ = [
    "DEFAULT_SOUNDFONT",
    "PEAK_DBFS",
    "Bar",
    "BarSplitter",
    "MusicError",
    "Note",
    "TuneCheck",
    "TuneHeader",
    "bar_notes",
    "check_tune",
    "fits_meter",
    "opens_section",
    "playable",
    "render_wav",
    "tune_body",
    "write_midi",
]

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_FLUID_INSTALL = "apt-get install fluidsynth fluid-soundfont-gm"

_METER = re.compile(r"^(?:\d+(?:\+\d+)*/\d+|C\|?|none)$")
_UNIT = re.compile(r"^1/(?:1|2|4|8|16|32|64)$")
_MODES = "maj|major|ion|min|minor|m|aeo|mix|dor|phr|lyd|loc"
_KEY = re.compile(rf"^(?:[A-Ga-g][#b]?(?:{_MODES})?|none|HP|Hp)$", re.IGNORECASE)
_FIELD_LINE = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")
_INLINE_FIELD = re.compile(r"\[([KLMQ]):([^\]]*)\]")
_INLINE_FIELD_END = re.compile(_INLINE_FIELD.pattern + "$")
# Bar-line decorations that belong to no bar: repeats, double and final bars, volta numbers.
_BARLINE_BITS = re.compile(r"\[\||\|\]|:*\|+\d*:*|::|\[\d+(?:[,-]\d+)*")
_VOLTA_START = re.compile(r"^\s*\d+(?:[,-]\d+)*(?=\s|[A-Ga-gz^_=(\[])")
_NOTE_LETTER = re.compile(r"[A-Ga-gz]")


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
            match = _FIELD_LINE.match(line)
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


@dataclass(frozen=True)
class Note:
    """One sounding note: MIDI pitch and velocity, onset and duration in seconds from bar start."""

    pitch: int
    velocity: int
    onset: float
    duration: float


@dataclass(frozen=True)
class Bar:
    """One bar as written and as music: its notes at the tempo, or why it could not be read."""

    index: int  # 0-based, within its tune
    abc: str  # the text as generated, bar line included
    header: TuneHeader  # the context it was read in
    notes: tuple[Note, ...] = ()
    quarters: float = 0.0  # its length in quarter notes
    seconds: float = 0.0  # its length at the tempo it was timed for
    error: str | None = None  # None when music21 read it

    @property
    def ok(self) -> bool:
        return self.error is None


LOG = logging.getLogger("music21")


def _to_log(self: Any, msg: Any, header: str | None = None) -> None:
    """music21's `Environment.warn`, to the `music21` logger instead of straight to stderr."""
    LOG.debug("%s", " ".join(str(part) for part in (msg if isinstance(msg, list) else [msg])))


def _music21() -> Any:
    """music21, with its own warnings kept off the terminal: some of its complaints (a note it
    cannot read: "assuming C") go past `warnings`, straight to stderr, and a generated tune is
    full of them. They go to the `music21` logger (debug) instead."""
    try:
        import music21
    except ImportError as error:  # pragma: no cover - music21 is a dependency
        raise DependencyError("music needs music21; run: pip install music21") from error
    music21.environment.Environment.warn = _to_log  # type: ignore[method-assign]
    return music21


def _parse_abc(text: str) -> Any:
    """music21's reading of an ABC text (a Score), or a `MusicError` with its complaint."""
    music21 = _music21()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # music21 warns on every odd token
            return music21.converter.parse(text, format="abc", forceSource=True)
    except Exception as error:  # music21 raises many kinds on bad input
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MusicError(f"music21 cannot read this ABC: {first[:200]}") from error


def playable(bar_text: str) -> str:
    """A bar's text without the bar-line decorations around it (`|:`, `:|`, `[1`, `||` …)."""
    text = bar_text.replace("\\\n", " ").replace("\n", " ")  # line continuations, line breaks
    text = _BARLINE_BITS.sub(" ", _INLINE_FIELD.sub(" ", text))
    return _VOLTA_START.sub("", text).strip(" :")  # `1` of a `|1` volta split from its bar line


def _has_notes(bar_text: str) -> bool:
    return bool(_NOTE_LETTER.search(playable(bar_text)))


def bar_notes(bar_text: str, header: TuneHeader, tempo: float, index: int = 0) -> Bar:
    """Read one bar in its tune's context into notes timed at `tempo` quarter notes a minute.

    A downbeat is played a little louder. A bar music21 cannot read, or with no notes, comes back
    with `error` set (playback skips it and counts it); this function does not raise for it.
    """
    if not (tempo > 0 and tempo < 10_000):
        raise MusicError(f"tempo {tempo} is not a speed; give quarter notes per minute, e.g. 120")
    body = playable(bar_text)
    if not _NOTE_LETTER.search(body):  # as `_has_notes`, without reading the bar twice
        return Bar(index, bar_text, header, error="no notes in this bar")
    try:
        score = _parse_abc(header.text() + body + "\n")
    except MusicError as error:
        return Bar(index, bar_text, header, error=str(error))
    seconds_per_quarter = 60.0 / tempo
    notes: list[Note] = []
    try:
        flat = score.flatten()
        length = float(flat.highestTime)
        for element in flat.notes:
            onset = float(element.offset)
            duration = float(element.quarterLength)
            if duration <= 0:  # grace notes: music21 gives them no time; so do we
                continue
            velocity = 96 if onset == 0 else 80
            for pitch in element.pitches:
                notes.append(
                    Note(
                        int(pitch.midi),
                        velocity,
                        onset * seconds_per_quarter,
                        duration * seconds_per_quarter,
                    )
                )
    except Exception as error:  # a reading music21 produced but cannot walk
        return Bar(index, bar_text, header, error=f"music21 cannot time this bar: {error}")
    if length <= 0:
        return Bar(index, bar_text, header, error="this bar takes no time")
    return Bar(
        index,
        bar_text,
        header,
        tuple(notes),
        quarters=length,
        seconds=length * seconds_per_quarter,
    )


_EMPTY_BAR = re.compile(r"[|:]*[ \t]+\|")  # `| |`: a bar with nothing in it (unlike `||`)
_CLOSES_SECTION = re.compile(r"(?::\||::|\|\]|\|\|)\s*$")


def opens_section(bar_text: str, previous: str | None) -> bool:
    """Is this bar the first of its tune or section (where a pickup may be short)?"""
    if previous is None or _CLOSES_SECTION.search(previous):
        return True
    # `||`, `:|`, `|:` and `|]` written together; `|` at a line's end then `|` starting the next
    # line is no double bar (the bar's text then starts with the line break).
    return bar_text.startswith(("|", ":", "[|"))


def fits_meter(bar: Bar, opens: bool) -> bool:
    """Does a read bar last one full bar of its meter? A pickup (`opens`) or a section's last bar
    (closed by `:|`) may be shorter, never longer; free meter fits anything that was read."""
    if not bar.ok:
        return False
    full = bar.header.bar_quarters
    if full is None:
        return True
    length = Fraction(bar.quarters).limit_denominator(96)
    if length == full:
        return True
    return length < full and (opens or bool(_CLOSES_SECTION.search(bar.abc)))


@dataclass
class BarSplitter:
    """Splits a stream of ABC symbols into bars as they are written.

    `feed(text)` returns the bars completed by `text` (each as its text, exactly as written, and
    the header context it is read in). A bar ends at a bar line or, as music21 reads ABC, at the
    end of its line (unless the line ends with the continuation `\\`). Field lines in the body
    (`K:G`, `M:3/4`) and inline fields (`[K:G]`) change the context of the bars after them. A
    blank line ends the tune (`ended` turns true); a bar in progress then is returned by `flush`.
    """

    header: TuneHeader = field(default_factory=TuneHeader)
    ended: bool = False
    bars: int = 0  # bars returned so far
    _bar: list[str] = field(default_factory=list)
    _line: list[str] = field(default_factory=list)  # the current line while it may be a field
    _line_is_field: bool | None = None  # unknown until the line's second character
    _last: str = "\n"

    def feed(self, text: str) -> list[tuple[str, TuneHeader]]:
        done: list[tuple[str, TuneHeader]] = []
        for char in text:
            if self.ended:
                break
            done.extend(self._char(char))
        return done

    def flush(self) -> list[tuple[str, TuneHeader]]:
        """The bar in progress, if it has notes (a tune's last bar may lack its bar line)."""
        text = "".join(self._bar)
        self._bar.clear()
        if _has_notes(text):
            self.bars += 1
            return [(text, self.header)]
        return []

    def _char(self, char: str) -> list[tuple[str, TuneHeader]]:
        previous, self._last = self._last, char
        if char == "\n":
            if previous == "\n":  # a blank line: the tune is over
                out = self.flush()
                self.ended = True
                return out
            done: list[tuple[str, TuneHeader]] = []
            if self._line_is_field:
                match = _FIELD_LINE.match("".join(self._line))
                if match:
                    if match.group(1) == "X":  # a new tune began without a blank line
                        self.ended = True
                        return []
                    self.header = self.header.with_field(match.group(1), match.group(2))
                    if match.group(1) in "KLMQ":  # shown where it happened, as an inline field
                        self._bar.append(f"[{match.group(1)}:{match.group(2)}]")
            elif self._line:  # a one-character line: music
                done = self._music("".join(self._line))
            self._line.clear()
            self._line_is_field = None
            if not self._bar:  # the next bar starts a line: keep that (see `opens_section`)
                self._bar.append("\n")
                return done
            if self._bar[-1] == "\n":
                return done  # one line break, never a blank line inside a bar
            body = "".join(self._bar)
            self._bar.append("\n")
            # As music21 reads ABC, a line's end closes a bar (unless the line ends with `\`).
            if _has_notes(body) and not body.rstrip().endswith("\\"):
                done.append((body + "\n", self.header))
                self.bars += 1
                self._bar.clear()
            return done
        if self._line_is_field is None:
            self._line.append(char)
            if len(self._line) < 2:
                return []
            self._line_is_field = self._line[0].isalpha() and self._line[1] == ":"
            if self._line_is_field:
                return []
            held = "".join(self._line)
            self._line.clear()
            return self._music(held)
        if self._line_is_field:
            self._line.append(char)
            return []
        return self._music(char)

    def _music(self, text: str) -> list[tuple[str, TuneHeader]]:
        done: list[tuple[str, TuneHeader]] = []
        for char in text:
            self._bar.append(char)
            if char == "]" and (inline := _INLINE_FIELD_END.search("".join(self._bar))):
                self.header = self.header.with_field(inline.group(1), inline.group(2))
                continue
            if char == "|":
                body = "".join(self._bar)
                if _has_notes(body) or _EMPTY_BAR.fullmatch(body):
                    done.append((body, self.header))
                    self.bars += 1
                    self._bar.clear()
        return done


def tune_body(tune: str) -> str:
    """An ABC tune's text after its header (after the `K:` line)."""
    lines = tune.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.startswith("K:"):
            return "".join(lines[number + 1 :])
    return tune


@dataclass(frozen=True)
class TuneCheck:
    """How well music21 reads a tune: parsed at all, and bars of the meter's length."""

    parsed: bool
    bars: int = 0
    full_bars: int = 0  # bars of the meter's length, or pickups and section ends no longer
    error: str | None = None

    @property
    def bar_share(self) -> float:
        return self.full_bars / self.bars if self.bars else 0.0


def check_tune(tune: str) -> TuneCheck:
    """Parse a whole ABC tune with music21 and measure its bars against the meter.

    A bar counts as right when it lasts exactly one bar of the meter, or when it is a pickup (the
    first bar, or the first after a repeat or double bar) or a section's last bar (before a
    repeat, double or final bar, or the tune's last bar) and is shorter, not longer. A tune in
    free meter (`M:none`) has no bar length to check: all its bars count as right.
    """
    try:
        score = _parse_abc(tune)
    except MusicError as error:
        return TuneCheck(parsed=False, error=str(error))
    measures = list(score.recurse().getElementsByClass("Measure"))
    if not measures:
        flat = score.flatten()
        if not flat.notes:
            return TuneCheck(parsed=False, error="music21 found no notes")
        return TuneCheck(parsed=True, bars=1, full_bars=1)
    try:
        full = _full_bars(tune, measures)
    except Exception as error:  # a reading music21 produced but cannot measure
        return TuneCheck(parsed=False, error=f"music21 cannot measure this tune: {error}")
    return TuneCheck(parsed=True, bars=len(measures), full_bars=full)


def _full_bars(tune: str, measures: list[Any]) -> int:
    try:
        bar = TuneHeader.parse(tune).bar_quarters
    except MusicError:  # a header we cannot read: no bar length to check
        bar = None
    full = 0
    for number, measure in enumerate(measures):
        length = Fraction(measure.duration.quarterLength).limit_denominator(96)
        if bar is None or length == bar:
            full += 1
            continue
        previous = measures[number - 1] if number else None
        opens = number == 0 or measure.leftBarline is not None
        opens = opens or (previous is not None and previous.rightBarline is not None)
        closes = number == len(measures) - 1 or measure.rightBarline is not None
        if (opens or closes) and 0 < length < bar:
            full += 1
    return full


def write_midi(tune: str, path: Path, tempo: float = 120.0) -> Path:
    """An ABC tune as a Standard MIDI File at `tempo` quarter notes a minute (written whole)."""
    music21 = _music21()
    score = _parse_abc(tune)
    for old in score.recurse().getElementsByClass("MetronomeMark"):
        old.activeSite.remove(old)
    first = score.parts[0] if score.parts else score
    first.insert(0, music21.tempo.MetronomeMark(number=tempo))
    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.exists() else None) as tmp:
        scratch = Path(tmp) / "tune.mid"
        try:
            score.write("midi", fp=str(scratch))
        except Exception as error:
            raise MusicError(f"music21 cannot write this tune as MIDI: {error}") from error
        scratch.replace(path)
    return path


def render_wav(
    midi: Path, wav: Path, soundfont: Path = DEFAULT_SOUNDFONT, rate: int = 44100
) -> Path:
    """Render a MIDI file to a 16-bit WAV with FluidSynth (written whole, or not at all)."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise DependencyError(f"WAV output needs FluidSynth; run: {_FLUID_INSTALL}")
    if not Path(soundfont).exists():
        raise DependencyError(f"no soundfont at {soundfont}; run: {_FLUID_INSTALL}")
    wav = Path(wav)
    scratch = wav.with_name(f".{wav.name}.tmp")
    command = [program, "-ni", "-q", "-F", str(scratch), "-T", "wav", "-r", str(rate)]
    result = subprocess.run(
        [*command, str(soundfont), str(midi)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not scratch.exists() or scratch.stat().st_size <= 44:
        scratch.unlink(missing_ok=True)
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise MusicError(f"FluidSynth could not render {midi}: {reason[-1] if reason else '?'}")
    try:
        _normalise(scratch, PEAK_DBFS)
        scratch.replace(wav)
    finally:
        scratch.unlink(missing_ok=True)
    return wav


PEAK_DBFS = -1.0  # rendered audio is scaled so its loudest sample sits here


def _normalise(path: Path, peak_dbfs: float) -> None:
    """Scale a 16-bit WAV in place so its peak is `peak_dbfs` (FluidSynth renders one piano
    at about -25 dBFS: far quieter than anything else a listener plays)."""
    import wave

    with wave.open(str(path), "rb") as source:
        params = source.getparams()
        frames = source.readframes(params.nframes)
    if params.sampwidth != 2 or not frames:
        return
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    peak = float(np.abs(samples).max())
    if peak == 0:
        return
    gain = (32767 * 10 ** (peak_dbfs / 20)) / peak
    scaled = np.clip(np.round(samples * gain), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as target:
        target.setparams(params)
        target.writeframes(scaled.tobytes())
