"""Colour spaces, luminance-only transfer and colour histogram matching (Gatys et al. 2016)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nstlib.controls.color import (
    ColorError,
    apply_color_transform,
    color_matching_transform,
    luminance,
    luminance_only,
    match_color_histogram,
    match_luminance_stats,
    rgb_to_ycbcr,
    rgb_to_yiq,
    transfer_chrominance,
    ycbcr_to_rgb,
    yiq_to_rgb,
)

MODES = ("chol", "pca", "sym")


def pixel(r: float, g: float, b: float) -> torch.Tensor:
    return torch.tensor([r, g, b], dtype=torch.float64).view(1, 3, 1, 1)


def vec(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def mean_cov(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-image RGB mean [3] and population covariance [3, 3] of [1, 3, H, W], with numpy."""
    flat = x[0].reshape(3, -1).double().numpy()
    return flat.mean(axis=1), np.cov(flat, bias=True)


def sqrtm_psd(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(m)
    return vecs @ np.diag(np.sqrt(vals)) @ vecs.T


def numpy_match_color(style: np.ndarray, content: np.ndarray, mode: str, eps: float) -> np.ndarray:
    """An independent numpy version of Gatys' ``match_color`` on [3, H, W] arrays."""
    s, c = style.reshape(3, -1), content.reshape(3, -1)
    mu_s, mu_c = s.mean(axis=1, keepdims=True), c.mean(axis=1, keepdims=True)
    cov_s = np.cov(s, bias=True) + eps * np.eye(3)
    cov_c = np.cov(c, bias=True) + eps * np.eye(3)
    if mode == "chol":
        a = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    elif mode == "pca":
        a = sqrtm_psd(cov_c) @ np.linalg.inv(sqrtm_psd(cov_s))
    else:
        root_s = sqrtm_psd(cov_s)
        a = np.linalg.inv(root_s) @ sqrtm_psd(root_s @ cov_c @ root_s) @ np.linalg.inv(root_s)
    return np.clip((a @ (s - mu_s) + mu_c).reshape(style.shape), 0, 1)


# ----------------------------------------------------------------------------------------------
# colour spaces
# ----------------------------------------------------------------------------------------------


def test_yiq_and_ycbcr_round_trip():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, rtol=0, atol=1e-6)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, rtol=0, atol=1e-6)
    x32 = torch.rand(3, 6, 7)  # [3, H, W] and float32 work too
    assert rgb_to_yiq(x32).dtype == torch.float32 and rgb_to_yiq(x32).shape == (3, 6, 7)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x32)), x32, rtol=0, atol=1e-6)


def test_known_values():
    torch.testing.assert_close(rgb_to_yiq(pixel(1, 1, 1)).flatten(), vec(1.0, 0, 0))
    torch.testing.assert_close(rgb_to_yiq(pixel(0, 0, 0)).flatten(), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(
        rgb_to_yiq(pixel(1, 0, 0)).flatten(), vec(0.299, 0.595716, 0.211456)
    )
    torch.testing.assert_close(rgb_to_yiq(pixel(0, 1, 0))[0, 0].flatten(), vec(0.587))
    grey = rgb_to_yiq(pixel(0.3, 0.3, 0.3)).flatten()
    torch.testing.assert_close(grey, vec(0.3, 0, 0))
    # full-range YCbCr: chroma centred at 0.5; pure red has Cr = 1, pure blue Cb = 1
    torch.testing.assert_close(rgb_to_ycbcr(pixel(1, 1, 1)).flatten(), vec(1.0, 0.5, 0.5))
    torch.testing.assert_close(rgb_to_ycbcr(pixel(1, 0, 0))[0, [0, 2]].flatten(), vec(0.299, 1.0))
    torch.testing.assert_close(rgb_to_ycbcr(pixel(0, 0, 1))[0, [0, 1]].flatten(), vec(0.114, 1.0))
    torch.testing.assert_close(yiq_to_rgb(pixel(0.5, 0, 0)), pixel(0.5, 0.5, 0.5))


def test_luminance_and_luminance_only():
    torch.manual_seed(1)
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    y = luminance(x)
    assert y.shape == (2, 1, 4, 5)
    torch.testing.assert_close(y, 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:])
    torch.testing.assert_close(y, rgb_to_yiq(x)[:, :1])
    grey = luminance_only(x)
    assert grey.shape == x.shape
    for c in range(3):
        torch.testing.assert_close(grey[:, c : c + 1], y)
    torch.testing.assert_close(luminance_only(grey), grey)  # idempotent: the weights sum to 1
    torch.testing.assert_close(rgb_to_yiq(grey)[:, 1:], torch.zeros(2, 2, 4, 5, dtype=torch.float64))


# ----------------------------------------------------------------------------------------------
# luminance-only transfer
# ----------------------------------------------------------------------------------------------


def test_transfer_chrominance_takes_y_from_stylized_and_iq_from_content():
    torch.manual_seed(2)
    stylized = 0.3 + 0.4 * torch.rand(1, 3, 6, 7, dtype=torch.float64)
    content = 0.45 + 0.1 * torch.rand(1, 3, 6, 7, dtype=torch.float64)  # mid-grey-ish: no clamping
    out = transfer_chrominance(stylized, content)
    assert out.shape == stylized.shape and out.dtype == torch.float64
    assert out.min() > 0 and out.max() < 1  # the clamp did nothing
    yiq_out, yiq_s, yiq_c = rgb_to_yiq(out), rgb_to_yiq(stylized), rgb_to_yiq(content)
    torch.testing.assert_close(yiq_out[:, :1], yiq_s[:, :1], rtol=0, atol=1e-12)
    torch.testing.assert_close(yiq_out[:, 1:], yiq_c[:, 1:], rtol=0, atol=1e-12)
    # Y is the same in both spaces and grey has no chroma in either, so they agree:
    torch.testing.assert_close(transfer_chrominance(stylized, content, space="ycbcr"), out)
    torch.testing.assert_close(out, content + (luminance(stylized) - luminance(content)))


def test_transfer_chrominance_after_a_luminance_only_result_clamps_and_keeps_grads():
    torch.manual_seed(3)
    content = torch.rand(1, 3, 5, 5)
    grey = luminance_only(torch.rand(1, 3, 5, 5)).requires_grad_(True)
    out = transfer_chrominance(grey, content)
    assert out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1
    unclamped = (out > 0) & (out < 1)
    expected_y = luminance(grey.detach())
    keep = unclamped.all(1, keepdim=True)
    torch.testing.assert_close(luminance(out)[keep], expected_y[keep])
    out.sum().backward()
    assert grey.grad is not None


def test_transfer_chrominance_errors():
    a, b = torch.rand(1, 3, 4, 5), torch.rand(1, 3, 5, 4)
    with pytest.raises(ColorError, match=r"\(1, 3, 4, 5\).*\(1, 3, 5, 4\)"):
        transfer_chrominance(a, b)
    with pytest.raises(ColorError, match="space"):
        transfer_chrominance(a, a, space="lab")  # type: ignore[arg-type]
    with pytest.raises(ColorError, match=r"\(1, 4, 4, 5\)"):
        transfer_chrominance(torch.rand(1, 4, 4, 5), a)
    with pytest.raises(ColorError, match="uint8"):
        rgb_to_yiq(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))


def test_match_luminance_stats():
    torch.manual_seed(4)
    style_y = luminance(torch.rand(1, 3, 9, 11, dtype=torch.float64))
    content_y = luminance_only(0.2 + 0.3 * torch.rand(1, 3, 6, 5, dtype=torch.float64))  # other size
    out = match_luminance_stats(style_y, content_y)
    assert out.shape == style_y.shape
    torch.testing.assert_close(out.mean(), content_y.mean(), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.std(correction=0), content_y.std(correction=0), rtol=0, atol=1e-12)
    # an affine image of the style: same correlation with it
    corr = torch.corrcoef(torch.stack([out.flatten(), style_y.flatten()]))[0, 1]
    torch.testing.assert_close(corr, torch.tensor(1.0, dtype=torch.float64))
    flat = match_luminance_stats(torch.full((1, 1, 3, 3), 0.7), content_y.float())
    torch.testing.assert_close(flat, torch.full((1, 1, 3, 3), float(content_y.mean())))
    batch = match_luminance_stats(torch.rand(2, 1, 4, 4), content_y.float())  # content batch 1
    torch.testing.assert_close(batch.mean((1, 2, 3)), torch.full((2,), float(content_y.mean())))
    with pytest.raises(ColorError, match="batch"):
        match_luminance_stats(torch.rand(2, 1, 4, 4), torch.rand(3, 1, 4, 4))


# ----------------------------------------------------------------------------------------------
# colour histogram matching
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_affine_map_matches_mean_and_covariance_exactly(mode):
    torch.manual_seed(5)
    style = torch.rand(1, 3, 9, 11, dtype=torch.float64)
    mix = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], dtype=torch.float64)
    content = torch.einsum("ij,bjhw->bihw", mix, torch.rand(1, 3, 6, 5, dtype=torch.float64))  # other size
    a, b = color_matching_transform(style, content, mode=mode, eps=0.0)
    assert a.shape == (1, 3, 3) and b.shape == (1, 3) and a.dtype == torch.float64
    mapped = apply_color_transform(style, a, b, clamp=False)
    mu, cov = mean_cov(mapped)
    mu_c, cov_c = mean_cov(content)
    np.testing.assert_allclose(mu, mu_c, rtol=0, atol=1e-6)
    np.testing.assert_allclose(cov, cov_c, rtol=0, atol=1e-6)
    if mode == "sym":
        torch.testing.assert_close(a, a.transpose(1, 2), rtol=0, atol=0)


def test_chol_matrix_against_numpy_and_lower_triangular():
    torch.manual_seed(6)
    style = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    content = torch.rand(1, 3, 5, 7, dtype=torch.float64) ** 2
    a, b = color_matching_transform(style, content, mode="chol", eps=0.0)
    mu_s, cov_s = mean_cov(style)
    mu_c, cov_c = mean_cov(content)
    expected = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    np.testing.assert_allclose(a[0].numpy(), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b[0].numpy(), mu_c - expected @ mu_s, rtol=0, atol=1e-10)
    assert np.allclose(np.triu(a[0].numpy(), 1), 0)  # product of lower-triangular matrices


@pytest.mark.parametrize("mode", MODES)
def test_hand_computed_scaled_copy(mode):
    # content = 0.5·style + 0.2 has Σ_c = Σ_s / 4, so every mode gives A = I / 2 and b = 0.2.
    torch.manual_seed(7)
    style = torch.rand(1, 3, 6, 6, dtype=torch.float64)
    content = 0.5 * style + 0.2
    a, b = color_matching_transform(style, content, mode=mode, eps=0.0)
    torch.testing.assert_close(a[0], 0.5 * torch.eye(3, dtype=torch.float64), rtol=0, atol=1e-10)
    torch.testing.assert_close(b[0], torch.full((3,), 0.2, dtype=torch.float64), rtol=0, atol=1e-10)
    torch.testing.assert_close(match_color_histogram(style, content, mode=mode, eps=0.0), content)


@pytest.mark.parametrize("mode", MODES)
def test_match_color_histogram_against_numpy_reference_with_clamping(mode):
    torch.manual_seed(8)
    style = torch.rand(1, 3, 10, 9, dtype=torch.float64) ** 3  # dark and skewed: some pixels clamp
    content = torch.rand(1, 3, 7, 8, dtype=torch.float64)
    out = match_color_histogram(style, content, mode=mode)
    assert out.shape == style.shape and 0 <= out.min() and out.max() <= 1
    expected = numpy_match_color(style[0].numpy(), content[0].numpy(), mode, eps=1e-5)
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_unclamped_result_has_the_content_statistics(mode):
    torch.manual_seed(9)
    style = torch.rand(1, 3, 12, 10, dtype=torch.float64)
    content = 0.4 + 0.2 * torch.rand(1, 3, 5, 6, dtype=torch.float64)  # narrow: nothing clamps
    out = match_color_histogram(style, content, mode=mode, eps=0.0)
    assert out.min() > 0 and out.max() < 1
    for got, want in zip(mean_cov(out), mean_cov(content)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    # with the default ridge, the regularised covariances match exactly: A (Σ_s + εI) Aᵀ = Σ_c + εI
    eps = 1e-5
    a, _ = color_matching_transform(style, content, mode=mode, eps=eps)
    ridge = eps * torch.eye(3, dtype=torch.float64)
    cov_s, cov_c = (torch.from_numpy(mean_cov(x)[1]) + ridge for x in (style, content))
    torch.testing.assert_close(a[0] @ cov_s @ a[0].T, cov_c, rtol=0, atol=1e-12)


def test_batches_dtypes_and_greyscale_content():
    torch.manual_seed(10)
    style = torch.rand(2, 3, 6, 6)
    content = torch.rand(1, 3, 4, 5)
    out = match_color_histogram(style, content)
    assert out.shape == style.shape and out.dtype == torch.float32
    for i in range(2):  # the batch-1 content is used for every style image
        torch.testing.assert_close(out[i : i + 1], match_color_histogram(style[i : i + 1], content))
    # [3, H, W] inputs
    assert match_color_histogram(style[0], content[0]).shape == (3, 6, 6)
    # a grey content has a singular covariance: fine with the default ridge, the result is grey-ish
    grey = luminance_only(content)
    recoloured = match_color_histogram(style[:1], grey)
    assert (recoloured - luminance_only(recoloured)).abs().max() < 0.02
    with pytest.raises(ColorError, match="positive definite"):
        match_color_histogram(style[:1], grey, mode="chol", eps=0.0)
    for mode in MODES:  # a grey style cannot be inverted without the ridge
        with pytest.raises(ColorError, match="covariance of style is singular"):
            match_color_histogram(grey, style[:1], mode=mode, eps=0.0)
    flat = torch.full((1, 3, 4, 4), 0.5)
    with pytest.raises(ColorError, match="covariance of style is singular"):
        match_color_histogram(flat, content, eps=0.0)
    # a flat style (with the ridge) becomes flat at the content's mean colour
    expected = content.mean((2, 3), keepdim=True).expand(1, 3, 4, 4)
    torch.testing.assert_close(match_color_histogram(flat, content), expected)


def test_match_color_histogram_errors():
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ColorError, match="'lab'"):
        match_color_histogram(x, x, mode="lab")  # type: ignore[arg-type]
    with pytest.raises(ColorError, match="-1"):
        match_color_histogram(x, x, eps=-1.0)
    with pytest.raises(ColorError, match=r"\(1, 1, 4, 4\)"):
        match_color_histogram(torch.rand(1, 1, 4, 4), x)
    with pytest.raises(ColorError, match=r"batch 3.*batch 2"):
        match_color_histogram(torch.rand(2, 3, 4, 4), torch.rand(3, 3, 4, 4))
