"""One process or many: what training and batch stylisation need from ``torch.distributed``.

``torchrun --nproc_per_node=N python -m nstlib ...`` starts N copies of the same command and
tells each its place in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``). This module reads that, and everything else asks it:

- :func:`init` joins the process group once (nccl on CUDA, gloo on CPU) and pins the process
  to its GPU (``cuda`` then means ``cuda:LOCAL_RANK``); without torchrun it does nothing;
- :func:`rank`, :func:`world_size`, :func:`is_main`: who am I; rank 0 logs and writes;
- :func:`shard` (items ``r::world`` for rank ``r``) and :func:`batch_rows` (this rank's rows of a
  global batch): how work is split, deterministically;
- :func:`barrier`, :func:`all_mean`, :func:`gather`: the three collectives the loop and the
  batch command use; each is the identity on one process;
- :func:`cleanup` leaves the group at the end.

With one process every function answers as if the world had one member, so callers never
branch on "distributed or not".
"""

from __future__ import annotations

import datetime
import signal
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..core.devices import env_int, launched, local_device, local_rank
from ..core.errors import NstlibError
from ..core.signals import Terminated

__all__ = ["launched", "init", "rank", "world_size", "local_rank", "is_main", "backend", "local_device",
           "shard", "batch_rows", "barrier", "all_mean", "gather", "cleanup", "DistributedError"]

T = TypeVar("T")


class DistributedError(NstlibError):
    """A setting that cannot be split across the processes (the message names it)."""


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank, 0 … world_size − 1 (0 without torchrun)."""
    return dist.get_rank() if _active() else (env_int("RANK", 0) if launched() else 0)


def world_size() -> int:
    """How many processes share the work (1 without torchrun)."""
    return dist.get_world_size() if _active() else (env_int("WORLD_SIZE", 1) if launched() else 1)


def is_main() -> bool:
    """True on rank 0, the process that logs, plots and writes checkpoints."""
    return rank() == 0


def backend(device: str | torch.device | None = None) -> str:
    """``"nccl"`` when the run uses CUDA, else ``"gloo"``.

    ``device`` is the run's ``--device``: ``cpu`` or ``mps`` ask for gloo even on a machine with a
    GPU (``torchrun --nproc_per_node=2 ... --device cpu`` on a one-GPU Colab); ``auto`` or None
    means CUDA when it is available.
    """
    if device is not None and str(device) != "auto" and torch.device(device).type != "cuda":
        return "gloo"
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def _interrupt_on_sigterm() -> None:
    """torchrun stops its workers with SIGTERM on Ctrl-C or when a peer fails: make that a
    KeyboardInterrupt (:class:`~nstlib.core.signals.Terminated`), so the interrupted run saves
    what it can. The command line has done so already (and then exits 143); this covers the
    Python API under torchrun."""
    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        raise Terminated

    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave the default
        pass


def init(device: str | torch.device | None = None, timeout_minutes: float = 30.0) -> bool:
    """Join the process group if torchrun started this process; returns whether there are several.

    Idempotent and cheap: without torchrun (or with ``--nproc_per_node=1``) nothing happens.
    On CUDA the process is pinned to ``cuda:LOCAL_RANK`` and uses nccl; on CPU, gloo. SIGTERM
    (what torchrun sends its workers on Ctrl-C or when a peer fails, and what Slurm sends before
    it cancels a job) raises KeyboardInterrupt, so the run stops as on Ctrl-C and saves its state.
    """
    if not launched():
        return False
    if _active():
        return True
    kind = backend(device)
    if kind == "nccl":
        torch.cuda.set_device(local_rank())
    _interrupt_on_sigterm()
    dist.init_process_group(kind, timeout=datetime.timedelta(minutes=timeout_minutes))
    return True


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: ``items[rank::world_size]`` (order kept; all of them on one process)."""
    return list(items[rank()::world_size()])


def batch_rows(batch_size: int) -> range:
    """This rank's rows of a global batch of ``batch_size``: a contiguous block of ``batch_size / world``.

    Raises :class:`DistributedError` when the batch does not split evenly (then the ranks' mean
    losses would not average to the global batch's mean).
    """
    n, r = world_size(), rank()
    if batch_size % n:
        raise DistributedError(f"batch size {batch_size} does not split evenly over {n} processes; "
                               f"use a multiple of {n}")
    per = batch_size // n
    return range(r * per, (r + 1) * per)


def barrier() -> None:
    """Wait until every rank gets here (nothing on one process)."""
    if _active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def all_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over the ranks (a new tensor on ``values``' device; a copy on one process)."""
    out = values.detach().clone()
    if not _active():
        return out
    here = out.to(_collective_device())
    dist.all_reduce(here, op=dist.ReduceOp.SUM)
    return (here / world_size()).to(values.device)


def gather(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` as a list in rank order, on rank 0 (None on the others; ``[obj]`` on one process)."""
    if not _active():
        return [obj]
    out: list[Any] | None = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def cleanup() -> None:
    """Leave the process group (if :func:`init` joined one)."""
    if _active():
        dist.destroy_process_group()
