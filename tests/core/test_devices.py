"""Device choice: ``auto``, explicit devices, and torchrun's one GPU per process."""

from __future__ import annotations

import pytest
import torch

from nstlib.core.devices import env_int, launched, local_device, local_rank, resolve_device
from nstlib.core.errors import ConfigError


def test_auto_is_cpu_on_a_machine_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_or_missing_devices_are_config_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="MPS is not available"):
        resolve_device("mps")


def test_under_torchrun_cuda_means_this_process_gpu(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not launched() and local_rank() == 0
    assert local_device(torch.device("cuda")) == torch.device("cuda")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched() and local_rank() == 1
    assert local_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert local_device(torch.device("cuda", 0)) == torch.device("cuda", 0)  # an explicit index stays
    assert local_device(torch.device("cpu")) == torch.device("cpu")


def test_env_int_falls_back_on_garbage(monkeypatch):
    monkeypatch.setenv("NSTLIB_TEST_INT", "seven")
    assert env_int("NSTLIB_TEST_INT", 5) == 5
    monkeypatch.setenv("NSTLIB_TEST_INT", "7")
    assert env_int("NSTLIB_TEST_INT", 5) == 7
    monkeypatch.delenv("NSTLIB_TEST_INT")
    assert env_int("NSTLIB_TEST_INT", 5) == 5
