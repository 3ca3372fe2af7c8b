"""Corpus text → symbol ids; a deterministic train/val/test split; batches for truncated BPTT.

The split is contiguous, not shuffled: the first 90% of the text trains, the next 5% validates
and the last 5% tests. A character model scored on text interleaved with its training text would
be scored on what it memorised; contiguous blocks are what compressors are scored on too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from conductor.errors import CorpusError
from conductor.vocab import ASCII128, CleanReport, Vocab, clean

__all__ = ["Corpus", "Splits", "TBPTTBatches", "load_corpus", "read_text", "split"]

SymbolIds = npt.NDArray[np.uint8]


def read_text(path: Path) -> tuple[str, str]:
    """The UTF-8 text of `path` and the sha256 of its bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file; give a text file or a style name") from None
    except IsADirectoryError:
        raise CorpusError(f"{path} is a directory; give one text file") from None
    except OSError as error:
        raise CorpusError(f"{path}: cannot read ({error.strerror})") from None
    if b"\x00" in raw[:65536]:  # text in any 8-bit encoding has no NUL bytes
        raise CorpusError(f"{path} is a binary file, not text; give a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"{path} is not UTF-8 text (bad byte at offset {error.start}); convert it first, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from None
    return text, hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Corpus:
    """A cleaned corpus: its symbol ids and where they came from."""

    ids: SymbolIds
    source: str
    sha256: str
    vocab: Vocab
    report: CleanReport


def load_corpus(path: Path, vocab: Vocab = ASCII128) -> Corpus:
    """Read, clean and encode a text file."""
    text, digest = read_text(path)
    report = CleanReport()
    ids = vocab.encode(clean(text, vocab, report))
    if ids.size == 0:
        raise CorpusError(f"{path} holds no text in vocabulary {vocab.name!r}; give a text file")
    return Corpus(ids=ids, source=str(path.resolve()), sha256=digest, vocab=vocab, report=report)


@dataclass(frozen=True)
class Splits:
    train: SymbolIds
    val: SymbolIds
    test: SymbolIds


def split(ids: SymbolIds, val_fraction: float = 0.05, test_fraction: float = 0.05) -> Splits:
    """Contiguous train / val / test blocks, in that order; the same input gives the same split."""
    n = int(ids.size)
    n_test = int(n * test_fraction)
    n_val = int(n * val_fraction)
    n_train = n - n_val - n_test
    if n_train < 2 or (val_fraction > 0 and n_val < 2) or (test_fraction > 0 and n_test < 2):
        raise CorpusError(
            f"corpus has {n} symbols, too few to split into train/val/test; give a larger text"
        )
    return Splits(
        train=ids[:n_train], val=ids[n_train : n_train + n_val], test=ids[n_train + n_val :]
    )


class TBPTTBatches:
    """Batches for truncated backpropagation through time.

    The train text is cut into `batch` equal contiguous streams; step `s` reads the `s`-th
    window of `seq_len` symbols from every stream, so row `b` of one batch continues row `b` of
    the previous one and the hidden state can be carried across. The data position is a pure
    function of the step, which is what makes resuming exact.
    """

    def __init__(self, ids: SymbolIds, batch: int, seq_len: int) -> None:
        stream_len = (int(ids.size) - 1) // batch
        self.windows_per_epoch = stream_len // seq_len
        if self.windows_per_epoch < 1:
            raise CorpusError(
                f"training text has {ids.size} symbols, fewer than batch x seq_len = "
                f"{batch} x {seq_len} needs; use a smaller --batch or --seq-len, or more text"
            )
        usable = batch * stream_len
        data = torch.from_numpy(ids[: usable + 1].astype(np.int64))
        self.inputs = data[:usable].view(batch, stream_len)  # [B, L]
        self.targets = data[1 : usable + 1].view(batch, stream_len)  # [B, L]
        self.batch = batch
        self.seq_len = seq_len

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, window index) that step `step` reads."""
        return divmod(step, self.windows_per_epoch)

    def starts_epoch(self, step: int) -> bool:
        return step % self.windows_per_epoch == 0

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        _, window = self.position(step)
        start = window * self.seq_len
        stop = start + self.seq_len
        return self.inputs[:, start:stop], self.targets[:, start:stop]  # [B, T], [B, T]

    @property
    def symbols_per_step(self) -> int:
        return self.batch * self.seq_len
