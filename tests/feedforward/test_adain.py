"""AdaIN (Huang & Belongie 2017): statistics against naive loops, the decoder's architecture,
the stylize pipeline against hand-assembled paths, and a few training steps."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from nstlib.feedforward.adain import (
    LEVELS,
    STYLE_LAYERS,
    AdaIN,
    AdaINError,
    Decoder,
    adaptive_instance_norm,
    mean_std,
    mean_std_style_loss,
)
from nstlib.controls.color import match_color_histogram

pytestmark = pytest.mark.usefixtures("one_thread")

VGG_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
SCALES = {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8}



@pytest.fixture(scope="module")
def model() -> AdaIN:
    torch.manual_seed(0)
    return AdaIN(Decoder(width=0.25), weights="random")


def images(seed: int, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def naive_mean_std(f: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    b, c, h, w = f.shape
    mean = torch.zeros(b, c, 1, 1, dtype=torch.float64)
    std = torch.zeros(b, c, 1, 1, dtype=torch.float64)
    for i in range(b):
        for j in range(c):
            values = [float(f[i, j, y, x]) for y in range(h) for x in range(w)]
            m = sum(values) / len(values)
            var = sum((v - m) ** 2 for v in values) / len(values)
            mean[i, j] = m
            std[i, j] = math.sqrt(var + eps)
    return mean, std


# ------------------------------------------------------------------------------------------
# statistics and the AdaIN layer


def test_mean_std_matches_naive_loop():
    f = images(1, 2, 3, 4, 5).double() * 3 - 1
    mean, std = mean_std(f, eps=1e-3)
    assert mean.shape == std.shape == (2, 3, 1, 1)
    ref_mean, ref_std = naive_mean_std(f, 1e-3)
    torch.testing.assert_close(mean, ref_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(std, ref_std, rtol=1e-12, atol=1e-12)


def test_mean_std_of_one_pixel_map_is_finite():
    mean, std = mean_std(torch.full((1, 2, 1, 1), 3.0))
    assert torch.equal(mean, torch.full((1, 2, 1, 1), 3.0))
    torch.testing.assert_close(std, torch.full((1, 2, 1, 1), 1e-5**0.5))


def test_adain_output_has_exactly_the_style_statistics():
    content = images(2, 2, 4, 5, 6).double() * 2
    style = images(3, 1, 4, 7, 3).double() * 5 + 1  # another size, batch 1 broadcast
    out = adaptive_instance_norm(content, style, eps=0.0)
    assert out.shape == content.shape
    mean_o, std_o = mean_std(out, eps=0.0)
    mean_s, std_s = mean_std(style, eps=0.0)
    torch.testing.assert_close(mean_o, mean_s.expand_as(mean_o), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(std_o, std_s.expand_as(std_o), rtol=1e-12, atol=1e-12)
    # the normalised structure is the content's: standardising both gives the same maps
    z_out = (out - mean_o) / std_o
    mean_c, std_c = mean_std(content, eps=0.0)
    torch.testing.assert_close(z_out, (content - mean_c) / std_c, rtol=1e-10, atol=1e-10)


def test_adain_matches_naive_per_channel_loop():
    content = images(4, 2, 3, 4, 4).double()
    style = images(5, 2, 3, 6, 5).double() * 4
    out = adaptive_instance_norm(content, style)
    mean_c, std_c = naive_mean_std(content, 1e-5)
    mean_s, std_s = naive_mean_std(style, 1e-5)
    ref = torch.zeros_like(content)
    for b in range(2):
        for c in range(3):
            ref[b, c] = (content[b, c] - mean_c[b, c]) / std_c[b, c] * std_s[b, c] + mean_s[b, c]
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_adain_keeps_dtype_and_rejects_mismatches():
    content = images(6, 1, 4, 3, 3)
    assert adaptive_instance_norm(content, images(7, 1, 4, 5, 5)).dtype == torch.float32
    with pytest.raises(AdaINError, match=r"\(1, 5, 3, 3\)"):
        adaptive_instance_norm(content, torch.rand(1, 5, 3, 3))
    with pytest.raises(AdaINError, match="batch"):
        adaptive_instance_norm(torch.rand(2, 4, 3, 3), torch.rand(3, 4, 3, 3))
    with pytest.raises(AdaINError, match=r"\(4, 3, 3\)"):
        adaptive_instance_norm(torch.rand(4, 3, 3), content)


def test_adain_gradcheck():
    content = images(8, 1, 2, 3, 3).double().requires_grad_(True)
    style = images(9, 1, 2, 4, 2).double().requires_grad_(True)
    assert gradcheck(adaptive_instance_norm, (content, style))


def test_mean_std_style_loss_by_hand_and_against_loop():
    out = {"a": torch.full((1, 2, 2, 2), 2.0)}
    style = {"a": torch.zeros(1, 2, 3, 3)}
    # means 2 vs 0 (squared error 4 in both channels); stds both sqrt(eps)
    assert mean_std_style_loss(out, style, ["a"]).item() == pytest.approx(4.0)

    feats = {n: images(i, 2, 3, 4, 4).double() for i, n in enumerate(("x", "y"))}
    targets = {n: images(10 + i, 1, 3, 5, 3).double() * 2 for i, n in enumerate(("x", "y"))}
    expected = 0.0
    for n in ("x", "y"):
        mo, so = naive_mean_std(feats[n], 1e-5)
        ms, ss = naive_mean_std(targets[n], 1e-5)
        expected += float(((mo - ms) ** 2).mean() + ((so - ss) ** 2).mean())
    assert mean_std_style_loss(feats, targets, ("x", "y")).item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(AdaINError, match="'z'"):
        mean_std_style_loss(feats, targets, ["z"])


# ------------------------------------------------------------------------------------------
# the decoder


@pytest.mark.parametrize("width", [1.0, 0.5, 0.25])
@pytest.mark.parametrize("level", LEVELS)
def test_decoder_output_shape_and_channels(level: str, width: float):
    decoder = Decoder(level, width)
    assert decoder.scale == SCALES[level] and decoder.in_channels == VGG_CHANNELS[level]
    convs = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == VGG_CHANNELS[level]
    assert convs[-1].out_channels == 3
    if level != "relu1_1":
        assert convs[0].out_channels == round(VGG_CHANNELS[level] // 2 * width)
    out = decoder(torch.randn(2, VGG_CHANNELS[level], 3, 5))
    assert out.shape == (2, 3, 3 * SCALES[level], 5 * SCALES[level])


def test_decoder_relu4_1_architecture_mirrors_vgg():
    layers = list(Decoder("relu4_1").layers)
    kinds = []
    for m in layers:
        if isinstance(m, torch.nn.Conv2d):
            assert m.kernel_size == (3, 3)
            kinds.append((m.in_channels, m.out_channels))
        elif isinstance(m, torch.nn.Upsample):
            assert m.mode == "nearest" and m.scale_factor == 2
            kinds.append("up")
        else:
            assert isinstance(m, torch.nn.ReLU)
    assert kinds == [
        (512, 256), "up", (256, 256), (256, 256), (256, 256), (256, 128), "up",
        (128, 128), (128, 64), "up", (64, 64), (64, 3),
    ]
    assert not isinstance(layers[-1], torch.nn.ReLU)  # a ReLU after every conv but the last
    assert sum(isinstance(m, torch.nn.ReLU) for m in layers) == 8
    assert [type(m).__name__ for m in Decoder("relu1_1").layers] == ["_ReflectConv2d"]


def test_decoder_pads_by_reflection():
    torch.manual_seed(11)
    decoder = Decoder("relu1_1")
    conv = decoder.layers[0]
    x = torch.randn(1, 64, 5, 6)
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias)
    torch.testing.assert_close(decoder(x), expected)
    assert Decoder("relu4_1", 0.25)(torch.randn(1, 512, 1, 1)).shape == (1, 3, 8, 8)  # 1×1 map


def test_decoder_arch_round_trip():
    torch.manual_seed(12)
    decoder = Decoder("conv3_1", 0.5)
    assert decoder.arch == {"level": "conv3_1", "width": 0.5} and decoder.level == "relu3_1"
    rebuilt = Decoder(**decoder.arch)
    rebuilt.load_state_dict(decoder.state_dict())
    x = torch.randn(1, 256, 4, 3)
    assert torch.equal(rebuilt(x), decoder(x))


@pytest.mark.parametrize("bad", ["relu5_1", "relu4_2", "pool1", 3])
def test_decoder_rejects_unsupported_levels(bad):
    with pytest.raises(AdaINError, match=repr(bad) if isinstance(bad, str) else "3"):
        Decoder(bad)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), True, "1"])
def test_decoder_rejects_bad_widths(bad):
    with pytest.raises(AdaINError, match="width"):
        Decoder("relu2_1", bad)


def test_decoder_rejects_wrong_feature_channels():
    with pytest.raises(AdaINError, match=r"\[B, 128, h, w\].*\(1, 64, 4, 4\)"):
        Decoder("relu2_1")(torch.randn(1, 64, 4, 4))


def test_each_level_decoder_returns_to_input_resolution(model: AdaIN):
    image = images(13, 1, 3, 40, 24)
    feats = model.encoder(image)
    for level in LEVELS:
        out = Decoder(level, 0.25)(feats[level])
        assert out.shape == image.shape, level


# ------------------------------------------------------------------------------------------
# stylize


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_stylize_equals_the_hand_assembled_pipeline(model: AdaIN, alpha: float):
    content, style = images(14, 1, 3, 32, 40), images(15, 1, 3, 24, 48)
    out = model.stylize(content, style, alpha=alpha)
    with torch.no_grad():
        fc = model.encoder(content)["relu4_1"]
        t = adaptive_instance_norm(fc, model.encoder(style)["relu4_1"])
        expected = model.decoder(alpha * t + (1 - alpha) * fc).clamp(0, 1)
        if alpha == 0.0:  # the identity-like path: the decoder of the content's own features
            torch.testing.assert_close(expected, model.decoder(fc).clamp(0, 1), rtol=0, atol=0)
    assert out.shape == content.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_stylize_odd_size_pads_by_reflection_and_crops(model: AdaIN):
    content, style = images(16, 1, 3, 37, 45), images(17, 1, 3, 30, 30)
    out = model.stylize(content, style)
    assert out.shape == (1, 3, 37, 45)
    assert 0.0 <= out.min() and out.max() <= 1.0
    padded = F.pad(content, (0, 3, 0, 3), mode="reflect")  # to 40 × 48
    with torch.no_grad():
        t = adaptive_instance_norm(model.encoder(padded)["relu4_1"], model.encoder(style)["relu4_1"])
        expected = model.decoder(t)[..., :37, :45].clamp(0, 1)
    torch.testing.assert_close(out, expected)


def test_style_interpolation(model: AdaIN):
    content = images(18, 1, 3, 32, 32)
    s1, s2 = images(19, 1, 3, 32, 32), images(20, 1, 3, 40, 24) * 0.5
    single = model.stylize(content, s1)
    torch.testing.assert_close(model.stylize(content, [s1, s2], style_weights=(1, 0)), single, rtol=0, atol=0)
    equal = model.stylize(content, [s1, s2])
    torch.testing.assert_close(model.stylize(content, [s1, s2], style_weights=[2.0, 2.0]), equal)
    with torch.no_grad():
        fc = model.encoder(content)["relu4_1"]
        t1 = adaptive_instance_norm(fc, model.encoder(s1)["relu4_1"])
        t2 = adaptive_instance_norm(fc, model.encoder(s2)["relu4_1"])
        expected = model.decoder(0.25 * t1 + 0.75 * t2).clamp(0, 1)
    torch.testing.assert_close(model.stylize(content, (s1, s2), style_weights=[1, 3]), expected)


def test_preserve_color_stylizes_with_the_recoloured_style(model: AdaIN):
    content, style = images(21, 1, 3, 32, 32), images(22, 1, 3, 32, 32) ** 3
    out = model.stylize(content, style, preserve_color=True)
    torch.testing.assert_close(out, model.stylize(content, match_color_histogram(style, content)))


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), True, "1"])
def test_stylize_rejects_alpha_out_of_range(model: AdaIN, alpha):
    with pytest.raises(AdaINError, match=r"alpha must be a number in \[0, 1\], got " + repr(alpha)):
        model.stylize(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), alpha=alpha)


def test_stylize_rejects_bad_weights_and_images(model: AdaIN):
    c, s = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with pytest.raises(AdaINError, match=r"3 entries for 2 style"):
        model.stylize(c, [s, s], style_weights=[1, 1, 1])
    with pytest.raises(AdaINError, match="1 entries for 2 style"):
        model.stylize(c, [s, s], style_weights=[1])
    with pytest.raises(AdaINError, match=r"-1"):
        model.stylize(c, [s, s], style_weights=[1, -1])
    with pytest.raises(AdaINError, match="all be zero"):
        model.stylize(c, [s, s], style_weights=[0, 0])
    with pytest.raises(AdaINError, match="at least one style"):
        model.stylize(c, [])
    with pytest.raises(AdaINError, match=r"content.*\(2, 3, 16, 16\)"):
        model.stylize(torch.rand(2, 3, 16, 16), s)
    with pytest.raises(AdaINError, match=r"style 1.*\(1, 1, 16, 16\)"):
        model.stylize(c, [s, torch.rand(1, 1, 16, 16)])


# ------------------------------------------------------------------------------------------
# training


def test_training_losses_keys_and_gradients_reach_only_the_decoder(model: AdaIN):
    trainee = copy.deepcopy(model)
    losses = trainee.training_losses(images(23, 2, 3, 36, 40), images(24, 1, 3, 32, 32))
    assert set(losses) == {"total", "content", "style"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    torch.testing.assert_close(losses["total"], losses["content"] + 10.0 * losses["style"])
    losses["total"].backward()
    assert all(p.grad is None and not p.requires_grad for p in trainee.encoder.parameters())
    grads = [p.grad for p in trainee.decoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_a_few_adam_steps_lower_the_loss(model: AdaIN):
    trainee = copy.deepcopy(model)
    content, style = images(25, 2, 3, 32, 32), images(26, 2, 3, 32, 32)
    optimizer = torch.optim.Adam(trainee.decoder.parameters(), lr=1e-3)
    totals = []
    for _ in range(6):
        losses = trainee.training_losses(content, style, style_weight=10.0)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        totals.append(losses["total"].item())
    assert totals[-1] < totals[0] * 0.99, totals


def test_model_layers_and_defaults(model: AdaIN):
    assert model.encoder.layers == list(STYLE_LAYERS) and model.level == "relu4_1"
    assert model.device == next(model.decoder.parameters()).device
    model.train()
    assert model.decoder.training and not model.encoder.training
    model.eval()
    with pytest.raises(AdaINError, match="Decoder"):
        AdaIN(torch.nn.Conv2d(1, 1, 1), weights="random")
