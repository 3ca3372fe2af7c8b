"""OSC datagram → commands, as a pure function: no socket, no session, testable alone.

The address space is derived from the command models (`conductor.commands`): each address names
the command fields its arguments fill, and takes their OSC type tags and ranges from the fields
themselves, so OSC, OSCQuery and the session cannot disagree on a range.

A datagram — one message or a bundle of them — decodes whole or not at all: the first bad
message makes `decode` raise a `CommandError` naming its address, and nothing of the datagram is
used. Whether the commands' end state is usable (a scene that zeroes one style before it weights
another) is the session's check, on all of them together (`Session.submit_all`).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pythonosc.osc_packet import OscPacket

from conductor.commands import (
    MAX_INPUT,
    WEIGHT,
    BaseCommand,
    Command,
    CommandError,
    FieldSpec,
    GetCommand,
    LoadCommand,
    MappingCommand,
    PauseCommand,
    PlayCommand,
    PresetCommand,
    PrimeCommand,
    RateCommand,
    ResetCommand,
    SaveCommand,
    SearchOption,
    SetCommand,
    StepCommand,
    UnloadCommand,
    XyCommand,
    field_spec,
    parse_command,
)
from conductor.learning import MAX_INPUTS

__all__ = ["PREFIX", "WEKINATOR", "Address", "Argument", "Subscription", "address_table", "decode"]

PREFIX = "/conductor"
# Wekinator's conventions, outside PREFIX: what FaceOSC, LeapMotion and phone bridges send it
# (`/wek/inputs f...`), and what it sends a synth (`/wek/outputs f...`: here, the weights in
# style order), so a performer's wiring works unchanged.
WEKINATOR = {"/wek/inputs": "/input", "/wek/outputs": "/weights"}
SEARCH_FIELDS = ("samples", "depth", "balance", "margin")  # /conductor/search's optional arguments


@dataclass(frozen=True)
class Argument:
    name: str  # the command field it fills, for the description
    spec: FieldSpec


@dataclass(frozen=True)
class Address:
    """One input address: its arguments (from the command fields) and the command they make."""

    path: str  # under PREFIX, e.g. "/temperature"
    description: str
    arguments: tuple[Argument, ...]
    build: Callable[[list[Any]], dict[str, Any]]
    required: int  # leading arguments that must be given; the rest take their defaults
    state_key: str | None = None  # the state entry OSCQuery shows as this address's VALUE
    variadic: bool = False  # 1 to MAX_INPUTS arguments, each of the one argument's spec

    @property
    def types(self) -> str:
        return "".join(argument.spec.tag for argument in self.arguments)


@dataclass(frozen=True)
class Subscription:
    """`/conductor/subscribe` or `/unsubscribe`: where to send the messages out."""

    subscribe: bool
    host: str
    port: int


def _fields(
    path: str,
    model: type[BaseCommand],
    fields: Sequence[str],
    description: str,
    required: int | None = None,
    state_key: str | None = None,
) -> Address:
    kind = model.model_fields["type"].default
    arguments = tuple(Argument(name, field_spec(model, name)) for name in fields)

    def build(values: list[Any]) -> dict[str, Any]:
        return {"type": kind, **dict(zip(fields, values, strict=False))}

    count = len(fields) if required is None else required
    return Address(path, description, arguments, build, count, state_key)


def _mapping(path: str, fields: Sequence[str], description: str, required: int = 0) -> Address:
    """`/mapping/<action>`: the mapping command with that action, its fields from arguments."""
    action = path.removeprefix("/mapping/")
    specs = {"on": FieldSpec("i", 0, 1)}  # OSC has no bool everywhere: 1 on, 0 off
    arguments = tuple(
        Argument(name, specs.get(name) or field_spec(MappingCommand, name)) for name in fields
    )

    def build(values: list[Any]) -> dict[str, Any]:
        given = dict(zip(fields, values, strict=False))
        if "on" in given:
            if given["on"] not in (0, 1):
                raise CommandError(f"1 runs the mapping, 0 stops it; got {given['on']}")
            given["on"] = given["on"] == 1
        return {"type": "mapping", "action": action, **given}

    return Address(path, description, arguments, build, required)


def address_table(names: Sequence[str]) -> dict[str, Address]:
    """The input address space for an ensemble of styles `names` (paths under PREFIX)."""
    style_names = list(names)
    table = [
        Address(
            "/weights",
            "every weight, in style order",
            tuple(Argument(name, WEIGHT) for name in style_names),
            lambda values: {"type": "set", "weights": dict(zip(style_names, values, strict=True))},
            len(style_names),
            "target",
        ),
        _fields("/xy", XyCommand, ("x", "y"), "conducting pad position, x and y"),
        _fields(
            "/temperature", SetCommand, ("temperature",), "sampling temperature (0 = greedy)",
            state_key="temperature",
        ),
        _fields("/mixer", SetCommand, ("mixer",), "how the styles mix", state_key="mixer"),
        _fields("/prime", PrimeCommand, ("text",), "feed this text to every model"),
        _fields("/reset", ResetCommand, (), "forget the history"),
        _fields("/play", PlayCommand, (), "run the clock"),
        _fields("/pause", PauseCommand, (), "stop the clock"),
        _fields(
            "/step", StepCommand, ("count",), "while paused: generate this many symbols",
            required=0,
        ),
        _fields(
            "/rate", RateCommand, ("chars_per_s",), "symbols per second (0 = free-running)",
            state_key="rate",
        ),
        _fields(
            "/preset", PresetCommand, ("name", "morph"),
            "recall a preset, morphing over seconds", required=1,
        ),
        _fields("/save", SaveCommand, ("name",), "save the current weights as a preset"),
        _fields("/get", GetCommand, (), "reply /conductor/state s: the state as JSON"),
        _fields(
            "/load", LoadCommand, ("style",),
            "add a style from the library (weight 0; it reads the text first)",
        ),
        _fields("/unload", UnloadCommand, ("style",), "take a style out of the ensemble"),
        Address(
            "/search",
            "lookahead search: 1 on, 0 off; then samples, depth, balance, margin (each optional)",
            (
                Argument("on", FieldSpec("i", 0, 1)),
                *(Argument(name, field_spec(SearchOption, name)) for name in SEARCH_FIELDS),
            ),
            lambda values: {
                "type": "set",
                "search": {"on": values[0], **dict(zip(SEARCH_FIELDS, values[1:], strict=False))},
            },
            1,
        ),
        Address(
            "/input",
            f"an input vector for the learnt mapping: 1 to {MAX_INPUTS} floats, one length per "
            "mapping (also /wek/inputs)",
            (Argument("values", FieldSpec("f", -MAX_INPUT, MAX_INPUT)),),
            lambda values: {"type": "input", "values": values},
            1,
            "mapping",
            variadic=True,
        ),
        _mapping(
            "/mapping/record", ("preset",),
            "record an example: the latest input with the current weights (or a preset's)",
        ),
        _mapping("/mapping/train", (), "train the mapping on its examples"),
        _mapping("/mapping/run", ("on",), "run the mapping (1) or stop it (0)", required=1),
        _mapping("/mapping/clear", (), "forget every example and the trained mapping"),
        _mapping("/mapping/delete", ("example",), "delete one example (from 0)", required=1),
        _mapping("/mapping/save", ("name",), "save the mapping under this name", required=1),
        _mapping("/mapping/load", ("name",), "load the mapping saved under this name", required=1),
    ]  # fmt: skip
    table.extend(_weight_address(name) for name in style_names)
    return {address.path: address for address in table}


def _weight_address(name: str) -> Address:
    return Address(
        f"/weight/{name}",
        f"weight of style {name}",
        (Argument(name, WEIGHT),),
        lambda values: {"type": "set", "weights": {name: values[0]}},
        1,
        "target",
    )


def _value(value: Any, spec: FieldSpec) -> Any:
    """One OSC argument as its field's type (ints for floats are fine; the reverse only if
    integral); the range is checked by the command model."""
    if spec.tag == "s":
        if not isinstance(value, str):
            raise CommandError(f"expected a string, got {type(value).__name__}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(f"expected a number, got {type(value).__name__}")
    if spec.tag == "i":
        if not math.isfinite(value) or value != int(value):
            raise CommandError(f"expected a whole number, got {value}")
        return int(value)
    return float(value)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _subscription(
    sender: tuple[str, int], subscribe: bool, args: list[Any], remote: bool
) -> Subscription:
    host = _value(args[0], FieldSpec("s")) if args else sender[0]
    port = _value(args[1], FieldSpec("i")) if len(args) > 1 else sender[1]
    if len(args) > 2:
        raise CommandError(f"takes at most 2 arguments (host, port), got {len(args)}")
    if not 0 < port < 65536:
        raise CommandError(f"port {port} is not a UDP port")
    if not (_is_loopback(host) or remote):
        raise CommandError("subscribers must be on 127.0.0.1 (this server is local)")
    return Subscription(subscribe, host, port)


def _message(
    table: dict[str, Address],
    address: str,
    args: list[Any],
    sender: tuple[str, int],
    token: str | None,
    remote: bool,
) -> Command | Subscription:
    if token is not None:
        given = args[0] if args and isinstance(args[0], str) else ""
        if not hmac.compare_digest(given, token):
            raise CommandError("this server needs its token as the first argument")
        args = args[1:]
    if address in WEKINATOR:
        local = WEKINATOR[address]
    elif not address.startswith(PREFIX + "/"):
        raise CommandError(f"unknown address; this server answers under {PREFIX}/")
    else:
        local = address[len(PREFIX) :]
    if local in ("/subscribe", "/unsubscribe"):
        return _subscription(sender, local == "/subscribe", args, remote)
    entry = table.get(local)
    if entry is None and local.startswith("/weight/") and local.count("/") == 2:
        # a style not playing yet (loaded by this very bundle?): the session knows
        entry = _weight_address(local.removeprefix("/weight/"))
    if entry is None:
        raise CommandError("unknown address (see the OSCQuery description)")
    if entry.variadic:
        if not 1 <= len(args) <= MAX_INPUTS:
            raise CommandError(f"takes 1 to {MAX_INPUTS} arguments (f...), got {len(args)}")
        spec = entry.arguments[0].spec
        return parse_command(entry.build([_value(value, spec) for value in args]))
    if not entry.required <= len(args) <= len(entry.arguments):
        wanted = (
            str(entry.required)
            if entry.required == len(entry.arguments)
            else f"{entry.required} to {len(entry.arguments)}"
        )
        raise CommandError(f"takes {wanted} argument(s) ({entry.types or 'none'}), got {len(args)}")
    values = [
        _value(value, argument.spec) for value, argument in zip(args, entry.arguments, strict=False)
    ]
    return parse_command(entry.build(values))


def decode(
    data: bytes,
    table: dict[str, Address],
    sender: tuple[str, int] = ("127.0.0.1", 0),
    token: str | None = None,
    remote_subscribers: bool = False,
) -> list[Command | Subscription]:
    """Every message of a datagram as a validated command or subscription, in order; or a
    `CommandError` for the first that is not (prefixed with its address)."""
    try:
        messages = [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
    except Exception:  # python-osc raises several types for garbage; all mean "not OSC"
        raise CommandError(f"not an OSC packet ({len(data)} bytes)") from None
    decoded: list[Command | Subscription] = []
    for address, args in messages:
        try:
            decoded.append(_message(table, address, args, sender, token, remote_subscribers))
        except CommandError as error:
            raise CommandError(f"{address}: {error}") from None
    return decoded
