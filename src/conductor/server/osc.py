"""OSC in and out (python-osc for the codec; our own asyncio UDP endpoint for the transport).

In: the address space below becomes `Command`s. All messages of one datagram — a bundle — are
decoded first and then submitted together, so they take effect on the same step. Anything
malformed (binary garbage, wrong argument types, unknown addresses, bad values) is answered with
`/conductor/error s` to the sender and otherwise ignored; the server keeps generating.

Out: subscribers (`/conductor/subscribe s i`, loopback only unless the server allows remote
hosts) get `/conductor/symbol s i` and `/conductor/by s` for every step, `/conductor/weights f…`
when the weights change, and `/conductor/mixed b` (float32 blob) at display rate. With music on
(`serve --music`): `/conductor/bar i s` (index, ABC text) when a bar is read, and
`/conductor/note i i f` (MIDI pitch, velocity, duration in seconds) as each note sounds.

With a token (required when the server listens beyond 127.0.0.1) every message's first argument
must be the token string.

OSCQuery: `oscquery_app` describes the address space as JSON over HTTP (types, ranges, access,
current values), so tools can discover it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from conductor.session import CommandError, Session, StepEvent

__all__ = ["OscBridge", "oscquery_app"]

log = logging.getLogger("conductor.osc")
PREFIX = "/conductor"
DISPLAY_HZ = 30.0
MAX_SUBSCRIBERS = 32

Translator = Callable[[list[Any]], dict[str, Any]]


@dataclass(frozen=True)
class Method:
    """One address of the input space: argument types, a translator to a command, docs."""

    types: str  # OSC type tags of the arguments ("" for none)
    translate: Translator
    description: str
    minimum: float | None = None
    maximum: float | None = None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise CommandError(f"expected a string, got {type(value).__name__}")
    return value


def _args(count: int, args: list[Any], what: str) -> list[Any]:
    if len(args) != count:
        raise CommandError(f"{what} takes {count} argument(s), got {len(args)}")
    return args


def _methods(names: list[str]) -> dict[str, Method]:
    methods = {
        "/weights": Method(
            "f" * len(names),
            lambda a: {
                "type": "set",
                "weights": dict(
                    zip(names, map(_number, _args(len(names), a, "/weights")), strict=True)
                ),
            },
            "every weight, in style order",
            0.0,
            1.0,
        ),
        "/xy": Method(
            "ff",
            lambda a: {"type": "xy", "x": _number(_args(2, a, "/xy")[0]), "y": _number(a[1])},
            "conducting pad position, x and y in [-1, 1]",
            -1.0,
            1.0,
        ),
        "/temperature": Method(
            "f",
            lambda a: {"type": "set", "temperature": _number(_args(1, a, "/temperature")[0])},
            "sampling temperature (0 = greedy)",
            0.0,
            2.0,
        ),
        "/mixer": Method(
            "s",
            lambda a: {"type": "set", "mixer": _text(_args(1, a, "/mixer")[0])},
            "linear or product",
        ),
        "/prime": Method(
            "s",
            lambda a: {"type": "prime", "text": _text(_args(1, a, "/prime")[0])},
            "feed this text to every model",
        ),
        "/reset": Method("", lambda a: {"type": "reset"}, "forget the history"),
        "/play": Method("", lambda a: {"type": "play"}, "run the clock"),
        "/pause": Method("", lambda a: {"type": "pause"}, "stop the clock"),
        "/step": Method(
            "i",
            lambda a: {"type": "step", "count": int(_number(a[0])) if a else 1},
            "while paused: generate this many symbols (default 1)",
            1,
            10_000,
        ),
        "/rate": Method(
            "f",
            lambda a: {"type": "rate", "chars_per_s": _number(_args(1, a, "/rate")[0])},
            "symbols per second (0 = free-running)",
            0.0,
            240.0,
        ),
        "/preset": Method(
            "sf",
            lambda a: {
                "type": "preset",
                "name": _text(a[0]) if a else "",
                "morph": _number(a[1]) if len(a) > 1 else 0.0,
            },
            "recall a preset, morphing over seconds",
        ),
        "/save": Method(
            "s",
            lambda a: {"type": "save", "name": _text(_args(1, a, "/save")[0])},
            "save the current weights as a preset",
        ),
    }
    for name in names:
        methods[f"/weight/{name}"] = Method(
            "f",
            lambda a, name=name: {  # type: ignore[misc]
                "type": "set",
                "weights": {name: _number(_args(1, a, f"/weight/{name}")[0])},
            },
            f"weight of style {name}",
            0.0,
            1.0,
        )
    return methods


def _message(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        if isinstance(arg, bytes):
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_BLOB)
        elif isinstance(arg, float):
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_FLOAT)
        else:
            builder.add_arg(arg)
    return builder.build().dgram


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class OscBridge(asyncio.DatagramProtocol):
    """The session's OSC endpoint: one UDP socket for input, replies and subscribers."""

    def __init__(
        self, session: Session, token: str | None = None, remote_subscribers: bool = False
    ) -> None:
        self.session = session
        self.token = token
        self.remote_subscribers = remote_subscribers
        self.methods = _methods(session.names)
        self.subscribers: set[tuple[str, int]] = set()
        self.transport: asyncio.DatagramTransport | None = None
        self.refused = 0
        self._last_weights: list[float] | None = None
        self._last_mixed = 0.0
        session.add_sink(self._on_event)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on (host, port); returns the bound address (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        address: tuple[str, int] = transport.get_extra_info("sockname")[:2]
        return address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio's is a datagram one

    def close(self) -> None:
        self.session.remove_sink(self._on_event)
        if self.transport is not None:
            self.transport.close()

    # -- in ------------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        sender = (str(addr[0]), int(addr[1]))
        try:
            messages = [
                (m.message.address, list(m.message.params)) for m in OscPacket(data).messages
            ]
        except Exception:  # python-osc raises several types for garbage; all mean "not OSC"
            self._refuse(sender, f"not an OSC packet ({len(data)} bytes)")
            return
        commands: list[dict[str, Any]] = []
        for address, args in messages:
            try:
                command = self._translate(sender, address, args)
            except CommandError as error:
                self._refuse(sender, f"{address}: {error}")
                return  # a bundle applies whole or not at all
            if command is not None:
                commands.append(command)
        for command in commands:
            try:
                reply = self.session.submit(command)
            except CommandError as error:
                self._refuse(sender, str(error))
                continue
            if reply is not None:
                self._send(sender, _message(f"{PREFIX}/state", json.dumps(reply["state"])))

    def _translate(
        self, sender: tuple[str, int], address: str, args: list[Any]
    ) -> dict[str, Any] | None:
        if self.token is not None:
            given = args[0] if args and isinstance(args[0], str) else ""
            if not hmac.compare_digest(given, self.token):
                raise CommandError("this server needs its token as the first argument")
            args = args[1:]
        if not address.startswith(PREFIX + "/"):
            raise CommandError(f"unknown address; this server answers under {PREFIX}/")
        local = address[len(PREFIX) :]
        if local in ("/subscribe", "/unsubscribe"):
            self._subscription(sender, local == "/subscribe", args)
            return None
        if local == "/get":
            return {"type": "get"}
        method = self.methods.get(local)
        if method is None:
            raise CommandError("unknown address (see the OSCQuery description)")
        return method.translate(args)

    def _subscription(self, sender: tuple[str, int], subscribe: bool, args: list[Any]) -> None:
        host = _text(args[0]) if args else sender[0]
        port = int(_number(args[1])) if len(args) > 1 else sender[1]
        if not 0 < port < 65536:
            raise CommandError(f"port {port} is not a UDP port")
        if not (_is_loopback(host) or self.remote_subscribers):
            raise CommandError("subscribers must be on 127.0.0.1 (this server is local)")
        if subscribe:
            if len(self.subscribers) >= MAX_SUBSCRIBERS:
                raise CommandError(f"at most {MAX_SUBSCRIBERS} subscribers")
            self.subscribers.add((host, port))
            self._last_weights = None  # a new subscriber hears the weights on the next step
        else:
            self.subscribers.discard((host, port))

    def _refuse(self, sender: tuple[str, int], why: str) -> None:
        self.refused += 1
        log.info("OSC from %s:%d refused: %s", sender[0], sender[1], why)
        self._send(sender, _message(f"{PREFIX}/error", why[:500]))

    # -- out -----------------------------------------------------------------------------------

    def _send(self, target: tuple[str, int], packet: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        with contextlib.suppress(OSError):  # an unreachable subscriber must not stop the others
            self.transport.sendto(packet, target)

    def _on_event(self, event: dict[str, Any] | StepEvent) -> None:
        if not self.subscribers:
            return
        if not isinstance(event, StepEvent):
            if event.get("type") == "bar":
                self._on_bar(event)
            return
        packets = [
            _message(f"{PREFIX}/symbol", event.symbol, event.i),
            _message(f"{PREFIX}/by", event.by),
        ]
        if event.weights != self._last_weights:
            self._last_weights = event.weights
            packets.append(_message(f"{PREFIX}/weights", *[float(w) for w in event.weights]))
        now = time.monotonic()
        if now - self._last_mixed >= 1 / DISPLAY_HZ:
            self._last_mixed = now
            mixed = event.steps.mixed[0].exp().numpy().astype(np.float32)  # [V]
            packets.append(_message(f"{PREFIX}/mixed", mixed.tobytes()))
        for packet in packets:
            self._to_subscribers(packet)

    def _on_bar(self, event: dict[str, Any]) -> None:
        """`/conductor/bar i s` now; each note as `/conductor/note i i f` when it sounds."""
        self._to_subscribers(_message(f"{PREFIX}/bar", int(event["index"]), str(event["abc"])))
        if event["starts_in"] is None:
            return  # a bar that could not be read is not played
        loop = asyncio.get_running_loop()
        for pitch, velocity, onset, duration in event["notes"]:
            packet = _message(f"{PREFIX}/note", int(pitch), int(velocity), float(duration))
            loop.call_later(event["starts_in"] + onset, self._to_subscribers, packet)

    def _to_subscribers(self, packet: bytes) -> None:
        for subscriber in list(self.subscribers):
            self._send(subscriber, packet)


def oscquery_app(bridge: OscBridge, osc_port: int) -> FastAPI:
    """OSCQuery (HTTP + JSON) description of the bridge's address space."""
    app = FastAPI(title="conductor OSCQuery", docs_url=None, redoc_url=None)

    def node(local: str, method: Method) -> dict[str, Any]:
        state = bridge.session.state()
        value: list[Any] | None = None
        if local == "/weights":
            value = list(state["target"].values())
        elif local.startswith("/weight/"):
            value = [state["target"][local.removeprefix("/weight/")]]
        elif local in ("/temperature", "/mixer", "/rate"):
            value = [state[local[1:]]]
        entry: dict[str, Any] = {
            "FULL_PATH": PREFIX + local,
            "TYPE": method.types,
            "ACCESS": 3 if value is not None else 2,
            "DESCRIPTION": method.description,
        }
        if value is not None:
            entry["VALUE"] = value
        if method.minimum is not None:
            entry["RANGE"] = [{"MIN": method.minimum, "MAX": method.maximum}] * max(
                1, len(method.types)
            )
        return entry

    def tree() -> dict[str, Any]:
        root: dict[str, Any] = {"FULL_PATH": "/", "ACCESS": 0, "CONTENTS": {}}
        for local, method in bridge.methods.items():
            cursor = root
            parts = [p for p in (PREFIX + local).split("/") if p]
            for depth, part in enumerate(parts[:-1]):
                path = "/" + "/".join(parts[: depth + 1])
                cursor = cursor["CONTENTS"].setdefault(
                    part, {"FULL_PATH": path, "ACCESS": 0, "CONTENTS": {}}
                )
            cursor["CONTENTS"][parts[-1]] = node(local, method)
        return root

    @app.get("/{path:path}")
    async def describe(path: str, request: Request) -> JSONResponse:
        if "HOST_INFO" in request.query_params:
            return JSONResponse(
                {
                    "NAME": "conductor",
                    "OSC_PORT": osc_port,
                    "OSC_TRANSPORT": "UDP",
                    "EXTENSIONS": {
                        "ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True
                    },
                }
            )  # fmt: skip
        found: dict[str, Any] | None = tree()
        for part in [p for p in path.split("/") if p]:
            found = (found or {}).get("CONTENTS", {}).get(part)
        if found is None:
            return JSONResponse({"error": f"no OSC address /{path}"}, status_code=404)
        if "VALUE" in request.query_params:
            return JSONResponse({"VALUE": found.get("VALUE", [])})
        return JSONResponse(found)

    return app
