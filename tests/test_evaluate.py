from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conductor.corpus import load_corpus
from conductor.errors import CorpusError
from conductor.evaluate import (
    COMPRESSORS,
    DYNAMIC_GRID,
    DynamicSettings,
    dynamic_bits_per_symbol,
    evaluate_checkpoint,
    marginal_bpc,
    tune_dynamic,
)
from conductor.model import CharLSTM, ModelConfig, bits_per_symbol
from conductor.train import TrainConfig, Trainer
from tests.conftest import Heard


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_marginal_cost_of_repeated_text_is_small_and_of_noise_is_about_8(name: str) -> None:
    compress = COMPRESSORS[name]
    text = b"the quick brown fox jumps over the lazy dog. " * 400
    assert marginal_bpc(compress, text, text[:4000]) < 0.5  # seen before: nearly free
    noise = os.urandom(20_000)
    assert 7.5 < marginal_bpc(compress, b"", noise) < 8.5  # incompressible


def test_marginal_cost_uses_the_training_context() -> None:
    compress = COMPRESSORS["xz -9e"]
    train = b"".join(f"line {i}: alpha beta gamma\n".encode() for i in range(2000))
    test = b"".join(f"line {i}: alpha beta gamma\n".encode() for i in range(2000, 2200))
    assert marginal_bpc(compress, train, test) < marginal_bpc(compress, b"", test)


def test_empty_test_text_is_refused() -> None:
    with pytest.raises(CorpusError):
        marginal_bpc(COMPRESSORS["bz2 -9"], b"abc", b"")


@pytest.fixture(scope="module")
def trained(python_text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "py.safetensors"
    config = TrainConfig(batch=8, seq_len=64, lr=5e-3, warmup_steps=5, eval_every=50)
    Trainer(load_corpus(python_text_file), out, ModelConfig(hidden=64, embed=16), config).run(
        max_steps=150
    )
    return out


def test_evaluate_scores_the_test_split_beside_compressors(trained: Path) -> None:
    report = evaluate_checkpoint(trained)
    assert set(report.compressors) == set(COMPRESSORS)
    assert 1.0 < report.model_bpc < 6.0
    assert all(0.5 < bpc < 8 for bpc in report.compressors.values())
    assert "test split" in report.test_source
    payload = report.to_json()
    assert json.loads(json.dumps(payload))["model_bpc"] == report.model_bpc
    assert set(payload["beats"]) <= set(COMPRESSORS)


def test_evaluate_on_another_text(trained: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("def f(x):\n    return x + 1\n" * 200)
    report = evaluate_checkpoint(trained, other, compressors=False)
    assert report.test_source == str(other)
    assert report.test_symbols == len(other.read_text())
    assert report.compressors == {}


def test_evaluate_needs_the_corpus_or_a_text(trained: Path, tmp_path: Path) -> None:
    import shutil

    moved = tmp_path / "moved.safetensors"
    shutil.copy(trained, moved)
    corpus_file = Path(evaluate_checkpoint(trained, compressors=False).test_source.split(" (")[0])
    backup = corpus_file.read_bytes()
    try:
        corpus_file.write_text("changed")
        with pytest.raises(CorpusError, match="changed since training.*--text FILE"):
            evaluate_checkpoint(moved, compressors=False)
    finally:
        corpus_file.write_bytes(backup)


def test_dynamic_evaluation_adapts_to_repetition_and_leaves_the_model_alone() -> None:
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(hidden=64, embed=16)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    phrase = torch.from_numpy(rng.integers(97, 107, size=40)).long()
    text = phrase.repeat(40)  # one unseen phrase, said 40 times
    static = bits_per_symbol(model, text, streams=1)
    dynamic = dynamic_bits_per_symbol(model, text, lr=1e-2)
    assert dynamic < static - 1.0  # reading the repeats, it learns them; a static model cannot
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_dynamic_settings_are_picked_on_held_out_text() -> None:
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(hidden=64, embed=16)).eval()
    phrase = torch.from_numpy(np.random.default_rng(1).integers(97, 107, size=40)).long()
    still, quick = DynamicSettings(128, 1e-7), DynamicSettings(64, 1e-2)
    # on repeated text, the settings that learn fast win, whatever their place in the grid
    assert tune_dynamic(model, phrase.repeat(30), (still, quick)) == quick
    assert tune_dynamic(model, phrase.repeat(30), (quick, still)) == quick


def test_every_part_of_an_evaluation_reports_its_progress_to_the_end(trained: Path) -> None:
    heard = Heard()
    evaluate_checkpoint(trained, dynamic=True, progress=heard)
    assert heard.finished() == {"model", "tuning", "dynamic", "compressors"}
    assert len(heard.reports["dynamic"]) > 2  # chunk by chunk, not only at the end
    assert heard.reports["compressors"][-1] == (len(COMPRESSORS), len(COMPRESSORS))


def test_evaluate_reports_dynamic_bpc_when_asked(trained: Path) -> None:
    report = evaluate_checkpoint(trained, compressors=False, dynamic=True)
    assert report.dynamic_bpc is not None and 1.0 < report.dynamic_bpc < 6.0
    assert "beats_dynamic" in report.to_json()
    assert report.dynamic_settings is not None
    assert DynamicSettings(**report.dynamic_settings) in DYNAMIC_GRID
