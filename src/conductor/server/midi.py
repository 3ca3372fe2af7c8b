"""MIDI in and out (mido): controllers steer the weights; the tune plays on an output port.

A control-change message on a bound controller number sets that style's weight to value/127.
Bindings come from a JSON file (`{"cc": {"1": "shakespeare", "2": "kjv"}, "channel": 0}`;
channel optional, 0-15, absent = any) or by *learn*: send the session `{"type": "learn",
"style": "kjv"}` (a button on the page), move a knob, and that knob is bound.

mido's ports call back on their own thread; messages are handed to the asyncio loop, which owns
the session. Where the machine has no MIDI system, opening a port is a one-line error.

Controllers can instead be the learnt mapping's input (`serve --midi-inputs 1,2,3`): those
controller numbers, in that order, make one input vector (each value/127, 0 until moved), sent
whenever one of them moves.

Out (`MidiOut`, with `serve --music --midi-out PORT`): every note of every bar placed on the
playback timeline, as note-on at its onset and note-off after its duration, on channel 0 (the
accompaniment, a tune's chords, on channel 1).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import mido

from conductor.commands import CommandError
from conductor.errors import ConductorError
from conductor.events import BarEvent, Event
from conductor.mapping import cc_to_weight
from conductor.notes import Note
from conductor.server.notes import schedule_notes
from conductor.session import Session

__all__ = ["MidiControl", "MidiOut", "load_mapping"]


def load_mapping(path: Path, styles: list[str]) -> tuple[dict[int, str], int | None]:
    """(controller → style, channel) from a mapping file, or a one-line error."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        mapping = {int(cc): str(style) for cc, style in data.get("cc", {}).items()}
        channel = data.get("channel")
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise ConductorError(f"MIDI map {path} is unreadable ({error}); see --help") from None
    bad = [cc for cc in mapping if not 0 <= cc <= 127]
    unknown = [style for style in mapping.values() if style not in styles]
    if bad or unknown:
        problem = f"controller {bad[0]} is not 0-127" if bad else f"unknown style {unknown[0]!r}"
        raise ConductorError(f"MIDI map {path}: {problem}")
    if channel is not None and (not isinstance(channel, int) or not 0 <= channel <= 15):
        raise ConductorError(f"MIDI map {path}: channel must be 0-15")
    return mapping, channel


def _open_port(kind: str, name: str, opener: Any) -> Any:
    try:
        return opener()
    except Exception as error:  # mido raises ImportError/OSError/IOError by backend
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConductorError(
            f"cannot open MIDI {kind} {name!r}: {detail}; this needs a MIDI system (ALSA or "
            "CoreMIDI) and python-rtmidi (pip install python-rtmidi)"
        ) from None


class MidiOut:
    """Plays placed bars on a MIDI output port: a session sink (on the loop thread)."""

    def __init__(self, port: Any, channel: int = 0) -> None:
        self.port = port  # anything with send(mido.Message): a real port or a test double
        self.channel = channel
        self.sent = 0

    @classmethod
    def open(cls, name: str) -> MidiOut:
        return cls(_open_port("output", name, lambda: mido.open_output(name)))

    def __call__(self, event: Event) -> None:
        if isinstance(event, BarEvent):  # only bars; one not played schedules nothing
            schedule_notes(event, self._note_on, self._note_off)

    def _channel(self, note: Note) -> int:
        """The melody on `channel`, the accompaniment on the next one."""
        return (self.channel + note.voice) % 16

    def _note_on(self, note: Note) -> None:
        channel = self._channel(note)
        self._send(
            mido.Message("note_on", note=note.pitch, velocity=note.velocity, channel=channel)
        )

    def _note_off(self, note: Note) -> None:
        self._send(
            mido.Message("note_off", note=note.pitch, velocity=0, channel=self._channel(note))
        )

    def _send(self, message: mido.Message) -> None:
        try:
            self.port.send(message)
            self.sent += 1
        except Exception:  # a port that went away must not stop the session
            return

    def close(self) -> None:
        close = getattr(self.port, "close", None)
        if close is not None:
            close()


class MidiControl:
    """Control changes → weight commands; learn binds the next moved controller."""

    def __init__(
        self,
        session: Session,
        mapping: dict[int, str] | None = None,
        channel: int | None = None,
        map_file: Path | None = None,
        inputs: list[int] | None = None,
    ) -> None:
        self.session = session
        self.mapping = dict(mapping or {})
        self.channel = channel
        self.map_file = map_file
        self.port: Any = None
        self.ignored = 0
        #: controller numbers whose values make the mapping's input vector, in order
        self.inputs = list(inputs or [])
        bad = [cc for cc in self.inputs if not 0 <= cc <= 127]
        both = [cc for cc in self.inputs if cc in self.mapping]
        if bad or both or len(set(self.inputs)) != len(self.inputs):
            why = (
                f"controller {bad[0]} is not 0-127" if bad
                else f"controller {both[0]} steers a weight already (its MIDI map)" if both
                else "a controller is named twice"
            )  # fmt: skip
            raise ConductorError(f"--midi-inputs: {why}")
        self.input_values = [0.0] * len(self.inputs)

    def handle(self, message: mido.Message) -> None:
        """Apply one MIDI message (on the loop thread)."""
        if message.type != "control_change":
            return
        if self.channel is not None and message.channel != self.channel:
            return
        if message.control in self.inputs:
            self.input_values[self.inputs.index(message.control)] = cc_to_weight(message.value)
            try:
                self.session.submit({"type": "input", "values": list(self.input_values)})
            except CommandError:  # a mapping of another input length: the knob is refused
                self.ignored += 1
            return
        learning = self.session.learning
        if learning is not None:
            self.mapping = {cc: s for cc, s in self.mapping.items() if s != learning}
            self.mapping[message.control] = learning
            self.session.learning = None
            self._save()
        style = self.mapping.get(message.control)
        if style is None:
            self.ignored += 1
            return
        try:
            self.session.submit({"type": "set", "weights": {style: cc_to_weight(message.value)}})
        except CommandError:  # e.g. every weight at 0: the knob's last move is refused
            self.ignored += 1

    def _save(self) -> None:
        if self.map_file is None:
            return
        data: dict[str, Any] = {"cc": {str(cc): s for cc, s in sorted(self.mapping.items())}}
        if self.channel is not None:
            data["channel"] = self.channel
        self.map_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def open(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        """Listen on MIDI input port `name`, handing messages to `loop`."""

        def callback(message: mido.Message) -> None:
            loop.call_soon_threadsafe(self.handle, message)

        self.port = _open_port("input", name, lambda: mido.open_input(name, callback=callback))

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
