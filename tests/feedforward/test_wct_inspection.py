"""The helpers notebook 14 uses to inspect WCT: feature statistics and decoded whitened features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nstlib.feedforward.adain import Decoder, pad_to_multiple
from nstlib.feedforward.wct import WCT, WCTError, decode_whitened, feature_covariance, whiten



pytestmark = pytest.mark.usefixtures("one_thread")

@pytest.fixture(scope="module")
def model() -> WCT:
    torch.manual_seed(0)
    return WCT({level: Decoder(level, 0.25) for level in ("relu1_1", "relu2_1")}, weights="random")


def correlated(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    c = shape[-3]
    mix = torch.randn(c, c, generator=gen)
    x = torch.randn(*shape, generator=gen)
    return torch.einsum("ij,...jhw->...ihw", mix, x) + torch.randn(c, 1, 1, generator=gen)


def test_feature_covariance_matches_numpy():
    feat = correlated(0, (2, 5, 4, 6))
    mean, cov = feature_covariance(feat)
    assert mean.shape == (2, 5) and cov.shape == (2, 5, 5) and cov.dtype == torch.float64
    for b in range(2):
        flat = feat[b].reshape(5, -1).double().numpy()
        np.testing.assert_allclose(mean[b].numpy(), flat.mean(1), atol=1e-12)
        np.testing.assert_allclose(cov[b].numpy(), np.cov(flat, bias=True), atol=1e-10)


def test_feature_covariance_accepts_chw_and_rejects_other_shapes():
    feat = correlated(1, (4, 3, 3))
    mean, cov = feature_covariance(feat)
    assert mean.shape == (1, 4) and cov.shape == (1, 4, 4)
    with pytest.raises(WCTError, match="features"):
        feature_covariance(torch.zeros(4, 9))


def test_whitened_features_have_identity_covariance():
    _, cov = feature_covariance(whiten(correlated(2, (1, 6, 8, 8)).double()))
    torch.testing.assert_close(cov[0], torch.eye(6, dtype=torch.float64), atol=1e-8, rtol=0)


def test_decode_whitened_is_encode_whiten_decode(model):
    image = torch.rand(1, 3, 13, 10, generator=torch.Generator().manual_seed(3))
    out = decode_whitened(model, image, "conv2_1")
    assert out.shape == image.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    with torch.no_grad():
        feat = model.encoders["relu2_1"](pad_to_multiple(image, 2))["relu2_1"]
        expected = model.decoders["relu2_1"](whiten(feat))[..., :13, :10].clamp(0, 1)
    torch.testing.assert_close(out, expected)


def test_decode_whitened_errors(model):
    image = torch.rand(1, 3, 8, 8)
    with pytest.raises(WCTError, match="relu3_1"):
        decode_whitened(model, image, "relu3_1")
    with pytest.raises(WCTError, match="WCT"):
        decode_whitened(object(), image, "relu1_1")
    with pytest.raises(WCTError, match="image"):
        decode_whitened(model, torch.rand(2, 3, 8, 8), "relu1_1")
    with pytest.raises(WCTError, match="eps"):
        decode_whitened(model, image, "relu1_1", eps=-1.0)
