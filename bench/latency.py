"""Control latency: an OSC command in → the first symbol generated under it out on the WebSocket.

A real server (web + OSC, in this process, on loopback) runs N models at a fixed rate. A real
UDP socket sends `/conductor/weights` with a marker weight that changes every command; a real
WebSocket client timestamps every step event. Latency = arrival of the first step whose weights
carry the marker − the moment the datagram was sent (one clock: same process). Commands are
spaced by a random delay so they land at every phase of the symbol clock.

    python bench/latency.py [--commands 500] [--rate 60] [--models 8] [--styles-dir styles]

Uses the shipped styles when `--styles-dir` has at least N of them, else N random small models.
"""

from __future__ import annotations

import argparse
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
from conductor.model import SIZES, CharLSTM
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--rate", type=float, default=60.0, help="symbols/s")
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--styles-dir", type=Path, default=Path("styles"))
    parser.add_argument("--json", type=Path, default=Path("bench/results/latency.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        paths = checkpoints(args.styles_dir, args.models, Path(scratch))
        session = Session(Conductor(Ensemble.from_checkpoints(paths)), rate=args.rate)
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
        latencies = []
        rng = random.Random(0)
        time.sleep(1.0)
        for k in range(args.commands):
            marker = round(0.2 + 0.6 * ((k % 50) / 50), 2)  # a value no other command used last
            weights = [1.0, marker] + [0.0] * (len(paths) - 2)
            builder = OscMessageBuilder("/conductor/weights")
            for w in weights:
                builder.add_arg(float(w), OscMessageBuilder.ARG_TYPE_FLOAT)
            datagram = builder.build().dgram
            with seen:
                start_index = len(arrivals)
            sent = time.perf_counter()
            udp.sendto(datagram, endpoints.osc)

            def arrived(marker: float = marker, since: int = start_index) -> float | None:
                return next((t for t, w in arrivals[since:] if abs(w - marker) < 1e-6), None)

            with seen:
                if not seen.wait_for(lambda: arrived() is not None, timeout=5):
                    raise SystemExit(f"command {k} never showed up")
                first = arrived()
                assert first is not None
            latencies.append((first - sent) * 1000)
            time.sleep(rng.uniform(0.02, 0.06))
        ws.close()
        server.stop()

    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)))]
    period = 1000 / args.rate
    print(
        f"{args.commands} OSC commands, {len(paths)} models at {args.rate:g} symbols/s "
        f"(one symbol every {period:.1f} ms): latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {latencies[-1]:.1f} ms"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "commands": args.commands,
                "models": len(paths),
                "styles": [p.name for p in paths],
                "rate": args.rate,
                "p50_ms": p50,
                "p99_ms": p99,
                "max_ms": latencies[-1],
                "latencies_ms": latencies,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
