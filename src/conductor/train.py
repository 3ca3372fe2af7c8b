"""`Trainer`: truncated BPTT over one corpus, with resumable, exactly reproducible state.

What a run writes, for `--out DIR` and a style named NAME:
- `DIR/NAME.safetensors` + `DIR/NAME.json`: the best model so far by validation BPC;
- `DIR/NAME.resume.safetensors`: everything needed to continue exactly where the run stopped
  (weights, AdamW state, hidden state, RNG, step, loss history), written at every evaluation, at
  the end and on Ctrl-C.

The data position is a function of the step (see `TBPTTBatches`) and the learning rate a function
of progress through the budget, so a resumed run under a step budget reproduces the uninterrupted
run's losses exactly. Under a time budget the schedule follows the clock and cannot be exact.

Where it trains (`conductor.distributed.World`): on the CPU or a CUDA device (bf16 autocast
there, fp32 on the CPU), alone or as one of several processes under torchrun, each training its
share of the batch's streams (DDP averages the gradients, so N processes with a global batch B
take the steps one process takes with B, within float tolerance). Checkpoints are device-free:
a model trained on a GPU loads and plays on a CPU. Only the main process writes files; the
resume file holds every process's streams, so a run resumes on any number of processes that
divides its batch.
"""

from __future__ import annotations

import gc
import math
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from conductor.checkpoint import read_container, save_checkpoint, write_container
from conductor.corpora import describe
from conductor.corpus import Corpus, TBPTTBatches, split
from conductor.distributed import World
from conductor.errors import CheckpointError, ConductorError
from conductor.model import CharLSTM, ModelConfig, State, bits_per_symbol

__all__ = ["TrainConfig", "TrainResult", "TrainStatus", "Trainer", "resume_path"]

_RESUME_KIND = "train-state"


@dataclass(frozen=True)
class TrainConfig:
    batch: int = 16
    seq_len: int = 128
    lr: float = 2e-3
    min_lr_fraction: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    clip: float = 1.0
    eval_every: int = 200
    val_symbols: int = 100_000  # validation during training reads at most this much
    patience: int = 20  # evaluations without improvement before stopping early
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch", "seq_len", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise ConductorError(f"{name} must be at least 1")
        if not self.lr > 0 or not self.clip > 0:
            raise ConductorError("lr and clip must be positive")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainStatus:
    """What a progress display shows; passed to the reporter after every step."""

    step: int
    max_steps: int | None
    elapsed_s: float
    budget_s: float | None
    train_bpc: float
    val_bpc: float | None
    best_val_bpc: float | None
    symbols_per_s: float
    epoch: int
    lr: float


@dataclass
class TrainResult:
    checkpoint: Path
    resume_file: Path
    steps: int
    best_val_bpc: float
    best_step: int
    elapsed_s: float
    stopped_because: str  # "steps", "time", "early-stop", "interrupted"
    history: list[dict[str, float]] = field(default_factory=list)


def resume_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(
        checkpoint.name.removesuffix(".safetensors") + ".resume.safetensors"
    )


@contextmanager
def _deferred_interrupt() -> Iterator[list[bool]]:
    """Turn the first Ctrl-C into a flag checked between steps (a second one interrupts now).

    A KeyboardInterrupt raised inside `optimizer.step()` would leave the weights half-updated,
    and saving them would break exact resumption.
    """
    flag = [False]
    try:
        previous = signal.getsignal(signal.SIGINT)
    except ValueError:  # not the main thread: leave signals alone
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    def __init__(
        self,
        corpus: Corpus,
        checkpoint: Path,
        model_config: ModelConfig,
        config: TrainConfig | None = None,
        reporter: Callable[[TrainStatus], None] | None = None,
        world: World | None = None,
    ) -> None:
        self.corpus = corpus
        self.world = world or World()
        self.checkpoint = Path(checkpoint)
        if self.checkpoint.suffix != ".safetensors":
            raise ConductorError(f"{self.checkpoint}: checkpoint files end in .safetensors")
        self.config = config or TrainConfig()
        self.model_config = model_config
        if model_config.vocab_size != len(corpus.vocab):
            raise ConductorError(
                f"model has {model_config.vocab_size} symbols, vocabulary {corpus.vocab.name!r} "
                f"has {len(corpus.vocab)}"
            )
        self.reporter = reporter
        self.splits = split(corpus.ids)
        self.batches = TBPTTBatches(self.splits.train, self.config.batch, self.config.seq_len)
        self.rows = self.world.rows(self.config.batch)  # this process's streams of a batch
        val = self.splits.val[: self.config.val_symbols]
        self.val_ids = torch.from_numpy(val.astype("int64"))  # [n_val]

        torch.manual_seed(self.config.seed)  # the same initial weights in every process
        self.model = CharLSTM(model_config).to(self.world.device)
        self.net: nn.Module = self.model  # what the step runs: the model, or DDP around it
        if self.world.shared:
            cuda = self.world.device.type == "cuda"
            ids = [self.world.device.index] if cuda else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
            torch.manual_seed(self.config.seed + self.world.rank)  # dropout: its own masks
        self.optimizer = self._make_optimizer()
        self.step = 0
        self.elapsed_s = 0.0
        self.state: State = self._fresh_state()
        self.losses: list[float] = []
        self.history: list[dict[str, float]] = []
        self.best_val_bpc = math.inf
        self.best_step = -1
        self.evals_since_best = 0
        self.budget: tuple[int | None, float | None] = (None, None)  # (max_steps, minutes)
        self._stop_requested = False

    def _fresh_state(self) -> State:
        share = self.rows.stop - self.rows.start
        return self.model.initial_state(share, self.world.device)  # [L, b, H] each

    def release(self) -> None:
        """Let go of the process group (DDP holds it): call before the world leaves it, or
        the group is torn down at the interpreter's exit, under threads still running."""
        self.net = self.model
        gc.collect()

    def request_stop(self) -> None:
        """Stop after the current step, saving state as Ctrl-C does (safe from a reporter)."""
        self._stop_requested = True

    def _make_optimizer(self) -> torch.optim.AdamW:
        decay = [p for n, p in self.model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.dim() < 2]
        return torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.config.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.config.lr,
        )

    # -- learning rate -------------------------------------------------------------------------

    def _progress(self, max_steps: int | None, budget_s: float | None) -> float:
        by_steps = self.step / max_steps if max_steps else 0.0
        by_time = self.elapsed_s / budget_s if budget_s else 0.0
        return min(1.0, max(by_steps, by_time))

    def learning_rate(self, max_steps: int | None, budget_s: float | None) -> float:
        """Linear warm-up, then cosine decay to `min_lr_fraction` over the budget."""
        c = self.config
        warmup = min(1.0, (self.step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        cosine = 0.5 * (1 + math.cos(math.pi * self._progress(max_steps, budget_s)))
        return c.lr * warmup * (c.min_lr_fraction + (1 - c.min_lr_fraction) * cosine)

    # -- one step ------------------------------------------------------------------------------

    def train_step(self, lr: float) -> float:
        """One TBPTT step at learning rate `lr` (data window, carried state, clipping, AdamW)."""
        if self.batches.starts_epoch(self.step):
            self.state = self._fresh_state()
        inputs, targets = self.batches[self.step]  # [B, T], [B, T]
        device = self.world.device
        inputs, targets = inputs[self.rows].to(device), targets[self.rows].to(device)  # [b, T]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        # float32 on the CPU: bf16 autocast has no fused LSTM kernel on CPUs without native
        # bf16 (oneDNN refuses it) and is ~12x slower unfused; see BASELINES.md vs bench/.
        # On CUDA, bf16 autocast (no loss scaling needed); the loss is taken in fp32.
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, (h, c) = self.net(inputs, self.state)  # [b, T, V]
        loss = nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1)
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        self.state = (h.detach().float(), c.detach().float())
        self.step += 1
        value = self.world.mean(float(loss.detach()))  # the global batch's loss
        if not math.isfinite(value):
            raise ConductorError(
                f"training diverged at step {self.step} (loss {value}); lower --lr and re-run"
            )
        return value

    # -- the loop ------------------------------------------------------------------------------

    def run(self, max_steps: int | None = None, minutes: float | None = None) -> TrainResult:
        """Train until the step or time budget is spent, validation stalls, or Ctrl-C.

        The learning-rate schedule spans the budget, so a resumed run reproduces the original
        only under the same budget; with no budget given, a resumed run keeps its recorded one.
        """
        if max_steps is None and minutes is None:
            max_steps, minutes = self.budget
        if max_steps is None and minutes is None:
            raise ConductorError("give a budget: --steps N or --minutes M")
        self.budget = (max_steps, minutes)
        budget_s = minutes * 60 if minutes is not None else None
        stopped = "steps"
        recent: list[float] = []
        started = time.perf_counter() - self.elapsed_s
        clock: deque[tuple[float, int]] = deque([(time.perf_counter(), self.step)], maxlen=50)
        with _deferred_interrupt() as interrupted:
            while True:
                if max_steps is not None and self.step >= max_steps:
                    stopped = "steps"
                    break
                # every process stops at the same step: time and Ctrl-C are each one's own
                time_up = budget_s is not None and self.elapsed_s >= budget_s
                asked = interrupted[0] or self._stop_requested
                time_up, asked = self.world.any(time_up, asked)  # one exchange a step
                if time_up:
                    stopped = "time"
                    break
                if asked:
                    stopped = "interrupted"
                    break
                lr = self.learning_rate(max_steps, budget_s)
                loss = self.train_step(lr)
                self.losses.append(loss)
                recent = [*recent[-49:], loss]
                self.elapsed_s = time.perf_counter() - started
                clock.append((time.perf_counter(), self.step))
                (t0, s0), (t1, s1) = clock[0], clock[-1]
                symbols_per_s = (s1 - s0) * self.batches.symbols_per_step / max(t1 - t0, 1e-9)
                val_bpc = None
                if self.step % self.config.eval_every == 0:
                    val_bpc = self._evaluate_and_keep_best(sum(recent) / len(recent), lr)
                    self.elapsed_s = time.perf_counter() - started
                    if self.evals_since_best >= self.config.patience:
                        stopped = "early-stop"
                        break
                if self.reporter is not None:
                    self.reporter(
                        TrainStatus(
                            step=self.step,
                            max_steps=max_steps,
                            elapsed_s=self.elapsed_s,
                            budget_s=budget_s,
                            train_bpc=sum(recent) / len(recent) / math.log(2),
                            val_bpc=val_bpc,
                            best_val_bpc=None if self.best_step < 0 else self.best_val_bpc,
                            symbols_per_s=symbols_per_s,
                            epoch=self.batches.position(self.step)[0],
                            lr=lr,
                        )
                    )
            evaluated_now = bool(self.history) and self.history[-1]["step"] == self.step
            if self.step > 0 and not evaluated_now:
                self._evaluate_and_keep_best(sum(recent) / max(1, len(recent)), 0.0)
            self.save_resume()
        return TrainResult(
            checkpoint=self.checkpoint,
            resume_file=resume_path(self.checkpoint),
            steps=self.step,
            best_val_bpc=self.best_val_bpc,
            best_step=self.best_step,
            elapsed_s=self.elapsed_s,
            stopped_because=stopped,
            history=list(self.history),
        )

    def _evaluate_and_keep_best(self, mean_loss: float, lr: float) -> float:
        val_bpc = bits_per_symbol(self.model, self.val_ids) if self.world.is_main else 0.0
        val_bpc = self.world.from_main(val_bpc)  # measured once; every process decides alike
        train_bpc = mean_loss / math.log(2)
        self.history.append(
            {
                "step": self.step,
                "train_bpc": train_bpc,
                "val_bpc": val_bpc,
                "lr": lr,
                "elapsed_s": self.elapsed_s,
            }
        )
        if val_bpc < self.best_val_bpc:
            self.best_val_bpc, self.best_step, self.evals_since_best = val_bpc, self.step, 0
            if self.world.is_main:
                save_checkpoint(self.checkpoint, self.model, self.corpus.vocab, self._model_meta())
        else:
            self.evals_since_best += 1
        self.save_resume()
        return val_bpc

    def _corpus_meta(self) -> dict[str, Any]:
        return {
            **describe(Path(self.corpus.source), self.corpus.sha256),
            "symbols": int(self.corpus.ids.size),
            "split": {"train": 0.9, "val": 0.05, "test": 0.05},
            "cleaning": self.corpus.report.to_json(),
        }

    def _model_meta(self) -> dict[str, Any]:
        return {
            "name": self.checkpoint.name.removesuffix(".safetensors"),
            "corpus": self._corpus_meta(),
            "metrics": {
                "val_bpc": self.best_val_bpc,
                "step": self.step,
                "epochs": round(self.step / self.batches.windows_per_epoch, 3),
                "train_symbols": self.step * self.batches.symbols_per_step,
                "train_seconds": round(self.elapsed_s, 1),
                "parameters": self.model_config.parameters,
            },
            "training": self.config.to_json(),
        }

    # -- resumable state -----------------------------------------------------------------------

    def save_resume(self) -> None:
        """The resume file (main process; every process takes part: their streams' states)."""
        h, c = (self.world.gather_streams(t) for t in self.state)  # [L, B, H] each
        if not self.world.is_main:
            return
        tensors: dict[str, torch.Tensor] = {
            f"model.{name}": t.cpu() for name, t in self.model.state_dict().items()
        }
        optim_state = self.optimizer.state_dict()
        for index, slots in optim_state["state"].items():
            for slot, value in slots.items():
                tensors[f"optim.{index}.{slot}"] = torch.as_tensor(value).cpu()
        tensors["state.h"], tensors["state.c"] = h, c
        tensors["rng"] = torch.get_rng_state()
        meta = {
            "kind": _RESUME_KIND,
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "losses": self.losses,
            "history": self.history,
            "best_val_bpc": self.best_val_bpc if self.best_step >= 0 else None,
            "best_step": self.best_step,
            "evals_since_best": self.evals_since_best,
            "budget": {"steps": self.budget[0], "minutes": self.budget[1]},
            "param_groups": optim_state["param_groups"],
            "model_config": self.model_config.to_json(),
            "train_config": self.config.to_json(),
            "corpus": self._corpus_meta(),
        }
        write_container(resume_path(self.checkpoint), tensors, meta)

    @classmethod
    def resume(
        cls,
        corpus: Corpus,
        checkpoint: Path,
        reporter: Callable[[TrainStatus], None] | None = None,
        world: World | None = None,
    ) -> Trainer:
        """A trainer in exactly the state its last `save_resume` recorded."""
        path = resume_path(Path(checkpoint))
        if not path.exists():
            raise CheckpointError(
                f"nothing to resume: {path} does not exist; train without --resume"
            )
        tensors, meta = read_container(path)
        if meta.get("kind") != _RESUME_KIND:
            raise CheckpointError(f"{path} is not a training-state file")
        if meta["corpus"]["sha256"] != corpus.sha256:
            trained_on = meta["corpus"].get("name") or meta["corpus"].get("source")
            raise CheckpointError(
                f"{path} was trained on {trained_on} with another content "
                f"(sha256 differs); resume on the same corpus or train afresh"
            )
        trainer = cls(
            corpus,
            checkpoint,
            ModelConfig.from_json(meta["model_config"]),
            TrainConfig.from_json(meta["train_config"]),
            reporter,
            world,
        )
        trainer.model.load_state_dict(
            {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        )
        slots: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, slot = key.split(".", 2)
                slots.setdefault(int(index), {})[slot] = value
        trainer.optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
        device, rows = trainer.world.device, trainer.rows
        trainer.state = (
            tensors["state.h"][:, rows].to(device),
            tensors["state.c"][:, rows].to(device),
        )
        torch.set_rng_state(tensors["rng"])
        trainer.step = int(meta["step"])
        trainer.elapsed_s = float(meta["elapsed_s"])
        trainer.losses = list(meta["losses"])
        trainer.history = list(meta["history"])
        best = meta["best_val_bpc"]
        trainer.best_val_bpc = math.inf if best is None else float(best)
        trainer.best_step = int(meta["best_step"])
        trainer.evals_since_best = int(meta["evals_since_best"])
        budget = meta.get("budget") or {}
        trainer.budget = (budget.get("steps"), budget.get("minutes"))
        return trainer
