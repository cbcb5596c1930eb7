"""The stable video network: simulated motion, its exact flow, the temporal fine-tune and its command."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nstlib.core.assets import images_dir
from nstlib.cli import main
from nstlib.feedforward.fast import FastTask, TransformerNet
from nstlib.video.flow import out_of_frame, warp
from nstlib.feedforward.models import load_model
from nstlib.video.stable import MOTION_DEFAULTS, StableFastTask, affine_flow, simulated_motion, stability
from nstlib.feedforward.training import CropDataset, TrainConfig, read_checkpoint, train

pytestmark = pytest.mark.usefixtures("one_thread")

STILL = dict(noise=0.0, brightness=0.0)


def images(b=2, h=20, w=24, seed=0):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


# --- the motion and its flow -------------------------------------------------------------------


def test_an_integer_shift_moves_pixels_exactly_by_the_flow():
    x = images()
    flow = affine_flow(20, 24, torch.tensor([[2.0, 0.0], [-1.0, 3.0]]), torch.zeros(2), torch.zeros(2))
    assert flow.shape == (2, 2, 20, 24)
    assert torch.equal(flow[0, 0], torch.full((20, 24), 2.0)) and torch.equal(flow[1, 1], torch.full((20, 24), 3.0))
    moved = warp(x, flow)
    # moved[p] = x[p + flow(p)]: sample 0 looks 2 px to the right, sample 1 1 px left and 3 px down
    torch.testing.assert_close(moved[0, :, :, :-2], x[0, :, :, 2:], atol=1e-5, rtol=0)
    torch.testing.assert_close(moved[1, :, :-3, 1:], x[1, :, 3:, :-1], atol=1e-5, rtol=0)
    valid = 1 - out_of_frame(flow)
    assert valid[0, 0, :, -2:].sum() == 0 and valid[0, 0, :, :-2].min() == 1  # entered through the right border
    assert valid[1, 0, -3:].sum() == 0 and valid[1, 0, :, 0].sum() == 0 and valid[1, 0, :-3, 1:].min() == 1


def test_simulated_motion_is_the_warp_by_its_flow_and_deterministic():
    x = images(3)
    moved, flow, valid = simulated_motion(x, torch.Generator().manual_seed(5), **STILL)
    assert moved.shape == x.shape and flow.shape == (3, 2, 20, 24) and valid.shape == (3, 1, 20, 24)
    assert torch.equal(moved, warp(x, flow))
    assert torch.equal(valid, 1 - out_of_frame(flow))
    assert 0 < valid.mean() < 1  # some pixels enter through the border, most do not
    # the motion stays within the bounds: shift + zoom and rotation at the corner
    radius = math.hypot(23 / 2, 19 / 2)
    bound = MOTION_DEFAULTS["max_shift"] * math.sqrt(2) + radius * (MOTION_DEFAULTS["max_zoom"]
                                                                   + math.radians(MOTION_DEFAULTS["max_rotation"]))
    assert 0 < flow.norm(dim=1).max() <= bound
    # sub-pixel: the shifts are not whole pixels
    assert (flow - flow.round()).abs().max() > 0.05
    # the same generator state gives the same pair, another seed another one
    again = simulated_motion(x, torch.Generator().manual_seed(5), **STILL)
    assert all(torch.equal(a, b) for a, b in zip((moved, flow, valid), again))
    other, other_flow, _ = simulated_motion(x, torch.Generator().manual_seed(6), **STILL)
    assert not torch.equal(other_flow, flow) and not torch.equal(other, moved)
    # noise and brightness change the pixels a little, not the flow; the result stays in [0, 1]
    noisy, noisy_flow, _ = simulated_motion(x, torch.Generator().manual_seed(5))
    assert torch.equal(noisy_flow, flow)
    diff = (noisy - moved).abs()
    assert 0 < diff.mean() < 0.05 and noisy.min() >= 0 and noisy.max() <= 1
    with pytest.raises(ValueError, match="max_zoom"):
        simulated_motion(x, torch.Generator(), max_zoom=-0.1)


def test_zoom_and_rotation_turn_about_the_centre_and_grow_linearly():
    # zoom: flow(p) = z (p - c), zero at the centre pixel of an odd-sized frame
    flow = affine_flow(21, 31, torch.zeros(1, 2), torch.tensor([0.1]), torch.zeros(1))[0]
    assert flow[:, 10, 15].abs().max() < 1e-6
    ys, xs = torch.meshgrid(torch.arange(21.0), torch.arange(31.0), indexing="ij")
    torch.testing.assert_close(flow, 0.1 * torch.stack([xs - 15, ys - 10]), atol=1e-5, rtol=0)
    # rotation by θ: |flow| = 2 sin(θ / 2) · distance from the centre, perpendicular to the radius
    rot = affine_flow(21, 31, torch.zeros(1, 2), torch.zeros(1), torch.tensor([3.0]))[0]
    r = torch.stack([xs - 15, ys - 10])
    torch.testing.assert_close(rot.norm(dim=0), 2 * math.sin(math.radians(1.5)) * r.norm(dim=0), atol=1e-5, rtol=0)
    assert (rot * r).sum(0).abs().max() < 0.05 * r.norm(dim=0).max()  # nearly tangential
    # simulated zoom and rotation without shift leave the centre in place
    _, sim, _ = simulated_motion(images(4, 21, 31), torch.Generator().manual_seed(1), max_shift=0, **STILL)
    assert sim[:, :, 10, 15].abs().max() < 1e-5 and sim.abs().amax() > 0.1
    # a zoom > 0 samples a larger area: a bright dot moves towards the centre
    dot = torch.zeros(1, 1, 21, 31)
    dot[0, 0, 10, 25] = 1
    moved = warp(dot, affine_flow(21, 31, torch.zeros(1, 2), torch.tensor([0.25]), torch.zeros(1)))
    assert int(moved[0, 0, 10].argmax()) == 23  # 15 + 10 / 1.25


# --- the fine-tune -------------------------------------------------------------------------------


def style():
    y, x = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 40), indexing="ij")
    stripes = (torch.sin(x * 30 + 10 * y) > 0).float()
    return [torch.stack([stripes, 0.3 * stripes, 1 - stripes])[None]]


def data(seed=0):
    return CropDataset(images_dir() / "content", crop=32, seed=seed)


def tiny(task_cls=FastTask, net=None, **kw):
    return task_cls(data(), style(), ["stripes"], batch_size=2, width=4, n_residual=1, weights="random",
                    device="cpu", style_weight=1e3, net=net, **kw)


@pytest.fixture(scope="module")
def pretrained():
    """A tiny fast network trained (without any temporal loss) for a few steps, on 32 px crops."""
    torch.manual_seed(0)
    r = train(tiny(), TrainConfig(iterations=20, batch_size=2, learning_rate=1e-2, device="cpu",
                                  checkpoint_every=0), progress=False)
    return r.model


def copy(net: TransformerNet) -> TransformerNet:
    out = TransformerNet(**net.arch)
    out.load_state_dict(net.state_dict())
    return out


def test_the_sample_holds_both_frames_deterministically():
    task = tiny(StableFastTask, temporal_weight=10.0)
    a, b = task.sample(3), task.sample(3)
    assert set(a) == {"content", "style", "moved", "flow", "valid"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["flow"], task.sample(4)["flow"])
    assert a["moved"].shape == a["content"].shape == (2, 3, 32, 32) and a["valid"].shape == (2, 1, 32, 32)
    losses = task.losses(a)
    assert set(losses) == {"total", "content", "style", "tv", "temporal"}
    parts = losses["content"] + losses["style"] + losses["tv"] + losses["temporal"]
    torch.testing.assert_close(losses["total"], parts)
    # the first frame's perceptual terms are FastTask's
    plain = tiny(net=task.model).losses(a)
    for k in ("content", "style", "tv"):
        torch.testing.assert_close(losses[k], plain[k])
    with pytest.raises(ValueError, match="temporal_weight"):
        tiny(StableFastTask, temporal_weight=-1.0)
    with pytest.raises(ValueError, match="wobble"):
        tiny(StableFastTask, motion={"wobble": 1.0})


def test_the_temporal_fine_tune_steadies_the_network(pretrained, tmp_path):
    x = torch.cat([data(seed=9).batch(s, 2) for s in range(2)])

    def steadiness(net):
        return stability(net, x, torch.Generator().manual_seed(0), **STILL)

    cfg = dict(iterations=20, batch_size=2, learning_rate=3e-3, device="cpu", checkpoint_every=0)
    ckpt = tmp_path / "stable.pt"
    stable = train(tiny(StableFastTask, copy(pretrained), temporal_weight=300.0), TrainConfig(**cfg), ckpt,
                   progress=False)
    control = train(tiny(StableFastTask, copy(pretrained), temporal_weight=0.0), TrainConfig(**cfg), progress=False)
    temporal = stable.history["temporal"]
    assert np.mean(temporal[-5:]) < 0.5 * np.mean(temporal[:5])
    before, after, without = steadiness(pretrained), steadiness(stable.model), steadiness(control.model)
    # (over seeds 0-3: 17-95 times steadier than before, 1.8-20 times than the same steps without the term)
    assert after < 0.25 * before and after < 0.75 * without, (before, after, without)
    # the checkpoint is an ordinary fast model that remembers its temporal settings
    model = load_model(ckpt, "cpu", kind="fast")
    assert isinstance(model, TransformerNet) and model.arch == pretrained.arch
    meta = read_checkpoint(ckpt)["meta"]
    assert model.meta["temporal_weight"] == 300.0 and meta["stable"] is True
    assert meta["motion"] == MOTION_DEFAULTS and meta["styles"] == ["stripes"]
    torch.testing.assert_close(model.stylize(x), stable.model.stylize(x))


# --- the command -------------------------------------------------------------------------------


def one_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_train_fast_with_a_temporal_weight_from_an_init_model(pics, tmp_path, capsys):
    folder, style_file = pics
    init, out = tmp_path / "init.pt", tmp_path / "stable.pt"
    base = ["train", "fast", "--data", str(folder), "--batch_size", "1", "--device", "cpu", "-q"]
    assert main([*base, "--style_path", str(style_file), "--checkpoint", str(init), "--crop", "24", "--width", "4",
                 "--weights", "random", "--style_weight", "123", "--content_weight", "2", "--iterations", "1"]) == 0
    capsys.readouterr()
    # the fine-tune takes the init model's crop, loss weights and VGG weights unless told otherwise
    assert main([*base, "--style_path", str(style_file), "--init_model", str(init), "--temporal_weight", "50",
                 "--iterations", "2", "--checkpoint", str(out)]) == 0
    saved = read_checkpoint(out)
    meta = saved["meta"]
    assert saved["kind"] == "fast" and saved["arch"]["width"] == 4 and saved["step"] == 2
    assert meta["stable"] is True and meta["temporal_weight"] == 50 and meta["init_model"] == str(init)
    assert (meta["crop"], meta["weights"], meta["style_weight"], meta["content_weight"]) == (24, "random", 123, 2)
    assert saved["train_config"]["learning_rate"] == 1e-4  # a fine-tune's default
    # the fine-tune's record starts with the command that trained its starting weights
    assert [c.split()[3:5] for c in saved["commands"]] == [["train", "fast"]] * 2
    assert "--init_model" not in saved["commands"][0] and "--init_model" in saved["commands"][1]
    assert "from" in capsys.readouterr().out
    # --init_model alone fine-tunes the plain fast network from those weights
    plain = tmp_path / "plain.pt"
    assert main([*base, "--style_path", str(style_file), "--init_model", str(init), "--iterations", "1",
                 "--checkpoint", str(plain)]) == 0
    assert "stable" not in read_checkpoint(plain)["meta"]
    # and it runs with the ordinary fast command
    result = tmp_path / "o.png"
    assert main(["fast", "--model", str(out), "--content_path", str(folder / "0.png"), "--output_path", str(result),
                 "--image_size", "32", "--device", "cpu"]) == 0


@pytest.mark.parametrize("extra, needles", [
    (["--init_model", "{tmp}/missing.pt"], ["--init_model", "missing.pt"]),
    (["--init_model", "{init}", "--width", "8"], ["--width 8", "4"]),
    (["--init_model", "{init}", "--style_path", "{style}", "{style}"], ["1 style", "2 style"]),
    (["--init_model", "{init}"], ["style.png", "--style_path"]),  # its style is not among images/style
])
def test_bad_init_models_exit_2_with_one_line(pics, tmp_path, capsys, extra, needles):
    folder, style_file = pics
    init = tmp_path / "init.pt"
    common = ["--data", str(folder), "--batch_size", "1", "--device", "cpu", "-q", "--iterations", "1"]
    assert main(["train", "fast", *common, "--style_path", str(style_file), "--checkpoint", str(init), "--crop", "24",
                 "--width", "4", "--weights", "random"]) == 0
    capsys.readouterr()
    fill = {"tmp": str(tmp_path), "init": str(init), "style": str(style_file)}
    argv = ["train", "fast", *common, "--temporal_weight", "1", "--checkpoint", str(tmp_path / "o.pt"),
            *[a.format(**fill) for a in extra]]
    assert main(argv) == 2
    one_line(capsys.readouterr().err, *needles)
    assert not (tmp_path / "o.pt").exists()


def test_temporal_weight_is_for_fast_networks_only(tmp_path, capsys):
    assert main(["train", "adain", "--temporal_weight", "1", "--checkpoint", str(tmp_path / "a.pt")]) == 2
    one_line(capsys.readouterr().err, "--temporal_weight", "adain")
