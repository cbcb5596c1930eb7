"""Loss terms against hand computations, naive loops and gradcheck."""

import torch
from torch.autograd import gradcheck

from nstlib.core.losses import content_loss, gram_matrix, style_loss, total_style_loss, tv_loss


def naive_gram(f: torch.Tensor) -> torch.Tensor:
    c, h, w = f.shape
    g = torch.zeros(c, c, dtype=torch.float64)
    for i in range(c):
        for j in range(c):
            for y in range(h):
                for x in range(w):
                    g[i, j] += float(f[i, y, x]) * float(f[j, y, x])
    return g / (c * h * w)


def test_gram_hand_sized_example():
    # Two channels over a 1×2 image: F = [[1, 2], [3, 4]] -> F Fᵀ = [[5, 11], [11, 25]], / (2·1·2)
    f = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]])
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    assert torch.equal(gram_matrix(f), expected)


def test_gram_matches_naive_loop_and_is_symmetric_psd():
    torch.manual_seed(0)
    f = torch.randn(2, 5, 4, 3)
    g = gram_matrix(f)
    assert g.shape == (2, 5, 5)
    for b in range(2):
        torch.testing.assert_close(g[b].double(), naive_gram(f[b]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g[b], g[b].T)
        assert torch.linalg.eigvalsh(g[b].double()).min() > -1e-6


def test_gram_channels_last_equals_contiguous():
    torch.manual_seed(1)
    f = torch.randn(1, 8, 6, 7)
    cl = f.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(gram_matrix(cl), gram_matrix(f))


def test_gram_ignores_spatial_shuffle():
    torch.manual_seed(2)
    f = torch.randn(1, 6, 8, 8)
    perm = torch.randperm(64)
    shuffled = f.flatten(2)[:, :, perm].view_as(f)
    assert not torch.equal(shuffled, f)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(f))


def test_content_loss_by_hand():
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = torch.tensor([[[[1.0, 0.0], [3.0, 7.0]]]])
    # squared differences 0, 4, 0, 9 -> mean 13/4
    assert content_loss(a, b).item() == 13 / 4


def test_style_loss_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # Gram = [[5, 11], [11, 25]] / 4
    target = torch.zeros(1, 2, 2)
    expected = ((5 / 4) ** 2 + 2 * (11 / 4) ** 2 + (25 / 4) ** 2) / 4
    assert abs(style_loss(f, target).item() - expected) < 1e-6
    # the same style at another size: a tiled copy has the same Gram matrix
    tiled = f.repeat(1, 1, 3, 2)
    assert style_loss(tiled, gram_matrix(f)).item() < 1e-12


def test_total_style_loss_weights_layers():
    torch.manual_seed(3)
    feats = {"a": torch.randn(1, 3, 4, 4), "b": torch.randn(1, 3, 2, 2)}
    targets = {"a": torch.zeros(1, 3, 3), "b": torch.zeros(1, 3, 3)}
    total, per_layer = total_style_loss(feats, targets, {"a": 2.0})
    torch.testing.assert_close(total, 2 * per_layer["a"] + per_layer["b"])


def test_tv_loss_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [3.0, 1.0]]]])
    # vertical diffs: 3, 0 -> 9; horizontal: 1, -2 -> 1 + 4
    assert tv_loss(x).item() == 14.0
    assert tv_loss(torch.full((1, 3, 5, 5), 0.7)).item() == 0.0


def test_gradcheck_all_terms():
    torch.manual_seed(4)
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 3, 4, 5, dtype=torch.float64)
    target_gram = torch.randn(1, 3, 3, dtype=torch.float64)
    assert gradcheck(lambda t: content_loss(t, target), (x,))
    assert gradcheck(tv_loss, (x,))
    assert gradcheck(lambda t: style_loss(t, target_gram), (x,))
    assert gradcheck(gram_matrix, (x,))


def test_gram_second_derivatives():
    from torch.autograd import gradgradcheck

    x = torch.rand(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert gradgradcheck(gram_matrix, (x,))
    naive = lambda t: torch.einsum("bchw,bdhw->bcd", t, t) / (3 * 4 * 5)  # noqa: E731
    (g1,) = torch.autograd.grad(gram_matrix(x).pow(3).sum(), x)
    (g2,) = torch.autograd.grad(naive(x).pow(3).sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-12)


def test_gram_stays_float32_under_half_input():
    f = torch.randn(1, 4, 3, 3).half()
    assert gram_matrix(f).dtype == torch.float32
