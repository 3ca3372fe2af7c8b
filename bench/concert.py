"""A concert: a scripted performance of every shipped style, measured as the audience sees it.

`conductor serve` runs in its own process (the real command, real sockets on loopback) with all
eight shipped styles at 60 symbols/s, `--record` and `--realtime`, as README advises for a show
(`--no-realtime`: at normal priority). Four WebSocket viewers (one process each,
like four browsers) and one OSC subscriber timestamp every symbol; a controller plays a fixed
script over the WebSocket (the pad, primes, presets, pause/play, as the page sends them) and OSC
(scenes as one bundle, mixer switches, single weights, as a control surface sends them):

1. live, 90 s: the pad sweeps a Lissajous path over all styles at 19.3 Hz (styles drop under the
   threshold and come back all the time), primes, a saved preset and a morph back to it, the
   product mixer and back, a pause;
2. fast: one OSC bundle leaves only shakespeare and kjv and sets the rate free (0); six styles
   stay away for 36,000 symbols (10 minutes of session time at 60/s, about a minute here); then
   one WebSocket message brings all eight back *and* sets 60 symbols/s again;
3. live, 250 s: the pad again, a live absence of six styles for 90 s with kjv's weight moved by
   OSC, mixer switches, primes, a reset, presets with morphs, a pause.

Measured (live phases, ≥ 5 minutes of real time): control → symbol latency for every command
that changes the text (sent → the first symbol generated under it, by the record's step index,
arriving at viewer 0); the gaps between symbols at viewer 0 (pauses left out) against the period;
the server's RSS (after the first 60 s of warm-up: start, end, max); and whether every viewer's
text, and the OSC subscriber's, equals `replay` of the recording.

    python bench/concert.py [--styles-dir styles] [--json bench/results/concert.json]
    python bench/concert.py --no-realtime --json bench/results/concert-normal-priority.json
    python bench/concert.py --quick   # a 1-minute rehearsal of the same script (not a result)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conductor.library import shipped_dir
from conductor.session import replay

STYLES = ["shakespeare", "kjv", "python", "c", "latex", "abc_irish", "abc_german", "abc_scottish"]
RATE = 60.0
# Not a divisor of the clock's 60 Hz: the pad's messages land at every phase of the server's
# period, as a real device's do. At 20 Hz, on the same clock as the server's, they locked to one
# phase for minutes at a time (until a pause moved it), and the latency measured that phase:
# p50 15 ms in one rehearsal, 6 ms in the next.
PAD_HZ = 19.3
ABSENT = STYLES[2:]  # away in the fast phase and in the live absence
TARGETS = {"max_gap_periods": 2.0, "p99_latency_ms": 20.0, "rss_growth": 0.05}


# -- clients (each in its own process: no client waits on another's GIL) -----------------------


def viewer(url: str, out: str, ready: Any) -> None:
    """A browser's view: every message until the server goes away; steps timestamped as they
    come off the socket (one thread reads and stamps, like a page's event loop: the sync client
    hands each message to a second thread, whose wake-up the stamp would include)."""
    index: list[int] = []
    symbols: list[str] = []
    times: list[float] = []
    counts: dict[str, int] = {}

    async def watch() -> None:
        async with connect_async(url, max_size=None) as ws:
            ready.set()
            with contextlib.suppress(ConnectionClosed):
                async for text in ws:
                    now = time.perf_counter()
                    event = json.loads(text)
                    kind = event["type"]
                    counts[kind] = counts.get(kind, 0) + 1
                    if kind == "step":
                        index.append(event["i"])
                        symbols.append(event["symbol"])
                        times.append(now)

    asyncio.run(watch())
    Path(out).write_text(json.dumps({"i": index, "symbols": symbols, "t": times, "counts": counts}))


def subscriber(osc: tuple[str, int], out: str, stop: Any, ready: Any) -> None:
    """An OSC subscriber: `/conductor/symbol s i` for every symbol."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    udp.sendto(_message("/conductor/subscribe", "127.0.0.1", udp.getsockname()[1]), osc)
    received: dict[int, str] = {}
    while not stop.is_set():
        try:
            data = udp.recv(65536)
        except TimeoutError:
            continue
        ready.set()
        if data.startswith(b"/conductor/symbol\x00"):
            symbol, step = OscMessage(data).params
            received[int(step)] = str(symbol)
    Path(out).write_text(json.dumps(received))


def _build(address: str, values: tuple[Any, ...]) -> OscMessage:
    builder = OscMessageBuilder(address)
    for value in values:
        builder.add_arg(value)
    return builder.build()


def _message(address: str, *values: Any) -> bytes:
    return _build(address, values).dgram


def _bundle(messages: list[tuple[str, tuple[Any, ...]]]) -> bytes:
    bundle = OscBundleBuilder(IMMEDIATELY)
    for address, values in messages:
        bundle.add_content(_build(address, values))
    return bundle.build().dgram


# -- the server --------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    osc: tuple[str, int]
    rss: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes)

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "state", timeout=10) as response:
            return dict(json.load(response))

    def sample_rss(self, stop: threading.Event) -> None:
        status = Path(f"/proc/{self.process.pid}/status")
        while not stop.wait(0.5):
            try:
                line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS"))
            except (OSError, StopIteration):
                return
            self.rss.append((time.perf_counter(), int(line.split()[1]) * 1024))


def start_server(styles_dir: Path, record: Path, presets: Path, realtime: bool) -> Server:
    command = [
        sys.executable, "-u", "-m", "conductor.cli", "serve",
        "--styles", ",".join(STYLES), "--styles-dir", str(styles_dir),
        "--rate", str(RATE), "--port", "0", "--osc-port", "0", "--seed", "0",
        "--record", str(record), "--presets", str(presets),
    ] + (["--realtime"] if realtime else [])  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    url = osc = None
    for line in process.stdout:
        if found := re.search(r"live: (http://127\.0\.0\.1:\d+/)", line):
            url = found.group(1)
        if found := re.search(r"udp://127\.0\.0\.1:(\d+)", line):
            osc = ("127.0.0.1", int(found.group(1)))
        if url and osc:
            break
    if not (url and osc):
        raise SystemExit(f"conductor serve did not start (exit {process.wait()})")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # the rest of its output
    return Server(process, url, osc)


# -- the controller ----------------------------------------------------------------------------


@dataclass
class Sent:
    t: float
    kinds: list[str]  # the queued commands it carries, as the record names them


class Controller:
    """Sends the script over one WebSocket (like the page) and one UDP socket (a surface)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws = connect(server.url.replace("http://", "ws://") + "ws", max_size=None)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sent: list[Sent] = []
        self.errors: list[str] = []
        self.pauses: list[list[float]] = []  # [pause sent, play sent]
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:  # the control socket hears every step too: read them
        try:
            for text in self.ws:
                if isinstance(text, str) and text.startswith('{"type": "error"'):
                    self.errors.append(json.loads(text)["message"])
        except ConnectionClosed:
            return

    def send(self, commands: list[dict[str, Any]]) -> None:
        """One WebSocket message (an array is one atomic message)."""
        queued = [
            "set" if c["type"] == "xy" else c["type"]
            for c in commands
            if c["type"] in ("set", "xy", "prime", "reset", "preset")
        ]
        payload = json.dumps(commands[0] if len(commands) == 1 else commands)
        now = time.perf_counter()
        self.ws.send(payload)
        if queued:
            self.sent.append(Sent(now, queued))

    def osc(self, messages: list[tuple[str, tuple[Any, ...]]]) -> None:
        """One datagram: a message, or a bundle of several."""
        queued = [
            "set"
            for address, _ in messages
            if address.startswith(("/conductor/weight", "/conductor/mixer", "/conductor/xy"))
        ]
        data = (
            _message(messages[0][0], *messages[0][1]) if len(messages) == 1 else _bundle(messages)
        )
        now = time.perf_counter()
        self.udp.sendto(data, self.server.osc)
        if queued:
            self.sent.append(Sent(now, queued))

    def pad(self, t: float) -> None:
        x = 0.95 * math.sin(2 * math.pi * t / 23.0)
        y = 0.95 * math.cos(2 * math.pi * t / 17.0)
        self.send([{"type": "xy", "x": round(x, 4), "y": round(y, 4)}])

    def pause(self) -> None:
        self.send([{"type": "pause"}])
        self.pauses.append([time.perf_counter(), math.inf])

    def play(self) -> None:
        self.send([{"type": "play"}])
        self.pauses[-1][1] = time.perf_counter()

    def scene(self, weights: dict[str, float], extra: list[tuple[str, tuple[Any, ...]]]) -> None:
        """A control surface's scene: one OSC bundle, one message per style."""
        self.osc([(f"/conductor/weight/{n}", (float(w),)) for n, w in weights.items()] + extra)

    def mixer(self, name: str) -> None:
        self.osc([("/conductor/mixer", (name,))])


def play_live(controller: Controller, seconds: float, script: dict[float, Any]) -> None:
    """`seconds` of the live script at the pad's rate: at each tick one scripted action, if one
    is due, else the pad where it is active (one queued message per tick: none overtakes)."""
    start = time.perf_counter()
    actions = sorted(script.items())
    state = {"pad": True}
    tick = 0
    while (t := time.perf_counter() - start) < seconds:
        if actions and actions[0][0] <= t:
            _, action = actions.pop(0)
            action(state)
        elif state["pad"]:
            controller.pad(t)
        tick += 1
        time.sleep(max(0.0, start + tick / PAD_HZ - time.perf_counter()))


# -- the script --------------------------------------------------------------------------------


def both(*actions: Any) -> None:
    for action in actions:
        action()


def pad(on: bool) -> Any:
    """A script action: the pad sweeps (on) or rests (off)."""
    return lambda s: s.update(pad=on)


def phase_a(c: Controller) -> dict[float, Any]:
    return {
        15: lambda s: c.send([{"type": "prime", "text": "\nFirst Citizen:\n"}]),
        25: lambda s: c.send([{"type": "save", "name": "opening"}]),
        30: lambda s: c.mixer("product"),
        45: lambda s: c.send([{"type": "prime", "text": "\ndef main():\n"}]),
        55: lambda s: c.mixer("linear"),
        59.9: pad(False),
        60: lambda s: c.send([{"type": "preset", "name": "opening", "morph": 3}]),
        66: pad(True),
        74.9: pad(False),
        75: lambda s: c.pause(),
        78: lambda s: both(c.play, lambda: s.update(pad=True)),
        88: pad(False),
    }


def phase_c(c: Controller) -> dict[float, Any]:
    def kjv(weight: float) -> Any:
        return lambda s: c.osc([("/conductor/weight/kjv", (weight,))])

    away = {**{n: 0.0 for n in ABSENT}, "shakespeare": 0.5, "kjv": 0.5}
    script: dict[float, Any] = {
        20: lambda s: c.send([{"type": "prime", "text": "\nKING HENRY:\n"}]),
        29.9: pad(False),
        30: lambda s: c.scene(away, []),
        60: lambda s: c.mixer("product"),
        80: lambda s: c.mixer("linear"),
        120: lambda s: both(
            lambda: c.scene(dict.fromkeys(STYLES, 0.5), []), lambda: s.update(pad=True)
        ),
        140: lambda s: c.send([{"type": "save", "name": "wide"}]),
        150: lambda s: c.send([{"type": "prime", "text": "\n\\section{Overture}\n"}]),
        160: lambda s: c.send([{"type": "reset"}]),
        169.9: pad(False),
        170: lambda s: c.send([{"type": "preset", "name": "opening", "morph": 4}]),
        176: lambda s: c.send([{"type": "preset", "name": "wide", "morph": 2}]),
        180: pad(True),
        199.9: pad(False),
        200: lambda s: c.pause(),
        203: lambda s: both(c.play, lambda: s.update(pad=True)),
        215: lambda s: c.mixer("product"),
        235: lambda s: c.mixer("linear"),
    }
    for k in range(1, 58):  # kjv moved by a fader while six styles are away
        script.setdefault(30 + 1.5 * k, kjv(round(0.5 + 0.4 * math.sin(k / 5), 3)))
    return script


# -- measuring ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latencies(
    sent: list[Sent], record: Path, arrival: dict[int, float]
) -> list[tuple[float, int, int]]:
    """Each sent message → the step its commands were applied at (the record, in order) → when
    viewer 0 got that step's symbol."""
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    applied = [(x["step"], x["command"]["type"]) for x in lines if "command" in x]
    out, k = [], 0
    for number, message in enumerate(sent):
        steps = applied[k : k + len(message.kinds)]
        if [kind for _, kind in steps] != message.kinds:
            raise SystemExit(f"record and script disagree at command {k}: {steps} vs {message}")
        if len({step for step, _ in steps}) != 1:
            raise SystemExit(f"message {message} was applied on several steps: {steps}")
        k += len(message.kinds)
        out.append(((arrival[steps[0][0]] - message.t) * 1000, number, steps[0][0]))
    if k != len(applied):
        raise SystemExit(f"{len(applied) - k} recorded commands were never sent")
    return out


def gaps(
    view: dict[str, Any], windows: list[tuple[float, float]], pauses: list[list[float]]
) -> list[tuple[float, int]]:
    """Inter-symbol gaps at a viewer, (ms, index of the later symbol), inside the live
    windows, pauses left out."""
    t = view["t"]
    out = []
    for k, (a, b) in enumerate(itertools.pairwise(t)):
        inside = any(lo <= a and b <= hi for lo, hi in windows)
        paused = any(a <= off + 0.5 and b >= on for on, off in pauses)
        if inside and not paused:
            out.append(((b - a) * 1000, view["i"][k + 1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles-dir", type=Path, default=shipped_dir())
    parser.add_argument("--json", type=Path, default=Path("bench/results/concert.json"))
    parser.add_argument("--absence", type=int, default=36_000, help="symbols away (fast phase)")
    parser.add_argument("--quick", action="store_true", help="a short rehearsal; writes no JSON")
    parser.add_argument(
        "--no-realtime", action="store_true", help="serve at normal priority (no --realtime)"
    )
    args = parser.parse_args()
    scale = 0.15 if args.quick else 1.0
    absence = 3_000 if args.quick else args.absence
    spawn = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        record = scratch / "concert.jsonl"
        server = start_server(
            args.styles_dir, record, scratch / "presets.json", not args.no_realtime
        )
        ws_url = server.url.replace("http://", "ws://") + "ws"
        ready = [spawn.Event() for _ in range(5)]
        viewers = [
            spawn.Process(target=viewer, args=(ws_url, str(scratch / f"viewer{k}.json"), ready[k]))
            for k in range(4)
        ]
        stop = spawn.Event()
        osc_out = scratch / "osc.json"
        listener = spawn.Process(target=subscriber, args=(server.osc, str(osc_out), stop, ready[4]))
        for process in [*viewers, listener]:
            process.start()
        for flag in ready:
            if not flag.wait(120):
                raise SystemExit("a viewer or the OSC subscriber did not connect")
        stop_rss = threading.Event()
        threading.Thread(target=server.sample_rss, args=(stop_rss,), daemon=True).start()
        controller = Controller(server)
        time.sleep(1.0)
        started = time.perf_counter()

        print("phase 1: live, the pad sweeping, primes, presets, mixers, a pause", flush=True)
        warm = started + 60 * scale
        play_live(controller, 90 * scale, scaled(phase_a(controller), scale))
        live_a = (started, time.perf_counter())

        print(f"phase 2: six styles away for {absence:,} symbols, free-running", flush=True)
        controller.scene(
            {**{n: 0.0 for n in ABSENT}, "shakespeare": 1.0, "kjv": 0.6},
            [("/conductor/rate", (0.0,))],
        )
        first = server.state()["step"]
        fast_start = time.perf_counter()
        while (step := server.state()["step"]) < first + absence:
            time.sleep(0.5)
        fast_seconds = time.perf_counter() - fast_start
        print(f"  {step - first:,} symbols in {fast_seconds:.0f} s; all eight back", flush=True)
        returned = time.perf_counter()
        back = {"type": "set", "weights": dict.fromkeys(STYLES, 1.0)}
        controller.send([{"type": "rate", "chars_per_s": RATE}, back])
        return_index = len(controller.sent) - 1

        print("phase 3: live, an absence and a return, mixers, a reset, morphs", flush=True)
        time.sleep(5 * scale)
        play_live(controller, 245 * scale, scaled(phase_c(controller), scale))
        live_c = (returned, time.perf_counter())
        controller.send([{"type": "pause"}])
        time.sleep(2.0)  # every viewer has had the last symbol
        final = server.state()["step"]
        stop_rss.set()
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=60)
        stop.set()
        for process in [*viewers, listener]:
            process.join(timeout=60)
        views = [json.loads((scratch / f"viewer{k}.json").read_text()) for k in range(4)]
        heard = {int(i): s for i, s in json.loads(osc_out.read_text()).items()}

        print("replaying the record …", flush=True)
        replay_start = time.perf_counter()
        with torch.no_grad():
            again = replay(record, lambda styles: [Path(s) for s in styles])
        replay_seconds = time.perf_counter() - replay_start
        arrival = dict(zip(views[0]["i"], views[0]["t"], strict=True))
        timed = latencies(controller.sent, record, arrival)
        latency = [ms for ms, _, _ in timed]
        commands = sum(len(m.kinds) for m in controller.sent)

    period = 1000 / RATE
    timed_gaps = gaps(views[0], [live_a, live_c], controller.pauses)
    gap = [ms for ms, _ in timed_gaps]
    matches = []
    for view in views:
        i0 = view["i"][0]
        contiguous = view["i"] == list(range(i0, i0 + len(view["i"])))
        complete = view["i"][-1] == final - 1
        text = "".join(view["symbols"])
        matches.append(contiguous and complete and again.text[i0:final] == text)
    osc_same = all(again.text[i] == s for i, s in heard.items())
    rss_after = [(t, r) for t, r in server.rss if t >= warm]
    rss_start, rss_end = rss_after[0][1], rss_after[-1][1]
    rss_max = max(r for _, r in rss_after)
    live_seconds = (live_a[1] - live_a[0]) + (live_c[1] - live_c[0])
    result = {
        "styles": STYLES,
        "serve_realtime": not args.no_realtime,
        "rate": RATE,
        "period_ms": period,
        "live_seconds": live_seconds,
        "symbols": final,
        "absence_symbols": absence,
        "absence_session_minutes": absence / RATE / 60,
        "fast_phase_seconds": fast_seconds,
        "commands": commands,
        "messages": len(controller.sent),
        "errors": controller.errors,
        "latency_ms": {
            "p50": statistics.median(latency),
            "p99": percentile(latency, 0.99),
            "max": max(latency),
            "return_after_absence": latency[return_index],
        },
        "gap_ms": {
            "count": len(gap),
            "p50": statistics.median(gap),
            "p99": percentile(gap, 0.99),
            "max": max(gap),
            "max_periods": max(gap) / period,
        },
        "rss_mb": {
            "start": rss_start / 2**20,
            "end": rss_end / 2**20,
            "max": rss_max / 2**20,
            "growth": rss_end / rss_start - 1,
        },
        "worst_latencies": [
            {"ms": ms, "kinds": controller.sent[n].kinds, "step": step}
            for ms, n, step in sorted(timed, reverse=True)[:8]
        ],
        "worst_gaps": [{"ms": ms, "step": i} for ms, i in sorted(timed_gaps, reverse=True)[:8]],
        "viewers": [
            {"first": v["i"][0], "steps": len(v["i"]), "dists": v["counts"].get("dists", 0)}
            for v in views
        ],
        "viewers_equal_replay": all(matches),
        "replay_matches_record_digest": again.matches,
        "replay_seconds": replay_seconds,
        "osc_symbols_heard": len(heard),
        "osc_equal_replay": osc_same,
        "targets": TARGETS,
    }
    met = {
        "max_gap": result["gap_ms"]["max_periods"] <= TARGETS["max_gap_periods"],
        "p99_latency": result["latency_ms"]["p99"] < TARGETS["p99_latency_ms"],
        "rss_growth": result["rss_mb"]["growth"] < TARGETS["rss_growth"],
        "replay_identical": all(matches) and bool(again.matches),
        "no_errors": not controller.errors,
    }
    result["met"] = met
    lat, gp, rss = result["latency_ms"], result["gap_ms"], result["rss_mb"]
    print(
        f"{final:,} symbols, {live_seconds:.0f} s live at {RATE:g}/s (period {period:.1f} ms), "
        f"{commands} commands in {len(controller.sent)} messages\n"
        f"latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms "
        f"(return after {absence:,} symbols away: {lat['return_after_absence']:.1f} ms)\n"
        f"gaps p50 {gp['p50']:.1f} ms, p99 {gp['p99']:.1f} ms, max {gp['max']:.1f} ms "
        f"= {gp['max_periods']:.2f} periods\n"
        f"RSS {rss['start']:.0f} → {rss['end']:.0f} MB (max {rss['max']:.0f}), "
        f"growth {100 * rss['growth']:+.1f}%\n"
        f"viewers == replay: {all(matches)}; OSC ({len(heard):,} symbols) == replay: {osc_same}; "
        f"errors: {len(controller.errors)}\n"
        f"targets met: {', '.join(k for k, v in met.items() if v) or 'none'}; "
        f"missed: {', '.join(k for k, v in met.items() if not v) or 'none'}"
    )
    if args.quick:
        print(json.dumps({k: result[k] for k in ("worst_latencies", "worst_gaps")}, indent=1))
        print("(a rehearsal: no JSON written)")
        return
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


def scaled(script: dict[float, Any], scale: float) -> dict[float, Any]:
    return {t * scale: action for t, action in script.items()}


if __name__ == "__main__":
    main()
