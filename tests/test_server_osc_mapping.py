"""The learnt mapping over real UDP on 127.0.0.1: a client streams input vectors, records
examples, trains and runs, and the inputs then steer the weights; Wekinator's addresses on its
own port; OSCQuery lists every mapping address."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.learning import MAX_INPUTS
from conductor.library import Library
from conductor.server.run import BackgroundServer
from conductor.session import Session
from tests.conftest import wait_for
from tests.test_server_osc import Peer, bundle, osc

TOLERANCE = 0.02  # an example's own input gives its weights back within this


@pytest.fixture
def server(two_styles: list[Path], tmp_path: Path) -> Iterator[BackgroundServer]:
    session = Session(
        Conductor(Ensemble.from_checkpoints(two_styles), seed=0),
        [1.0, 0.0],
        rate=50,
        library=Library(two_styles[0].parent),
        mappings_dir=tmp_path / "mappings",
    )
    background = BackgroundServer(session, port=0, osc_port=0, wek_port=0)
    yield background
    background.stop()


def _peer(server: BackgroundServer, wekinator: bool = False) -> Peer:
    assert server.endpoints is not None
    address = server.endpoints.wekinator if wekinator else server.endpoints.osc
    assert address is not None
    return Peer(address)


def _target(server: BackgroundServer) -> list[float]:
    return server.call(lambda: server.session.target)


def _stream(peer: Peer, values: list[float], times: int = 5) -> None:
    """An input source sends the same vector a few times, as a sensor does at rest."""
    for _ in range(times):
        peer.send(osc("/conductor/input", *values))


def test_a_udp_client_teaches_the_mapping_and_then_conducts_with_it(
    server: BackgroundServer,
) -> None:
    peer = _peer(server)
    session = server.session
    poses = [([0.0, 0.0], [1.0, 0.0]), ([40.0, 0.0], [0.0, 1.0])]
    for values, weights in poses:  # hold the pose, set the weights, record
        _stream(peer, values)
        peer.send(osc("/conductor/weights", *weights))
        peer.send(osc("/conductor/mapping/record"))
        wait_for(lambda w=weights: _target(server) == w, what=f"weights {weights}")
    count = len(poses)
    wait_for(lambda: len(server.call(lambda: session.mapping.examples)) == count, what="examples")
    peer.send(bundle(osc("/conductor/mapping/train"), osc("/conductor/mapping/run", 1)))
    wait_for(lambda: server.call(lambda: session.state()["mapping"]["trained"]), what="trained")
    for values, weights in poses:  # each pose gives its weights back
        _stream(peer, values)
        wait_for(
            lambda w=weights: (
                max(abs(a - b) for a, b in zip(_target(server), w, strict=True)) < TOLERANCE
            ),
            what=f"the mapped weights for {values}",
        )
    _stream(peer, [20.0, 0.0])  # between the two poses: a blend
    wait_for(lambda: 0.2 < _target(server)[1] < 0.8, what="a blend")
    peer.send(osc("/conductor/subscribe", "127.0.0.1", peer.port))
    _stream(peer, [40.0, 0.0])
    deadline_weights = peer.first("/conductor/weights", seconds=30)  # the stream follows
    assert len(deadline_weights) == 2
    peer.send(osc("/conductor/mapping/run", 0))
    peer.send(osc("/conductor/mapping/save", "poses"))
    wait_for(lambda: (server.session.mapping.directory / "poses.json").is_file(), what="saved")
    peer.send(osc("/conductor/unsubscribe", "127.0.0.1", peer.port))
    peer.close()


def _settled(state: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in state.items() if key != "step"}  # (the clock runs)


def test_refused_mapping_messages_get_one_error_each_and_change_nothing(
    server: BackgroundServer,
) -> None:
    peer = _peer(server)
    session = server.session
    for message, complaint in [
        (osc("/conductor/mapping/record"), "no input yet"),
        (osc("/conductor/mapping/train"), "no examples to train on"),
        (osc("/conductor/mapping/run", 1), "not trained"),
        (osc("/conductor/mapping/run", 2), "1 runs the mapping, 0 stops it; got 2"),
        (osc("/conductor/mapping/load", "nowhere"), "no mapping 'nowhere'"),
        (osc("/conductor/mapping/save", "../x"), "not a mapping name"),
        (osc("/conductor/mapping/delete", 0), "no example 0"),
        (osc("/conductor/input"), "takes 1 to 64 arguments"),
        (osc("/conductor/input", *([0.5] * (MAX_INPUTS + 1))), "takes 1 to 64 arguments"),
        (osc("/conductor/input", "tilt"), "expected a number"),
        (bundle(osc("/conductor/input", 1.0), osc("/conductor/mapping/record", "p")), "no preset"),
    ]:
        before = _settled(server.call(session.state))
        peer.send(message)
        assert complaint in peer.first("/conductor/error")[0]
        assert _settled(server.call(session.state)) == before
    peer.close()


def test_wekinator_inputs_and_outputs_on_its_own_port(server: BackgroundServer) -> None:
    """`/wek/inputs` is the mapping's input and `/wek/outputs` the weights in style order, on
    the `--wek-port` socket as on the main one."""
    session = server.session
    wek = _peer(server, wekinator=True)
    wek.send(osc("/wek/inputs", 0.25, 0.75, 0.5))
    wait_for(lambda: server.call(lambda: session.input) == (0.25, 0.75, 0.5), what="the input")
    wek.send(osc("/wek/outputs", 0.0, 1.0))  # Wekinator as the mapper
    wait_for(lambda: _target(server) == [0.0, 1.0], what="Wekinator's weights")
    wek.send(osc("/wek/outputs", 1.0))  # one output per style, or nothing
    assert "takes 2 argument(s)" in wek.first("/conductor/error")[0]
    main = _peer(server)
    main.send(osc("/wek/outputs", 1.0, 0.0))
    wait_for(lambda: _target(server) == [1.0, 0.0], what="on the main port too")
    wek.close()
    main.close()


def test_oscquery_lists_the_mapping_and_the_input_it_takes(server: BackgroundServer) -> None:
    assert server.endpoints is not None and server.endpoints.oscquery is not None
    base = server.endpoints.oscquery

    def tree() -> dict[str, object]:
        found: dict[str, object] = json.loads(urllib.request.urlopen(base, timeout=5).read())
        return found["CONTENTS"]["conductor"]["CONTENTS"]  # type: ignore[index]

    mapping = tree()["mapping"]["CONTENTS"]  # type: ignore[index]
    assert set(mapping) == {"record", "train", "run", "clear", "delete", "save", "load"}
    assert mapping["run"]["TYPE"] == "i" and mapping["run"]["RANGE"] == [{"MIN": 0, "MAX": 1}]
    assert mapping["save"]["TYPE"] == "s" and mapping["record"]["TYPE"] == "s"
    assert tree()["input"]["TYPE"] == "f" and "VALUE" not in tree()["input"]  # type: ignore[index]
    peer = _peer(server)
    peer.send(osc("/conductor/input", 1.0, 2.0, 3.0))
    wait_for(lambda: "VALUE" in tree()["input"], what="the input's value")  # type: ignore[index]
    entry = tree()["input"]  # type: ignore[index]
    assert entry["TYPE"] == "fff" and entry["VALUE"] == [1.0, 2.0, 3.0]
    peer.close()
