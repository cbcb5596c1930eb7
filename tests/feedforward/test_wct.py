"""Whitening and colouring (Li et al. 2017): statistics, a numpy reference, the multi-level model
against hand-assembled paths, and decoder training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from nstlib.feedforward.adain import Decoder
from nstlib.controls.color import match_color_histogram
from nstlib.feedforward.wct import WCT, WCTError, whiten, whitening_coloring

pytestmark = pytest.mark.usefixtures("one_thread")

LEVELS = ("relu1_1", "relu2_1", "relu3_1")



@pytest.fixture(scope="module")
def model() -> WCT:
    torch.manual_seed(0)
    return WCT({level: Decoder(level, 0.25) for level in LEVELS}, weights="random")


def features(seed: int, c: int, h: int, w: int, batch: int | None = None) -> torch.Tensor:
    """Correlated float64 features ``[C, H, W]`` (or ``[B, C, H, W]``) with non-zero means."""
    gen = torch.Generator().manual_seed(seed)
    shape = (c, h * w) if batch is None else (batch, c, h * w)
    mix = torch.randn(c, c, generator=gen, dtype=torch.float64)
    offset = torch.randn(c, 1, generator=gen, dtype=torch.float64)
    flat = mix @ torch.randn(*shape, generator=gen, dtype=torch.float64) + offset
    return flat.reshape(*shape[:-1], h, w)


def images(seed: int, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def mean_cov(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = f.reshape(f.shape[0], -1)
    centred = flat - flat.mean(1, keepdim=True)
    return flat.mean(1), centred @ centred.T / flat.shape[1]


def numpy_wct(content: np.ndarray, style: np.ndarray, alpha: float, eps: float) -> np.ndarray:
    """A direct numpy transcription of the paper on ``[C, H, W]`` arrays."""
    c, s = content.reshape(content.shape[0], -1), style.reshape(style.shape[0], -1)
    mc, ms = c.mean(axis=1, keepdims=True), s.mean(axis=1, keepdims=True)
    dc, ec = np.linalg.eigh(np.cov(c, bias=True))
    ds, es = np.linalg.eigh(np.cov(s, bias=True))
    kc, ks = dc > eps, ds > eps
    whitened = ec[:, kc] @ np.diag(dc[kc] ** -0.5) @ ec[:, kc].T @ (c - mc)
    colored = es[:, ks] @ np.diag(ds[ks] ** 0.5) @ es[:, ks].T @ whitened + ms
    return (alpha * colored + (1 - alpha) * c).reshape(content.shape)


# ------------------------------------------------------------------------------------------
# the transforms


def test_whiten_gives_zero_mean_and_identity_covariance():
    f = features(1, 5, 8, 9)
    white = whiten(f)
    assert white.shape == f.shape and white.dtype == torch.float64
    mean, cov = mean_cov(white)
    torch.testing.assert_close(mean, torch.zeros(5, dtype=torch.float64), rtol=0, atol=1e-10)
    torch.testing.assert_close(cov, torch.eye(5, dtype=torch.float64), rtol=0, atol=1e-10)
    # a float32 batch keeps its shape and dtype
    white32 = whiten(f.float().unsqueeze(0))
    assert white32.shape == (1, 5, 8, 9) and white32.dtype == torch.float32
    torch.testing.assert_close(white32[0].double(), white, rtol=1e-4, atol=1e-4)


def test_whiten_drops_small_eigenvalues_of_rank_deficient_features():
    f = features(2, 6, 2, 2)  # 6 channels, 4 positions: rank 3 after centring
    white = whiten(f)
    assert torch.isfinite(white).all()
    evals = torch.linalg.eigvalsh(mean_cov(white)[1])
    torch.testing.assert_close(evals, torch.tensor([0, 0, 0, 1, 1, 1], dtype=torch.float64), rtol=0, atol=1e-10)


@pytest.mark.parametrize("content_hw,style_hw", [((6, 7), (5, 9)), ((4, 4), (12, 3))])
def test_coloring_gives_the_style_mean_and_covariance(content_hw, style_hw):
    content, style = features(3, 4, *content_hw), features(4, 4, *style_hw) * 3
    out = whitening_coloring(content, style)
    assert out.shape == content.shape
    mean_o, cov_o = mean_cov(out)
    mean_s, cov_s = mean_cov(style)
    torch.testing.assert_close(mean_o, mean_s, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(cov_o, cov_s, rtol=1e-10, atol=1e-10)


def test_alpha_zero_returns_the_content_exactly_and_alpha_blends():
    content, style = features(5, 4, 5, 5).float(), features(6, 4, 3, 7).float()
    assert torch.equal(whitening_coloring(content, style, alpha=0.0), content)
    full = whitening_coloring(content, style, alpha=1.0)
    torch.testing.assert_close(whitening_coloring(content, style, alpha=0.3), 0.3 * full + 0.7 * content)


@pytest.mark.parametrize("channels,content_hw,style_hw", [(4, (5, 6), (7, 3)), (6, (2, 2), (3, 2))])
@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_whitening_coloring_matches_numpy_reference(channels, content_hw, style_hw, alpha):
    # the second case has more channels than positions: both covariances are rank deficient
    content, style = features(7, channels, *content_hw), features(8, channels, *style_hw)
    out = whitening_coloring(content, style, alpha=alpha)
    ref = numpy_wct(content.numpy(), style.numpy(), alpha, 1e-5)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-9, atol=1e-9)


def test_batch_transforms_each_sample():
    content, style = features(9, 3, 4, 5, batch=2), features(10, 3, 6, 6, batch=1)
    out = whitening_coloring(content, style)
    for b in range(2):
        torch.testing.assert_close(out[b], whitening_coloring(content[b], style[0]))


def test_transform_errors_name_the_value():
    f = features(11, 4, 3, 3)
    with pytest.raises(WCTError, match=r"\(5, 3, 3\)"):
        whitening_coloring(f, features(12, 5, 3, 3))
    with pytest.raises(WCTError, match="alpha.*1.5"):
        whitening_coloring(f, f, alpha=1.5)
    with pytest.raises(WCTError, match="eps.*-1"):
        whiten(f, eps=-1)
    with pytest.raises(WCTError, match=r"\(4, 9\)"):
        whiten(f.reshape(4, 9))


# ------------------------------------------------------------------------------------------
# the model


def test_stylize_shape_and_range_at_odd_sizes(model: WCT):
    content, style = images(13, 1, 3, 37, 45), images(14, 1, 3, 40, 32)
    for levels in (None, ["relu2_1"], ("conv3_1", "relu1_1")):
        out = model.stylize(content, style, levels=levels)
        assert out.shape == (1, 3, 37, 45) and out.dtype == torch.float32
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert model.stylize(content, style, alpha=0.5, preserve_color=True).shape == (1, 3, 37, 45)


def test_single_level_alpha_zero_is_the_reconstruction(model: WCT):
    content, style = images(15, 1, 3, 32, 32), images(16, 1, 3, 24, 24)
    out = model.stylize(content, style, alpha=0.0, levels=["relu2_1"])
    with torch.no_grad():
        expected = model.decoders["relu2_1"](model.encoders["relu2_1"](content)["relu2_1"]).clamp(0, 1)
    torch.testing.assert_close(out, expected)


def test_levels_run_coarse_to_fine(model: WCT):
    content, style = images(17, 1, 3, 32, 32), images(18, 1, 3, 32, 32)

    def one_level(image: torch.Tensor, level: str) -> torch.Tensor:
        enc, dec = model.encoders[level], model.decoders[level]
        return dec(whitening_coloring(enc(image)[level], enc(style)[level], 0.7)).clamp(0, 1)

    with torch.no_grad():
        expected = one_level(one_level(content, "relu3_1"), "relu1_1")
    out = model.stylize(content, style, alpha=0.7, levels=["relu1_1", "relu3_1"])
    torch.testing.assert_close(out, expected)


def test_preserve_color_uses_histogram_matching(model: WCT):
    content, style = images(19, 1, 3, 16, 16), images(20, 1, 3, 16, 16) ** 2
    out = model.stylize(content, style, levels=["relu1_1"], preserve_color=True)
    expected = model.stylize(content, match_color_histogram(style, content), levels=["relu1_1"])
    torch.testing.assert_close(out, expected)


def test_model_validation(model: WCT):
    assert [enc.depth for enc in model.encoders.values()] == [1, 3, 5]  # truncated at each level
    c = torch.rand(1, 3, 16, 16)
    with pytest.raises(WCTError, match="'relu4_1'"):
        model.stylize(c, c, levels=["relu4_1"])
    with pytest.raises(WCTError, match="string 'relu1_1'"):
        model.stylize(c, c, levels="relu1_1")
    with pytest.raises(WCTError, match="levels is empty"):
        model.stylize(c, c, levels=[])
    with pytest.raises(WCTError, match="alpha.*-0.5"):
        model.stylize(c, c, alpha=-0.5)
    with pytest.raises(WCTError, match=r"style.*\(2, 3, 16, 16\)"):
        model.stylize(c, torch.rand(2, 3, 16, 16))
    with pytest.raises(WCTError, match="inverts relu2_1, not relu3_1"):
        WCT({"relu3_1": Decoder("relu2_1")}, weights="random")
    with pytest.raises(WCTError, match="relu5_1"):
        WCT({"relu5_1": Decoder("relu2_1")}, weights="random")
    with pytest.raises(WCTError, match="Decoder"):
        WCT({"relu1_1": torch.nn.Identity()}, weights="random")
    with pytest.raises(WCTError, match="non-empty"):
        WCT({}, weights="random")


def test_reconstruction_losses_fall_and_train_only_that_decoder(model: WCT):
    trainee = copy.deepcopy(model)
    batch = images(21, 2, 3, 32, 32)
    optimizer = torch.optim.Adam(trainee.decoders["relu2_1"].parameters(), lr=3e-4)
    totals = []
    for _ in range(6):
        losses = trainee.reconstruction_losses(batch, "conv2_1")
        assert set(losses) == {"total", "pixel", "feature"}
        torch.testing.assert_close(losses["total"], losses["pixel"] + losses["feature"])
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        totals.append(losses["total"].item())
    assert totals[-1] < totals[0] * 0.95, totals
    assert all(p.grad is not None for p in trainee.decoders["relu2_1"].parameters())
    for level in ("relu1_1", "relu3_1"):
        assert all(p.grad is None for p in trainee.decoders[level].parameters())
    assert all(p.grad is None for p in trainee.encoders.parameters())
    # odd sizes: the pixel loss compares with the matching top-left crop
    odd = trainee.reconstruction_losses(images(22, 1, 3, 33, 35), "relu3_1", feature_weight=0.5)
    assert all(torch.isfinite(v) for v in odd.values())
