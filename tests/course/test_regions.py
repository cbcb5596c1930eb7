"""Region measurements against hand-checkable references (tiny images, random VGG weights)."""

import math

import pytest
import torch

from nstlib.core.features import VGGFeatures
from nstlib.core.losses import gram_matrix
from nstlib.course.regions import (
    blend_identity,
    correlation_length,
    ellipse_mask,
    radial_profile,
    style_distances,
)

LAYERS = ("conv1_1", "conv2_1")


@pytest.fixture(scope="module")
def vgg():
    return VGGFeatures(LAYERS, weights="random")


def test_ellipse_by_hand():
    m = ellipse_mask((4, 6), center=(0.5, 0.5), radii=(0.5, 0.5))
    # pixel centres at y = 1/8, 3/8, 5/8, 7/8 and x = 1/12, 3/12, …, 11/12; inside iff
    # (2y − 1)² + (2x − 1)² <= 1. Rows 0 and 3: (2y − 1)² = 9/16, so only (2x − 1)² <= 7/16, i.e.
    # x = 3/12 … 9/12 (1/4 <= 7/16, but 25/36 is not). Rows 1 and 2: 1/16 + 25/36 < 1, all inside.
    expected = torch.tensor([[0, 1, 1, 1, 1, 0],
                             [1, 1, 1, 1, 1, 1],
                             [1, 1, 1, 1, 1, 1],
                             [0, 1, 1, 1, 1, 0]], dtype=torch.float32)
    assert torch.equal(m, expected)
    assert m.dtype == torch.float32 and m.shape == (4, 6)


def test_ellipse_scales_with_the_image():
    small = ellipse_mask((30, 40), (0.4, 0.6), (0.3, 0.2))
    big = ellipse_mask((300, 400), (0.4, 0.6), (0.3, 0.2))
    assert abs(small.mean() - big.mean()) < 0.02
    assert abs(big.mean().item() - math.pi * 0.3 * 0.2) < 0.002  # area fraction π·ry·rx
    with pytest.raises(ValueError):
        ellipse_mask((10, 10), radii=(0.0, 0.2))


def test_style_distance_whole_image_is_the_style_loss(vgg):
    gen = torch.Generator().manual_seed(0)
    image, style = torch.rand(1, 3, 16, 16, generator=gen), torch.rand(1, 3, 24, 20, generator=gen)
    d = style_distances(image, [style, image], layers=LAYERS, extractor=vgg)
    fi, fs = vgg(image), vgg(style)
    expected = sum(((gram_matrix(fi[n]) - gram_matrix(fs[n])) ** 2).mean() for n in LAYERS)
    assert d.shape == (1, 2) and d.dtype == torch.float64
    assert torch.isclose(d[0, 0], expected.double(), rtol=1e-5)
    assert d[0, 1] < 1e-12  # an image is at distance 0 from itself


def test_each_region_is_closest_to_the_style_it_was_cut_from(vgg):
    gen = torch.Generator().manual_seed(1)
    smooth = torch.rand(1, 3, 4, 4, generator=gen).repeat_interleave(8, 2).repeat_interleave(8, 3)  # 32×32 blocks
    noisy = torch.rand(1, 3, 32, 32, generator=gen)
    left = torch.zeros(32, 32)
    left[:, :16] = 1
    image = torch.cat([smooth[..., :16], noisy[..., 16:]], dim=-1)
    d = style_distances(image, [smooth, noisy], torch.stack([left, 1 - left]), layers=LAYERS, extractor=vgg)
    assert d.shape == (2, 2)
    assert d[0, 0] < d[0, 1] and d[1, 1] < d[1, 0]
    with pytest.raises(ValueError, match="masks"):
        style_distances(image, [smooth], torch.ones(1, 8, 8), layers=LAYERS, extractor=vgg)


def test_radial_profile_by_hand():
    field = torch.zeros(5, 5)
    field[2, 2] = 4.0  # the centre
    field[1, 2] = field[3, 2] = field[2, 1] = field[2, 3] = 1.0  # the 4 neighbours at distance 1
    prof = radial_profile(field)
    # ring 1: the 4 neighbours (1 each) and the 4 diagonals (distance √2 rounds to 1, value 0)
    assert prof.tolist() == [4.0, 0.5]


def test_correlation_length_grows_with_blob_size():
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, 64, 64, generator=gen)
    blobs = {k: torch.rand(1, 3, 64 // k, 64 // k, generator=gen).repeat_interleave(k, 2).repeat_interleave(k, 3)
             for k in (1, 2, 4, 8)}
    lengths = [correlation_length(blobs[k]) for k in (1, 2, 4, 8)]
    assert lengths[0] < 1.0  # white noise is correlated only with itself
    assert all(a < b for a, b in zip(lengths, lengths[1:]))
    # k×k squares: the autocorrelation falls linearly to 0 at lag k, so to ½ at about k/2
    assert abs(lengths[3] - 4.0) < 1.5
    # subtracting a reference measures only the difference
    assert correlation_length(blobs[8] + 0.01 * noise, blobs[8]) < 1.0
    assert math.isnan(correlation_length(torch.full((1, 3, 8, 8), 0.5)))


def test_blend_identity():
    gen = torch.Generator().manual_seed(0)
    g, a, b = (torch.randn(6, 6, generator=gen) for _ in range(3))
    lhs, rhs, c = blend_identity(g, [a, b], [0.7, 0.3])
    assert abs(lhs - (rhs + c)) < 1e-12 and c >= 0
    # by hand: the constant is the weighted variance of the targets, w1·w2·mean((a − b)²)
    assert abs(c - 0.7 * 0.3 * ((a - b) ** 2).mean().item()) < 1e-6
    # unnormalised weights are normalised; a single target gives c = 0
    assert blend_identity(g, [a, b], [7, 3]) == pytest.approx((lhs, rhs, c))
    assert blend_identity(g, [a], [2.0])[2] == pytest.approx(0.0, abs=1e-12)

