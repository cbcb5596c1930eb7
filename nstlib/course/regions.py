"""Measuring *where* a style went and *how big* its marks are (notebook 11).

- :func:`ellipse_mask` draws a region from simple geometry, for spatial control without a
  paint program (see :mod:`nstlib.controls.masks` for loading mask files).
- :func:`style_distances` is the Gram distance of each region of an image to each of several
  style images: ``D[r, s] = Σ_l mean((G_r,l(image) − G_l(style_s))²)``, with guided Gram matrices
  for the regions (Gatys et al. 2017), i.e. the unweighted style loss a region would have
  against that style. It tells which style a region is closest to.
- :func:`correlation_length` is a proxy for the size of brush strokes: how far apart two
  pixels must be before the texture that style transfer added stops being alike.
- :func:`blend_identity` checks the fact behind ``style_blend``: a weighted sum of style losses
  is the loss to the blended Gram matrix plus a constant.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..controls.color import luminance
from ..controls.masks import guided_gram_matrix, masks_for_layers
from ..core.features import get_extractor
from ..core.losses import gram_matrix

__all__ = [
    "blend_identity",
    "correlation_length",
    "ellipse_mask",
    "radial_profile",
    "style_distances",
]

_DEFAULT_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def ellipse_mask(
    size_hw: tuple[int, int],
    center: tuple[float, float] = (0.5, 0.5),
    radii: tuple[float, float] = (0.3, 0.3),
) -> Tensor:
    """A filled axis-aligned ellipse, ``[H, W]`` float32, 1 inside and 0 outside.

    Args:
        size_hw: ``(H, W)`` of the image the mask is for.
        center: ``(y, x)`` of the centre, as fractions of the height and the width.
        radii: ``(ry, rx)`` semi-axes, as fractions of the height and the width.

    A pixel is inside when its centre ``((i + ½)/H, (j + ½)/W)`` satisfies
    ``((y − cy)/ry)² + ((x − cx)/rx)² ≤ 1``, so the mask scales with the image: the same
    fractions give the same region at any size.
    """
    h, w = size_hw
    if h < 1 or w < 1:
        raise ValueError(f"size_hw must be two sizes >= 1, got {size_hw!r}")
    if min(radii) <= 0:
        raise ValueError(f"radii must be > 0, got {radii!r}")
    ys = (torch.arange(h, dtype=torch.float64) + 0.5) / h
    xs = (torch.arange(w, dtype=torch.float64) + 0.5) / w
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    inside = ((yy - center[0]) / radii[0]) ** 2 + ((xx - center[1]) / radii[1]) ** 2 <= 1.0
    return inside.float()


@torch.no_grad()
def style_distances(
    image: Tensor,
    styles: Sequence[Tensor],
    masks: Tensor | None = None,
    layers: Sequence[str] = _DEFAULT_STYLE_LAYERS,
    extractor: torch.nn.Module | None = None,
) -> Tensor:
    """Gram distance of each region of ``image`` to each style image.

    Args:
        image: ``[1, 3, H, W]`` in [0, 1].
        styles: ``S`` style images ``[1, 3, H_s, W_s]`` (any sizes), each used whole and at its
            own size, as ``stylize`` uses a style tensor.
        masks: ``[R, H, W]`` regions of ``image`` (values in [0, 1]); None for the whole image.
        layers: the style layers (default: Gatys' five).
        extractor: a :class:`nstlib.core.features.VGGFeatures` with these layers; default the cached
            Caffe VGG19 with max pooling on the CPU, as ``stylize`` uses by default.

    Returns:
        ``[R, S]`` float64 (``R = 1`` without masks): ``D[r, s] = Σ_l mean((G_r,l − G_l(s))²)``,
        where ``G_r,l`` is the guided Gram matrix of region ``r`` at layer ``l`` (the plain Gram
        matrix for the whole image) and ``G_l(s)`` the Gram matrix of style ``s``. Multiply by
        ``style_weight`` to get the style loss ``stylize`` reports.
    """
    if extractor is None:
        extractor = get_extractor(tuple(layers), "caffe", "max", "cpu", 0)
    device = next(extractor.buffers()).device
    if masks is None:
        masks = torch.ones(1, *image.shape[-2:])
    if masks.dim() != 3 or tuple(masks.shape[-2:]) != tuple(image.shape[-2:]):
        raise ValueError(f"masks must be [R, H, W] at the image's size {tuple(image.shape[-2:])}, "
                         f"got {tuple(masks.shape)}")
    feats = extractor(image.to(device))
    per_layer = masks_for_layers(masks.to(device), layers)
    grams = {n: guided_gram_matrix(feats[n], per_layer[n])[0] for n in layers}  # [R, C, C]
    out = torch.zeros(masks.shape[0], len(styles), dtype=torch.float64)
    for s, style in enumerate(styles):
        sf = extractor(style.to(device))
        for n in layers:
            target = gram_matrix(sf[n])  # [1, C, C]
            out[:, s] += ((grams[n] - target) ** 2).mean(dim=(1, 2)).double().cpu()
    return out


def radial_profile(field: Tensor) -> Tensor:
    """Mean of a centred 2-D ``field`` ``[H, W]`` over rings of integer radius around its centre.

    The centre is ``(H // 2, W // 2)``; entry ``r`` is the mean over the pixels whose distance
    from it rounds to ``r``. Returns ``[R]`` float64, ``R = min(H, W) // 2`` (full rings only).
    """
    h, w = field.shape
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    radius = torch.sqrt((yy**2 + xx**2).double()).round().long().flatten()
    n = min(h, w) // 2
    keep = radius < n
    ring = radius[keep]
    sums = torch.zeros(n, dtype=torch.float64).index_add_(0, ring, field.double().flatten()[keep])
    counts = torch.zeros(n, dtype=torch.float64).index_add_(0, ring, torch.ones(len(ring), dtype=torch.float64))
    return sums / counts


def correlation_length(image: Tensor, reference: Tensor | None = None) -> float:
    """Half-width (px) of the autocorrelation of the luminance ``image − reference``.

    Args:
        image: ``[1, 3, H, W]`` in [0, 1].
        reference: the same size (e.g. the content photo), subtracted first so that what is
            measured is what style transfer *added*; None measures the image itself.

    Returns:
        The smallest distance ``r`` (px, linearly interpolated between integer radii) at which the
        radially averaged autocorrelation of the mean-free luminance difference falls to half its
        value at 0: about the radius of a typical blob or stroke. Bigger strokes, longer
        correlation. White noise gives below 1 px; a flat difference gives ``nan``.
    """
    y = luminance(image.detach().double())[0, 0]
    if reference is not None:
        y = y - luminance(reference.detach().double())[0, 0]
    y = y - y.mean()
    h, w = y.shape
    # autocorrelation by FFT, zero-padded so that it does not wrap around; normalised per lag
    spec = torch.fft.rfft2(y, s=(2 * h, 2 * w))
    acf = torch.fft.irfft2(spec.abs() ** 2, s=(2 * h, 2 * w))
    ones = torch.fft.rfft2(torch.ones_like(y), s=(2 * h, 2 * w))
    overlap = torch.fft.irfft2(ones.abs() ** 2, s=(2 * h, 2 * w)).clamp_min(1.0)
    acf = torch.fft.fftshift(acf / overlap)
    profile = radial_profile(acf)
    if not profile[0] > 0:
        return float("nan")
    profile = profile / profile[0]
    below = torch.nonzero(profile < 0.5)
    if len(below) == 0:
        return float(len(profile))
    r = int(below[0])
    a, b = float(profile[r - 1]), float(profile[r])
    return (r - 1) + (a - 0.5) / (a - b)


def blend_identity(
    gram: Tensor, targets: Sequence[Tensor], weights: Sequence[float]
) -> tuple[float, float, float]:
    """Both sides of ``Σ_k w_k · L(G, A_k) = L(G, Σ_k w_k A_k) + c`` for ``L = mean((G − A)²)``.

    With weights summing to 1, expanding the squares gives the constant
    ``c = Σ_k w_k · mean(A_k²) − mean(Ā²)``, ``Ā = Σ_k w_k A_k``, which does not depend on ``G``
    (it is the weighted variance of the targets, so ``c ≥ 0``). The two losses therefore have the
    same gradient, which is why ``stylize`` blends Gram matrices instead of summing losses.

    Args:
        gram: ``[C, C]`` (or any shape), the Gram matrix of the image.
        targets: the style Gram matrices ``A_k``, same shape.
        weights: ``w_k``, normalised here to sum to 1.

    Returns:
        ``(weighted sum of losses, loss to the blend, c)``, as floats.
    """
    total = float(sum(weights))
    if len(targets) != len(weights) or total <= 0:
        raise ValueError("targets and weights must have the same length, with weights summing to > 0")
    w = [float(v) / total for v in weights]
    g = gram.double()
    a = [t.double() for t in targets]
    lhs = sum(wk * F.mse_loss(g, ak) for wk, ak in zip(w, a))
    blend = sum(wk * ak for wk, ak in zip(w, a))
    rhs = F.mse_loss(g, blend)
    const = sum(wk * ak.pow(2).mean() for wk, ak in zip(w, a)) - blend.pow(2).mean()
    return float(lhs), float(rhs), float(const)
