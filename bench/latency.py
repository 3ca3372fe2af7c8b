"""Control latency: an OSC command in → the first symbol generated under it out on the WebSocket.

A real server (web + OSC, in this process, on loopback) runs N models at a fixed rate. A real
UDP socket sends `/conductor/weights` with a marker weight that changes every command; a real
WebSocket client timestamps every step event. Latency = arrival of the first step whose weights
carry the marker − the moment the datagram was sent (one clock: same process). Commands are
spaced by a random delay so they land at every phase of the symbol clock.

Three cases, one after the other on the same server:
- "two active": weight on the first two styles, the others skipped (the common case);
- "all active": weight on every style, so every model runs on the path to the symbol;
- "returning": the other styles leave for 0.5-2 s (weight on the first style alone, while the
  server works off their backlog in idle time), then one command brings them all back; the
  latency of that return is measured (the path that once froze the stream).

    python bench/latency.py [--commands 500] [--returns 100] [--rate 60] [--models 8]
    python bench/latency.py --search 8x4 --json bench/results/latency-search.json

With `--search SxD` the server searches every symbol (S paths, D deep); the report adds the
symbols/s the stream kept, its largest gap, and the search settings at the end (a search too
wide for the rate is narrowed by the session, which would show there).

Uses the shipped styles when `--styles-dir` has at least N of them, else N random small models.
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

import torch
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.sync.client import connect

from conductor.checkpoint import save_checkpoint
from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.library import shipped_dir
from conductor.model import SIZES, CharLSTM
from conductor.search import SearchSettings
from conductor.server.run import BackgroundServer
from conductor.session import Session
from conductor.vocab import ASCII128


def checkpoints(styles_dir: Path, count: int, scratch: Path) -> list[Path]:
    shipped = sorted(styles_dir.glob("*.safetensors"))
    if len(shipped) >= count:
        return shipped[:count]
    torch.manual_seed(0)
    paths = []
    for i in range(count):
        path = scratch / f"random{i}.safetensors"
        save_checkpoint(path, CharLSTM(SIZES["small"]), ASCII128, {"name": path.stem})
        paths.append(path)
    return paths


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))],
        "max_ms": ordered[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500, help="per steady case (500)")
    parser.add_argument("--returns", type=int, default=100, help="returns measured (100)")
    parser.add_argument("--rate", type=float, default=60.0, help="symbols/s")
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--json", type=Path, default=Path("bench/results/latency.json"))
    parser.add_argument("--search", help="search every symbol: SAMPLESxDEPTH, e.g. 8x4")
    args = parser.parse_args()

    results: dict[str, dict[str, float | int | list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        paths = checkpoints(args.styles_dir, args.models, Path(scratch))
        conductor = Conductor(Ensemble.from_checkpoints(paths))
        if args.search:
            samples, _, depth = args.search.partition("x")
            conductor.search = SearchSettings(int(samples), int(depth))
        session = Session(conductor, rate=args.rate)
        server = BackgroundServer(session, port=0, osc_port=0)
        endpoints = server.endpoints
        assert endpoints is not None and endpoints.osc is not None
        arrivals: list[tuple[float, float]] = []  # (time, marker weight) per step event
        seen = threading.Condition()
        ws = connect(endpoints.url.replace("http://", "ws://") + "ws", max_size=None)

        def receive() -> None:
            try:
                for text in ws:
                    now = time.perf_counter()
                    event = json.loads(text)
                    if event["type"] == "step":
                        with seen:
                            arrivals.append((now, list(event["weights"].values())[1]))
                            seen.notify_all()
            except Exception:
                return

        threading.Thread(target=receive, daemon=True).start()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rng = random.Random(0)

        def send(weights: list[float]) -> None:
            builder = OscMessageBuilder("/conductor/weights")
            for w in weights:
                builder.add_arg(float(w), OscMessageBuilder.ARG_TYPE_FLOAT)
            udp.sendto(builder.build().dgram, endpoints.osc)

        def timed(k: int, rest: float) -> float:
            """Send weights [1, marker, rest...] and wait for the first symbol under them."""
            marker = round(0.2 + 0.6 * ((k % 50) / 50), 2)  # a value no other command used last
            with seen:
                since = len(arrivals)
            sent = time.perf_counter()
            send([1.0, marker] + [rest] * (len(paths) - 2))

            def arrived() -> float | None:
                return next((t for t, w in arrivals[since:] if abs(w - marker) < 1e-6), None)

            with seen:
                if not seen.wait_for(lambda: arrived() is not None, timeout=10):
                    raise SystemExit(f"command {k} never showed up")
                first = arrived()
                assert first is not None
            return (first - sent) * 1000

        time.sleep(1.0)
        # "all active": each other style at 0.2, so every share stays above the 5% threshold
        for case, rest in (("two active", 0.0), ("all active", 0.2)):
            latencies = []
            for k in range(args.commands):
                latencies.append(timed(k, rest))
                time.sleep(rng.uniform(0.02, 0.06))
            results[case] = {
                **percentiles(latencies),
                "commands": args.commands,
                "latencies_ms": latencies,
            }
        returns = []
        for k in range(args.returns):
            send([1.0] + [0.0] * (len(paths) - 1))  # everyone but the first style leaves
            time.sleep(rng.uniform(0.5, 2.0))
            returns.append(timed(k, 0.2))
            time.sleep(rng.uniform(0.02, 0.06))
        results["returning"] = {
            **percentiles(returns),
            "commands": args.returns,
            "latencies_ms": returns,
        }
        ws.close()
        final_search = server.call(lambda: session.state()["search"])
        server.stop()
    times = [t for t, _ in arrivals]
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    stream = {
        "symbols": len(times),
        "symbols_per_s": (len(times) - 1) / (times[-1] - times[0]),
        "max_gap_ms": max(gaps),
        "p99_gap_ms": sorted(gaps)[int(0.99 * (len(gaps) - 1))],
        "search_at_end": final_search,
    }

    period = 1000 / args.rate
    print(
        f"{len(paths)} models at {args.rate:g} symbols/s (one symbol every {period:.1f} ms); "
        "OSC command sent -> first symbol under it on the WebSocket:"
    )
    for case, figures in results.items():
        print(
            f"  {case:<11} {figures['commands']:>4} commands: p50 {figures['p50_ms']:.1f} ms, "
            f"p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms"
        )
    print(
        f"  the stream: {stream['symbols_per_s']:.1f} symbols/s, largest gap "
        f"{stream['max_gap_ms']:.1f} ms (p99 {stream['p99_gap_ms']:.1f}); search at the end: "
        f"{stream['search_at_end']}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "models": len(paths),
                "styles": [p.name for p in paths],
                "rate": args.rate,
                "search": args.search,
                "cases": results,
                "stream": stream,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
