"""The advanced controls of ``stylize``: several styles, style scale, colour, scales, masks, photo term.

Each test compares an option against an equivalent run that is built by hand, so that the
option's wiring is checked exactly rather than by eye. Images are tiny and the layers stop at
conv3_1 so that 24 px images are deep enough.
"""

from __future__ import annotations

import pytest
import torch

from nstlib.controls import color
from nstlib.core.images import resize
from nstlib.core.losses import gram_matrix, style_loss
from nstlib.core.config import Config
from nstlib.core.errors import ConfigError
from nstlib.gatys.transfer import stylize

LAYERS = dict(content_layers=("conv2_2",), style_layers=("conv1_1", "conv2_1", "conv3_1"))


def small(**changes) -> Config:
    return Config(num_steps=4, device="cpu", weights="random", **LAYERS).replace(**changes)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 24, 32, generator=g) * 0.6 + 0.2  # away from 0 and 1: no clamping
    style_a = torch.rand(1, 3, 32, 32, generator=g)
    style_b = torch.rand(1, 3, 40, 28, generator=g).pow(2)
    return content, style_a, style_b


def run(content, style, cfg, **kw):
    return stylize(content, style, cfg, progress=False, **kw)


def test_weighted_style_losses_and_blended_gram_have_the_same_gradient():
    # Σ_k w_k ||G - G_k||² = ||G - Σ_k w_k G_k||² + const when Σ w_k = 1: blending Gram matrices is exact
    g = torch.Generator().manual_seed(1)
    feats = torch.rand(1, 8, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    targets = [gram_matrix(torch.rand(1, 8, 7, 4, generator=g, dtype=torch.float64)) for _ in range(3)]
    w = [0.5, 0.3, 0.2]
    summed = sum(wk * style_loss(feats, t) for wk, t in zip(w, targets))
    blended = style_loss(feats, sum(wk * t for wk, t in zip(w, targets)))
    (g1,) = torch.autograd.grad(summed, feats)
    (g2,) = torch.autograd.grad(blended, feats)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-15)


def test_style_blend_one_zero_is_the_first_style(images):
    content, a, b = images
    alone = run(content, a, small())
    blended = run(content, [a, b], small(style_blend=(2.0, 0.0)))
    assert blended.history["total"] == alone.history["total"]
    assert torch.equal(blended.image, alone.image)


def test_style_blend_half_half_lies_between(images):
    content, a, b = images
    only_a, only_b = run(content, a, small()), run(content, b, small())
    mix = run(content, [a, b], small(style_blend=(1, 1)))
    # step 1 is the content image in every run: its style loss to the 50/50 target lies between
    s = [r.history["style"][0] for r in (only_a, mix, only_b)]
    assert min(s[0], s[2]) * 0.25 <= s[1] <= max(s[0], s[2])
    assert s[1] not in (s[0], s[2])


def test_style_blend_errors(images):
    content, a, b = images
    with pytest.raises(ConfigError, match="2 weights for 3 style images"):
        run(content, [a, b, a], small(style_blend=(1, 1)))
    with pytest.raises(ConfigError, match="style_blend"):
        small(style_blend=(0, 0))
    with pytest.raises(ConfigError, match="style_blend"):
        small(style_blend=(1, -1))


def test_style_scale_resizes_the_style_relative_to_the_output(images):
    content, a, _ = images
    scaled = run(content, a, small(style_scale=0.5))
    by_hand = run(content, resize(a, 16), small())  # content's longer side is 32
    assert scaled.history["total"] == by_hand.history["total"]
    with pytest.raises(ConfigError, match="style_scale"):
        small(style_scale=0)


def test_luminance_only_keeps_the_content_chrominance(images):
    content, a, _ = images
    r = run(content, a, small(preserve_color="luminance", num_steps=6))
    out_yiq, content_yiq = color.rgb_to_yiq(r.image), color.rgb_to_yiq(content)
    inside = ((r.image > 0.001) & (r.image < 0.999)).all(dim=1, keepdim=True).expand_as(out_yiq)
    assert inside[:, 0].float().mean() > 0.9  # the comparison covers most pixels
    torch.testing.assert_close(out_yiq[:, 1:][inside[:, 1:]], content_yiq[:, 1:][inside[:, 1:]], atol=1e-5, rtol=0)
    # ... while the luminance did change
    assert (out_yiq[:, 0] - content_yiq[:, 0]).abs().mean() > 1e-3


def test_histogram_matching_is_applied_to_the_style(images):
    content, a, _ = images
    r = run(content, a, small(preserve_color="histogram"))
    by_hand = run(content, color.match_color_histogram(a, content), small())
    assert r.history["total"] == by_hand.history["total"]


def test_scales_split_the_steps_and_end_at_the_last_size(images):
    content, a, _ = images
    r = run(content, a, small(scales=(24, 48), num_steps=7))
    assert r.image.shape == (1, 3, 36, 48)
    assert r.history["size"] == [24.0] * 3 + [48.0] * 4
    assert r.evaluations == 7 and len(r.history["total"]) == 7
    assert r.best_step > 3  # the best image is one of the last scale
    assert r.final_loss == min(r.history["total"][3:])
    with pytest.raises(ConfigError, match="increasing"):
        small(scales=(64, 32))
    with pytest.raises(ConfigError, match="one per scale"):
        small(scales=(24, 32, 48), num_steps=2)


def test_scales_continue_from_the_coarse_result(images):
    content, a, _ = images
    seen = []
    r = stylize(content, a, small(scales=(24, 48), num_steps=8), lambda info: seen.append(info.image.clone()),
                progress=False)
    coarse = r.history["total"][:4]
    best_coarse = seen[coarse.index(min(coarse))]
    assert best_coarse.shape[-1] == 24 and seen[4].shape[-1] == 48
    # the first evaluation at 48 px is the best 24 px image, upsampled (bicubic, clamped to [0, 1])
    up = torch.nn.functional.interpolate(best_coarse, size=seen[4].shape[-2:], mode="bicubic",
                                         align_corners=False).clamp(0, 1)
    torch.testing.assert_close(seen[4], up)


def test_one_region_mask_equals_no_mask(images):
    content, a, _ = images
    plain = run(content, a, small())
    masked = run(content, a, small(), masks=torch.ones(1, 24, 32))
    torch.testing.assert_close(torch.tensor(masked.history["total"]), torch.tensor(plain.history["total"]),
                               rtol=1e-5, atol=0)


def test_unstylised_region_has_no_style_gradient(images):
    content, a, b = images
    left = torch.zeros(2, 24, 32)
    left[0, :, :16], left[1, :, 16:] = 1, 1
    both_none = run(content, [a, b], small(), masks=left, region_styles=[None, None])
    assert max(both_none.history["style"]) == 0  # no region is stylised: no style term at all
    one = run(content, [a, b], small(), masks=left, region_styles=[0, None])
    assert one.history["style"][0] > 0


def test_mask_errors(images):
    content, a, b = images
    two = torch.ones(2, 24, 32) / 2
    with pytest.raises(ConfigError, match="2 regions but 1 style"):
        run(content, a, small(), masks=two)
    with pytest.raises(ConfigError, match="region_styles needs masks"):
        run(content, a, small(), region_styles=[0])
    with pytest.raises(ConfigError, match="do not combine"):
        run(content, [a, b], small(style_blend=(1, 1)), masks=two)
    with pytest.raises(ConfigError, match="style index"):
        run(content, [a, b], small(), masks=two, region_styles=[0, 5])
    with pytest.raises(ConfigError, match="24"):
        run(content, [a, b], small(), masks=torch.ones(2, 10, 10))


def test_photo_term_is_recorded_and_near_zero_for_the_content_itself(images):
    from nstlib.controls.photoreal import matting_laplacian, photorealism_loss

    content, a, _ = images
    r = run(content, a, small(photo_weight=100.0))
    photo = r.history["photo"]
    assert len(photo) == 4 and all(v >= 0 for v in photo)
    lap = matting_laplacian(content)
    # step 1 evaluates the content image itself: the term is λ · Σ_c v_cᵀ L v_c of the content
    assert photo[0] == pytest.approx(100.0 * photorealism_loss(content, lap).item(), rel=1e-4)
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(3))
    assert photorealism_loss(content, lap) < 1e-4 * photorealism_loss(noise, lap)  # locally affine: ~0
    assert "photo" not in run(content, a, small()).history


class _StopsEarly(torch.optim.LBFGS):
    """An L-BFGS whose step returns after 3 evaluations, as when its line search finds no step."""

    calls = 0

    def step(self, closure):  # noqa: D102
        type(self).calls += 1
        if type(self).calls == 1:
            for _ in range(3):
                closure()
            return None
        return super().step(closure)


class _Stuck(torch.optim.LBFGS):
    """An L-BFGS that never moves the image: every call evaluates the same point twice."""

    def step(self, closure):  # noqa: D102
        closure()
        closure()
        return None


def test_lbfgs_is_restarted_after_an_early_stop_and_spends_the_budget(images, monkeypatch):
    content, a, _ = images
    _StopsEarly.calls = 0
    monkeypatch.setattr(torch.optim, "LBFGS", _StopsEarly)
    r = run(content, a, small(num_steps=9))
    assert _StopsEarly.calls == 2 and r.evaluations == 9 and len(r.history["total"]) == 9
    assert r.status == "done"


def test_lbfgs_stops_on_a_plateau(images, monkeypatch):
    content, a, _ = images
    monkeypatch.setattr(torch.optim, "LBFGS", _Stuck)
    r = run(content, a, small(num_steps=9))
    # call 1 improves on nothing-yet, the restart brings no improvement: stop after 4 evaluations
    assert r.evaluations == 4 and r.status == "done"
