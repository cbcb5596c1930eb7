import math

import pytest
import torch

from nstlib import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.course.reconstruct import is_increasing, layer_errors, mse, psnr, tv_gradient, tv_per_pixel


def naive_tv_gradient(x: torch.Tensor) -> torch.Tensor:
    """2 · Σ over the 4-neighbourhood of (x[p] − x[q]), with loops."""
    b, c, h, w = x.shape
    g = torch.zeros_like(x)
    for i in range(h):
        for j in range(w):
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                qi, qj = i + di, j + dj
                if 0 <= qi < h and 0 <= qj < w:
                    g[:, :, i, j] += 2 * (x[:, :, i, j] - x[:, :, qi, qj])
    return g


def autograd_tv_gradient(x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(tv_loss(x), x)
    return g


# --- pixel errors -----------------------------------------------------------------------------


def test_mse_and_psnr_known_values():
    a = torch.zeros(1, 3, 4, 4)
    b = torch.full((1, 3, 4, 4), 0.1)
    assert mse(a, b) == pytest.approx(0.01)
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, a) == math.inf
    assert psnr(a, b, peak=255.0) == pytest.approx(20.0 + 20 * math.log10(255.0))


def test_mse_accepts_chw_and_rejects_mismatched_shapes():
    a = torch.rand(3, 5, 6)
    assert mse(a, a.unsqueeze(0)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        mse(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))


# --- total variation ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 1, 1, 6), (1, 2, 4, 1), (1, 1, 1, 1)])
def test_tv_gradient_matches_autograd_and_loops(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    g = tv_gradient(x)
    assert g.shape == x.shape
    torch.testing.assert_close(g, autograd_tv_gradient(x))
    torch.testing.assert_close(g, naive_tv_gradient(x))


def test_tv_gradient_of_a_single_bright_pixel():
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0
    assert tv_loss(x).item() == 4.0  # four differences of size 1
    expected = torch.tensor([[0.0, -2.0, 0.0], [-2.0, 8.0, -2.0], [0.0, -2.0, 0.0]])
    torch.testing.assert_close(tv_gradient(x)[0, 0], expected)


def test_tv_gradient_is_zero_on_constants_and_sums_to_zero():
    torch.testing.assert_close(tv_gradient(torch.full((1, 3, 4, 5), 0.7)), torch.zeros(1, 3, 4, 5))
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    # TV only sees differences, so adding a constant changes nothing: the gradient sums to 0.
    assert tv_gradient(x).sum(dim=(2, 3)).abs().max() < 1e-12


def test_tv_gradient_descent_reduces_tv():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = x - 0.05 * tv_gradient(x)
    assert tv_loss(y) < 0.5 * tv_loss(x)


def test_tv_gradient_rejects_3d_input():
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        tv_gradient(torch.rand(3, 4, 4))


def test_tv_per_pixel_of_noise_and_constant():
    noise = torch.rand(1, 3, 200, 200, generator=torch.Generator().manual_seed(0))
    # each value starts ~2 differences, E[(u - v)^2] = 1/6 for independent uniforms
    assert tv_per_pixel(noise) == pytest.approx(1 / 3, rel=0.02)
    assert tv_per_pixel(torch.full((3, 8, 8), 0.5)) == 0.0


# --- per-layer errors ----------------------------------------------------------------------------

LAYERS = ("conv1_1", "conv2_1", "conv3_1")


def test_layer_errors_shape_and_zero_for_the_target_itself():
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 32, 32, generator=gen)
    other = torch.rand(1, 3, 32, 32, generator=gen)
    errs = layer_errors([target, other], target, LAYERS, weights="random")
    assert errs.shape == (2, 3) and errs.dtype == torch.float64
    assert torch.all(errs[0] == 0)
    assert torch.all(errs[1] > 0)


def test_layer_errors_agree_with_the_loss_functions():
    from nstlib.core.features import get_extractor

    gen = torch.Generator().manual_seed(2)
    target, image = torch.rand(1, 3, 24, 24, generator=gen), torch.rand(1, 3, 24, 24, generator=gen)
    ext = get_extractor(LAYERS, "random", "max", "cpu", 0)
    ft, fi = ext(target), ext(image)
    content = layer_errors([image], target, LAYERS, relative=False, weights="random")[0]
    style = layer_errors([image], target, LAYERS, kind="style", relative=False, weights="random")[0]
    rel = layer_errors([image], target, LAYERS, kind="style", weights="random")[0]
    for j, n in enumerate(LAYERS):
        assert content[j].item() == pytest.approx(content_loss(fi[n], ft[n]).item(), rel=1e-5)
        a = gram_matrix(ft[n])
        assert style[j].item() == pytest.approx(style_loss(fi[n], a).item(), rel=1e-5)
        assert rel[j].item() == pytest.approx(style[j].item() / a.pow(2).mean().item(), rel=1e-5)


def test_style_errors_ignore_position_content_errors_do_not():
    gen = torch.Generator().manual_seed(3)
    target = torch.rand(1, 3, 32, 32, generator=gen)
    shifted = torch.roll(target, shifts=(11, 7), dims=(2, 3))
    content = layer_errors([shifted], target, LAYERS, weights="random")[0]
    style = layer_errors([shifted], target, LAYERS, kind="style", weights="random")[0]
    assert torch.all(content > 0.1)  # the features moved
    assert torch.all(style < 0.05 * content)  # their statistics did not (up to the border)


def test_style_errors_accept_other_sizes_and_reject_bad_kind():
    gen = torch.Generator().manual_seed(4)
    errs = layer_errors([torch.rand(1, 3, 20, 28, generator=gen)], torch.rand(1, 3, 32, 32, generator=gen),
                        LAYERS, kind="style", weights="random")
    assert errs.shape == (1, 3) and torch.all(errs > 0)
    with pytest.raises(ValueError, match="kind"):
        layer_errors([], torch.rand(1, 3, 8, 8), LAYERS, kind="gram", weights="random")


# --- trend checks ------------------------------------------------------------------------------


def test_is_increasing():
    assert is_increasing([1, 2, 3])
    assert is_increasing([1, 1, 1])
    assert not is_increasing([1, 2, 1.95])
    assert is_increasing([1, 2, 1.95, 4], rel_tol=0.05)
    assert not is_increasing([1, 2, 1.5], rel_tol=0.05)
    assert is_increasing([]) and is_increasing([3.0])
