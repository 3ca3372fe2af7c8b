"""Controllability of the shipped ensemble, judged by an independent style classifier.

Runs `conductor.control` on `styles/` (recognition at weight 1 for every style there, each judged
among all of them: is any a near-copy of another?; weight sweeps for a few pairs under both
mixers) and adds each style's test BPC table from its `.eval.json`.
Writes `bench/results/control.json` and the sweep plot `docs/control.png` (shown in README).

    python bench/control.py [--samples 100] [--styles a,b,c] [--pairs shakespeare:kjv,python:c]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from conductor.control import plot_sweeps, run_control
from conductor.library import shipped_dir

PAIRS = "shakespeare:kjv,kjv:python,python:c,abc_irish:abc_german"


def _finished(task: str, done: float, total: float) -> None:
    if done >= total:
        print(f"{task}: done ({time.perf_counter() - START:.0f} s)", flush=True)


START = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--samples", type=int, default=100, help="samples per point")
    parser.add_argument("--length", type=int, default=300, help="symbols per sample")
    parser.add_argument("--pairs", default=PAIRS, help="a:b[,c:d] weight sweeps")
    parser.add_argument("--styles", help="a,b,c (default: every style in --styles-dir)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/control.json"))
    parser.add_argument("--plot", type=Path, default=Path("docs/control.png"))
    args = parser.parse_args()

    found = sorted(
        p for p in args.styles_dir.glob("*.safetensors") if not p.stem.endswith(".resume")
    )
    styles = args.styles.split(",") if args.styles else [p.stem for p in found]
    paths = [args.styles_dir / f"{name}.safetensors" for name in styles]
    pairs = [(a, b) for a, _, b in (item.partition(":") for item in args.pairs.split(","))]
    start = time.perf_counter()
    report = run_control(paths, pairs, args.samples, args.length, progress=_finished)
    print(f"\nrecognised at weight 1 ({args.samples} samples of {args.length} symbols):")
    for name, share in report.recognition.items():
        taken = ", ".join(f"{other} {n}" for other, n in report.confusions[name].items())
        print(f"  {name:<14} {share:6.1%}" + (f"  (taken for {taken})" if taken else ""))
    print("\nsweeps (share judged as b, weight of b = 0, 0.1, ..., 1):")
    for key, by_mixer in report.sweeps.items():
        for mixer, points in by_mixer.items():
            curve = " ".join(f"{p.share_b:.2f}" for p in points)
            print(f"  {key:<24} {mixer:<8} {curve}  {report.verdict(key, mixer)}")
    bpc = {}
    print("\ntest BPC (styles/NAME.eval.json):")
    for name in styles:
        evaluation = json.loads((args.styles_dir / f"{name}.eval.json").read_text())
        bpc[name] = {"model": evaluation["model_bpc"], **evaluation["compressors"]}
        others = "  ".join(f"{k} {v:.3f}" for k, v in evaluation["compressors"].items())
        print(f"  {name:<14} {evaluation['model_bpc']:.3f}   {others}")
    payload = {**report.to_json(), "bpc": bpc, "seconds": time.perf_counter() - start}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    plot_sweeps(report, args.plot)
    print(f"\nwrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
