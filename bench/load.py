"""Styles loaded and unloaded live: how soon a loaded style plays, and what the stream feels.

A real server (web + OSC, in this process, on loopback) plays the shipped ensemble less one
style at a fixed rate; a real UDP socket sends `/conductor/load STYLE` in one bundle with
`/conductor/weight/STYLE 1` (and the others' weights down), and later `/conductor/unload STYLE`
with the first style weighted again; a real WebSocket client timestamps every step event. Per
load: the time from the datagram to the first symbol with the style's weight in it (its file
read and the ensemble for the new set built on the loader thread, the newcomer's reading of the
text's last symbols, the step); the largest gap between two symbols from one second before the
datagram to one second after that symbol (the same around an unload), against the largest
gap in a window as long with no command in it (the stream's own jitter; its period is 1/rate).

The baseline is what a performer did before: restart the server with the style added. Its
silence is at least the time to read every style's file, build the ensemble and run the first
step (measured here, in the same run, with the same files; a real restart adds the process and
the sockets).

    python bench/load.py [--rounds 10] [--rate 60] [--styles shakespeare,abc_irish]
                         [--json bench/results/load.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import torch
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.sync.client import connect

from conductor.engine import Ensemble
from conductor.generate import Conductor
from conductor.library import DEFAULT_STYLES, Library
from conductor.server.run import BackgroundServer
from conductor.session import Session
from ensemble_speed import cpu_name


def message(address: str, *args: Any) -> Any:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def bundle(*messages: Any) -> bytes:
    builder = OscBundleBuilder(IMMEDIATELY)
    for item in messages:
        builder.add_content(item)
    return builder.build().dgram


def restart_seconds(paths: list[Path]) -> float:
    """Read every style's file, build the ensemble, warm it up and make the first symbol."""
    start = time.perf_counter()
    conductor = Conductor(Ensemble.from_checkpoints(paths))
    conductor.ensemble.warm_up()
    with torch.no_grad():
        conductor.step([1.0] + [0.0] * (len(paths) - 1))
    return time.perf_counter() - start


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "max": max(values), "min": min(values)}


def run_style(style: str, args: argparse.Namespace, library: Library) -> dict[str, Any]:
    others = [name for name in DEFAULT_STYLES if name != style]
    paths = [library(name) for name in others]
    session = Session(Conductor(Ensemble.from_checkpoints(paths)), rate=args.rate, library=library)
    server = BackgroundServer(session, port=0, osc_port=0)
    endpoints = server.endpoints
    assert endpoints is not None and endpoints.osc is not None
    arrivals: list[tuple[float, float]] = []  # (time, the style's weight) per step event
    seen = threading.Condition()
    ws = connect(endpoints.url.replace("http://", "ws://") + "ws", max_size=None)

    def receive() -> None:
        try:
            for text in ws:
                now = time.perf_counter()
                event = json.loads(text)
                if event["type"] == "step":
                    with seen:
                        arrivals.append((now, float(event["weights"].get(style, 0.0))))
                        seen.notify_all()
        except Exception:
            return

    threading.Thread(target=receive, daemon=True).start()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def wait(condition: Any, what: str) -> None:
        with seen:
            if not seen.wait_for(condition, timeout=30):
                raise SystemExit(f"{style}: {what} never came")

    def largest_gap(start: float, end: float) -> float:
        times = [t for t, _ in arrivals if start - 1.0 <= t <= end + 1.0]
        return max((b - a) * 1000 for a, b in itertools.pairwise(times))

    loads, load_gaps, unload_gaps, quiet_gaps = [], [], [], []
    time.sleep(1.5)  # the clock settles
    for _ in range(args.rounds):
        with seen:
            since = len(arrivals)
        sent = time.perf_counter()
        udp.sendto(
            bundle(
                message("/conductor/load", style),
                message("/conductor/weight/" + style, 1.0),
                message("/conductor/weight/" + others[0], 0.0),
            ),
            endpoints.osc,
        )
        wait(lambda since=since: any(w > 0 for _, w in arrivals[since:]), "the weighted symbol")
        with seen:
            first = next(t for t, w in arrivals[since:] if w > 0)
        loads.append((first - sent) * 1000)
        time.sleep(1.2)
        load_gaps.append(largest_gap(sent, first))
        with seen:
            since = len(arrivals)
        sent = time.perf_counter()
        udp.sendto(
            bundle(
                message("/conductor/weight/" + others[0], 1.0),
                message("/conductor/unload", style),
            ),
            endpoints.osc,
        )
        wait(lambda since=since: len(arrivals) > since + 2, "a symbol after the unload")
        wait(lambda: style not in server.call(lambda: session.names), "the unload")
        done = time.perf_counter()
        time.sleep(1.2)
        unload_gaps.append(largest_gap(sent, done))
        quiet = time.perf_counter() + 1.0  # the control: as long a window, no command in it
        time.sleep(2.4)
        quiet_gaps.append(largest_gap(quiet, quiet + 0.2))
    refused = server.call(lambda: server.session.names)
    ws.close()
    server.stop()
    times = [t for t, _ in arrivals]
    gaps = sorted((b - a) * 1000 for a, b in itertools.pairwise(times))
    restarts = [restart_seconds([*paths, library(style)]) * 1000 for _ in range(3)]
    load_average = os.getloadavg()[0]  # other work on the machine meanwhile (a trainer?)
    model = Ensemble.from_checkpoints([library(style)]).models[0].config
    return {
        "style": style,
        "model": f"{model.layers}x{model.hidden}",
        "ensemble": len(DEFAULT_STYLES),
        "rounds": args.rounds,
        "load_to_first_weighted_symbol_ms": summary(loads),
        "largest_gap_around_a_load_ms": summary(load_gaps),
        "largest_gap_around_an_unload_ms": summary(unload_gaps),
        "largest_gap_in_a_quiet_window_ms": summary(quiet_gaps),
        "stream": {
            "symbols_per_s": (len(times) - 1) / (times[-1] - times[0]),
            "p50_gap_ms": gaps[len(gaps) // 2],
            "p99_gap_ms": gaps[int(0.99 * (len(gaps) - 1))],
            "max_gap_ms": gaps[-1],
        },
        "restart_silence_ms": summary(restarts),
        "styles_at_end": refused,
        "load_average_1min": load_average,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="loads (and unloads) per style")
    parser.add_argument("--rate", type=float, default=60.0, help="symbols/s")
    parser.add_argument("--styles", default="shakespeare,abc_irish", help="the styles loaded")
    parser.add_argument("--styles-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=Path("bench/results/load.json"))
    args = parser.parse_args()
    library = Library(args.styles_dir)
    results = [run_style(style, args, library) for style in args.styles.split(",")]
    period = 1000 / args.rate
    print(
        f"{len(DEFAULT_STYLES)} styles at {args.rate:g} symbols/s (a symbol every "
        f"{period:.1f} ms); each style loaded (with its weight, one OSC bundle) and unloaded "
        f"{args.rounds} times:"
    )
    for r in results:
        load, gap = r["load_to_first_weighted_symbol_ms"], r["largest_gap_around_a_load_ms"]
        out, restart = r["largest_gap_around_an_unload_ms"], r["restart_silence_ms"]
        print(
            f"  {r['style']} ({r['model']}): load -> first weighted symbol median "
            f"{load['median']:.0f} ms (max {load['max']:.0f}); largest gap around a load "
            f"median {gap['median']:.1f} ms (max {gap['max']:.1f}), around an unload "
            f"{out['median']:.1f} ms (max {out['max']:.1f}), in a quiet window as long "
            f"{r['largest_gap_in_a_quiet_window_ms']['median']:.1f} ms (max "
            f"{r['largest_gap_in_a_quiet_window_ms']['max']:.1f}); a restart instead: "
            f"{restart['median']:.0f} ms of silence, {restart['median'] / gap['max']:.0f}x the "
            "worst gap"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "rate": args.rate,
                "period_ms": period,
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "torch": torch.__version__,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
