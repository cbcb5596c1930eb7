"""The fast network (Johnson et al.), its multi-style version, and the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nstlib.feedforward.fast import ConditionalInstanceNorm2d, FastTask, TransformerNet, style_vector
from nstlib.feedforward.models import export_model, load_model, model_info
from nstlib.feedforward.training import CropDataset, TrainConfig, TrainError, read_checkpoint, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 60), (50, 44), (48, 48)]):
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([x * 4 + 20 * i, y * 5, (x + y) * 2], -1) % 256
        img = (img + rng.integers(0, 30, img.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"p{i}.png")
    (root / "notes.txt").write_text("not an image")
    return root


def styles():
    y, x = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 40), indexing="ij")
    stripes = (torch.sin(x * 30) > 0).float()
    dots = ((torch.sin(x * 25) * torch.sin(y * 25)) > 0.3).float()
    return [torch.stack([stripes, 0.3 * stripes, 1 - stripes])[None], torch.stack([dots, dots, 0.5 * dots])[None]]


def tiny_task(folder, n_styles=1, seed=0, **kw):
    data = CropDataset(folder, crop=32, seed=seed)
    return FastTask(data, styles()[:n_styles], batch_size=2, width=4, n_residual=1, weights="random",
                    device="cpu", seed=seed, style_weight=kw.pop("style_weight", 1e3), **kw)


# --- data ------------------------------------------------------------------------------------


def test_crops_are_deterministic_windows_of_the_images(folder):
    data = CropDataset(folder, crop=32, seed=3)
    assert len(data) == 3  # the text file is not an image
    a, b = data.batch(5, 4), data.batch(5, 4)
    assert a.shape == (4, 3, 32, 32) and torch.equal(a, b)
    assert not torch.equal(a, data.batch(6, 4))
    # every crop is a window of its (resized) image, flipped or not: found by a naive search
    for j, index in enumerate(data.indices(5, 4)):
        img = data._image(index)
        h, w = img.shape[-2:]
        windows = [img[:, t:t + 32, l:l + 32] for t in range(h - 31) for l in range(w - 31)]
        assert any(torch.equal(a[j], win) or torch.equal(a[j], win.flip(-1)) for win in windows)
    # each epoch visits every file once
    per_epoch = [i for step in range(3) for i in data.indices(step, 1)]
    assert sorted(per_epoch) == [0, 1, 2]


def test_bad_data_names_the_folder_or_file(folder, tmp_path):
    with pytest.raises(TrainError, match="no image files"):
        CropDataset(tmp_path)
    with pytest.raises(TrainError, match="not a folder"):
        CropDataset(tmp_path / "missing")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(TrainError, match="broken.png"):
        CropDataset([bad], crop=16).batch(0, 1)
    with pytest.raises(TrainError, match="smaller than the crop"):
        CropDataset(folder, crop=64, resize=32)


# --- the network -----------------------------------------------------------------------------


def test_johnson_network_size_and_any_input_size():
    net = TransformerNet()
    # the size of Johnson et al.'s network as in PyTorch's fast_neural_style example
    assert sum(p.numel() for p in net.parameters()) == 1_679_235
    small = TransformerNet(width=4, n_residual=1)
    for h, w in [(32, 32), (37, 50), (17, 23)]:
        assert small(torch.rand(2, 3, h, w)).shape == (2, 3, h, w)
    out = small.stylize(torch.rand(3, 37, 50))
    assert out.shape == (3, 37, 50) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert TransformerNet(**small.arch).arch == small.arch


def test_conditional_norm_is_instance_norm_with_the_styles_parameters():
    torch.manual_seed(0)
    cin = ConditionalInstanceNorm2d(5, n_styles=3)
    with torch.no_grad():
        cin.weight.normal_()
        cin.bias.normal_()
    x = torch.randn(2, 5, 6, 7)
    for s in range(3):
        ref = F.instance_norm(x, weight=cin.weight[s], bias=cin.bias[s], eps=cin.eps)
        torch.testing.assert_close(cin(x, style_vector(s, 3, 2)), ref)
    # a mixture mixes the parameters: γ = Σ w γ_s, β = Σ w β_s
    w = torch.tensor([0.2, 0.0, 0.8])
    ref = F.instance_norm(x, weight=w @ cin.weight, bias=w @ cin.bias, eps=cin.eps)
    torch.testing.assert_close(cin(x, style_vector([1, 0, 4], 3, 2)), ref)


def test_style_mixtures_and_bad_styles():
    torch.manual_seed(0)
    net = TransformerNet(n_styles=2, width=4, n_residual=1)
    x = torch.rand(1, 3, 24, 24)
    torch.testing.assert_close(net(x, [1.0, 0.0]), net(x, 0))
    torch.testing.assert_close(net(x, [0.0, 3.0]), net(x, 1))
    torch.testing.assert_close(net(x, torch.tensor([1])), net(x, 1))
    with pytest.raises(ValueError, match="out of range"):
        net(x, 2)
    with pytest.raises(ValueError, match="needs 2 weights"):
        net(x, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="not all 0"):
        net(x, [0.0, 0.0])


# --- training --------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_the_checkpoint_round_trips(folder, tmp_path):
    task = tiny_task(folder, n_styles=2)
    ckpt = tmp_path / "fast.pt"
    result = train(task, TrainConfig(iterations=30, batch_size=2, learning_rate=1e-2, device="cpu",
                                     checkpoint_every=10, command="pytest"), ckpt, progress=False)
    total = result.history["total"]
    assert result.status == "done" and result.step == 30 and len(total) == 30
    assert np.mean(total[-5:]) < 0.7 * np.mean(total[:5])
    model = load_model(ckpt, device="cpu", kind="fast")
    x = torch.rand(1, 3, 32, 40)
    for s in (0, 1, [0.5, 0.5]):
        torch.testing.assert_close(model(x, s), result.model(x, s))
    info = model_info(ckpt)
    assert info["kind"] == "fast" and info["step"] == 30 and info["command"] == "pytest"
    assert info["arch"] == {"n_styles": 2, "width": 4, "n_residual": 1}
    # the small copy: float16 weights, no optimiser, same pictures up to float16 rounding
    small = export_model(ckpt, tmp_path / "small.pt")
    assert small.stat().st_size < ckpt.stat().st_size
    assert "optimizer" not in read_checkpoint(small)
    torch.testing.assert_close(load_model(small, "cpu").stylize(x), model.stylize(x), atol=2e-2, rtol=0)
    with pytest.raises(TrainError, match="not a adain model|not an adain model"):
        load_model(ckpt, device="cpu", kind="adain")


def test_resume_gives_the_same_weights_as_one_run(folder, tmp_path):
    cfg = dict(batch_size=2, learning_rate=5e-3, device="cpu", checkpoint_every=0)
    whole = train(tiny_task(folder), TrainConfig(iterations=6, **cfg), tmp_path / "whole.pt", progress=False)
    ckpt = tmp_path / "part.pt"
    train(tiny_task(folder), TrainConfig(iterations=3, **cfg), ckpt, progress=False)
    resumed = train(tiny_task(folder), TrainConfig(iterations=6, **cfg), ckpt, resume=True, progress=False)
    assert resumed.step == 6 and len(resumed.history["total"]) == 6
    assert len(read_checkpoint(ckpt)["commands"]) == 2  # each run that worked on it is recorded
    assert resumed.history["total"] == pytest.approx(whole.history["total"], rel=1e-5)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b)
    # a checkpoint of another architecture is refused, not silently mixed
    with pytest.raises(TrainError, match="use another --checkpoint"):
        train(tiny_task(folder, n_styles=2), TrainConfig(iterations=7, **cfg), ckpt, resume=True, progress=False)


def test_ctrl_c_and_nonfinite_keep_a_good_checkpoint(folder, tmp_path):
    ckpt = tmp_path / "stop.pt"

    def stop_at_4(step, values):
        if step == 4:
            raise KeyboardInterrupt

    r = train(tiny_task(folder), TrainConfig(iterations=50, batch_size=2, device="cpu", checkpoint_every=0),
              ckpt, progress=False, callback=stop_at_4)
    assert r.status == "interrupted" and read_checkpoint(ckpt)["step"] == 4

    task = tiny_task(folder)
    losses = task.losses
    calls = []

    def broken(sample):
        out = losses(sample)
        calls.append(1)
        if len(calls) == 5:
            out["total"] = out["total"] * float("nan")
        return out

    task.losses = broken
    nan_ckpt = tmp_path / "nan.pt"
    r = train(task, TrainConfig(iterations=50, batch_size=2, device="cpu", checkpoint_every=2), nan_ckpt,
              progress=False)
    assert r.status == "nonfinite" and "step 5" in r.message
    saved = read_checkpoint(nan_ckpt)
    assert saved["step"] == 4
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())


def test_bad_checkpoints_and_settings_are_named(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(TrainError, match="junk.pt"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(TrainError, match="not an nstlib model"):
        load_model(other)
    with pytest.raises(TrainError, match="shipped"):
        load_model("no-such-model")
    for bad in (dict(iterations=0), dict(batch_size=-1), dict(learning_rate=float("nan")),
                dict(checkpoint_every=-2)):
        with pytest.raises(TrainError, match=next(iter(bad))):
            TrainConfig(**bad)
