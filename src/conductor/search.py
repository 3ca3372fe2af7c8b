"""Lookahead search over the mixed distribution: foresight for a character-level mix.

Akten & Grierson saw a mix of four or more styles drift "towards what appears to be random
sequences of characters … accentuated by … predicting on a character-by-character level with no
foresight", and proposed to "sample multiple times per time-step, and explore (i.e. resample)
each sample a few time-steps into the future, scoring each path on the sum of the
log-probabilities accumulated along the way, then pruning and selecting". This is that search:

1. `samples` first symbols are drawn from the mix, as generation draws one (the first of them
   is the very symbol plain sampling would have drawn);
2. each path is rolled `depth - 1` symbols further, drawing from the mix: every path is one
   stream of a scratch `Ensemble.branch`, all paths one batched step per symbol;
3. a path scores the sum of its symbols' log-probabilities under the mix (before temperature
   shapes it), the paper's score, minus `balance` times how far the styles' shares of its
   symbols are from their weights (L1, 0 to 2): a path on which one style writes far more than
   its weight says is penalised, so search makes words without collapsing the mix into its most
   confident style;
4. the best path's first symbol is generated, its rest is the foresight shown ahead of the text.

**Sampling chooses the kind of symbol, search chooses which one** (`keep_kind`, on by default):
only paths whose first symbol is of the same kind as plain sampling's (a letter, a digit, white
space, anything else) compete. Picking the best path outright walks into white space and stays
there: a run of spaces is far more probable under a mix of code, markup and tunes than any word,
and leaving it costs one unlikely symbol, so the paper's rule writes spaces forever
(`bench/search.py` shows it). With the kind kept, words and spaces come at the rate sampling
gives them, and the search spends its foresight on which letter makes a word. **Inside a word**
(after a letter) search also decides whether the word goes on or ends: letters, white space and
punctuation compete there (digits stay out unless sampling drew one). Left to sampling, a word
ends where a coin says, and a mix of eight styles writes "gener", "chara", "throug"; a space
after a space is still sampling's to choose, so the search cannot fall into a run of them.

**Plain sampling's symbol stands unless a path beats it clearly** (`margin`, in nats): its path
is path 0, and another path is taken only if it scores more than `margin` above it. Search then
mends what sampling got wrong and leaves alone what it got right, which keeps the text as varied
as sampling makes it wherever no mending is needed (0: always the best path).

Everything is drawn from the conductor's seeded generator in a fixed order, so a seed, the
settings and the commands fix the text: `replay` stays exact. The main ensemble is untouched:
only the chosen symbol is fed to it, by the next step, as without search.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from conductor.engine import Ensemble
from conductor.errors import ConductorError
from conductor.mixing import MixerName, attribute, linear_probs, linear_shares, product
from conductor.sampling import SamplingParams, sample, sample_probs
from conductor.vocab import Vocab

__all__ = [
    "DIGIT",
    "LETTER",
    "MAX_BALANCE",
    "MAX_DEPTH",
    "MAX_MARGIN",
    "MAX_SAMPLES",
    "OTHER",
    "SPACE",
    "Choice",
    "Mix",
    "SearchSettings",
    "kinds",
    "search",
    "target_shares",
]

MAX_SAMPLES = 64
MAX_DEPTH = 32
MAX_BALANCE = 100.0
MAX_MARGIN = 100.0
LETTER, DIGIT, SPACE, OTHER = range(4)  # the kinds of symbol


@functools.cache
def kinds(vocab: Vocab) -> torch.Tensor:
    """The kind of each symbol of `vocab` [V]: LETTER, DIGIT, SPACE (white space) or OTHER."""
    return torch.tensor(
        [
            LETTER if c.isalpha() else DIGIT if c.isdigit() else SPACE if c.isspace() else OTHER
            for c in vocab.symbols
        ]
    )


@dataclass(frozen=True)
class SearchSettings:
    """How widely and how far to look: `samples` paths of `depth` symbols each (the first
    included); `balance` weighs the morph-keeping penalty (0: the paper's score alone);
    `keep_kind`: only paths starting with the kind of symbol plain sampling drew compete (but
    for a word's end); `margin`: how many nats a path must score above plain sampling's own to
    be taken instead (0: the best path)."""

    samples: int = 8
    depth: int = 4
    balance: float = 0.0
    keep_kind: bool = True
    margin: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise ConductorError(f"search samples go from 1 to {MAX_SAMPLES}, not {self.samples}")
        if not 1 <= self.depth <= MAX_DEPTH:
            raise ConductorError(f"search depth goes from 1 to {MAX_DEPTH}, not {self.depth}")
        if not 0.0 <= self.balance <= MAX_BALANCE:
            raise ConductorError(
                f"search balance goes from 0 to {MAX_BALANCE:g}, not {self.balance}"
            )
        if not 0.0 <= self.margin <= MAX_MARGIN:
            raise ConductorError(f"search margin goes from 0 to {MAX_MARGIN:g}, not {self.margin}")

    @property
    def path_steps(self) -> int:
        """Symbols the paths read per generated symbol, all paths together (its cost)."""
        return self.samples * (self.depth - 1)


@dataclass(frozen=True)
class Choice:
    symbols: torch.Tensor  # [B] the first symbol of each stream's best path
    foresight: torch.Tensor  # [B, depth - 1] the rest of that path
    scores: torch.Tensor  # [B, samples] every path's score (-inf: not of the kind drawn)
    starts: torch.Tensor  # [B, samples] every path's first symbol (path 0: plain sampling's)
    chosen: torch.Tensor  # [B] which path was taken (0: plain sampling's)


def target_shares(weights: torch.Tensor) -> torch.Tensor:
    """The share of the text each style's weight asks for: positive weights, normalised [B, N]."""
    positive = weights.clamp(min=0)
    return positive / positive.sum(-1, keepdim=True).clamp(min=1e-12)


@dataclass(frozen=True)
class Mix:
    """One step's mix of logits [B, N, V], as the mixer makes it: the linear mixer in
    probability space (one softmax, one bmm, no logarithms), the product mixer in log space.
    `Conductor.step` and every step of a search's paths mix and draw through it alike."""

    mixer: MixerName
    weights: torch.Tensor  # [B, N] the thresholded weights
    mixer_weights: torch.Tensor  # [B, N] as the mixer takes them (normalised for linear)
    per_model: torch.Tensor  # [B, N, V] probabilities (linear) or log-probabilities (product)
    mixed: torch.Tensor  # [B, V] likewise

    @classmethod
    def of(
        cls,
        logits: torch.Tensor,
        mixer: MixerName,
        weights: torch.Tensor,
        mixer_weights: torch.Tensor,
    ) -> Mix:
        if mixer == "linear":
            probs = torch.softmax(logits, dim=-1)  # [B, N, V]
            return cls(mixer, weights, mixer_weights, probs, linear_probs(probs, mixer_weights))
        per_model = torch.log_softmax(logits, dim=-1)  # [B, N, V]
        return cls(mixer, weights, mixer_weights, per_model, product(per_model, weights))

    @property
    def linear(self) -> bool:
        return self.mixer == "linear"

    def draw(self, params: SamplingParams, generator: torch.Generator) -> torch.Tensor:
        """One symbol per row [B], shaped by `params`."""
        if self.linear:
            return sample_probs(self.mixed, params, generator)
        return sample(self.mixed, params, generator)

    def shares(self, symbols: torch.Tensor) -> torch.Tensor:
        """Each style's share [B, N] of symbols [B]."""
        if self.linear:
            return linear_shares(self.per_model, self.mixer_weights, symbols)
        return attribute(self.per_model, self.weights, symbols, self.mixer)

    def log_prob(self, symbols: torch.Tensor) -> torch.Tensor:
        """The log-probability [B] of symbols [B] under the mix (before temperature)."""
        at = self.mixed.gather(-1, symbols.unsqueeze(-1)).squeeze(-1)  # [B]
        return at.clamp(min=1e-30).log() if self.linear else at


def _mix_step(
    logits: torch.Tensor,
    mixer: MixerName,
    weights: torch.Tensor,
    mixer_weights: torch.Tensor,
    params: SamplingParams,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw from the mix of logits [P, N, V] → (symbols [P], their log-probability under the
    unshaped mix [P], each style's share of them [P, N])."""
    mix = Mix.of(logits, mixer, weights, mixer_weights)
    symbols = mix.draw(params, generator)  # [P]
    return symbols, mix.log_prob(symbols), mix.shares(symbols)


def _may_compete(vocab: Vocab, starts: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """Which paths [B, S] compete, by their first symbols [B, S]: path 0 starts with plain
    sampling's symbol; the others must start with a symbol of its kind, or, inside a word, with
    any letter, white space or punctuation (a word's end is the search's to choose)."""
    kind = kinds(vocab)[starts]  # [B, S]
    drawn = kind[:, :1]  # [B, 1]
    same = kind == drawn
    if previous is None:
        return same
    in_word = (kinds(vocab)[previous] == LETTER).view(-1, 1)  # [B, 1]
    return same | (in_word & (kind != DIGIT) & (drawn != DIGIT))


@torch.no_grad()
def search(
    ensemble: Ensemble,
    logits: torch.Tensor,
    active: frozenset[int],
    mixer: MixerName,
    weights: torch.Tensor,
    mixer_weights: torch.Tensor,
    params: SamplingParams,
    generator: torch.Generator,
    settings: SearchSettings,
    style_temperatures: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
) -> Choice:
    """The next symbol of each of the ensemble's B streams, chosen by lookahead.

    `logits` [B, N, V] are what the ensemble predicts now (after its last step, each style's
    temperature applied); `weights` [B, N] the thresholded weights, `mixer_weights` as the mixer
    takes them, `active` the models they run (the only ones the paths step); `previous` [B]
    the symbol each stream read last (a letter: a word is open; None: none is).
    """
    streams, samples, depth = logits.shape[0], settings.samples, settings.depth
    # P = B * samples paths: path j of stream b is row b * samples + j
    w = weights.repeat_interleave(samples, dim=0)  # [P, N]
    mw = mixer_weights.repeat_interleave(samples, dim=0)  # [P, N]
    first = logits.repeat_interleave(samples, dim=0)  # [P, N, V]
    symbols, score, shares = _mix_step(first, mixer, w, mw, params, generator)  # [P] [P] [P, N]
    taken = [symbols]
    if depth > 1:
        branch = ensemble.branch(samples)  # every path a stream of its own
        for _ in range(depth - 1):
            step_logits = branch.step(symbols, active)  # [P, N, V]
            if style_temperatures is not None:
                step_logits = step_logits / style_temperatures
            symbols, chosen, part = _mix_step(step_logits, mixer, w, mw, params, generator)
            score = score + chosen
            shares = shares + part
            taken.append(symbols)
    if settings.balance > 0:
        drift = (shares / depth - target_shares(w)).abs().sum(-1)  # [P], 0 to 2
        score = score - settings.balance * drift
    paths = torch.stack(taken, dim=1)  # [P, depth]
    scores = score.view(streams, samples)  # [B, S]
    if settings.keep_kind:
        scores = torch.where(
            _may_compete(ensemble.vocab, paths[:, 0].view(streams, samples), previous),
            scores,
            torch.full_like(scores, -torch.inf),
        )
    best = scores.argmax(-1)  # [B]; the first of equals
    if settings.margin > 0:  # plain sampling's path stands unless clearly beaten
        stands = scores[:, 0] >= scores.max(-1).values - settings.margin  # [B]
        best = torch.where(stands, torch.zeros_like(best), best)
    chosen_path = paths[torch.arange(streams) * samples + best]  # [B, depth]
    starts = paths[:, 0].view(streams, samples)
    return Choice(chosen_path[:, 0].clone(), chosen_path[:, 1:].clone(), scores, starts, best)
