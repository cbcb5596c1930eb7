"""Fixtures shared by several test modules."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors run faster on one thread, and much faster when another process shares the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def pics(tmp_path):
    """A folder of 3 small smooth 'photos' (48×56 px) and a noise 'style' image, for the CLI's training."""
    rng = np.random.default_rng(1)
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        y, x = np.mgrid[0:48, 0:56]
        img = np.stack([x * 4 + 30 * i, y * 5, (x * y) % 200], -1) % 256
        Image.fromarray(img.astype(np.uint8)).save(data / f"{i}.png")
    style = tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(style)
    return data, style


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory) -> Path:
    """The python of a fresh venv with nstlib installed from its wheel (scripts/wheelenv.py), built once."""
    from wheelenv import build_wheel, make_venv

    dest = tmp_path_factory.mktemp("wheelenv")
    return make_venv(dest, build_wheel(dest))
