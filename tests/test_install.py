"""The wheel is the whole product: built from this checkout, installed into a fresh virtualenv,
run from an empty directory (no repository, no `styles/`, no `.npm/` beside it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.sync.client import connect

from conductor.library import DEFAULT_STYLES

ROOT = Path(__file__).resolve().parents[1]
# `make install` copies abcjs here (git-ignored), and a wheel built after it carries it.
BUNDLED_ABCJS = ROOT / "src/conductor/server/static/vendor/abcjs-basic-min.js"
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    wheel: Path
    conductor: Path  # the fresh virtualenv's console script


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A fresh virtualenv with the wheel in it; its dependencies (torch and the rest) are read
    from this environment's site-packages, so nothing is downloaded twice."""
    base = tmp_path_factory.mktemp("install")
    # Built from a copy of what the package is made of: setuptools keeps a `build/` folder in
    # the source tree, and a stale one there would put old modules into the wheel.
    source = base / "source"
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(base)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(base.glob("conductor-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True,
    )  # fmt: skip
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # A plain path entry: this environment's own .pth files (our editable install among them)
    # are not run, so `import conductor` can only find the wheel's copy.
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    yield Installed(wheel, venv / "bin" / "conductor")


ENV = {**os.environ, "PYTHONPATH": "", "COLUMNS": "200"}


def run_in(cwd: Path, installed: Installed, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed.conductor), *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip


def test_the_wheel_carries_the_styles_and_the_page(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    modules = {name for name in names if name.endswith(".py")}
    source = {
        str(path.relative_to(ROOT / "src")) for path in (ROOT / "src/conductor").rglob("*.py")
    }
    assert modules == source
    for style in DEFAULT_STYLES:
        assert f"conductor/styles/{style}.safetensors" in names
        assert f"conductor/styles/{style}.md" in names
    assert "conductor/server/static/index.html" in names
    if BUNDLED_ABCJS.is_file():
        assert "conductor/server/static/vendor/abcjs-basic-min.js" in names


def test_generate_from_an_empty_directory(installed: Installed, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_in(empty, installed, "generate", "--chars", "60", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) >= 40
    steps = tmp_path / "steps.jsonl"
    one = run_in(
        empty, installed, "generate", "--styles", "kjv", "--chars", "5", "--json", str(steps)
    )
    assert one.returncode == 0, one.stderr
    assert json.loads(steps.read_text().splitlines()[0])["type"] == "step"
    assert not list(empty.iterdir())  # nothing written where it ran


def test_serve_from_an_empty_directory(installed: Installed, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(installed.conductor), "serve", "--port", "0", "--osc-port", "-1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            if found := re.search(r"live: (http://127\.0\.0\.1:\d+/)", line):
                url = found.group(1)
                break
        assert url, "serve did not start"
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "conductor" in page
        if BUNDLED_ABCJS.is_file():  # served from the package, with no .npm/ anywhere near
            script = urllib.request.urlopen(url + "vendor/abcjs-basic-min.js", timeout=10)
            assert script.status == 200 and len(script.read()) > 100_000
        with connect(url.replace("http://", "ws://") + "ws") as ws:
            hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "hello" and hello["styles"] == list(DEFAULT_STYLES)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
