from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from conductor.commands import MAPPING_ACTIONS, MAX_RATE, MAX_TEMPERATURE, MAX_WEIGHT, CommandError
from conductor.server.osc import Subscription, address_table, decode
from tests.conftest import LiveServer, expected_view, pending_view, settled_view, wait_for


@pytest.fixture(autouse=True)
def fresh_state(live: LiveServer) -> None:
    live.restore()


def osc(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class Peer:
    """A real UDP socket on 127.0.0.1: sends to the server, reads what comes back."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.backlog: list[tuple[str, list[Any]]] = []

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def messages(self, seconds: float) -> list[tuple[str, list[Any]]]:
        out, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                break
            out += [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
        return out

    def first(self, address: str, seconds: float = 5.0) -> list[Any]:
        """The next `address` message in arrival order (earlier other messages are dropped)."""
        deadline = time.monotonic() + seconds
        while True:
            while self.backlog:
                got, args = self.backlog.pop(0)
                if got == address:
                    return args
            if time.monotonic() > deadline:
                raise AssertionError(f"no {address} within {seconds} s")
            self.backlog += self.messages(0.1)

    def until(self, address: str, seconds: float = 30.0) -> list[tuple[str, list[Any]]]:
        """Every message up to and including the next `address` one."""
        got: list[tuple[str, list[Any]]] = []
        deadline = time.monotonic() + seconds
        while True:
            while self.backlog:
                got.append(self.backlog.pop(0))
                if got[-1][0] == address:
                    return got
            if time.monotonic() > deadline:
                raise AssertionError(f"no {address} within {seconds} s")
            self.backlog += self.messages(0.05)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer(live: LiveServer) -> Iterator[Peer]:
    live.call(lambda: live.session.submit({"type": "set", "weights": {"letters": 1, "digits": 0}}))
    client = Peer(live.osc)
    yield client
    client.send(osc("/conductor/unsubscribe", "127.0.0.1", client.port))
    client.close()


def test_weights_over_real_udp_change_the_stream(live: LiveServer, peer: Peer) -> None:
    peer.send(osc("/conductor/subscribe", "127.0.0.1", peer.port))
    peer.first("/conductor/symbol")
    peer.send(osc("/conductor/weight/digits", 1.0))
    peer.send(osc("/conductor/weight/letters", 0.0))
    deadline = time.monotonic() + 5
    while peer.first("/conductor/weights") != [0.0, 1.0]:
        assert time.monotonic() < deadline
    symbols = [args for address, args in peer.messages(0.5) if address == "/conductor/symbol"]
    symbols = symbols[1:]  # the first may have been in flight before the change
    assert len(symbols) >= 10
    steps = [step for _, step in symbols]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    # A tiny model still gives other symbols a little mass: allow a few strays.
    assert sum(symbol in "0123456789 " for symbol, _ in symbols) >= 0.8 * len(symbols)
    mixed = peer.first("/conductor/mixed")[0]
    assert abs(float(np.frombuffer(mixed, dtype=np.float32).sum()) - 1) < 1e-3


def test_search_over_udp_and_a_narrowing_said_to_subscribers(live: LiveServer, peer: Peer) -> None:
    peer.send(osc("/conductor/subscribe", "127.0.0.1", peer.port))
    peer.first("/conductor/symbol")
    peer.send(osc("/conductor/search", 1, 64, 32))  # far too wide for 1,000 symbols/s
    peer.send(osc("/conductor/rate", 1000.0))
    wait_for(lambda: live.call(lambda: live.session.search_settings.samples) < 64, what="narrowed")
    said = peer.first("/conductor/error", seconds=30)[0]
    assert said.startswith("search 64x32 takes") and "narrowed it to 32x32" in said
    peer.send(osc("/conductor/search", 0))
    wait_for(lambda: live.call(lambda: live.session.conductor.search) is None, what="search off")
    live.restore()


def bundle(*messages: bytes) -> bytes:
    builder = OscBundleBuilder(IMMEDIATELY)
    for message in messages:
        builder.add_content(OscMessage(message))
    return builder.build().dgram


def test_a_bundle_applies_on_one_step(live: LiveServer, peer: Peer) -> None:
    seen: list[list[float]] = []
    live.call(lambda: live.session.add_sink(lambda e: seen.append(getattr(e, "weights", None))))
    peer.send(bundle(osc("/conductor/weight/letters", 0.2), osc("/conductor/weight/digits", 0.8)))
    wait_for(lambda: [0.2, 0.8] in [[round(x, 4) for x in w] for w in seen if w], what="0.2/0.8")
    weights = [w for w in seen if w is not None]
    # Never half a bundle: each step saw the old weights or the new ones.
    assert all([round(x, 4) for x in w] in ([1.0, 0.0], [0.2, 0.8]) for w in weights)


def test_a_scene_is_checked_on_the_state_it_leaves_and_applies_whole(
    live: LiveServer, peer: Peer
) -> None:
    """A control surface's scene: one message per style, the old style zeroed *first*. Alone,
    "letters 0" would leave every weight at zero; in its bundle it is fine, and all of it applies
    on one symbol. A scene that does leave every weight at zero is refused whole."""
    steps: list[Any] = []
    live.call(lambda: live.session.add_sink(lambda e: steps.append(e) if hasattr(e, "by") else 0))
    wait_for(lambda: steps and steps[-1].weights == [1.0, 0.0], what="letters alone")
    peer.send(bundle(osc("/conductor/weight/letters", 0.0), osc("/conductor/weight/digits", 1.0)))
    wait_for(lambda: len([s for s in steps if s.weights == [0.0, 1.0]]) >= 20, what="the scene")
    first = next(i for i, s in enumerate(steps) if s.weights != [1.0, 0.0])
    assert all(s.weights == [0.0, 1.0] and s.by == "digits" for s in steps[first:])
    peer.send(bundle(osc("/conductor/weight/digits", 0.0), osc("/conductor/weight/letters", 0.0)))
    assert "all weights are zero" in peer.first("/conductor/error")[0]
    peer.send(osc("/conductor/get"))
    state = json.loads(peer.first("/conductor/state")[0])
    assert state["target"] == {"letters": 0.0, "digits": 1.0}


def test_get_replies_and_errors_go_back_to_the_sender(peer: Peer) -> None:
    peer.send(osc("/conductor/get"))
    state = json.loads(peer.first("/conductor/state")[0])
    assert state["styles"] == ["letters", "digits"]
    for bad, complaint in [
        (osc("/conductor/weight/jazz", 1.0), "unknown style 'jazz'"),
        (osc("/conductor/weight/letters", "loud"), "expected a number"),
        (osc("/conductor/weights", 1.0), "takes 2 argument"),
        (osc("/elsewhere"), "under /conductor/"),
        (osc("/conductor/subscribe", "10.0.0.1", 9000), "127.0.0.1"),
        (b"\x00\x01garbage", "not an OSC packet"),
    ]:
        peer.send(bad)
        assert complaint in peer.first("/conductor/error")[0]


ADDRESSES = [
    "/conductor/weights",
    "/conductor/weight/letters",
    "/conductor/weight/digits",
    "/conductor/xy",
    "/conductor/prime",
    "/conductor/rate",
    "/conductor/preset",
    "/conductor/save",
    "/conductor/mixer",
    "/conductor/temperature",
    "/conductor/play",
    "/conductor/load",
    "/conductor/unload",
    "/conductor/input",
    "/wek/inputs",
    "/wek/outputs",
    *(f"/conductor/mapping/{action}" for action in MAPPING_ACTIONS),
    "/conductor/nothing",
]
ARGUMENT = st.one_of(
    st.floats(width=32),
    st.floats(-1.5, 1.5, width=32),
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from(["linear", "product", "p1", "letters", "digits", "jazz"]),
    st.text(st.characters(exclude_characters="\x00"), max_size=20),  # (OSC strings end at NUL)
    st.binary(min_size=1, max_size=20),
)
MESSAGE = st.builds(
    lambda address, args: osc(address, *args),
    st.sampled_from(ADDRESSES),
    st.lists(ARGUMENT, max_size=3),
)
# The learnt mapping as a performer drives it: two-number inputs, then each action.
MAPPING_MESSAGE = st.one_of(
    st.builds(
        lambda address, a, b: osc(address, a, b),
        st.sampled_from(["/conductor/input", "/wek/inputs"]),
        st.floats(-10, 10, width=32),
        st.floats(-10, 10, width=32),
    ),
    st.sampled_from(["record", "train", "clear"]).map(lambda a: osc(f"/conductor/mapping/{a}")),
    st.integers(0, 1).map(lambda on: osc("/conductor/mapping/run", on)),
    st.integers(0, 3).map(lambda i: osc("/conductor/mapping/delete", i)),
    st.sampled_from(["save", "load"]).map(lambda a: osc(f"/conductor/mapping/{a}", "m1")),
)
ANY_MESSAGE = st.one_of(MESSAGE, MAPPING_MESSAGE)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=256),
        ANY_MESSAGE,
        st.lists(ANY_MESSAGE, min_size=1, max_size=4).map(lambda ms: bundle(*ms)),
    )
)
def test_fuzz_osc_refused_changes_nothing_accepted_applies(
    live: LiveServer, fuzz_peer: Peer, data: bytes
) -> None:
    """Every datagram, over real UDP: refused ones get exactly one error and change nothing;
    accepted ones apply whole. A `/conductor/get` after each marks where its replies end."""
    session = live.session
    before, learned = settled_view(live)
    fuzz_peer.send(data)
    fuzz_peer.send(osc("/conductor/get"))
    replies = fuzz_peer.until("/conductor/state")
    errors = [args[0] for address, args in replies if address == "/conductor/error"]
    after = live.call(lambda: pending_view(session))
    try:
        decoded = decode(data, address_table(session.names))
    except CommandError as error:
        assert errors == [str(error)]  # the decoder's verdict, word for word
        assert after == before
        return
    if errors:  # decoded, but the state it leaves is unusable
        assert len(errors) == 1 and after == before
    else:
        commands = [item for item in decoded if not isinstance(item, Subscription)]
        assert after == expected_view(before, commands, learned, session.mapping.directory)


@pytest.fixture(scope="module")
def fuzz_peer(live: LiveServer) -> Iterator[Peer]:
    client = Peer(live.osc)
    yield client
    # After it all: the server is alive and obeys a good message.
    live.restore()  # (the fuzz may have left other styles playing)
    client.send(bundle(osc("/conductor/play"), osc("/conductor/rate", 50.0)))
    client.send(bundle(osc("/conductor/mixer", "linear"), osc("/conductor/weights", 0.0, 1.0)))
    client.send(osc("/conductor/subscribe", "127.0.0.1", client.port))
    deadline = time.monotonic() + 30
    while client.first("/conductor/weights") != [0.0, 1.0]:
        assert time.monotonic() < deadline
    assert client.first("/conductor/symbol")
    client.send(osc("/conductor/unsubscribe", "127.0.0.1", client.port))
    client.close()


def test_oscquery_describes_the_address_space(live: LiveServer) -> None:
    assert live.endpoints is not None and live.endpoints.oscquery is not None
    base = live.endpoints.oscquery
    info = json.loads(urllib.request.urlopen(base + "?HOST_INFO", timeout=5).read())
    assert info["OSC_PORT"] == live.osc[1] and info["OSC_TRANSPORT"] == "UDP"
    assert info["OSC_IP"] == "127.0.0.1" and info["NAME"] == "conductor"
    # the WebSocket is the page's own protocol: its port, and no OSCQuery LISTEN streaming
    assert info["WS_IP"] == "127.0.0.1" and f":{info['WS_PORT']}/" in live.endpoints.url
    assert info["EXTENSIONS"]["LISTEN"] is False and info["EXTENSIONS"]["RANGE"] is True
    tree = json.loads(urllib.request.urlopen(base, timeout=5).read())
    weights = tree["CONTENTS"]["conductor"]["CONTENTS"]["weights"]
    assert weights["TYPE"] == "ff" and weights["ACCESS"] == 3
    # The ranges are the session's: what OSCQuery allows, the session takes, and no more.
    assert weights["RANGE"] == [{"MIN": -MAX_WEIGHT, "MAX": MAX_WEIGHT}] * 2
    conductor = tree["CONTENTS"]["conductor"]["CONTENTS"]
    assert conductor["temperature"]["RANGE"] == [{"MIN": 0.0, "MAX": MAX_TEMPERATURE}]
    assert conductor["rate"]["RANGE"] == [{"MIN": 0.0, "MAX": MAX_RATE}]
    assert conductor["mixer"]["RANGE"] == [{"VALS": ["linear", "product"]}]
    assert conductor["step"]["TYPE"] == "i" and conductor["preset"]["TYPE"] == "sf"
    # The edge of the range is taken, a hair past it refused.
    session = live.session
    live.call(lambda: session.submit({"type": "set", "temperature": MAX_TEMPERATURE}))
    with pytest.raises(CommandError, match="temperature"):
        live.call(lambda: session.submit({"type": "set", "temperature": MAX_TEMPERATURE + 0.01}))
    live.call(lambda: session.submit({"type": "set", "temperature": 1.0}))
    node = json.loads(urllib.request.urlopen(base + "conductor/weight/digits", timeout=5).read())
    assert node["FULL_PATH"] == "/conductor/weight/digits" and node["TYPE"] == "f"
    value = json.loads(urllib.request.urlopen(base + "conductor/weights?VALUE", timeout=5).read())
    assert len(value["VALUE"]) == 2


def test_styles_load_and_unload_over_osc_and_oscquery_follows(live: LiveServer, peer: Peer) -> None:
    """Real UDP: `/conductor/unload` takes digits out, one bundle loads it back and weights it
    (applied together, once it is ready); OSCQuery's tree and `/weights` follow the set."""
    assert live.endpoints is not None and live.endpoints.oscquery is not None
    base = live.endpoints.oscquery
    session = live.session

    def tree() -> dict[str, Any]:
        return json.loads(urllib.request.urlopen(base, timeout=5).read())["CONTENTS"]["conductor"][
            "CONTENTS"
        ]

    assert {"load", "unload"} <= set(tree()) and tree()["load"]["TYPE"] == "s"
    peer.send(osc("/conductor/unload", "digits"))
    wait_for(lambda: live.call(lambda: session.names) == ["letters"], what="digits out")
    assert set(tree()["weight"]["CONTENTS"]) == {"letters"}
    assert tree()["weights"]["TYPE"] == "f"
    peer.send(osc("/conductor/unload", "letters"))  # the only style
    assert "the only style" in peer.first("/conductor/error")[0]
    peer.send(
        bundle(
            osc("/conductor/load", "digits"),
            osc("/conductor/weight/digits", 1.0),
            osc("/conductor/weight/letters", 0.0),
        )
    )
    wait_for(lambda: live.call(lambda: session.names) == ["letters", "digits"], what="digits in")
    assert live.call(lambda: session.target) == [0.0, 1.0]  # the bundle's weights, together
    assert set(tree()["weight"]["CONTENTS"]) == {"letters", "digits"}
    assert tree()["weights"]["VALUE"] == [0.0, 1.0]
    peer.send(osc("/conductor/load", "nowhere"))
    assert "style 'nowhere' not found" in peer.first("/conductor/error")[0]


def test_a_token_guards_osc(two_styles: list[Path]) -> None:
    server = LiveServer(two_styles, token="s3cret")
    client = Peer(server.osc)
    try:
        client.send(osc("/conductor/weights", 0.0, 1.0))
        assert "token" in client.first("/conductor/error")[0]
        client.send(osc("/conductor/weights", "s3cret", 0.0, 1.0))
        wait_for(lambda: server.call(lambda: server.session.target) == [0.0, 1.0])
    finally:
        client.close()
        server.stop()


@pytest.mark.skipif(
    not (shutil.which("oscsend") and shutil.which("oscdump")),
    reason="liblo-tools not installed (make test installs it)",
)
def test_liblo_oscsend_steers_and_oscdump_listens(live: LiveServer) -> None:
    host, port = live.osc
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dump_port = probe.getsockname()[1]
    dump = subprocess.Popen(
        ["oscdump", "-L", str(dump_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _bound(dump_port), what="oscdump listening")
        send = ["oscsend", host, str(port)]
        subprocess.run(
            [*send, "/conductor/subscribe", "si", "127.0.0.1", str(dump_port)], check=True
        )
        subprocess.run([*send, "/conductor/weight/digits", "f", "1.0"], check=True)
        subprocess.run([*send, "/conductor/weight/letters", "f", "0.0"], check=True)
        wait_for(lambda: live.call(lambda: live.session.target) == [0.0, 1.0])
        step = live.call(lambda: live.session.step_index)
        wait_for(lambda: live.call(lambda: live.session.step_index) > step + 20)
    finally:
        subprocess.run([*send, "/conductor/unsubscribe", "si", "127.0.0.1", str(dump_port)])
        dump.terminate()
        output = dump.communicate(timeout=5)[0]
    symbols = [line for line in output.splitlines() if "/conductor/symbol" in line]
    assert len(symbols) >= 10, output[:500]
    assert any("/conductor/weights ff 0.000000 1.000000" in line for line in output.splitlines())


def _bound(port: int) -> bool:
    """Is a UDP port on 127.0.0.1 taken (a listener has started)?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
