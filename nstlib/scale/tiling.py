"""Outputs larger than memory: Gatys' optimisation in overlapping tiles, with global style statistics.

A whole-image step keeps every VGG activation of the image for the backward pass (about 1.5 kB
per pixel, :mod:`nstlib.scale.memory`), which caps the output at a few megapixels on one device. Here
only one tile's activations exist at a time, while the loss stays the loss of the whole image:

- **Global Gram matrices.** Each style layer's Gram matrix is a sum over positions,
  ``G = Σ_p F(p) F(p)ᵀ / (C·N)``, so it can be accumulated tile by tile. Tiles overlap; each
  position is weighted by a partition of unity (the tiles' weights add up to 1 everywhere), so
  the sum counts every position once. Pass 1 (no gradients) accumulates ``G`` over all tiles;
  the style loss and ``∂L/∂G`` follow from the small ``C × C`` matrices. Pass 2 visits each tile
  again and back-propagates ``⟨∂L/∂G, G_tile⟩`` (plus the tile's content loss), which by the
  chain rule gives exactly that tile's share of ``∂L/∂x``. The content and TV terms are local.
- **Exact up to the receptive field.** A feature near a tile's edge sees zero padding where the
  whole image has pixels. :func:`receptive_margin` counts how far inside a tile a layer's features
  are exact; when the overlap is at least twice that margin, the weights are zero within the
  margin of every inner tile edge and the tiled loss and gradient equal the whole image's (up to
  float rounding; tested). Tiles start at multiples of the deepest layer's stride, so that the
  pooling grids align.
- **Blending.** With a smaller overlap, the windows ramp from one tile to the next with a
  raised cosine over the middle half of the overlap, so no tile edge shows (:func:`seam_score`
  measures it).

The image, its gradient and the L-BFGS history live on the CPU; tiles move to the device. Use it
through ``stylize(..., tile=512)`` (with ``scales``, the coarse scales that fit in one tile run
whole) or :func:`stylize_tiled`; ``python -m nstlib --tile 512``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.config import Config, ConfigError, as_config
from ..core.devices import resolve_device
from ..core.features import (
    CHANNELS,
    LAYER_NAMES,
    VGGFeatures,
    canonical_layer,
    check_image_sizes,
    get_extractor,
    layer_resolution_divisor,
    receptive_field,
    run_extractor,
)
from ..core.losses import content_loss, gram_matrix, style_loss, tv_loss
from ..core.optimize import Evaluation, Run, Stage, drive
from .memory import saved_tensor_bytes

__all__ = [
    "SEAM_THRESHOLD",
    "Tile",
    "TilePlan",
    "TiledLoss",
    "plan_tiles",
    "receptive_margin",
    "saved_bytes",
    "saved_bytes_per_pixel",
    "seam_score",
    "tiled_grams",
    "tiled_loss_and_grad",
]

#: :func:`seam_score` above this flags visible seams (an image without seams scores about 1).
SEAM_THRESHOLD = 2.0


def receptive_margin(layers: Sequence[str]) -> int:
    """Pixels from a tile's edge beyond which every feature of ``layers`` equals the whole image's.

    For a layer of field ``size`` and ``stride`` it is ``ρ + stride − 1`` (a cell whose window
    weight is non-zero may start up to ``stride − 1`` pixels before the weighted region). The
    largest over ``layers``: 1 for ``conv1_1``, 13 for ``conv3_1``, 45 for ``conv4_2``, 85 for
    ``conv5_1``. A tile overlap of twice this makes tiling exact.
    """
    if not layers:
        raise ConfigError("receptive_margin needs at least one layer name")
    margins = []
    for layer in layers:
        size, stride = receptive_field(layer)
        margins.append((size - stride) // 2 + stride - 1)
    return max(margins)


@dataclass(frozen=True)
class Tile:
    """One tile: rows ``top:bottom`` and columns ``left:right`` of the image, and its blending
    window ``weight`` ``[1, 1, bottom − top, right − left]`` (the windows of all tiles add up to 1)."""

    top: int
    bottom: int
    left: int
    right: int
    weight: Tensor

    @property
    def index(self) -> tuple[slice, slice, slice, slice]:
        """``image[tile.index]`` is this tile of an ``[B, C, H, W]`` image (a view)."""
        return (slice(None), slice(None), slice(self.top, self.bottom), slice(self.left, self.right))


@dataclass(frozen=True)
class TilePlan:
    """How an image of ``height × width`` px is cut into tiles (see :func:`plan_tiles`).

    Attributes:
        rows, cols: ``(start, stop)`` of each tile along the height and the width.
        row_weights, col_weights: the 1-D windows of those spans; a tile's window is their outer product.
        margin: :func:`receptive_margin` of the layers the plan was made for.
        exact: every overlap is at least twice ``margin``: the tiled loss is the whole image's.
        align: tiles start at multiples of this (the deepest layer's stride).
    """

    height: int
    width: int
    rows: tuple[tuple[int, int], ...]
    cols: tuple[tuple[int, int], ...]
    row_weights: tuple[Tensor, ...]
    col_weights: tuple[Tensor, ...]
    margin: int
    exact: bool
    align: int

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def __iter__(self) -> Iterator[Tile]:
        for (top, bottom), wr in zip(self.rows, self.row_weights):
            for (left, right), wc in zip(self.cols, self.col_weights):
                yield Tile(top, bottom, left, right, (wr[:, None] * wc[None, :])[None, None])

    @property
    def largest(self) -> tuple[int, int]:
        """``(height, width)`` of the largest tile, px."""
        return max(b - a for a, b in self.rows), max(b - a for a, b in self.cols)

    def borders(self) -> tuple[list[int], list[int]]:
        """Rows and columns where a tile edge or a blending cut lies inside the image (sorted):
        where seams would show (:func:`seam_score`)."""

        def lines(spans: tuple[tuple[int, int], ...]) -> list[int]:
            out = set()
            for (_, e0), (s1, _) in zip(spans, spans[1:]):
                out.update((s1, e0, (s1 + e0) // 2))
            return sorted(out)

        return lines(self.rows), lines(self.cols)


def _spans(n: int, tile: int, stride: int, align: int) -> list[tuple[int, int]]:
    if n <= tile:
        return [(0, n)]
    spans, start = [], 0
    while start + tile < n:
        spans.append((start, start + tile))
        start += stride
    last = (n - tile) // align * align  # a full tile ending at the border, its start aligned
    if last <= spans[-1][0]:
        spans[-1] = (spans[-1][0], n)
    else:
        spans.append((last, n))
    return spans


def _windows(spans: list[tuple[int, int]], margin: int) -> tuple[list[Tensor], bool]:
    """1-D windows of ``spans`` that add up to 1, and whether every overlap is exact."""
    n = spans[-1][1]
    raw = [torch.ones(e - s, dtype=torch.float64) for s, e in spans]
    exact = True
    for i, ((s0, e0), (s1, e1)) in enumerate(zip(spans, spans[1:])):
        overlap = e0 - s1
        m = margin if overlap >= 2 * margin else overlap // 4
        exact &= overlap >= 2 * margin
        a, b = s1 + m, e0 - m  # the window passes from tile i to tile i + 1 over [a, b)
        pos = torch.arange(n, dtype=torch.float64) + 0.5
        down = torch.where(pos < a, 1.0, 0.0)
        if b > a:
            ramp = 0.5 * (1 + torch.cos(math.pi * (pos - a) / (b - a)))
            down = torch.where((pos >= a) & (pos < b), ramp, down)
        raw[i] *= down[s0:e0]
        raw[i + 1] *= (1 - down)[s1:e1]
    total = torch.zeros(n, dtype=torch.float64)
    for (s, e), w in zip(spans, raw):
        total[s:e] += w
    assert bool((total > 0).all()), "tile windows leave a gap"
    return [(w / total[s:e]).float() for (s, e), w in zip(spans, raw)], exact


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def plan_tiles(height: int, width: int, tile: int, overlap: int, layers: Sequence[str]) -> TilePlan:
    """Cut an image of ``height × width`` px into tiles of ``tile`` px that overlap by ``overlap``.

    Tiles advance by ``tile − overlap`` rounded down to the deepest layer's stride (16 px for
    ``conv5_1``), so that pooling grids align with the whole image's; the last tile along each
    axis is moved back to end at the border (it may be up to one stride longer). Each tile's
    window is 1 in its own part, 0 within the receptive margin of its inner edges (when the
    overlap allows it: then the plan is ``exact``) and a raised cosine in between.

    Raises:
        ConfigError (a ValueError): a size or overlap that is not a non-negative integer, ``overlap`` more than
            half of ``tile``, or a stride smaller than the deepest layer's (the message names it).
    """
    _check_int("height", height, 1)
    _check_int("width", width, 1)
    _check_int("tile", tile, 1)
    _check_int("overlap", overlap, 0)
    if 2 * overlap > tile:
        raise ConfigError(f"overlap ({overlap} px) must be at most half the tile ({tile} px)")
    align = max(layer_resolution_divisor(n) for n in layers)
    deepest = max(layers, key=lambda n: LAYER_NAMES.index(canonical_layer(n)))
    stride = (tile - overlap) // align * align
    if stride < align or tile < 2 * align:
        raise ConfigError(
            f"tile {tile} px is too small for {deepest}: tiles must be at least {2 * align} px and "
            f"advance by at least {align} px (tile − overlap = {tile - overlap})"
        )
    margin = receptive_margin(layers)
    rows, cols = _spans(height, tile, stride, align), _spans(width, tile, stride, align)
    wr, exact_r = _windows(rows, margin)
    wc, exact_c = _windows(cols, margin)
    return TilePlan(height, width, tuple(rows), tuple(cols), tuple(wr), tuple(wc), margin,
                    exact_r and exact_c, align)


def _layer_weights(tile: Tile, divisors: set[int], device: torch.device) -> dict[int, Tensor]:
    """The tile's window averaged over each layer's cells (``[1, 1, h / d, w / d]`` per divisor d)."""
    w = tile.weight.to(device)
    return {d: (F.avg_pool2d(w, d) if d > 1 else w) for d in divisors}


def _cells(height: int, width: int, divisor: int) -> int:
    return (height // divisor) * (width // divisor)


def _check_finite(name: str, image: Tensor) -> None:
    if not bool(torch.isfinite(image).all()):
        raise ConfigError(f"the {name} image has non-finite values (NaN or inf)")


def tiled_grams(
    extractor: VGGFeatures,
    image: Tensor,
    plan: TilePlan,
    layers: Sequence[str],
    config: Config | None = None,
) -> dict[str, Tensor]:
    """The Gram matrix of each of ``layers`` for the whole ``image`` ``[1, 3, H, W]``, one tile at a time.

    Returns ``{layer: [1, C, C]}`` float32 on the extractor's device, equal to
    ``gram_matrix(extractor(image)[layer])`` when ``plan.exact``. No gradients.
    """
    config = config or Config()
    device = extractor.device
    divisors = {layer_resolution_divisor(n) for n in layers}
    sums: dict[str, Tensor] = {}
    with torch.no_grad():
        for tile in plan:
            feats = run_extractor(extractor, image[tile.index].to(device), config)
            weights = _layer_weights(tile, divisors, device)
            for n in layers:
                part = _weighted_sum(feats[n], weights[layer_resolution_divisor(n)])
                sums[n] = sums[n] + part if n in sums else part
            del feats
    return {n: sums[n] / _cells(plan.height, plan.width, layer_resolution_divisor(n)) for n in layers}


def _weighted_sum(features: Tensor, weights: Tensor) -> Tensor:
    """``Σ_p w(p) F(p) F(p)ᵀ / C`` over the tile: :func:`gram_matrix` without its division by H·W."""
    h, w = features.shape[-2:]
    return gram_matrix(features, weights) * (h * w)


class TiledLoss:
    """The Gatys loss of a whole image and its gradient, computed tile by tile.

    Built once per image size: it plans the tiles, computes the content features of each tile
    (kept on the CPU) and takes the style targets. Calling it with the image ``x`` ``[1, 3, H, W]``
    (a leaf on the CPU) returns the weighted loss terms and fills ``x.grad``.

    Args:
        extractor: the VGG features, on the device the tiles run on.
        content: the content image ``[1, 3, H, W]`` (CPU).
        style_targets: ``{style layer: [1, C, C]}`` Gram matrices (see :func:`tiled_grams`).
        config: weights, layers, ``amp``, ``checkpointing``, ``tile`` and ``tile_overlap``.
    """

    def __init__(
        self, extractor: VGGFeatures, content: Tensor, style_targets: Mapping[str, Tensor], config: Config
    ) -> None:
        if config.tile is None:
            raise ConfigError("TiledLoss needs config.tile (the tile side in pixels)")
        self.extractor, self.config = extractor, config
        self.device = extractor.device
        h, w = content.shape[-2:]
        layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
        self.plan = plan_tiles(h, w, config.tile, config.tile_overlap, layers)
        self.tiles = list(self.plan)
        self.divisors = {layer_resolution_divisor(n) for n in layers}
        self.cells = {n: _cells(h, w, layer_resolution_divisor(n)) for n in layers}
        self.style_targets = {n: t.to(self.device, torch.float32) for n, t in style_targets.items()}
        self.content_targets: list[dict[str, Tensor]] = []
        if config.content_layers and config.content_weight:
            with torch.no_grad():
                for tile in self.tiles:
                    feats = run_extractor(extractor, content[tile.index].to(self.device), config)
                    self.content_targets.append({n: feats[n].to(content.device) for n in config.content_layers})
                    del feats

    def style_grams(self, x: Tensor) -> dict[str, Tensor]:
        """Pass 1: the whole image's Gram matrices, ``{layer: [1, C, C]}``, accumulated without gradients."""
        return tiled_grams(self.extractor, x, self.plan, self.config.style_layers, self.config)

    def __call__(self, x: Tensor) -> tuple[dict[str, float], dict[str, float]]:
        """Loss terms (``total``, ``content``, ``style``, ``tv``, weighted) and the weighted style
        loss per layer at ``x``; fills ``x.grad`` (``[1, 3, H, W]``, where ``x`` lives)."""
        config = self.config
        alpha, beta, gamma = config.content_weight, config.style_weight, config.tv_weight
        layer_w = dict(config.style_layer_weights or {})
        x.grad = torch.zeros_like(x)
        # the style loss from the global Gram matrices, and dL/dG once for all tiles
        style_layers: dict[str, float] = {}
        dgram: dict[str, Tensor] = {}
        s_total = 0.0
        if beta and self.style_targets:
            grams = {n: g.requires_grad_(True) for n, g in self.style_grams(x.detach()).items()}
            losses = {n: F.mse_loss(grams[n], self.style_targets[n].expand_as(grams[n])) for n in grams}
            weighted = sum(beta * layer_w.get(n, 1.0) * v for n, v in losses.items())
            weighted.backward()  # type: ignore[union-attr]
            dgram = {n: g.grad for n, g in grams.items()}
            style_layers = {n: beta * layer_w.get(n, 1.0) * v.item() for n, v in losses.items()}
            s_total = sum(style_layers.values())
        # pass 2: each tile's share of the gradient
        c_total = 0.0
        for i, tile in enumerate(self.tiles):
            xt = x.detach()[tile.index].to(self.device).requires_grad_(True)
            feats = run_extractor(self.extractor, xt, config)
            weights = _layer_weights(tile, self.divisors, self.device)
            part = xt.new_zeros(())
            for n, g in dgram.items():
                part = part + (g * _weighted_sum(feats[n], weights[layer_resolution_divisor(n)])).sum() / self.cells[n]
            if self.content_targets:
                c_part = xt.new_zeros(())
                for n, target in self.content_targets[i].items():
                    wn = weights[layer_resolution_divisor(n)]
                    diff = feats[n].float() - target.to(self.device, torch.float32)
                    c_part = c_part + (wn * diff.square()).sum() / (diff.shape[1] * self.cells[n])
                part = part + alpha * c_part
                c_total += alpha * c_part.item()
            if part.requires_grad:
                part.backward()
                x.grad[tile.index] += xt.grad.to(x.device)
            del feats, part, xt
        t_total = 0.0
        if gamma:
            with torch.enable_grad():
                t = gamma * tv_loss(x)
                t.backward()
            t_total = t.item()
        terms = {"total": c_total + s_total + t_total, "content": c_total, "style": s_total, "tv": t_total}
        return terms, style_layers


def _style_targets(
    extractor: VGGFeatures, styles: Sequence[Tensor], blend: Sequence[float], config: Config
) -> dict[str, Tensor]:
    """The blended Gram matrices of the style images, each computed in tiles if it is larger than one."""
    targets: dict[str, Tensor] = {}
    layers = config.style_layers
    for image, weight in zip(styles, blend):
        h, w = image.shape[-2:]
        plan = plan_tiles(h, w, config.tile or max(h, w), config.tile_overlap, (*config.content_layers, *layers))
        for n, g in tiled_grams(extractor, image, plan, layers, config).items():
            targets[n] = targets[n] + weight * g if n in targets else weight * g
    return targets


def optimise_tiled(run: Run, content_img: Tensor, style_imgs: Sequence[Tensor], blend: Sequence[float],
                   init_img: Tensor, num_steps: int) -> Stage:
    """One tiled stage of :func:`nstlib.gatys.transfer.stylize`: ``num_steps`` evaluations of
    :class:`TiledLoss` from ``init_img``, with the optimiser on the whole image (on the CPU)."""
    config, extractor = run.config, run.extractor
    check_image_sizes(extractor, content_img, style_imgs)
    for name, img in (("content", content_img), ("init", init_img), *(("style", s) for s in style_imgs)):
        _check_finite(name, img)
    targets = _style_targets(extractor, style_imgs, blend, config)
    loss = TiledLoss(extractor, content_img.cpu(), targets, config)
    x = init_img.detach().to("cpu", torch.float32).clone().contiguous().requires_grad_(True)

    def evaluate() -> Evaluation:
        return Evaluation(*loss(x))

    return drive(run, x, init_img.cpu(), num_steps, evaluate)


def tiled_loss_and_grad(
    image: Tensor,
    content: Tensor,
    style: Tensor,
    config: Config | Mapping[str, Any] | None = None,
    *,
    tile: int = 512,
    overlap: int = 64,
    **overrides: Any,
) -> tuple[dict[str, float], Tensor]:
    """The Gatys loss of ``image`` and its gradient, computed in tiles (for tests and teaching).

    Args:
        image, content, style: ``[1, 3, H, W]`` in [0, 1]; ``image`` and ``content`` the same size.
            The style target is the style image's whole Gram matrices (computed in tiles too).
        config, overrides: as for ``stylize`` (weights, layers, device, ``checkpointing``).
        tile, overlap: the tiling.

    Returns:
        ``(losses, grad)``: the weighted terms ``total``, ``content``, ``style``, ``tv`` and
        ``style/<layer>``, and ``∂ total / ∂ image`` ``[1, 3, H, W]`` on the CPU.
    """
    config = as_config(config, tile=tile, tile_overlap=overlap, **overrides)
    for name, img in (("image", image), ("content", content), ("style", style)):
        if img.dim() != 4 or img.shape[:2] != (1, 3):
            raise ConfigError(f"the {name} image must be [1, 3, H, W], got shape {tuple(img.shape)}")
        _check_finite(name, img)
    if image.shape != content.shape:
        raise ConfigError(f"image {tuple(image.shape)} and content {tuple(content.shape)} differ in size")
    device = resolve_device(config.device)
    layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
    extractor = get_extractor(layers, config.weights, config.pooling, str(device), config.seed)
    check_image_sizes(extractor, content, [style])
    targets = _style_targets(extractor, [style.float().cpu()], [1.0], config)
    loss = TiledLoss(extractor, content.float().cpu(), targets, config)
    x = image.detach().float().cpu().clone().requires_grad_(True)
    terms, per_layer = loss(x)
    terms.update({f"style/{n}": v for n, v in per_layer.items()})
    return terms, x.grad


def seam_score(image: Tensor, rows: Sequence[int] = (), cols: Sequence[int] = (), window: int = 8) -> float:
    """How much more an image changes across the given border lines than near them; about 1 without seams.

    For a border at column ``c``, the energy of the step between pixel columns ``c − 1`` and ``c``
    (the squared difference, averaged over the rows and channels) is divided by the median energy
    of the steps ``2 … window`` px to either side: a high-frequency spike along the line, not an
    edge of the picture that happens to cross it. The score is the mean of that ratio over all the
    given borders (rows likewise). A tile stylised on its own and pasted beside another leaves a
    step along every border: it scores well above :data:`SEAM_THRESHOLD`.

    Args:
        image: ``[1, 3, H, W]`` or ``[3, H, W]``.
        rows, cols: positions of the borders to test (e.g. :meth:`TilePlan.borders`), each in
            ``1 … H − 1`` (``W − 1``).
        window: how far either side the local baseline reaches, px (at least 2).
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise ConfigError(f"seam_score expects [1, 3, H, W], got shape {tuple(image.shape)}")
    _check_finite("seam_score", image)
    if not rows and not cols:
        raise ConfigError("seam_score needs at least one border row or column")
    _check_int("window", window, 2)
    x = image.double()
    ratios = []
    for positions, dim in ((rows, 2), (cols, 3)):
        energy = x.diff(dim=dim).square().mean(dim=tuple(d for d in range(4) if d != dim))  # step k: k → k + 1
        for p in positions:
            if not 0 < p < x.shape[dim]:
                raise ConfigError(f"border {p} lies outside the image's 1 … {x.shape[dim] - 1} px")
            k = p - 1
            near = [j for j in (*range(k - window, k - 1), *range(k + 2, k + window + 1)) if 0 <= j < len(energy)]
            if not near:
                raise ConfigError(f"border {p}: the image is too small for a baseline {window} px either side")
            ratios.append(float(energy[k] / energy[near].median().clamp_min(1e-12)))
    return sum(ratios) / len(ratios)


def saved_bytes(config: Config | None = None, height: int = 128, width: int = 128, **overrides: Any) -> int:
    """Bytes that one Gatys loss evaluation of a ``height × width`` image keeps for its backward pass.

    Runs the loss (the content and style layers of ``config``, its ``checkpointing`` and
    ``amp``) on noise and counts with :func:`nstlib.scale.memory.saved_tensor_bytes`, weights and
    targets excluded. With checkpointing, the block inputs that ``torch.utils.checkpoint`` keeps
    by reference (not through saved-tensor hooks) are added. For a tiled run, pass the size of
    its largest tile (:attr:`TilePlan.largest`): only one tile's activations exist at a time.
    """
    config = as_config(config, **overrides)
    device = resolve_device(config.device)
    layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
    net = get_extractor(layers, config.weights, config.pooling, str(device), config.seed)
    gen = torch.Generator().manual_seed(height * 7919 + width)
    image = torch.rand(1, 3, height, width, generator=gen).to(device)
    with torch.no_grad():
        feats = run_extractor(net, image, config)
        c_targets = {n: feats[n].clone() for n in config.content_layers}
        s_targets = {n: gram_matrix(feats[n]) for n in config.style_layers}
        del feats
    x = image.clone().requires_grad_(True)

    def forward() -> Tensor:
        feats = run_extractor(net, x, config)
        return (sum(content_loss(feats[n], t) for n, t in c_targets.items())
                + sum(style_loss(feats[n], t) for n, t in s_targets.items()))  # type: ignore[return-value]

    fixed = [*net.parameters(), *net.buffers(), *c_targets.values(), *s_targets.values()]
    saved = saved_tensor_bytes(forward, exclude=fixed).activations
    if config.checkpointing:
        saved += _checkpoint_inputs(net, height, width, 2 if config.amp and device.type == "cuda" else 4)
    return saved


def saved_bytes_per_pixel(
    config: Config | None = None, sizes: tuple[int, int] = (64, 128), **overrides: Any
) -> float:
    """Bytes per pixel that one loss evaluation keeps for its backward pass: the slope of
    :func:`saved_bytes` between two square sizes, so that constants (the Gram matrices) drop out."""
    a, b = (saved_bytes(config, side, side, **overrides) for side in sizes)
    return (b - a) / (sizes[1] ** 2 - sizes[0] ** 2)


def _checkpoint_inputs(net: VGGFeatures, height: int, width: int, itemsize: int) -> int:
    """Bytes of the inputs of the checkpointed VGG blocks: the normalised image and each pooled map."""
    blocks = int(LAYER_NAMES[net.depth - 1][4])
    total = 3 * height * width * 4
    for b in range(1, blocks):
        total += CHANNELS[b - 1] * (height >> b) * (width >> b) * itemsize
    return total
