"""The performer seam: a second, minimal domain plugs into `Session` with no change to it, plays
through the same players, and its records replay; the session imports nothing of music."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.events import BarEvent, StepEvent
from conductor.generate import Conductor
from conductor.notes import Note
from conductor.performer import Fed, Performer, performer_from_json, register
from conductor.session import Session, replay


class Beats:
    """A drum machine: every run of digits the models write is a bar, each digit d a hit on
    General MIDI drum d + 36, a sixteenth apart; five bars make a piece."""

    kind: ClassVar[str] = "beats"

    def __init__(self, options: dict[str, Any]) -> None:
        self.gap = float(options.get("gap", 0.125))
        self.even = bool(options.get("even", False))  # take back bars of an odd number of hits
        self.hits: list[str] = []
        self.bars = 0
        self.pieces = 1
        self.end = 0.0
        self.retried = 0

    def prime_text(self) -> str:
        return " "

    def feed(self, symbol: str, by: str) -> Fed:
        if symbol.isdigit():
            self.hits.append(symbol)
            return Fed()
        if not self.hits:
            return Fed()
        if self.even and len(self.hits) % 2:
            self.retried += 1
            return Fed(retry=True)
        bar, self.hits = "".join(self.hits), []
        self.bars += 1
        ended = self.bars % 5 == 0
        if ended:
            self.pieces += 1
        return Fed([(self.bars - 1, bar, by)], ended)

    def place(self, ready: Any, now: float) -> BarEvent:
        index, text, by = ready
        start = max(now, self.end)
        notes = tuple(Note(36 + int(d), 100, k * self.gap, self.gap) for k, d in enumerate(text))
        self.end = start + len(text) * self.gap
        return BarEvent(
            self.pieces, index, text, "", True, None, start - now, len(text) * self.gap, notes,
            {by: 1.0}, self.bars, 0,
        )  # fmt: skip

    def wait_before_next(self, now: float) -> float:
        return 0.0

    def restart(self) -> None:
        self.hits = []
        self.pieces += 1

    @property
    def takes_back(self) -> bool:
        return self.even

    def snapshot(self) -> Any:
        return (list(self.hits), self.bars, self.pieces)

    def restore(self, snapshot: Any) -> None:
        hits, self.bars, self.pieces = snapshot
        self.hits = list(hits)

    def to_json(self) -> dict[str, Any]:
        return {**self.options_json(), "bars": self.bars}

    def options_json(self) -> dict[str, Any]:
        return {"gap": self.gap, "even": self.even}


def beats_session(two_styles: list[Path], record: Path, beats: Beats) -> tuple[Session, list[Any]]:
    """A recorded session of the two test styles with `beats` as its performer, and its events."""
    register("beats", Beats)
    session = Session(
        Conductor(Ensemble.from_checkpoints(two_styles), seed=3), [0.0, 1.0], rate=0,
        record=record, style_paths=[str(p) for p in two_styles], performer=beats,
    )  # fmt: skip
    events: list[Any] = []
    session.add_sink(events.append)
    return session, events


def test_a_second_domain_plays_through_the_session_and_replays(
    two_styles: list[Path], tmp_path: Path
) -> None:
    beats = Beats({"gap": 0.1})
    assert isinstance(beats, Performer)
    record = tmp_path / "beats.jsonl"
    session, events = beats_session(two_styles, record, beats)
    text = "".join(session.step().symbol for _ in range(200))
    assert session.performer_state() == {"gap": 0.1, "even": False, "bars": beats.bars}
    session.close()
    bars = [e for e in events if isinstance(e, BarEvent)]
    runs = [run for run in text.split(" ") if run.isdigit()]
    assert len(bars) >= 10 and [b.abc for b in bars] == runs[: len(bars)]
    for event in bars:  # the players' own shape: notes on a timeline, one per digit
        assert [n.pitch for n in event.notes] == [36 + int(d) for d in event.abc]
        assert event.to_json()["notes"][0] == [36 + int(event.abc[0]), 100, 0.0, 0.1, 0]
    assert beats.pieces == 1 + beats.bars // 5 and beats.pieces > 2  # the piece ended, went on
    header = json.loads(record.read_text().splitlines()[0])
    assert header["performer"] == {"kind": "beats", "options": {"gap": 0.1, "even": False}}
    again = replay(record, lambda styles: [Path(s) for s in styles])
    assert again.matches is True and again.text == text


def test_what_a_performer_takes_back_is_never_shown_and_replays_exactly(
    two_styles: list[Path], tmp_path: Path
) -> None:
    """A performer that takes bars back (as `serve --music` does a bar that does not fit): the
    session returns the models to the bar's start and writes it again; its symbols are held
    until the bar is kept, so viewers see only kept bars, and commands keep the clock's time."""
    beats = Beats({"gap": 0.1, "even": True})
    record = tmp_path / "even.jsonl"
    session, events = beats_session(two_styles, record, beats)
    for tick in range(300):
        if tick == 150:
            session.submit({"type": "set", "weights": {session.names[0]: 0.5}})
        session.step()
    assert session.step_index == 300  # ticks of the clock, whatever was taken back
    session.close()
    shown = "".join(e.symbol for e in events if isinstance(e, StepEvent))
    bars = [e.abc for e in events if isinstance(e, BarEvent)]
    assert beats.retried > 5 and len(bars) >= 8
    assert all(len(bar) % 2 == 0 for bar in bars)  # no odd bar was shown or played
    runs = re.findall(r"\d+", shown)
    assert runs[: len(bars)] == bars  # the text shown is the kept bars' text, nothing else
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["step"] for line in lines if "command" in line] == [150]
    again = replay(record, lambda styles: [Path(s) for s in styles])
    assert again.matches is True


def test_an_unknown_performer_kind_is_a_one_line_error() -> None:
    with pytest.raises(ConductorError, match="no performer of kind 'harp'"):
        performer_from_json({"kind": "harp", "options": {}})


def test_the_session_imports_nothing_of_music() -> None:
    probe = (
        "import sys, conductor.session, conductor.server.web, conductor.server.osc.bridge;"
        "print(sorted(m for m in sys.modules if m.startswith('music21') or m in "
        "('conductor.music', 'conductor.performance', 'conductor.tunes')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"
