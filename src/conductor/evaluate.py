"""Honest evaluation: a model's test BPC beside real compressors on the same held-out text.

Compressors are scored by their *marginal* cost, `8 * (|C(train + test)| - |C(train)|) / |test|`
bits per symbol: they see the same training text the model saw before they see the test text,
so neither side gets context the other lacks.
"""

from __future__ import annotations

import bz2
import copy
import lzma
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyppmd
import torch
import zstandard

from conductor.checkpoint import load_checkpoint
from conductor.corpora import locate
from conductor.corpus import load_corpus, split
from conductor.errors import CorpusError
from conductor.model import CharLSTM, bits_per_symbol
from conductor.progress import Progress, silent, within

__all__ = [
    "COMPRESSORS",
    "DynamicSettings",
    "EvalReport",
    "dynamic_bits_per_symbol",
    "evaluate_checkpoint",
    "held_out",
    "marginal_bpc",
    "tune_dynamic",
]

Compressor = Callable[[bytes], bytes]

COMPRESSORS: dict[str, Compressor] = {
    "xz -9e": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
    "bz2 -9": lambda data: bz2.compress(data, 9),
    "zstd -19": lambda data: zstandard.ZstdCompressor(level=19).compress(data),
    # PPMd order 8 with 256 MB of model memory: the strongest classic context model here.
    "ppmd o8": lambda data: pyppmd.compress(data, max_order=8, mem_size=256 << 20, variant="H"),
}


def marginal_bpc(compress: Compressor, train: bytes, test: bytes) -> float:
    """Bits per test symbol that `compress` spends on `test` after having seen `train`."""
    if not test:
        raise CorpusError("test text is empty")
    context = len(compress(train)) if train else 0
    return 8 * (len(compress(train + test)) - context) / len(test)


def dynamic_bits_per_symbol(
    model: CharLSTM,
    ids: torch.Tensor,
    chunk: int = 128,
    lr: float = 3e-4,
    progress: Progress = silent,
) -> float:
    """Bits per symbol under dynamic evaluation (Krause et al., 2018), as compressors are scored.

    The text is read once, in order: each chunk is scored first, then the model takes one Adam
    step on that chunk, so it adapts to what it has read — as an adaptive compressor does. The
    score of a chunk never depends on the chunk itself. `model` is not changed (a copy adapts).
    `progress` hears of each chunk (task "dynamic").
    """
    adapting = copy.deepcopy(model).eval()  # eval: no dropout; gradients still flow
    optimizer = torch.optim.Adam(adapting.parameters(), lr=lr)
    ids = ids.long().view(1, -1)  # [1, n]
    n = ids.shape[1]
    state: tuple[torch.Tensor, torch.Tensor] | None = None
    total_nats = 0.0
    for start in range(0, n - 1, chunk):
        stop = min(start + chunk, n - 1)
        logits, (h, c) = adapting(ids[:, start:stop], state)  # [1, T, V]
        loss = torch.nn.functional.cross_entropy(
            logits[0], ids[0, start + 1 : stop + 1], reduction="sum"
        )
        total_nats += float(loss.detach())
        optimizer.zero_grad()
        (loss / (stop - start)).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        state = (h.detach(), c.detach())
        progress("dynamic", stop, n - 1)
    return total_nats / (n - 1) / math.log(2)


@dataclass(frozen=True)
class DynamicSettings:
    chunk: int = 128
    lr: float = 3e-4


# What `tune_dynamic` tries; it picks on the validation split, never on the test text.
DYNAMIC_GRID = tuple(DynamicSettings(chunk, lr) for chunk in (64, 128) for lr in (3e-4, 1e-3, 3e-3))
TUNE_SYMBOLS = 100_000  # the validation text the grid is scored on (its start)


def tune_dynamic(
    model: CharLSTM,
    val_ids: torch.Tensor,
    grid: tuple[DynamicSettings, ...] = DYNAMIC_GRID,
    progress: Progress = silent,
) -> DynamicSettings:
    """The dynamic-evaluation settings in `grid` that score best on `val_ids` (held-out text).

    `progress` hears of it as one task, "tuning", counted in settings tried."""
    if len(grid) == 1 or val_ids.numel() < 2:
        return grid[0]
    scores = {
        s: dynamic_bits_per_symbol(
            model, val_ids, s.chunk, s.lr, within(progress, "tuning", k, len(grid))
        )
        for k, s in enumerate(grid)
    }
    return min(scores, key=scores.__getitem__)


@dataclass
class EvalReport:
    checkpoint: str
    name: str
    test_source: str
    test_symbols: int
    train_symbols: int
    model_bpc: float
    compressors: dict[str, float] = field(default_factory=dict)
    dynamic_bpc: float | None = None  # with dynamic evaluation (`--dynamic`)
    dynamic_settings: dict[str, float] | None = None  # chosen on the validation split

    def beaten(self, dynamic: bool = False) -> list[str]:
        bpc = self.dynamic_bpc if dynamic and self.dynamic_bpc is not None else self.model_bpc
        return [name for name, value in self.compressors.items() if bpc < value]

    def to_json(self) -> dict[str, Any]:
        result = {**asdict(self), "beats": self.beaten()}
        if self.dynamic_bpc is not None:
            result["beats_dynamic"] = self.beaten(dynamic=True)
        return result


def held_out(record: dict[str, Any], text_file: Path | None) -> tuple[bytes, bytes, bytes, str]:
    """(training, validation, test text, where the test text came from) for a checkpoint."""
    train = val = b""
    source: Path | None = None
    try:
        source = locate(record.get("corpus") or {})
    except CorpusError:
        if text_file is None:
            raise
    if source is not None:
        corpus = load_corpus(source)
        splits = split(corpus.ids)
        train, val = splits.train.tobytes(), splits.val.tobytes()
        if text_file is None:
            return train, val, splits.test.tobytes(), f"{source} (test split, last 5%)"
    assert text_file is not None
    test = load_corpus(text_file).ids.tobytes()
    return train, val, test, str(text_file)


def evaluate_checkpoint(
    checkpoint: Path,
    text_file: Path | None = None,
    compressors: bool = True,
    dynamic: bool = False,
    progress: Progress = silent,
) -> EvalReport:
    """Score `checkpoint` on its test split (or `text_file`) and, optionally, the compressors.

    Dynamic evaluation first picks its step size and chunk on the start of the validation split
    (where the corpus is at hand), then reads the test text once with them. `progress` hears of
    the tasks "model", "tuning", "dynamic" and "compressors" (counted as they finish).
    """
    model, record = load_checkpoint(checkpoint)
    train, val, test, test_source = held_out(record, text_file)
    test_ids = torch.frombuffer(bytearray(test), dtype=torch.uint8).long()  # [n]
    model_bpc = bits_per_symbol(model, test_ids, progress=progress)
    report = EvalReport(
        checkpoint=str(checkpoint),
        name=str(record.get("name", Path(checkpoint).stem)),
        test_source=test_source,
        test_symbols=len(test),
        train_symbols=len(train),
        model_bpc=model_bpc,
    )
    if dynamic:
        settings = DynamicSettings()
        if val:
            val_ids = torch.frombuffer(bytearray(val[:TUNE_SYMBOLS]), dtype=torch.uint8).long()
            settings = tune_dynamic(model, val_ids, progress=progress)
        report.dynamic_bpc = dynamic_bits_per_symbol(
            model, test_ids, settings.chunk, settings.lr, progress
        )
        report.dynamic_settings = asdict(settings)
    if compressors:
        # lzma, bz2, zstd and pyppmd release the GIL: threads use both cores.
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                pool.submit(marginal_bpc, compress, train, test): name
                for name, compress in COMPRESSORS.items()
            }
            progress("compressors", 0, len(futures))
            scores = {}
            for done, future in enumerate(as_completed(futures), 1):
                scores[futures[future]] = future.result()
                progress("compressors", done, len(futures))
            report.compressors = {name: scores[name] for name in COMPRESSORS}
    return report
