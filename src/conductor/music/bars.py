"""Bars out of ABC text: split from a symbol stream as it is written (`BarSplitter`), stripped of
the bar-line decorations that belong to no bar (`playable`), and where a section opens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from conductor.music.chords import is_chord_name
from conductor.music.header import FIELD_LINE, TuneHeader

__all__ = [
    "CLOSES_SECTION",
    "NOTE_LETTER",
    "BarSplitter",
    "has_notes",
    "opens_section",
    "plain_bar",
    "playable",
    "tune_body",
    "well_formed",
]

_INLINE_FIELD = re.compile(r"\[([KLMQ]):([^\]]*)\]")
_INLINE_FIELD_END = re.compile(_INLINE_FIELD.pattern + "$")
# Bar-line decorations that belong to no bar: repeats, double and final bars, volta numbers.
_BARLINE_BITS = re.compile(r"\[\||\|\]|:*\|+\d*:*|::|\[\d+(?:[,-]\d+)*")
_VOLTA_START = re.compile(r"^\s*\d+(?:[,-]\d+)*(?=\s|[A-Ga-gz^_=(\[])")
NOTE_LETTER = re.compile(r"[A-Ga-gz]")


def playable(bar_text: str) -> str:
    """A bar's text without the bar-line decorations around it (`|:`, `:|`, `[1`, `||` …)."""
    text = bar_text.replace("\\\n", " ").replace("\n", " ")  # line continuations, line breaks
    text = _BARLINE_BITS.sub(" ", _INLINE_FIELD.sub(" ", text))
    return _VOLTA_START.sub("", text).strip(" :")  # `1` of a `|1` volta split from its bar line


def has_notes(bar_text: str) -> bool:
    return bool(NOTE_LETTER.search(playable(bar_text)))


_OPENING_REPEAT = re.compile(r"^\|*:+")  # `|:` (or `:`, after a bar line) opening a repeat


def plain_bar(bar_text: str, may_open: bool = False) -> bool:
    """Whether a bar's bar lines are all plain `|` (or a line's end): no repeat, double or final
    bar, no first or second ending. With `may_open`, it may begin by opening a repeat (`|:`)."""
    text = _INLINE_FIELD.sub(" ", bar_text)
    opening = _OPENING_REPEAT.match(text)
    if text.startswith(("|", ":")):  # with the bar line before it: `||`, `|:`, `::`
        if not (may_open and opening):
            return False
        text = text[opening.end() :]
    text = text.lstrip("\n")  # a line that starts with a bar line: no double bar
    if may_open and (opened := _OPENING_REPEAT.match(text)):
        text = text[opened.end() :]
        if text.startswith("|"):  # `|:|`
            return False
    if text.startswith(":") or _VOLTA_START.match(text):  # `|1 abc|`: its `1` opens this bar
        return False
    return all(bit == "|" for bit in _BARLINE_BITS.findall(text))


_QUOTED = re.compile(r'"[^"\n]*"')  # a chord symbol (`"G"`, `"D7"`) or another annotation
_NOT_MUSIC = re.compile(r"[^A-Ga-gzxZ0-9/,'^_=<>()\[\]{}|:\- \t\n\\]")
_STRAY_BACKSLASH = re.compile(r"\\(?!\n)")  # `\` continues a line only at its end
_GRACE_ALONE = re.compile(r"\{[^}]*\}(?!\s*[_^=]*[A-Ga-g])")  # grace notes lead to a note
_FIELD_IN_BODY = re.compile(r"(?m)^[A-Za-z]:")
_STRAY_LENGTH = re.compile(r'["\s][0-9/]')  # a length after a space or a chord symbol
_COLON_LENGTH = re.compile(r":[0-9/]")  # ... after a repeat's colon (tuplets taken out first)
_LONE_ACCIDENTAL = re.compile(r"[_^=]+(?![_^=]*[A-Ga-g])")


_MISMARKED = re.compile(r"[a-g],|[A-G]'")  # `c,` `C'`: ABC 2.1 reads them, abc2midi refuses
_GRACE = re.compile(r"\{[^}]*\}")
_TUPLET = re.compile(r"\((\d)(?::\d*){0,2}")
_NOTE_TOKEN = re.compile(r"\[[^\]|]*\]|[_^=]*[A-Ga-gzx][,']*")


def _nested_tuplet(text: str) -> bool:
    """Whether a tuplet starts inside another (`(3a(3bcd`), which ABC readers refuse (`text`
    without grace notes: they take no place in a tuplet)."""
    left, at = 0, 0
    while at < len(text):
        if tuplet := _TUPLET.match(text, at):
            if left:
                return True
            left, at = int(tuplet.group(1)), tuplet.end()
        elif note := _NOTE_TOKEN.match(text, at):
            left, at = max(0, left - 1), note.end()
        else:
            at += 1
    return False


_TIE_OR_NOTE = re.compile(r"-|([_^=]*)([A-Ga-gzx])([,']*)")


def _ties_hold(text: str) -> bool:
    """Whether every tie joins a note to the same note (letter, octave, no other accidental);
    a tie at the end of `text` is left for what follows."""
    last: tuple[str, str, str] | None = None  # None after a rest: a tie from it is no tie
    tied: tuple[str, str, str] | None = None
    for match in _TIE_OR_NOTE.finditer(text):
        if match.group() == "-":
            if last is None:
                return False
            tied = last
            continue
        accidental, letter, octave = match.groups()
        if tied is not None and ((letter, octave) != tied[1:] or accidental not in ("", tied[0])):
            return False
        last, tied = (None if letter in "zx" else (accidental, letter, octave)), None
    return True


_BROKEN_OR_NOTE = re.compile(r"[<>]+|(?:\[[^\]|]*\]|[_^=]*[A-Ga-gzx][,']*)(\d*(?:/+\d*)*)")


def _broken_rhythms_even(text: str) -> bool:
    """Whether every broken rhythm (`A>B`, `c<<d`) joins two notes written the same length, as
    abc2midi requires (`A>B2` it cannot apply)."""
    length: str | None = None  # the last note's written length
    broken = False
    for match in _BROKEN_OR_NOTE.finditer(text):
        if match.group()[0] in "<>":
            if length is None:
                return False
            broken = True
            continue
        if broken and match.group(1) != length:
            return False
        length, broken = match.group(1), False
    return True  # a broken rhythm at the end leads into the next bar


def well_formed(written: str, before: str = "") -> bool:
    """Whether symbols written for a bar are all music that every ABC reader reads: notes,
    rests, lengths, accidentals, bar lines, chords, tuplets (none inside another), ties and chord
    symbols in quotes (a quote holds a chord name, nothing else); no field line (a second header
    inside the tune), no title written as notes (`Ligh (ait` is no bar), no octave mark on the
    wrong case (`c,`), no tie between two different notes or from a rest (`E2-c`, `z-`;
    `before`: the bar before, whose last note a tie may come from), no `\\` but at a line's end,
    no grace notes with no note after them, no broken rhythm between notes of two lengths
    (`A>B2`)."""
    text = _QUOTED.sub(" ", _INLINE_FIELD.sub(" ", written))
    if _FIELD_IN_BODY.search(written) or _NOT_MUSIC.search(text) or _MISMARKED.search(text):
        return False
    if not all(is_chord_name(quoted[1:-1]) for quoted in _QUOTED.findall(written)):
        return False  # quoted text that is no chord name (`"2"`, `"GEF"`): abc2midi refuses it
    untupled = _TUPLET.sub(" ", _INLINE_FIELD.sub(" ", written))
    if _STRAY_LENGTH.search(untupled) or _COLON_LENGTH.search(_TUPLET.sub(" ", text)):
        return False  # a length with no note to lengthen (`"G7"24G`, `A2 3B`, `d2 :2`, `(3/A`)
    if not _chords_closed(text):
        return False  # a chord's bracket with no partner (`B2]`, `[ce`)
    if _LONE_ACCIDENTAL.search(text):
        return False  # an accidental on a rest or on nothing (`=z`, `^ |`)
    if _STRAY_BACKSLASH.search(text) or _GRACE_ALONE.search(text):
        return False
    notes = _GRACE.sub(" ", text)  # grace notes play no part in rhythms, tuplets or ties
    if not _broken_rhythms_even(notes) or _nested_tuplet(notes):
        return False
    return _ties_hold(_GRACE.sub(" ", _QUOTED.sub(" ", _INLINE_FIELD.sub(" ", before + written))))


_NOT_A_CHORD_BRACKET = re.compile(r"\[\d|\[\||\|\]")  # voltas `[1`, bar lines `[|` `|]`


def _chords_closed(text: str) -> bool:
    """Whether every `[` of a chord is closed by a `]`, and no `]` closes nothing."""
    depth = 0
    for char in _NOT_A_CHORD_BRACKET.sub(" ", text):
        if char == "[":
            depth += 1
            if depth > 1:
                return False
        elif char == "]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


_CLOSING_BAR_LINE = re.compile(r"(?:\[\||:*\|+\]?)?\s*$")


def close_bar(bar_text: str, closing: str) -> str:
    """A bar's text with its closing bar line (or the line's end that closed it) replaced by
    `closing`: `GG Gz ||` closed by `:|` is `GG Gz :|`."""
    return _CLOSING_BAR_LINE.sub("", bar_text, count=1) + closing


_EMPTY_BAR = re.compile(r"[|:]*[ \t]+\|")  # `| |`: a bar with nothing in it (unlike `||`)
CLOSES_SECTION = re.compile(r"(?::\||::|\|\]|\|\|)\s*$")


def opens_section(bar_text: str, previous: str | None) -> bool:
    """Is this bar the first of its tune or section (where a pickup may be short)?"""
    if previous is None or CLOSES_SECTION.search(previous):
        return True
    # `||`, `:|`, `|:` and `|]` written together; `|` at a line's end then `|` starting the next
    # line is no double bar (the bar's text then starts with the line break).
    return bar_text.startswith(("|", ":", "[|"))


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
        if has_notes(text):
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
                match = FIELD_LINE.match("".join(self._line))
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
            if has_notes(body) and not body.rstrip().endswith("\\"):
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
                if has_notes(body) or _EMPTY_BAR.fullmatch(body):
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
