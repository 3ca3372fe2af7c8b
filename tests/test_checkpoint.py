from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conductor.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    read_container,
    read_meta,
    save_checkpoint,
    write_container,
)
from conductor.errors import CheckpointError
from conductor.model import CharLSTM, ModelConfig
from conductor.vocab import ASCII128, Vocab

CONFIG = ModelConfig(layers=2, hidden=16, embed=8)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, CharLSTM]:
    torch.manual_seed(0)
    model = CharLSTM(CONFIG)
    path = save_checkpoint(tmp_path / "m.safetensors", model, ASCII128, {"name": "m"})
    return path, model


def test_round_trip_restores_weights_and_record(saved: tuple[Path, CharLSTM]) -> None:
    path, model = saved
    loaded, record = load_checkpoint(path)
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert record["config"] == CONFIG.to_json()
    assert record["format_version"] == FORMAT_VERSION
    assert not loaded.training
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar == record  # the readable copy says the same
    assert not list(path.parent.glob("*.tmp"))


def test_fp16_storage_loads_as_float32(tmp_path: Path) -> None:
    model = CharLSTM(CONFIG)
    path = save_checkpoint(tmp_path / "h.safetensors", model, ASCII128, dtype=torch.float16)
    loaded, record = load_checkpoint(path)
    assert record["dtype"] == "float16"
    weight = loaded.head.weight
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight, model.head.weight, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("keep", [0, 5, 8, 40, 200, -30, -1])
def test_truncated_file_gives_one_line_error(saved: tuple[Path, CharLSTM], keep: int) -> None:
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "truncated" in message or "corrupt" in message or "not a" in message


def test_flipped_byte_in_tensor_data_fails_the_checksum(saved: tuple[Path, CharLSTM]) -> None:
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(path)


def test_garbage_and_foreign_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.safetensors"
    text.write_text("this is not a checkpoint at all, just some words")
    with pytest.raises(CheckpointError, match="not a safetensors|corrupt|truncated"):
        load_checkpoint(text)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(plain))
    with pytest.raises(CheckpointError, match="not a conductor checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_wrong_format_version_is_named(tmp_path: Path) -> None:
    path = tmp_path / "v.safetensors"
    write_container(path, {"w": torch.zeros(2)}, {"kind": "model"})
    tensors, record = read_container(path)
    # Forge a future version by rewriting the record with the container's own machinery.
    from conductor import checkpoint as ckpt

    original = ckpt.FORMAT_VERSION
    try:
        ckpt.FORMAT_VERSION = 99
        write_container(path, tensors, record)
    finally:
        ckpt.FORMAT_VERSION = original
    with pytest.raises(CheckpointError, match="version 99.*reads version 1"):
        load_checkpoint(path)


def test_wrong_vocabulary_is_refused(tmp_path: Path) -> None:
    small = Vocab("abcdefgh", name="eight")
    model = CharLSTM(ModelConfig(vocab_size=8, hidden=8, embed=4))
    path = save_checkpoint(tmp_path / "v8.safetensors", model, small)
    with pytest.raises(CheckpointError, match="vocabulary 'eight'.*re-train"):
        load_checkpoint(path)
    loaded, _ = load_checkpoint(path, vocab=None)  # explicitly any vocabulary
    assert loaded.config.vocab_size == 8


def test_weights_that_do_not_match_the_config_are_refused(tmp_path: Path) -> None:
    model = CharLSTM(CONFIG)
    path = save_checkpoint(tmp_path / "m.safetensors", model, ASCII128)
    tensors, record = read_container(path)
    record["config"]["hidden"] = 32
    write_container(path, tensors, record)
    with pytest.raises(CheckpointError, match="do not match its config"):
        load_checkpoint(path)


def test_checkpoint_names_must_end_in_safetensors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="end in .safetensors"):
        save_checkpoint(tmp_path / "m.pt", CharLSTM(CONFIG), ASCII128)


_SAVER = """
import sys, torch
from pathlib import Path
from conductor.checkpoint import save_checkpoint
from conductor.model import CharLSTM, ModelConfig
from conductor.vocab import ASCII128
model = CharLSTM(ModelConfig(layers=2, hidden=256, embed=64))
print("ready", flush=True)
i = 0
while True:
    i += 1
    with torch.no_grad():
        model.head.bias.fill_(float(i))
    save_checkpoint(Path(sys.argv[1]), model, ASCII128, {"generation": i})
"""


def test_kill_9_during_saves_leaves_a_loadable_checkpoint(saved: tuple[Path, CharLSTM]) -> None:
    path, _ = saved
    for delay in (0.05, 0.13, 0.29, 0.41):
        saver = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert saver.stdout is not None and saver.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(saver.pid, signal.SIGKILL)
        saver.wait()
        model, record = load_checkpoint(path)  # old or new, never a torn file
        generation = record.get("generation")
        if generation is not None:
            assert float(model.head.bias.detach()[0]) == float(generation)
        assert read_meta(path) == record
