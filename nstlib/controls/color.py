"""Colour preservation for style transfer (Gatys, Bethge, Hertzmann & Shechtman 2016).

"Preserving Color in Neural Artistic Style Transfer" gives two ways to keep the content image's
colours while taking the style image's texture:

1. **Luminance-only transfer.** Stylise the luminance channels only, then put the content's
   chrominance back::

       style_y = match_luminance_stats(luminance_only(style), luminance_only(content))
       out = stylize(luminance_only(content), style_y).image     # grey: R = G = B = Y
       final = transfer_chrominance(out, content)                # Y of out, I and Q of content

   :func:`transfer_chrominance` also works as a post-processing step on an ordinary (colour)
   stylised image: it keeps that image's luminance and replaces its chrominance.

2. **Colour histogram matching.** Recolour the *style* image so that the mean and covariance of
   its RGB pixels equal the content's, then stylise with it as usual::

       style_matched = match_color_histogram(style, content, mode="chol")
       final = stylize(content, style_matched).image

Colour spaces (all on RGB in [0, 1], luma weights of ITU-R BT.601, so Y is the same in both):

- **YIQ** (NTSC, FCC 1953 coefficients): Y in [0, 1], I in about [−0.596, 0.596], Q in about
  [−0.523, 0.523]; grey pixels have I = Q = 0. The inverse matrix is the exact inverse.
- **YCbCr** (full range, as in JPEG/JFIF): Y, Cb, Cr all in [0, 1], chroma centred at **0.5**
  (JPEG's 128/255); grey pixels have Cb = Cr = 0.5.

Because both spaces have the same Y and map grey to zero chroma, replacing the luminance gives the
same RGB in either (``content + (Y_stylized − Y_content)·(1, 1, 1)`` before clamping); ``space`` is
offered for teaching, not because the result differs.

Tensors are ``[B, 3, H, W]`` (or ``[3, H, W]``), floating point, on any device; functions return
tensors on the device of their first argument.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ..core.errors import NstlibError

__all__ = [
    "ColorError",
    "LUMA_WEIGHTS",
    "apply_color_transform",
    "color_matching_transform",
    "luminance",
    "luminance_only",
    "match_color_histogram",
    "match_luminance_stats",
    "rgb_to_ycbcr",
    "rgb_to_yiq",
    "transfer_chrominance",
    "ycbcr_to_rgb",
    "yiq_to_rgb",
    "mean_cov",
    "work_device",
]

#: ITU-R BT.601 luma weights (R, G, B): Y = 0.299 R + 0.587 G + 0.114 B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

_KR, _KG, _KB = LUMA_WEIGHTS

# NTSC YIQ, FCC 1953 coefficients. The I and Q rows sum to exactly zero, so grey has no chroma.
_RGB_TO_YIQ = torch.tensor(
    [
        [_KR, _KG, _KB],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)

# Full-range YCbCr (JPEG/JFIF): Cb = (B − Y) / (2 (1 − Kb)) + 0.5, Cr = (R − Y) / (2 (1 − Kr)) + 0.5.
_RGB_TO_YCBCR = torch.tensor(
    [
        [_KR, _KG, _KB],
        [-_KR / (2 * (1 - _KB)), -_KG / (2 * (1 - _KB)), 0.5],
        [0.5, -_KG / (2 * (1 - _KR)), -_KB / (2 * (1 - _KR))],
    ],
    dtype=torch.float64,
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_YCBCR_OFFSET = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)

Space = Literal["yiq", "ycbcr"]
Mode = Literal["chol", "pca", "sym"]
_SPACES = ("yiq", "ycbcr")
_MODES = ("chol", "pca", "sym")


class ColorError(NstlibError):
    """An invalid argument to a colour function. The message names the value at fault."""


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _check_rgb(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise ColorError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (3, 4) or x.shape[-3] != 3:
        raise ColorError(f"{name} must be [B, 3, H, W] or [3, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ColorError(f"{name} must be a floating-point tensor in [0, 1], got dtype {x.dtype}")


def work_device(device: torch.device) -> torch.device:
    """Where to do float64 linear algebra: the input's device, except MPS (which has no float64)."""
    return torch.device("cpu") if device.type == "mps" else device


def _linear(x: Tensor, matrix: Tensor, offset: Tensor | None = None) -> Tensor:
    """``out[..., i, h, w] = Σ_j M[i, j] x[..., j, h, w] (+ offset[i])`` in the dtype of ``x``."""
    m = matrix.to(device=x.device, dtype=x.dtype)
    out = torch.einsum("ij,...jhw->...ihw", m, x)
    if offset is not None:
        out = out + offset.to(device=x.device, dtype=x.dtype).view(3, 1, 1)
    return out


def _batched_pair(style: Tensor, content: Tensor, s_name: str, c_name: str) -> tuple[Tensor, Tensor]:
    """Both as ``[B, C, H, W]``; the content's batch must be 1 or the style's."""
    s = style if style.dim() == 4 else style.unsqueeze(0)
    c = content if content.dim() == 4 else content.unsqueeze(0)
    if c.shape[0] not in (1, s.shape[0]):
        raise ColorError(
            f"{c_name} has batch {c.shape[0]} but {s_name} has batch {s.shape[0]}: "
            f"shapes {tuple(content.shape)} and {tuple(style.shape)}"
        )
    return s, c


def _check_space(space: str) -> None:
    if space not in _SPACES:
        raise ColorError(f"unknown colour space {space!r}: use one of {', '.join(_SPACES)}")


def _to_space(x: Tensor, space: str) -> Tensor:
    return rgb_to_yiq(x) if space == "yiq" else rgb_to_ycbcr(x)


def _from_space(x: Tensor, space: str) -> Tensor:
    return yiq_to_rgb(x) if space == "yiq" else ycbcr_to_rgb(x)


# ----------------------------------------------------------------------------------------------
# colour spaces
# ----------------------------------------------------------------------------------------------


def rgb_to_yiq(x: Tensor) -> Tensor:
    """RGB ``[B, 3, H, W]`` (or ``[3, H, W]``) to NTSC YIQ of the same shape and dtype.

    ``Y = 0.299 R + 0.587 G + 0.114 B`` in [0, 1]; I and Q are zero for grey pixels. Linear, so
    values outside [0, 1] are transformed as they are (nothing is clamped).
    """
    _check_rgb(x, "x")
    return _linear(x, _RGB_TO_YIQ)


def yiq_to_rgb(x: Tensor) -> Tensor:
    """NTSC YIQ ``[B, 3, H, W]`` (or ``[3, H, W]``) back to RGB; the exact inverse of
    :func:`rgb_to_yiq`. Not clamped: YIQ triples outside the RGB cube give values outside [0, 1].
    """
    _check_rgb(x, "x")
    return _linear(x, _YIQ_TO_RGB)


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """RGB ``[B, 3, H, W]`` (or ``[3, H, W]``) to full-range YCbCr (JPEG/JFIF), same shape.

    ``Y = 0.299 R + 0.587 G + 0.114 B``, ``Cb = 0.5 + (B − Y) / 1.772``, ``Cr = 0.5 + (R − Y) / 1.402``:
    for RGB in [0, 1] all three lie in [0, 1] and the chroma of grey is **0.5** (not 0).
    """
    _check_rgb(x, "x")
    return _linear(x, _RGB_TO_YCBCR, _YCBCR_OFFSET)


def ycbcr_to_rgb(x: Tensor) -> Tensor:
    """Full-range YCbCr (chroma centred at 0.5) ``[B, 3, H, W]`` back to RGB, not clamped; the
    exact inverse of :func:`rgb_to_ycbcr`."""
    _check_rgb(x, "x")
    return _linear(x - _YCBCR_OFFSET.to(device=x.device, dtype=x.dtype).view(3, 1, 1), _YCBCR_TO_RGB)


# ----------------------------------------------------------------------------------------------
# luminance-only transfer
# ----------------------------------------------------------------------------------------------


def luminance(image: Tensor) -> Tensor:
    """The BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` of ``[B, 3, H, W]``, as ``[B, 1, H, W]``
    (``[1, H, W]`` for a ``[3, H, W]`` input). Y is the same in YIQ and YCbCr."""
    _check_rgb(image, "image")
    return _linear(image, _RGB_TO_YIQ[:1])


def luminance_only(image: Tensor) -> Tensor:
    """A grey image whose three channels all equal the luminance Y of ``image``.

    Args:
        image: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``) in [0, 1].

    Returns:
        ``[B, 3, H, W]`` (same shape, dtype, device) with ``R = G = B = Y``: what VGG, which
        expects three channels, is shown in luminance-only transfer. Its own luminance is Y
        again, because the luma weights sum to 1.
    """
    y = luminance(image)
    return y.repeat_interleave(3, dim=-3)


def match_luminance_stats(style_y: Tensor, content_y: Tensor) -> Tensor:
    """Shift and scale the style luminance to the content's mean and standard deviation.

    ``L_s' = σ_c / σ_s · (L_s − μ_s) + μ_c`` (Gatys et al. 2016, section 2), with μ and σ the mean
    and population standard deviation over all channels and pixels of each image. Use it on the
    outputs of :func:`luminance` (``[B, 1, H, W]``) or :func:`luminance_only` (``[B, 3, H, W]``,
    equal channels, so the statistics are those of Y).

    Args:
        style_y: ``[B, C, H, W]`` (or ``[C, H, W]``), floating point.
        content_y: ``[B, C', H', W']`` (or ``[C', H', W']``) with batch 1 or B; its size may differ
            from the style's.

    Returns:
        Same shape, dtype and device as ``style_y``. Not clamped: the result can leave [0, 1]
        slightly when the content has more contrast than the style; VGG does not mind, clamp it
        before saving. A flat style (σ_s = 0) becomes flat at μ_c.
    """
    for name, t in (("style_y", style_y), ("content_y", content_y)):
        if not isinstance(t, Tensor) or t.dim() not in (3, 4) or not t.is_floating_point():
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ColorError(f"{name} must be a floating-point [B, C, H, W] or [C, H, W] tensor, got {shape}")
    s, c = _batched_pair(style_y, content_y, "style_y", "content_y")
    work = work_device(s.device)
    s64 = s.to(device=work, dtype=torch.float64).flatten(1)
    c64 = c.to(device=work, dtype=torch.float64).flatten(1)
    mu_s, sd_s = s64.mean(1, keepdim=True), s64.std(1, correction=0, keepdim=True)
    mu_c, sd_c = c64.mean(1, keepdim=True), c64.std(1, correction=0, keepdim=True)
    scale = torch.where(sd_s > 0, sd_c / sd_s.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
    out = (s64 - mu_s) * scale + mu_c
    return out.reshape(style_y.shape).to(device=style_y.device, dtype=style_y.dtype)


def transfer_chrominance(stylized: Tensor, content: Tensor, space: Space = "yiq") -> Tensor:
    """The luminance of ``stylized`` with the chrominance of ``content``, as RGB in [0, 1].

    Step 4 of luminance-only transfer (and the simplest colour-preserving post-process): convert
    both to ``space``, keep Y of ``stylized`` and the chroma (I, Q or Cb, Cr) of ``content``,
    convert back and clamp to [0, 1].

    Args:
        stylized: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``); a grey luminance-only result works too.
        content: RGB of exactly the same shape; moved to ``stylized``'s device and dtype.
        space: ``"yiq"`` (the paper's) or ``"ycbcr"``; both give the same image (see the module
            docstring).

    Returns:
        RGB of ``stylized``'s shape, dtype and device, clamped to [0, 1] (differentiable).

    Raises:
        ColorError: the shapes differ (the message names both) or ``space`` is unknown.
    """
    _check_space(space)
    _check_rgb(stylized, "stylized")
    _check_rgb(content, "content")
    if stylized.shape != content.shape:
        raise ColorError(
            f"transfer_chrominance: stylized {tuple(stylized.shape)} and content "
            f"{tuple(content.shape)} must have the same shape; resize one of them first"
        )
    content = content.to(device=stylized.device, dtype=stylized.dtype)
    luma = _to_space(stylized, space)[..., :1, :, :]
    chroma = _to_space(content, space)[..., 1:, :, :]
    mixed = torch.cat((luma, chroma), dim=-3)
    return _from_space(mixed, space).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# colour histogram matching
# ----------------------------------------------------------------------------------------------


def mean_cov(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``[B, 3]`` and population covariance ``[B, 3, 3]`` of the pixels of ``[B, 3, H, W]``."""
    flat = x.flatten(2)  # [B, 3, N]
    mu = flat.mean(2)
    centred = flat - mu.unsqueeze(2)
    return mu, centred @ centred.transpose(1, 2) / flat.shape[2]


def _check_invertible(evals: Tensor, what: str) -> None:
    """Refuse covariances whose eigenvalues (ascending, ``[B, 3]``) make them numerically singular."""
    if bool((evals[..., 0] <= evals[..., -1] * 1e-12).any()):
        raise ColorError(
            f"the colour covariance of {what} is singular (eigenvalues {evals.tolist()}); "
            "use eps > 0 for flat or greyscale images"
        )


def _sqrt_psd(cov: Tensor, what: str, inverse: bool = False) -> Tensor:
    """Symmetric square root (or inverse square root) of a batch of covariances ``[B, 3, 3]``."""
    evals, evecs = torch.linalg.eigh(cov)
    if inverse:
        _check_invertible(evals, what)
        root = evals.rsqrt()
    else:
        root = evals.clamp_min(0).sqrt()
    return (evecs * root.unsqueeze(-2)) @ evecs.transpose(-1, -2)


def _cholesky(cov: Tensor, what: str) -> Tensor:
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise ColorError(
            f"the colour covariance of {what} is not positive definite; "
            "use eps > 0 for flat or greyscale images"
        )
    return chol


def color_matching_transform(
    style: Tensor, content: Tensor, mode: Mode = "chol", eps: float = 1e-5
) -> tuple[Tensor, Tensor]:
    """The affine colour map ``x' = A x + b`` that gives ``style`` the content's colour statistics.

    With μ_s, Σ_s and μ_c, Σ_c the RGB means and (population) covariances of the pixels, plus
    ``eps·I`` added to both covariances, ``A`` solves ``A Σ_s Aᵀ = Σ_c`` and ``b = μ_c − A μ_s``:

    - ``"chol"``: ``A = L_c L_s⁻¹`` with ``Σ = L Lᵀ`` the Cholesky factors (the paper's first choice).
    - ``"pca"``: ``A = Σ_c^{1/2} Σ_s^{−1/2}`` with symmetric square roots from an
      eigendecomposition (the Image Analogies colour matching, the paper's second choice).
    - ``"sym"``: ``A = Σ_s^{−1/2} (Σ_s^{1/2} Σ_c Σ_s^{1/2})^{1/2} Σ_s^{−1/2}``, the unique
      *symmetric* solution (the Monge–Kantorovich linear map, which moves colours least).

    The three names and formulas are those of Gatys' reference code (``match_color``). All the
    algebra runs in float64.

    Args:
        style: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``): the image to be recoloured.
        content: RGB ``[B or 1, 3, H', W']`` (or ``[3, H', W']``): the colours to take; its size
            may differ from the style's.
        mode: ``"chol"``, ``"pca"`` or ``"sym"``.
        eps: ridge added to both covariances so that flat or greyscale images work; ``0`` gives an
            exact match but needs a non-singular style covariance (and content covariance, for
            ``"chol"``). With ``eps > 0`` the mapped
            covariance is ``Σ_c + eps (I − A Aᵀ)``, within about ``eps`` of Σ_c.

    Returns:
        ``(A, b)``: float64 ``[B, 3, 3]`` and ``[B, 3]`` on the style's device (the CPU for MPS).

    Raises:
        ColorError: bad shapes, an unknown mode, a negative eps or a singular covariance.
    """
    if mode not in _MODES:
        raise ColorError(f"unknown mode {mode!r}: use one of {', '.join(_MODES)}")
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps >= 0:
        raise ColorError(f"eps must be a number >= 0, got {eps!r}")
    _check_rgb(style, "style")
    _check_rgb(content, "content")
    s, c = _batched_pair(style, content, "style", "content")
    work = work_device(s.device)
    mu_s, cov_s = mean_cov(s.detach().to(device=work, dtype=torch.float64))
    mu_c, cov_c = mean_cov(c.detach().to(device=work, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64, device=work)
    cov_s = cov_s + eps * eye
    cov_c = (cov_c + eps * eye).expand_as(cov_s)
    mu_c = mu_c.expand_as(mu_s)

    # Σ_s is inverted in every mode: a (numerically) singular one would blow the map up.
    _check_invertible(torch.linalg.eigvalsh(cov_s), "style")
    if mode == "chol":
        l_s, l_c = _cholesky(cov_s, "style"), _cholesky(cov_c, "content")
        a = torch.linalg.solve_triangular(l_s, l_c, upper=False, left=False)  # A L_s = L_c
    elif mode == "pca":
        a = _sqrt_psd(cov_c, "content") @ _sqrt_psd(cov_s, "style", inverse=True)
    else:
        root_s = _sqrt_psd(cov_s, "style")
        inv_root_s = _sqrt_psd(cov_s, "style", inverse=True)
        middle = _sqrt_psd(root_s @ cov_c @ root_s, "content")
        a = inv_root_s @ middle @ inv_root_s
        a = (a + a.transpose(-1, -2)) / 2  # symmetric by construction; remove rounding asymmetry
    b = mu_c - (a @ mu_s.unsqueeze(-1)).squeeze(-1)
    return a, b


def apply_color_transform(image: Tensor, a: Tensor, b: Tensor, clamp: bool = True) -> Tensor:
    """``A x + b`` at every pixel of ``image``, optionally clamped to [0, 1].

    Args:
        image: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``).
        a: ``[B or 1, 3, 3]`` or ``[3, 3]``; b: ``[B or 1, 3]`` or ``[3]`` (from
            :func:`color_matching_transform`, e.g. computed on a small copy and applied to a big one).
        clamp: clamp the result to [0, 1].

    Returns:
        The same shape, dtype and device as ``image``.
    """
    _check_rgb(image, "image")
    if a.shape[-2:] != (3, 3) or b.shape[-1:] != (3,):
        raise ColorError(f"a must be [..., 3, 3] and b [..., 3], got {tuple(a.shape)} and {tuple(b.shape)}")
    x = image if image.dim() == 4 else image.unsqueeze(0)
    a = a.to(device=x.device, dtype=x.dtype).reshape(-1, 3, 3)
    b = b.to(device=x.device, dtype=x.dtype).reshape(-1, 3)
    batch = x.shape[0]
    out = torch.einsum("bij,bjhw->bihw", a.expand(batch, 3, 3), x) + b.expand(batch, 3)[:, :, None, None]
    if clamp:
        out = out.clamp(0.0, 1.0)
    return out.reshape(image.shape)


def match_color_histogram(style: Tensor, content: Tensor, mode: Mode = "chol", eps: float = 1e-5) -> Tensor:
    """Recolour ``style`` so that the mean and covariance of its RGB pixels equal the content's.

    Colour histogram matching of Gatys et al. 2016: ``style' = A · style + b`` per pixel, with
    ``A`` and ``b`` from :func:`color_matching_transform` (see there for the three modes and the
    role of ``eps``), then clamped to [0, 1]. Clamping changes the statistics slightly wherever
    the affine map leaves the RGB cube; for an exact match use :func:`color_matching_transform`
    and :func:`apply_color_transform` with ``clamp=False``.

    Args:
        style: RGB ``[B, 3, H, W]`` (or ``[3, H, W]``) in [0, 1], the image to recolour.
        content: RGB ``[B or 1, 3, H', W']`` (or ``[3, H', W']``); the size may differ.
        mode: ``"chol"`` (default), ``"pca"`` or ``"sym"``.
        eps: ridge added to both covariances (Gatys' code uses 1e-5).

    Returns:
        The recoloured style, same shape, dtype and device as ``style``, in [0, 1].
    """
    a, b = color_matching_transform(style, content, mode=mode, eps=eps)
    return apply_color_transform(style, a, b, clamp=True)
