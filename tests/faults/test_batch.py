"""Faults of ``python -m nstlib batch`` (issue 21, items 6 and 8): one image that fails, however it
fails, is named on one line with its error and skipped; the later images are still done, the summary
names the failures and the exit status is 1 (the documented "some images failed")."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nstlib.feedforward.fast import TransformerNet
from nstlib.feedforward.training import CHECKPOINT_FORMAT, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_fast(path, broken: bool = False):
    """A small untrained fast network's checkpoint at ``path`` (NaN weights if ``broken``)."""
    torch.manual_seed(0)
    net = TransformerNet(width=4, n_residual=1)
    state = {k: v * float("nan") if broken and v.is_floating_point() else v for k, v in net.state_dict().items()}
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "kind": "fast", "arch": net.arch, "meta": {},
                           "state_dict": state, "step": 0})
    return path


@pytest.fixture()
def photos(tmp_path):
    """``in/``: a_0.png … a_3.png (40×48 px) and, sorted between them, ``a_1x.png``: 40×40 px."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in [("a_0", (40, 48)), ("a_1", (40, 48)), ("a_1x", (40, 40)), ("a_2", (40, 48)),
                        ("a_3", (40, 48))]:
        Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return folder


def run(cli, photos, model, *extra):
    return cli("batch", "--input_dir", photos, "--output_dir", "out", "--method", "fast", "--model", model,
               "--image_size", "40", "--device", "cpu", "-q", *extra)


def outputs(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "out").glob("*.png"))


GOOD = ["a_0.png", "a_1.png", "a_2.png", "a_3.png"]


def test_an_extreme_aspect_ratio_is_skipped_with_its_size_and_the_batch_goes_on(cli, photos, tmp_path):
    Image.fromarray(np.zeros((2, 300, 3), np.uint8)).save(photos / "a_1x.png")  # 300×2 (a 30000×10 photo)
    result = run(cli, photos, tiny_fast(tmp_path / "m.pt"))
    assert result.code == 1
    result.one_line("skipped a_1x.png", "40×1 px", "too small")
    assert outputs(tmp_path) == GOOD
    assert "4 done, 0 already finished (skipped), 1 failed" in result.out
    assert "failed: a_1x.png: " in result.out


@pytest.mark.parametrize("error", [
    RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB\nsee the docs"),
    torch.cuda.OutOfMemoryError("CUDA out of memory"),
    ValueError("Padding size should be less than the corresponding input dimension"),
    MemoryError("cannot allocate"),
])
def test_any_failure_of_the_model_on_one_image_is_named_with_its_type_and_skipped(error, cli, photos, tmp_path,
                                                                                   monkeypatch):
    stylize = TransformerNet.stylize

    def fails_on_the_square_one(self, content, style=None):
        if content.shape[-1] == content.shape[-2]:
            raise error
        return stylize(self, content, style)

    monkeypatch.setattr(TransformerNet, "stylize", fails_on_the_square_one)
    result = run(cli, photos, tiny_fast(tmp_path / "m.pt"))
    assert result.code == 1
    first = str(error).splitlines()[0]
    result.one_line("skipped a_1x.png", f"{type(error).__name__}: {first}")
    assert outputs(tmp_path) == GOOD
    assert f"failed: a_1x.png: {type(error).__name__}: {first}" in result.out
    # run again: the failed one is tried again (and fails again), the others are finished
    again = run(cli, photos, tmp_path / "m.pt")
    assert again.code == 1
    assert "0 done, 4 already finished (skipped), 1 failed" in again.out


def test_a_bug_is_not_swallowed(cli, photos, tmp_path, monkeypatch):
    """An unexpected exception (here a TypeError) is a bug: it keeps its traceback."""
    def broken(self, content, style=None):
        raise TypeError("a bug")

    monkeypatch.setattr(TransformerNet, "stylize", broken)
    with pytest.raises(TypeError, match="a bug"):
        run(cli, photos, tiny_fast(tmp_path / "m.pt"))


def test_a_model_with_non_finite_output_writes_nothing_and_names_the_model(cli, photos, tmp_path):
    result = run(cli, photos, tiny_fast(tmp_path / "nan.pt", broken=True))
    assert result.code == 1
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert "Traceback" not in result.err and len(lines) == 5
    assert all("skipped" in ln and "nan.pt" in ln and "not finite" in ln for ln in lines), lines
    assert outputs(tmp_path) == []
    assert "0 done, 0 already finished (skipped), 5 failed" in result.out
