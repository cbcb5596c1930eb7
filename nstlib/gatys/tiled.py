"""Gatys in tiles: :func:`stylize_tiled` for outputs larger than memory, and the naive baseline.

The tiling itself (plans, the tiled loss with global Gram matrices, the seam check) lives in
:mod:`nstlib.scale.tiling`; ``stylize`` runs it when ``Config.tile`` is set. These two wrap
``stylize`` for the comparison that notebook 17 draws: global statistics against tiles
stylised on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor

from ..core.config import Config, as_config
from ..core.images import ImageLike
from ..core.optimize import StepInfo
from .transfer import Result, stylize

__all__ = ["naive_tiles", "stylize_tiled"]


def stylize_tiled(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    config: Config | Mapping[str, Any] | None = None,
    callback: Callable[[StepInfo], None] | None = None,
    *,
    tile: int = 512,
    overlap: int = 64,
    progress: bool = True,
    init_image: ImageLike | None = None,
    **overrides: Any,
) -> Result:
    """:func:`stylize` in tiles of ``tile`` px overlapping by ``overlap`` px.

    Same arguments (``init_image`` a warm start, e.g. a smaller result that is upsampled) and
    :class:`Result` (with its history) as ``stylize``;
    ``config.scales`` runs the coarse scales that fit in one tile on the whole image and the
    larger ones in tiles. Masks, ``photo_weight`` and extra losses need the whole image and are
    refused. Peak device memory is that of one tile, whatever the output size.
    """
    return stylize(content, style, as_config(config, tile=tile, tile_overlap=overlap, **overrides),
                   callback, progress=progress, init_image=init_image)


def naive_tiles(
    content: Tensor, style: Tensor, tile: int, config: Config | Mapping[str, Any] | None = None, **overrides: Any
) -> tuple[Tensor, list[int], list[int]]:
    """The naive way, for comparison: stylise each tile of a grid on its own and paste them.

    Each tile gets its own Gram matrices (its own share of the style), so neighbours disagree along
    their borders. Returns the image ``[1, 3, H, W]`` and the border rows and columns.
    """
    config = as_config(config, **overrides)
    out = content.detach().float().clone()
    h, w = content.shape[-2:]
    rows, cols = list(range(tile, h, tile)), list(range(tile, w, tile))
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            part = content[..., top:top + tile, left:left + tile]
            out[..., top:top + tile, left:left + tile] = stylize(part, style, config, progress=False).image
    return out, rows, cols
