"""nstlib.course.colorlab: chroma and colour-moment distances, and the local affine cost of Levin et al."""

import math

import pytest
import torch

from nstlib.controls.color import ColorError
from nstlib.course.colorlab import chroma_difference, color_moments, local_affine_cost, moment_distance
from nstlib.controls.photoreal import matting_laplacian


def test_chroma_difference_of_red_against_grey_is_the_yiq_chroma_of_red():
    grey = torch.full((1, 3, 2, 2), 0.5)
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    # I and Q of (1, 0, 0) are the first column of the YIQ matrix; grey has I = Q = 0.
    assert torch.allclose(chroma_difference(red, grey), torch.tensor([0.595716, 0.211456], dtype=torch.float64))
    assert chroma_difference(grey, grey).abs().max() == 0


def test_chroma_difference_ignores_luminance():
    dark, light = torch.full((3, 4, 4), 0.2), torch.full((3, 4, 4), 0.9)  # two greys: no chroma at all
    assert chroma_difference(dark, light).abs().max() < 1e-12


def test_chroma_difference_needs_equal_shapes():
    with pytest.raises(ColorError, match="same shape"):
        chroma_difference(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))


def test_color_moments_of_half_black_half_white():
    img = torch.zeros(1, 3, 2, 4)
    img[..., 2:] = 1.0
    mean, cov = color_moments(img)
    assert torch.equal(mean, torch.full((3,), 0.5, dtype=torch.float64))
    assert torch.equal(cov, torch.full((3, 3), 0.25, dtype=torch.float64))  # population covariance


def test_moment_distance_of_a_shift():
    img = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert moment_distance(img, img) == (0.0, 0.0)
    mean_d, cov_d = moment_distance(img + 0.1, img)  # a shift moves the mean, not the covariance
    assert mean_d == pytest.approx(0.1 * math.sqrt(3))
    assert cov_d < 1e-6
    _, cov_d = moment_distance(2 * img, img)  # doubling the spread quadruples the covariance
    assert cov_d == pytest.approx(3.0)


def test_local_affine_cost_of_one_flat_window_is_the_variance():
    content = torch.full((1, 3, 3, 3), 0.4)  # flat: the ridge pins the slope at 0, only b fits
    output = torch.arange(9.0).view(1, 1, 3, 3) / 8
    assert local_affine_cost(output, content) == pytest.approx(sum((i - 4) ** 2 for i in range(9)) / 64)


def test_local_affine_cost_of_an_affine_output_is_zero_without_ridge():
    content = torch.rand(1, 3, 5, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    output = 2 * content[:, :1] - content[:, 1:2] + 0.5 * content[:, 2:] + 0.3
    assert local_affine_cost(output, content, eps=0.0) < 1e-20


def test_local_affine_cost_equals_the_laplacian_quadratic_form():
    gen = torch.Generator().manual_seed(2)
    content = torch.rand(1, 3, 6, 7, generator=gen, dtype=torch.float64)
    output = torch.rand(1, 3, 6, 7, generator=gen, dtype=torch.float64)
    for eps in (1e-7, 1e-2):
        lap = matting_laplacian(content, eps=eps).to_dense()
        v = output[0].reshape(3, -1).T  # [N, 3]
        quadratic = (v * (lap @ v)).sum().item()
        assert local_affine_cost(output, content, eps=eps) == pytest.approx(quadratic, rel=1e-9)


def test_local_affine_cost_rejects_mismatched_sizes():
    with pytest.raises(ColorError, match="same size"):
        local_affine_cost(torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 6))
