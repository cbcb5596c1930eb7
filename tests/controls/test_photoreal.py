"""The matting Laplacian against a naive loop over windows, its algebraic properties, and the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from nstlib.controls.photoreal import (
    PhotorealismError,
    PhotorealismLoss,
    make_photorealism_loss,
    matting_laplacian,
    photorealism_loss,
)


def naive_laplacian(image: np.ndarray, eps: float, radius: int = 1) -> np.ndarray:
    """Levin et al. 2008, eq. 12, one window at a time. ``image`` is [C, H, W]; pixels y·W + x."""
    c, h, w = image.shape
    n, m = h * w, (2 * radius + 1) ** 2
    lap = np.zeros((n, n))
    for y in range(radius, h - radius):
        for x in range(radius, w - radius):
            span = range(-radius, radius + 1)
            inds = [(y + dy) * w + (x + dx) for dy in span for dx in span]
            colours = np.stack([image[:, i // w, i % w] for i in inds])  # [m, C]
            mu = colours.mean(axis=0)
            cov = (colours - mu).T @ (colours - mu) / m
            inv = np.linalg.inv(cov + eps / m * np.eye(c))
            for a, i in enumerate(inds):
                for b, j in enumerate(inds):
                    affinity = (1.0 + (colours[a] - mu) @ inv @ (colours[b] - mu)) / m
                    lap[i, j] += (1.0 if i == j else 0.0) - affinity
    return lap


def test_matches_naive_reference_on_a_tiny_image():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    image[0, :, :3, :3] = 0.5  # a flat window: its covariance is only the ε ridge
    for eps in (1e-7, 1e-3):
        lap = matting_laplacian(image, eps=eps)
        assert lap.is_sparse and lap.is_coalesced() and lap.dtype == torch.float64
        assert lap.shape == (30, 30)
        expected = torch.from_numpy(naive_laplacian(image[0].numpy(), eps))
        torch.testing.assert_close(lap.to_dense(), expected, rtol=0, atol=1e-8)


def test_matches_naive_reference_for_radius_2_and_one_channel():
    torch.manual_seed(1)
    image = torch.rand(3, 7, 6, dtype=torch.float64)
    expected = torch.from_numpy(naive_laplacian(image.numpy(), 1e-5, radius=2))
    lap = matting_laplacian(image, eps=1e-5, radius=2)
    torch.testing.assert_close(lap.to_dense(), expected, rtol=0, atol=1e-8)
    grey = image[:1]
    expected = torch.from_numpy(naive_laplacian(grey.numpy(), 1e-5))
    torch.testing.assert_close(matting_laplacian(grey, eps=1e-5).to_dense(), expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("size", [(3, 3), (7, 4), (4, 9), (5, 6)])
def test_narrow_images_and_truly_coalesced_indices(size):
    # For W ≤ 4r the band's columns are not ascending within a row and the code coalesces.
    h, w = size
    torch.manual_seed(h * w)
    image = torch.rand(3, h, w, dtype=torch.float64)
    lap = matting_laplacian(image)
    expected = torch.from_numpy(naive_laplacian(image.numpy(), 1e-7))
    torch.testing.assert_close(lap.to_dense(), expected, rtol=0, atol=1e-8)
    resorted = torch.sparse_coo_tensor(lap.indices(), lap.values(), lap.shape, check_invariants=True)
    resorted = resorted.coalesce()
    assert lap.is_coalesced() and torch.equal(resorted.indices(), lap.indices())


def test_symmetric_rows_sum_to_zero_and_positive_semidefinite():
    torch.manual_seed(2)
    image = torch.rand(1, 3, 7, 8, dtype=torch.float64)
    dense = matting_laplacian(image).to_dense()
    torch.testing.assert_close(dense, dense.T, rtol=0, atol=1e-10)
    ones = torch.ones(56, dtype=torch.float64)
    torch.testing.assert_close(dense @ ones, torch.zeros_like(ones), rtol=0, atol=1e-9)
    assert torch.linalg.eigvalsh(dense).min() >= -1e-8


def test_nonzero_count_is_the_25_point_stencil():
    # Pixels i, j share a 3×3 window iff both are within one step of a common interior centre.
    image = torch.rand(1, 3, 9, 10, dtype=torch.float64)
    dense = matting_laplacian(image, eps=1e-3).to_dense()
    ys, xs = torch.meshgrid(torch.arange(9), torch.arange(10), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    cy = torch.arange(1, 8)
    cx = torch.arange(1, 9)
    near_y = (ys[:, None] - cy[None, :]).abs() <= 1  # [N, centres_y]
    near_x = (xs[:, None] - cx[None, :]).abs() <= 1
    share = ((near_y.double() @ near_y.double().T) > 0) & ((near_x.double() @ near_x.double().T) > 0)
    assert torch.equal(dense != 0, share)
    assert matting_laplacian(image, eps=1e-3)._nnz() == int(share.sum())


def test_affine_function_of_the_content_costs_almost_nothing():
    # Levin: vᵀ L v = min over per-window (a_k, b_k) of Σ_k Σ_i (v_i − a_kᵀ I_i − b_k)² + ε ‖a_k‖²,
    # so v = aᵀ I + b costs at most ε · K · ‖a‖² (K windows). For 3 channels: ≤ ε · K · ‖A‖²_F.
    torch.manual_seed(3)
    h, w = 12, 10
    content = torch.rand(1, 3, h, w, dtype=torch.float64)
    a = torch.tensor([[0.5, 0.2, -0.1], [0.1, 0.7, 0.0], [-0.2, 0.3, 0.9]], dtype=torch.float64)
    b = torch.tensor([0.1, -0.05, 0.2], dtype=torch.float64)
    output = torch.einsum("ij,bjhw->bihw", a, content) + b.view(1, 3, 1, 1)
    windows = (h - 2) * (w - 2)
    random_loss = photorealism_loss(torch.rand(1, 3, h, w, dtype=torch.float64), matting_laplacian(content))
    for eps in (1e-7, 1e-4, 1e-2):
        lap = matting_laplacian(content, eps=eps)
        loss = photorealism_loss(output, lap)
        assert 0 <= loss <= eps * windows * a.pow(2).sum() * (1 + 1e-9)
    # With ε = 1e-7 the bound is ε·K·‖A‖² ≈ 1.5e-5, while an unrelated image costs ~1e2 here
    # (Σ_k of its residual variance around a per-window affine fit): a ratio of ~1e-7.
    assert random_loss > 10.0
    assert photorealism_loss(output, matting_laplacian(content)) / random_loss < 1e-6


def test_gradcheck_float64():
    torch.manual_seed(4)
    lap = matting_laplacian(torch.rand(1, 3, 4, 4, dtype=torch.float64), eps=1e-4)
    output = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda o: photorealism_loss(o, lap), (output,), eps=1e-6, atol=1e-6)


def test_gradient_is_2_l_v_and_equals_plain_autograd_through_sparse_mm():
    torch.manual_seed(5)
    lap = matting_laplacian(torch.rand(1, 3, 6, 7, dtype=torch.float64))
    output = torch.rand(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    loss = photorealism_loss(output, lap)
    loss.backward()
    v = output.detach().reshape(6, 42).T  # one column per channel of each batch item
    dense = lap.to_dense()
    torch.testing.assert_close(loss.detach(), (v * (dense @ v)).sum())
    torch.testing.assert_close(output.grad, (2 * dense @ v).T.reshape(2, 3, 6, 7))
    # the same through autograd's own backward of torch.sparse.mm
    out2 = output.detach().clone().requires_grad_(True)
    v2 = out2.reshape(6, 42).T
    (v2 * torch.sparse.mm(lap, v2)).sum().backward()
    torch.testing.assert_close(out2.grad, output.grad)


def test_float32_output_and_laplacian_dtypes():
    torch.manual_seed(6)
    content = torch.rand(1, 3, 5, 6)
    lap32 = matting_laplacian(content, dtype=torch.float32)
    assert lap32.dtype == torch.float32
    output = torch.rand(1, 3, 5, 6, requires_grad=True)
    loss = photorealism_loss(output, matting_laplacian(content))  # float64 L, float32 output
    assert loss.dtype == torch.float32
    loss.backward()
    assert output.grad is not None and output.grad.dtype == torch.float32
    torch.testing.assert_close(photorealism_loss(output, lap32), loss)


def test_make_photorealism_loss_caches_the_converted_laplacian():
    torch.manual_seed(7)
    content = torch.rand(1, 3, 5, 6)
    loss_fn = make_photorealism_loss(content)
    assert isinstance(loss_fn, PhotorealismLoss) and loss_fn.size == (5, 6)
    output = torch.rand(1, 3, 5, 6, requires_grad=True)
    first = loss_fn(output)
    cached = loss_fn._cached
    assert cached.dtype == torch.float32
    second = loss_fn(output)
    assert loss_fn._cached is cached
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first, photorealism_loss(output, matting_laplacian(content)))
    first.backward()
    assert output.grad is not None
    with pytest.raises(PhotorealismError, match=r"built for 5×6"):
        loss_fn(torch.rand(1, 3, 6, 5))


def test_errors_name_the_value_at_fault():
    image = torch.rand(1, 3, 6, 6)
    with pytest.raises(PhotorealismError, match=r"\(2, 3, 6, 6\)"):
        matting_laplacian(torch.rand(2, 3, 6, 6))
    with pytest.raises(PhotorealismError, match="2×2 px"):
        matting_laplacian(torch.rand(3, 2, 2))
    with pytest.raises(PhotorealismError, match="radius"):
        matting_laplacian(image, radius=0)
    with pytest.raises(PhotorealismError, match="eps"):
        matting_laplacian(image, eps=-1.0)
    with pytest.raises(PhotorealismError, match="eps=0"):
        matting_laplacian(torch.full((1, 3, 4, 4), 0.5), eps=0)
    with pytest.raises(PhotorealismError, match="dtype"):
        matting_laplacian(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    lap = matting_laplacian(image)
    with pytest.raises(PhotorealismError, match=r"\(36, 36\).*\(1, 3, 5, 6\)"):
        photorealism_loss(torch.rand(1, 3, 5, 6), lap)
    with pytest.raises(PhotorealismError, match="laplacian"):
        PhotorealismLoss(lap, (5, 6))
