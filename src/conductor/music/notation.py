"""One notation for every ABC style: tunes rewritten so that styles mix note for note.

The corpora count differently: Essen's German tunes mostly in `L:1/4`, O'Neill's Irish ones in
1/8 and 1/16. Mixed symbol by symbol, two ways of counting make bars no style would write. And
each transcription has its marks: O'Neill joins different notes with `-` (abc2midi: "Could not
find note to be tied"), Ryan's and Aird's write bowings and dynamics (`v`, `k`, `"fz"`) where a
reader expects notes. `normalise_tune` rewrites a tune into one convention:

- the header: `X:`, `T:`, `M:`, `L:1/8`, `K:`, in that order (other fields dropped);
- every note, rest and grace note re-lengthed from the tune's unit (and any `L:` change inside
  it) to 1/8: `L:1/4` `A B/ c2` becomes `A2 B c4`; the music lasts exactly as long;
- decorations dropped (`!trill!`, `+fermata+`, `~ . H L M O P S T u v k` …), and slurs; ties
  kept only between notes of the same letter and octave (and no other accidental);
- quoted text kept only when it is a chord symbol (`"G"`, `"D7"`, `"Am/E"`); fingerings,
  dynamics and other annotations dropped.

Everything a player hears stays: pitches, lengths, bar lines, repeats, endings, tuplets,
broken rhythms, chords in brackets, key and meter changes.
"""

from __future__ import annotations

import re
from fractions import Fraction

from conductor.music.header import FIELD_LINE, MusicError, TuneHeader

__all__ = ["UNIT", "normalise_body", "normalise_tune", "scale_length"]

UNIT = Fraction(1, 8)  # the one unit length every tune is written in
_CHORD_SYMBOL = re.compile(
    r"^[A-G][#b]?(?:m|min|maj|dim|aug|sus|add|M)?\d*(?:[#b]\d+)*(?:/[A-Ga-g][#b]?)?$"
)
_NOTE = re.compile(r"([_^=]*)([A-Ga-g])([,']*)([0-9]*(?:/+[0-9]*)*)")
_REST = re.compile(r"([zx])([0-9]*(?:/+[0-9]*)*)")
_LENGTH_OF = re.compile(r"^([0-9]*)((?:/+[0-9]*)*)$")
_INLINE = re.compile(r"\[([A-Za-z]):([^\]]*)\]")
_MUSIC_LETTERS = set("ABCDEFGabcdefgzxZX")  # notes and rests; any other letter in a body is a
# decoration (`T` trill, `u`/`v` bowings, user-defined ones) or a transcriber's mark
_NEXT_NOTE = re.compile(r"([_^=]*)([A-Ga-g])([,']*)")


def _unit_of(value: str) -> Fraction | None:
    try:
        top, bottom = value.strip().split("/")
        return Fraction(int(top), int(bottom))
    except (ValueError, ZeroDivisionError):
        return None


def _length(text: str) -> Fraction:
    """An ABC length suffix as a multiple of the unit: `` 1, `2` 2, `/` 1/2, `//` 1/4, `3/2`."""
    match = _LENGTH_OF.match(text)
    if not match:
        raise MusicError(f"{text!r} is not an ABC note length")
    top, slashes = match.group(1), match.group(2)
    value = Fraction(int(top) if top else 1)
    if slashes:
        bottom = re.sub(r"/+", "", slashes)
        divisor = int(bottom) if bottom else 2 ** slashes.count("/")
        if divisor == 0:
            raise MusicError(f"{text!r} divides a note by zero")
        value /= divisor
    return value


def _written(length: Fraction) -> str:
    """A length as ABC writes it: 1 → ``, 2 → `2`, 1/2 → `/`, 3/2 → `3/2`, 1/4 → `/4`."""
    if length == 1:
        return ""
    if length.denominator == 1:
        return str(length.numerator)
    top = "" if length.numerator == 1 else str(length.numerator)
    return f"{top}/" if length.denominator == 2 else f"{top}/{length.denominator}"


def scale_length(text: str, factor: Fraction) -> str:
    """A note's length suffix, `factor` times as long in units."""
    return _written(_length(text) * factor)


def normalise_body(body: str, unit: Fraction) -> str:
    """A tune body written in `unit`, rewritten in `UNIT` (see the module docs)."""
    out: list[str] = []
    factor = unit / UNIT
    i = 0
    last_note: tuple[str, str, str] | None = None  # (accidental, letter, octave) of the last note
    line_start = True
    while i < len(body):
        char = body[i]
        if line_start:
            line_start = False
            end = body.find("\n", i)
            end = len(body) if end < 0 else end
            if field := FIELD_LINE.match(body[i:end]):
                name, value = field.group(1), field.group(2)
                if name == "L":
                    factor = (_unit_of(value) or unit) / UNIT
                elif name in "KM":
                    out.append(f"{name}:{value}\n")
                i = end + 1
                line_start = True
                continue
        if char == "\n":
            out.append(char)
            line_start = True
            i += 1
            continue
        if char == '"':  # a chord symbol or an annotation
            end = body.find('"', i + 1)
            end = len(body) - 1 if end < 0 else end
            text = body[i + 1 : end]
            if _CHORD_SYMBOL.match(text):
                out.append(f'"{text}"')
            i = end + 1
            continue
        if char in "!+":  # a long decoration `!trill!`, `+fermata+`
            end = body.find(char, i + 1)
            if 0 < end - i <= 40 and "\n" not in body[i:end]:
                i = end + 1
                continue
            i += 1  # a lone `!` or `+`: dropped too
            continue
        if char == "[" and (inline := _INLINE.match(body, i)):
            name, value = inline.group(1), inline.group(2)
            if name == "L":
                factor = (_unit_of(value) or unit) / UNIT
            elif name in "KMQ":
                out.append(f"[{name}:{value}]")
            i = inline.end()
            continue
        if char == "(":
            if i + 1 < len(body) and body[i + 1].isdigit():  # a tuplet: kept whole
                tuplet = re.match(r"\(\d(?::\d?){0,2}", body[i:])
                assert tuplet is not None
                out.append(tuplet.group())
                i += tuplet.end()
                continue
            i += 1  # a slur: dropped
            continue
        if char == ")":
            i += 1
            continue
        if char == "-":  # a tie: kept only if the next note is the same one
            following = _NEXT_NOTE.search(body, i + 1)
            if last_note is not None and following is not None:
                accidental, letter, octave = following.groups()
                same = (letter, octave) == last_note[1:]
                if same and accidental in ("", last_note[0]):
                    out.append("-")
            i += 1
            continue
        if char == "~" or char == "." or (char.isalpha() and char not in _MUSIC_LETTERS):
            i += 1  # a decoration
            continue
        note = _NOTE.match(body, i)
        if note:
            accidental, letter, octave, length = note.groups()
            out.append(accidental + letter + octave + scale_length(length, factor))
            last_note = (accidental, letter, octave)
            i = note.end()
            continue
        rest = _REST.match(body, i)
        if rest:
            out.append(rest.group(1) + scale_length(rest.group(2), factor))
            i = rest.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


def normalise_tune(tune: str) -> str:
    """A whole tune in the one notation: its header as `X T M L K`, its body in `UNIT`."""
    try:
        header = TuneHeader.parse(tune)
    except MusicError:
        header = TuneHeader()
    fields: dict[str, str] = {}
    lines = tune.splitlines()
    start = 0
    for n, line in enumerate(lines):
        match = FIELD_LINE.match(line)
        if not match:
            start = n
            break
        fields.setdefault(match.group(1), match.group(2))
        if match.group(1) == "K":
            start = n + 1
            break
    unit = _unit_of(fields.get("L", "")) or _default_unit(header)
    head = [f"X:{fields.get('X', '1')}"]
    if fields.get("T"):
        head.append(f"T:{fields['T']}")
    head += [f"M:{fields.get('M', '4/4')}", "L:1/8", f"K:{fields.get('K', 'C')}"]
    body = normalise_body("\n".join(lines[start:]), unit)
    return "\n".join(head) + "\n" + body.strip("\n") + "\n"


def _default_unit(header: TuneHeader) -> Fraction:
    """ABC's default unit when a tune gives no `L:`: 1/16 for meters under 3/4, else 1/8."""
    quarters = header.bar_quarters  # a 3/4 bar is 3 quarters; None for free meter
    return Fraction(1, 16) if quarters is not None and quarters < 3 else UNIT
