"""Measurements for the colour notebooks: chroma and colour-moment distances, local affine fits.

Notebook 09 (colour preservation) compares style transfer results with the content photo by

- :func:`chroma_difference`: the mean absolute difference of the YIQ chrominance (I and Q),
  which luminance-only transfer keeps exactly;
- :func:`color_moments` and :func:`moment_distance`: the mean and covariance of the RGB pixels,
  which colour histogram matching gives the style image.

Notebook 12 (photorealism) checks the theorem behind the matting Laplacian of Levin et al. 2008
with :func:`local_affine_cost`, a direct (slow, but plain) implementation of the cost that the
Laplacian's quadratic form equals:

    vᵀ L v = Σ_k min_{a_k, b_k} [ Σ_{i ∈ w_k} (v_i − a_kᵀ I_i − b_k)² + ε ‖a_k‖² ]

over every (2r+1)×(2r+1) window w_k inside the image: how far the output channel v is, window by
window, from an affine function of the content's colours I.

Images are RGB ``[B, 3, H, W]`` (or ``[3, H, W]``) in [0, 1]; the statistics run in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..controls.color import ColorError, rgb_to_yiq

__all__ = ["chroma_difference", "color_moments", "local_affine_cost", "moment_distance"]


def _batched(x: Tensor, name: str, channels: int | None = 3) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() not in (3, 4) or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ColorError(f"{name} must be a floating-point [B, C, H, W] or [C, H, W] tensor, got {shape}")
    x = x if x.dim() == 4 else x.unsqueeze(0)
    if channels is not None and x.shape[1] != channels:
        raise ColorError(f"{name} must have {channels} channels, got shape {tuple(x.shape)}")
    return x.detach().to(device="cpu", dtype=torch.float64)


def chroma_difference(image: Tensor, reference: Tensor) -> Tensor:
    """Mean absolute difference of the YIQ chrominance of two images of the same shape.

    Args:
        image, reference: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``), the same shape.

    Returns:
        float64 ``[2]`` on the CPU: ``(mean |I − I_ref|, mean |Q − Q_ref|)`` over all pixels (and
        batch items). 0 when the two share their chrominance, whatever their luminance.
    """
    x, r = _batched(image, "image"), _batched(reference, "reference")
    if x.shape != r.shape:
        raise ColorError(f"image {tuple(x.shape)} and reference {tuple(r.shape)} must have the same shape")
    diff = (rgb_to_yiq(x) - rgb_to_yiq(r))[:, 1:].abs()  # [B, 2, H, W]
    return diff.mean(dim=(0, 2, 3))


def color_moments(image: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``[3]`` and population covariance ``[3, 3]`` of the RGB pixels of an image.

    Args:
        image: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``); the pixels of all batch items are pooled.

    Returns:
        float64 ``(mean, cov)`` on the CPU, ``cov = E[(x − μ)(x − μ)ᵀ]`` (divided by the number of
        pixels, as in :func:`nstlib.controls.color.color_matching_transform`).
    """
    x = _batched(image, "image")
    pixels = x.permute(1, 0, 2, 3).reshape(3, -1)  # [3, B·H·W]
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / pixels.shape[1]


def moment_distance(image: Tensor, reference: Tensor) -> tuple[float, float]:
    """How far the colour statistics of ``image`` are from those of ``reference``.

    Args:
        image, reference: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``); the sizes may differ.

    Returns:
        ``(‖μ − μ_ref‖₂, ‖Σ − Σ_ref‖_F / ‖Σ_ref‖_F)``: the distance of the mean colours (in RGB
        units, [0, 1] per channel) and the relative distance of the covariances (0 = the same
        colour spread and correlations; 1 = off by as much as the reference's covariance itself).
    """
    mu, cov = color_moments(image)
    mu_r, cov_r = color_moments(reference)
    return float((mu - mu_r).norm()), float((cov - cov_r).norm() / cov_r.norm())


def local_affine_cost(output: Tensor, content: Tensor, eps: float = 1e-7, radius: int = 1) -> float:
    """Σ over windows and output channels of the best ridge-regularised affine fit's cost.

    For every (2r+1)×(2r+1) window w_k lying fully inside the image and every channel v of
    ``output``, fit ``v_i ≈ aᵀ I_i + b`` (``I_i`` the content's colour at pixel i) by least squares
    with the penalty ``ε ‖a‖²`` (b is free), and add up the minimal costs. Levin et al. (2008)
    show that this equals ``vᵀ L v`` for the matting Laplacian L of the content
    (:func:`nstlib.controls.photoreal.matting_laplacian` with the same ``eps`` and ``radius``); this
    function computes it the direct way, window by window, as a check.

    Args:
        output: ``[1, C_out, H, W]`` or ``[C_out, H, W]``; any number of channels.
        content: ``[1, C, H, W]`` or ``[C, H, W]`` of the same H, W (colours in [0, 1]).
        eps: ε ≥ 0, the ridge on the slopes a (with 0, flat windows must be avoided).
        radius: r ≥ 1.

    Returns:
        The total cost, a Python float (computed in float64).
    """
    out = _batched(output, "output", channels=None)
    img = _batched(content, "content", channels=None)
    if out.shape[0] != 1 or img.shape[0] != 1 or out.shape[-2:] != img.shape[-2:]:
        raise ColorError(
            f"output {tuple(out.shape)} and content {tuple(img.shape)} must be single images of the same size"
        )
    if not isinstance(radius, int) or radius < 1 or not eps >= 0:
        raise ColorError(f"need radius >= 1 and eps >= 0, got radius={radius!r}, eps={eps!r}")
    side = 2 * radius + 1
    unfold = torch.nn.Unfold(kernel_size=side)  # windows fully inside the image, as in the Laplacian
    x = unfold(img).reshape(img.shape[1], side * side, -1).permute(2, 1, 0)  # [K, m, C]
    y = unfold(out).reshape(out.shape[1], side * side, -1).permute(2, 1, 0)  # [K, m, C_out]
    x = x - x.mean(dim=1, keepdim=True)  # centring solves for b
    y = y - y.mean(dim=1, keepdim=True)
    normal = x.transpose(1, 2) @ x + eps * torch.eye(x.shape[-1], dtype=torch.float64)  # [K, C, C]
    a = torch.linalg.solve(normal, x.transpose(1, 2) @ y)  # [K, C, C_out], one slope per output channel
    residual = y - x @ a
    return float((residual**2).sum() + eps * (a**2).sum())
