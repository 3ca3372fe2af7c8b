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
    "doubles_bar_line",
    "ends_tied",
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
_FIELD_IN_BODY = re.compile(r"(?m)^[A-Za-z]:")
_PITCH = r"(?:\^{1,2}|_{1,2}|=)?(?:[A-G],*|[a-g]'*)"  # not `c,` `C'`: abc2midi refuses them
_LENGTH = r"\d*(?:/+\d*)?"
# What a bar's text may hold, one token at a time (chord symbols and inline fields taken out).
# Anything else is not music every reader reads: a letter that is no note, a length with no
# note before it (`A2 3B`, `"G7"24G`, `(3/A`, `A/>/B`), an accidental on a rest or on nothing,
# `\` but at a line's end, a tuplet of 1 or of 10 and more, a grace group with no notes or left
# open, a chord's bracket with no partner or with no notes in it.
_TOKEN = re.compile(
    r"(?P<line>[ \t]*(?:\\?\n)[ \t\n]*)|(?P<space>[ \t]+)"
    r"|(?P<bar>\[\||\|\]|:*\|+(?:\d+(?:[,-]\d+)*)?:*|::)|(?P<volta>\[\d+(?:[,-]\d+)*)"
    r"|(?P<tuplet>\((?P<notes>[2-9])(?::\d*){0,2})(?![\d/])"
    r"|(?P<slur>[()])"
    rf"|(?P<grace>\{{/?(?:{_PITCH}{_LENGTH})+\}})"
    rf"|(?P<chord>\[((?:{_PITCH}{_LENGTH})+)\])(?P<chord_length>{_LENGTH})(?P<chord_tie>-?)"
    rf"|(?P<note>{_PITCH})(?P<note_length>{_LENGTH})(?P<note_tie>-?)"
    rf"|(?P<rest>[zxZ])(?P<rest_length>{_LENGTH})"
    r"|(?P<broken>[<>]{1,3})"
)
_KINDS = (
    "line",
    "space",
    "bar",
    "volta",
    "tuplet",
    "slur",
    "grace",
    "chord",
    "note",
    "rest",
    "broken",
)
_SOUNDING = ("chord", "note", "rest")  # what takes time: a tuplet's notes, a broken rhythm's
# A bar's text may open with the rest of the bar line that closed the bar before: the `:` of a
# `|:` or the number of a `|1` (a volta).
_OPENING = re.compile(r"\n?(?::+|\d+(?:[,-]\d+)*(?=[ \t\n\\{]|[A-Ga-gz^_=(\[]))")
_PITCH_OF = re.compile(r"(\^{1,2}|_{1,2}|=)?([A-Ga-g][,']*)")


@dataclass(frozen=True)
class _Token:
    kind: str  # one of _KINDS (`line`: a space with a line break in it)
    length: str = ""  # a note's, a chord's or a rest's length, as written
    tied: bool = False  # a tie (`-`) after it
    pitches: tuple[tuple[str, str], ...] = ()  # a note's or a chord's: (accidental, note)
    count: int = 0  # a tuplet's notes


def _tokens(text: str) -> list[_Token] | None:
    """`text` as music tokens, or None where something in it is no music every reader reads."""
    out: list[_Token] = []
    at = 0
    if opening := _OPENING.match(text):
        out.append(_Token("bar"))
        at = opening.end()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            return None
        kind = next(k for k in _KINDS if match.group(k) is not None)
        if kind in _SOUNDING:
            written = match.group(kind)
            pitches = tuple(m.groups("") for m in _PITCH_OF.finditer(written))
            out.append(
                _Token(
                    kind,
                    match.group(f"{kind}_length"),
                    kind != "rest" and bool(match.group(f"{kind}_tie")),
                    pitches,  # type: ignore[arg-type]
                )
            )
        elif kind == "tuplet":
            out.append(_Token(kind, count=int(match.group("notes"))))
        else:
            out.append(_Token(kind))
        at = match.end()
    return out


def _music_tokens(written: str) -> list[_Token] | None:
    """A bar's tokens, its chord symbols and inline fields taken out (see `_tokens`)."""
    return _tokens(_QUOTED.sub(" ", _INLINE_FIELD.sub(" ", written)))


def _rhythms_hold(tokens: list[_Token]) -> bool:
    """Whether no tuplet starts inside another (`(3a(3bcd`), every grace group leads to a note,
    and every broken rhythm (`A>B`, `c<<d`) joins two notes written the same length, as abc2midi
    requires (`A>B2` it cannot apply; one at the end leads into the next bar)."""
    left = 0  # notes still to come in the current tuplet
    last: _Token | None = None  # the last note, chord or rest
    grace = broken = sounds = False
    for token in tokens:
        if token.kind in ("line", "space"):
            continue
        if grace and token.kind != "note":
            return False
        grace = token.kind == "grace"
        if token.kind == "tuplet":
            if left:
                return False
            left = token.count
        elif token.kind == "broken":
            if last is None or broken:
                return False
            broken = True
        elif token.kind in _SOUNDING:
            if broken and last is not None and token.length != last.length:
                return False
            left, last, broken, sounds = max(0, left - 1), token, False, True
        elif token.kind in ("bar", "volta"):
            last, broken = None, False  # a broken rhythm may lead into the next bar
    return not grace and not left and sounds  # a tuplet ends in its bar; a bar has a note


def _empty_bar(tokens: list[_Token]) -> bool:
    """Whether two bar lines stand on one line with nothing between them (`| |`, `|: |`): an
    empty bar, which abc2midi counts (a bar line at a line's start after one at the end of the
    line before it does not)."""
    return any(
        a.kind == "bar" and gap.kind == "space" and b.kind == "bar"
        for a, gap, b in zip(tokens, tokens[1:], tokens[2:], strict=False)
    )


def _ties_hold(tokens: list[_Token]) -> bool:
    """Whether every tie joins a note to the same note (letter, octave, no other accidental) and
    a chord to the same chord; a tie at the end is left for what follows."""
    tied: _Token | None = None
    for token in tokens:
        if tied is None or token.kind not in _SOUNDING:
            tied = token if token.tied else tied
            continue
        if len(token.pitches) != len(tied.pitches):
            return False  # a rest, or a chord tied to a note
        for (accidental, note), (was, before) in zip(token.pitches, tied.pitches, strict=True):
            if note != before or accidental not in ("", was):
                return False
        tied = token if token.tied else None
    return True


def ends_tied(written: str) -> bool:
    """Whether a bar's last note is tied to what follows (no note follows a part's end)."""
    tokens = _music_tokens(written) or []
    sounding = [token for token in tokens if token.kind in _SOUNDING]
    return bool(sounding) and sounding[-1].tied


def well_formed(written: str, before: str = "") -> bool:
    """Whether symbols written for a bar are all music that every ABC reader reads (`_TOKEN`:
    notes, rests, lengths, accidentals, bar lines, chords, grace notes, tuplets, ties, broken
    rhythms, and chord symbols in quotes holding a chord name, nothing else), with no field line
    (a second header inside the tune), no title written as notes (`Ligh (ait` is no bar), no
    tuplet inside another, no grace notes with no note after them, no broken rhythm between
    notes of two lengths (`A>B2`), and no tie between two different notes or from a rest
    (`E2-c`, `z-`; `before`: the bar before, whose last note a tie may come from)."""
    if _FIELD_IN_BODY.search(written):
        return False
    if not all(is_chord_name(quoted[1:-1]) for quoted in _QUOTED.findall(written)):
        return False  # quoted text that is no chord name (`"2"`, `"GEF"`): abc2midi refuses it
    tokens = _music_tokens(written)
    if tokens is None or _empty_bar(tokens) or not _rhythms_hold(tokens):
        return False
    earlier = _music_tokens(before) or []
    return _ties_hold(earlier + tokens)


_LEADING_BAR_LINE = re.compile(r"\s*\|(?!:)")  # `|` (not `|:`) opening a bar's text


def doubles_bar_line(bar_text: str, previous: str | None) -> bool:
    """Whether a bar begins with a plain bar line right after a section's (`:|` then `| B2 |`
    on the next line): abc2midi reads an empty bar between them, and then cannot join the
    section's short last bar to the pickup after it."""
    return (
        previous is not None
        and bool(CLOSES_SECTION.search(previous))
        and bool(_LEADING_BAR_LINE.match(bar_text))
    )


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
