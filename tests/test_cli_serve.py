"""`conductor serve` and `conductor replay` as a user runs them: real processes, Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

from tests.conftest import wait_for


def conductor(*args: str) -> list[str]:
    return [sys.executable, "-m", "conductor.cli", *args]


def test_serve_records_and_replay_reproduces_it(two_styles: list[Path], tmp_path: Path) -> None:
    record = tmp_path / "take.jsonl"
    styles = ",".join(str(p) for p in two_styles)
    server = subprocess.Popen(
        conductor("serve", "--styles", styles, "--port", "0", "--osc-port", "0",
                  "--rate", "100", "--record", str(record), "--seed", "5"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(2)]
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines[0])
        osc = re.search(r"udp://127\.0\.0\.1:(\d+)", lines[1])
        assert url and osc, lines
        message = OscMessageBuilder("/conductor/weights")
        for weight in (0.0, 1.0):
            message.add_arg(weight)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(message.build().dgram, ("127.0.0.1", int(osc.group(1))))

        def state() -> dict[str, Any]:
            return json.loads(urllib.request.urlopen(url.group(0) + "state", timeout=5).read())  # type: ignore[union-attr, no-any-return]

        wait_for(lambda: state()["target"] == {"letters": 0.0, "digits": 1.0}, what="the weights")
        step = state()["step"]
        wait_for(lambda: state()["step"] > step + 20, what="20 symbols under them")
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=20)[0]
    assert server.returncode == 0, output
    assert "Traceback" not in output and "recorded" in output
    replay = subprocess.run(
        conductor("replay", str(record)), capture_output=True, text=True, timeout=120
    )
    assert replay.returncode == 0, replay.stderr
    assert "identical to the recording" in replay.stdout


def test_serve_refuses_bad_setups_in_one_line(two_styles: list[Path], tmp_path: Path) -> None:
    styles = ",".join(str(p) for p in two_styles)
    for args, complaint in [
        (["--host", "0.0.0.0"], "add --token"),
        (["--weights", "0,0"], "all weights are zero"),
        (["--midi-in", "No Such Port"], "cannot open MIDI input"),
        (["--styles", "nonexistent_style"], "not found"),
        (["--chords", "blues"], "--chords shapes the tune: add --music"),
        (["--tls-cert", str(tmp_path / "c.pem")], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "x.pem", "--tls-key", "y.pem"], "TLS certificate x.pem is not a file"),
        (["--midi-inputs", "1,2"], "--midi-inputs reads controllers: add --midi-in PORT"),
    ]:
        result = subprocess.run(
            conductor("serve", "--styles", styles, "--port", "0", "--osc-port", "0", *args),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert complaint in result.stderr and len(result.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    result = subprocess.run(conductor("replay", str(broken)), capture_output=True, text=True)
    assert result.returncode == 2 and "cannot read record" in result.stderr
