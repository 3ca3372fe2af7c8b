"""Checkpoints: `NAME.safetensors` (weights) beside `NAME.json` (what the weights are).

The safetensors file is self-contained: its header metadata carries the whole JSON record
(format version, model config, vocabulary, corpus source and hash, metrics) and a sha256 of the
tensor bytes, so one atomic rename publishes a checkpoint and a crash mid-save leaves the old one
whole. `NAME.json` is a readable copy of the record, written after; loading never needs it.

No pickle anywhere: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from conductor.errors import CheckpointError
from conductor.model import CharLSTM, ModelConfig
from conductor.vocab import ASCII128, Vocab

__all__ = [
    "FORMAT_VERSION",
    "atomic_write_bytes",
    "load_checkpoint",
    "read_container",
    "read_meta",
    "save_checkpoint",
    "write_container",
]

FORMAT_VERSION = 1
_META_KEY = "conductor"
_KIND_MODEL = "model"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _data_section(buffer: bytes) -> bytes:
    header_len = int.from_bytes(buffer[:8], "little")
    return buffer[8 + header_len :]


def write_container(
    path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
) -> None:
    """Atomically write tensors plus a JSON record (with a checksum of the tensor bytes)."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    checksum = hashlib.sha256(_data_section(save_safetensors_bytes(tensors))).hexdigest()
    record = {**meta, "format_version": FORMAT_VERSION, "sha256": checksum}
    data = save_safetensors_bytes(tensors, metadata={_META_KEY: json.dumps(record)})
    atomic_write_bytes(path, data)


def _parse_header(path: Path, buffer: bytes) -> dict[str, Any]:
    if len(buffer) < 8:
        raise CheckpointError(f"{path} is truncated ({len(buffer)} bytes); re-save or re-train it")
    header_len = int.from_bytes(buffer[:8], "little")
    if header_len > len(buffer) - 8:
        if header_len > 100_000_000:
            raise CheckpointError(f"{path} is not a safetensors checkpoint (bad header length)")
        raise CheckpointError(
            f"{path} is truncated: header needs {header_len} bytes, file has {len(buffer) - 8}"
        )
    try:
        header = json.loads(buffer[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(
            f"{path} is corrupt or not a checkpoint (unreadable header)"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is corrupt or not a checkpoint (unreadable header)")
    ends = [
        entry["data_offsets"][1]
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry
    ]
    data_len = len(buffer) - 8 - header_len
    if ends and max(ends) > data_len:
        raise CheckpointError(
            f"{path} is truncated: tensors need {max(ends)} bytes, file has {data_len}"
        )
    return header


def read_container(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON record of a file `write_container` wrote, every failure one line."""
    path = Path(path)
    try:
        buffer = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a directory; give the .safetensors file") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror})") from None
    header = _parse_header(path, buffer)
    raw_meta = header.get("__metadata__", {})
    if not isinstance(raw_meta, dict) or _META_KEY not in raw_meta:
        raise CheckpointError(
            f"{path} is a safetensors file but not a conductor checkpoint (no conductor record)"
        )
    try:
        record = json.loads(raw_meta[_META_KEY])
    except (TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} is corrupt: its conductor record is not JSON") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{path} is corrupt: its conductor record is not a JSON object")
    version = record.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this conductor reads version "
            f"{FORMAT_VERSION}: use a matching conductor release or re-train"
        )
    if hashlib.sha256(_data_section(buffer)).hexdigest() != record.get("sha256"):
        raise CheckpointError(f"{path} is corrupt: tensor data fails its checksum; re-train it")
    try:
        tensors = load_safetensors_bytes(buffer)
    except Exception as error:  # safetensors raises its own error types for malformed headers
        raise CheckpointError(f"{path} is corrupt: {error}") from None
    return tensors, record


def save_checkpoint(
    path: Path,
    model: CharLSTM,
    vocab: Vocab,
    meta: Mapping[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Save `model` as `path` (.safetensors) plus a readable `.json` beside it; returns the path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: checkpoint files end in .safetensors")
    tensors = {name: t.detach().to("cpu", dtype) for name, t in model.state_dict().items()}
    record = {
        **(meta or {}),
        "kind": _KIND_MODEL,
        "config": model.config.to_json(),
        "vocab": vocab.to_json(),
        "dtype": str(dtype).removeprefix("torch."),
    }
    write_container(path, tensors, record)
    record_on_disk = read_meta(path)
    atomic_write_bytes(
        path.with_suffix(".json"), (json.dumps(record_on_disk, indent=2) + "\n").encode()
    )
    return path


def read_meta(path: Path) -> dict[str, Any]:
    """The JSON record inside a checkpoint (reads and verifies the whole file)."""
    return read_container(Path(path))[1]


def load_checkpoint(path: Path, vocab: Vocab | None = ASCII128) -> tuple[CharLSTM, dict[str, Any]]:
    """A float32 `CharLSTM` in eval mode and its record; `vocab=None` accepts any vocabulary."""
    path = Path(path)
    if path.suffix == ".json" and path.with_suffix(".safetensors").exists():
        raise CheckpointError(
            f"{path} is the readable record; give {path.with_suffix('.safetensors')}"
        )
    tensors, record = read_container(path)
    if record.get("kind") != _KIND_MODEL:
        raise CheckpointError(f"{path} is a {record.get('kind')!r} file, not a model checkpoint")
    try:
        ckpt_vocab = Vocab.from_json(record["vocab"])
        config = ModelConfig.from_json(record["config"])
    except KeyError as missing:
        raise CheckpointError(f"{path} is corrupt: its record lacks {missing}") from None
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    except Exception as error:
        raise CheckpointError(f"{path}: unreadable record ({error})") from None
    if vocab is not None and ckpt_vocab != vocab:
        raise CheckpointError(
            f"{path} uses vocabulary {ckpt_vocab.name!r} ({len(ckpt_vocab)} symbols), not "
            f"{vocab.name!r} ({len(vocab)}); models mix only over one vocabulary: re-train it"
        )
    if config.vocab_size != len(ckpt_vocab):
        raise CheckpointError(
            f"{path} is corrupt: config says {config.vocab_size} symbols, vocabulary has "
            f"{len(ckpt_vocab)}"
        )
    model = CharLSTM(config)
    try:
        model.load_state_dict({name: t.float() for name, t in tensors.items()}, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise CheckpointError(f"{path}: weights do not match its config ({detail})") from None
    model.eval()
    return model, record
