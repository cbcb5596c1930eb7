"""Spatial control: a style per region with guided Gram matrices (Gatys et al. 2017).

Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in Neural Style
Transfer" (CVPR 2017), control *where* a style goes with guidance channels: a mask ``m_r`` per
region ``r`` of the content image, downsampled to each layer's resolution. Region ``r`` gets its
own Gram matrix of the masked features and its own style target::

    G_r = (F ∘ m_r)(F ∘ m_r)ᵀ / (C · Σ_p m_r(p)²)          # [C, C] per region
    L_style = Σ_r w_r · mean((G_r(x) − T_r)²)               # per layer

The pieces, in pipeline order:

- :func:`load_mask` reads a mask image with one flat colour per region (PNG) at the content
  image's size and returns one-hot masks ``[R, H, W]``; :func:`masks_from_tensor` validates
  masks you built yourself.
- :func:`downsample_mask` / :func:`masks_for_layers` bring them to the resolution of each VGG layer.
- :func:`style_targets_for_regions` builds the per-region targets ``T_r`` (``[1, R, C, C]`` per layer).
- :func:`guided_gram_matrix` and :func:`guided_style_loss` are the loss.
- :func:`region_content_weights` and :func:`mask_to_rgb` help with unstylised regions and figures.

**Normalisation.** ``G_r`` is divided by ``C · Σ m_r²``, not by ``C·H·W``: it is then a weighted
*average* of ``F Fᵀ`` over the region (the weights ``m_r²/Σ m_r²`` sum to one), so it lives on the
same scale as :func:`nstlib.core.losses.gram_matrix` of a whole style image, whatever the region's area.
With one region of all ones it *is* ``gram_matrix`` (``Σ m² = H·W``). A mask scaled by a constant
gives the same ``G_r``. An empty region (``Σ m_r = 0``) gives a zero matrix, never NaN. Because
every region's Gram matrix is an average, a small region counts as much in the loss as a large one;
scale ``region_weights`` by area if you want otherwise.

**Downsampling.** Masks are brought to a layer's ``h × w`` by area averaging
(``adaptive_avg_pool2d``): each feature cell gets the fraction of its input pixels that belong to
the region. This is the simple choice: it does not model the receptive fields, which overlap
region borders, so style may bleed a few pixels across a border at deep layers. Averaging keeps
values in ``[0, 1]`` and keeps one-hot regions summing to one.

**Unstylised regions.** To keep a region as it is in the content image, give it weight 0 in
``region_weights`` (or the target ``None`` in the list form of ``target_grams``): it then has no
style loss at all, and the (global) content loss holds it in place. The gradient of the style loss
with respect to the features is exactly zero at positions where every styled region's mask is 0
(in the image, the receptive fields of the styled cells and the area-averaged masks at coarse
layers still reach a few pixels past a border). To hold the region more firmly, weight the content
loss per pixel with :func:`region_content_weights`.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor

from ..core.errors import NstlibError
from ..core.features import layer_resolution_divisor
from ..core.images import ImageError, from_pil
from ..core.losses import gram_matrix

__all__ = [
    "ColorLike",
    "DEFAULT_TOLERANCE",
    "EDGE_PX",
    "MIN_REGION_FRACTION",
    "MaskError",
    "downsample_mask",
    "guided_gram_matrix",
    "guided_style_loss",
    "load_mask",
    "mask_to_rgb",
    "masks_for_layers",
    "masks_from_tensor",
    "region_content_weights",
    "style_targets_for_regions",
]

#: A colour: an RGB triple of ints in 0..255, or a hex string ``"#ff0000"`` / ``"#f00"``.
ColorLike = str | Sequence[int]

#: Pixels whose colour is within this max-channel difference of a region colour snap to it.
DEFAULT_TOLERANCE = 16
#: Pixels up to this many pixels from a matched pixel are taken to be antialiasing / JPEG edges.
EDGE_PX = 3
#: When colours are detected (``colors=None``), a colour covering less than this is an error.
MIN_REGION_FRACTION = 0.005
_MAX_REGIONS = 255  # labels are stored as 8-bit images while resizing
_HEX_RE = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


class MaskError(NstlibError):
    """Bad mask input. The message is ONE line that names the file, value or shape at fault."""

    def __init__(self, message: str) -> None:
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _hex(color: Sequence[int]) -> str:
    r, g, b = (int(v) for v in color)
    return f"#{r:02x}{g:02x}{b:02x}"


def _parse_color(value: object) -> tuple[int, int, int]:
    """``(r, g, b)`` from a hex string or a triple of ints in 0..255, else MaskError."""
    if isinstance(value, str):
        match = _HEX_RE.fullmatch(value.strip())
        if not match:
            raise MaskError(f"bad colour {value!r}: use a hex string like '#ff0000' or an RGB triple")
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if isinstance(value, (Sequence, np.ndarray, Tensor)) and len(value) == 3:
        items = [v.item() if isinstance(v, (Tensor, np.generic)) else v for v in value]
        if all(_is_int(v) and 0 <= v <= 255 for v in items):
            return int(items[0]), int(items[1]), int(items[2])
    raise MaskError(f"bad colour {value!r}: use a hex string like '#ff0000' or three ints in 0..255")


def _parse_colors(colors: Sequence[ColorLike]) -> list[tuple[int, int, int]]:
    if isinstance(colors, (np.ndarray, Tensor)):
        colors = colors.tolist()
    if isinstance(colors, str) or not isinstance(colors, Sequence) or len(colors) == 0:
        raise MaskError(f"colors must be a non-empty list of colours, got {colors!r}")
    palette = [_parse_color(c) for c in colors]
    if len(set(palette)) != len(palette):
        dupes = sorted({_hex(c) for c in palette if palette.count(c) > 1})
        raise MaskError(f"colors lists the same colour twice: {', '.join(dupes)}")
    if len(palette) > _MAX_REGIONS:
        raise MaskError(f"colors lists {len(palette)} colours; at most {_MAX_REGIONS} regions are supported")
    return palette


def _check_size_hw(size_hw: object, what: str = "size_hw") -> tuple[int, int]:
    """``(H, W)`` as two ints >= 1, else MaskError naming the value."""
    if isinstance(size_hw, torch.Size):
        size_hw = tuple(size_hw)
    ok = (
        isinstance(size_hw, Sequence)
        and len(size_hw) == 2
        and all(_is_int(v) and v >= 1 for v in size_hw)
    )
    if not ok:
        raise MaskError(f"{what} must be (height, width), two integers >= 1, got {size_hw!r}")
    return int(size_hw[0]), int(size_hw[1])  # type: ignore[index]


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _float(tensor: Tensor) -> Tensor:
    """float64 stays float64; everything else (bool, ints, half, bfloat16) becomes float32."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


# --------------------------------------------------------------------------------------------
# Loading mask images
# --------------------------------------------------------------------------------------------


def _open_mask(path: Path, label: str) -> Image.Image:
    """The decoded, upright (EXIF orientation applied) mask image."""
    if not path.exists():
        raise MaskError(f"cannot load mask {label}: file does not exist")
    if not path.is_file():
        raise MaskError(f"cannot load mask {label}: not a regular file")
    try:
        with Image.open(path) as img:
            img.load()
            try:
                upright = ImageOps.exif_transpose(img)
            except Exception:  # a corrupt EXIF block must not make a decodable mask unreadable
                upright = img
            return upright.copy() if upright is img else upright
    except Image.UnidentifiedImageError as exc:
        raise MaskError(f"cannot load mask {label}: not an image, or an unsupported format") from exc
    except Image.DecompressionBombError as exc:
        raise MaskError(f"cannot load mask {label}: too large ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as exc:
        raise MaskError(f"cannot load mask {label}: truncated, corrupt or unsupported ({exc})") from exc


def _check_aspect(label: str, file_w: int, file_h: int, width: int, height: int) -> None:
    """MaskError unless the file has the content's aspect ratio (1 %, or 1 px of rounding)."""
    if width >= height:  # the shorter side, predicted from the longer one
        expected, actual = file_h * width / file_w, height
    else:
        expected, actual = file_w * height / file_h, width
    if abs(expected - actual) > max(1.0, 0.01 * actual):
        raise MaskError(
            f"mask {label} is the wrong size: it is {file_w}x{file_h} px (aspect {file_w / file_h:.3f}) "
            f"but the content image is {width}x{height} px (aspect {width / height:.3f}); "
            "a mask must have the content image's width:height ratio"
        )


def _rgb_array(img: Image.Image, label: str) -> np.ndarray:
    """``[h, w, 3]`` uint8 (transparency composited onto white, as :func:`load_image` does)."""
    try:
        pixels = from_pil(img)[0]
    except ImageError as exc:
        raise MaskError(f"cannot load mask {label}: {exc}") from exc
    return pixels.mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def _unique_colors(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct colours ``[U, 3]`` (int32), the index of each pixel's colour, and their counts."""
    flat = rgb.reshape(-1, 3).astype(np.int32)
    codes = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    colors = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1)
    return colors, inverse.reshape(-1), counts


def _detect_colors(rgb: np.ndarray, label: str, tolerance: int) -> list[tuple[int, int, int]]:
    """The region colours of a mask: distinct colours, merged within ``tolerance``, sorted by RGB."""
    colors, _, counts = _unique_colors(rgb)
    order = np.lexsort((np.arange(len(counts)), -counts))  # most common first, ties by colour
    reps: list[np.ndarray] = []
    totals: list[int] = []
    for index in order:
        color = colors[index]
        if reps:
            dist = np.abs(np.stack(reps) - color).max(axis=1)
            nearest = int(dist.argmin())
            if dist[nearest] <= tolerance:
                totals[nearest] += int(counts[index])
                continue
        if len(reps) == _MAX_REGIONS:
            raise MaskError(
                f"mask {label} has more than {_MAX_REGIONS} distinct colours: a mask needs one flat colour "
                "per region; if it was saved with antialiasing or as JPEG, pass colors=[...] listing the "
                "region colours"
            )
        reps.append(color)
        totals.append(int(counts[index]))
    pixels = rgb.shape[0] * rgb.shape[1]
    rare = [i for i, n in enumerate(totals) if n < MIN_REGION_FRACTION * pixels]
    if rare:
        worst = max(rare, key=lambda i: totals[i])
        major = sorted(_hex(reps[i]) for i in range(len(reps)) if i not in rare)
        hint = f"colors={major}" if major else "colors=[...] listing the region colours"
        raise MaskError(
            f"mask {label} has {len(rare)} colour(s) covering less than {100 * MIN_REGION_FRACTION:g} % of "
            f"its pixels each (e.g. {_hex(reps[worst])}, {totals[worst]} of {pixels} pixels): it was "
            f"probably saved with antialiasing or as JPEG; save it as PNG without antialiasing, or pass "
            f"{hint} to snap such pixels to the nearest region colour"
        )
    return sorted((int(c[0]), int(c[1]), int(c[2])) for c in reps)


def _absorb_edges(labels: np.ndarray, rgb: np.ndarray, palette: np.ndarray, edge_px: int) -> None:
    """Give unmatched pixels near matched ones the colour-nearest label found within ``edge_px``."""
    h, w = labels.shape
    unknown = np.flatnonzero(labels.reshape(-1) < 0)
    known = torch.from_numpy(labels.reshape(-1) >= 0)
    one_hot = torch.zeros(len(palette), h * w)
    one_hot[torch.from_numpy(labels.reshape(-1)).clamp(min=0)[known], torch.nonzero(known)[:, 0]] = 1.0
    near = F.max_pool2d(one_hot.view(1, -1, h, w), 2 * edge_px + 1, stride=1, padding=edge_px)
    present = near.view(len(palette), h * w)[:, torch.from_numpy(unknown)].T.numpy() > 0  # [N, K]
    pixels = rgb.reshape(-1, 3)[unknown].astype(np.float64)
    dist = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
    dist[~present] = np.inf
    best = dist.argmin(axis=1)
    found = np.isfinite(dist[np.arange(len(unknown)), best])
    labels.reshape(-1)[unknown[found]] = best[found]


def _classify(
    rgb: np.ndarray, palette: list[tuple[int, int, int]], label: str, tolerance: int, edge_px: int
) -> np.ndarray:
    """Region index ``[h, w]`` (int64) of every pixel; MaskError for colours not in ``palette``."""
    colors, inverse, counts = _unique_colors(rgb)
    pal = np.asarray(palette, dtype=np.int32)
    dist = np.abs(colors[:, None, :] - pal[None, :, :]).max(axis=2)  # [U, K]
    nearest = dist.argmin(axis=1)
    matched = dist[np.arange(len(colors)), nearest] <= tolerance
    labels = np.where(matched, nearest, -1)[inverse].reshape(rgb.shape[:2]).astype(np.int64)
    if edge_px > 0 and (labels < 0).any():
        _absorb_edges(labels, rgb, pal.astype(np.float64), edge_px)
    left = labels.reshape(-1) < 0
    if left.any():
        ids, n_left = np.unique(inverse[left], return_counts=True)
        top = int(ids[n_left.argmax()])
        pixels = labels.size
        raise MaskError(
            f"mask {label} has colour {_hex(colors[top])} ({int(counts[top])} of {pixels} pixels at "
            f"{rgb.shape[1]}x{rgb.shape[0]}; {int(left.sum())} pixels in all have unlisted colours), "
            f"which is not in colors [{', '.join(_hex(c) for c in palette)}]"
        )
    return labels


def load_mask(
    path: str | os.PathLike[str],
    size_hw: tuple[int, int],
    colors: Sequence[ColorLike] | None = None,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    edge_px: int = EDGE_PX,
    device: torch.device | str | None = None,
) -> tuple[Tensor, list[tuple[int, int, int]]]:
    """Load a region mask image (one flat colour per region) at the content image's size.

    Args:
        path: the mask file, best a PNG painted without antialiasing. Transparency is composited
            onto white and the EXIF orientation is applied, as in :func:`nstlib.core.images.load_image`.
        size_hw: ``(H, W)`` of the content image. The file must have the same aspect ratio (within
            1 %, or one pixel of rounding on the shorter side); it is resized with NEAREST.
        colors: the region colours, as RGB triples or hex strings (``"#ff0000"``), in the order
            the regions should have. ``None`` detects them (sorted by RGB value); then every
            colour must cover at least 0.5 % of the pixels.
        tolerance: pixels within this max-channel difference of a region colour snap to it.
        edge_px: only with ``colors``: a pixel matching no colour but within ``edge_px`` pixels
            of matched ones (an antialiased or JPEG edge) takes the colour-nearest region among
            them. Set 0 to refuse every unlisted colour.
        device: where to put the masks (default CPU).

    Returns:
        ``(masks, colors)``: one-hot ``[R, H, W]`` float32 in ``{0, 1}`` summing to 1 at every
        pixel, and the ``R`` region colours as ``(r, g, b)`` tuples.

    Colours are matched at the smaller of the file's and the content's resolution (a larger file
    is NEAREST-downscaled first; for a smaller one the region labels are NEAREST-upscaled), so
    pixel counts in messages refer to that resolution.

    Raises:
        MaskError: unreadable file, wrong aspect ratio (naming both sizes), a colour not in
            ``colors`` (naming it in hex and its pixel count), or, with ``colors=None``, colours
            too rare to be regions (antialiasing or JPEG).
    """
    height, width = _check_size_hw(size_hw)
    palette = None if colors is None else _parse_colors(colors)
    if not _is_int(tolerance) or not 0 <= tolerance <= 127:
        raise MaskError(f"tolerance must be an integer in 0..127, got {tolerance!r}")
    if not _is_int(edge_px) or edge_px < 0:
        raise MaskError(f"edge_px must be an integer >= 0, got {edge_px!r}")
    try:
        file_path = Path(os.fspath(path)).expanduser()
    except TypeError as exc:
        raise MaskError(f"load_mask expects a file path, got {path!r}") from exc
    label = f"'{os.fspath(path)}'"
    img = _open_mask(file_path, label)
    file_w, file_h = img.size
    _check_aspect(label, file_w, file_h, width, height)
    if file_w * file_h > width * height:  # classify at the smaller resolution
        img = img.resize((width, height), Image.Resampling.NEAREST)
    rgb = _rgb_array(img, label)
    if palette is None:
        palette = _detect_colors(rgb, label, int(tolerance))
        if len(palette) > _MAX_REGIONS:  # pragma: no cover - _detect_colors stops earlier
            raise MaskError(f"mask {label} has more than {_MAX_REGIONS} regions")
        labels = _classify(rgb, palette, label, int(tolerance), 0)
    else:
        labels = _classify(rgb, palette, label, int(tolerance), int(edge_px))
    if labels.shape != (height, width):
        small = Image.fromarray(labels.astype(np.uint8))  # mode "L"
        labels = np.asarray(small.resize((width, height), Image.Resampling.NEAREST)).astype(np.int64)
    masks = F.one_hot(torch.from_numpy(labels), len(palette)).permute(2, 0, 1).float().contiguous()
    return (masks if device is None else masks.to(device)), list(palette)


# --------------------------------------------------------------------------------------------
# Masks as tensors
# --------------------------------------------------------------------------------------------


def masks_from_tensor(masks: Tensor, size_hw: tuple[int, int]) -> Tensor:
    """Validate and normalise masks built in code.

    Args:
        masks: ``[R, H, W]`` soft or hard masks with values in ``[0, 1]`` (any real dtype), or a
            single region ``[H, W]`` (bool or ``[0, 1]``), which becomes ``[2, H, W]``: the region
            and its complement ``1 − m``. (A ``[1, H, W]`` tensor is *one* region: after the
            normalisation below it is 1 wherever it is > 0.)
        size_hw: ``(H, W)`` of the content image; the masks must have exactly this size.

    Returns:
        ``[R, H, W]`` float (float64 stays float64, else float32), same device, divided by
        ``Σ_r m_r`` where that sum is > 0 so the regions sum to 1 there; pixels in no region
        (sum 0) stay 0 and get no style loss.

    Raises:
        MaskError: wrong number of dimensions, a shape that does not match ``size_hw`` (naming
            both), no regions, NaN/inf, or values outside ``[0, 1]`` (naming the min and max).
    """
    height, width = _check_size_hw(size_hw)
    if not isinstance(masks, Tensor):
        raise MaskError(f"masks_from_tensor expects a torch.Tensor, got {type(masks).__name__}")
    if masks.dim() not in (2, 3):
        raise MaskError(f"masks must be [R, H, W] or [H, W], got shape {tuple(masks.shape)}")
    if tuple(masks.shape[-2:]) != (height, width):
        expected = f"(R, {height}, {width})" if masks.dim() == 3 else f"({height}, {width})"
        raise MaskError(
            f"mask shape {tuple(masks.shape)} does not match the content image's size {height}x{width} "
            f"(H x W): expected {expected}"
        )
    if masks.dim() == 3 and masks.shape[0] == 0:
        raise MaskError(f"masks have no regions: shape {tuple(masks.shape)}")
    if masks.is_complex():
        raise MaskError(f"masks must be real, got dtype {masks.dtype}")
    m = _float(masks.detach())
    if not torch.isfinite(m).all():
        raise MaskError("mask values must be finite, found NaN or infinity")
    low, high = float(m.min()), float(m.max())
    if low < 0.0 or high > 1.0:
        raise MaskError(f"mask values must be in [0, 1], got values from {low:.6g} to {high:.6g}")
    if m.dim() == 2:
        m = torch.stack([m, 1.0 - m])
    total = m.sum(dim=0, keepdim=True)
    positive = total > 0
    safe_total = torch.where(positive, total, torch.ones_like(total))
    return torch.where(positive, m / safe_total, torch.zeros_like(m))


def downsample_mask(mask: Tensor, size_hw: tuple[int, int]) -> Tensor:
    """Masks at a layer's resolution, by area averaging (``adaptive_avg_pool2d``).

    Args:
        mask: ``[R, H, W]`` or ``[B, R, H, W]`` with values in ``[0, 1]``.
        size_hw: ``(h, w)`` of the feature map, e.g. ``features.shape[-2:]``.

    Returns:
        ``[R, h, w]`` (or ``[B, R, h, w]``): each cell is the mean of the mask over the input
        pixels it covers (exactly the ``d × d`` block mean when ``H = d·h``), so values stay in
        ``[0, 1]`` and regions that summed to 1 still do (up to rounding). Same size: unchanged.
    """
    h, w = _check_size_hw(size_hw)
    if not isinstance(mask, Tensor) or mask.dim() not in (3, 4):
        what = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise MaskError(f"downsample_mask expects [R, H, W] or [B, R, H, W], got {what}")
    m = _float(mask)
    if tuple(m.shape[-2:]) == (h, w):
        return m
    batch = m if m.dim() == 4 else m.unsqueeze(0)
    out = F.adaptive_avg_pool2d(batch, (h, w)).clamp_(0.0, 1.0)
    return out if m.dim() == 4 else out.squeeze(0)


def masks_for_layers(mask: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """``{layer: downsample_mask(mask, (H // d, W // d))}`` with ``d = layer_resolution_divisor``.

    ``mask`` is ``[R, H, W]`` (or ``[B, R, H, W]``) at the resolution of the image fed to
    :class:`nstlib.core.features.VGGFeatures`; its 2×2 poolings floor, so ``H // d × W // d`` is exactly
    the size of each layer's feature map. Keys are the names as given (``relu4_1`` stays).
    """
    if not isinstance(mask, Tensor) or mask.dim() not in (3, 4):
        what = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise MaskError(f"masks_for_layers expects [R, H, W] or [B, R, H, W], got {what}")
    height, width = mask.shape[-2:]
    out: dict[str, Tensor] = {}
    for name in layers:
        d = layer_resolution_divisor(name)
        if height // d < 1 or width // d < 1:
            raise MaskError(f"a {width}x{height} mask is too small for layer {name!r}, which divides by {d}")
        out[name] = downsample_mask(mask, (height // d, width // d))
    return out


# --------------------------------------------------------------------------------------------
# Guided Gram matrices and the loss
# --------------------------------------------------------------------------------------------


def guided_gram_matrix(features: Tensor, mask: Tensor) -> Tensor:
    """Gram matrices of the features inside each region (guided Gram matrices, Gatys et al. 2017).

    Args:
        features: ``[B, C, H, W]`` (any memory format).
        mask: ``[R, H, W]`` or ``[B, R, H, W]`` (or ``[1, R, H, W]``) at the features' resolution
            (see :func:`downsample_mask`), values in ``[0, 1]``.

    Returns:
        ``[B, R, C, C]``: ``G[b, r] = Σ_p m_r(p)² F(p) F(p)ᵀ / (C · Σ_p m_r(p)²)``, i.e.
        ``(F ∘ m_r)(F ∘ m_r)ᵀ`` normalised so that an all-ones region gives exactly
        :func:`nstlib.core.losses.gram_matrix` (``C·H·W``) and an empty region gives zeros (not NaN).
        Computed in float32 (or float64) even under autocast, like ``gram_matrix``.
    """
    if not isinstance(features, Tensor) or features.dim() != 4:
        what = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise MaskError(f"guided_gram_matrix expects features [B, C, H, W], got {what}")
    b, c, h, w = features.shape
    if not isinstance(mask, Tensor) or mask.dim() not in (3, 4):
        what = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise MaskError(f"guided_gram_matrix expects a mask [R, H, W] or [B, R, H, W], got {what}")
    m = mask if mask.dim() == 4 else mask.unsqueeze(0)
    if tuple(m.shape[-2:]) != (h, w) or m.shape[0] not in (1, b):
        raise MaskError(
            f"mask of shape {tuple(mask.shape)} does not fit features of shape {tuple(features.shape)}: "
            f"downsample it to {h}x{w} (H x W) with downsample_mask"
        )
    regions = m.shape[1]
    flat = features.permute(0, 2, 3, 1).reshape(b, h * w, c)  # free view of channels_last
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()
    with torch.autocast(device_type=flat.device.type, enabled=False):  # keep the sums in fp32/fp64
        weights = m.to(device=flat.device, dtype=flat.dtype).reshape(m.shape[0], regions, h * w)
        mass = weights.square().sum(dim=-1)  # Σ m², [1 or B, R]
        denom = c * torch.where(mass > 0, mass, torch.ones_like(mass))
        grams = []
        for r in range(regions):  # one region at a time: memory stays at one copy of F
            masked = flat * weights[:, r, :, None]
            grams.append(torch.bmm(masked.transpose(1, 2), masked))
        gram = torch.stack(grams, dim=1) if grams else flat.new_zeros(b, 0, c, c)
        return gram / denom[:, :, None, None]


def _region_targets(target_grams: Tensor | Sequence[Tensor | None], regions: int) -> list[Tensor | None]:
    if isinstance(target_grams, Tensor):
        if target_grams.dim() != 4 or target_grams.shape[1] != regions:
            raise MaskError(
                f"target_grams of shape {tuple(target_grams.shape)} does not fit {regions} mask region(s): "
                f"expected [1 or B, {regions}, C, C]"
            )
        return [target_grams[:, r] for r in range(regions)]
    if isinstance(target_grams, (str, bytes)) or not isinstance(target_grams, Sequence):
        raise MaskError(
            f"target_grams must be a tensor [1, R, C, C] or a list, got {type(target_grams).__name__}"
        )
    if len(target_grams) != regions:
        raise MaskError(f"target_grams lists {len(target_grams)} region(s) but the mask has {regions}")
    return list(target_grams)


def _region_weights(region_weights: Sequence[float] | Tensor | None, regions: int) -> list[float]:
    if region_weights is None:
        return [1.0] * regions
    if isinstance(region_weights, Tensor):
        values = region_weights.detach().flatten().tolist()
    else:
        values = list(region_weights)
    if len(values) != regions:
        raise MaskError(f"region_weights has {len(values)} value(s) but the mask has {regions} region(s)")
    for value in values:
        bad_type = isinstance(value, bool) or not isinstance(value, numbers.Real)
        if bad_type or not math.isfinite(value) or value < 0:
            raise MaskError(f"region weights must be finite numbers >= 0, got {value!r}")
    return [float(v) for v in values]


def guided_style_loss(
    features: Tensor,
    target_grams: Tensor | Sequence[Tensor | None],
    mask: Tensor,
    region_weights: Sequence[float] | Tensor | None = None,
) -> Tensor:
    """``Σ_r w_r · mean((G_r(features) − T_r)²)`` over the regions with a target and ``w_r > 0``.

    Args:
        features: ``[B, C, H, W]`` of the image being optimised.
        target_grams: ``[1, R, C, C]`` or ``[B, R, C, C]`` (see :func:`style_targets_for_regions`),
            or a list of ``R`` entries, each ``[C, C]``, ``[1, C, C]``, ``[B, C, C]`` or ``None``.
        mask: ``[R, H, W]`` (or ``[B, R, H, W]``) at the features' resolution.
        region_weights: ``R`` numbers >= 0 (default all 1).

    Returns:
        A scalar. A region whose weight is 0 or whose target is ``None`` is left out entirely
        ("keep unstylised"): its pixels get no style gradient, exactly zero where no styled region
        overlaps them. With no styled region at all the result is a constant 0. With one all-ones
        region and weight 1 this equals :func:`nstlib.core.losses.style_loss`.
    """
    if not isinstance(mask, Tensor) or mask.dim() not in (3, 4):
        what = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise MaskError(f"guided_style_loss expects a mask [R, H, W] or [B, R, H, W], got {what}")
    regions = mask.shape[-3]
    targets = _region_targets(target_grams, regions)
    weights = _region_weights(region_weights, regions)
    active = [r for r in range(regions) if weights[r] > 0 and targets[r] is not None]
    if not active:
        return features.new_zeros((), dtype=torch.promote_types(features.dtype, torch.float32))
    index = torch.tensor(active, device=mask.device)
    grams = guided_gram_matrix(features, mask.index_select(mask.dim() - 3, index))  # [B, A, C, C]
    total: Tensor | None = None
    for i, r in enumerate(active):
        gram, target = grams[:, i], targets[r]
        assert target is not None
        if target.shape[-2:] != gram.shape[-2:] or target.dim() not in (2, 3):
            raise MaskError(
                f"the target Gram matrix of region {r} has shape {tuple(target.shape)}, "
                f"expected [1 or B, {gram.shape[-1]}, {gram.shape[-1]}]"
            )
        term = weights[r] * F.mse_loss(gram, target.to(gram.dtype).expand_as(gram))
        total = term if total is None else total + term
    assert total is not None
    return total


def style_targets_for_regions(
    style_features_per_region: Sequence[Mapping[str, Tensor]],
    style_masks: Sequence[Tensor | None],
    layers: Sequence[str],
) -> dict[str, Tensor]:
    """Per-region style targets: ``{layer: [B, R, C, C]}`` (``B = 1`` for one style image each).

    Args:
        style_features_per_region: for each region ``r``, the VGG features ``{layer: [B, C, H, W]}``
            of its style image (regions may share one dict; the images may differ in size).
        style_masks: for each region, ``None`` to use the whole style image (plain
            :func:`~nstlib.core.losses.gram_matrix`), or a single mask ``[H_s, W_s]`` or ``[1, H_s, W_s]``
            with values in ``[0, 1]`` over that style image (any resolution; it is downsampled to
            each layer), to use only that part of it (a guided Gram matrix). From a multi-region
            style mask ``sm`` ``[R, H_s, W_s]`` pass ``list(sm)``.
        layers: the style layers.

    Returns:
        Detached targets, region ``r`` at index ``r`` of dim 1, for :func:`guided_style_loss`.
        A region to be left unstylised still needs an entry here (any style will do): give it
        weight 0 in the loss.
    """
    regions = len(style_features_per_region)
    if regions == 0:
        raise MaskError("style_targets_for_regions needs at least one region")
    if len(style_masks) != regions:
        raise MaskError(
            f"style_masks has {len(style_masks)} entries but style_features_per_region has {regions}"
        )
    singles: list[Tensor | None] = []
    for r, smask in enumerate(style_masks):
        if smask is None:
            singles.append(None)
            continue
        is_2d = isinstance(smask, Tensor) and smask.dim() == 2
        if not (is_2d or (isinstance(smask, Tensor) and smask.dim() == 3 and smask.shape[0] == 1)):
            what = tuple(smask.shape) if isinstance(smask, Tensor) else type(smask).__name__
            raise MaskError(f"the style mask of region {r} must be [H, W] or [1, H, W], got {what}")
        m = _float(smask.detach()).reshape(1, *smask.shape[-2:])
        if not torch.isfinite(m).all() or float(m.min()) < 0.0 or float(m.max()) > 1.0:
            raise MaskError(f"the style mask of region {r} must have values in [0, 1]")
        if float(m.sum()) == 0.0:
            raise MaskError(f"the style mask of region {r} is empty (all zeros): it selects no style")
        singles.append(m)
    out: dict[str, Tensor] = {}
    for layer in layers:
        per_region = []
        for r, (feats, m) in enumerate(zip(style_features_per_region, singles)):
            if layer not in feats:
                raise MaskError(
                    f"the style features of region {r} have no layer {layer!r} (they have {sorted(feats)})"
                )
            f = feats[layer].detach()
            if f.dim() != 4:
                raise MaskError(
                    f"the style features of region {r} at {layer!r} must be [B, C, H, W], "
                    f"got {tuple(f.shape)}"
                )
            if m is None:
                gram = gram_matrix(f)
            else:
                gram = guided_gram_matrix(f, downsample_mask(m.to(f.device), tuple(f.shape[-2:])))[:, 0]
            per_region.append(gram)
        shapes = {tuple(g.shape) for g in per_region}
        if len(shapes) != 1:
            raise MaskError(
                f"the style features at {layer!r} disagree in batch or channels: Gram shapes {sorted(shapes)}"
            )
        out[layer] = torch.stack(per_region, dim=1)
    return out


def region_content_weights(mask: Tensor, weights: Sequence[float] | Tensor) -> Tensor:
    """A per-pixel weight map ``Σ_r w_r m_r``, ``[1, 1, H, W]``, for a region-weighted content loss.

    For example, to hold an unstylised region ``k`` firmly, use weights 1 everywhere and, say, 10
    for region ``k``, downsample the map to a content layer and use
    ``(wmap * (F − P) ** 2).mean()`` in place of the content loss (``wmap ≡ 1`` gives the usual one).

    Args:
        mask: ``[R, H, W]``.
        weights: ``R`` numbers >= 0.
    """
    if not isinstance(mask, Tensor) or mask.dim() != 3:
        what = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise MaskError(f"region_content_weights expects a mask [R, H, W], got {what}")
    values = _region_weights(weights, mask.shape[0])
    m = _float(mask)
    w = torch.tensor(values, dtype=m.dtype, device=m.device)
    return torch.einsum("rhw,r->hw", m, w)[None, None]


def mask_to_rgb(masks: Tensor, colors: Sequence[ColorLike]) -> Tensor:
    """Paint masks ``[R, H, W]`` in their colours: ``[1, 3, H, W]`` float32 in ``[0, 1]``.

    Each pixel is ``Σ_r m_r · colour_r / 255`` (soft masks blend; pixels in no region are black),
    so ``mask_to_rgb(*load_mask(path, size))`` redraws the mask file at that size.
    """
    if not isinstance(masks, Tensor) or masks.dim() != 3:
        what = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise MaskError(f"mask_to_rgb expects masks [R, H, W], got {what}")
    palette = [_parse_color(c) for c in colors] if not isinstance(colors, str) else [_parse_color(colors)]
    if len(palette) != masks.shape[0]:
        raise MaskError(f"mask_to_rgb got {len(palette)} colour(s) for {masks.shape[0]} region(s)")
    m = masks.detach().float()
    rgb = torch.tensor(palette, dtype=torch.float32, device=m.device) / 255.0  # [R, 3]
    return torch.einsum("rhw,rc->chw", m, rgb).clamp_(0.0, 1.0).unsqueeze(0)
