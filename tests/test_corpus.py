from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conductor.corpus import TBPTTBatches, load_corpus, read_text, split
from conductor.errors import CorpusError


@given(st.integers(min_value=60, max_value=5000))
def test_split_is_contiguous_disjoint_and_complete(n: int) -> None:
    ids = np.arange(n, dtype=np.int64).astype(np.uint8)
    parts = split(ids)
    assert len(parts.train) + len(parts.val) + len(parts.test) == n
    assert np.array_equal(np.concatenate([parts.train, parts.val, parts.test]), ids)
    assert len(parts.test) == int(n * 0.05) and len(parts.val) == int(n * 0.05)


def test_split_is_deterministic_and_positions_are_disjoint(python_text_file: Path) -> None:
    a = split(load_corpus(python_text_file).ids)
    b = split(load_corpus(python_text_file).ids)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)
    # The three blocks are views of one array at non-overlapping offsets.
    base = a.train.__array_interface__["data"][0]
    spans = [
        (part.__array_interface__["data"][0] - base, len(part)) for part in (a.train, a.val, a.test)
    ]
    assert spans[0][0] + spans[0][1] == spans[1][0]
    assert spans[1][0] + spans[1][1] == spans[2][0]


def test_split_refuses_a_text_too_small() -> None:
    with pytest.raises(CorpusError, match="too few"):
        split(np.zeros(10, dtype=np.uint8))


def test_tbptt_rows_continue_across_steps_and_targets_are_next_symbols() -> None:
    ids = (np.arange(1000) % 97).astype(np.uint8)
    batches = TBPTTBatches(ids, batch=4, seq_len=10)
    x0, y0 = batches[0]
    x1, _ = batches[1]
    assert x0.shape == (4, 10)
    assert np.array_equal(y0[:, :-1].numpy(), x0[:, 1:].numpy())
    assert np.array_equal(y0[:, -1].numpy(), x1[:, 0].numpy())  # row b continues row b
    stream_len = 999 // 4
    assert x0[1, 0].item() == ids[stream_len]
    assert batches.windows_per_epoch == stream_len // 10
    assert batches.starts_epoch(batches.windows_per_epoch)
    assert batches.position(batches.windows_per_epoch + 3) == (1, 3)


def test_tbptt_refuses_text_smaller_than_one_batch() -> None:
    with pytest.raises(CorpusError, match="--batch"):
        TBPTTBatches(np.zeros(100, dtype=np.uint8), batch=16, seq_len=128)


def test_reading_non_utf8_or_missing_files_gives_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8.*iconv"):
        read_text(bad)
    with pytest.raises(CorpusError, match="no such file"):
        read_text(tmp_path / "absent.txt")
    with pytest.raises(CorpusError, match="directory"):
        read_text(tmp_path)


def test_load_corpus_cleans_and_records_its_source(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("caf\u00e9 \u4e2d\n" * 10, encoding="utf-8")
    corpus = load_corpus(path)
    assert bytes(corpus.ids[:6]) == b"cafe \n"
    assert corpus.report.mapped == 10 and corpus.report.dropped == 10
    assert len(corpus.sha256) == 64 and corpus.source == str(path.resolve())
