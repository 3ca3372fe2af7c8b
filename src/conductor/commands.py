"""The commands every control surface sends: pydantic models, the one source of every type,
range and default.

The WebSocket sends them as JSON, OSC as addresses whose argument types and ranges are derived
from these fields (`field_spec`), and OSCQuery describes those same ranges: a range changed here
changes every surface at once. `parse_command` is the one validation place; its errors are
one line, naming the field.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo

from conductor.errors import ConductorError
from conductor.learning import MAX_EXAMPLES, MAX_INPUTS, check_mapping_name
from conductor.mixing import MixerName
from conductor.search import MAX_BALANCE, MAX_DEPTH, MAX_MARGIN, MAX_SAMPLES

__all__ = [
    "CHANGES",
    "COMMAND_TYPES",
    "MAPPING_ACTIONS",
    "MAX_INPUT",
    "MAX_PRIME",
    "MAX_RATE",
    "MAX_TEMPERATURE",
    "MAX_WEIGHT",
    "QUEUED",
    "WEIGHT",
    "BaseCommand",
    "Command",
    "CommandError",
    "FieldSpec",
    "GetCommand",
    "InputCommand",
    "LearnCommand",
    "LoadCommand",
    "MappingCommand",
    "PauseCommand",
    "PlayCommand",
    "PresetCommand",
    "PrimeCommand",
    "RateCommand",
    "ResetCommand",
    "SaveCommand",
    "SearchOption",
    "SetCommand",
    "StepCommand",
    "UnloadCommand",
    "XyCommand",
    "field_spec",
    "parse_command",
]

# Every range a surface can send. Weights are ratios (both mixers normalise them), so [-1, 1]
# says every mix there is; negative ones are the product mixer's anti-experts.
MAX_WEIGHT = 1.0
MAX_TEMPERATURE = 5.0
MAX_RATE = 1000.0
MAX_PRIME = 10_000
MAX_GLIDE = 600.0  # seconds
Weight = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_WEIGHT, le=MAX_WEIGHT)]
Seconds = Annotated[float, Field(ge=0, le=MAX_GLIDE, allow_inf_nan=False)]


class CommandError(ConductorError):
    """A command that cannot be applied: malformed, unknown, out of range, unknown style."""


class BaseCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchOption(BaseCommand):
    """Lookahead search, as part of `set`: on or off, and any settings to change (the others
    keep theirs; see `conductor.search`)."""

    on: bool = True
    samples: int | None = Field(None, ge=1, le=MAX_SAMPLES)
    depth: int | None = Field(None, ge=1, le=MAX_DEPTH)
    balance: float | None = Field(None, ge=0, le=MAX_BALANCE, allow_inf_nan=False)
    keep_kind: bool | None = None
    margin: float | None = Field(None, ge=0, le=MAX_MARGIN, allow_inf_nan=False)


class SetCommand(BaseCommand):
    """Change weights (named styles only; the rest keep theirs) and/or sampling settings."""

    type: Literal["set"] = "set"
    weights: dict[str, Weight] | None = None
    temperature: float | None = Field(None, ge=0, le=MAX_TEMPERATURE, allow_inf_nan=False)
    top_k: int | None = Field(None, ge=0, le=1024)
    top_p: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    bias: float | None = Field(None, ge=0, le=10, allow_inf_nan=False)
    mixer: MixerName | None = None
    slew: Seconds | None = None  # seconds of glide
    glide_steps: int | None = Field(None, ge=0, le=1_000_000)  # slew in steps (recorded)
    search: SearchOption | None = None


class PrimeCommand(BaseCommand):
    type: Literal["prime"] = "prime"
    text: str = Field(min_length=1, max_length=MAX_PRIME)


class ResetCommand(BaseCommand):
    type: Literal["reset"] = "reset"


class PresetCommand(BaseCommand):
    """Recall a saved preset's weights, gliding there over `morph` seconds."""

    type: Literal["preset"] = "preset"
    name: str = Field(min_length=1, max_length=100)
    morph: Seconds = 0.0
    glide_steps: int | None = Field(None, ge=0, le=1_000_000)


class SaveCommand(BaseCommand):
    """Save the current target weights as a named preset."""

    type: Literal["save"] = "save"
    name: str = Field(min_length=1, max_length=100)


class PlayCommand(BaseCommand):
    type: Literal["play"] = "play"


class PauseCommand(BaseCommand):
    type: Literal["pause"] = "pause"


class StepCommand(BaseCommand):
    """While paused: generate `count` symbols."""

    type: Literal["step"] = "step"
    count: int = Field(1, ge=1, le=10_000)


class RateCommand(BaseCommand):
    """Symbols per second; 0 runs free (as fast as the machine goes)."""

    type: Literal["rate"] = "rate"
    chars_per_s: float = Field(ge=0, le=MAX_RATE, allow_inf_nan=False)


class GetCommand(BaseCommand):
    """Ask for the state; an `id`, if given, comes back in the reply (to match it up)."""

    type: Literal["get"] = "get"
    id: str | None = Field(None, max_length=64)


class LearnCommand(BaseCommand):
    """MIDI learn: the next controller moved binds to this style's weight (`None` cancels)."""

    type: Literal["learn"] = "learn"
    style: str | None = None


# A style as a command names it: a file stem in the styles directories, never a path.
_STYLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _style_name(name: str) -> str:
    if not _STYLE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a style name (letters, digits, _ . -; not a path)")
    return name


StyleName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_style_name)]


class LoadCommand(BaseCommand):
    """Add a style from the library to the running ensemble, at weight 0: it reads the text's
    latest symbols first, so it joins where the text is (`Conductor.adopt`)."""

    type: Literal["load"] = "load"
    style: StyleName


class UnloadCommand(BaseCommand):
    """Take a style out of the running ensemble (not the last one)."""

    type: Literal["unload"] = "unload"
    style: StyleName


MAX_INPUT = 1e6  # any sensor's numbers fit (degrees, pixels, 0..127); the net rescales them
InputValue = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_INPUT, le=MAX_INPUT)]


class InputCommand(BaseCommand):
    """An input vector for the learnt mapping (`conductor.learning`): a phone's tilt, a face
    tracker's numbers, faders. Any length up to `MAX_INPUTS`, one length per mapping. It is what
    `record` pairs with the weights; while the mapping runs, it sets the weights."""

    type: Literal["input"] = "input"
    values: list[InputValue] = Field(min_length=1, max_length=MAX_INPUTS)


MAPPING_ACTIONS = ("record", "train", "run", "clear", "delete", "save", "load")


def _mapping_name(name: str) -> str:
    try:
        return check_mapping_name(name)
    except ConductorError as error:
        raise ValueError(str(error)) from None


MappingName = Annotated[str, AfterValidator(_mapping_name)]


class MappingCommand(BaseCommand):
    """The learnt mapping: `record` an example (the latest input ↔ the current target weights,
    or a saved `preset`'s), `train` on the examples, `run` it (`on`, default true) or stop it,
    `delete` one `example` (numbered from 0), `clear` them all, `save` or `load` it by `name`."""

    type: Literal["mapping"] = "mapping"
    action: Literal["record", "train", "run", "clear", "delete", "save", "load"]
    on: bool | None = None
    preset: str | None = Field(None, min_length=1, max_length=100)
    example: int | None = Field(None, ge=0, le=MAX_EXAMPLES - 1)
    name: MappingName | None = None

    @model_validator(mode="after")
    def _fields_for_action(self) -> MappingCommand:
        wanted = {"run": {"on"}, "record": {"preset"}, "delete": {"example"},
                  "save": {"name"}, "load": {"name"}}.get(self.action, set())  # fmt: skip
        given = {k for k in ("on", "preset", "example", "name") if getattr(self, k) is not None}
        if given - wanted:
            raise ValueError(f"{self.action} takes no {', '.join(sorted(given - wanted))}")
        needed = {"delete": "example", "save": "name", "load": "name"}.get(self.action)
        if needed is not None and needed not in given:
            raise ValueError(f"{self.action} needs {needed!r}")
        return self


class XyCommand(BaseCommand):
    """The conducting pad: a cursor at (x, y) in [-1, 1]² sets every weight (see `mapping`)."""

    type: Literal["xy"] = "xy"
    x: float = Field(ge=-1, le=1, allow_inf_nan=False)
    y: float = Field(ge=-1, le=1, allow_inf_nan=False)
    slew: Seconds | None = None


Command = Annotated[
    SetCommand
    | PrimeCommand
    | ResetCommand
    | PresetCommand
    | SaveCommand
    | PlayCommand
    | PauseCommand
    | StepCommand
    | RateCommand
    | GetCommand
    | XyCommand
    | LearnCommand
    | LoadCommand
    | UnloadCommand
    | InputCommand
    | MappingCommand,
    Field(discriminator="type"),
]
_COMMAND = TypeAdapter[Command](Command)
COMMAND_TYPES = (
    "set", "xy", "prime", "reset", "preset", "save", "play", "pause", "step", "rate", "get",
    "learn", "load", "unload", "input", "mapping",
)  # fmt: skip
# Applied at a step boundary, in order; a load or unload (a `CHANGES`) is made ready off the
# engine thread first, and its message's commands wait for it.
QUEUED = (SetCommand, PrimeCommand, ResetCommand, PresetCommand, LoadCommand, UnloadCommand)
CHANGES = (LoadCommand, UnloadCommand)


@dataclass(frozen=True)
class FieldSpec:
    """What one command field takes, as a surface describes it (OSC type tag, bounds, choices)."""

    tag: str  # OSC type tag: "f" (float), "i" (int), "s" (string)
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None  # a closed set of strings (a Literal field)
    default: Any = None

    def describe(self) -> dict[str, Any] | None:
        """OSCQuery's RANGE entry for this argument (None: unbounded)."""
        if self.choices is not None:
            return {"VALS": list(self.choices)}
        if self.minimum is None and self.maximum is None:
            return None
        bounds: dict[str, Any] = {}
        if self.minimum is not None:
            bounds["MIN"] = self.minimum
        if self.maximum is not None:
            bounds["MAX"] = self.maximum
        return bounds


def _spec(info: FieldInfo) -> FieldSpec:
    annotation = info.annotation
    choices: tuple[str, ...] | None = None
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, _UNION) and len(arguments) == 1:
        annotation = arguments[0]  # X | None → X
    rules = list(info.metadata)
    if typing.get_origin(annotation) is Annotated:  # (Annotated[X, Field(...)]) | None
        inner = FieldInfo.from_annotation(annotation)  # type: ignore[arg-type]
        annotation, rules = inner.annotation, rules + list(inner.metadata)
    if typing.get_origin(annotation) is Literal:
        choices = tuple(str(a) for a in typing.get_args(annotation))
        tag = "s"
    elif annotation is float:
        tag = "f"
    elif annotation is int:
        tag = "i"
    elif annotation is str:
        tag = "s"
    else:
        raise TypeError(f"no OSC type for {annotation!r}")  # a programmer's error
    low = high = None
    for rule in rules:
        if isinstance(rule, Ge | Gt):
            low = float(rule.ge if isinstance(rule, Ge) else rule.gt)  # type: ignore[arg-type]
        elif isinstance(rule, Le | Lt):
            high = float(rule.le if isinstance(rule, Le) else rule.lt)  # type: ignore[arg-type]
    default = None if info.is_required() else info.default
    return FieldSpec(tag, low, high, choices, default)


_UNION = type(int | None)


def field_spec(model: type[BaseCommand], name: str) -> FieldSpec:
    """The spec of field `name` of a command model."""
    return _spec(model.model_fields[name])


WEIGHT = _spec(FieldInfo.from_annotation(Weight))  # one style's weight (every `weights` value)


def _loads(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CommandError(f"not JSON: {error}") from None


def parse_message(text: str | bytes) -> list[Any]:
    """One message of JSON text → its commands, not yet validated: an object is one command,
    an array is a scene (applied atomically by `Session.submit_all`)."""
    message = _loads(text)
    return message if isinstance(message, list) else [message]


def parse_command(message: Mapping[str, Any] | str | bytes) -> Command:
    """A validated `Command` from a dict or JSON text, or a one-line `CommandError`."""
    if isinstance(message, str | bytes):
        message = _loads(message)
    if not isinstance(message, Mapping):
        raise CommandError('a command is a JSON object such as {"type": "play"}')
    kind = message.get("type")
    if kind not in COMMAND_TYPES:
        raise CommandError(
            f"unknown command type {kind!r}; known: {', '.join(COMMAND_TYPES)}"
            if kind is not None
            else 'a command needs a "type"'
        )
    try:
        return _COMMAND.validate_python(dict(message))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:])
        why = str(first["msg"]).removeprefix("Value error, ")
        raise CommandError(f"{kind}: {where}: {why}" if where else f"{kind}: {why}") from None
