"""The loss terms of neural style transfer, as pure functions.

Conventions (those of the PyTorch tutorial, which the default weights are tuned for):

- ``gram_matrix(F)`` of features ``[B, C, H, W]`` is ``F Fᵀ / (C·H·W)``, shape ``[B, C, C]``.
- ``content_loss`` and ``style_loss`` are mean squared errors.
- ``tv_loss`` is the sum of squared differences between neighbouring pixels.

The Gram matrix is computed in float32 (or float64) even under autocast, because its entries are
sums over H·W products and lose precision in float16.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError

__all__ = ["gram_matrix", "content_loss", "style_loss", "tv_loss", "total_style_loss", "temporal_loss"]


def gram_matrix(features: Tensor, weights: Tensor | None = None) -> Tensor:
    """Channel co-activations, normalised by the number of elements.

    Args:
        features: ``[B, C, H, W]`` (any memory format) or ``[C, H, W]``.
        weights: optional per-position weights ``w(p)``, ``[B or 1, 1, H, W]`` (or ``[1, H, W]``),
            not differentiated: each position counts ``w(p)`` times (:mod:`nstlib.scale.tiling` sums
            the Gram matrices of overlapping tiles, each weighted by its blending window).

    Returns:
        ``[B, C, C]`` (or ``[C, C]``): ``G[b, i, j] = Σ_p w(p) F[b, i, p] F[b, j, p] / (C·H·W)``
        (``w = 1`` without weights). Symmetric and positive semi-definite; it ignores where in
        the image a feature fires.
    """
    squeeze = features.dim() == 3
    if squeeze:
        features = features.unsqueeze(0)
    if features.dim() != 4:
        raise ConfigError(f"gram_matrix expects [B, C, H, W] or [C, H, W], got {tuple(features.shape)}")
    b, c, h, w = features.shape
    # [B, H·W, C] is a free view of a channels_last tensor, so no copy is made on the hot path.
    flat = features.permute(0, 2, 3, 1).reshape(b, h * w, c)
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    wflat = None
    if weights is not None:
        wflat = weights.reshape(-1, h * w, 1).to(flat.dtype).detach()
    with torch.autocast(device_type=flat.device.type, enabled=False):  # keep the sum in fp32/fp64
        gram = _SelfProduct.apply(flat, wflat) / (c * h * w)
    return gram.squeeze(0) if squeeze else gram


class _SelfProduct(torch.autograd.Function):
    """``Xᵀ X`` for ``X`` ``[B, N, C]`` (``Xᵀ diag(w) X`` with row weights ``w`` ``[B or 1, N, 1]``),
    with a backward pass of one matrix product, not two.

    Autograd would treat the two uses of ``X`` separately (two products and a sum); the gradient
    is ``diag(w) X (dG + dGᵀ)``. The backward is made of differentiable ops, so double backward
    works. Only ``X`` (already kept by the ReLU before it) and ``w`` are saved.
    """

    @staticmethod
    def forward(ctx, flat: Tensor, weights: Tensor | None = None) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(flat, weights)
        return torch.bmm(flat.transpose(1, 2), flat if weights is None else flat * weights)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        flat, weights = ctx.saved_tensors
        if weights is not None:
            flat = flat * weights
        return torch.bmm(flat, grad + grad.transpose(1, 2)), None


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared error between two feature maps of the same shape ``[B, C, H, W]``; a scalar."""
    if features.shape != target.shape:
        raise ConfigError(f"content_loss: shapes differ, {tuple(features.shape)} vs {tuple(target.shape)}")
    return F.mse_loss(features, target.to(features.dtype))


def style_loss(features: Tensor, target_gram: Tensor) -> Tensor:
    """Mean squared error between the Gram matrix of ``features`` ``[B, C, H, W]`` and a target.

    ``target_gram`` is ``[B, C, C]`` or ``[1, C, C]`` (broadcast over the batch). The image sizes
    behind the two need not match: the Gram matrix is normalised by C·H·W.
    """
    gram = gram_matrix(features)
    return F.mse_loss(gram, target_gram.expand_as(gram))


def total_style_loss(
    features: Mapping[str, Tensor],
    target_grams: Mapping[str, Tensor],
    layer_weights: Mapping[str, float] | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Σ_l w_l · style_loss(F_l, A_l) over the layers of ``target_grams``.

    Returns the weighted sum and the unweighted per-layer losses (for the history). Missing
    ``layer_weights`` default to 1.
    """
    per_layer = {name: style_loss(features[name], gram) for name, gram in target_grams.items()}
    weights = layer_weights or {}
    total = sum(weights.get(name, 1.0) * loss for name, loss in per_layer.items())
    return total, per_layer  # type: ignore[return-value]


def tv_loss(image: Tensor) -> Tensor:
    """Total variation: ``Σ (x[i+1, j] − x[i, j])² + Σ (x[i, j+1] − x[i, j])²`` over ``[B, C, H, W]``.

    A scalar. It penalises high-frequency noise; too much of it blurs the image.
    """
    if image.dim() != 4:
        raise ConfigError(f"tv_loss expects [B, C, H, W], got {tuple(image.shape)}")
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return dy.pow(2).sum() + dx.pow(2).sum()


def temporal_loss(image: Tensor, warped: Tensor, weights: Tensor) -> Tensor:
    """Ruder et al.'s short-term temporal loss: ``Σ_p c(p) |x(p) − w(p)|² / D``.

    Args:
        image: the frame being optimised, ``[B, C, H, W]``.
        warped: the previous stylised frame warped into this one (:func:`nstlib.video.flow.warp`),
            the same shape.
        weights: ``c`` of shape ``[B, 1, H, W]``: 1 where the warp is trusted, 0 at occlusions
            and motion boundaries (``1 − occlusions``).

    Returns:
        A scalar; ``D = B·C·H·W`` as in the paper, so the weight is independent of the size.
    """
    if image.shape != warped.shape:
        raise ConfigError(f"temporal_loss: shapes differ, {tuple(image.shape)} vs {tuple(warped.shape)}")
    if weights.dim() != 4 or weights.shape[1] != 1 or weights.shape[-2:] != image.shape[-2:]:
        raise ConfigError(f"temporal_loss: weights must be [B, 1, H, W] like the image, got {tuple(weights.shape)}")
    return (weights * (image - warped.to(image.dtype)).pow(2)).sum() / image.numel()
