from __future__ import annotations

import gc
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from conductor.commands import (
    MAPPING_ACTIONS,
    MAX_RATE,
    MAX_TEMPERATURE,
    MAX_WEIGHT,
    parse_command,
)
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.generate import Conductor
from conductor.search import MAX_DEPTH, MAX_SAMPLES
from conductor.server.run import BackgroundServer
from conductor.session import Session
from tests.conftest import LiveServer, expected_view, pending_view, settled_view


@pytest.fixture(autouse=True)
def fresh_state(live: LiveServer) -> None:
    live.restore()


def receive(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of type `kind` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message["type"] == kind:
            return message


def until_state(ws: ClientConnection, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first state event whose state satisfies `ok` (a set applied also sends its state)."""
    deadline = time.monotonic() + 5.0
    while not ok(state := receive(ws, "state", max(0.01, deadline - time.monotonic()))["state"]):
        pass
    return state


@pytest.fixture
def ws(live: LiveServer) -> Iterator[ClientConnection]:
    with connect(live.ws_url, max_size=None) as client:
        live.call(
            lambda: live.session.submit({"type": "set", "weights": {"letters": 1, "digits": 0}})
        )
        yield client


def test_hello_then_a_stream_of_steps(ws: ClientConnection) -> None:
    hello = receive(ws, "hello")
    assert hello["styles"] == ["letters", "digits"] and len(hello["pad"]) == 2
    assert hello["ranges"] == {  # the command models' own, for the page's controls
        "weight": [-MAX_WEIGHT, MAX_WEIGHT],
        "temperature": [0.0, MAX_TEMPERATURE],
        "rate": [0.0, MAX_RATE],
        "search_samples": [1, MAX_SAMPLES],
        "search_depth": [1, MAX_DEPTH],
    }
    steps = [receive(ws, "step") for _ in range(5)]
    assert [s["i"] for s in steps] == list(range(steps[0]["i"], steps[0]["i"] + 5))
    assert all(len(s["symbol"]) == 1 and s["by"] in ("letters", "digits") for s in steps)


def test_hello_lists_the_library_and_load_unload_change_the_set(ws: ClientConnection) -> None:
    hello = receive(ws, "hello")
    listed = {entry["name"]: entry["about"] for entry in hello["library"]}
    assert {"letters", "digits"} <= set(listed)  # the styles directory's, and the shipped ones
    assert listed.get("kjv", "").startswith("The King James Bible")  # its card's first line
    ws.send(json.dumps({"type": "unload", "style": "digits"}))
    state = until_state(ws, lambda s: s["styles"] == ["letters"])
    assert state["pad"] == [[0.0, 1.0]] and state["target"] == {"letters": 1.0}
    ws.send(json.dumps({"type": "load", "style": "nowhere"}))
    assert "style 'nowhere' not found" in receive(ws, "error")["message"]
    ws.send(
        json.dumps(
            [{"type": "load", "style": "digits"}, {"type": "set", "weights": {"digits": 0.5}}]
        )
    )
    state = until_state(ws, lambda s: s["styles"] == ["letters", "digits"])
    assert state["target"] == {"letters": 1.0, "digits": 0.5} and len(state["pad"]) == 2
    assert receive(ws, "step")["weights"].keys() == {"letters", "digits"}


def test_a_weight_set_over_the_socket_steers_the_following_symbols(ws: ClientConnection) -> None:
    receive(ws, "step")
    ws.send(json.dumps({"type": "set", "weights": {"letters": 0.0, "digits": 1.0}}))
    deadline = time.monotonic() + 5
    while (step := receive(ws, "step"))["weights"] != {"letters": 0.0, "digits": 1.0}:
        assert time.monotonic() < deadline
    following = [step] + [receive(ws, "step") for _ in range(10)]
    assert all(s["by"] == "digits" for s in following)
    assert sum(s["symbol"] in "0123456789 " for s in following) >= 8  # a stray or two allowed


def test_distributions_follow_at_display_rate(live: LiveServer, ws: ClientConnection) -> None:
    live.call(lambda: live.session.submit({"type": "rate", "chars_per_s": 0}))  # free-running
    try:
        last_step = receive(ws, "step")["i"]
        start, steps, dists = time.monotonic(), 0, 0
        while steps < 300:
            message = json.loads(ws.recv(timeout=30))
            if message["type"] == "step":
                steps += 1
                last_step = message["i"]
            elif message["type"] == "dists":
                dists += 1
                assert message["i"] == last_step  # right after its own step
                assert len(message["mixed"]) == 128 and len(message["per_model"]) == 2
                assert abs(sum(message["mixed"]) - 1) < 0.02
                ran = [row for row in message["per_model"] if row is not None]  # null: skipped
                assert ran and all(abs(sum(row) - 1) < 0.02 for row in ran)
        elapsed = time.monotonic() - start
    finally:
        live.call(lambda: live.session.submit({"type": "rate", "chars_per_s": 50}))
    # Never more than the display rate (a slow machine sends fewer, never more), never none.
    assert 1 <= dists <= 60 * elapsed + 2 and dists < steps


def test_a_scene_in_one_message_is_checked_whole_and_applies_on_one_symbol(
    ws: ClientConnection,
) -> None:
    """A JSON array of commands is one atomic message: letters zeroed first is fine because
    digits gets its weight in the same message; a scene that leaves nothing is refused whole."""
    receive(ws, "step")
    scene = [
        {"type": "set", "weights": {"letters": 0.0}},
        {"type": "set", "weights": {"digits": 1.0}, "temperature": 0.5},
    ]
    ws.send(json.dumps(scene))
    seen = [receive(ws, "step")]
    while seen[-1]["weights"] != {"letters": 0.0, "digits": 1.0}:
        assert seen[-1]["weights"] == {"letters": 1.0, "digits": 0.0}  # never half of the scene
        seen.append(receive(ws, "step"))
    ws.send(json.dumps([{"type": "get"}]))
    assert receive(ws, "state")["state"]["temperature"] == 0.5
    ws.send(
        json.dumps([{"type": "set", "weights": {"digits": 0}}, {"type": "rate", "chars_per_s": 7}])
    )
    assert "all weights are zero" in receive(ws, "error")["message"]
    ws.send(json.dumps([{"type": "rate", "chars_per_s": 7}, {"type": "dance"}]))
    assert "command 2 of 2: unknown command type 'dance'" in receive(ws, "error")["message"]
    ws.send(json.dumps({"type": "get"}))
    state = receive(ws, "state")["state"]
    assert state["rate"] != 7 and state["target"] == {"letters": 0.0, "digits": 1.0}
    ws.send(json.dumps({"type": "set", "temperature": 1.0}))


def test_bad_messages_get_error_events_and_the_stream_goes_on(ws: ClientConnection) -> None:
    for bad, complaint in [
        ("{nope", "not JSON"),
        (json.dumps({"type": "set", "weights": {"jazz": 1}}), "unknown style 'jazz'"),
        (json.dumps({"type": "set", "weights": {"letters": float("nan")}}), "weights.letters"),
    ]:
        ws.send(bad)
        assert complaint in receive(ws, "error")["message"]
    ws.send(b"\x00\xff binary")
    assert "binary" in receive(ws, "error")["message"]
    ws.send(json.dumps({"type": "get"}))
    assert receive(ws, "state")["state"]["styles"] == ["letters", "digits"]
    receive(ws, "step")


COMMANDS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["set", "xy", "rate", "save", "preset", "pause", "play", "learn", "load", "unload"]
        )
    },
    optional={
        "weights": st.dictionaries(
            st.sampled_from(["letters", "digits", "jazz"]), st.floats(-1.5, 1.5), max_size=2
        ),
        "temperature": st.floats(-1, 6),
        "mixer": st.sampled_from(["linear", "product", "jazz"]),
        "x": st.floats(-1.2, 1.2),
        "y": st.floats(-1.2, 1.2),
        "chars_per_s": st.floats(0, 80),
        "name": st.sampled_from(["p1", "p2", ""]),
        "style": st.sampled_from(["letters", "digits", "jazz", "../x"]),
    },
)


# The learnt mapping's commands: inputs (mostly of two numbers), each action as it is sent, and
# actions with fields they do not take.
def _mapping(action: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"type": st.just("mapping"), "action": st.just(action), **fields})


MAPPING_COMMANDS = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("input"), "values": st.lists(st.floats(-10, 10), min_size=2, max_size=2)}
    ),
    st.fixed_dictionaries(
        {"type": st.just("input"), "values": st.lists(st.floats(-10, 10), max_size=3)}
    ),
    _mapping("record"),
    _mapping("record", preset=st.sampled_from(["p1", "p2"])),
    _mapping("train"),
    _mapping("run", on=st.booleans()),
    _mapping("clear"),
    _mapping("delete", example=st.integers(-1, 3)),
    _mapping("save", name=st.sampled_from(["m1", "m2", "../m"])),
    _mapping("load", name=st.sampled_from(["m1", "m2"])),
    st.fixed_dictionaries(
        {"type": st.just("mapping"), "action": st.sampled_from([*MAPPING_ACTIONS, "fly"])},
        optional={"on": st.booleans(), "example": st.integers(0, 3), "name": st.just("m1")},
    ),
)
ANY_COMMAND = st.one_of(COMMANDS, MAPPING_COMMANDS, MAPPING_COMMANDS)
JUNK = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "weights", "text", "x", "y", "name", "count"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=8,
)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        JUNK.map(json.dumps),
        ANY_COMMAND.map(json.dumps),
        st.lists(ANY_COMMAND, min_size=1, max_size=4).map(json.dumps),
    )
)
def test_fuzz_the_socket_refused_changes_nothing_accepted_applies(
    live: LiveServer, fuzz_ws: ClientConnection, message: str | bytes
) -> None:
    """Every message: refused ones get one error and change nothing; accepted ones apply as
    the protocol says. A `get` after each marks where its replies end."""
    session = live.session
    before, learned = settled_view(live)
    fuzz_ws.send(message)
    fuzz_ws.send(json.dumps({"type": "get", "id": "end"}))  # its reply ends this message's
    errors = []
    while (reply := json.loads(fuzz_ws.recv(timeout=30))).get("id") != "end":
        if reply["type"] == "error":
            errors.append(reply["message"])
    after = live.call(lambda: pending_view(session))
    if errors:
        assert len(errors) == 1 and after == before
        return
    assert isinstance(message, str)
    parsed = json.loads(message)
    commands = [parse_command(c) for c in (parsed if isinstance(parsed, list) else [parsed])]
    assert after == expected_view(before, commands, learned, session.mapping.directory)


@pytest.fixture(scope="module")
def fuzz_ws(live: LiveServer) -> Iterator[ClientConnection]:
    with connect(live.ws_url, max_size=None) as client:
        yield client
        # After it all: the server is alive and obeys a good message.
        live.restore()  # (the fuzz may have left other styles playing)
        client.send(
            json.dumps(
                [
                    {"type": "play"},
                    {"type": "rate", "chars_per_s": 50},
                    {"type": "learn", "style": None},
                    {"type": "set", "weights": {"letters": 0, "digits": 1}, "mixer": "linear"},
                    {"type": "set", "temperature": 1.0},
                ]
            )
        )
    with connect(live.ws_url) as check:
        receive(check, "hello")
        deadline = time.monotonic() + 30
        while receive(check, "step")["weights"] != {"letters": 0.0, "digits": 1.0}:
            assert time.monotonic() < deadline


def test_the_page_and_state_are_served(live: LiveServer) -> None:
    assert live.endpoints is not None
    page = urllib.request.urlopen(live.endpoints.url, timeout=5).read().decode()
    assert '<canvas id="pad"' in page and "/static/app.js" in page
    script = urllib.request.urlopen(live.endpoints.url + "static/app.js", timeout=5).read()
    assert b"WebSocket" in script
    state = json.loads(urllib.request.urlopen(live.endpoints.url + "state", timeout=5).read())
    assert state["styles"] == ["letters", "digits"]


def test_a_token_is_checked_and_required_beyond_localhost(two_styles: list[Path]) -> None:
    server = LiveServer(two_styles, token="s3cret")
    try:
        with pytest.raises(InvalidStatus, match="403"):
            connect(server.ws_url)
        with connect(server.ws_url + "?token=s3cret") as client:
            assert receive(client, "hello")["styles"] == ["letters", "digits"]
    finally:
        server.stop()
    session = Session(Conductor(Ensemble.from_checkpoints(two_styles)))
    with pytest.raises(ConductorError, match="add --token"):
        BackgroundServer(session, host="0.0.0.0", port=0, osc_port=None)


def test_the_server_takes_its_start_out_of_the_collectors_reach(two_styles: list[Path]) -> None:
    """A full collection over everything the start made (models, libraries, the app) is a stall
    of several symbols; `serve` freezes those objects before the clock starts."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    server = LiveServer(two_styles)
    try:
        assert gc.get_freeze_count() > 10_000
    finally:
        server.stop()
        gc.unfreeze()


def test_two_browsers_share_one_session(live: LiveServer) -> None:
    with connect(live.ws_url) as first, connect(live.ws_url) as second:
        receive(first, "hello")
        receive(second, "hello")
        first.send(json.dumps({"type": "set", "weights": {"letters": 0.3, "digits": 0.7}}))
        deadline = time.monotonic() + 5
        while receive(second, "step")["weights"] != {"letters": 0.3, "digits": 0.7}:
            assert time.monotonic() < deadline
        second.send(json.dumps({"type": "pause"}))
        until_state(first, lambda state: state["paused"] is True)
        second.send(json.dumps({"type": "play"}))
        until_state(first, lambda state: state["paused"] is False)


def test_the_page_and_its_socket_over_https(two_styles: list[Path], tmp_path: Path) -> None:
    """`serve --tls-cert --tls-key`: the page over HTTPS and the WebSocket over WSS (a phone
    gives a page its tilt only in a secure context); a missing or broken certificate is one
    line, before anything listens."""
    import ssl

    import trustme

    from conductor.server.run import Tls

    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    session = Session(Conductor(Ensemble.from_checkpoints(two_styles)), [1.0, 0.0], rate=30)
    server = BackgroundServer(session, port=0, osc_port=None, tls=Tls(cert, key))
    try:
        assert server.endpoints is not None and server.endpoints.url.startswith("https://")
        page = urllib.request.urlopen(server.endpoints.url, timeout=5, context=trusting).read()
        assert b"/static/app.js" in page
        url = server.endpoints.url.replace("https://", "wss://") + "ws"
        with connect(url, ssl=trusting) as client:
            assert receive(client, "hello")["styles"] == ["letters", "digits"]
            assert receive(client, "step")["symbol"]
    finally:
        server.stop()
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
    for tls, complaint in [
        (Tls(tmp_path / "nowhere.pem", key), "TLS certificate .*nowhere.pem is not a file"),
        (Tls(tmp_path / "broken.pem", key), "cannot serve the page over TLS"),
    ]:
        again = Session(Conductor(Ensemble.from_checkpoints(two_styles)), [1.0, 0.0])
        with pytest.raises(ConductorError, match=complaint):
            BackgroundServer(again, port=0, osc_port=None, tls=tls)
