"""Training on a device and across processes: torchrun's 2 processes take a single process's
steps (same global batch), resume alike, and write device-free checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conductor.checkpoint import load_checkpoint, read_container
from conductor.distributed import World, join, resolve_device
from conductor.errors import ConductorError

TRAIN = ["train", "--size", "tiny", "--batch", "8", "--seq-len", "32", "--eval-every", "10"]
TRAIN += ["--device", "cpu"]


def test_a_world_of_one_exchanges_nothing() -> None:
    world = join("cpu")
    assert world == World() and world.is_main and not world.shared
    assert world.rows(8) == slice(0, 8)
    assert world.mean(2.5) == 2.5 and world.any(True, False) == (True, False)
    assert world.from_main(1.25) == 1.25
    state = torch.arange(6.0).view(1, 2, 3)  # [L, B, H]
    assert torch.equal(world.gather_streams(state), state)
    world.barrier()
    world.leave()


def test_a_batch_splits_into_equal_shares_or_says_so() -> None:
    second = World(rank=1, size=2)
    assert second.rows(8) == slice(4, 8) and not second.is_main
    with pytest.raises(ConductorError, match="--batch 7 does not split over 2 processes"):
        second.rows(7)


def test_devices_are_named_and_cuda_without_a_gpu_is_an_error() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConductorError, match="not one of auto, cpu, cuda"):
        resolve_device("tpu")
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ConductorError, match="no CUDA device"):
            resolve_device("cuda")


def _conductor(args: list[str], cwd: Path, processes: int = 1) -> None:
    """`conductor ...` in a fresh process, or under torchrun with `processes` processes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    launcher = [sys.executable, "-m"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launcher += ["--nproc-per-node", str(processes), "-m"]
    done = subprocess.run(
        [*launcher, "conductor", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _run_twice(corpus: Path, out: Path, processes: int) -> dict[str, torch.Tensor]:
    """20 steps, then resumed to 30: → the final weights (the run's last resume file)."""
    args = [*TRAIN, str(corpus), "--out", str(out), "--name", "run"]
    _conductor([*args, "--steps", "20"], out.parent, processes)
    _conductor([*args, "--resume", "--steps", "30"], out.parent, processes)
    return {
        name.removeprefix("model."): tensor
        for name, tensor in load_file(out / "run.resume.safetensors").items()
        if name.startswith("model.")
    }


def test_two_processes_take_the_steps_one_process_takes(
    python_text_file: Path, tmp_path: Path
) -> None:
    alone = _run_twice(python_text_file, tmp_path / "one", processes=1)
    shared = _run_twice(python_text_file, tmp_path / "two", processes=2)
    assert alone.keys() == shared.keys()
    for name in alone:  # DDP's all-reduce sums in another order: equal within float tolerance
        assert torch.allclose(alone[name], shared[name], atol=1e-5), name
    _, one = read_container(tmp_path / "one" / "run.resume.safetensors")
    _, two = read_container(tmp_path / "two" / "run.resume.safetensors")
    assert one["step"] == two["step"] == 30
    assert one["losses"] == pytest.approx(two["losses"], abs=1e-5)  # the global batch's mean
    assert [h["val_bpc"] for h in one["history"]] == pytest.approx(
        [h["val_bpc"] for h in two["history"]], abs=1e-5
    )
    tensors, _ = read_container(tmp_path / "two" / "run.resume.safetensors")
    assert tensors["state.h"].shape[1] == 8  # each process its 4 streams, all in the one file
    model, _ = load_checkpoint(tmp_path / "two" / "run.safetensors")  # device-free
    assert all(p.device.type == "cpu" for p in model.parameters())
