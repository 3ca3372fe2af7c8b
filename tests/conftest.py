"""Shared fixtures: small real text and a tiny trained model, built once per session."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Property tests explore the same examples on every run (set HYPOTHESIS_PROFILE=explore to
# search afresh): a red CI run then always means a change broke something.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
