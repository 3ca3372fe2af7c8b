"""Musical validity of generated tunes: do music21 and abc2midi read them, do their bars fit the
meter, and do they have the form of real tunes?

For each music style alone and for 50/50 mixtures of two pairs under both mixers, generates
`--tunes` tunes (each primed with the header of one of the styles' own held-out tunes: its meter,
unit length and key, as a user would choose them) and reports:

- parsed: the share of tunes music21 reads without error;
- valid: the share that parse with >= 90% of their bars of the meter's length (pickups and
  section ends may be short: see `conductor.music.check_tune`);
- bars ok: the share of all bars that have the right length;
- ended: the share the models ended themselves (else the symbol cap stopped them);
- judged: the independent style classifier's verdicts on the written bodies (the judge of
  `conductor eval --control`, trained on the corpora's train splits of these styles);
- abc2midi: an independent reading (abcmidi's converter, not music21, which meter fitting
  itself consults, so "valid" above is close to circular for fitted tunes): the share of tunes
  with any abc2midi error, and its bar-length warnings per tune;
- form: median bars a tune, mean parts and repeats, the share ending on the key's tonic
  (`conductor.music.tune_form`).

The real tunes are the corpora's held-out tunes, in the one notation every ABC style is trained
in (`conductor.music.normalise_tune`: L:1/8, no marks that are no music). `--real-only`
measures only them, into the existing JSON (a minute, against the whole run's hour).

Every case runs three ways: whole tunes (the default of `conductor generate`: the form of the
style that leads the mix, measured on its corpus, with every bar fitted to the meter: see
`conductor.tunes.compose`), fitted only (bars fitted, the models end the tune when they will),
and raw (every bar as the models first wrote it). The same figures for the styles' real
held-out tunes are the reference rows.

Chords and form (`--chords`, into the same JSON's `chords`): Eck & Schmidhuber's measure of an
LSTM keeping a blues's form, the share of strong-beat melody notes that are chord tones
(`conductor.music.tune_chord_tones`), for one chorus of the 12-bar blues in each held-out
chorale's key (4/4): the real held-out chorales against their own chords (the reference), the
chorale style alone and mixed 50/50 with the Irish one (both mixers), and the Irish style alone,
each with the grid on (its chords written before each bar: `compose(chords=...)`, with and
without chord fitting) and off (the same models and form, the blues laid over what they wrote
afterwards), with abc2midi's verdicts beside.

    python bench/music.py [--tunes 100] [--json bench/results/music.json]
    python bench/music.py --chords [--tunes 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from conductor.checkpoint import read_meta
from conductor.control import StyleJudge, corpora_of
from conductor.corpora.abc import split_tunes
from conductor.corpus import load_corpus, split
from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.library import shipped_dir
from conductor.music import (
    ChordGrid,
    ChordTones,
    MusicError,
    TuneCheck,
    TuneForm,
    TuneHeader,
    abc2midi_check,
    check_tune,
    tune_body,
    tune_chord_tones,
    tune_form,
)
from conductor.sampling import SamplingParams
from conductor.tunes import compose

STYLES = ["abc_irish", "abc_german", "abc_scottish"]
CHORD_STYLES = ["abc_chorales", "abc_irish"]  # a style that writes chords, one that does not
VALID_BARS = 0.9


def held_out_tunes(corpus: Path) -> list[str]:
    """The whole tunes of a corpus's test split."""
    ids = split(load_corpus(corpus).ids).test
    text = ids.tobytes().decode("ascii")
    return ["\n".join(lines).strip() + "\n" for lines in split_tunes(text)[1:]]  # first: partial


def headers_of(tunes: list[str]) -> list[TuneHeader]:
    headers = []
    for tune in tunes:
        try:
            header = TuneHeader.parse(tune)
        except MusicError:
            continue
        headers.append(TuneHeader(header.meter, header.unit, header.key))  # no title
    return headers


def independent(tunes: list[str]) -> dict[str, Any]:
    """abc2midi's verdicts and the tunes' form."""
    checks = [abc2midi_check(t) for t in tunes]
    forms = [tune_form(t) for t in tunes]
    said = Counter(e.split(" ", 1)[1].split(":")[0][:40] for c in checks for e in c.errors)
    return {
        "abc2midi_errors": sum(not c.ok for c in checks) / len(checks),
        "abc2midi_bar_warnings": statistics.fmean(c.bar_warnings for c in checks),
        "abc2midi_said": dict(said.most_common(5)),
        "median_bars": statistics.median(f.bars for f in forms),
        "parts": statistics.fmean(f.parts for f in forms),
        "repeats": statistics.fmean(f.repeats for f in forms),
        "ends_on_tonic": sum(f.ends_on_tonic for f in forms) / len(forms),
    }


def real_rows(real: dict[str, list[str]], judge: StyleJudge, count: int) -> list[dict[str, Any]]:
    """The real held-out tunes, as the corpora write them."""
    rows = []
    for name in STYLES:
        texts = real[name][:count]
        checks = [check_tune(t) for t in texts]
        judged = judge.predict([tune_body(t) for t in texts])
        row = {"case": f"{name} (real held-out tunes)", **summarise(checks, [], judged)}
        row.update(independent(texts))
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def summarise(checks: list[TuneCheck], ended: list[bool], judged: list[str]) -> dict[str, Any]:
    bars = sum(c.bars for c in checks)
    return {
        "tunes": len(checks),
        "parsed": sum(c.parsed for c in checks) / len(checks),
        "valid": sum(c.parsed and c.bar_share >= VALID_BARS for c in checks) / len(checks),
        "bars_ok": sum(c.full_bars for c in checks) / bars if bars else 0.0,
        "mean_bars": statistics.fmean(c.bars for c in checks),
        "ended": sum(ended) / len(ended) if ended else None,
        "judged": {name: count / len(judged) for name, count in Counter(judged).items()},
    }


def generated_row(
    ensemble: Ensemble,
    args: argparse.Namespace,
    headers: dict[str, list[TuneHeader]],
    label: str,
    mixer: str,
    weights: list[float],
    sources: list[str],
    form: TuneForm | None,
    fit: bool,
    judge: StyleJudge,
) -> dict[str, Any]:
    """`--tunes` tunes of one case, each from a real held-out tune's header (the sources' in
    turn), measured as the real tunes are."""
    conductor = Conductor(
        ensemble, mixer, SamplingParams(temperature=args.temperature), seed=args.seed
    )  # type: ignore[arg-type]
    checks, ended, bodies, resampled, texts, whole = [], [], [], [], [], []
    started = time.perf_counter()
    for i in range(args.tunes):
        header_pool = headers[sources[i % len(sources)]]
        header = header_pool[(i // len(sources)) % len(header_pool)]
        conductor.reset()
        tune = compose(
            conductor,
            lambda _k, w=weights: w,
            header,
            form=form,
            max_symbols=args.max_symbols,
            fit_meter=fit,
        )
        checks.append(check_tune(tune.text))
        texts.append(tune.text)
        ended.append(tune.ended)
        whole.append(tune.whole)
        bodies.append(tune.body)
        resampled.append(tune.resampled)
    return {
        "mixer": mixer,
        "fit_meter": fit,
        "form": None if form is None else form.to_json(),
        "whole": sum(whole) / len(whole) if form is not None else None,
        "resampled_per_tune": statistics.fmean(resampled),
        "seconds_per_tune": (time.perf_counter() - started) / args.tunes,
        **summarise(checks, ended, judge.predict(bodies)),
        **independent(texts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--tunes", type=int, default=100, help="tunes per case (100)")
    parser.add_argument(
        "--real-tunes", type=int, default=100, help="real held-out tunes per style (100)"
    )
    parser.add_argument("--max-symbols", type=int, default=1000, help="cap per tune (1000)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("bench/results/music.json"))
    parser.add_argument(
        "--ways", default="whole,fitted,raw", help="which of whole, fitted, raw to generate"
    )
    parser.add_argument(
        "--update", action="store_true",
        help="keep the existing JSON's rows of the ways not generated now",
    )  # fmt: skip
    parser.add_argument(
        "--real-only", action="store_true",
        help="only (re)measure the real tunes, into the existing JSON",
    )  # fmt: skip
    parser.add_argument(
        "--chords", action="store_true",
        help="only measure chords and form (the blues grid), into the existing JSON's 'chords'",
    )  # fmt: skip
    args = parser.parse_args()
    if args.chords:
        chord_bench(args)
        return

    paths = [args.styles_dir / f"{name}.safetensors" for name in STYLES]
    corpora = corpora_of(paths)
    start = time.perf_counter()
    judge = StyleJudge.train(corpora)
    print(f"judge: held-out accuracy {judge.holdout_accuracy:.1%} on {', '.join(STYLES)}")
    real = {name: held_out_tunes(corpora[name]) for name in STYLES}
    headers = {name: headers_of(tunes) for name, tunes in real.items()}

    rows = real_rows(real, judge, args.real_tunes)
    if args.real_only:
        kept = json.loads(args.json.read_text())
        generated = [r for r in kept["rows"] if "(real held-out" not in r["case"]]
        kept["rows"] = rows + generated
        args.json.write_text(json.dumps(kept, indent=2) + "\n")
        print(f"updated the real tunes' rows of {args.json}")
        return

    forms = {
        n: TuneForm.from_json(read_meta(p)["form"]) for n, p in zip(STYLES, paths, strict=True)
    }
    cases: list[tuple[str, str, list[float], list[str]]] = []
    for k, name in enumerate(STYLES):
        weights = [1.0 if i == k else 0.0 for i in range(len(STYLES))]
        cases.append((name, "linear", weights, [name]))
    for a, b in [(0, 1), (1, 2)]:
        weights = [0.5 if i in (a, b) else 0.0 for i in range(len(STYLES))]
        for mixer in ("linear", "product"):
            cases.append((f"{STYLES[a]}+{STYLES[b]}", mixer, weights, [STYLES[a], STYLES[b]]))
    ways = {"whole": (True, True), "fitted": (False, True), "raw": (False, False)}
    ways = {way: ways[way] for way in args.ways.split(",")}

    ensemble = Ensemble.from_checkpoints(paths)
    for way, (whole, fit) in ways.items():
        for label, mixer, weights, sources in cases:
            form = forms[sources[0]] if whole else None  # the leading style's (the first's)
            row = generated_row(
                ensemble, args, headers, label, mixer, weights, sources, form, fit, judge
            )
            rows.append({**row, "case": f"{label} ({way})", "way": way})
            print(_line(rows[-1]), flush=True)

    previous = json.loads(args.json.read_text()) if args.json.exists() else {}
    if args.update:  # the other ways' rows, as the existing JSON has them
        rows += [r for r in previous["rows"] if r.get("way") not in (None, *ways)]
    payload = {
        "styles": STYLES,
        "tunes_per_case": args.tunes,
        "temperature": args.temperature,
        "max_symbols": args.max_symbols,
        "valid_means": f"parsed and >= {VALID_BARS:.0%} of bars of the meter's length",
        "judge_holdout_accuracy": judge.holdout_accuracy,
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    if "chords" in previous:  # measured by --chords
        payload["chords"] = previous["chords"]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.json} ({payload['seconds']:.0f} s)")


def chord_bench(args: argparse.Namespace) -> None:
    """The chords-and-form rows (see the module docs), into the JSON's `chords`."""
    start = time.perf_counter()
    paths = [args.styles_dir / f"{name}.safetensors" for name in CHORD_STYLES]
    corpora = corpora_of(paths)
    real = [t for t in held_out_tunes(corpora["abc_chorales"]) if "\nM:4/4\n" in t]
    keys = [TuneHeader.parse(t).key for t in real]
    rows: list[dict[str, Any]] = []
    texts = real[: args.real_tunes]
    rows.append(
        {
            "case": "abc_chorales (real held-out chorales, their own chords)",
            **_chord_summary([tune_chord_tones(t) for t in texts], texts),
        }
    )
    print(_chord_line(rows[-1]), flush=True)
    ensemble = Ensemble.from_checkpoints(paths)
    form = TuneForm(1, len(ChordGrid.blues().bars), False)  # one chorus of the blues
    cases = [
        ("abc_chorales", "linear", [1.0, 0.0]),
        ("abc_chorales+abc_irish", "linear", [0.5, 0.5]),
        ("abc_chorales+abc_irish", "product", [0.5, 0.5]),
        ("abc_irish", "linear", [0.0, 1.0]),
    ]
    grids = {"grid + chord fitting": (True, True), "grid": (True, False), "no grid": (False, False)}
    for label, mixer, weights in cases:
        for way, (on, fit) in grids.items():
            conductor = Conductor(
                ensemble, mixer, SamplingParams(temperature=args.temperature), seed=args.seed
            )  # type: ignore[arg-type]
            tones, tunes, resampled, whole = [], [], [], []
            started = time.perf_counter()
            for i in range(args.tunes):
                key = keys[i % len(keys)]
                grid = ChordGrid.blues(key)
                conductor.reset()
                tune = compose(
                    conductor,
                    lambda _k, w=weights: w,
                    TuneHeader("4/4", "1/8", key),
                    form=form,
                    max_symbols=args.max_symbols,
                    chords=grid if on else None,
                    fit_chords=fit,
                )
                tunes.append(tune.text)
                tones.append(tune_chord_tones(tune.text, grid))
                resampled.append(tune.resampled)
                whole.append(tune.whole)
            rows.append(
                {
                    "case": f"{label} ({way})",
                    "mixer": mixer,
                    "grid": on,
                    "fit_chords": fit,
                    "whole": sum(whole) / len(whole),
                    "resampled_per_tune": statistics.fmean(resampled),
                    "seconds_per_tune": (time.perf_counter() - started) / args.tunes,
                    **_chord_summary(tones, tunes),
                }
            )
            print(_chord_line(rows[-1]), flush=True)
    payload = json.loads(args.json.read_text()) if args.json.exists() else {"rows": []}
    payload["chords"] = {
        "styles": CHORD_STYLES,
        "grid": "one chorus of the 12-bar blues (I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 I7) in "
        "each held-out 4/4 chorale's key",
        "strong_beats": "the downbeat and, in 4/4, beat 3: the melody note sounding there "
        "(struck or held); a beat where it rests counts apart",
        "tunes_per_case": args.tunes,
        "temperature": args.temperature,
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.json} 'chords' ({payload['chords']['seconds']:.0f} s)")


def _chord_summary(tones: list[ChordTones], tunes: list[str]) -> dict[str, Any]:
    total = sum(tones, ChordTones())
    per_tune = [t.share for t in tones if t.strong]
    return {
        "tunes": len(tunes),
        "strong_beat_notes": total.strong,
        "chord_tone_share": total.share,
        "strong_beats_resting": total.rests / (total.rests + total.strong) if tones else 0.0,
        "median_tune_share": statistics.median(per_tune) if per_tune else 0.0,
        **independent(tunes),
    }


def _chord_line(row: dict[str, Any]) -> str:
    whole = "" if row.get("whole") is None else f"  whole {row['whole']:.0%}"
    extra = ""
    if "resampled_per_tune" in row:
        extra = f"  resampled/tune {row['resampled_per_tune']:.0f}"
        extra += f"  {row['seconds_per_tune']:.1f} s/tune"
    return (
        f"{row['case']:<52} chord tones {row['chord_tone_share']:.1%} of "
        f"{row['strong_beat_notes']} strong-beat notes (rests {row['strong_beats_resting']:.0%})  "
        f"abc2midi errors "
        f"{row['abc2midi_errors']:.0%}  warnings/tune {row['abc2midi_bar_warnings']:.2f}  "
        f"median bars {row['median_bars']:g}{whole}{extra}"
    )


def _line(row: dict[str, Any]) -> str:
    judged = ", ".join(f"{k} {v:.0%}" for k, v in sorted(row["judged"].items()))
    mixer = row.get("mixer", "")
    ended = "" if row["ended"] is None else f" ended {row['ended']:.0%}"
    whole = "" if row.get("whole") is None else f"  whole {row['whole']:.0%}"
    return (
        f"{row['case']:<36} {mixer:<8} parsed {row['parsed']:.0%}  valid {row['valid']:.0%}  "
        f"bars ok {row['bars_ok']:.1%}  bars/tune {row['mean_bars']:.0f}{ended}  judged: {judged}\n"
        f"{'':<45} abc2midi errors {row['abc2midi_errors']:.0%}  "
        f"bar warnings/tune {row['abc2midi_bar_warnings']:.2f}  median bars "
        f"{row['median_bars']:g}  parts {row['parts']:.1f}  repeats {row['repeats']:.1f}  "
        f"on the tonic {row['ends_on_tonic']:.0%}{whole}  {row['abc2midi_said']}"
    )


if __name__ == "__main__":
    main()
