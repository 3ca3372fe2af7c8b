"""The generation loop: weights in, one mixed and sampled symbol out per stream per step.

`Conductor` ties the engine, a mixer and the sampler together; the CLI's `generate` and the live
session both drive it. Order within a step, so that a weight change obeys the very next symbol:

1. the weights for this step decide which models run (|share| >= threshold, as in the paper);
2. the engine feeds the previous symbol to those models (skipped ones catch up first if they
   come back) and returns logits [B, N, V];
3. the mixer combines the per-model distributions under the same weights; the sampler draws;
4. attribution says which style "wrote" each symbol.

`Schedule` is a morph over time: keyframes such as `0:shakespeare=1 300:kjv=1 600:c=1`, weights
interpolated linearly between them (a style a keyframe does not name has weight 0 there).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from conductor.engine import Ensemble, EnsembleSnapshot
from conductor.errors import ConductorError
from conductor.mixing import (
    DEFAULT_THRESHOLD,
    MixerName,
    active_mask,
    check_weights,
    normalised,
    thresholded,
)
from conductor.model import CharLSTM
from conductor.sampling import SamplingParams
from conductor.sampling import style_temperatures as style_temperatures_of
from conductor.search import Mix, SearchSettings, search
from conductor.vocab import clean

__all__ = [
    "HISTORY",
    "KEPT",
    "Conductor",
    "ConductorSnapshot",
    "Keyframe",
    "Schedule",
    "ScheduleError",
    "Steps",
]

# The latest symbols a conductor keeps (the pending one last): what a style that joins mid-stream
# reads before it plays, so it joins the text where it is. A character LSTM's memory of text is
# far shorter; more would only make a newcomer's first weighted step later.
HISTORY = 200
# The symbols kept: twice that, so a style made ready a while ago can still read on from where
# it started (`Conductor.adopt`'s `start`).
KEPT = 2 * HISTORY


class ScheduleError(ConductorError):
    """A weight schedule that cannot be parsed or names an unknown style."""


@dataclass(frozen=True)
class Keyframe:
    step: int
    weights: tuple[float, ...]  # one per style, in ensemble order


class Schedule:
    """Piecewise-linear weights over steps."""

    def __init__(self, keyframes: Sequence[Keyframe]) -> None:
        if not keyframes:
            raise ScheduleError("a schedule needs at least one keyframe")
        self.keyframes = sorted(keyframes, key=lambda k: k.step)
        steps = [k.step for k in self.keyframes]
        if len(set(steps)) != len(steps):
            raise ScheduleError("two keyframes share a step; give each step once")

    @classmethod
    def constant(cls, weights: Sequence[float]) -> Schedule:
        return cls([Keyframe(0, tuple(float(w) for w in weights))])

    @classmethod
    def parse(cls, text: str, names: Sequence[str]) -> Schedule:
        """`STEP:style=w[,style=w...] STEP:...`, e.g. `0:shakespeare=1 300:kjv=1,c=0.5`."""
        keyframes = []
        for token in text.split():
            match = re.fullmatch(r"(\d+):(.+)", token)
            if not match:
                raise ScheduleError(
                    f"schedule keyframe {token!r} is not STEP:style=weight[,style=weight]"
                )
            weights = dict.fromkeys(names, 0.0)
            for pair in match.group(2).split(","):
                name, sep, value = pair.partition("=")
                if not sep or name not in weights:
                    known = ", ".join(names)
                    raise ScheduleError(
                        f"schedule keyframe {token!r}: {pair!r} is not style=weight for a loaded "
                        f"style ({known})"
                    )
                try:
                    weight = float(value)
                except ValueError:
                    raise ScheduleError(f"schedule weight {value!r} is not a number") from None
                if not math.isfinite(weight):
                    raise ScheduleError(f"schedule weight {value!r} must be finite")
                weights[name] = weight
            keyframes.append(Keyframe(int(match.group(1)), tuple(weights.values())))
        return cls(keyframes)

    def weights_at(self, step: int) -> list[float]:
        frames = self.keyframes
        if step <= frames[0].step:
            return list(frames[0].weights)
        for before, after in itertools.pairwise(frames):
            if step < after.step:
                t = (step - before.step) / (after.step - before.step)
                return [a + t * (b - a) for a, b in zip(before.weights, after.weights, strict=True)]
        return list(frames[-1].weights)


@dataclass
class Steps:
    """One step of every stream.

    The distributions are kept in the form the step computed them and turned into
    log-probabilities only when read (`mixed`, `per_model`): a loop that wants just the symbols
    pays for no logarithms.
    """

    step: int
    symbols: torch.Tensor  # [B] symbol ids
    weights: torch.Tensor  # [B, N] the weights in force (after thresholding)
    attribution: torch.Tensor  # [B, N] each style's share of each symbol; rows sum to 1
    scaled_logits: torch.Tensor  # [B, N, V] each model's logits (over its style temperature)
    mixed_probs: torch.Tensor | None = None  # [B, V] the mix as probabilities (linear mixer)
    mixed_log_probs: torch.Tensor | None = None  # [B, V] the mix as log-probabilities (product)
    foresight: torch.Tensor | None = None  # [B, D-1] with search on: the chosen path's rest

    @property
    def mixed(self) -> torch.Tensor:
        """[B, V] log-probabilities of the mix that was sampled (before shaping)."""
        if self.mixed_log_probs is None:
            assert self.mixed_probs is not None
            self.mixed_log_probs = self.mixed_probs.log()
        return self.mixed_log_probs

    @property
    def per_model(self) -> torch.Tensor:
        """[B, N, V] each model's log-probabilities (uniform for a skipped model)."""
        return torch.log_softmax(self.scaled_logits, dim=-1)

    def by(self, names: Sequence[str]) -> list[str]:
        """The style that wrote each stream's symbol: the largest attribution share."""
        return [names[int(i)] for i in self.attribution.argmax(-1)]


@dataclass(frozen=True)
class ConductorSnapshot:
    ensemble: EnsembleSnapshot
    pending: torch.Tensor  # [B]
    generator: torch.Tensor  # the random generator's state
    step_index: int
    ahead: tuple[torch.Tensor, frozenset[int]] | None  # a lookahead already run, if any
    history: torch.Tensor  # [B, T] the latest symbols, the pending one last
    written: int  # symbols ever put in the history


class Conductor:
    """Mixed, sampled generation over an `Ensemble`'s streams."""

    def __init__(
        self,
        ensemble: Ensemble,
        mixer: MixerName = "linear",
        params: SamplingParams | None = None,
        seed: int = 0,
        threshold: float = DEFAULT_THRESHOLD,
        style_temperatures: Sequence[float] | None = None,
    ) -> None:
        check_weights([1.0] * len(ensemble), len(ensemble), mixer)  # validates the mixer name
        self.ensemble = ensemble
        self.mixer: MixerName = mixer
        self.params = params or SamplingParams()
        self.threshold = threshold
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.style_temperatures: torch.Tensor | None = None
        if style_temperatures is not None:
            if len(style_temperatures) != len(ensemble):
                raise ConductorError(
                    f"got {len(style_temperatures)} per-style temperatures for "
                    f"{len(ensemble)} styles"
                )
            self.style_temperatures = style_temperatures_of(style_temperatures)  # [1, N, 1]
        self._ahead: tuple[torch.Tensor, frozenset[int]] | None = None  # see `lookahead`
        #: lookahead search for every symbol (`conductor.search`); None: plain sampling
        self.search: SearchSettings | None = None
        self._prepared_key: object = None
        self._prepared: tuple[torch.Tensor, frozenset[int], torch.Tensor] | None = None
        self.step_index = 0
        self.pending = torch.full((ensemble.streams,), ord("\n"), dtype=torch.long)  # [B]
        # (history, written) as one value: another thread reads both at once (`trail`)
        self._trail = (self.pending.unsqueeze(1), 1)
        self.restores = 0  # times `restore` went back (the text from there is written anew)

    @property
    def history(self) -> torch.Tensor:
        """[B, T <= KEPT] the latest symbols the models read or will read, the pending last."""
        return self._trail[0]

    @property
    def written(self) -> int:
        """Symbols ever put in `history`: its last is at position `written - 1`."""
        return self._trail[1]

    @property
    def trail(self) -> tuple[torch.Tensor, int]:
        """(history, written), consistent with each other, from any thread."""
        return self._trail

    def _remember(self, ids: torch.Tensor) -> None:
        """Symbols ids [B, T] written or read after the history (the last is the new pending)."""
        history, written = self._trail
        self._trail = (torch.cat([history, ids], dim=1)[:, -KEPT:], written + ids.shape[1])

    @property
    def history_start(self) -> int:
        """The position of the oldest symbol `history` holds."""
        return self.written - self.history.shape[1]

    def recent_start(self, trail: tuple[torch.Tensor, int] | None = None) -> int:
        """Where a newcomer's reading starts by default: the latest `HISTORY` symbols (of
        `trail`, a `trail` taken earlier, or of now)."""
        history, written = trail or self._trail
        return max(written - history.shape[1], written - HISTORY)

    def at(
        self, start: int, end: int, trail: tuple[torch.Tensor, int] | None = None
    ) -> torch.Tensor:
        """The symbols at positions [start, end) [B, end - start], from `history` (or from
        `trail`, a `trail` taken earlier)."""
        history, written = trail or self._trail
        oldest = written - history.shape[1]
        if not oldest <= start <= end <= written:
            raise ConductorError(
                f"symbols {start}-{end} are not in the history ({oldest}-{written}): a reset, "
                "or too long ago"
            )
        return history[:, start - oldest : end - oldest]

    @property
    def names(self) -> list[str]:
        return self.ensemble.names

    def set_mixer(self, mixer: MixerName) -> None:
        """Switch mixer from the next step on (an unknown name is a `MixingError`)."""
        check_weights([1.0] * len(self.ensemble), len(self.ensemble), mixer)
        self.mixer = mixer
        self._prepared_key, self._prepared = None, None

    def reset(self) -> None:
        """Forget the history: every stream's state zero, the next input a newline."""
        self._ahead = None
        for stream in range(self.ensemble.streams):
            self.ensemble.reset(stream)
        self.pending = torch.full((self.ensemble.streams,), ord("\n"), dtype=torch.long)  # [B]
        self._trail = (self.pending.unsqueeze(1), self.written + 1)  # nothing before is context

    def join(
        self,
        model: CharLSTM,
        name: str,
        context: torch.Tensor | None = None,
        temperature: float = 1.0,
    ) -> None:
        """A style joins the ensemble from the next step on; the others keep their state
        exactly. It reads `context` [B, T], each stream's latest symbols with the pending one
        (drawn, not yet read) last — by default the conductor's own `history` — so it joins the
        text where it is. Its weight is the caller's: a session gives it 0 until told."""
        if name in self.names:
            raise ConductorError(f"the ensemble already has a style named {name!r}")
        grown = self.ensemble.regrouped([*self.names, name], {name: model})
        self.adopt(grown, context, {name: temperature})

    def leave(self, name: str) -> None:
        """A style leaves the ensemble from the next step on; the others keep their state."""
        if name not in self.names:
            raise ConductorError(f"no style {name!r} (styles: {', '.join(self.names)})")
        if len(self.names) == 1:
            raise ConductorError(f"{name!r} is the only style; an ensemble needs one")
        self.adopt(self.ensemble.regrouped([own for own in self.names if own != name]))

    def adopt(
        self,
        ensemble: Ensemble,
        context: torch.Tensor | None = None,
        temperatures: Mapping[str, float] | None = None,
        start: int | None = None,
        states: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        done: int | None = None,
    ) -> int:
        """Go on with `ensemble`, built for another set of styles (`Ensemble(models, names)`,
        on any thread: it holds no state until now). The styles both have keep their state,
        style temperature and place in a lookahead already run; a new one reads the text so
        far as symbols it missed (see `Ensemble.inherit`), with its temperature from
        `temperatures` (default 1).

        What it reads: `context` [B, T] (the pending symbol last), or the history from position
        `start` (default: the latest `HISTORY` symbols) to the present; a newcomer named in
        `states` has read those before `done` already (`Ensemble.read_ahead`). Returns the
        position its reading starts at (a record keeps it, so a replay reads the same)."""
        ahead = self._ahead  # a lookahead ran: the others have read the pending symbol too
        end = self.written - (0 if ahead is not None else 1)  # what the others have read
        if context is not None:
            if context.dim() != 2 or context.shape[0] != self.ensemble.streams:
                raise ConductorError(f"a context is symbols [streams={self.ensemble.streams}, T]")
            if context.shape[1] and not torch.equal(context[:, -1], self.pending):
                raise ConductorError("a context ends with the pending symbol, the last drawn")
            read = context if ahead is not None else context[:, :-1]  # [B, T']
            start = end - read.shape[1]
        else:
            start = self.recent_start() if start is None else start
            read = self.at(done if states and done is not None else start, end)
        old_names = self.names
        old = (
            dict.fromkeys(old_names, 1.0)
            if self.style_temperatures is None
            else dict(zip(old_names, self.style_temperatures.flatten().tolist(), strict=True))
        )
        ensemble.inherit(self.ensemble, read, states)
        values = [float((temperatures or {}).get(n, old.get(n, 1.0))) for n in ensemble.names]
        keep_none = self.style_temperatures is None and all(v == 1.0 for v in values)
        self.style_temperatures = None if keep_none else style_temperatures_of(values)
        if ahead is not None:  # a newcomer is not in it: caught up (exactly) if a step runs it
            logits, ran = ahead  # [B, N, V]
            placed = torch.zeros(logits.shape[0], len(ensemble), logits.shape[2])  # [B, N', V]
            now_ran: set[int] = set()
            for index, name in enumerate(ensemble.names):
                if name in old_names:
                    placed[:, index] = logits[:, old_names.index(name)]
                    if old_names.index(name) in ran:
                        now_ran.add(index)
            self._ahead = (placed, frozenset(now_ran))
        self.ensemble = ensemble
        self._prepared_key, self._prepared = None, None
        return start

    def weights_from(self, weights: Mapping[str, float]) -> list[float]:
        """Weights by name (unnamed styles 0) → one per style, or an error naming the bad one."""
        unknown = [name for name in weights if name not in self.names]
        if unknown:
            raise ConductorError(
                f"unknown style {unknown[0]!r}; loaded styles: {', '.join(self.names)}"
            )
        return [float(weights.get(name, 0.0)) for name in self.names]

    def prime(self, text: str, weights: torch.Tensor | Sequence[float] | None = None) -> int:
        """Read `text` in every stream; the next symbol continues it. With `weights`, only the
        models they run read it now (fused); the skipped ones take it as missed symbols and
        read it later, exactly, like anything else they missed. Returns how many models read."""
        cleaned = clean(text, self.ensemble.vocab)
        if not cleaned:
            return 0
        ids = torch.from_numpy(self.ensemble.vocab.encode(cleaned).astype("int64"))  # [P]
        batch = ids.unsqueeze(0).expand(self.ensemble.streams, -1)  # [B, P]
        readers = None if weights is None else self._prepare(weights)[1]
        if self._ahead is not None:  # the pending symbol is already read: read the rest
            self._ahead = None
            self.ensemble.advance(batch[:, :-1], readers)  # readers catch up first
        else:
            pending = torch.cat([self.pending.unsqueeze(1), batch[:, :-1]], dim=1)  # [B, P]
            self.ensemble.advance(pending, readers)
        self.pending = batch[:, -1].clone()
        self._remember(batch)
        return len(self.ensemble) if readers is None else len(readers)

    def snapshot(self) -> ConductorSnapshot:
        """Where generation stands (models, pending symbol, random stream, step): `restore`
        returns to it, and the same calls from there give the same symbols."""
        return ConductorSnapshot(
            self.ensemble.snapshot(),
            self.pending.clone(),
            self.generator.get_state(),
            self.step_index,
            self._ahead,
            self.history,
            self.written,
        )

    def restore(self, snapshot: ConductorSnapshot, rewind_random: bool = True) -> None:
        """Go back to a `snapshot` of this conductor. With `rewind_random` the same calls then
        give the same symbols again; without, the random stream goes on (to resample)."""
        self.ensemble.restore(snapshot.ensemble)
        self.pending = snapshot.pending.clone()
        if rewind_random:
            self.generator.set_state(snapshot.generator)
        self.step_index = snapshot.step_index
        self._ahead = snapshot.ahead
        self._trail = (snapshot.history, snapshot.written)
        self.restores += 1

    def lookahead(self, weights: torch.Tensor | Sequence[float]) -> None:
        """Feed the pending symbol to the models `weights` would run, now.

        A live session calls this right after each symbol, while it waits for the next tick: the
        next `step` then only mixes and samples, so the engine's work is off the path from a
        control change to the symbol that obeys it. If the weights at that step run a model the
        lookahead skipped, it catches up exactly first: in `step`, or at once when the lookahead
        is asked again with the new weights (a session does, as a command comes in). The engine
        calls are the same either way, so a replay stays bit-exact.
        """
        _, active, _ = self._prepare(weights)
        if self._ahead is None:
            self._ahead = (self.ensemble.step(self.pending, active), active)
        else:  # run already, for other weights: bring in the models these weights add
            self._complete_ahead(active)

    def _complete_ahead(self, active: frozenset[int]) -> torch.Tensor:
        """The lookahead's logits [B, N, V] with every model of `active` in them: those it
        skipped read what they missed, the pending symbol included (exact: the same catch-up
        whenever it runs)."""
        assert self._ahead is not None
        logits, ran = self._ahead  # [B, N, V], the models that read the pending symbol
        if missing := active - ran:
            late = torch.zeros(len(self.ensemble), dtype=torch.bool)
            late[list(missing)] = True
            self.ensemble.catch_up(late)
            logits = torch.where(
                late.view(1, -1, 1), self.ensemble.current_logits(missing), logits
            )  # [B, N, V]
            self._ahead = (logits, ran | missing)
        return logits

    def active_for(self, weights: torch.Tensor | Sequence[float]) -> frozenset[int]:
        """The models `weights` run (those above the threshold)."""
        return self._prepare(weights)[1]

    def _prepare(
        self, weights: torch.Tensor | Sequence[float]
    ) -> tuple[torch.Tensor, frozenset[int], torch.Tensor]:
        """Checked, thresholded weights [B, N], the models to run and the weights as the mixer
        uses them (normalised for linear); cached while the weights are unchanged."""
        key = (
            (tuple(weights.shape), weights.detach().numpy().tobytes())
            if isinstance(weights, torch.Tensor)
            else tuple(float(w) for w in weights)
        )
        if key == self._prepared_key and self._prepared is not None:
            return self._prepared
        n, streams = len(self.ensemble), self.ensemble.streams
        w = check_weights(weights, n, self.mixer)
        w = w.expand(streams, n) if w.dim() == 1 else w  # [B, N]
        if w.shape[0] != streams:
            raise ConductorError(f"got weights for {w.shape[0]} streams, not {streams}")
        if self.threshold > 0:
            active = frozenset(active_mask(w, self.threshold).nonzero().flatten().tolist())
            w = thresholded(w, self.threshold)
        else:
            active = frozenset(range(n))
        w = w.contiguous()
        mixer_w = normalised(w) if self.mixer == "linear" else w
        self._prepared_key, self._prepared = key, (w, active, mixer_w)
        return self._prepared

    @torch.no_grad()
    def step(self, weights: torch.Tensor | Sequence[float]) -> Steps:
        """One symbol per stream under `weights` [N] or [B, N]."""
        w, active, mixer_w = self._prepare(weights)  # [B, N], set, [B, N]
        if self._ahead is None:
            logits = self.ensemble.step(self.pending, active)  # [B, N, V]
        else:
            logits = self._complete_ahead(active)
            self._ahead = None
        if self.style_temperatures is not None:
            logits = logits / self.style_temperatures  # [B, N, V]
        choice = None
        if self.search is not None:  # the symbol by lookahead; the rest as without search
            choice = search(
                self.ensemble, logits, active, self.mixer, w, mixer_w, self.params,
                self.generator, self.search, self.style_temperatures, previous=self.pending,
            )  # fmt: skip
            symbols = choice.symbols  # [B]
        mix = Mix.of(logits, self.mixer, w, mixer_w)  # linear: probabilities, no logarithms
        if choice is None:
            symbols = mix.draw(self.params, self.generator)  # [B]
        result = Steps(
            self.step_index, symbols, w, mix.shares(symbols), logits,
            mixed_probs=mix.mixed if mix.linear else None,
            mixed_log_probs=None if mix.linear else mix.mixed,
            foresight=None if choice is None else choice.foresight,
        )  # fmt: skip
        self.pending = symbols
        self._remember(symbols.unsqueeze(1))
        self.step_index += 1
        return result
