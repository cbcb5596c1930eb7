"""Coarse-to-fine style transfer, measured against single-scale optimisation.

``stylize(..., scales=(128, 256, 512))`` (see :class:`nstlib.gatys.transfer.Config`) optimises at each
size in turn and starts each scale from the previous result, upsampled. The coarse scales settle
the large structures cheaply (a step at half the size costs about a quarter), and the fine scales
only add detail. This module measures what that buys: :func:`compare` runs both ways on the same
images, target size and evaluation budget, and reports the wall time and the loss reached at the
target size; :func:`time_to_reach` reads off when a run first reached a given loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from ..core.config import Config
from ..core.images import resize
from ..gatys.transfer import Result, stylize

__all__ = ["Comparison", "compare", "default_scales", "time_to_reach"]


def default_scales(size: int, levels: int = 2, smallest: int = 64) -> tuple[int, ...]:
    """Sizes halving from ``size``, e.g. ``default_scales(512, 3) == (128, 256, 512)``.

    Sizes below ``smallest`` are dropped (VGG's deepest style layer needs at least 16 px).
    """
    if size < 16 or levels < 1:
        raise ValueError(f"default_scales needs size >= 16 and levels >= 1, got {size}, {levels}")
    sizes = [size // 2**k for k in range(levels)][::-1]
    return tuple(s for s in sizes if s >= smallest) or (size,)


def time_to_reach(result: Result, loss: float, size: int | None = None) -> float:
    """Seconds until ``result`` first had a total loss ``<= loss``; ``inf`` if it never did.

    With ``size`` given, only evaluations at that longer side count (the losses of coarse scales
    are not comparable with those at the target size).
    """
    sizes = result.history.get("size")
    for i, (value, seconds) in enumerate(zip(result.history["total"], result.history["seconds"])):
        if size is not None and sizes is not None and sizes[i] != size:
            continue
        if value <= loss:
            return seconds
    return math.inf


@dataclass
class Comparison:
    """Single-scale against coarse-to-fine, same images, target size and evaluation budget.

    Attributes:
        single, multi: the two :class:`Result` objects.
        size: the target size (longer side, px); ``scales`` the coarse-to-fine sizes.
        speedup: single-scale seconds ÷ multi-scale seconds (whole runs).
        loss_ratio: multi-scale final loss ÷ single-scale final loss, both at the target size
            (below 1: coarse-to-fine ended lower).
        time_to_quality: seconds the single-scale run needed to first reach the multi-scale final
            loss, ÷ the multi-scale run's seconds (``inf`` if it never got there).
    """

    single: Result
    multi: Result
    size: int
    scales: tuple[int, ...]

    @property
    def speedup(self) -> float:
        return self.single.seconds / self.multi.seconds

    @property
    def loss_ratio(self) -> float:
        return self.multi.final_loss / self.single.final_loss

    @property
    def time_to_quality(self) -> float:
        return time_to_reach(self.single, self.multi.final_loss) / self.multi.seconds

    def summary(self) -> str:
        """One line per run and the three ratios, for notebooks and ``make bench``."""
        s, m = self.single, self.multi
        return (
            f"single scale {self.size} px: {s.evaluations} evaluations in {s.seconds:.1f} s, final loss {s.final_loss:.4g}\n"
            f"scales {', '.join(map(str, self.scales))} px: {m.evaluations} evaluations in {m.seconds:.1f} s, "
            f"final loss {m.final_loss:.4g}\n"
            f"multi-scale is {self.speedup:.2f}× faster; its loss is {self.loss_ratio:.2f}× the single-scale loss; "
            f"single scale needs {self.time_to_quality:.2f}× the multi-scale time to reach that loss"
        )


def compare(
    content: Tensor,
    style: Tensor,
    scales: Sequence[int],
    config: Config | None = None,
    **overrides,
) -> Comparison:
    """Run ``stylize`` at ``scales[-1]`` alone and coarse to fine over ``scales``.

    Both get ``config.num_steps`` evaluations, the same weights, images and seed. ``content`` is
    resized so that its longer side is ``scales[-1]`` for both runs. Returns a :class:`Comparison`.
    """
    config = (config or Config()).replace(**overrides) if overrides else (config or Config())
    scales = tuple(scales)
    target = resize(content, scales[-1])
    single = stylize(target, style, config.replace(scales=None), progress=False)
    multi = stylize(target, style, config.replace(scales=scales), progress=False)
    return Comparison(single, multi, scales[-1], scales)
