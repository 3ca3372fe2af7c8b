"""`Session`: the one live, stateful conductor that every control surface and viewer shares.

Control surfaces (web page, OSC, MIDI, a script) send *commands*: plain dicts or `Command`
models, validated here and nowhere else. Commands that change what is generated (`set`, `prime`,
`reset`, `preset`) are queued and applied at the next step boundary, all of one batch together —
so a weight change obeys the very next symbol, and the weights of one OSC bundle take effect on
the same step. Clock commands (`play`, `pause`, `step`, `rate`) and queries (`get`, `save`)
act at once.

The generation clock runs on the asyncio loop but each engine step runs in a worker thread, so
the loop stays free for sockets. At a fixed rate the clock keeps absolute deadlines (t0 + i/rate):
it does not drift, and after a stall it resumes without a burst.

Weights glide: a `set` with `slew` seconds (or the session default) moves every weight linearly
from where it is to its target over that time, counted in steps so the glide is exact in a
replay. `--record FILE` writes each applied command with its step index (JSON lines, after a
header with the styles, seed and settings); `replay` reproduces the exact symbol stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, cast

import torch

from conductor.checkpoint import atomic_write_bytes, load_checkpoint
from conductor.commands import (
    CHANGES,
    QUEUED,
    BaseCommand,
    Command,
    CommandError,
    GetCommand,
    InputCommand,
    LearnCommand,
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
    parse_command,
)
from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.events import (
    ErrorEvent,
    Event,
    InputEvent,
    PrimeEvent,
    ResetEvent,
    Sink,
    StateEvent,
    StepEvent,
)
from conductor.generate import Conductor, ConductorSnapshot
from conductor.learning import (
    Example,
    LearnedMapping,
    MappingError,
    Mappings,
    train_mapping,
    warm_up,
)
from conductor.library import Library
from conductor.mapping import pad_position, xy_weights
from conductor.mixing import DEFAULT_THRESHOLD, MixerName, MixingError, check_weights
from conductor.model import CharLSTM
from conductor.performer import Performer, performer_from_json, performer_to_json
from conductor.sampling import SamplingParams
from conductor.search import SearchSettings

__all__ = ["MAX_BATCH", "Session", "StepEvent", "replay"]

# The most commands one message or bundle may carry (a scene of every style, with room to spare).
MAX_BATCH = 256

# Idle-time catch-up: symbols per engine call (a few ms at most for a large model), and how long
# before the next tick it stops, so the tick is never late for it.
WORK_OFF_SLICE = 4
IDLE_MARGIN = 0.002

# A search may take this share of a symbol's period on average over SLOW_WINDOW steps (the rest
# is the step, the writers and the catch-up), and never the whole period SLOW_STEPS steps in a
# row; past either it is narrowed (`Session._keep_search_live`). A mean, not single steps: with
# every style active, 8x4 takes 45% of a 60/s period on average, and a few steps in a thousand
# go past 60% when the show's other processes take the cores for a moment.
SEARCH_SHARE = 0.75
SLOW_WINDOW = 30
SLOW_STEPS = 3

# The input vector goes out to viewers at most this often (the mapping itself sees every one).
INPUT_HZ = 30.0


def _engine_thread() -> None:
    """The engine thread never records autograd graphs (grad mode is per thread). Its torch
    keeps the default intra-op threads: one was measured slower with every style active (246
    against 372 steps/s for the shipped ensemble, interleaved rounds) and no faster skipping."""
    torch.set_grad_enabled(False)


@dataclass
class _Glide:
    start: list[float]
    target: list[float]
    first_step: int
    steps: int

    def at(self, step: int) -> list[float]:
        if self.steps <= 0 or step >= self.first_step + self.steps:
            return list(self.target)
        t = max(0.0, (step - self.first_step) / self.steps)
        return [a + t * (b - a) for a, b in zip(self.start, self.target, strict=True)]


@dataclass
class _Recorder:
    handle: IO[str]
    digest: Any = field(default_factory=hashlib.sha256)
    # The engine thread writes the commands it applies, the loop thread the mapping's.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line) + "\n"
        with self.lock:
            self.handle.write(text)
            self.handle.flush()


@dataclass
class _MappingPlan:
    """What one message's input and mapping commands leave, worked out on copies before any
    of it applies (a message applies whole or not at all): the commit takes it over."""

    mappings: Mappings
    running: bool
    input: tuple[float, ...] | None
    renewed: bool = False  # cleared or loaded: a training in flight no longer applies
    train: bool = False
    saves: list[tuple[str, Mappings]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)  # for the record
    weights: dict[str, float] | None = None  # what the last input gave, if the mapping ran


@dataclass(frozen=True)
class _Change:
    """A load or unload made ready: the ensemble for the new set of styles, built off the
    engine thread (it holds no state until the step boundary adopts it)."""

    before: tuple[str, ...]  # the styles it was built to follow
    ensemble: Ensemble
    path: str | None = None  # a load: the file read, and its sha256 (the record names both)
    sha256: str | None = None
    # A load's reading of the text, begun off the engine thread: the newcomer's state after the
    # symbols at positions [start, done) of the conductor's history (`restores` as it was then),
    # so at the boundary it has only what came since to read. A replay gives `start` alone.
    start: int | None = None
    done: int | None = None
    state: tuple[torch.Tensor, torch.Tensor] | None = None
    restores: int = 0


@dataclass
class _Waiting:
    """A message's queued commands, waiting for its loads and unloads to be made ready (and
    for every message before it: order is kept)."""

    commands: list[Command]
    changes: list[LoadCommand | UnloadCommand]
    futures: list[Future[_Change]]


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class _Ready:
    """What the performer made of a symbol in the engine thread, to be placed on its timeline
    on the loop thread (opaque here)."""

    item: Any


class Session:
    """Live control state over a `Conductor` (stream 0), a clock, and event sinks."""

    def __init__(
        self,
        conductor: Conductor,
        weights: Sequence[float] | None = None,
        rate: float = 20.0,
        slew: float = 0.0,
        presets_file: Path | None = None,
        record: Path | None = None,
        style_paths: Sequence[str] = (),
        performer: Performer | None = None,
        library: Library | None = None,
        mappings_dir: Path | None = None,
    ) -> None:
        if not math.isfinite(rate) or rate < 0:
            raise ConductorError(f"rate must be >= 0 symbols/s (0 = free-running), not {rate}")
        self.conductor = conductor
        self.names = list(conductor.names)
        initial = list(weights) if weights is not None else [1.0] + [0.0] * (len(self.names) - 1)
        check_weights(initial, len(self.names), conductor.mixer)
        self._glide = _Glide(initial, initial, 0, 0)
        self.rate = rate
        self.slew = slew
        self.paused = False
        self.learning: str | None = None  # MIDI learn: the style the next controller binds to
        #: the search settings in force when search is on (kept while it is off)
        self.search_settings = conductor.search or SearchSettings()
        self._step_seconds: deque[float] = deque(maxlen=SLOW_WINDOW)  # searched steps' times
        self._narrowing: SetCommand | None = None  # a narrower search, for the next step
        self._pending_steps = 0
        self._queue: list[Command] = []
        self._in_flight: list[Command] = []  # taken off the queue, applied by the running step
        self._hold_queue = False  # the next tick takes no commands (a long prime waits for it)
        # seconds for one style to read one symbol of a prime: measured as primes are read,
        # from a cautious guess (the first prime of a session waits for a fresh tick)
        self._prime_cost = 5e-4
        self._sinks: list[Sink] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="engine", initializer=_engine_thread
        )
        # Loads and unloads: a checkpoint read and an ensemble built for the new set, in order,
        # on their own thread (tens of ms: never in the engine thread's way).
        self._loader = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="loader", initializer=_engine_thread
        )
        #: where `load` finds a style by name (by default the styles directories)
        self.library = library or Library()
        self._waiting: list[_Waiting] = []
        self._ready_changes: dict[int, _Change] = {}  # id(command) → made ready
        #: the learnt mapping: examples, the net trained on them, where mappings are saved
        self.mapping = Mappings(mappings_dir if mappings_dir is not None else Path("mappings"))
        self.mapping_running = False
        self.input: tuple[float, ...] | None = None  # the latest input vector
        # Training runs on its own thread (never the loop's, never the engine's); one that
        # ends after a clear or a load (a new generation) is dropped.
        self._trainer: ThreadPoolExecutor | None = None
        self._mapping_generation = 0
        self._training = 0  # trainings in flight
        self._input_shown = 0.0  # when the input last went to viewers
        self._input_unshown: InputEvent | None = None  # the latest, held back by INPUT_HZ
        # Every model this session has had, by name, and its precision (the loader's)
        models = conductor.ensemble.models
        self._models: dict[str, CharLSTM] = dict(zip(self.names, models, strict=True))
        self._precisions = dict(zip(self.names, conductor.ensemble.precisions, strict=True))
        self.presets_file = presets_file
        #: preset name → weights by style name (a style it does not name: 0)
        self.presets: dict[str, dict[str, float]] = self._load_presets()
        self.text_tail = ""  # the last symbols shown, for a viewer that joins late
        self._ticks = 0
        self._last_step: StepEvent | None = None
        #: what the symbols mean beside the text (`serve --music`: a tune), or None
        self.performer = performer
        # Where generation comes back to when the performer takes symbols back, and the step
        # events of those symbols, held until what they belong to is kept (see `_step_with`).
        self._mark: tuple[ConductorSnapshot, Any] | None = None
        self._held: list[StepEvent] = []
        if performer is not None:  # the models start the first piece (a tune: its header)
            self._prime(performer.prime_text())
            self._take_mark([])
        self._recorder: _Recorder | None = None
        if record is not None:
            try:
                handle = open(record, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as error:
                raise ConductorError(f"cannot write --record {record}: {error.strerror}") from None
            self._recorder = _Recorder(handle)
            self._recorder.write(
                {
                    "type": "session",
                    "styles": list(style_paths) or self.names,
                    "names": self.names,
                    "seed": conductor.seed,
                    "weights": initial,
                    "mixer": conductor.mixer,
                    "params": vars(conductor.params),
                    "threshold": conductor.threshold,
                    "precision": conductor.ensemble.precisions,
                    "search": None if conductor.search is None else asdict(conductor.search),
                    "performer": None if performer is None else performer_to_json(performer),
                    "style_temperatures": (
                        None
                        if conductor.style_temperatures is None
                        else conductor.style_temperatures.flatten().tolist()
                    ),
                }
            )

    # -- state ---------------------------------------------------------------------------------

    @property
    def step_index(self) -> int:
        """Ticks of the clock so far: the session's time, that commands are recorded at and a
        glide counts in (the conductor's own count goes back when a performer takes a bar
        back and it is written again)."""
        return self._ticks

    @property
    def weights(self) -> list[float]:
        """The weights the next step will use (mid-glide: where the glide has got to)."""
        return self._glide.at(self.step_index)

    @property
    def target(self) -> list[float]:
        return list(self._glide.target)

    def state(self) -> dict[str, Any]:
        params = self.conductor.params
        return {
            "styles": self.names,
            "pad": [  # where each style sits on the conducting pad
                [round(v, 6) for v in pad_position(i, len(self.names))]
                for i in range(len(self.names))
            ],
            "weights": dict(zip(self.names, [round(w, 4) for w in self.weights], strict=True)),
            "target": dict(zip(self.names, self.target, strict=True)),
            "mixer": self.conductor.mixer,
            "temperature": params.temperature,
            "top_k": params.top_k,
            "top_p": params.top_p,
            "bias": params.bias,
            "rate": self.rate,
            "paused": self.paused,
            "step": self.step_index,
            "slew": self.slew,
            "presets": sorted(self.presets),
            "learning": self.learning,
            "search": {"on": self.conductor.search is not None, **asdict(self.search_settings)},
            "mapping": {
                **self.mapping.state(),
                "running": self.mapping_running,
                "training": self._training > 0,
                "input": None if self.input is None else list(self.input),
            },
        }

    def performer_state(self) -> dict[str, Any] | None:
        """The performer's options and piece so far (None without one)."""
        return None if self.performer is None else self.performer.to_json()

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def _emit(self, event: Event) -> None:
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception:  # a broken viewer must not stop the music
                self.remove_sink(sink)

    # -- commands ------------------------------------------------------------------------------

    def submit(self, message: Mapping[str, Any] | str | bytes | BaseCommand) -> StateEvent | None:
        """Validate and take one command; returns a reply for queries (`get`), else None.

        Raises `CommandError` for anything malformed; the session is unchanged then.
        """
        replies = self.submit_all([message])
        return replies[0] if replies else None

    def submit_all(
        self, messages: Sequence[Mapping[str, Any] | str | bytes | BaseCommand]
    ) -> list[StateEvent]:
        """Take the commands of one message or OSC bundle *atomically*: every one is validated
        and the state they leave together is checked (a scene may zero a style before it gives
        another its weight), then all apply — the text-changing ones on the same next symbol —
        or, on the first `CommandError`, none does. Returns the replies to queries."""
        if len(messages) > MAX_BATCH:
            raise CommandError(f"at most {MAX_BATCH} commands in one message, got {len(messages)}")
        commands: list[Command] = []
        for number, message in enumerate(messages, 1):
            try:
                command = (
                    cast(Command, message)
                    if isinstance(message, BaseCommand)
                    else parse_command(message)
                )
            except CommandError as error:
                where = f"command {number} of {len(messages)}: " if len(messages) > 1 else ""
                raise CommandError(f"{where}{error}") from None
            commands.append(self._as_set(command) if isinstance(command, XyCommand) else command)
        plan = None
        if any(isinstance(command, InputCommand | MappingCommand) for command in commands):
            commands, plan = self._plan_mapping(commands)
        self._check_end_state(commands)
        if plan is not None:
            self._commit_mapping(plan)
        replies: list[StateEvent] = []
        changed = False
        queued: list[Command] = [command for command in commands if isinstance(command, QUEUED)]
        changes = [command for command in queued if isinstance(command, CHANGES)]
        if changes or self._waiting:
            self._wait_for(queued, changes)
        else:
            self._queue.extend(queued)
        for command in commands:
            if isinstance(command, QUEUED):
                continue
            if isinstance(command, GetCommand):
                replies.append(StateEvent(self.state(), command.id))
            elif isinstance(command, MappingCommand):
                changed = True  # (applied with the plan)
            elif not isinstance(command, InputCommand):  # (an input goes out as its own event)
                self._act(command)
                changed = True
        self._wake.set()
        if changed:
            self._emit(StateEvent(self.state()))
        return replies

    def _as_set(self, command: XyCommand) -> SetCommand:
        """The pad's position as the weights it gives every style."""
        names = self._pending_plan()[0]
        weights = xy_weights(command.x, command.y, len(names))
        return SetCommand(weights=dict(zip(names, weights, strict=True)), slew=command.slew)

    # -- the learnt mapping --------------------------------------------------------------------

    def _plan_mapping(self, commands: list[Command]) -> tuple[list[Command], _MappingPlan]:
        """Work out a message's input and mapping commands on copies, in order, with the styles
        and target weights the commands before each leave; an input the running mapping maps
        is followed by the `set` it gives (checked, queued and recorded as any other: a replay
        needs only those). Raises `CommandError` at the first that cannot be done."""
        names, target, mixer = self._pending_plan()
        presets = dict(self.presets)
        plan = _MappingPlan(self.mapping.copy(), self.mapping_running, self.input)
        out: list[Command] = []
        for number, command in enumerate(commands, 1):
            where = f"command {number} of {len(commands)}: " if len(commands) > 1 else ""
            out.append(command)
            try:
                if isinstance(command, InputCommand):
                    mapped = self._plan_input(command, plan, names)
                    if mapped is not None:  # what follows sees the weights it gives
                        out.append(mapped)
                        names, target, mixer = self._walk(mapped, names, target, mixer, presets)
                elif isinstance(command, MappingCommand):
                    self._plan_one(command, plan, names, target, presets)
            except MappingError as error:
                raise CommandError(f"{where}{error}") from None
            if isinstance(command, SaveCommand):
                presets[command.name] = dict(target)
            names, target, mixer = self._walk(command, names, target, mixer, presets)
        return out, plan

    @staticmethod
    def _plan_input(
        command: InputCommand, plan: _MappingPlan, names: Sequence[str]
    ) -> SetCommand | None:
        values = tuple(command.values)
        plan.mappings.check_inputs(values)
        plan.input = values
        learned = plan.mappings.learned
        if not plan.running or learned is None:
            return None
        weights = {style: w for style, w in learned(values).items() if style in names}
        plan.weights = weights
        return SetCommand(weights=weights) if weights else None

    def _plan_one(
        self,
        command: MappingCommand,
        plan: _MappingPlan,
        names: Sequence[str],
        target: Mapping[str, float],
        presets: Mapping[str, Mapping[str, float]],
    ) -> None:
        mappings = plan.mappings
        line: dict[str, Any] = {"command": _recordable(command)}
        action = command.action
        if action == "record":
            if plan.input is None:
                raise MappingError(
                    "no input yet: send the input vector first (/conductor/input f..., or "
                    '{"type": "input", "values": [...]})'
                )
            if command.preset is not None:
                if command.preset not in presets:
                    raise MappingError(_no_preset(command.preset, presets))
                weights = dict(presets[command.preset])
            else:
                weights = {name: target[name] for name in names}
            example = Example(plan.input, weights)
            mappings.add(example)
            line["example"] = example.to_json()
        elif action == "train":
            if not mappings.examples:
                raise MappingError("no examples to train on: record some first")
            plan.train = True
            line["examples"] = len(mappings.examples)
        elif action == "run":
            on = command.on is not False
            if on and mappings.learned is None and not plan.train:
                raise MappingError("the mapping is not trained: record examples, then train")
            learned = mappings.learned
            if on and learned is not None and not set(learned.styles) & set(names):
                raise MappingError(
                    f"none of the mapping's styles ({', '.join(learned.styles)}) is playing: "
                    "load one, or record and train the mapping anew"
                )
            plan.running = on
        elif action == "clear":
            mappings.clear()
            plan.running = plan.train = False
            plan.renewed = True
        elif action == "delete":
            assert command.example is not None
            mappings.delete(command.example)
        elif action == "save":
            assert command.name is not None
            if mappings.learned is None:
                raise MappingError("train the mapping before saving it (nothing trained yet)")
            plan.saves.append((command.name, mappings.copy()))
        elif action == "load":
            assert command.name is not None
            loaded = Mappings(mappings.directory)
            loaded.load(command.name)
            plan.mappings = loaded
            plan.train, plan.renewed = False, True
            line["examples"] = len(loaded.examples)
        plan.lines.append(line)

    def _mapping_thread(self) -> ThreadPoolExecutor | None:
        """The thread trainings run on, started (and warmed up) by the first input or mapping
        command of a live session; None with no clock (a script trains where it is)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return None
        if self._trainer is None:
            self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mapping")
            self._trainer.submit(warm_up)
        return self._trainer

    def _commit_mapping(self, plan: _MappingPlan) -> None:
        """Take over what `_plan_mapping` worked out: the mapping, its saves, a training."""
        self._mapping_thread()
        self.mapping, self.mapping_running, self.input = plan.mappings, plan.running, plan.input
        if plan.renewed:
            self._mapping_generation += 1
        for name, snapshot in plan.saves:
            try:
                snapshot.save(name)
            except MappingError as error:  # the disk's fault, not the message's
                self._emit(ErrorEvent(str(error)))
        if plan.train:
            self._train_mapping()
        if self._recorder is not None:
            for line in plan.lines:
                self._recorder.write({"step": self.step_index, **line})
        if plan.input is not None and plan.input != self._shown_input():
            self._show_input(InputEvent(list(plan.input), plan.weights))

    def _shown_input(self) -> tuple[float, ...] | None:
        shown = self._input_unshown
        return None if shown is None else tuple(shown.values)

    def _show_input(self, event: InputEvent) -> None:
        """The input to viewers at most `INPUT_HZ` times a second; the latest always gets out."""
        now = time.monotonic()
        wait = self._input_shown + 1 / INPUT_HZ - now
        if wait <= 0:
            self._input_shown, self._input_unshown = now, None
            self._emit(event)
            return
        pending = self._input_unshown is not None
        self._input_unshown = event
        if pending:
            return  # a flush is due already; it sends this one
        with contextlib.suppress(RuntimeError):  # no loop (a script): the next input shows it
            asyncio.get_running_loop().call_later(wait, self._flush_input)

    def _flush_input(self) -> None:
        event, self._input_unshown = self._input_unshown, None
        if event is not None and not self._closed:
            self._input_shown = time.monotonic()
            self._emit(event)

    def _train_mapping(self) -> None:
        """Train on the examples as they are now, on the mapping thread (here and now with no
        clock); the net takes over when it is done, unless a clear or load came first."""
        examples = list(self.mapping.examples)
        generation = self._mapping_generation
        trainer = self._mapping_thread()
        if trainer is None:
            self._trained(train_mapping(examples), examples, generation)
            return
        loop = asyncio.get_running_loop()
        self._training += 1
        future = trainer.submit(train_mapping, examples)

        def done(finished: Future[LearnedMapping]) -> None:
            self._training -= 1
            if finished.cancelled():
                return
            failed = finished.exception()
            if failed is not None:
                self._emit(ErrorEvent(f"training the mapping failed: {failed}"))
                return
            self._trained(finished.result(), examples, generation)

        future.add_done_callback(lambda finished: loop.call_soon_threadsafe(done, finished))

    def _trained(self, learned: LearnedMapping, examples: list[Example], generation: int) -> None:
        if generation != self._mapping_generation:
            return  # cleared or loaded since: this net is of examples no longer there
        self.mapping.learned = learned
        self.mapping.stale = self.mapping.examples != examples
        self._emit(StateEvent(self.state()))

    # -- loads and unloads ---------------------------------------------------------------------

    def _wait_for(
        self, commands: list[Command], changes: list[LoadCommand | UnloadCommand]
    ) -> None:
        """Queue a message whose loads and unloads must be made ready first (or one that comes
        after such a message): on the loader thread when a clock runs, else here and now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no clock (a script stepping by hand): made ready now, or refused
            names = tuple(self.names)
            for change in changes:
                try:
                    ready = self._make_ready(change, names)
                except ConductorError as error:
                    raise CommandError(str(error)) from None
                self._ready_changes[id(change)] = ready
                names = tuple(ready.ensemble.names)
            self._queue.extend(commands)
            return
        expected = self._pending_plan()[0]  # the styles once everything queued before applies
        futures: list[Future[_Change]] = []
        for change in changes:
            futures.append(self._loader.submit(self._make_ready, change, tuple(expected)))
            if isinstance(change, LoadCommand):
                expected = [*expected, change.style]
            else:
                expected = [name for name in expected if name != change.style]
        waiting = _Waiting(commands, changes, futures)
        self._waiting.append(waiting)
        for future in futures:
            future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        if not futures:
            loop.call_soon(self._release)

    def _release(self) -> None:
        """Loop thread: messages whose changes are ready go to the queue, in order; one whose
        load failed is dropped whole (one line to every surface: nothing of it applies)."""
        while self._waiting and all(f.done() for f in self._waiting[0].futures):
            waiting = self._waiting.pop(0)
            failed = next((f.exception() for f in waiting.futures if f.exception()), None)
            if failed is not None:
                self._emit(ErrorEvent(str(failed)))
                continue
            for change, future in zip(waiting.changes, waiting.futures, strict=True):
                self._ready_changes[id(change)] = future.result()
            self._queue.extend(waiting.commands)
        self._wake.set()

    def _make_ready(
        self,
        change: LoadCommand | UnloadCommand,
        before: tuple[str, ...],
        path: Path | None = None,
        sha256: str | None = None,
    ) -> _Change:
        """The ensemble for `before` with `change` made (a load reads its file: `path`, or the
        library's for its name; with `sha256`, only that file will do). Loader thread, or
        wherever no clock runs; a one-line `ConductorError` if the file will not do."""
        names = list(before)
        if isinstance(change, UnloadCommand):
            names.remove(change.style)
        else:
            try:
                path = path if path is not None else self.library(change.style)
                digest = _file_sha256(path)
                if sha256 is not None and digest != sha256:
                    raise ConductorError(
                        f"{path} is not the file the record loaded (its sha256 differs): "
                        "replay needs the same checkpoint"
                    )
                model, _ = load_checkpoint(path, self.conductor.ensemble.vocab)
            except (OSError, ConductorError) as error:
                raise ConductorError(f"cannot load {change.style!r}: {error}") from None
            self._models[change.style] = model
            self._precisions.pop(change.style, None)  # a new file: its precision afresh
            names.append(change.style)
        ensemble = self.conductor.ensemble.regrouped(names, self._models, self._precisions)
        for name, precision in zip(names, ensemble.precisions, strict=True):
            self._precisions[name] = precision
        if isinstance(change, UnloadCommand):
            return _Change(before, ensemble)
        assert path is not None
        ready = _Change(before, ensemble, str(path.resolve()), digest)
        if sha256 is None:  # live: read the text so far now, not at the boundary
            conductor = self.conductor
            restores = conductor.restores
            trail = conductor.trail  # one consistent look
            start = conductor.recent_start(trail)
            done = trail[1] - 1  # not the pending symbol: the others may not have read it
            state = ensemble.read_ahead(change.style, conductor.at(start, done, trail))
            ready = replace(ready, start=start, done=done, state=state, restores=restores)
        return ready

    def _replay_load(
        self,
        command: LoadCommand,
        entry: Mapping[str, Any],
        resolve: Callable[[Sequence[str]], Sequence[Path]],
    ) -> None:
        """A recorded load, made ready from the file it read (its recorded path, else the one
        its name resolves to here), which must be that very file (its sha256)."""
        recorded = Path(str(entry.get("path", "")))
        path = recorded if entry.get("path") and recorded.is_file() else resolve([command.style])[0]
        ready = self._make_ready(command, tuple(self.names), path, entry.get("sha256"))
        start = entry.get("from")
        self._ready_changes[id(command)] = replace(
            ready, start=None if start is None else int(start)
        )

    def _regroup(self, command: LoadCommand | UnloadCommand, events: list[Event]) -> _Change:
        """Engine thread, at a step boundary: the ensemble made ready for `command` takes over
        (made here, if what was planned for did not come: a load before it failed)."""
        ready = self._ready_changes.pop(id(command), None)
        if ready is None or ready.before != tuple(self.names):
            ready = self._make_ready(command, tuple(self.names))
        old = list(self.names)
        conductor = self.conductor
        usable = (  # what it read ahead is still the text (no take-back, no reset since)
            ready.state is not None
            and ready.start is not None
            and ready.restores == conductor.restores
            and ready.start >= conductor.history_start
        )
        if usable:
            assert ready.state is not None  # (a load's: an unload reads nothing)
            states = {command.style: ready.state}
            start = conductor.adopt(
                ready.ensemble, start=ready.start, states=states, done=ready.done
            )
        else:
            start = conductor.adopt(ready.ensemble, start=ready.start)
        ready = replace(ready, start=start)
        self.names = list(self.conductor.names)

        def follow(weights: Sequence[float]) -> list[float]:
            by_name = dict(zip(old, weights, strict=True))
            return [by_name.get(name, 0.0) for name in self.names]

        glide = self._glide
        self._glide = _Glide(follow(glide.start), follow(glide.target), glide.first_step,
                             glide.steps)  # fmt: skip
        if self.learning is not None and self.learning not in self.names:
            self.learning = None
        if self.performer is not None:  # the mark's snapshot is of the old set
            self._take_mark(events)
        return ready

    def _act(self, command: Command) -> None:
        """A clock, preset-saving or learn command: acts at once (already checked)."""
        if isinstance(command, PlayCommand):
            self.paused = False
        elif isinstance(command, PauseCommand):
            self.paused = True
        elif isinstance(command, StepCommand):
            self._pending_steps += command.count
        elif isinstance(command, RateCommand):
            self.rate = command.chars_per_s
        elif isinstance(command, SaveCommand):
            self.presets[command.name] = self._pending_target()
            self._save_presets()
        elif isinstance(command, LearnCommand):
            self.learning = command.style

    def _merged(self, weights: Mapping[str, float], base: Sequence[float]) -> list[float]:
        """`base` (one weight per style) with the named styles' weights replaced."""
        return [weights.get(name, old) for name, old in zip(self.names, base, strict=True)]

    def _require_style(self, style: str, names: Sequence[str] | None = None) -> None:
        names = self.names if names is None else names
        if style not in names:
            raise CommandError(f"unknown style {style!r}; styles: {', '.join(names)}")

    def pending_commands(self) -> list[Command]:
        """The commands taken but not yet applied for certain: those of the step in flight
        (applying them again over a state they may have reached changes nothing: each sets
        what it names), then the queue."""
        waiting = [command for batch in self._waiting for command in batch.commands]
        return [*self._in_flight, *self._queue, *waiting]

    def _pending_plan(self) -> tuple[list[str], dict[str, float], MixerName]:
        """The styles, target weights and mixer once every command taken so far is applied
        (what a new one is checked against, and merges into)."""
        names = list(self.names)
        target = dict(zip(names, self.target, strict=True))
        mixer = self.conductor.mixer
        for queued in self.pending_commands():
            names, target, mixer = self._walk(queued, names, target, mixer, self.presets)
        return names, target, mixer

    @staticmethod
    def _walk(
        command: Command,
        names: list[str],
        target: dict[str, float],
        mixer: MixerName,
        presets: Mapping[str, Mapping[str, float]],
    ) -> tuple[list[str], dict[str, float], MixerName]:
        """The (styles, target, mixer) `command` leaves, from those before it."""
        if isinstance(command, SetCommand):
            if command.weights is not None:
                target = target | {k: v for k, v in command.weights.items() if k in target}
            mixer = command.mixer or mixer
        elif isinstance(command, PresetCommand) and command.name in presets:
            target = {name: presets[command.name].get(name, 0.0) for name in names}
        elif isinstance(command, LoadCommand):
            names, target = [*names, command.style], target | {command.style: 0.0}
        elif isinstance(command, UnloadCommand):
            names = [name for name in names if name != command.style]
            target = {name: target[name] for name in names}
        return names, target, mixer

    def _pending_target(self) -> dict[str, float]:
        """The target weights once the queued commands are applied (what a `save` keeps)."""
        return self._pending_plan()[1]

    def _check_end_state(self, commands: Sequence[Command]) -> None:
        """Walk the commands over the state the queue will leave; refuse unknown names, and a
        mix the whole batch leaves unusable (not each step on the way)."""
        names, target, mixer = self._pending_plan()
        presets = dict(self.presets)
        mixing = False  # does this batch change what is mixed?
        unloaded: list[str] = []
        for command in commands:
            if isinstance(command, SetCommand):
                for name in command.weights or {}:
                    self._require_style(name, names)
                mixing = mixing or command.weights is not None or command.mixer is not None
            elif isinstance(command, PresetCommand):
                if command.name not in presets:
                    raise CommandError(_no_preset(command.name, presets))
                mixing = True
            elif isinstance(command, SaveCommand):
                presets[command.name] = dict(target)
            elif isinstance(command, LearnCommand) and command.style is not None:
                self._require_style(command.style, names)
            elif isinstance(command, LoadCommand):
                if command.style in names:
                    raise CommandError(f"{command.style!r} is in the ensemble already")
                try:
                    self.library(command.style)  # found (its file is read when it is made ready)
                except ConductorError as error:
                    raise CommandError(str(error)) from None
            elif isinstance(command, UnloadCommand):
                self._require_style(command.style, names)
                if len(names) == 1:
                    raise CommandError(
                        f"{command.style!r} is the only style: load another before unloading it"
                    )
                unloaded.append(command.style)
                mixing = True
            names, target, mixer = self._walk(command, names, target, mixer, presets)
        if mixing:
            try:
                check_weights([target[name] for name in names], len(names), mixer)
            except MixingError as error:
                if unloaded:
                    raise CommandError(
                        f"unloading {', '.join(unloaded)} leaves no usable mix ({error}): give "
                        "another style weight in the same message"
                    ) from None
                raise CommandError(str(error)) from None

    def _seconds_to_steps(self, seconds: float) -> int:
        # Free-running has no fixed rate: count a glide at 60 symbols/s.
        return round(seconds * (self.rate if self.rate > 0 else 60.0))

    def _apply(self, command: Command, events: list[Event]) -> None:
        """Apply a queued command at the current step (events for viewers go to `events`)."""
        step = self.step_index
        if isinstance(command, SetCommand):
            if command.mixer is not None:
                self.conductor.set_mixer(command.mixer)
            changes = {
                key: value
                for key in ("temperature", "top_k", "top_p", "bias")
                if (value := getattr(command, key)) is not None
            }
            if changes:
                self.conductor.params = replace(self.conductor.params, **changes)
            if command.search is not None:
                self._set_search(command.search)
            if (new := command.weights) is not None:
                steps = command.glide_steps
                if steps is None:
                    steps = self._seconds_to_steps(
                        command.slew if command.slew is not None else self.slew
                    )
                    command = command.model_copy(update={"glide_steps": steps})
                self._glide = _Glide(self.weights, self._merged(new, self.target), step, steps)
        elif isinstance(command, PresetCommand):
            steps = command.glide_steps
            if steps is None:
                steps = self._seconds_to_steps(command.morph)
                command = command.model_copy(update={"glide_steps": steps})
            self._glide = _Glide(self.weights, self._preset(command.name), step, steps)
        elif isinstance(command, PrimeCommand):
            self._prime(command.text)
            events.append(PrimeEvent(command.text, step))
        elif isinstance(command, ResetCommand):
            self.conductor.reset()
            events.append(ResetEvent(step))
            if self.performer is not None:  # a new piece (a tune: from its header)
                self.performer.restart()
                self._prime(self.performer.prime_text())
        change = None
        if isinstance(command, LoadCommand | UnloadCommand):
            change = self._regroup(command, events)
        if self._recorder is not None:
            line: dict[str, Any] = {"step": step, "command": _recordable(command)}
            if isinstance(command, PresetCommand):  # what it recalled: a replay has no presets
                line["weights"] = self._preset(command.name)
            if change is not None and change.path is not None:  # the very file, for a replay
                line |= {"path": change.path, "sha256": change.sha256, "from": change.start}
            self._recorder.write(line)

    def _preset(self, name: str) -> list[float]:
        """A preset's weights, one per style (a style it does not name: 0)."""
        return [self.presets[name].get(style, 0.0) for style in self.names]

    def _set_search(self, option: SearchOption) -> None:
        """Search on or off, with the settings `option` names changed (the others kept)."""
        changes = option.model_dump(exclude={"on"}, exclude_none=True)  # the settings it names
        self.search_settings = replace(self.search_settings, **changes)
        self._step_seconds.clear()  # timed afresh
        self.conductor.search = self.search_settings if option.on else None

    def _apply_all(self, commands: list[Command], events: list[Event]) -> None:
        for command in commands:
            try:
                self._apply(command, events)
            except ConductorError as error:  # checked on submit; the state may have moved since
                events.append(ErrorEvent(str(error)))
        if any(isinstance(c, PrimeCommand | ResetCommand) for c in commands):
            self._take_mark(events)  # what the models read stays read, whatever is taken back
        if any(isinstance(c, SetCommand | PresetCommand | LoadCommand | UnloadCommand)
               for c in commands):  # fmt: skip
            events.append(StateEvent(self.state()))  # every surface shows the new target

    def _prime(self, text: str) -> None:
        """Read `text`: the styles the current weights run read it now, the skipped ones with
        what else they missed (in idle time), so a prime costs only what the next symbol needs."""
        start = time.perf_counter()
        readers = self._prime_readers()
        read = self.conductor.prime(text, None if readers is None else self.weights)
        if text and read:  # what one style reading one symbol costs (to plan when to read one)
            seconds = (time.perf_counter() - start) / (len(text) * read)
            self._prime_cost = 0.7 * self._prime_cost + 0.3 * seconds
        self.text_tail = (self.text_tail + text)[-2000:]

    def _prime_readers(self) -> frozenset[int] | None:
        """The styles that read a prime now: those the current weights run; None (all of
        them) where the weights make no mix, as in a glide between mixers."""
        try:
            return self.conductor.active_for(self.weights)
        except MixingError:
            return None

    def _work_ahead(self, commands: Sequence[Command]) -> float:
        """About how long applying `commands` takes (their primes: the rest is cheap)."""
        chars = sum(len(c.text) for c in commands if isinstance(c, PrimeCommand))
        readers = self._prime_readers()
        count = len(self.names) if readers is None else len(readers)
        return chars * count * self._prime_cost

    # -- stepping ------------------------------------------------------------------------------

    def _take_queue(self) -> list[Command]:
        commands, self._queue = self._queue, []
        if (narrowing := self._narrowing) is not None:  # set by the engine thread
            self._narrowing = None
            commands.insert(0, narrowing)
        return commands

    def _take_mark(self, events: list[Any]) -> None:
        """Mark where generation stands, for a performer that takes symbols back: the held
        step events are final and go out (into `events`)."""
        if self.performer is None or not self.performer.takes_back:
            return
        self._mark = (self.conductor.snapshot(), self.performer.snapshot())
        for held in self._held:
            self.text_tail = (self.text_tail + held.symbol)[-2000:]
        events.extend(self._held)
        self._held = []

    def _take_back(self) -> None:
        """The performer took back what was written since the mark: generation returns there
        (the random stream goes on, so it is written anew), and its step events are dropped."""
        assert self._mark is not None and self.performer is not None
        snapshot, performed = self._mark
        self.conductor.restore(snapshot, rewind_random=False)
        self.performer.restore(performed)
        self._held = []

    def _step_with(self, commands: list[Command]) -> list[Event | _Ready]:
        """Runs in the engine thread: apply commands, step; → events, emitted by the caller on
        the loop thread (sinks are not thread-safe).

        With a performer that takes symbols back (`serve --music`: a bar that does not fit its
        meter), each step event is held until the performer keeps what it belongs to, then goes
        out with it; what it takes back is never shown, and is written again from the mark."""
        events: list[Event | _Ready] = []
        applied: list[Event] = []
        self._apply_all(commands, applied)
        events.extend(applied)
        start = time.perf_counter()
        try:
            steps = self.conductor.step(self.weights)
        except MixingError:  # a glide from a product mix into a linear one, through no usable
            steps = self.conductor.step(self.target)  # mix on the way: it lands at once
        if self.conductor.search is not None and self.rate > 0:
            events.extend(self._keep_search_live(time.perf_counter() - start))
        self._ticks += 1
        symbol = self.conductor.ensemble.vocab.decode(steps.symbols[:1].tolist())
        if self._recorder is not None:
            self._recorder.digest.update(symbol.encode())
        event = StepEvent.from_steps(steps, self.names, symbol, self.conductor.ensemble.vocab)
        self._last_step = event
        if self.performer is None or not self.performer.takes_back:
            self.text_tail = (self.text_tail + symbol)[-2000:]
            events.append(event)
        else:
            self._held.append(event)
        if self.performer is not None:
            fed = self.performer.feed(symbol, event.by)
            if fed.retry:
                self._take_back()
                return events
            if fed.ready or fed.ended:
                self._take_mark(events)
            events.extend(_Ready(item) for item in fed.ready)
            if fed.ended:  # the models closed the piece: the next starts afresh
                self._prime(self.performer.prime_text())
                self._take_mark(events)
            elif fed.then:  # what the performer writes before the models go on (a chord)
                self._prime(fed.then)
                self._take_mark(events)
        return events

    def _keep_search_live(self, seconds: float) -> list[Event]:
        """A search too wide for the symbol rate is narrowed, not let slow the stream: when its
        steps take over `SEARCH_SHARE` of the period on average over the last `SLOW_WINDOW`, or
        the whole period `SLOW_STEPS` steps in a row, the next step searches half the paths (or
        one symbol less deep, or not at all), says so, and records it as a command, so a replay
        (which has no clock) narrows at the same step."""
        period = 1.0 / self.rate
        times = self._step_seconds
        times.append(seconds)
        recent = list(times)[-SLOW_STEPS:]
        overran = len(recent) == SLOW_STEPS and min(recent) > period
        heavy = len(times) == SLOW_WINDOW and sum(times) / SLOW_WINDOW > SEARCH_SHARE * period
        if not (overran or heavy):
            return []
        taken = min(recent) if overran else sum(times) / SLOW_WINDOW
        times.clear()  # the narrower search is timed afresh
        now = self.search_settings
        if now.samples > 2:
            option = SearchOption(samples=now.samples // 2)
        elif now.depth > 2:
            option = SearchOption(depth=now.depth - 1)
        else:
            option = SearchOption(on=False)
        # The engine thread never touches the queue (the loop thread swaps it): the next
        # `_take_queue` picks this up, on the loop thread.
        self._narrowing = SetCommand(search=option)
        wanted = f"search {now.samples}x{now.depth}"
        narrower = (
            "turned search off"
            if not option.on
            else f"narrowed it to {option.samples or now.samples}x{option.depth or now.depth}"
        )
        return [
            ErrorEvent(
                f"{wanted} takes {taken * 1000:.1f} ms a symbol, more than "
                f"{self.rate:g} symbols/s leave it here: {narrower}"
            )
        ]

    def _out(self, event: Event | _Ready) -> Event:
        """An event as sinks see it: the performer's, placed on its timeline (loop thread)."""
        if not isinstance(event, _Ready):
            return event
        assert self.performer is not None
        return self.performer.place(event.item, time.monotonic())

    def step(self) -> StepEvent:
        """Apply queued commands and generate one symbol, here and now (no clock): → its step
        event (which a performer that takes symbols back may hold, or take back)."""
        events = [self._out(event) for event in self._step_with(self._take_queue())]
        for event in events:
            self._emit(event)
        self._look_ahead()
        assert self._last_step is not None
        return self._last_step  # this tick's symbol (held, or taken back, or shown now)

    def _look_ahead(self) -> None:
        """The next step's engine work, done after the symbol is out and before the next tick
        (live and in a replay alike, so both make the same engine calls)."""
        with contextlib.suppress(MixingError):  # mid-glide into another mixer: step decides
            self.conductor.lookahead(self.weights)

    async def run(self) -> None:
        """The generation clock: steps at `rate` (or free) until `close`, honouring pause."""
        loop = asyncio.get_running_loop()
        # The fused kernels' first call costs several later ones: not on the first prime.
        await loop.run_in_executor(self._executor, self.conductor.ensemble.warm_up)
        deadline = time.monotonic()
        while not self._closed:
            if self.paused and self._pending_steps == 0:
                self._wake.clear()
                await self._wake.wait()
                deadline = time.monotonic()
                continue
            if self.performer is not None and self._pending_steps == 0:
                wait = self.performer.wait_before_next(time.monotonic())
                if wait > 0:  # enough music is scheduled: let playback catch up
                    until = time.monotonic() + min(wait, 0.05) - IDLE_MARGIN
                    await loop.run_in_executor(self._executor, self._work_off, until)
                    wait = self.performer.wait_before_next(time.monotonic())
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 0.05))
                    deadline = time.monotonic()
                    continue
            if self._pending_steps:
                self._pending_steps -= 1
            # On the loop thread: a whole OSC bundle or none; none when a long prime was held
            # back for this tick (it is read, early, in the wait for the next one).
            commands = [] if self._hold_queue else self._take_queue()
            self._hold_queue = False
            events = await self._in_engine(commands, self._step_with)
            for event in events:
                self._emit(self._out(event))
            # The sinks' writers run first (their sockets take the symbol now), then the engine
            # thread's idle work, which would hold them off the GIL.
            await asyncio.sleep(0)
            if self._closed:  # (also when `close` came while the writers ran)
                break
            if self.rate > 0:
                beat = self.rate  # the period this tick is planned with
                # Never more than one period away, whatever came before (a slow rate left
                # for free-running, then a fast one: found by the OSC fuzz).
                deadline = min(deadline + 1.0 / beat, time.monotonic() + 1.0 / beat)
                # The next step's engine work, then skipped models' catch-up until the tick.
                margin = min(IDLE_MARGIN, 0.25 / self.rate)
                if self._queue and not self.paused:  # held back at the tick: read them now
                    await self._apply_early(deadline - margin)  # the idle work included
                else:
                    await loop.run_in_executor(self._executor, self._idle, deadline - margin)
                if deadline - time.monotonic() < -0.25:  # fell well behind: afresh, no burst
                    deadline = time.monotonic()
                # Commands wake the wait early; the beat is kept unless the rate changed (at
                # any moment since the tick was planned, the idle work included), when the
                # next tick comes at most one new period from now (a slow rate never traps
                # the clock in a long wait: found by the OSC fuzz).
                while self.rate > 0 and not self._closed:
                    delay = deadline - time.monotonic()
                    if delay <= 0:
                        break
                    if self.rate != beat:
                        deadline = min(deadline, time.monotonic() + 1.0 / self.rate)
                        beat = self.rate
                        continue
                    if self._queue and not self.paused and not self._hold_queue:
                        # Their work now, not at the tick; work that would make the tick late
                        # (a long prime, just before it) waits for the next step instead.
                        left = deadline - margin - time.monotonic()
                        # Planned with twice the measured cost: a prime read while the other
                        # processes of a show share the cores can take that (seen in a concert).
                        work = 2 * self._work_ahead(self._queue)
                        if work > left and work > 0:
                            self._hold_queue = True
                        elif left > 0:
                            await self._apply_early(deadline - margin)
                            continue
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    except TimeoutError:
                        break
            else:  # free-running: no idle time; the engine bounds the backlog itself
                await loop.run_in_executor(self._executor, self._look_ahead)
                await asyncio.sleep(0)

    async def _apply_early(self, until: float) -> None:
        """Commands that came in while the clock waits are applied at once, in the engine
        thread, with the next step's engine work for them (a prime read, returning styles
        caught up): the tick then only mixes and samples. They still apply at the same step
        boundary (no symbol comes between), so the record, and a replay, are unchanged."""
        events = await self._in_engine(self._take_queue(), self._apply_now, until)
        for event in events:
            self._emit(event)

    async def _in_engine(
        self, commands: list[Command], work: Callable[..., list[Any]], *args: Any
    ) -> list[Any]:
        """`work(commands, *args)` in the engine thread; meanwhile `commands` are in flight
        (`pending_commands` counts them: a command checked now sees the state they leave)."""
        self._in_flight = commands
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, work, commands, *args
            )
        finally:
            self._in_flight = []

    def _apply_now(self, commands: list[Command], until: float) -> list[Event]:
        """Engine thread: apply `commands`, the lookahead for what they leave, then catch-up
        until `until` (monotonic seconds: however long the commands took, the tick is kept).
        The lookahead for the weights before them runs first, as it has when a step applies
        them (a prime then reads the pending symbol the same way): the engine calls, and so the
        floats, are those of a replay."""
        events: list[Event] = []
        self._look_ahead()
        self._apply_all(commands, events)
        self._idle(until)
        return events

    def _idle(self, until: float) -> None:
        """Engine thread, between two symbols: the lookahead, then catch-up until `until`
        (monotonic seconds, an end fixed before the lookahead: its time is not added)."""
        self._look_ahead()
        self._work_off(until)

    def _work_off(self, until: float) -> None:
        """Skipped models read what they missed in small slices until `until` (monotonic
        seconds): a style that comes back then has next to nothing left to read."""
        ensemble = self.conductor.ensemble
        while time.monotonic() < until and not self._queue and ensemble.work_off(WORK_OFF_SLICE):
            pass  # a command that comes in ends it: the clock applies it at once

    def close(self) -> None:
        """Stop the clock; finish the record after any step in flight (so its end line counts
        exactly the symbols made)."""
        self._closed = True
        self._wake.set()
        self._loader.shutdown(wait=True, cancel_futures=True)
        if self._trainer is not None:
            self._trainer.shutdown(wait=True, cancel_futures=True)
        self._executor.shutdown(wait=True)
        if self._recorder is not None:
            self._recorder.write(
                {
                    "type": "end",
                    "step": self.step_index,
                    "sha256": self._recorder.digest.hexdigest(),
                    "state": self.state_digest(),
                }
            )
            self._recorder.handle.close()
            self._recorder = None

    def state_digest(self) -> str:
        """sha256 of every model's state once all have read every symbol (the lookahead for
        the next step included): equal for a live session and its replay only if every float
        on the way was (the symbols alone could hide a difference that never flipped a draw)."""
        with torch.no_grad():
            self._look_ahead()
            self.conductor.ensemble.catch_up()
            return self.conductor.ensemble.state_digest()

    # -- presets -------------------------------------------------------------------------------

    def _load_presets(self) -> dict[str, dict[str, float]]:
        if self.presets_file is None or not self.presets_file.exists():
            return {}
        try:
            data = json.loads(self.presets_file.read_text(encoding="utf-8"))
            presets = {
                str(name): {str(style): float(weight) for style, weight in weights.items()}
                for name, weights in data.items()
            }
        except (OSError, ValueError, AttributeError, TypeError) as error:
            raise ConductorError(
                f"presets file {self.presets_file} is unreadable ({error}); fix or remove it"
            ) from None
        return presets

    def _save_presets(self) -> None:
        if self.presets_file is None:
            return
        data = self.presets  # every style a preset names, loaded now or not
        atomic_write_bytes(self.presets_file, (json.dumps(data, indent=2) + "\n").encode())


def _no_preset(name: str, presets: Mapping[str, Any]) -> str:
    known = ", ".join(sorted(presets)) or "none saved yet"
    return f"no preset {name!r} (presets: {known})"


def _recordable(command: Command) -> dict[str, Any]:
    return command.model_dump(exclude_none=True)


@dataclass
class Replay:
    names: list[str]
    text: str
    steps: int
    matches: bool | None  # None: the record has no end line (the session did not close)


def replay(
    record: Path, resolve: Callable[[Sequence[str]], Sequence[Path]], extra_steps: int = 0
) -> Replay:
    """Re-run a `--record` file: same styles, seed and commands at the same steps.

    `resolve` turns the recorded style names/paths into checkpoint paths.
    """
    try:
        lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError) as error:
        raise ConductorError(f"cannot read record {record}: {error}") from None
    if not lines or lines[0].get("type") != "session":
        raise ConductorError(f"{record} is not a conductor session record (no header line)")
    header = lines[0]
    end = next((line for line in lines if line.get("type") == "end"), None)
    entries = [line for line in lines[1:] if "command" in line]
    try:
        paths = resolve(header["styles"])
        params = SamplingParams(**header["params"])
        # Records made before precision was recorded ran every style in fp32.
        names = header["names"]
        precisions = header.get("precision") or ["fp32"] * len(names)
        precision = dict(zip(names, precisions, strict=True))
        ensemble = Ensemble.from_checkpoints(paths, names=names, precision=precision)
        conductor = Conductor(
            ensemble,
            header["mixer"],
            params,
            int(header["seed"]),
            float(header.get("threshold", DEFAULT_THRESHOLD)),
            style_temperatures=header.get("style_temperatures"),
        )
        described = header.get("performer")
        if described is None and header.get("music"):  # records before performers had kinds
            described = {"kind": "abc", "options": header["music"]}
        performer = performer_from_json(described) if described else None
        if header.get("search"):
            conductor.search = SearchSettings(**header["search"])
        session = Session(conductor, header["weights"], rate=0, performer=performer)
        commands = [(int(e["step"]), parse_command(e["command"]), e) for e in entries]
    except (KeyError, TypeError, ValueError) as error:
        raise ConductorError(f"{record} is a damaged record ({error})") from None
    total = int(end["step"]) if end else (commands[-1][0] if commands else 0) + extra_steps
    digest = hashlib.sha256()
    text: list[str] = []  # what viewers were shown (a performer may take symbols back unseen)
    session.add_sink(
        lambda event: text.append(event.symbol) if isinstance(event, StepEvent) else None
    )
    index = 0
    with torch.no_grad():
        for step in range(total):
            while index < len(commands) and commands[index][0] == step:
                _, command, entry = commands[index]
                index += 1
                if isinstance(command, InputCommand | MappingCommand):
                    continue  # for the record's reader: the weights a mapping gave are `set`s
                if isinstance(command, PresetCommand):
                    recalled = entry.get("weights")
                    if recalled is None:
                        raise ConductorError(
                            f"{record} recalls preset {command.name!r} without its weights "
                            "(recorded by an older conductor): it cannot be replayed"
                        )
                    session.presets[command.name] = dict(
                        zip(session.names, (float(w) for w in recalled), strict=True)
                    )
                elif isinstance(command, LoadCommand):
                    session._replay_load(command, entry, resolve)
                session._queue.append(command)
            event = session.step()
            digest.update(event.symbol.encode())
    state = session.state_digest()
    session.close()
    matches = None
    if end is not None:  # symbols, and (records since the state line) every model's floats
        matches = digest.hexdigest() == end.get("sha256") and end.get("state", state) == state
    return Replay(session.names, "".join(text), total, matches)
