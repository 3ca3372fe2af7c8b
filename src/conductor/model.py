"""`CharLSTM`: embedding → L stacked LSTM layers → dropout → linear head over the vocabulary."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from conductor.errors import CheckpointError
from conductor.progress import Progress, silent

__all__ = ["SIZES", "CharLSTM", "ModelConfig", "State", "bits_per_symbol"]

# (h, c), each [layers, B, hidden]
State = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 128
    layers: int = 1
    hidden: int = 256
    embed: int = 64
    dropout: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise CheckpointError(f"model config has unknown fields {sorted(unknown)}")
        try:
            config = cls(**data)
        except TypeError as error:
            raise CheckpointError(f"model config is incomplete: {error}") from None
        for name in ("vocab_size", "layers", "hidden", "embed"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CheckpointError(f"model config field {name!r} must be a positive integer")
        return config

    @property
    def parameters(self) -> int:
        lstm = sum(
            4 * self.hidden * ((self.embed if layer == 0 else self.hidden) + self.hidden + 2)
            for layer in range(self.layers)
        )
        return self.vocab_size * self.embed + lstm + self.hidden * self.vocab_size + self.vocab_size


# The paper's range: one layer of 256 up to three of 512. `tiny` is for tests and quick demos.
SIZES: dict[str, ModelConfig] = {
    "tiny": ModelConfig(layers=1, hidden=64, embed=32),
    "small": ModelConfig(layers=1, hidden=256, embed=64),
    "medium": ModelConfig(layers=1, hidden=512, embed=64),
    "large": ModelConfig(layers=3, hidden=512, embed=64),
}


class CharLSTM(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.lstm = nn.LSTM(
            config.embed,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def initial_state(self, batch: int, device: torch.device | None = None) -> State:
        shape = (self.config.layers, batch, self.config.hidden)
        h = torch.zeros(shape, device=device)  # [L, B, H]
        return h, torch.zeros_like(h)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids [B, T] → logits [B, T, V] and the state after the last symbol."""
        x = self.embedding(ids)  # [B, T, E]
        out, (h, c) = self.lstm(x, state)  # [B, T, H]
        logits = self.head(self.dropout(out))  # [B, T, V]
        return logits, (h, c)


@torch.no_grad()
def bits_per_symbol(
    model: CharLSTM,
    ids: torch.Tensor,
    streams: int = 16,
    chunk: int = 512,
    progress: Progress = silent,
) -> float:
    """Mean bits per symbol of `model` predicting `ids` [n] (each symbol from all before it).

    The text is cut into `streams` contiguous rows scored in parallel with the state carried
    through each row, so only the first symbol of each row goes unpredicted. `progress` hears
    of each chunk (task "model").
    """
    was_training = model.training
    model.eval()
    n = int(ids.numel())
    streams = max(1, min(streams, n // 2))
    row_len = n // streams
    device = next(model.parameters()).device
    rows = ids[: streams * row_len].view(streams, row_len).long().to(device)  # [S, L]
    state: State | None = None
    total_nats = 0.0
    for start in range(0, row_len - 1, chunk):
        stop = min(start + chunk, row_len - 1)
        logits, state = model(rows[:, start:stop], state)  # [S, T, V]
        targets = rows[:, start + 1 : stop + 1]  # [S, T]
        total_nats += float(
            torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
            )
        )
        progress("model", stop, row_len - 1)
    model.train(was_training)
    return total_nats / (streams * (row_len - 1)) / math.log(2)
