"""Shared fixtures: small real text and a tiny trained model, built once per session."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # tests run in parallel with nothing; one thread keeps runs repeatable


@pytest.fixture(scope="session")
def python_text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300 kB of real text: modules of the running Python's standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    for path in sorted(stdlib.glob("*.py")):
        parts.append(path.read_text(encoding="utf-8", errors="replace"))
        if sum(map(len, parts)) > 300_000:
            break
    out = tmp_path_factory.mktemp("corpus") / "stdlib.txt"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
