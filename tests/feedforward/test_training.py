"""Every feed-forward model trains through the one loop: the loss falls, the checkpoint
round-trips through ``load_model``, and inference gives an image of the right shape and range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nstlib.feedforward.adain import AdaINTask
from nstlib.feedforward.fast import FastTask
from nstlib.feedforward.models import load_model
from nstlib.feedforward.training import CropDataset, TrainConfig, train
from nstlib.feedforward.wct import WCTTask

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(2)
    for kind in ("photos", "paintings"):
        (root / kind).mkdir()
        for i in range(3):
            y, x = np.mgrid[0:40, 0:40]
            if kind == "photos":
                img = np.stack([x * 5 + 40 * i, y * 6, 255 - x * 3], -1)
            else:
                img = rng.integers(0, 255, (40, 40, 3)) * ((x // 5 + y // 5 + i) % 2)[..., None]
            Image.fromarray((img % 256).astype(np.uint8)).save(root / kind / f"{i}.png")
    return root / "photos", root / "paintings"


def make(kind, folders):
    photos, paintings = folders
    data = CropDataset(photos, crop=32, seed=0)
    common = dict(batch_size=2, weights="random", device="cpu", seed=0)
    if kind == "fast":
        style = CropDataset(paintings, crop=32).batch(0, 1)
        return FastTask(data, [style], width=4, n_residual=1, style_weight=1e3, **common)
    if kind == "adain":
        return AdaINTask(data, CropDataset(paintings, crop=32, seed=1), width=0.125, **common)
    return WCTTask(data, ("relu1_1", "relu2_1"), width=0.25, **common)


@pytest.mark.parametrize("kind, lr", [("fast", 1e-2), ("adain", 1e-3), ("wct", 3e-3)])
def test_each_model_trains_round_trips_and_stylizes(kind, lr, folders, tmp_path):
    task = make(kind, folders)
    ckpt = tmp_path / f"{kind}.pt"
    result = train(task, TrainConfig(iterations=25, batch_size=2, learning_rate=lr, device="cpu"), ckpt,
                   progress=False)
    total = result.history["total"]
    assert np.mean(total[-5:]) < 0.8 * np.mean(total[:5]), total
    model = load_model(ckpt, device="cpu", kind=kind)
    content = CropDataset(folders[0], crop=32).batch(7, 1)[:, :, :30, :27]  # an odd size on purpose
    style = CropDataset(folders[1], crop=32).batch(3, 1)
    if kind == "fast":
        out, ref = model.stylize(content), task.model.stylize(content)
    elif kind == "adain":
        out, ref = model.stylize(content, style, alpha=0.5), task.adain.stylize(content, style, alpha=0.5)
    else:
        out, ref = model.stylize(content, style), task.wct.stylize(content, style)
    assert out.shape == (1, 3, 30, 27)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    torch.testing.assert_close(out, ref)


def test_shipped_models_are_small_recorded_and_work():
    """The models in nstlib/data/models: at most 10 MB, trained by our command, and they stylise."""
    from nstlib.feedforward.models import model_info, pretrained_models

    shipped = pretrained_models()
    assert set(shipped) == {"fast_brush_strokes", "fast_brush_strokes_stable", "multi_style", "adain", "wct"}
    content = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    for name, path in shipped.items():
        assert path.stat().st_size <= 10 * 2**20, name
        info = model_info(name)
        assert info["commands"] and all(c.startswith("python -m nstlib train ") for c in info["commands"])
        assert info["step"] == len(info["history"]["total"]) > 0
        model = load_model(name, device="cpu")
        out = model.stylize(content) if info["kind"] == "fast" else model.stylize(content, style)
        assert out.shape == content.shape and 0 <= float(out.min()) and float(out.max()) <= 1


def test_plot_training_draws_each_curve_raw_and_smoothed(tmp_path):
    from matplotlib.figure import Figure

    from nstlib.feedforward.training import plot_training

    history = {"total": [4.0, 3.0, 2.5, 2.0] * 10, "style": [1.0, 0.5, 0.4, 0.3] * 10, "seconds": [0.1] * 40}
    fig = plot_training(history, "run", tmp_path / "loss.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 4  # total and style (seconds is not a loss), raw and mean
    assert ax.get_title() == "run" and ax.get_xlabel() and ax.get_ylabel() and ax.get_yscale() == "log"
    assert (tmp_path / "loss.png").stat().st_size > 0
    # into a panel of a larger figure, with chosen curves
    big = Figure()
    left, right = big.subplots(1, 2)
    assert plot_training(history, "style only", keys=["style"], ax=right) is big
    assert len(right.lines) == 2 and not left.lines
    assert right.lines[1].get_ydata()[-1] == pytest.approx(sum(history["style"][-2:]) / 2)


@pytest.mark.parametrize("stop", ["nonfinite", "interrupt"])
def test_nonfinite_and_ctrl_c_inside_the_loss_end_as_the_optimisation_driver_words_it(stop, folders, tmp_path):
    """train shares core.optimize's stop policy: the same statuses and one-line messages, the
    weights of the last finished step kept (and checkpointed on Ctrl-C, not on a non-finite loss)."""
    task = make("fast", folders)
    losses, calls = task.losses, []

    def broken(sample):
        calls.append(1)
        if len(calls) == 3:
            if stop == "interrupt":
                raise KeyboardInterrupt
            return {k: v * float("nan") for k, v in losses(sample).items()}
        return losses(sample)

    task.losses = broken
    r = train(task, TrainConfig(iterations=6, batch_size=2, device="cpu", checkpoint_every=0), tmp_path / "m.pt",
              progress=False)
    assert r.step == 2 and len(r.history["total"]) == 2
    assert torch.isfinite(next(task.model.parameters())).all()
    if stop == "nonfinite":
        assert r.status == "nonfinite" and not (tmp_path / "m.pt").exists()
        assert r.message == ("the loss became nan at step 3; stopped and kept the last good weights (step 2) "
                             "(lower the learning rate); no checkpoint had been written yet")
    else:
        assert r.status == "interrupted" and (tmp_path / "m.pt").exists()
        assert r.message == "interrupted at step 2; kept the last good weights (step 2)"
