"""Which device a run uses: ``auto`` picks cuda, then mps, then cpu; one GPU per process under torchrun."""

from __future__ import annotations

import os

import torch

from .errors import ConfigError

__all__ = ["env_int", "launched", "local_device", "local_rank", "resolve_device"]


def env_int(name: str, default: int) -> int:
    """An integer from the environment (torchrun's ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), or ``default``."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) with more than one process."""
    return env_int("WORLD_SIZE", 1) > 1 and "RANK" in os.environ


def local_rank() -> int:
    """This process's index on its machine (its GPU), from ``LOCAL_RANK`` (0 without torchrun)."""
    return env_int("LOCAL_RANK", 0) if launched() else 0


def local_device(device: torch.device) -> torch.device:
    """``cuda`` without an index becomes ``cuda:LOCAL_RANK`` under torchrun; anything else is unchanged."""
    if device.type == "cuda" and device.index is None and launched():
        return torch.device("cuda", local_rank())
    return device


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else is passed to ``torch.device``.

    Under torchrun, ``cuda`` without an index is this process's GPU, ``cuda:LOCAL_RANK``.

    Raises:
        ConfigError: an unknown device name, or CUDA/MPS asked for where it is not available.
    """
    if str(device) == "auto":
        if torch.cuda.is_available():
            return local_device(torch.device("cuda"))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, but CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} was asked for, but MPS is not available here")
    return local_device(dev)
