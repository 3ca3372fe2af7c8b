"""A control surface for Open Stage Control (an open, cross-platform OSC surface), generated from
the same address table as OSCQuery: a fader per style, the conducting pad, a fader for each
bounded number, a switch for each choice, a text field for each string, a button for each
command without arguments. What it sends is what the session accepts, by construction.

The file is an Open Stage Control session (v1 format: `{"type": "session", "content": root}`);
a property left out takes the widget's default.
"""

from __future__ import annotations

import html
import json
from typing import Any

from conductor.server.osc.decode import PREFIX, Address

__all__ = ["LEFT_OUT", "OPEN_STAGE_CONTROL_VERSION", "open_stage_control", "to_text"]

OPEN_STAGE_CONTROL_VERSION = "1.29.0"  # the session format written
# Addresses with no widget: the faders set every weight already; /get replies to its sender;
# the mapping's input is a vector a sensor sends, not a widget.
LEFT_OUT = ("/weights", "/get", "/input")


def _osc(address: Address, target: str, token: str | None) -> dict[str, Any]:
    """The OSC properties every widget shares: where it sends, what it sends before its value."""
    return {
        "address": PREFIX + address.path,
        "preArgs": [token] if token is not None else [],
        "typeTags": ("s" if token is not None else "") + address.types,
        "target": [target],
        "ignoreDefaults": True,
    }


def _label(text: str) -> str:
    return f"<label>{html.escape(text)}</label>"


def _widget(address: Address, target: str, token: str | None) -> dict[str, Any]:
    specs = [argument.spec for argument in address.arguments]
    key = address.path.strip("/").replace("/", "_")
    base = {"id": key, "comments": address.description, **_osc(address, target, token)}
    if address.path == "/xy":
        x, y = specs
        return {
            **base, "type": "xy", "expand": True,
            "rangeX": {"min": x.minimum, "max": x.maximum},
            "rangeY": {"min": y.minimum, "max": y.maximum},
            "decimals": 3,
        }  # fmt: skip
    if address.required == 0:  # a command: a button that sends the address with no value
        args = ", ".join(json.dumps(v) for v in ([token] if token is not None else []))
        send = f"send({json.dumps(PREFIX + address.path)}{', ' + args if args else ''})"
        return {
            **base, "type": "button", "mode": "tap", "label": address.path.strip("/"),
            "bypass": True, "onValue": f"if (value) {send}",
        }  # fmt: skip
    first = specs[0]
    label = _label(address.path.removeprefix("/weight/").strip("/"))
    base = {**base, "typeTags": base["typeTags"][: len(base["preArgs"]) + 1]}  # the first only
    if first.tag == "i" and (first.minimum, first.maximum) == (0, 1):  # on/off: a toggle
        return {
            **base, "type": "button", "mode": "toggle", "label": address.path.strip("/"),
            "on": 1, "off": 0,
        }  # fmt: skip
    if first.choices is not None:
        return {**base, "type": "switch", "html": label, "values": list(first.choices)}
    if first.tag == "s":
        return {**base, "type": "input", "html": label, "asYouType": False}
    if first.minimum is not None and first.maximum is not None:
        whole = first.tag == "i"
        return {
            **base, "type": "fader", "html": label, "expand": True,
            "horizontal": not address.path.startswith("/weight/"),
            "range": {"min": first.minimum, "max": first.maximum},
            "decimals": 0 if whole else 3,
        }  # fmt: skip
    return {**base, "type": "input", "html": label, "asYouType": False}


def open_stage_control(
    table: dict[str, Address], target: str, token: str | None = None
) -> dict[str, Any]:
    """An Open Stage Control session for `table` (an ensemble's address space) that sends to
    `target` ("host:port" of conductor's OSC server), with `token` first where one is needed."""
    weights: list[dict[str, Any]] = []
    pad: list[dict[str, Any]] = []
    controls: list[dict[str, Any]] = []
    for path, address in table.items():
        if path in LEFT_OUT:
            continue
        widget = _widget(address, target, token)
        (weights if path.startswith("/weight/") else pad if path == "/xy" else controls).append(
            widget
        )
    panel = {"type": "panel", "expand": True, "innerPadding": False}
    root = {
        "type": "root", "id": "root", "layout": "vertical",
        "widgets": [
            {**panel, "id": "styles", "layout": "horizontal", "widgets": weights},
            {
                **panel, "id": "conduct", "layout": "horizontal",
                "widgets": [
                    {**panel, "id": "pad", "layout": "vertical", "widgets": pad},
                    {**panel, "id": "controls", "layout": "vertical", "widgets": controls},
                ],
            },
        ],
    }  # fmt: skip
    return {
        "createdWith": "conductor",
        "version": OPEN_STAGE_CONTROL_VERSION,
        "type": "session",
        "content": root,
    }


def to_text(session: dict[str, Any]) -> str:
    return json.dumps(session, indent=2) + "\n"
