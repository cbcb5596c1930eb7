"""Training the feed-forward models: data, the loop, checkpoints and loss plots.

One loop trains every model of the course (the fast transformer network, the multi-style
network, the AdaIN decoder and the WCT decoders). What differs between them is a *task*:

- ``task.model``: the ``nn.Module`` whose parameters are trained;
- ``task.sample(step, rows=None)``: the batch of a step, a dict of tensors, a pure function of
  the seed and the step number (so a resumed run sees exactly the batches it would have seen);
  with ``rows`` (a range of positions in the batch), only those rows, each the same as in the
  whole batch;
- ``task.losses(sample)``: a dict of scalar tensors; ``"total"`` is minimised;
- ``task.kind``, ``task.arch()`` and ``task.meta()``: what :func:`nstlib.feedforward.models.load_model`
  needs to rebuild the model from a checkpoint.

The loop (:func:`train`) writes a checkpoint every ``checkpoint_every`` steps, at the end, and
on Ctrl-C, always from a finished step and atomically (a crash mid-write leaves the previous
file). ``resume=True`` continues from the checkpoint. A non-finite loss stops the run without
saving the broken weights: the last checkpoint on disk stays the good one.

Many processes (``torchrun --nproc_per_node=N``, see :mod:`nstlib.scale.distributed`): the loop joins
the process group, wraps the task's loss in :class:`~torch.nn.parallel.DistributedDataParallel`
and gives each rank its block of rows of the *global* batch (``batch_size`` stays the global
batch). This is what a ``DistributedSampler`` does for an indexed dataset, done on the
task's own deterministic sampling: the global batch of a step, and every row of it, depend only
on the seed and the step, so one process with batch B and N processes with B/N rows each see
the same samples, and DDP's mean of the ranks' gradients is the gradient of the global batch's
mean loss. Losses are averaged over the ranks for the history; only rank 0 shows the progress
bar, calls ``callback`` and writes the checkpoint (the others wait at a barrier). Checkpoints
hold the plain model's state, so a run resumes on any number of processes.

Data: :class:`CropDataset` reads any folder of images (offline default: the course's content
photos) and serves random crops with random horizontal flips.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from ..core.assets import IMAGE_SUFFIXES
from ..core.devices import resolve_device
from ..core.errors import NstlibError
from ..core.files import atomic_file, save_figure
from ..core.images import ImageError, load_image
from ..core.optimize import DONE, NONFINITE, Ending, NonFiniteLoss
from ..scale import distributed

__all__ = [
    "CHECKPOINT_FORMAT",
    "CropDataset",
    "RESUME_SETTINGS",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "Task",
    "train",
    "save_checkpoint",
    "read_checkpoint",
    "resumable_state",
    "plot_training",
    "step_generator",
]

#: The ``format`` field of every checkpoint this project writes.
CHECKPOINT_FORMAT = "nstlib-model/1"


class TrainError(NstlibError):
    """A bad training setting, data folder or checkpoint; the message names the value at fault."""


class Task(Protocol):
    kind: str
    model: nn.Module

    def sample(self, step: int, rows: Sequence[int] | None = None) -> dict[str, Tensor]: ...

    def losses(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]: ...

    def arch(self) -> dict[str, Any]: ...

    def meta(self) -> dict[str, Any]: ...


# --------------------------------------------------------------------------------------------
# Data


def step_generator(seed: int, *keys: int) -> torch.Generator:
    """A generator seeded by ``seed`` and ``keys`` (deterministic, independent streams)."""
    mixed = seed
    for k in keys:
        mixed = (mixed * 1_000_003 + k + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(mixed)


class CropDataset:
    """Random square crops of a set of images, with random horizontal flips.

    Each image is resized so that its shorter side is ``resize`` pixels (default: 1.15 times
    the crop), then a ``crop`` × ``crop`` window is cut at a random place. Which images and
    which crops a batch holds depends only on ``seed`` and the step number: every epoch is a
    fresh permutation of the files, so small folders are cycled fairly.

    Args:
        source: a folder (searched recursively for images), or a list of files.
        crop: side of the square crops, in pixels.
        resize: shorter side the images are scaled to before cropping.
        seed: seeds the permutations, crop positions and flips.
        cache: keep decoded images in memory (default: when there are at most 256 files).

    Raises:
        TrainError: the folder has no image, or ``crop`` is larger than ``resize``.
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        crop: int = 256,
        resize: int | None = None,
        seed: int = 0,
        cache: bool | None = None,
    ) -> None:
        if isinstance(source, (str, os.PathLike)):
            folder = Path(source)
            if not folder.is_dir():
                raise TrainError(f"training data {folder}: not a folder of images")
            files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise TrainError(f"training data {folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) found")
        else:
            files = [Path(p) for p in source]
            if not files:
                raise TrainError("training data: the list of images is empty")
        if crop < 16:
            raise TrainError(f"crop {crop} px is too small (at least 16)")
        self.files = files
        self.crop = int(crop)
        self.resize = int(resize or round(crop * 1.15))
        if self.resize < self.crop:
            raise TrainError(f"resize {self.resize} px is smaller than the crop {self.crop} px")
        self.seed = seed
        self.cache = len(files) <= 256 if cache is None else cache
        self._decoded: dict[int, Tensor] = {}
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return len(self.files)

    def _image(self, index: int) -> Tensor:
        """File ``index`` as ``[3, h, w]`` in [0, 1], shorter side ``resize``."""
        if index in self._decoded:
            return self._decoded[index]

        path = self.files[index]
        try:
            img = load_image(path)
        except ImageError as exc:
            raise TrainError(f"training image {path}: {exc}") from None
        h, w = img.shape[-2:]
        scale = self.resize / min(h, w)
        size = (max(self.crop, round(h * scale)), max(self.crop, round(w * scale)))
        img = torch.nn.functional.interpolate(img, size=size, mode="bilinear", antialias=True,
                                              align_corners=False)[0].clamp_(0, 1)
        if self.cache:
            self._decoded[index] = img
        return img

    def indices(self, step: int, batch_size: int) -> list[int]:
        """The file indices of the batch of ``step``: consecutive slices of per-epoch permutations."""
        n = len(self.files)
        out = []
        for k in range(step * batch_size, (step + 1) * batch_size):
            epoch, pos = divmod(k, n)
            perm = torch.randperm(n, generator=step_generator(self.seed, 0, epoch))
            out.append(int(perm[pos]))
        return out

    def batch(self, step: int, batch_size: int, rows: Sequence[int] | None = None) -> Tensor:
        """The crops of ``step``: ``[batch_size, 3, crop, crop]`` in [0, 1], on the CPU.

        ``rows`` (positions in the batch) keeps only those crops, each the same as in the whole
        batch; only their images are decoded (one rank's share of a global batch).
        """
        crops = []
        indices = self.indices(step, batch_size)
        for j in range(batch_size) if rows is None else rows:
            index = indices[j]
            img = self._image(index)
            gen = step_generator(self.seed, 1, step, j)
            h, w = img.shape[-2:]
            top = int(torch.randint(0, h - self.crop + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - self.crop + 1, (1,), generator=gen))
            crop = img[:, top:top + self.crop, left:left + self.crop]
            if bool(torch.rand((), generator=gen) < 0.5):
                crop = crop.flip(-1)
            crops.append(crop)
        return torch.stack(crops)


# --------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` with ``torch.save`` atomically (:func:`~nstlib.core.files.atomic_file`)."""
    path = Path(path)
    with atomic_file(path) as handle:
        torch.save(dict(payload), handle)
    return path


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by this project; a clear :class:`TrainError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"checkpoint {path}: no such file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle, zip or torch errors: all mean "not a checkpoint"
        raise TrainError(f"checkpoint {path}: not a readable torch file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"checkpoint {path}: not an nstlib model (no format {CHECKPOINT_FORMAT!r})")
    return data


# --------------------------------------------------------------------------------------------
# The loop


@dataclass
class TrainConfig:
    """Settings of a training run (shared by every model).

    Attributes:
        iterations: optimiser steps in total (a resumed run stops at the same number).
        batch_size: images per step.
        learning_rate: Adam's step size.
        checkpoint_every: write the checkpoint every this many steps (0: only at the end).
        seed: seeds the initial weights, the batches and the crops.
        device: ``"auto"`` (cuda, then mps, then cpu) or a torch device string.
        num_workers: processes that prepare the next batches (decoding, crops) while the model
            trains (a ``DataLoader`` over the step numbers, so the batches and their order are
            the same as with 0, which prepares each batch in the training process).
        command: the command line that started the run, stored in the checkpoint (a resumed
            checkpoint keeps every command that worked on it, in ``"commands"``).
    """

    iterations: int = 2000
    batch_size: int = 4
    learning_rate: float = 1e-3
    checkpoint_every: int = 200
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    command: str = ""

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise TrainError(f"{name} must be a positive integer, got {value!r}")
        for name in ("checkpoint_every", "num_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise TrainError(f"{name} must be an integer >= 0, got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate)
                and self.learning_rate > 0):
            raise TrainError(f"learning_rate must be a positive number, got {self.learning_rate!r}")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    ``history`` maps each loss name to one value per step (from step 1 of the first run, so a
    resumed run has the whole curve); ``history["seconds"]`` is the wall time of each step.
    ``status`` is ``"done"``, ``"interrupted"`` (Ctrl-C; the checkpoint holds the last step) or
    ``"nonfinite"`` (the checkpoint holds the last good state written before, if any; ``message``
    says which step, or that none had been written) or, under torchrun,
    ``"failed"`` (another process died; rank 0's checkpoint holds the last finished step).
    """

    model: nn.Module
    history: dict[str, list[float]]
    step: int
    seconds: float
    status: str = "done"
    message: str = ""
    checkpoint: Path | None = None


def _payload(task: Task, optimizer: torch.optim.Optimizer, step: int, history: Mapping[str, list[float]],
             config: TrainConfig, commands: Sequence[str]) -> dict[str, Any]:
    return {
        "commands": list(commands),
        "format": CHECKPOINT_FORMAT,
        "kind": task.kind,
        "arch": task.arch(),
        "meta": task.meta(),
        "state_dict": {k: v.detach().cpu() for k, v in task.model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "step": step,
        "history": {k: list(v) for k, v in history.items()},
        "train_config": asdict(config),
        "torch_rng": torch.get_rng_state(),
    }


class _Steps(torch.utils.data.Dataset):
    """Steps ``start … stop − 1`` of a run as a dataset: item ``i`` is the batch of step ``start + i``
    (this rank's ``rows`` of it). A ``DataLoader`` over it, in order, prepares the coming batches in
    worker processes; each batch is still a pure function of the seed and the step."""

    def __init__(self, task: Task, start: int, stop: int, rows: Sequence[int] | None) -> None:
        self.task, self.start, self.stop, self.rows = task, start, stop, rows

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        step = self.start + i
        return self.task.sample(step) if self.rows is None else self.task.sample(step, rows=self.rows)


def _batches(task: Task, start: int, stop: int, rows: Sequence[int] | None, workers: int,
             device: torch.device) -> Iterator[dict[str, Tensor]]:
    """The batches of steps ``start …`` in order: made here, or by ``workers`` DataLoader processes."""
    steps = _Steps(task, start, stop, rows)
    if workers == 0:
        return (steps[i] for i in range(len(steps)))
    loader = torch.utils.data.DataLoader(steps, batch_size=None, shuffle=False, num_workers=workers,
                                         pin_memory=device.type == "cuda", prefetch_factor=2)
    return iter(loader)


class _TaskLoss(nn.Module):
    """``task.losses`` as a module that holds ``task.model``: what DDP wraps.

    DDP synchronises the gradients of the parameters of the module it wraps, when that
    module's ``forward`` runs. The trained model is not always called directly (AdaIN calls its
    decoder inside :class:`nstlib.feedforward.adain.AdaIN`; WCT's decoders are a ``ModuleDict`` without a
    ``forward``), so the whole loss is the forward pass, and the model is registered here only so
    that DDP sees its parameters (the frozen VGG is not a parameter of it).
    """

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.model = task.model
        self.task = task

    def forward(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.task.losses(sample)


def _peer_failure(exc: RuntimeError) -> bool:
    """Whether ``exc`` is a collective that failed because another process is gone (gloo raises a
    plain RuntimeError naming its transport; nccl a DistError)."""
    if isinstance(exc, getattr(torch.distributed, "DistError", ())):
        return True
    text = str(exc)
    return "gloo" in text or "NCCL" in text or "Connection reset by peer" in text or "Connection closed" in text


#: What a checkpoint needs to be resumed (an exported model lacks the optimiser state).
_RESUMED = ("kind", "arch", "state_dict", "optimizer", "step", "history")
#: The :class:`TrainConfig` settings that change what a resumed run trains (the batches, the updates;
#: the optimiser state restores the learning rate). The task's ``meta()`` is compared too.
RESUME_SETTINGS = ("batch_size", "seed", "learning_rate")
#: ``meta()`` entries that may differ: where the starting weights came from (the checkpoint's replace them).
_FREE_META = ("init_model",)


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists (a checkpoint stores lists), to compare settings."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def resumable_state(task: Task, config: TrainConfig, checkpoint: str | os.PathLike | None) -> dict[str, Any] | None:
    """What ``train(task, config, checkpoint, resume=True)`` continues from: the checkpoint, checked.

    None when there is no checkpoint file yet (the run starts afresh). Raises :class:`TrainError`
    for a checkpoint that cannot be resumed (no optimiser state, another kind or architecture), for
    fewer ``iterations`` than its steps done, and for a setting that differs from the checkpoint's
    (a ``meta()`` entry of the task or one of :data:`RESUME_SETTINGS`; the message names it, the
    checkpoint's value and this run's; a setting the checkpoint does not record is not compared).
    """
    if checkpoint is None or not Path(checkpoint).exists():
        return None
    state = read_checkpoint(checkpoint)
    missing = [k for k in _RESUMED if k not in state]
    if missing:
        raise TrainError(f"checkpoint {checkpoint} cannot be resumed: it has no {', '.join(missing)} "
                         "(an exported model keeps no optimiser state); use another --checkpoint path")
    if state["kind"] != task.kind or state["arch"] != task.arch():
        raise TrainError(f"checkpoint {checkpoint} holds a {state['kind']} model with {state['arch']}, "
                         f"not the {task.kind} model with {task.arch()} asked for; "
                         "use another --checkpoint path or the same settings")
    _check_settings(checkpoint, state, task.meta(), config)
    return state


def _check_settings(checkpoint: str | os.PathLike, state: Mapping[str, Any], meta: Mapping[str, Any],
                    config: TrainConfig) -> None:
    """Refuse to resume ``state`` (read from ``checkpoint``) with fewer iterations or other settings."""
    done = int(state["step"])
    if config.iterations < done:
        raise TrainError(f"checkpoint {checkpoint} has {done} steps done; iterations {config.iterations} is "
                         f"fewer: give at least {done} to resume it (the total, not the steps to add)")
    saved_meta, saved_config = state.get("meta") or {}, state.get("train_config") or {}
    pairs = [(k, saved_meta[k], v) for k, v in meta.items() if k in saved_meta and k not in _FREE_META]
    pairs += [(k, saved_config[k], getattr(config, k)) for k in RESUME_SETTINGS if k in saved_config]
    for name, saved, asked in pairs:
        if _plain(saved) != _plain(asked):
            raise TrainError(f"checkpoint {checkpoint} was trained with {name} {_plain(saved)!r}, this run asks "
                             f"for {name} {_plain(asked)!r}; resume with the same settings, or use another "
                             "--checkpoint path")


@dataclass
class _Training:
    """One call of :func:`train`: the model, its optimiser and loss, and the state a checkpoint holds.

    ``step`` counts the finished steps (from a checkpoint's when resuming); ``history`` holds one
    value per finished step and loss name (the ranks' means), and ``seconds``.
    """

    task: Task
    config: TrainConfig
    checkpoint: str | os.PathLike | None
    device: torch.device
    several: bool
    main: bool
    rows: Sequence[int] | None
    step: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    saved: int | None = None  # the step of the checkpoint on disk that this run resumed or wrote
    state: dict[str, Any] | None = None
    optimizer: torch.optim.Optimizer | None = None
    loss_fn: nn.Module | None = None

    def resume(self, resume: bool) -> None:
        """Load the checkpoint's weights, step, history and commands if asked and it exists."""
        task, checkpoint = self.task, self.checkpoint
        # a fine-tune starts from the commands that trained its starting weights (``task.prior_commands``)
        self.commands = list(getattr(task, "prior_commands", []))
        state = resumable_state(task, self.config, checkpoint) if resume else None
        if state is not None:
            task.model.load_state_dict(state["state_dict"])
            self.state, self.step = state, int(state["step"])
            self.saved = self.step
            self.history = {k: list(v) for k, v in state["history"].items()}
            self.commands = list(state.get("commands") or [state.get("train_config", {}).get("command", "")])
        self.commands.append(self.config.command)

    def prepare(self) -> None:
        """Move the model to the device, make Adam (its state from the checkpoint) and the loss (DDP-wrapped)."""
        model = self.task.model
        model.to(self.device).train()
        self.optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=self.config.learning_rate)
        if self.state is not None:
            self.optimizer.load_state_dict(self.state["optimizer"])
        self.loss_fn = _TaskLoss(self.task)
        if self.several:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.loss_fn = DistributedDataParallel(self.loss_fn, device_ids=device_ids)

    def write(self, wait: bool = True) -> None:
        """Checkpoint the finished ``step`` (rank 0), then wait for the other ranks if ``wait``."""
        if self.checkpoint is not None and self.main:
            assert self.optimizer is not None
            save_checkpoint(self.checkpoint, _payload(self.task, self.optimizer, self.step, self.history,
                                                      self.config, self.commands))
        if self.checkpoint is not None:
            self.saved = self.step
        if wait:
            distributed.barrier()

    def one_step(self, batch: Mapping[str, Tensor]) -> dict[str, float]:
        """One Adam step on ``batch`` (this rank's rows, ``[B, …]`` tensors); the ranks' mean losses.

        Raises :class:`NonFiniteLoss` before the update if the mean total is not finite (every
        rank takes the same decision)."""
        assert self.optimizer is not None and self.loss_fn is not None
        losses = self.loss_fn({k: v.to(self.device) for k, v in batch.items()})
        means = distributed.all_mean(torch.stack([v.detach().float() for v in losses.values()]))
        values = dict(zip(losses, means.tolist()))
        if not math.isfinite(values["total"]):
            raise NonFiniteLoss(self.step + 1, values["total"])
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        self.optimizer.step()
        return values

    def run_steps(self, bar: Any, callback: Callable[[int, dict[str, float]], None] | None) -> None:
        """Steps until ``config.iterations``, with the history, bar, callback and periodic checkpoints."""
        config = self.config
        batches = _batches(self.task, self.step, config.iterations, self.rows, config.num_workers, self.device)
        try:
            while self.step < config.iterations:
                t_step = time.perf_counter()
                values = self.one_step(next(batches))
                self.step += 1
                values["seconds"] = time.perf_counter() - t_step
                for k, v in values.items():
                    self.history.setdefault(k, []).append(v)
                bar.update(1)
                bar.set_postfix(loss=f"{values['total']:.4g}", refresh=False)
                if callback is not None and self.main:
                    callback(self.step, values)
                if config.checkpoint_every and self.step % config.checkpoint_every == 0 and self.step < config.iterations:
                    self.write()
        finally:
            batches = iter(())  # (lets the DataLoader's workers go now)

    def finish(self, status: str, message: str, start: int) -> str:
        """Checkpoint how the run ended (not a non-finite step) and return the final message."""
        if status != NONFINITE and (self.step > start or self.state is not None):
            # (a resumed run that had nothing left to do still records its command); after a
            # Ctrl-C or a failed peer nobody waits: the other ranks may be gone
            self.write(wait=status == DONE)
        elif status == NONFINITE and self.checkpoint is not None:  # (the broken step is not written)
            message += ("; no checkpoint had been written yet" if self.saved is None
                        else f"; the checkpoint {self.checkpoint} holds step {self.saved}")
        total = self.history.get("total")
        if not message and total:
            message = f"{self.step} steps, loss {total[0]:.4g} -> {total[-1]:.4g}"
        return message


def train(
    task: Task,
    config: TrainConfig | None = None,
    checkpoint: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``task.model`` with Adam on ``task.losses(task.sample(step))``.

    Args:
        task: what to train (see the module docstring).
        config: a :class:`TrainConfig` (default settings if None).
        checkpoint: where to write the checkpoint (``.pt``); None keeps everything in memory.
        resume: continue from ``checkpoint`` if it exists (its weights, optimiser state, step
            and history). The task must be of the same kind and architecture.
        progress: show a ``tqdm.auto`` progress bar with the current loss (rank 0 only).
        callback: called after every step with ``(step, {loss name: value})``, on rank 0 only;
            under torchrun the values are the means over the ranks.

    Returns:
        A :class:`TrainResult`; the model is left in eval mode on its device. A non-finite loss
        and Ctrl-C stop the run as they stop :func:`nstlib.core.optimize.drive` (the same
        statuses and one-line messages, :class:`~nstlib.core.optimize.Ending`), keeping the
        weights of the last finished step; a peer process that failed gives ``"failed"``.
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    several = distributed.init(config.device)
    try:
        rows = distributed.batch_rows(config.batch_size) if several else None
    except distributed.DistributedError as exc:
        raise TrainError(str(exc)) from None
    run = _Training(task, config, checkpoint, resolve_device(config.device), several, distributed.is_main(), rows)
    run.resume(resume)
    run.prepare()
    start, message, t0 = run.step, "", time.perf_counter()
    bar = tqdm(total=config.iterations, initial=start, desc=f"train {task.kind}", unit="step",
               disable=not (progress and run.main), leave=False)
    try:
        with Ending() as ending:
            run.run_steps(bar, callback)
        status = ending.status
        kept = f"kept the last good weights (step {run.step})" if run.step else "kept the initial weights"
        message = ending.message(run.step, kept, " (lower the learning rate)")
    except RuntimeError as exc:
        if not (several and _peer_failure(exc)):
            raise
        # another rank died during a collective, before this step's update: keep the last finished step
        status, message = "failed", f"another process failed after step {run.step} ({str(exc).splitlines()[0][:200]})"
    finally:
        bar.close()
    message = run.finish(status, message, start)
    task.model.eval()
    return TrainResult(model=task.model, history=run.history, step=run.step, seconds=time.perf_counter() - t0,
                       status=status, message=message, checkpoint=Path(checkpoint) if checkpoint else None)


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Running mean over the last ``window`` values (the curve a noisy training loss is read by)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def plot_training(history: Mapping[str, Sequence[float]], title: str = "Training loss",
                  path: str | os.PathLike | None = None, *, keys: Sequence[str] | None = None, ax=None):
    """The loss curves of a training run: raw per step (thin) and a running mean (thick), log scale.

    Args:
        history: ``{name: [one value per step]}`` (``TrainResult.history`` or a checkpoint's).
        title: the axes' title.
        path: also save the figure there (PNG, SVG or PDF).
        keys: the curves to draw (default: every loss in ``history``).
        ax: draw into this matplotlib Axes (for a panel of a larger figure).

    Returns:
        The matplotlib Figure (made without pyplot, so nothing else is drawn or kept open).
    """
    from matplotlib.figure import Figure

    fig = ax.figure if ax is not None else Figure(figsize=(7, 4), layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    names = list(keys) if keys is not None else [k for k in history if k not in ("seconds",) and len(history[k])]
    steps = range(1, len(history[names[0]]) + 1) if names else range(0)
    window = max(1, len(steps) // 20)
    for name in names:
        values = [max(v, 1e-12) for v in history[name]]
        line, = ax.plot(steps, values, alpha=0.25, lw=0.8)
        ax.plot(steps, smooth(values, window), color=line.get_color(), lw=1.8,
                label=f"{name} (mean of {window} steps)" if window > 1 else name)
    ax.set_yscale("log")
    ax.set_xlabel("training step (one batch)")
    ax.set_ylabel("loss (weighted, log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig
