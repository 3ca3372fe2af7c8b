"""The Open Stage Control surface is made from the address table: every widget sends what the
session's decoder accepts (checked by decoding the very messages the widgets would send), with
the ranges OSCQuery states; the shipped file is what the generator writes today."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from conductor.library import DEFAULT_STYLES
from conductor.server.osc import address_table, decode
from conductor.server.osc.decode import PREFIX
from conductor.server.osc.layout import LEFT_OUT, open_stage_control, to_text

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "docs/open-stage-control.json"
NAMES = ["letters", "digits", "kjv"]


def widgets(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for child in node.get("widgets", []):
        found += [child] if child["type"] != "panel" else widgets(child)
    return found


def message(address: str, tags: str, values: list[Any]) -> bytes:
    builder = OscMessageBuilder(address)
    for tag, value in zip(tags, values, strict=True):
        builder.add_arg(value, tag)
    return builder.build().dgram


def sent(widget: dict[str, Any]) -> list[bytes]:
    """The datagrams a widget would send across its range (or its one message, for a button)."""
    pre, tags = widget["preArgs"], widget["typeTags"]
    if widget["type"] == "button" and widget["mode"] == "toggle":  # its on and off values
        return [message(widget["address"], tags, [*pre, v]) for v in (widget["on"], widget["off"])]
    if widget["type"] == "button":  # its script sends the address with the preArgs only
        call = re.fullmatch(r"if \(value\) send\((.*)\)", widget["onValue"])
        assert call is not None and widget["bypass"] is True
        address, *args = json.loads(f"[{call.group(1)}]")
        return [message(address, "s" * len(args), args)]
    if widget["type"] == "xy":
        x, y = widget["rangeX"], widget["rangeY"]
        points = [(x["min"], y["min"]), (x["max"], y["max"]), ((x["min"] + x["max"]) / 2, y["min"])]
        return [message(widget["address"], tags, [*pre, a, b]) for a, b in points]
    if widget["type"] == "fader":
        low, high = widget["range"]["min"], widget["range"]["max"]
        values = [low, high, (low + high) / 2]
        if tags[-1] == "i":
            values = [int(v) for v in values]
        return [message(widget["address"], tags, [*pre, v]) for v in values]
    if widget["type"] == "switch":
        return [message(widget["address"], tags, [*pre, v]) for v in widget["values"]]
    assert widget["type"] == "input"
    return [message(widget["address"], tags, [*pre, "calm"])]


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_every_widget_sends_what_the_session_accepts(token: str | None) -> None:
    table = address_table(NAMES)
    session = open_stage_control(table, "127.0.0.1:9000", token)
    assert session["type"] == "session" and session["content"]["type"] == "root"
    found = widgets(session["content"])
    addresses = [widget["address"] for widget in found]
    assert len(addresses) == len(set(addresses))  # one widget per address
    assert sorted(addresses) == sorted(PREFIX + path for path in table if path not in LEFT_OUT)
    for widget in found:
        assert widget["target"] == ["127.0.0.1:9000"] and widget["ignoreDefaults"] is True
        assert widget["preArgs"] == ([token] if token else [])
        for datagram in sent(widget):
            decode(datagram, table, token=token)  # raises CommandError if the session would refuse


def test_the_ranges_are_the_ones_oscquery_states() -> None:
    table = address_table(NAMES)
    by_address = {w["address"]: w for w in widgets(open_stage_control(table, "h:1")["content"])}
    for path, address in table.items():
        widget = by_address.get(PREFIX + path)
        if widget is None or widget["type"] != "fader":
            continue
        stated = address.arguments[0].spec.describe()  # OSCQuery's RANGE for the argument
        assert widget["range"] == {"min": stated["MIN"], "max": stated["MAX"]}
    assert by_address["/conductor/mixer"]["values"] == ["linear", "product"]
    assert {f"/conductor/weight/{n}" for n in NAMES} <= set(by_address)
    assert by_address["/conductor/weight/kjv"]["horizontal"] is False  # a mixing desk's faders


def test_the_shipped_layout_is_what_the_generator_writes_for_the_shipped_styles() -> None:
    fresh = to_text(open_stage_control(address_table(DEFAULT_STYLES), "127.0.0.1:9000"))
    assert SHIPPED.read_text() == fresh, (
        "regenerate: conductor layout --out docs/open-stage-control.json"
    )
