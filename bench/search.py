"""Lookahead search on the shipped styles: legibility, diversity, control and cost, search off
against search on, in the same run.

- **Known-word rate**: the share of alphabetic words of 3 letters or more in generated text that
  occur at least twice in the training splits of the 8 shipped styles' corpora; at 1, 2, 4 and 8
  styles of equal weight (the first 1, 2, 4, 8 of the shipped list), both mixers, T = 0.8,
  8 samples of 600 symbols each (the first 100 dropped), search off and at several settings
  (widths, depths, margins, and the paper's rule: the best path whatever its first symbol).
- **Diversity**: distinct 4-grams per 1,000 symbols, and the longest repeated substring (a loop
  shows as a long repeat).
- **Control** (with `--control`): the independent judge of `conductor eval --control` on texts made
  with search off and on: recognition at weight 1, and weight sweeps for two pairs at w_b = 0,
  0.25, 0.5 (the 50/50 mix), 0.75, 1 (the share judged as b must still rise with b's weight).
- **Cost**: symbols per second of one live stream (batch 1, as `serve` runs) on the 8 styles.

Writes `bench/results/search.json`.

    python bench/search.py [--samples 8] [--length 600] [--control] [--no-cost]
    python bench/search.py --cost-only   # the live cost alone, on an idle machine
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from conductor.checkpoint import read_meta
from conductor.control import StyleJudge, corpora_of, recognition, sweep
from conductor.corpora import locate
from conductor.corpus import load_corpus, split
from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.library import DEFAULT_STYLES, shipped_dir
from conductor.mixing import MIXERS
from conductor.sampling import SamplingParams
from conductor.search import SearchSettings
from conductor.textstats import distinct_ngrams, known_word_rate, longest_repeat, vocabulary

SETTINGS: dict[str, SearchSettings | None] = {
    "off": None,
    "search 8x4": SearchSettings(samples=8, depth=4),  # the defaults: margin 1
    "8x4 margin 0": SearchSettings(samples=8, depth=4, margin=0.0),  # always the best path
    "8x4 margin 3": SearchSettings(samples=8, depth=4, margin=3.0),  # mends less, varies more
    "search 16x6": SearchSettings(samples=16, depth=6),
    "paper's rule 8x4": SearchSettings(samples=8, depth=4, keep_kind=False, margin=0.0),
}
SIZES = (1, 2, 4, 8)
DROP = 100  # symbols dropped at the start of each sample (the prime's echo)
TEMPERATURE = 0.8
CONTROL_PAIRS = [("shakespeare", "kjv"), ("kjv", "python")]


def known_words(paths: list[Path]) -> frozenset[str]:
    texts = []
    for path in paths:
        corpus = load_corpus(locate(read_meta(path).get("corpus") or {}))
        texts.append(split(corpus.ids).train.tobytes().decode("ascii", errors="replace"))
    return vocabulary(texts)


def reference(
    paths: list[Path], known: frozenset[str], samples: int, length: int
) -> dict[str, Any]:
    """The same measures on real held-out text: windows of each style's test split (as many per
    style as there are generated samples), for every mix size — what the styles really write."""
    windows: list[list[str]] = []
    for path in paths:
        corpus = load_corpus(locate(read_meta(path).get("corpus") or {}))
        test = split(corpus.ids).test.tobytes().decode("ascii", errors="replace")
        step = max(1, (len(test) - length) // samples)
        windows.append([test[i * step : i * step + length][DROP:] for i in range(samples)])
    result = {}
    for size in SIZES:
        texts = [text for style in windows[:size] for text in style]
        row = measure(texts, known)
        row.pop("sample")
        result[str(size)] = row
    return result


def generate(
    paths: list[Path], mixer: str, settings: SearchSettings | None, samples: int, length: int
) -> list[str]:
    ensemble = Ensemble.from_checkpoints(paths)
    ensemble.set_streams(samples)  # each stream an independent sample
    conductor = Conductor(ensemble, mixer, SamplingParams(temperature=TEMPERATURE), seed=1)  # type: ignore[arg-type]
    conductor.search = settings
    conductor.prime("\n")
    weights = [1.0] * len(paths)
    rows = torch.stack([conductor.step(weights).symbols for _ in range(length)], dim=1)
    return [ensemble.vocab.decode(row.tolist())[DROP:] for row in rows]


def measure(texts: list[str], known: frozenset[str]) -> dict[str, Any]:
    hits = total = 0
    for text in texts:
        k, n = known_word_rate(text, known)
        hits, total = hits + k, total + n
    symbols = sum(len(t) for t in texts)
    return {
        "known_word_rate": hits / total if total else None,
        "words": total,
        "distinct_4grams_per_1000": 1000 * sum(distinct_ngrams(t, 4) for t in texts) / symbols,
        "longest_repeat": max(longest_repeat(t) for t in texts),
        "sample": texts[0][:240],
    }


def live_rate(paths: list[Path], settings: SearchSettings | None, steps: int = 300) -> float:
    """Symbols per second of one stream (batch 1), as a live session steps."""
    conductor = Conductor(
        Ensemble.from_checkpoints(paths), params=SamplingParams(temperature=TEMPERATURE), seed=1
    )
    conductor.search = settings
    weights = [1.0] * len(paths)
    for _ in range(30):  # warm up
        conductor.step(weights)
    start = time.perf_counter()
    for _ in range(steps):
        conductor.step(weights)
    return steps / (time.perf_counter() - start)


def control(paths: list[Path], samples: int, settings: SearchSettings | None) -> dict[str, Any]:
    ensemble = Ensemble.from_checkpoints(paths)
    judge = StyleJudge.train(corpora_of(paths), length=300)
    params = SamplingParams(temperature=TEMPERATURE)
    result: dict[str, Any] = {
        "recognition": recognition(ensemble, judge, samples, 300, params, search=settings),
        "sweeps": {},
    }
    for a, b in CONTROL_PAIRS:
        for mixer in MIXERS:
            points = sweep(
                ensemble, judge, (a, b), mixer, samples, 300, params, steps=5, search=settings
            )
            result["sweeps"][f"{a}:{b}:{mixer}"] = [round(p.share_b, 3) for p in points]
    return result


def _control_report(paths: list[Path], samples: int) -> dict[str, Any]:
    report: dict[str, Any] = {"samples": samples, "length": 300}
    for name in ("off", "search 8x4"):
        report[name] = control(paths, samples, SETTINGS[name])
        print(f"control, {name}: {json.dumps(report[name])}", flush=True)
    return report


def _cost(paths: list[Path]) -> dict[str, float]:
    cost = {}
    for setting, settings in SETTINGS.items():
        cost[setting] = live_rate(paths, settings)
        print(f"live, 8 styles, {setting:<17} {cost[setting]:.0f} symbols/s", flush=True)
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--samples", type=int, default=8, help="samples per configuration")
    parser.add_argument("--length", type=int, default=600, help="symbols per sample")
    parser.add_argument("--control", action="store_true", help="also the judge's sweeps")
    parser.add_argument("--control-samples", type=int, default=40)
    parser.add_argument("--json", type=Path, default=Path("bench/results/search.json"))
    parser.add_argument(
        "--reference-only", action="store_true",
        help="only (re)measure real held-out text, into the existing JSON",
    )  # fmt: skip
    parser.add_argument(
        "--control-only", action="store_true",
        help="only (re)measure control (the judge), into the existing JSON",
    )  # fmt: skip
    parser.add_argument(
        "--cost-only", action="store_true",
        help="only (re)measure the live cost, into the existing JSON (run it on an idle machine)",
    )  # fmt: skip
    parser.add_argument(
        "--no-cost", action="store_true",
        help="keep the existing JSON's live cost (measure it with --cost-only, alone)",
    )  # fmt: skip
    args = parser.parse_args()
    paths = [args.styles_dir / f"{name}.safetensors" for name in DEFAULT_STYLES]
    if args.cost_only:
        kept = json.loads(args.json.read_text())
        kept["live_symbols_per_s"] = _cost(paths)
        kept["torch_threads"] = torch.get_num_threads()
        args.json.write_text(json.dumps(kept, indent=2) + "\n")
        print(f"updated {args.json}")
        return
    known = known_words(paths)
    print(f"{len(known):,} known words (seen twice in the 8 training splits)", flush=True)
    real = reference(paths, known, args.samples, args.length)
    for count, row in real.items():
        print(
            f"real text, {count} styles: known words {row['known_word_rate']:.2f}  "
            f"4-grams/1000 {row['distinct_4grams_per_1000']:.0f}  "
            f"longest repeat {row['longest_repeat']}",
            flush=True,
        )
    if args.reference_only or args.control_only:
        kept: dict[str, Any] = json.loads(args.json.read_text())
        if args.reference_only:
            kept["real_text"] = real
        if args.control_only:
            kept["control"] = _control_report(paths, args.control_samples)
        args.json.write_text(json.dumps(kept, indent=2) + "\n")
        print(f"updated {args.json}")
        return
    legibility: dict[str, Any] = {}
    for mixer in MIXERS:
        for size in SIZES:
            for setting, settings in SETTINGS.items():
                start = time.perf_counter()
                texts = generate(paths[:size], mixer, settings, args.samples, args.length)
                row = measure(texts, known)
                row["seconds"] = round(time.perf_counter() - start, 1)
                legibility[f"{mixer}:{size}:{setting}"] = row
                rate = row["known_word_rate"]
                print(
                    f"{mixer:>7} {size} styles  {setting:<17} known words "
                    f"{'-' if rate is None else f'{rate:.2f}'} ({row['words']})  "
                    f"4-grams/1000 {row['distinct_4grams_per_1000']:.0f}  "
                    f"longest repeat {row['longest_repeat']}",
                    flush=True,
                )
    kept_cost = json.loads(args.json.read_text())["live_symbols_per_s"] if args.no_cost else None
    cost = kept_cost or _cost(paths)
    report: dict[str, Any] = {
        "benchmark": "search",
        "temperature": TEMPERATURE,
        "samples": args.samples,
        "length": args.length,
        "dropped": DROP,
        "styles": list(DEFAULT_STYLES),
        "settings": {
            name: None if s is None else dataclasses.asdict(s) for name, s in SETTINGS.items()
        },
        "known_words": len(known),
        "real_text": real,
        "legibility": legibility,
        "live_symbols_per_s": cost,
        "torch_threads": torch.get_num_threads(),
    }
    if args.control:
        report["control"] = _control_report(paths, args.control_samples)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
