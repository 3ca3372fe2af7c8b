"""`Ensemble`: N style models stepped as one batched computation over B independent streams.

Each model's weights are stacked per layer with the other models of the same shape, so one step
of every model of a group is one `baddbmm` per layer plus one for the heads, whatever N is:

- layer 0 folds the embedding into the input weights: `table[n, v] = W_ih0[n] E[n, v] + biases`,
  a [N, V, 4H] lookup, so the input half of layer 0 costs an `index_select`, not a matmul;
- layers >= 1 multiply `[h_below, h]` [N, B, 2H] by `[W_ih; W_hh]` [N, 2H, 4H] in one call;
- the heads are one [N, B, H] x [N, H, V] call.

Models of different sizes form separate groups (one batched call per group and layer).

Skipping with exact catch-up: `step(symbols, active=mask)` runs only the models in `mask`; the
others record the symbols they miss and read them later, one symbol at a time through the same
single-model step whenever they do it, so a model's state is what it would have been had it run
all along, and *when* the catch-up runs changes no float of it. `work_off(count)` reads up to
`count` missed symbols: a live session calls it in the idle time between symbols, so a model that
comes back has next to nothing to read on the hot path. Should nobody call it (free-running), a
model `MAX_BACKLOG` symbols behind reads one missed symbol per step inside `step`: the symbols
kept for skipped models, and the work a returning model does, are bounded by `MAX_BACKLOG` (plus
the length of a prime it did not read: over the bound it reads two a step until back at it),
never by how long it was away. The engine knows tensors only: no I/O, no clocks, no asyncio.

Precision: at one symbol per step a large model's step is bound by *reading* its recurrent
matrices, so a group may store them in reduced precision — `int8` (per-row scales, activations
quantised per call, int32 sums) or `fp16` (fp32 activations and sums) — and multiply them one
model at a time with fbgemm's prepacked kernels. Embedding tables, biases, heads and all state
stay fp32, and priming (`advance`) reads with the fp32 weights. `precision="auto"` (the default)
stores a group as int8 only where its recurrent weights are far larger than the caches
(`AUTO_REDUCE_BYTES`), so small ensembles, the shipped one included, run in fp32.
`bench/precision.py` measures what it costs on every shipped style.
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from conductor.checkpoint import load_checkpoint
from conductor.errors import ConductorError
from conductor.library import style_name
from conductor.model import CharLSTM
from conductor.vocab import ASCII128, Vocab

__all__ = ["AUTO_REDUCE_BYTES", "MAX_BACKLOG", "PRECISIONS", "Ensemble", "EnsembleSnapshot"]

# The most symbols a skipped model is let fall behind: from there on `step` reads its missed
# symbols itself (one a step; two while a prime it skipped leaves it further behind), so a return
# costs at most this many single-model steps, plus that of a prime read since.
MAX_BACKLOG = 8

PRECISIONS = ("auto", "fp32", "fp16", "int8")

# "auto" stores a group's recurrent matrices as int8 from this many fp32 bytes on (all members
# together): there a step streams them from memory, and int8 made 8 models of 3x512 2.1x and 8
# of 3x1024 3.4x faster (bench/ensemble_speed.py) for at most 0.0007 bits/symbol on the shipped
# styles (bench/precision.py). fp16 gained nothing on the AVX-512 Xeon measured. Below this the
# weights stay in cache, and fp32's one batched call for the group beats one call per model.
AUTO_REDUCE_BYTES = 64 << 20


def _linear_fp16(x: torch.Tensor, packed: Any) -> torch.Tensor:
    out: torch.Tensor = torch.ops.quantized.linear_dynamic_fp16(x, packed)
    return out


def _linear_int8(x: torch.Tensor, packed: Any) -> torch.Tensor:
    # reduce_range: 7-bit activations, so AVX2's u8 x s8 pair sums cannot saturate int16.
    out: torch.Tensor = torch.ops.quantized.linear_dynamic(x, packed, True)
    return out


_LINEAR: dict[str, Callable[[torch.Tensor, Any], torch.Tensor]] = {
    "fp16": _linear_fp16,
    "int8": _linear_int8,
}


def _pack(weight: torch.Tensor, precision: str) -> Any:
    """weight [out, in] → fbgemm's prepacked matrix in `precision` (no bias: added in fp32)."""
    weight = weight.contiguous()
    if precision == "fp16":
        return torch.ops.quantized.linear_prepack_fp16(weight, None)
    scales = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12).double()  # [out]: one per row
    zeros = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # torch marks quantized tensor creation as deprecated
        warnings.simplefilter("ignore")
        quantized = torch.quantize_per_channel(weight, scales, zeros, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(quantized, None)


@dataclass
class _Packed:
    """A group's recurrent matrices in reduced precision: per layer, one prepacked matrix per
    model (layer 0: W_hh0 [4H, H]; then [W_ih; W_hh] as [4H, 2H])."""

    precision: str
    layers: list[list[Any]]

    def rows(self, start: int, count: int) -> _Packed:
        return _Packed(self.precision, [ms[start : start + count] for ms in self.layers])


@dataclass
class _Stack:
    """Stacked weights of some models of one shape (all of a group, or its active subset)."""

    table: torch.Tensor  # [n, V, 4H] layer-0 input projection of every symbol, biases included
    w_hh0: torch.Tensor  # [n, H, 4H]
    w_cat: list[torch.Tensor]  # per layer >= 1: [n, 2H, 4H]
    b_cat: list[torch.Tensor]  # per layer >= 1: [n, 1, 4H]
    head_w: torch.Tensor  # [n, H, V]
    head_b: torch.Tensor  # [n, 1, V]
    # Reduced precision: the recurrent matrices live here and w_hh0 / w_cat are empty [n, 0, 0].
    packed: _Packed | None = field(default=None)

    def rows(self, start: int, count: int) -> _Stack:
        """Models `start .. start+count-1` of the stack as views: no copy, no memory, no time
        (the stacked tensors are contiguous along the model axis)."""

        def part(t: torch.Tensor) -> torch.Tensor:
            return t.narrow(0, start, count)

        return _Stack(
            table=part(self.table),
            w_hh0=part(self.w_hh0),
            w_cat=[part(t) for t in self.w_cat],
            b_cat=[part(t) for t in self.b_cat],
            head_w=part(self.head_w),
            head_b=part(self.head_b),
            packed=None if self.packed is None else self.packed.rows(start, count),
        )


def _runs(local: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted member positions → maximal runs of neighbours as (start, count)."""
    runs: list[tuple[int, int]] = []
    for k in local:
        if runs and runs[-1][0] + runs[-1][1] == k:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((k, 1))
    return runs


@dataclass
class _Group:
    members: list[int]  # ensemble indices of this group's models, in order
    layers: int
    hidden: int
    stack: _Stack
    h: torch.Tensor  # [L, n, B, H]
    c: torch.Tensor  # [L, n, B, H]


def _param(module: torch.nn.Module, name: str) -> torch.Tensor:
    value = getattr(module, name)
    assert isinstance(value, torch.Tensor)
    return value


def _ifog(weights: torch.Tensor) -> torch.Tensor:
    """Gate columns [..., 4H] from PyTorch's order (i, f, g, o) to (i, f, o, g).

    The three sigmoid gates then sit side by side, so the cell takes one sigmoid over 3H
    columns and one tanh over H instead of a sigmoid over all 4H.
    """
    i, f, g, o = weights.chunk(4, dim=-1)
    return torch.cat([i, f, o, g], dim=-1)


def _recurrent_bytes(model: CharLSTM) -> int:
    """fp32 bytes of one model's recurrent and inter-layer matrices (what a step streams)."""
    h, layers = model.config.hidden, model.config.layers
    return 4 * (h * 4 * h + (layers - 1) * 2 * h * 4 * h)


def _stack_models(models: Sequence[CharLSTM], precision: str = "fp32") -> _Stack:
    layers = models[0].config.layers
    tables, w_hh0, heads_w, heads_b = [], [], [], []
    w_cat: list[list[torch.Tensor]] = [[] for _ in range(1, layers)]
    b_cat: list[list[torch.Tensor]] = [[] for _ in range(1, layers)]
    with torch.no_grad():
        for model in models:
            lstm = model.lstm
            bias0 = _param(lstm, "bias_ih_l0") + _param(lstm, "bias_hh_l0")  # [4H]
            w_ih0 = _param(lstm, "weight_ih_l0")  # [4H, E]
            tables.append(_ifog(model.embedding.weight @ w_ih0.T + bias0))  # [V, 4H]
            w_hh0.append(_ifog(_param(lstm, "weight_hh_l0").T))  # [H, 4H]
            for layer in range(1, layers):
                w_ih = _param(lstm, f"weight_ih_l{layer}").T  # [H, 4H]
                w_hh = _param(lstm, f"weight_hh_l{layer}").T  # [H, 4H]
                w_cat[layer - 1].append(_ifog(torch.cat([w_ih, w_hh], dim=0)))  # [2H, 4H]
                bias = _param(lstm, f"bias_ih_l{layer}") + _param(lstm, f"bias_hh_l{layer}")
                b_cat[layer - 1].append(_ifog(bias).unsqueeze(0))  # [1, 4H]
            heads_w.append(model.head.weight.T)  # [H, V]
            heads_b.append(model.head.bias.unsqueeze(0))  # [1, V]

        def lay_out(ws: list[torch.Tensor]) -> torch.Tensor:  # → [n, K, 4H]
            if precision != "fp32":
                return torch.empty(len(ws), 0, 0)
            return torch.stack(ws).contiguous()

        packed = None
        if precision != "fp32":
            per_layer = [w_hh0, *w_cat]  # per layer, per model: [K, 4H]
            packed = _Packed(precision, [[_pack(w.T, precision) for w in ws] for ws in per_layer])
        return _Stack(
            table=torch.stack(tables).contiguous(),  # [n, V, 4H]
            w_hh0=lay_out(w_hh0),
            w_cat=[lay_out(ws) for ws in w_cat],
            b_cat=[torch.stack(bs).contiguous() for bs in b_cat],  # [n, 1, 4H]
            head_w=torch.stack(heads_w).contiguous(),  # [n, H, V]
            head_b=torch.stack(heads_b).contiguous(),  # [n, 1, V]
            packed=packed,
        )


def _layer_gates(stack: _Stack, layer: int, base: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Gates [n, B, 4H] = base [n, 1|B, 4H] + x [n, B, K] times layer `layer`'s matrices
    (layer 0: W_hh0 on h; above: [W_ih; W_hh] on [h_below, h])."""
    if stack.packed is None:
        # x W, never W x: the rows-first product that streamed large matrices ~9-18% faster on
        # the AMD EPYC this ran on first was 2-2.5x slower on the Xeon (AVX-512) of later runs.
        w = stack.w_hh0 if layer == 0 else stack.w_cat[layer - 1]
        return torch.baddbmm(base, x, w)  # [n, B, 4H]
    linear = _LINEAR[stack.packed.precision]
    parts = [linear(x[k], packed) for k, packed in enumerate(stack.packed.layers[layer])]
    return torch.stack(parts).add_(base)  # [n, B, 4H]


def _lstm_cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's LSTM cell on gates [n, B, 4H] in (i, f, o, g) order (see `_ifog`), c [n, B, H]."""
    hidden = c.shape[-1]
    s = torch.sigmoid(gates[..., : 3 * hidden])  # [n, B, 3H]: input, forget, output gates
    g = torch.tanh(gates[..., 3 * hidden :])  # [n, B, H]
    c_next = torch.addcmul(s[..., hidden : 2 * hidden] * c, s[..., :hidden], g)  # [n, B, H]
    h_next = s[..., 2 * hidden :] * torch.tanh(c_next)  # [n, B, H]
    return h_next, c_next


def _advance(
    stack: _Stack, h: torch.Tensor, c: torch.Tensor, symbols: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every layer of the stacked models reads symbols [B] from state h, c [L, n, B, H];
    → the new h, c [L, n, B, H] (heads not applied)."""
    if symbols.shape[0] == 1:
        x_gates = stack.table[:, int(symbols[0])].unsqueeze(1)  # [n, 1, 4H], a view
    else:
        x_gates = stack.table.index_select(1, symbols)  # [n, B, 4H]
    gates = _layer_gates(stack, 0, x_gates, h[0])  # [n, B, 4H]
    h_new, c_new = _lstm_cell(gates, c[0])  # [n, B, H]
    if h.shape[0] == 1:
        return h_new.unsqueeze(0), c_new.unsqueeze(0)  # [1, n, B, H], no copy
    hs, cs = [h_new], [c_new]
    for layer in range(1, h.shape[0]):
        both = torch.cat([h_new, h[layer]], dim=-1)  # [n, B, 2H]
        gates = _layer_gates(stack, layer, stack.b_cat[layer - 1], both)
        h_new, c_new = _lstm_cell(gates, c[layer])  # [n, B, H]
        hs.append(h_new)
        cs.append(c_new)
    return torch.stack(hs), torch.stack(cs)  # [L, n, B, H]


@dataclass(frozen=True)
class EnsembleSnapshot:
    states: list[tuple[torch.Tensor, torch.Tensor]]  # per group: h, c [L, n, B, H]
    missed: list[torch.Tensor]  # symbols [B] some skipped model has not read yet
    missed_by: list[int]
    behind: frozenset[int]
    streams: int


class Ensemble:
    """N models, B streams. `step` → logits [B, N, V]; state per stream; skipping with catch-up."""

    def __init__(
        self,
        models: Sequence[CharLSTM],
        names: Sequence[str],
        vocab: Vocab = ASCII128,
        precision: str | Mapping[str, str] = "auto",
    ):
        if not models:
            raise ConductorError("an ensemble needs at least one model")
        if len(names) != len(models) or len(set(names)) != len(names):
            raise ConductorError("give each model of the ensemble a distinct name")
        for name, model in zip(names, models, strict=True):
            if model.config.vocab_size != len(vocab):
                raise ConductorError(
                    f"model {name!r} has {model.config.vocab_size} symbols, the ensemble's "
                    f"vocabulary {len(vocab)}; models mix only over one vocabulary"
                )
        self.names = list(names)
        self.vocab = vocab
        self.models = [model.eval() for model in models]
        self.streams = 1
        #: per model: the precision its recurrent matrices are stored in ("fp32", "fp16", "int8")
        self.precisions = self._resolve_precisions(precision)
        by_shape: dict[tuple[int, int, str], list[int]] = {}
        for index, model in enumerate(self.models):
            key = (model.config.layers, model.config.hidden, self.precisions[index])
            by_shape.setdefault(key, []).append(index)
        self.groups: list[_Group] = []
        for (layers, hidden, kind), members in by_shape.items():
            stack = _stack_models([self.models[i] for i in members], kind)
            zeros = torch.zeros(layers, len(members), 1, hidden)  # [L, n, B, H]
            self.groups.append(_Group(members, layers, hidden, stack, zeros, zeros.clone()))
        self._everyone = frozenset(range(len(self.models)))
        self.active: frozenset[int] = self._everyone  # the models the last step ran
        self._missed: list[torch.Tensor] = []  # symbols [B] stepped while some model was skipped
        self._missed_by: list[int] = [0] * len(self.models)  # per model: missed symbols pending
        self._behind: set[int] = set()  # models with missed symbols to read
        self._tracks_missed = True  # False in a `branch`: skipped models there never come back
        grouped_order = [m for group in self.groups for m in group.members]
        self._order: torch.Tensor | None = None
        if grouped_order != sorted(grouped_order):
            self._order = torch.tensor([grouped_order.index(m) for m in range(len(self.models))])

    def _resolve_precisions(self, precision: str | Mapping[str, str]) -> list[str]:
        """One precision per model from one setting for all or a mapping by name (unnamed
        models: "auto"); "auto" groups are int8 from `AUTO_REDUCE_BYTES` on, else fp32."""
        wanted = (
            precision if isinstance(precision, Mapping) else dict.fromkeys(self.names, precision)
        )
        unknown = sorted(set(wanted) - set(self.names))
        if unknown:
            raise ConductorError(
                f"precision given for {', '.join(unknown)}, which is not in this ensemble "
                f"(styles: {', '.join(self.names)})"
            )
        for name, kind in wanted.items():
            if kind not in PRECISIONS:
                raise ConductorError(
                    f"unknown precision {kind!r} for {name!r}; "
                    f"choose one of {', '.join(PRECISIONS)}"
                )
        chosen = [wanted.get(name, "auto") for name in self.names]
        auto_bytes: dict[tuple[int, int], int] = {}  # shape → fp32 recurrent bytes of its autos
        for model, kind in zip(self.models, chosen, strict=True):
            if kind == "auto":
                shape = (model.config.layers, model.config.hidden)
                auto_bytes[shape] = auto_bytes.get(shape, 0) + _recurrent_bytes(model)
        for index, model in enumerate(self.models):
            if chosen[index] == "auto":
                shape = (model.config.layers, model.config.hidden)
                chosen[index] = "int8" if auto_bytes[shape] >= AUTO_REDUCE_BYTES else "fp32"
        return chosen

    @classmethod
    def from_checkpoints(
        cls,
        paths: Sequence[Path | str],
        names: Sequence[str] | None = None,
        precision: str | Mapping[str, str] = "auto",
    ) -> Ensemble:
        models = [load_checkpoint(Path(p))[0] for p in paths]
        if names is None:
            names = [style_name(p) for p in paths]
        return cls(models, names, precision=precision)

    def __len__(self) -> int:
        return len(self.models)

    # -- streams -------------------------------------------------------------------------------

    def set_streams(self, streams: int) -> None:
        """Start `streams` fresh independent streams (all state zero)."""
        if streams < 1:
            raise ConductorError("an ensemble needs at least one stream")
        self.streams = streams
        for group in self.groups:
            group.h = torch.zeros(group.layers, len(group.members), streams, group.hidden)
            group.c = torch.zeros_like(group.h)
        self._missed.clear()
        self._missed_by = [0] * len(self.models)
        self._behind.clear()

    def reset(self, stream: int) -> None:
        """Zero one stream's state in every model, as if it had read nothing."""
        self._check_stream(stream)
        self.catch_up()
        for group in self.groups:
            group.h[:, :, stream].zero_()
            group.c[:, :, stream].zero_()

    def fork(self, stream: int) -> int:
        """A new stream whose state copies `stream`'s; returns its index."""
        self._check_stream(stream)
        self.catch_up()
        for group in self.groups:
            group.h = torch.cat([group.h, group.h[:, :, stream : stream + 1]], dim=2)
            group.c = torch.cat([group.c, group.c[:, :, stream : stream + 1]], dim=2)
        self.streams += 1
        return self.streams - 1

    def branch(self, repeats: int) -> Ensemble:
        """A scratch ensemble for lookahead: these weights (shared, not copied) and each stream's
        state `repeats` times (stream `b * repeats + j` copies stream `b`). Nothing it steps
        touches this ensemble. Models skipped here are copied as they stand and stay skipped in
        the branch (it keeps no missed symbols): step only the models that are current here."""
        if repeats < 1:
            raise ConductorError("a branch needs at least one copy of each stream")
        other = copy.copy(self)
        other.groups = [
            replace(
                group,
                h=group.h.repeat_interleave(repeats, dim=2),  # [L, n, B * repeats, H]
                c=group.c.repeat_interleave(repeats, dim=2),
            )
            for group in self.groups
        ]
        other.streams = self.streams * repeats
        other._missed, other._missed_by, other._behind = [], [0] * len(self.models), set()
        other._tracks_missed = False
        return other

    def snapshot(self) -> EnsembleSnapshot:
        """Every model's state and what skipped models still have to read (a copy): `restore`
        returns to exactly this point. Skipped models stay skipped (no catch-up is forced)."""
        return EnsembleSnapshot(
            [(group.h.clone(), group.c.clone()) for group in self.groups],
            list(self._missed),  # the [B] tensors themselves are never changed in place
            list(self._missed_by),
            frozenset(self._behind),
            self.streams,
        )

    def restore(self, snapshot: EnsembleSnapshot) -> None:
        """Return every model to a `snapshot` of this ensemble."""
        if len(snapshot.states) != len(self.groups) or len(snapshot.missed_by) != len(self):
            raise ConductorError("this snapshot is of another ensemble")
        for (h, c), group in zip(snapshot.states, self.groups, strict=True):
            group.h, group.c = h.clone(), c.clone()
        self._missed = list(snapshot.missed)
        self._missed_by = list(snapshot.missed_by)
        self._behind = set(snapshot.behind)
        self.streams = snapshot.streams

    def _check_stream(self, stream: int) -> None:
        if not 0 <= stream < self.streams:
            raise ConductorError(f"no stream {stream}; this ensemble has {self.streams}")

    def _locate(self, model: int) -> tuple[_Group, int]:
        """The group holding ensemble model `model`, and its row in that group's stack."""
        for group in self.groups:
            if model in group.members:
                return group, group.members.index(model)
        raise ConductorError(f"no model {model}; this ensemble has {len(self)}")

    def state(self, model: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c) of one model, each [L, B, H] as `nn.LSTM` lays them out (a copy)."""
        group, k = self._locate(model)
        return group.h[:, k].clone(), group.c[:, k].clone()

    def set_state(self, model: int, h: torch.Tensor, c: torch.Tensor) -> None:
        """Write one model's state, h and c each [L, B, H] (as `state` gives them)."""
        group, k = self._locate(model)
        shape = (group.layers, self.streams, group.hidden)
        if tuple(h.shape) != shape or tuple(c.shape) != shape:
            raise ConductorError(
                f"a state for {self.names[model]!r} is [L, B, H] = {list(shape)}, "
                f"not {list(h.shape)}"
            )
        group.h[:, k] = h
        group.c[:, k] = c

    # -- a changing set of styles --------------------------------------------------------------

    def joined(
        self,
        model: CharLSTM,
        name: str,
        context: torch.Tensor | None = None,
        precision: str = "auto",
    ) -> Ensemble:
        """This ensemble with one more model, as a new ensemble (this one goes on as it was).

        Every model here keeps its state exactly (a skipped one caught up first, as it would be
        at its next step) and its precision; the new one reads `context` [B, T], each stream's
        latest symbols, so it joins the text where it is (none: it starts fresh; see
        `inherit`)."""
        if name in self.names:
            raise ConductorError(f"the ensemble already has a style named {name!r}")
        other = self.regrouped([*self.names, name], {name: model}, {name: precision})
        other.inherit(self, context)
        return other

    def without(self, name: str) -> Ensemble:
        """This ensemble less one model, as a new ensemble; the others keep their state."""
        if name not in self.names:
            raise ConductorError(
                f"no style {name!r} in the ensemble (styles: {', '.join(self.names)})"
            )
        if len(self) == 1:
            raise ConductorError(f"{name!r} is the ensemble's only style; an ensemble needs one")
        other = self.regrouped([own for own in self.names if own != name])
        other.inherit(self)
        return other

    def regrouped(
        self,
        names: Sequence[str],
        models: Mapping[str, CharLSTM] | None = None,
        precisions: Mapping[str, str] | None = None,
    ) -> Ensemble:
        """An ensemble of the styles `names`, holding no state yet (`inherit` gives it this
        one's): each of this ensemble's models keeps its precision; `models` are the new ones
        (with `precisions`, default "auto")."""
        own = dict(zip(self.names, self.models, strict=True)) | dict(models or {})
        kept = dict(zip(self.names, self.precisions, strict=True)) | dict(precisions or {})
        return Ensemble(
            [own[name] for name in names],
            names,
            self.vocab,
            {name: kept.get(name, "auto") for name in names},
        )

    def inherit(
        self,
        previous: Ensemble,
        context: torch.Tensor | None = None,
        states: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> None:
        """Go on where `previous`, an ensemble of another set of styles, stands.

        This ensemble is built for the new set (`Ensemble(models, names)`: it holds no state
        yet, so it can be built on any thread while `previous` plays). Every style both have
        takes its state from `previous` exactly (skipped ones caught up first); a style
        `previous` lacks starts fresh and takes `context` [B, T], each stream's latest symbols,
        as symbols it missed: it reads them as any skipped model does, in idle time
        (`work_off`) or when it next runs, one single-model step each, so a replay making the
        same calls gets the same floats, and no single call reads them all unless asked to.
        A newcomer named in `states` starts from that (h, c) instead (each [L, B, H]: what
        `read_ahead` gave, the first of its symbols read already, off the engine thread)."""
        if context is not None and (context.dim() != 2 or context.shape[0] != previous.streams):
            raise ConductorError(f"a context is symbols [streams={previous.streams}, T]")
        if self.vocab != previous.vocab:
            raise ConductorError("an ensemble goes on only over the same vocabulary")
        previous.catch_up()
        self.set_streams(previous.streams)
        for ours, name in enumerate(self.names):
            if name in previous.names:
                self.set_state(ours, *previous.state(previous.names.index(name)))
        newcomers = {i for i, name in enumerate(self.names) if name not in previous.names}
        for name, (h, c) in (states or {}).items():
            if self.names.index(name) not in newcomers:
                raise ConductorError(f"{name!r} is not new here: it keeps its own state")
            self.set_state(self.names.index(name), h, c)
        if newcomers and context is not None and context.shape[1]:
            ids = context.long()
            self._missed = [ids[:, t].clone() for t in range(ids.shape[1])]  # [B] each
            for index in newcomers:
                self._missed_by[index] = ids.shape[1]
            self._behind |= newcomers

    @torch.no_grad()
    def read_ahead(self, name: str, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c) of model `name` from a fresh state after reading ids [B, T], one single-model
        step each: the very ops by which it reads missed symbols (so what it reads here and
        what it reads later as missed give the floats of reading them all later). Touches no
        state here: for an ensemble not yet playing, on any thread (`inherit` takes it)."""
        index = self.names.index(name)
        group, k = self._locate(index)
        stack = group.stack.rows(k, 1)
        h = torch.zeros(group.layers, 1, ids.shape[0], group.hidden)  # [L, 1, B, H]
        c = torch.zeros_like(h)
        for t in range(ids.shape[1]):
            h, c = _advance(stack, h, c, ids[:, t].long())  # [L, 1, B, H]
        return h[:, 0], c[:, 0]  # [L, B, H] each

    # -- stepping ------------------------------------------------------------------------------

    @torch.no_grad()
    def step(
        self, symbols: torch.Tensor, active: torch.Tensor | AbstractSet[int] | None = None
    ) -> torch.Tensor:
        """Feed symbols [B] to the active models (mask [N] or index set; default all).

        Returns logits [B, N, V].

        Rows of inactive models are zero logits (a uniform guess): a mixer gives them weight 0.
        """
        if symbols.shape != (self.streams,):
            raise ConductorError(
                f"step takes one symbol per stream: expected shape ({self.streams},), "
                f"got {tuple(symbols.shape)}"
            )
        symbols = symbols.long()
        # Bookkeeping in Python sets: at one symbol per step, tensor ops on [N] masks cost more
        # than the arithmetic of a small model.
        if active is None:
            on = self._everyone
        elif isinstance(active, torch.Tensor):
            on = frozenset(active.nonzero().flatten().tolist())
        else:
            on = frozenset(active)
        returning = on & self._behind
        if returning:
            self._catch_up(returning)
        skipped = self._everyone - on
        if skipped and self._tracks_missed:
            self._missed.append(symbols.clone())
            for index in skipped:
                self._missed_by[index] += 1
                if self._missed_by[index] > MAX_BACKLOG:  # nobody worked it off: read it now,
                    # two a step, so what a prime left a skipped model shrinks to the bound
                    self._read(index, min(2, self._missed_by[index] - MAX_BACKLOG))
            self._behind |= skipped
        self.active = on
        outputs = [self._step_group(group, symbols, on) for group in self.groups]  # [n, B, V]
        stacked = outputs[0] if len(outputs) == 1 else torch.cat(outputs)  # [N', B, V]
        if self._order is not None:
            stacked = stacked.index_select(0, self._order)  # back to ensemble order
        if self._missed:
            self._forget_caught_up()
        # Contiguous [B, N, V]: mixers reduce over N, which is slow on a strided view.
        return stacked.transpose(0, 1).contiguous()  # [B, N, V]

    def _step_group(self, group: _Group, symbols: torch.Tensor, on: frozenset[int]) -> torch.Tensor:
        """Step one group's active models; → logits [n, B, V] (zeros for inactive members)."""
        local = tuple(k for k, m in enumerate(group.members) if m in on)
        n = len(group.members)
        if not local:
            return torch.zeros(n, self.streams, len(self.vocab))
        if len(local) == n:
            h_all, c_all = _advance(group.stack, group.h, group.c, symbols)  # [L, n, B, H]
            group.h, group.c = h_all, c_all
            return torch.baddbmm(group.stack.head_b, h_all[-1], group.stack.head_w)  # [n, B, V]
        # Some members skipped: step each run of neighbours as views of the stack (the pad's
        # nearest styles are neighbours, so usually one or two calls; nothing is copied or
        # cached, so no active set costs memory or a first-time build).
        full = torch.zeros(n, self.streams, len(self.vocab))  # [n, B, V]
        h_new, c_new = group.h.clone(), group.c.clone()  # [L, n, B, H]
        for start, count in _runs(local):
            stack = group.stack.rows(start, count)
            part = slice(start, start + count)
            h, c = _advance(stack, group.h[:, part], group.c[:, part], symbols)  # [L, m, B, H]
            h_new[:, part], c_new[:, part] = h, c
            full[part] = torch.baddbmm(stack.head_b, h[-1], stack.head_w)  # [m, B, V]
        group.h, group.c = h_new, c_new
        return full

    @torch.no_grad()
    def current_logits(self, models: AbstractSet[int]) -> torch.Tensor:
        """Logits [B, N, V] of `models` from their current state (zeros for the others): what
        they predict after the last symbol they read."""
        out = torch.zeros(self.streams, len(self.models), len(self.vocab))  # [B, N, V]
        for index in models:
            group, k = self._locate(index)
            top = group.h[-1, k]  # [B, H]
            out[:, index] = torch.addmm(group.stack.head_b[k], top, group.stack.head_w[k])
        return out

    # -- catch-up ------------------------------------------------------------------------------

    @torch.no_grad()
    def catch_up(self, which: torch.Tensor | None = None) -> None:
        """Bring skipped models (all behind ones, or those in mask [N]) up to the present."""
        wanted = self._everyone if which is None else set(which.nonzero().flatten().tolist())
        self._catch_up(self._behind & wanted)

    def _catch_up(self, models: Iterable[int]) -> None:
        for index in sorted(models):
            self._read(index, self._missed_by[index])
            self._behind.discard(index)
        self._forget_caught_up()

    def _read(self, index: int, count: int) -> None:
        """Model `index` reads the oldest `count` symbols it missed, one single-model step each
        (the same op whenever it runs, so catching up early or late gives the same floats)."""
        if count <= 0:
            return
        group, k = self._locate(index)
        stack = group.stack.rows(k, 1)
        h = group.h[:, k : k + 1].clone()  # [L, 1, B, H]
        c = group.c[:, k : k + 1].clone()  # [L, 1, B, H]
        start = len(self._missed) - self._missed_by[index]
        for symbols in self._missed[start : start + count]:
            h, c = _advance(stack, h, c, symbols)  # [L, 1, B, H]
        group.h[:, k : k + 1] = h
        group.c[:, k : k + 1] = c
        self._missed_by[index] -= count

    def state_digest(self) -> str:
        """sha256 of every group's hidden and cell state bytes (to compare two runs exactly)."""
        digest = hashlib.sha256()
        for group in self.groups:
            digest.update(group.h.contiguous().numpy().tobytes())
            digest.update(group.c.contiguous().numpy().tobytes())
        return digest.hexdigest()

    @property
    def backlog(self) -> int:
        """The most symbols any skipped model has still to read."""
        return max(self._missed_by, default=0)

    @property
    def kept_symbols(self) -> int:
        """How many missed symbols the engine holds (never more than the backlog)."""
        return len(self._missed)

    @torch.no_grad()
    def work_off(self, count: int = 8) -> int:
        """Idle-time catch-up: the skipped model furthest behind reads up to `count` of the
        symbols it missed. Returns how many it read (0: nobody is behind)."""
        index = max(range(len(self.models)), key=lambda m: self._missed_by[m])
        count = min(count, self._missed_by[index])
        self._read(index, count)
        if count:
            self._forget_caught_up()
        return count

    def _forget_caught_up(self) -> None:
        keep = max(self._missed_by, default=0)
        if keep < len(self._missed):
            del self._missed[: len(self._missed) - keep]

    def _feed_model(self, index: int, ids: torch.Tensor) -> None:
        """Advance one model over ids [B, T] with the fused sequence kernel."""
        group, k = self._locate(index)
        model = self.models[index]
        x = model.embedding(ids)  # [B, T, E]
        state = (group.h[:, k].contiguous(), group.c[:, k].contiguous())  # [L, B, H]
        _, (h, c) = model.lstm(x, state)
        group.h[:, k] = h
        group.c[:, k] = c

    @torch.no_grad()
    def warm_up(self) -> None:
        """Run every model's fused sequence kernel once on a throwaway input (no state
        changes): its first call in a process costs several times a later one (a live
        session's first prime would be late)."""
        ids = torch.zeros(self.streams, 16, dtype=torch.long)  # [B, T]
        for model in self.models:
            model.lstm(model.embedding(ids))

    @torch.no_grad()
    def advance(self, ids: torch.Tensor, models: AbstractSet[int] | None = None) -> None:
        """Feed a sequence ids [B, T] without computing heads (priming).

        `models` (default: all) read it now, each with its fused sequence kernel (much faster
        than T single steps); the others take it as symbols they missed, read later like any
        skipped symbol (in idle time, or when they run again), so a prime costs only the styles
        the next symbol needs. Which models read it is part of the call, so a replay making the
        same calls gets the same floats. The next `step` continues after the last symbol.
        """
        if ids.dim() != 2 or ids.shape[0] != self.streams:
            raise ConductorError(f"advance takes symbols [streams={self.streams}, T]")
        readers = self._everyone if models is None else frozenset(models) & self._everyone
        self._catch_up(readers & self._behind)
        if ids.shape[1] == 0:
            return
        ids = ids.long()
        for index in sorted(readers):
            self._feed_model(index, ids)
        if later := self._everyone - readers:
            self._missed.extend(ids[:, t].clone() for t in range(ids.shape[1]))  # [B] each
            for index in later:
                self._missed_by[index] += ids.shape[1]
            self._behind |= later
