"""The photorealism regulariser of Luan, Paris, Shechtman & Bala 2017 ("Deep Photo Style Transfer").

Luan et al. add to the style-transfer loss the term

    L_m = Σ_{c ∈ {R, G, B}} V_c[O]ᵀ · M_I · V_c[O]

where ``V_c[O]`` is channel c of the output image flattened to a vector of N = H·W pixels and
``M_I`` is the **matting Laplacian** of the content image I (Levin, Lischinski & Weiss 2008, "A
Closed-Form Solution to Natural Image Matting"). ``vᵀ M_I v`` is small when, in every small window,
v is close to an affine function of the content's colours, so the term lets the output change
colours but not invent edges the content does not have. Luan et al. weight it with λ = 10⁴.

For each (2r+1)×(2r+1) window w_k lying fully inside the image, with |w_k| = (2r+1)² pixels,
colour mean μ_k and population colour covariance Σ_k:

    M_ij = Σ_{k | i, j ∈ w_k} ( δ_ij − (1 + (I_i − μ_k)ᵀ (Σ_k + ε/|w_k| · I₃)⁻¹ (I_j − μ_k)) / |w_k| )

so M is symmetric, positive semi-definite and its rows sum to zero (constant images cost nothing).
Pixels are numbered row-major, ``index = y · W + x`` (Levin's MATLAB code numbers them column-major).

ε defaults to **1e-7**, the value of both Levin's reference code (``getLaplacian1``) and Luan's
(``gen_laplacian.m`` calls ``getLaplacian1(input, …, 1e-7, 1)``), for colours in [0, 1]. ε is a
ridge on the per-window affine coefficients: an output that is an exact affine function ``A·I + b``
of the content costs at most ``ε · K · ‖A‖²_F`` (K windows), and larger ε smooths more.

Memory, for radius 1: an interior pixel shares a window with the (4r+1)² = 25 pixels within two
steps of it, so the matrix has about **25 N nonzeros**. As float64 COO (two int64 indices and one
value each, 24 bytes) that is about **600 MB per megapixel** (measured: 1 623 076 nonzeros, 39 MB,
at 256×256; ``dtype=torch.float32`` saves a sixth). Building it needs the 81 = (2r+1)⁴ entries of
every window at once (a float64 value and an int64 position each) plus the band, which peaked at
about 125 MB at 256×256, **about 2 GB per megapixel** (0.5 s on one CPU thread at 256×256): fine
at the 256–512 px this course uses, heavy at full resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..core.errors import NstlibError

__all__ = [
    "PhotorealismError",
    "PhotorealismLoss",
    "make_photorealism_loss",
    "matting_laplacian",
    "photorealism_loss",
]


class PhotorealismError(NstlibError):
    """An invalid argument to the photorealism regulariser. The message names the value at fault."""


def _as_chw(image: Tensor, name: str) -> Tensor:
    """``[1, C, H, W]`` or ``[C, H, W]`` as ``[C, H, W]``."""
    if not isinstance(image, Tensor):
        raise PhotorealismError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3:
        raise PhotorealismError(f"{name} must be [1, C, H, W] or [C, H, W], got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise PhotorealismError(f"{name} must be a floating-point tensor in [0, 1], got dtype {image.dtype}")
    return image


def matting_laplacian(
    image: Tensor, eps: float = 1e-7, radius: int = 1, *, dtype: torch.dtype = torch.float64
) -> Tensor:
    """The matting Laplacian of Levin et al. 2008 of an image, as a sparse ``[N, N]`` matrix.

    Built without a Python loop over pixels: the windows are gathered at once (``[K, m, C]`` for K
    windows of m = (2r+1)² pixels), their regularised covariances are inverted as a batch with
    ``torch.linalg.inv``, and the m×m blocks are scattered with ``index_add_`` into a band of
    (4r+1)² diagonals, which sums the entries the windows share without sorting them; the band
    becomes a COO matrix. The computation runs in float64 on the image's device (on the CPU for
    MPS, which has no float64).

    Args:
        image: the *content* image, ``[1, C, H, W]`` or ``[C, H, W]`` (C = 3 for RGB; any C ≥ 1
            works), colours in [0, 1] (ε is relative to that scale). Treated as a constant
            (detached).
        eps: ε, the regulariser; 1e-7 as in Levin's and Luan's code. Must be ≥ 0; with 0 a flat
            window makes its covariance singular and raises.
        radius: r, windows are (2r+1)×(2r+1); Levin and Luan use 1 (3×3).
        dtype: ``torch.float64`` (default) or ``torch.float32`` for the returned values.

    Returns:
        A coalesced sparse COO tensor ``[N, N]``, N = H·W, pixels numbered ``y · W + x``.
        Symmetric, positive semi-definite, rows summing to 0. About 25 N nonzeros for radius 1
        (see the module docstring for memory).

    Raises:
        PhotorealismError: a bad shape, an image smaller than one window, a bad ``eps``, ``radius``
            or ``dtype``, or a singular window covariance (``eps = 0`` on a flat region).
    """
    img = _as_chw(image, "image")
    _check_laplacian_options(img, eps, radius, dtype)
    c, h, w = img.shape
    device = torch.device("cpu") if img.device.type == "mps" else img.device
    pixels = img.detach().to(device=device, dtype=torch.float64).reshape(c, h * w)
    # no name holds the blocks here, so _blocks_to_sparse frees them once they are summed
    return _blocks_to_sparse(*_window_blocks(pixels, h, w, radius, eps), h, w, radius).to(dtype)


def _check_laplacian_options(img: Tensor, eps: float, radius: int, dtype: torch.dtype) -> None:
    """Refuse a bad ``radius``, ``eps`` or ``dtype``, or an image ``[C, H, W]`` smaller than one window."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise PhotorealismError(f"radius must be an integer >= 1, got {radius!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise PhotorealismError(f"eps must be a number >= 0, got {eps!r}")
    if dtype not in (torch.float32, torch.float64):
        raise PhotorealismError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    _, h, w = img.shape
    side = 2 * radius + 1
    if h < side or w < side:
        raise PhotorealismError(
            f"image is {w}×{h} px, smaller than one {side}×{side} window (radius={radius})"
        )


def _window_blocks(pixels: Tensor, h: int, w: int, radius: int, eps: float) -> tuple[Tensor, Tensor]:
    """Each window's pixel indices ``[K, m]`` and its m×m block ``δ − (1 + (I − μ)ᵀ (Σ + ε/m)⁻¹ (J − μ)) / m``
    ``[K, m, m]`` (Levin et al. 2008, eq. 12), for the K windows of m = (2r+1)² pixels of the
    float64 pixels ``[C, H·W]``, all at once."""
    c, device = pixels.shape[0], pixels.device
    side = 2 * radius + 1
    m = side * side
    # Window k is centred on an interior pixel; idx[k, a] is the flat index of its a-th pixel.
    ys = torch.arange(radius, h - radius, device=device)
    xs = torch.arange(radius, w - radius, device=device)
    centres = (ys[:, None] * w + xs[None, :]).reshape(-1)  # [K]
    d = torch.arange(-radius, radius + 1, device=device)
    offsets = (d[:, None] * w + d[None, :]).reshape(-1)  # [m]
    idx = centres[:, None] + offsets[None, :]  # [K, m]

    win = pixels[:, idx].permute(1, 2, 0)  # [K, m, C]
    centred = win - win.mean(dim=1, keepdim=True)
    cov = centred.transpose(1, 2) @ centred / m  # [K, C, C], population covariance
    cov = cov + (eps / m) * torch.eye(c, dtype=torch.float64, device=device)
    inv, info = torch.linalg.inv_ex(cov)
    if bool((info != 0).any()):
        raise PhotorealismError(
            f"a window's colour covariance is singular with eps={eps!r}; use eps > 0 (e.g. 1e-7)"
        )
    del win, cov
    affinity = (1.0 + centred @ inv @ centred.transpose(1, 2)) / m  # [K, m, m]
    return idx, torch.eye(m, dtype=torch.float64, device=device) - affinity


def _blocks_to_sparse(idx: Tensor, block: Tensor, h: int, w: int, radius: int) -> Tensor:
    """The sum of the windows' blocks ``[K, m, m]`` at their pixels ``idx`` ``[K, m]``, as a
    coalesced sparse COO matrix ``[H·W, H·W]`` (float64)."""
    device, n = idx.device, h * w
    side = 2 * radius + 1
    d = torch.arange(-radius, radius + 1, device=device)
    # Sum the blocks without a sort: pixel j of a window is at a stencil offset from pixel i in
    # [-2r, 2r]², so entry (i, j) goes to band[i, stencil id of j − i]; index_add_ adds up the
    # contributions of the windows that share the pair.
    span = 2 * side - 1  # 4r + 1
    wy, wx = d.repeat_interleave(side), d.repeat(side)  # [m], the window's pixel offsets
    pair_id = (wy[None, :] - wy[:, None] + 2 * radius) * span + (wx[None, :] - wx[:, None] + 2 * radius)
    key = idx[:, :, None] * (span * span) + pair_id  # [K, m, m], flat position in band
    band = torch.zeros(n * span * span, dtype=torch.float64, device=device)
    band.index_add_(0, key.reshape(-1), block.reshape(-1))
    del key, block

    # Every in-image stencil neighbour shares at least one window (for H, W ≥ 2r + 1), so the
    # nonzeros are exactly the stencil entries whose column lies inside the image.
    s = torch.arange(-2 * radius, 2 * radius + 1, device=device)
    sy, sx = s.repeat_interleave(span), s.repeat(span)  # [span²], ascending in sy·W + sx
    py = torch.arange(h, device=device).repeat_interleave(w)[:, None] + sy  # [N, span²]
    px = torch.arange(w, device=device).repeat(h)[:, None] + sx
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    cols = (py * w + px)[inside]
    del py, px
    rows = torch.arange(n, device=device)[:, None].expand(n, span * span)[inside]
    values = band.view(n, span * span)[inside]
    del band, inside
    # Rows come out ascending and, when W > 4r (the stencil does not wrap), columns ascending
    # within a row: the tensor is already coalesced.
    lap = torch.sparse_coo_tensor(
        torch.stack((rows, cols)), values, (n, n), check_invariants=False, is_coalesced=w > 4 * radius
    )
    return lap if lap.is_coalesced() else lap.coalesce()


class _SymmetricQuadraticForm(torch.autograd.Function):
    """``Σ_columns vᵀ L v`` for a constant symmetric L; the gradient ``2 L v`` reuses ``L v``.

    One sparse product per evaluation (plain autograd through ``torch.sparse.mm`` would do a
    second one, with ``Lᵀ``, in the backward pass).
    """

    @staticmethod
    def forward(ctx: Any, v: Tensor, lap: Tensor) -> Tensor:
        lv = torch.sparse.mm(lap, v) if lap.is_sparse else lap @ v
        ctx.save_for_backward(lv)
        return (v * lv).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (lv,) = ctx.saved_tensors
        return 2.0 * grad * lv, None


def photorealism_loss(output: Tensor, laplacian: Tensor) -> Tensor:
    """Luan's photorealism term ``Σ_c V_c[O]ᵀ L V_c[O]``, a differentiable scalar.

    Args:
        output: the image being optimised, ``[B, C, H, W]`` or ``[C, H, W]`` with H·W = N and the
            same colour scale as the content the Laplacian was built from ([0, 1]). Every channel
            of every batch item is one vector v; the loss is the sum over them.
        laplacian: ``[N, N]``, sparse (COO or CSR) or dense, **symmetric** (the gradient used is
            ``2 L v``), from :func:`matting_laplacian`; treated as a constant.

    Returns:
        A scalar in the output's dtype (float32 for half-precision outputs) on the output's
        device. Its gradient with respect to ``output`` is ``2 L v`` per channel.

    The Laplacian is converted to the output's device and dtype on every call when they differ
    (a copy of the whole matrix): in an optimisation loop use :func:`make_photorealism_loss` or
    :class:`PhotorealismLoss`, which keep the converted copy.
    """
    if not isinstance(output, Tensor) or output.dim() not in (3, 4) or not output.is_floating_point():
        shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise PhotorealismError(
            f"output must be a floating-point [B, C, H, W] or [C, H, W] tensor, got {shape}"
        )
    if not isinstance(laplacian, Tensor) or laplacian.dim() != 2:
        shape = tuple(laplacian.shape) if isinstance(laplacian, Tensor) else type(laplacian).__name__
        raise PhotorealismError(f"laplacian must be an [N, N] tensor, got {shape}")
    h, w = output.shape[-2:]
    n = h * w
    if tuple(laplacian.shape) != (n, n):
        raise PhotorealismError(
            f"laplacian is {tuple(laplacian.shape)} but output {tuple(output.shape)} has "
            f"{h}×{w} = {n} pixels: build it from a content image of the output's size"
        )
    compute = output.dtype if output.dtype in (torch.float32, torch.float64) else torch.float32
    lap = laplacian.to(device=output.device, dtype=compute)
    v = output.to(compute).reshape(-1, n).t()  # [N, B·C], one column per channel
    with torch.autocast(device_type=output.device.type, enabled=False):
        loss = _SymmetricQuadraticForm.apply(v, lap)
    return loss


class PhotorealismLoss:
    """A callable ``output -> photorealism_loss(output, laplacian)`` holding one Laplacian.

    It keeps the Laplacian converted to the device and dtype of the last output seen, so that an
    optimisation loop converts it once, not at every step.

    Attributes:
        laplacian: the ``[N, N]`` matrix as given.
        size: ``(H, W)`` the outputs must have.
    """

    def __init__(self, laplacian: Tensor, size: tuple[int, int]) -> None:
        h, w = size
        if not isinstance(laplacian, Tensor) or tuple(laplacian.shape) != (h * w, h * w):
            shape = tuple(laplacian.shape) if isinstance(laplacian, Tensor) else type(laplacian).__name__
            raise PhotorealismError(f"laplacian must be [{h * w}, {h * w}] for size {size}, got {shape}")
        self.laplacian = laplacian
        self.size = (int(h), int(w))
        self._cached: Tensor = laplacian

    def __call__(self, output: Tensor) -> Tensor:
        """``Σ_c v_cᵀ L v_c`` for ``output`` ``[B, C, H, W]`` or ``[C, H, W]`` of :attr:`size`."""
        if isinstance(output, Tensor) and output.dim() >= 2 and tuple(output.shape[-2:]) != self.size:
            raise PhotorealismError(
                f"output is {tuple(output.shape)} but this loss was built for "
                f"{self.size[0]}×{self.size[1]} px"
            )
        if isinstance(output, Tensor) and output.is_floating_point():
            compute = output.dtype if output.dtype in (torch.float32, torch.float64) else torch.float32
            if self._cached.device != output.device or self._cached.dtype != compute:
                self._cached = self.laplacian.to(device=output.device, dtype=compute)
        return photorealism_loss(output, self._cached)

    def __repr__(self) -> str:
        nnz = self.laplacian._nnz() if self.laplacian.is_sparse else "dense"
        return f"PhotorealismLoss(size={self.size}, nnz={nnz})"


def make_photorealism_loss(content: Tensor, eps: float = 1e-7, radius: int = 1) -> Callable[[Tensor], Tensor]:
    """Build the matting Laplacian of ``content`` once and return ``output -> loss``.

    Args:
        content: ``[1, 3, H, W]`` or ``[3, H, W]`` in [0, 1]; the outputs must be H×W too.
        eps, radius: as in :func:`matting_laplacian`.

    Returns:
        A :class:`PhotorealismLoss`: call it on the output ``[B, 3, H, W]`` to get the scalar
        ``Σ_c V_c[O]ᵀ L V_c[O]`` (multiply by λ, 10⁴ in Luan et al., and add it to the loss).
    """
    img = _as_chw(content, "content")
    return PhotorealismLoss(matting_laplacian(img, eps=eps, radius=radius), tuple(img.shape[-2:]))
