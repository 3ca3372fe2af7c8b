"""Honest evaluation: a model's test BPC beside real compressors on the same held-out text.

Compressors are scored by their *marginal* cost, `8 * (|C(train + test)| - |C(train)|) / |test|`
bits per symbol: they see the same training text the model saw before they see the test text,
so neither side gets context the other lacks.
"""

from __future__ import annotations

import bz2
import lzma
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyppmd
import torch
import zstandard

from conductor.checkpoint import load_checkpoint
from conductor.corpus import load_corpus, read_text, split
from conductor.errors import CorpusError
from conductor.model import bits_per_symbol

__all__ = ["COMPRESSORS", "EvalReport", "evaluate_checkpoint", "marginal_bpc"]

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


@dataclass
class EvalReport:
    checkpoint: str
    name: str
    test_source: str
    test_symbols: int
    train_symbols: int
    model_bpc: float
    compressors: dict[str, float] = field(default_factory=dict)

    def beaten(self) -> list[str]:
        return [name for name, bpc in self.compressors.items() if self.model_bpc < bpc]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "beats": self.beaten()}


def _held_out(record: dict[str, Any], text_file: Path | None) -> tuple[bytes, bytes, str]:
    """(training text, test text, where the test text came from) for a checkpoint."""
    corpus_info = record.get("corpus") or {}
    source = corpus_info.get("source")
    train = b""
    corpus_ok = False
    if source and Path(source).exists():
        _, digest = read_text(Path(source))
        corpus_ok = digest == corpus_info.get("sha256")
    if text_file is None and not corpus_ok:
        raise CorpusError(
            f"the checkpoint's corpus {source!r} is missing or changed since training; rebuild it "
            "(conductor corpus build STYLE) or give --text FILE"
        )
    if corpus_ok:
        corpus = load_corpus(Path(str(source)))
        splits = split(corpus.ids)
        train = splits.train.tobytes()
        if text_file is None:
            return train, splits.test.tobytes(), f"{source} (test split, last 5%)"
    assert text_file is not None
    test = load_corpus(text_file).ids.tobytes()
    return train, test, str(text_file)


def evaluate_checkpoint(
    checkpoint: Path, text_file: Path | None = None, compressors: bool = True
) -> EvalReport:
    """Score `checkpoint` on its test split (or `text_file`) and, optionally, the compressors."""
    model, record = load_checkpoint(checkpoint)
    train, test, test_source = _held_out(record, text_file)
    test_ids = torch.frombuffer(bytearray(test), dtype=torch.uint8).long()  # [n]
    model_bpc = bits_per_symbol(model, test_ids)
    report = EvalReport(
        checkpoint=str(checkpoint),
        name=str(record.get("name", Path(checkpoint).stem)),
        test_source=test_source,
        test_symbols=len(test),
        train_symbols=len(train),
        model_bpc=model_bpc,
    )
    if compressors:
        # lzma, bz2, zstd and pyppmd release the GIL: threads use both cores.
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                name: pool.submit(marginal_bpc, compress, train, test)
                for name, compress in COMPRESSORS.items()
            }
            report.compressors = {name: future.result() for name, future in futures.items()}
    return report
