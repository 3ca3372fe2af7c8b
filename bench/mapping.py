"""The learnt mapping: training time against the number of examples, and input → weights → first
symbol latency with a trained mapping, against sending the weights themselves.

Training: `train_mapping` (the session's own) on N examples of a smooth 3-input → 3-style
function, median of 3 trainings; with its fit on the examples and its error on 200 inputs it
never saw. The first training in a process pays a one-time cost (torch's optimiser machinery
loads): measured apart, as the session pays it once.

Latency: a real server (web + OSC, in this process, on loopback) runs the shipped ensemble at a
fixed rate with a mapping trained on two poses (input 0 → the first style, 1 → the second) and
running. A real UDP socket sends `/conductor/input` with a value that gives a weight no recent
command gave; a real WebSocket client timestamps every step. Latency = arrival of the first step
whose weights are the ones the mapping gives − the moment the datagram was sent. The same is
measured, in the same run, for `/conductor/weights` with those weights sent directly (no mapping:
the baseline).

    python bench/mapping.py [--commands 300] [--rate 60] [--json bench/results/mapping.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.sync.client import connect

from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.learning import Example, train_mapping
from conductor.library import DEFAULT_STYLES, shipped_dir
from conductor.server.run import BackgroundServer
from conductor.session import Session
from latency import checkpoints, percentiles

SIZES = (3, 10, 30, 100, 300, 1000)
STYLES = ("a", "b", "c")


def _target(x: float, y: float, z: float) -> dict[str, float]:
    """A smooth blend of three styles over a tilt-like input: what a performer might record."""
    raw = [max(0.0, 1 - abs(x)), max(0.0, (y + 1) / 2), max(0.0, (z + 1) / 2) * 0.5]
    total = sum(raw) or 1.0
    return {name: value / total for name, value in zip(STYLES, raw, strict=True)}


def _examples(count: int, rng: random.Random) -> list[Example]:
    points = [tuple(rng.uniform(-1, 1) for _ in range(3)) for _ in range(count)]
    return [Example(p, _target(*p)) for p in points]


def training(repeats: int = 3) -> dict[str, object]:
    rng = random.Random(0)
    started = time.perf_counter()
    train_mapping(_examples(3, rng))
    first = time.perf_counter() - started
    held_out = _examples(200, random.Random(99))
    rows = []
    for count in SIZES:
        examples = _examples(count, rng)
        seconds, mapping = [], None
        for _ in range(repeats):
            mapping = train_mapping(examples)
            seconds.append(mapping.training.seconds)
        assert mapping is not None
        errors = [abs(mapping(e.inputs)[s] - w) for e in held_out for s, w in e.weights.items()]
        rows.append(
            {
                "examples": count,
                "seconds_median": statistics.median(seconds),
                "seconds": seconds,
                "iterations": mapping.training.iterations,
                "fit_mse": mapping.training.loss,
                "held_out_mean_abs_error": statistics.fmean(errors),
            }
        )
    return {"first_training_in_process_s": first, "by_examples": rows}


def latency(commands: int, rate: float, styles_dir: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        found = {p.stem: p for p in styles_dir.glob("*.safetensors")}
        paths = (
            [found[n] for n in DEFAULT_STYLES]
            if all(n in found for n in DEFAULT_STYLES)
            else checkpoints(styles_dir, len(DEFAULT_STYLES), Path(scratch))
        )
        session = Session(
            Conductor(Ensemble.from_checkpoints(paths)), rate=rate,
            mappings_dir=Path(scratch) / "mappings",
        )  # fmt: skip
        first, second = session.names[0], session.names[1]
        for value, weights in ((0.0, [1.0, 0.0]), (1.0, [0.0, 1.0])):
            session.submit({"type": "input", "values": [value]})
            session.submit(
                {"type": "set", "weights": dict(zip((first, second), weights, strict=True))}
            )
            session.step()
            session.submit({"type": "mapping", "action": "record"})
        session.submit({"type": "mapping", "action": "train"})  # no clock yet: trained now
        session.submit({"type": "mapping", "action": "run"})
        learned = session.mapping.learned
        assert learned is not None
        server = BackgroundServer(session, port=0, osc_port=0)
        endpoints = server.endpoints
        assert endpoints is not None and endpoints.osc is not None
        arrivals: list[tuple[float, float]] = []  # (time, the second style's weight)
        seen = threading.Condition()
        ws = connect(endpoints.url.replace("http://", "ws://") + "ws", max_size=None)

        def receive() -> None:
            try:
                for text in ws:
                    now = time.perf_counter()
                    event = json.loads(text)
                    if event["type"] == "step":
                        with seen:
                            arrivals.append((now, event["weights"][second]))
                            seen.notify_all()
            except Exception:
                return

        threading.Thread(target=receive, daemon=True).start()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rng = random.Random(0)

        def send(address: str, values: list[float]) -> None:
            builder = OscMessageBuilder(address)
            for v in values:
                builder.add_arg(float(v), OscMessageBuilder.ARG_TYPE_FLOAT)
            udp.sendto(builder.build().dgram, endpoints.osc)

        def timed(address: str, values: list[float], marker: float) -> float:
            with seen:
                since = len(arrivals)
            sent = time.perf_counter()
            send(address, values)

            def arrived() -> float | None:
                return next((t for t, w in arrivals[since:] if abs(w - marker) < 2e-4), None)

            with seen:
                if not seen.wait_for(lambda: arrived() is not None, timeout=10):
                    raise SystemExit(f"{address} {values} never showed up (weight {marker})")
                got = arrived()
                assert got is not None
            return (got - sent) * 1000

        time.sleep(1.0)
        cases: dict[str, dict[str, object]] = {}
        previous = -1.0
        mapped, direct = [], []
        for _ in range(commands):
            value = rng.uniform(0.1, 0.9)
            weights = learned([value])
            marker = round(weights[second], 4)
            # a weight the threshold keeps (a skipped style's shows as 0), and not the last's
            if not 0.1 <= marker <= 0.9 or abs(marker - previous) < 0.02:
                continue
            previous = marker
            mapped.append(timed("/conductor/input", [value], marker))
            time.sleep(rng.uniform(0.02, 0.06))
            marker = round(rng.uniform(0.1, 0.9), 2)
            if abs(marker - previous) < 0.02:
                marker = round(1 - marker, 2)
            previous = marker
            rest = [0.0] * (len(paths) - 2)
            direct.append(timed("/conductor/weights", [1 - marker, marker, *rest], marker))
            time.sleep(rng.uniform(0.02, 0.06))
        cases["input, mapped"] = {**percentiles(mapped), "commands": len(mapped),
                                  "latencies_ms": mapped}  # fmt: skip
        cases["weights, direct"] = {**percentiles(direct), "commands": len(direct),
                                    "latencies_ms": direct}  # fmt: skip
        stall = _gaps_while_training(server, session, arrivals, seen, send, first, second)
        ws.close()
        server.stop()
    return {"styles": [p.stem for p in paths], "rate": rate, "cases": cases, "stall": stall}


def _gaps_while_training(
    server: BackgroundServer,
    session: Session,
    arrivals: list[tuple[float, float]],
    seen: threading.Condition,
    send: object,
    first: str,
    second: str,
) -> dict[str, float]:
    """The largest gap between symbols while 1,000 examples train (on the mapping thread),
    against as long a stretch just before."""

    def teach(count: int) -> None:
        rng = random.Random(1)
        for _ in range(count):
            w = rng.uniform(0, 1)
            session.submit_all([
                {"type": "input", "values": [w]},
                {"type": "set", "weights": {first: 1 - w, second: w}},
                {"type": "mapping", "action": "record"},
            ])  # fmt: skip

    server.call(lambda: session.submit({"type": "mapping", "action": "clear"}))
    server.call(lambda: teach(1000))
    with seen:
        quiet_from = len(arrivals)
    started = time.perf_counter()
    send("/conductor/mapping/train", [])  # type: ignore[operator]
    while not server.call(lambda: session.state()["mapping"]["trained"]):
        time.sleep(0.005)
    took = time.perf_counter() - started
    time.sleep(0.1)
    with seen:
        during = [t for t, _ in arrivals[quiet_from:] if t <= started + took + 0.1]
    time.sleep(took + 0.2)  # as long again, nothing training
    with seen:
        after = [t for t, _ in arrivals if started + took + 0.1 < t <= started + 2 * took + 0.3]

    def largest(times: list[float]) -> float:
        return max((b - a) * 1000 for a, b in itertools.pairwise(times))

    return {
        "examples": 1000,
        "train_seconds_seen": took,
        "max_gap_ms_training": largest(during),
        "max_gap_ms_quiet": largest(after),
        "symbols_training": len(during),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=300, help="inputs sent (300)")
    parser.add_argument("--rate", type=float, default=60.0, help="symbols/s")
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--json", type=Path, default=Path("bench/results/mapping.json"))
    args = parser.parse_args()

    trained = training()
    print(
        f"training (median of 3; the first in a process: "
        f"{trained['first_training_in_process_s']:.2f} s, once):"
    )
    for row in trained["by_examples"]:  # type: ignore[attr-defined]
        print(
            f"  {row['examples']:>5} examples: {row['seconds_median'] * 1000:7.1f} ms, "
            f"{row['iterations']:>3} iterations, fit MSE {row['fit_mse']:.1e}, "
            f"held-out error {row['held_out_mean_abs_error']:.3f}"
        )
    timing = latency(args.commands, args.rate, args.styles_dir)
    cases = timing["cases"]
    print(
        f"{len(timing['styles'])} styles at {args.rate:g} symbols/s; sent -> first symbol "  # type: ignore[arg-type]
        "under the weights it gives, on the WebSocket:"
    )
    for case, figures in cases.items():  # type: ignore[attr-defined]
        print(
            f"  {case:<16} {figures['commands']:>4}: p50 {figures['p50_ms']:.1f} ms, "
            f"p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms"
        )
    ratio = cases["input, mapped"]["p50_ms"] / cases["weights, direct"]["p50_ms"]  # type: ignore[index]
    print(f"  mapped / direct (p50): {ratio:.2f}x")
    stall = timing["stall"]
    print(
        f"while {stall['examples']} examples train ({stall['train_seconds_seen']:.2f} s, seen "  # type: ignore[index]
        f"from OSC): largest gap {stall['max_gap_ms_training']:.1f} ms; after, as long: "  # type: ignore[index]
        f"{stall['max_gap_ms_quiet']:.1f} ms (a symbol every {1000 / args.rate:.1f} ms)"  # type: ignore[index]
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {"training": trained, "latency": timing, "mapped_over_direct_p50": ratio}
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
