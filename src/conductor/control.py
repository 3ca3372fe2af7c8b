"""Controllability: does a weight really steer the style? An independent judge decides.

The judge is a character n-gram logistic regression (scikit-learn): TF-IDF of 1- to 4-grams,
trained on windows of the corpora's *train splits* — real text, never our LSTMs' output — to name
which style a 300-symbol text is in. It is scored on windows of the test splits before it judges.

Then, for generated text:

(a) recognition — each style alone at weight 1: the share of samples the judge names correctly;
(b) sweeps — for a pair of styles (a, b), the weight of b from 0 to 1 in 11 steps (a gets the
    rest) under each mixer: the share of samples the judge gives to a, to b and to others.

Samples are streams of one multi-stream `Conductor` (one batched engine step per symbol for all
samples), primed with a newline, seeded. `run_control` generates each with an ensemble of the
styles that have weight there (the style alone, or the pair): a style at weight 0 adds nothing
to either mix, and in a large ensemble its skipped model would only spend the run reading the
symbols it missed (one a step each, past `MAX_BACKLOG`) — what made 20 styles' run crawl.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from conductor.checkpoint import atomic_write_bytes, read_meta
from conductor.corpora import locate
from conductor.corpus import load_corpus, split
from conductor.engine import Ensemble
from conductor.errors import ConductorError, CorpusError, DependencyError
from conductor.generate import Conductor
from conductor.library import style_name
from conductor.mixing import MIXERS, MixerName
from conductor.progress import Progress, silent, within
from conductor.sampling import SamplingParams
from conductor.search import SearchSettings

__all__ = [
    "ControlReport",
    "StyleJudge",
    "plot_sweeps",
    "recognition",
    "run_control",
    "sweep",
    "write_json",
]

INSTALL = "pip install scikit-learn matplotlib"


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DependencyError(
            f"the controllability evaluation needs {module.split('.')[0]}: {INSTALL}"
        ) from None


def _windows(ids: np.ndarray, length: int, count: int, rng: np.random.Generator) -> list[str]:
    """`count` random windows of `length` symbols from ids (ASCII) as strings."""
    if len(ids) <= length:
        raise CorpusError(f"a split of {len(ids)} symbols is too short for {length}-symbol texts")
    starts = rng.integers(0, len(ids) - length, size=count)
    return [ids[s : s + length].tobytes().decode("ascii") for s in starts]


@dataclass
class StyleJudge:
    """A char n-gram classifier that names the style of a text."""

    names: list[str]
    pipeline: Any
    holdout_accuracy: float

    @classmethod
    def train(
        cls,
        corpora: Mapping[str, Path],
        length: int = 300,
        per_style: int = 1500,
        seed: int = 0,
    ) -> StyleJudge:
        """Fit on `per_style` windows of each corpus's train split; score on its test split."""
        pipeline_mod = _require("sklearn.pipeline")
        text_mod = _require("sklearn.feature_extraction.text")
        linear_mod = _require("sklearn.linear_model")
        rng = np.random.default_rng(seed)
        train_x: list[str] = []
        train_y: list[str] = []
        test_x: list[str] = []
        test_y: list[str] = []
        for name, path in corpora.items():
            splits = split(load_corpus(path).ids)
            train_x += _windows(splits.train, length, per_style, rng)
            train_y += [name] * per_style
            test_x += _windows(splits.test, length, max(50, per_style // 10), rng)
            test_y += [name] * max(50, per_style // 10)
        pipeline = pipeline_mod.make_pipeline(
            text_mod.TfidfVectorizer(
                analyzer="char", ngram_range=(1, 4), sublinear_tf=True, max_features=300_000
            ),
            linear_mod.LogisticRegression(C=10.0, max_iter=2000),
        )
        pipeline.fit(train_x, train_y)
        accuracy = float(np.mean(pipeline.predict(test_x) == np.array(test_y)))
        return cls(list(corpora), pipeline, accuracy)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(label) for label in self.pipeline.predict(list(texts))]


def corpora_of(paths: Sequence[Path]) -> dict[str, Path]:
    """Each checkpoint's training corpus (from its record), checked against its sha256."""
    corpora = {}
    for path in paths:
        name = style_name(path)
        try:
            corpora[name] = locate(read_meta(Path(path)).get("corpus") or {})
        except CorpusError as error:
            raise CorpusError(f"style {name!r}: {error}") from None
    return corpora


def generate_texts(
    ensemble: Ensemble,
    weights: Sequence[float],
    mixer: MixerName,
    samples: int,
    length: int,
    params: SamplingParams,
    seed: int,
    search: SearchSettings | None = None,
) -> list[str]:
    """`samples` independent texts of `length` symbols under constant `weights` (with `search`:
    each symbol chosen by lookahead)."""
    ensemble.set_streams(samples)
    conductor = Conductor(ensemble, mixer, params, seed)
    conductor.search = search
    symbols = torch.stack([conductor.step(weights).symbols for _ in range(length)], dim=1)
    return [ensemble.vocab.decode(row.tolist()) for row in symbols]  # [samples] texts


@dataclass
class SweepPoint:
    weight_b: float
    share_a: float
    share_b: float
    share_other: float


@dataclass
class ControlReport:
    judge_holdout_accuracy: float
    samples: int
    length: int
    temperature: float
    recognition: dict[str, float] = field(default_factory=dict)
    #: style → the other styles its samples at weight 1 were taken for, and how many times
    confusions: dict[str, dict[str, int]] = field(default_factory=dict)
    sweeps: dict[str, dict[str, list[SweepPoint]]] = field(default_factory=dict)  # pair → mixer

    def to_json(self) -> dict[str, Any]:
        """The report, with each sweep's monotonicity (strict, and where it significantly falls)."""
        rising = {
            key: {
                mixer: {
                    "strictly_monotonic": self.monotonic(key, mixer),
                    "significant_drops_at": self.significant_drops(key, mixer),
                }
                for mixer in by_mixer
            }
            for key, by_mixer in self.sweeps.items()
        }
        return {**asdict(self), "monotonic": rising}

    def _shares(self, pair: str, mixer: str) -> list[float]:
        return [point.share_b for point in self.sweeps[pair][mixer]]

    def monotonic(self, pair: str, mixer: str) -> bool:
        """Whether the share judged as b never falls from one weight to the next."""
        shares = self._shares(pair, mixer)
        return all(later >= earlier for earlier, later in itertools.pairwise(shares))

    def significant_drops(self, pair: str, mixer: str, z: float = 1.96) -> list[float]:
        """The weights of b at which the share judged as b falls by more than sampling explains.

        Each point is a share of `samples` independent samples (its own seed), so two points
        with the same true share differ by chance; a fall counts only when it exceeds `z`
        standard errors of the difference of two binomial shares (95% for 1.96).
        """
        points = self.sweeps[pair][mixer]
        drops = []
        for earlier, later in itertools.pairwise(points):
            p, q = earlier.share_b, later.share_b
            error = math.sqrt((p * (1 - p) + q * (1 - q)) / self.samples)
            if p - q > z * error:  # a fall from 1.0 to 1.0 (error 0) is not > 0
                drops.append(later.weight_b)
        return drops

    def verdict(self, pair: str, mixer: str) -> str:
        """'monotonic', 'monotonic within sampling noise (largest dip X)' or where it falls."""
        if self.monotonic(pair, mixer):
            return "monotonic"
        drops = self.significant_drops(pair, mixer)
        if drops:
            return "FALLS at w_b = " + ", ".join(f"{w:.1f}" for w in drops)
        dip = max(p - q for p, q in itertools.pairwise(self._shares(pair, mixer)))
        return f"monotonic within sampling noise (largest dip {dip:.2f})"


def recognition(
    ensemble: Ensemble,
    judge: StyleJudge,
    samples: int,
    length: int,
    params: SamplingParams,
    progress: Progress = silent,
    search: SearchSettings | None = None,
    seed: int = 0,
    confusions: dict[str, dict[str, int]] | None = None,
) -> dict[str, float]:
    """Share of samples at weight 1 that the judge names as the style that made them (style
    `i`'s samples seeded `seed + i`); `confusions`, if given, gets what the others were taken
    for (style → {other style: samples}).

    `progress` hears of each style judged (task "recognition")."""
    shares = {}
    for index, name in enumerate(ensemble.names):
        weights = [1.0 if i == index else 0.0 for i in range(len(ensemble))]
        texts = generate_texts(
            ensemble, weights, "linear", samples, length, params, seed + index, search
        )
        labels = judge.predict(texts)
        shares[name] = float(np.mean([label == name for label in labels]))
        if confusions is not None:
            others = [label for label in labels if label != name]
            confusions[name] = {other: others.count(other) for other in sorted(set(others))}
        progress("recognition", index + 1, len(ensemble))
    return shares


def sweep(
    ensemble: Ensemble,
    judge: StyleJudge,
    pair: tuple[str, str],
    mixer: MixerName,
    samples: int,
    length: int,
    params: SamplingParams,
    steps: int = 11,
    progress: Progress = silent,
    search: SearchSettings | None = None,
) -> list[SweepPoint]:
    """The judge's shares of a and b at `steps` weights of b from 0 to 1 (a's is 1 - b's);
    `progress` hears of each point (task "sweep")."""
    a, b = pair
    points = []
    for k in range(steps):
        w_b = k / (steps - 1)
        weights = [(1 - w_b) if name == a else w_b if name == b else 0.0 for name in ensemble.names]
        texts = generate_texts(ensemble, weights, mixer, samples, length, params, 100 + k, search)
        labels = judge.predict(texts)
        share_a = float(np.mean([label == a for label in labels]))
        share_b = float(np.mean([label == b for label in labels]))
        points.append(SweepPoint(w_b, share_a, share_b, 1 - share_a - share_b))
        progress("sweep", k + 1, steps)
    return points


SWEEP_STEPS = 11  # weights of b: 0, 0.1, …, 1


def run_control(
    paths: Sequence[Path],
    pairs: Sequence[tuple[str, str]],
    samples: int = 100,
    length: int = 300,
    temperature: float = 0.8,
    progress: Progress = silent,
) -> ControlReport:
    """Train the judge on the styles' corpora, then measure recognition and the sweeps.

    `progress` hears of three tasks: "judge" (0 of 1 while it trains), "recognition" (styles)
    and "sweeps" (curves: one per pair and mixer)."""
    by_name = {style_name(path): path for path in paths}  # (each run loads its own models)
    for pair in pairs:
        for name in pair:
            if name not in by_name:
                raise ConductorError(
                    f"sweep pair {':'.join(pair)}: no style {name!r} among {', '.join(by_name)}"
                )
    progress("judge", 0, 1)
    judge = StyleJudge.train(corpora_of(paths), length=length)
    progress("judge", 1, 1)
    params = SamplingParams(temperature=temperature)
    report = ControlReport(judge.holdout_accuracy, samples, length, temperature)
    for index, path in enumerate(paths):  # each style alone: see the module doc
        alone = Ensemble.from_checkpoints([path])
        part = within(progress, "recognition", index, len(paths))
        report.recognition |= recognition(
            alone, judge, samples, length, params, part, seed=index,
            confusions=report.confusions,
        )  # fmt: skip
    curves = len(pairs) * len(MIXERS)
    for pair in pairs:
        key = f"{pair[0]}:{pair[1]}"
        report.sweeps[key] = {}
        both = Ensemble.from_checkpoints([by_name[name] for name in pair])
        for mixer in MIXERS:
            done = sum(len(by_mixer) for by_mixer in report.sweeps.values())  # curves so far
            part = within(progress, "sweeps", done, curves)
            report.sweeps[key][mixer] = sweep(
                both, judge, pair, mixer, samples, length, params, SWEEP_STEPS, part
            )
    return report


def write_json(report: ControlReport, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(report.to_json(), indent=2) + "\n").encode())


def plot_sweeps(report: ControlReport, path: Path) -> None:
    """One panel per pair: share judged as b (solid) and as a (dashed) against b's weight."""
    matplotlib = _require("matplotlib")
    matplotlib.use("Agg")
    pyplot = _require("matplotlib.pyplot")
    pairs = list(report.sweeps)
    figure, axes = pyplot.subplots(
        1, len(pairs), figsize=(4 * len(pairs), 3.6), squeeze=False, sharey=True
    )
    colours = {"linear": "tab:blue", "product": "tab:red"}
    for ax, key in zip(axes[0], pairs, strict=True):
        a, b = key.split(":")
        for mixer, points in report.sweeps[key].items():
            x = [p.weight_b for p in points]
            ax.plot(
                x,
                [p.share_b for p in points],
                "-o",
                ms=3,
                color=colours[mixer],
                label=f"judged {b} ({mixer})",
            )
            ax.plot(
                x,
                [p.share_a for p in points],
                "--",
                color=colours[mixer],
                alpha=0.6,
                label=f"judged {a} ({mixer})",
            )
        ax.set_title(f"{a} → {b}")
        ax.set_xlabel(f"weight of {b} ({a} gets the rest)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left")
    axes[0][0].set_ylabel(f"share of {report.samples} samples")
    figure.suptitle(
        f"Independent style judge on {report.length}-symbol samples (T={report.temperature})",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, dpi=110, format="png")
    pyplot.close(figure)
    tmp.replace(path)
