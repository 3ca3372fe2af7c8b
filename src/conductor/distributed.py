"""Where a training run happens: the device it trains on, and the processes it shares work with.

One process (`conductor train`) is a `World` of one: nothing is exchanged. Under PyTorch's own
launcher (`torchrun --standalone --nproc-per-node N -m conductor train ...`, or across machines
with torchrun's rendezvous options) each process reads its rank from the environment torchrun
sets, joins the process group (gloo on CPU, NCCL on CUDA) and trains its share of every batch's
streams, data-parallel (`torch.nn.parallel.DistributedDataParallel` averages the gradients).
The decisions that must agree everywhere go through the world: the mean loss, a stop (time up,
Ctrl-C) seen by any process, the validation score the main process measured, and the hidden
state of every stream gathered for the one resume file the main process writes.

`resolve_device`: `auto` is CUDA when present (one GPU a process, by torchrun's local rank),
else the CPU; `cuda` without a GPU is a one-line error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from conductor.errors import ConductorError

__all__ = ["DEVICES", "World", "join", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto`, `cpu` or `cuda` → the device this process trains on."""
    if name not in DEVICES:
        raise ConductorError(f"device {name!r} is not one of {', '.join(DEVICES)}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConductorError("--device cuda: no CUDA device is visible here; use --device cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


@dataclass(frozen=True)
class World:
    """This process's place among the processes training one model (`size` 1: alone)."""

    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """The process that writes checkpoints and reports progress."""
        return self.rank == 0

    @property
    def shared(self) -> bool:
        return self.size > 1

    def rows(self, batch: int) -> slice:
        """This process's streams of a global batch of `batch` streams."""
        if batch % self.size:
            raise ConductorError(
                f"--batch {batch} does not split over {self.size} processes: "
                f"give a multiple of {self.size}"
            )
        share = batch // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    def mean(self, value: float) -> float:
        """`value` averaged over the processes (equal shares: the global batch's mean)."""
        if not self.shared:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self._wire)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.size

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """For each flag, whether any process says yes (so that all stop at the same step);
        all flags in one exchange."""
        if not self.shared:
            return flags
        tensor = torch.tensor([int(flag) for flag in flags], device=self._wire)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tuple(bool(value) for value in tensor.tolist())

    def from_main(self, value: float) -> float:
        """The main process's `value`, on every process."""
        if not self.shared:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self._wire)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def barrier(self) -> None:
        """Wait until every process is here (the main one built what the others read)."""
        if self.shared:
            dist.barrier()

    def gather_streams(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every process's streams of a [L, b, H] state, in rank order → [L, B, H] (on CPU)."""
        if not self.shared:
            return tensor.detach().cpu()
        parts = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(parts, tensor.detach().contiguous())
        return torch.cat([part.cpu() for part in parts], dim=1)

    def leave(self) -> None:
        """Leave the process group (the run is over), once every process is done: one that
        left while the main one still wrote would tear the group down under it."""
        if self.shared and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    @property
    def _wire(self) -> torch.device:
        """Where collectives' tensors live: NCCL needs them on the GPU."""
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def join(device: str = "auto") -> World:
    """This process's world: alone, or (under torchrun: `WORLD_SIZE` > 1) one of many, with the
    process group joined."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    where = resolve_device(device, local_rank)
    if size > 1 and not dist.is_initialized():
        if where.type == "cuda":
            torch.cuda.set_device(where)
        dist.init_process_group(backend="nccl" if where.type == "cuda" else "gloo")
    return World(rank, size, where)
