"""Measuring reconstructions: pixel error, per-layer feature and Gram errors, and the TV gradient.

Notebooks 03–05 reconstruct an image from one loss term at a time (content only, style only,
content + style + total variation) and need to say *how close* a result is, in pixels and in
VGG19 features. The functions here do that measuring; the optimisation itself is
:func:`nstlib.stylize`.

Images are RGB tensors ``[B, 3, H, W]`` (or ``[3, H, W]``) in [0, 1], as everywhere in nstlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..core.features import get_extractor
from ..core.losses import content_loss, gram_matrix, style_loss, tv_loss

__all__ = [
    "is_increasing",
    "layer_errors",
    "mse",
    "psnr",
    "tv_gradient",
    "tv_per_pixel",
]


def _batch(image: Tensor, what: str = "image") -> Tensor:
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise ValueError(f"{what} must be [B, C, H, W] or [C, H, W], got shape {tuple(image.shape)}")
    return image


def mse(image: Tensor, reference: Tensor) -> float:
    """Mean squared pixel error between two images of the same shape ``[B, 3, H, W]``."""
    image, reference = _batch(image), _batch(reference, "reference")
    if image.shape != reference.shape:
        raise ValueError(f"mse: shapes differ, {tuple(image.shape)} vs {tuple(reference.shape)}")
    return torch.mean((image.double() - reference.double()) ** 2).item()


def psnr(image: Tensor, reference: Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10·log10(peak² / MSE)``; ``inf`` for identical images.

    Higher is closer: 40 dB is visually identical, 20 dB clearly different, 10 dB barely related.
    """
    err = mse(image, reference)
    return math.inf if err == 0 else 10.0 * math.log10(peak**2 / err)


def tv_gradient(image: Tensor) -> Tensor:
    """The gradient of :func:`nstlib.tv_loss`, derived by hand; same shape as ``image``.

    With ``TV(x) = Σ (x[i+1,j] − x[i,j])² + Σ (x[i,j+1] − x[i,j])²`` (per channel, summed), each
    pixel appears in the differences with its up to four neighbours ``q``, so

        ∂TV/∂x[p] = 2 · Σ_{q neighbour of p} (x[p] − x[q])  =  −2 · (Δx)[p],

    minus twice the discrete Laplacian with the image border left open (a border pixel just has
    fewer neighbours). Descending this gradient is a step of the heat equation: it blurs.

    Args:
        image: ``[B, C, H, W]``.

    Returns:
        ``[B, C, H, W]``, equal to ``torch.autograd.grad(tv_loss(image), image)``.
    """
    if image.dim() != 4:
        raise ValueError(f"tv_gradient expects [B, C, H, W], got {tuple(image.shape)}")
    grad = torch.zeros_like(image)
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]  # dy[i] = x[i+1] − x[i]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    grad[:, :, 1:, :] += 2 * dy  # x[i+1] is the "+" end of dy[i]
    grad[:, :, :-1, :] -= 2 * dy  # x[i] is the "−" end
    grad[:, :, :, 1:] += 2 * dx
    grad[:, :, :, :-1] -= 2 * dx
    return grad


def tv_per_pixel(image: Tensor) -> float:
    """``tv_loss(image)`` divided by the number of values ``B·C·H·W``: comparable across sizes.

    About 1/3 for uniform noise in [0, 1] (each value starts about two differences, one down and
    one right, and E[(u − v)²] = 1/6 for independent uniforms u, v); a photograph is far smoother.
    """
    image = _batch(image)
    return tv_loss(image.double()).item() / image.numel()


def layer_errors(
    images: Sequence[Tensor],
    target: Tensor,
    layers: Sequence[str],
    *,
    kind: str = "content",
    relative: bool = True,
    weights: str = "caffe",
    device: str | torch.device = "cpu",
) -> Tensor:
    """How far each image is from ``target`` at each VGG19 layer.

    Args:
        images: N images ``[1, 3, H, W]``; for ``kind="content"`` each must have the target's size.
        target: ``[1, 3, H', W']``, the photo (content) or the style image (style).
        layers: L layer names, e.g. ``("conv1_2", "conv3_2", "conv5_2")``.
        kind: ``"content"`` compares feature maps (:func:`nstlib.content_loss`); ``"style"``
            compares Gram matrices (:func:`nstlib.style_loss`), so sizes may differ.
        relative: divide each error by the target's own mean square (``mean(F²)`` for content,
            ``mean(G²)`` for style), so that 0 is a perfect match and 1 is as far as an
            all-zero response; layers then compare on one scale.
        weights: the VGG19 weights (calibrated, as in :func:`nstlib.stylize`).
        device: where to run the network.

    Returns:
        ``[N, L]`` float64 tensor of errors (row = image, column = layer).
    """
    if kind not in ("content", "style"):
        raise ValueError(f"kind must be 'content' or 'style', got {kind!r}")
    layers = tuple(layers)
    extractor = get_extractor(layers, weights, "max", str(torch.device(device)), 0)
    out = torch.zeros(len(images), len(layers), dtype=torch.float64)
    with torch.no_grad():
        t_feats = extractor(_batch(target, "target").float().to(extractor.device))
        refs = {n: (t_feats[n] if kind == "content" else gram_matrix(t_feats[n])) for n in layers}
        for i, image in enumerate(images):
            feats = extractor(_batch(image).float().to(extractor.device))
            for j, n in enumerate(layers):
                if kind == "content":
                    err = content_loss(feats[n], refs[n])
                else:
                    err = style_loss(feats[n], refs[n])
                if relative:
                    err = err / refs[n].pow(2).mean().clamp_min(1e-30)
                out[i, j] = err.item()
    return out


def is_increasing(values: Sequence[float], rel_tol: float = 0.0) -> bool:
    """True if each value is at least the previous one times ``1 − rel_tol`` (for positive values).

    ``rel_tol`` makes a trend check robust to small wiggles from a finite optimisation:
    ``is_increasing([1, 2, 1.95, 4], rel_tol=0.05)`` is True.
    """
    vals = [float(v) for v in values]
    return all(b >= a * (1.0 - rel_tol) for a, b in zip(vals, vals[1:]))
