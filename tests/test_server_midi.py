"""MIDI control with a fake port (this machine has no MIDI system); real mido messages."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import mido
import pytest

from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.generate import Conductor
from conductor.server.midi import MidiControl, load_mapping
from conductor.session import Session
from tests.conftest import until


class FakePort:
    """Stands in for a hardware port: delivers messages on its own thread, as mido's do."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.closed = False

    def play(self, *messages: mido.Message) -> None:
        thread = threading.Thread(target=lambda: [self.callback(m) for m in messages])
        thread.start()
        thread.join()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def session(two_styles: list[Path]) -> Session:
    return Session(Conductor(Ensemble.from_checkpoints(two_styles)), [1.0, 0.0])


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def test_a_mapped_knob_sets_its_style_weight_through_the_port_thread(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports: list[FakePort] = []
    monkeypatch.setattr(
        mido, "open_input", lambda name, callback: ports.append(FakePort(callback)) or ports[-1]
    )
    control = MidiControl(session, {7: "digits"}, channel=0)

    async def scenario() -> None:
        control.open("Fake Controller", asyncio.get_running_loop())
        ports[0].play(cc(7, 127), cc(7, 127, channel=3), mido.Message("note_on", note=60))
        await until(
            lambda: session._pending_target() == {"letters": 1.0, "digits": 1.0},
            what="the knob's weight",
        )

    asyncio.run(scenario())
    assert session.step().weights == [1.0, 1.0]
    assert control.ignored == 0  # the other channel and the note are not controllers of ours
    control.close()
    assert ports[0].closed


def test_learn_binds_the_next_knob_moved_and_saves_it(session: Session, tmp_path: Path) -> None:
    map_file = tmp_path / "midi.json"
    control = MidiControl(session, map_file=map_file)
    control.handle(cc(21, 100))
    assert control.ignored == 1  # unbound
    session.submit({"type": "learn", "style": "digits"})
    assert session.state()["learning"] == "digits"
    control.handle(cc(21, 127))
    assert session.state()["learning"] is None and control.mapping == {21: "digits"}
    assert session.step().weights == [1.0, 1.0]
    assert load_mapping(map_file, ["letters", "digits"]) == ({21: "digits"}, None)


def test_bad_maps_and_a_missing_midi_system_are_one_line_errors(
    session: Session, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    for content, complaint in [
        ("{oops", "unreadable"),
        (json.dumps({"cc": {"300": "digits"}}), "not 0-127"),
        (json.dumps({"cc": {"1": "jazz"}}), "unknown style 'jazz'"),
        (json.dumps({"cc": {}, "channel": 16}), "channel must be 0-15"),
    ]:
        bad.write_text(content)
        with pytest.raises(ConductorError, match=complaint):
            load_mapping(bad, ["letters", "digits"])
    with pytest.raises(ConductorError, match="cannot open MIDI input 'Nope'") as caught:
        MidiControl(session).open("Nope", asyncio.new_event_loop())
    assert "\n" not in str(caught.value)


def test_a_knob_bound_to_a_style_not_playing_waits_for_it_to_be_loaded(
    two_styles: list[Path],
) -> None:
    """The map follows the set: a knob for a style out of the ensemble is ignored (one count,
    no error for the performer), and steers it again once it is loaded back."""
    from conductor.library import Library

    session = Session(
        Conductor(Ensemble.from_checkpoints(two_styles[:1])), [1.0],
        library=Library(two_styles[0].parent),
    )  # fmt: skip
    control = MidiControl(session, {7: "digits"})
    control.handle(cc(7, 64))
    assert control.ignored == 1 and session._pending_target() == {"letters": 1.0}
    session.submit({"type": "load", "style": "digits"})
    control.handle(cc(7, 127))
    assert session._pending_target() == {"letters": 1.0, "digits": 1.0}
    assert session.step().weights == [1.0, 1.0]


def test_controllers_as_the_mappings_input_teach_it_and_then_conduct(session: Session) -> None:
    """`--midi-inputs 20,21`: two faders make the input vector (value/127, 0 until moved); a
    pose per style recorded and trained, the faders then move the weights."""
    control = MidiControl(session, {7: "digits"}, inputs=[20, 21])

    def faders(a: int, b: int) -> None:
        for cc, value in ((20, a), (21, b)):
            control.handle(mido.Message("control_change", control=cc, value=value))

    control.handle(mido.Message("control_change", control=21, value=127))
    assert session.input == (0.0, 1.0)  # the unmoved one at 0
    for (a, b), weights in (((0, 0), {"letters": 1.0, "digits": 0.0}),
                            ((127, 127), {"letters": 0.0, "digits": 1.0})):  # fmt: skip
        faders(a, b)
        session.submit({"type": "set", "weights": weights})
        session.submit({"type": "mapping", "action": "record"})
    session.submit_all(
        [{"type": "mapping", "action": "train"}, {"type": "mapping", "action": "run"}]
    )
    faders(127, 127)
    assert session.step().weights == pytest.approx([0.0, 1.0], abs=0.02)
    faders(0, 0)
    assert session.step().weights == pytest.approx([1.0, 0.0], abs=0.02)
    control.handle(mido.Message("control_change", control=7, value=127))  # a weight knob still
    assert session.step().weights[1] == 1.0
    session.submit({"type": "mapping", "action": "clear"})
    _teach_three = [
        {"type": "input", "values": [0.0, 0.0, 0.0]},
        {"type": "mapping", "action": "record"},
    ]
    session.submit_all(_teach_three)  # now a mapping of three inputs: the faders' two refused
    faders(64, 64)
    assert control.ignored == 2 and session.input == (0.0, 0.0, 0.0)


def test_bad_midi_inputs_are_one_line_errors(session: Session) -> None:
    for inputs, complaint in (([200], "not 0-127"), ([7], "steers a weight"), ([1, 1], "twice")):
        with pytest.raises(ConductorError, match=complaint):
            MidiControl(session, {7: "digits"}, inputs=inputs)
