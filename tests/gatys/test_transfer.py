"""The Gatys optimiser end to end at 64 px, its Config, and how it ends (Ctrl-C, NaN)."""

import math

import pytest
import torch

from nstlib.core.config import PRESETS, Config
from nstlib.core.devices import resolve_device
from nstlib.core.errors import ConfigError
from nstlib.gatys.transfer import stylize, StylizeInterrupted

SEED_CONFIG = {
    "image_size": 512,
    "style_weight": 1e6,
    "content_weight": 1,
    "tv_weight": 1e-6,
    "num_steps": 300,
    "learning_rate": 0.01,
}


@pytest.fixture(scope="module")
def pair():
    """A smooth 'photo' and a striped 'style', 64 px, deterministic."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    content = torch.stack([x, y, 0.5 * (x + y)]).unsqueeze(0)
    stripes = (torch.sin(x * 40 + y * 10) > 0).float()
    style = torch.stack([stripes, 0.2 + 0.6 * (1 - stripes), 0.3 * stripes + 0.5]).unsqueeze(0)
    return content, style


def test_config_defaults_are_the_seeds_and_accepts_its_dict():
    c = Config()
    assert (c.image_size, c.style_weight, c.content_weight, c.tv_weight, c.num_steps, c.learning_rate) == (
        512, 1e6, 1.0, 1e-6, 300, 0.01)
    assert (c.optimizer, c.init, c.weights) == ("lbfgs", "content", "caffe")
    assert Config.from_dict(SEED_CONFIG) == c
    assert Config.from_dict({**SEED_CONFIG, "content_path": "a.jpg", "output_path": "b.png"}) == c
    with pytest.raises(ConfigError, match="did you mean 'num_steps'"):
        Config.from_dict({"num_step": 10})


def test_presets():
    assert Config.preset("high_style").style_weight == 1e7
    b = Config.preset("balanced")
    assert (b.content_weight, b.style_weight) == (1.0, 1e6)
    h = Config.preset("high_content", num_steps=5)
    assert (h.content_weight, h.style_weight, h.num_steps) == (10.0, 1e5, 5)
    assert set(PRESETS) == {"high_style", "balanced", "high_content"}
    with pytest.raises(ConfigError, match="preset"):
        Config.preset("wild")


@pytest.mark.parametrize(
    "field,value",
    [
        ("style_weight", -1.0), ("content_weight", math.nan), ("tv_weight", math.inf),
        ("image_size", 0), ("image_size", -5), ("num_steps", 0), ("num_steps", 2.5),
        ("learning_rate", 0.0), ("learning_rate", math.nan), ("optimizer", "sgd"), ("init", "zeros"),
    ],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        Config(**{field: value})


def test_zero_weights_and_bad_layers():
    Config(content_weight=0)  # texture synthesis: style only
    with pytest.raises(ConfigError, match="both 0"):
        Config(content_weight=0, style_weight=0)
    with pytest.raises(ConfigError, match="conv9_9"):
        Config(style_layers=("conv9_9",))
    with pytest.raises(ConfigError, match="not in style_layers"):
        Config(style_layer_weights={"conv4_2": 2.0})


def test_device_resolution():
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu9")


@pytest.mark.parametrize("optimizer,steps,drop", [("lbfgs", 40, 20.0), ("adam", 40, 3.0)])
def test_end_to_end_loss_falls_and_is_reproducible(pair, optimizer, steps, drop):
    content, style = pair
    cfg = Config(num_steps=steps, optimizer=optimizer, learning_rate=0.05, device="cpu")
    a = stylize(content, style, cfg, progress=False)
    assert a.status == "done" and a.evaluations == steps
    assert len(a.history["total"]) == steps and len(a.history["style/conv3_1"]) == steps
    assert a.image.shape == content.shape and a.image.min() >= 0 and a.image.max() <= 1
    first, best = a.history["total"][0], a.final_loss
    assert best == min(a.history["total"])
    assert first / best > drop, f"{optimizer}: {first:.4g} -> {best:.4g}"
    for i, total in enumerate(a.history["total"]):
        parts = a.history["content"][i] + a.history["style"][i] + a.history["tv"][i]
        assert math.isclose(total, parts, rel_tol=1e-4)
    b = stylize(content, style, cfg, progress=False)
    assert torch.equal(a.image, b.image)
    assert a.history["total"] == b.history["total"]


def test_inits_and_noise_seed(pair):
    content, style = pair
    for init in ("noise", "style"):
        r = stylize(content, style, num_steps=2, init=init, progress=False, device="cpu")
        assert r.image.shape == content.shape
    n1 = stylize(content, style, num_steps=1, init="noise", seed=1, progress=False, device="cpu")
    n2 = stylize(content, style, num_steps=1, init="noise", seed=2, progress=False, device="cpu")
    assert not torch.equal(n1.image, n2.image)


def test_callback_sees_every_step(pair):
    content, style = pair
    seen = []
    stylize(content, style, num_steps=5, progress=False, device="cpu",
            callback=lambda info: seen.append((info.step, info.num_steps, info.image.shape)))
    assert seen == [(i, 5, content.shape) for i in range(1, 6)]


def test_nonfinite_loss_stops_and_keeps_best(pair):
    content, style = pair

    def poison(info):
        if info.step == 4:
            info.image.fill_(math.nan)  # the image the optimiser is working on

    with pytest.warns(RuntimeWarning, match="step 5"):
        r = stylize(content, style, num_steps=20, optimizer="adam", callback=poison, progress=False, device="cpu")
    assert r.status == "nonfinite" and r.evaluations == 4
    assert "at step 5" in r.message
    assert torch.isfinite(r.image).all()
    assert r.best_step <= 4 and r.final_loss == min(r.history["total"])


def test_ctrl_c_returns_best_image(pair):
    content, style = pair

    def interrupt(info):
        if info.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(StylizeInterrupted) as stop:
        stylize(content, style, num_steps=20, callback=interrupt, progress=False, device="cpu")
    result = stop.value.result
    assert result.status == "interrupted" and result.evaluations == 3
    assert torch.isfinite(result.image).all() and result.best_step >= 1


def test_too_small_image_is_refused(pair):
    content, style = pair
    with pytest.raises(ConfigError, match="content image is 8×8 px.*16 px"):
        stylize(content[..., :8, :8], style, num_steps=1, progress=False, device="cpu")
    # without conv5_1 the limit is lower
    r = stylize(content[..., :8, :8], style, num_steps=1, progress=False, device="cpu",
                style_layers=("conv1_1", "conv2_1"), content_layers=("conv2_2",))
    assert r.image.shape[-2:] == (8, 8)


def test_init_image_is_a_warm_start(pair):
    content, style = pair
    first = stylize(content, style, num_steps=30, progress=False, device="cpu")
    again = stylize(content, style, num_steps=1, init_image=first.image, progress=False, device="cpu")
    # the warm start begins where the first run ended, far below the content image's loss
    assert again.history["total"][0] == pytest.approx(min(first.history["total"]), rel=0.05)
    assert again.history["total"][0] < 0.5 * first.history["total"][0]
    # a smaller start is resized to the working size; a bad shape names the argument
    small = torch.nn.functional.interpolate(first.image, size=(32, 32), mode="bilinear")
    assert stylize(content, style, num_steps=1, init_image=small, progress=False).image.shape == content.shape
    with pytest.raises(ConfigError, match="init image"):
        stylize(content, style, num_steps=1, init_image=torch.zeros(1, 1, 8, 8), progress=False)


def test_extra_losses_join_the_total_and_the_history(pair):
    content, style = pair
    target = torch.full_like(content, 0.5)
    plain = stylize(content, style, num_steps=1, progress=False, device="cpu")
    pulled = stylize(content, style, num_steps=1, progress=False, device="cpu",
                     extra_losses={"pull": lambda x: 1e3 * (x - target).pow(2).mean()})
    first = pulled.history
    # the first evaluation is at the content image: the extra term is its known value, added to the total
    assert first["pull"][0] == pytest.approx(1e3 * (content - 0.5).pow(2).mean().item(), rel=1e-5)
    assert first["total"][0] == pytest.approx(plain.history["total"][0] + first["pull"][0], rel=1e-5)
    with pytest.raises(ConfigError, match="'style' is taken"):
        stylize(content, style, num_steps=1, progress=False, extra_losses={"style": lambda x: x.sum()})
    with pytest.raises(ConfigError, match="do not combine with scales"):
        stylize(content, style, num_steps=2, progress=False, scales=(32, 64), extra_losses={"a": lambda x: x.sum()})
