"""The settings of one Gatys optimisation: :class:`Config`, its presets, and :func:`as_config`.

A :class:`Config` is frozen and validated when it is made: every field out of range raises a
:class:`~nstlib.core.errors.ConfigError` that names the field and the value. The first six
fields are the seed's ``CONFIG`` dict, which :meth:`Config.from_dict` accepts as it is.
Notebook 06 introduces them, 07 the optimiser settings, 08 the weights.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .features import WEIGHT_SOURCES, FeatureError, canonical_layer

__all__ = [
    "COLOR_MODES",
    "Config",
    "ConfigError",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_STYLE_LAYERS",
    "INITS",
    "OPTIMIZERS",
    "PRESETS",
    "as_config",
]

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
COLOR_MODES = ("luminance", "histogram")
DEFAULT_CONTENT_LAYERS = ("conv4_2",)
DEFAULT_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")

#: The seed's three tuning presets (Gatys' α is ``content_weight``, β is ``style_weight``).
PRESETS: dict[str, dict[str, float]] = {
    "high_style": {"style_weight": 1e7, "content_weight": 1.0},
    "balanced": {"style_weight": 1e6, "content_weight": 1.0},
    "high_content": {"style_weight": 1e5, "content_weight": 10.0},
}

# Keys of the seed's CONFIG dict that are not optimisation settings: accepted and ignored.
_SEED_IO_KEYS = ("content_path", "style_path", "output_path")


@dataclass(frozen=True)
class Config:
    """Settings of one Gatys optimisation. The first six fields are the seed's ``CONFIG``.

    Attributes:
        image_size: longer side, in pixels, that images loaded from files are resized to.
        style_weight: β, the weight of the style loss.
        content_weight: α, the weight of the content loss.
        tv_weight: γ, the weight of the total-variation loss.
        num_steps: loss evaluations (forward + backward passes) to spend.
        learning_rate: Adam's step size on pixels in [0, 1]. L-BFGS ignores it: its step length
            comes from its curvature estimate and a strong-Wolfe line search.
        optimizer: ``"lbfgs"`` or ``"adam"``.
        init: start from the ``"content"`` image, uniform ``"noise"`` or the ``"style"`` image.
        content_layers, style_layers: VGG19 layer names (see :mod:`nstlib.core.features`).
        style_layer_weights: optional per-layer multipliers ``w_l`` (default 1 each).
        weights: VGG19 weight source: ``"caffe"``, ``"torchvision"``, ``"random"`` or a path.
        pooling: ``"max"`` or ``"avg"``.
        seed: seeds the noise initialisation and random weights; CPU runs are reproducible.
        device: ``"auto"`` (cuda, then mps, then cpu) or a torch device string.
        amp: on CUDA, run the VGG pass under float16 autocast (Gram matrices stay float32).
        lbfgs_history: L-BFGS memory (pairs of vectors kept); lower it to save memory.
        lbfgs_line_search: use a strong-Wolfe line search (default). Without it L-BFGS takes unit
            steps, which overshoot badly in the first iterations (measured at 128 px, 100 steps:
            best loss after 30 evaluations 706 without, 32 with; after 100, 16.1 against 13.7).
        style_blend: with several style images, their weights (normalised to sum to 1). The
            style target of each layer is the weighted mean of their Gram matrices, which has
            the same gradient as the weighted sum of their style losses. None: equal weights.
        style_scale: size of the style image relative to the output (longer sides), which sets
            the size of its brush strokes: 0.5 gives strokes twice as fine. A style tensor is
            used at its own size when this is 1.
        preserve_color: None, ``"luminance"`` (stylise the luminance only, then put back the
            content's chrominance) or ``"histogram"`` (match the style's colour mean and
            covariance to the content's first). Gatys et al. 2016, "Preserving Color".
        scales: coarse to fine, e.g. ``(128, 256, 512)``: optimise at each longer side in turn,
            starting each scale from the previous result upsampled. The evaluations are split
            equally between the scales, so coarse steps make the run cheaper. The last scale is
            the output size (it replaces ``image_size`` for images loaded from files).
        photo_weight: λ of the photorealism term (Luan et al. 2017): the matting Laplacian of
            the content keeps the output locally an affine function of the content's colours.
            The term is a sum over all pixel windows, so its effect grows with the image
            size: about 10 suits 256 px (notebook 12), 100 keeps the content photo unchanged
            there. 0 turns it off.
        tile: optimise outputs whose longer side exceeds this many pixels in overlapping tiles
            of this side, with the style's Gram matrices accumulated over the whole image
            (:mod:`nstlib.scale.tiling`); only one tile's activations are in memory at a time, and the
            image, its gradient and the L-BFGS history stay on the CPU. None: never tile. With
            ``scales``, the coarse scales that fit in one tile run whole.
        tile_overlap: pixels that neighbouring tiles share. When it is at least twice
            :func:`nstlib.scale.tiling.receptive_margin` of the layers used, the tiled loss and gradient
            equal the whole image's; below that, tiles are blended with a raised-cosine window.
        checkpointing: activation checkpointing through the VGG pass: each block's activations
            are recomputed during the backward pass instead of being kept (less memory per
            pixel, about a third more compute). Same result.
    """

    image_size: int = 512
    style_weight: float = 1e6
    content_weight: float = 1.0
    tv_weight: float = 1e-6
    num_steps: int = 300
    learning_rate: float = 0.01
    optimizer: str = "lbfgs"
    init: str = "content"
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_layer_weights: Mapping[str, float] | None = None
    weights: str = "caffe"
    pooling: str = "max"
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    lbfgs_history: int = 100
    lbfgs_line_search: bool = True
    style_blend: tuple[float, ...] | None = None
    style_scale: float = 1.0
    preserve_color: str | None = None
    scales: tuple[int, ...] | None = None
    photo_weight: float = 0.0
    tile: int | None = None
    tile_overlap: int = 64
    checkpointing: bool = False

    def __post_init__(self) -> None:
        for name in ("content_layers", "style_layers"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        for name in ("image_size", "num_steps", "lbfgs_history"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("style_weight", "content_weight", "tv_weight", "photo_weight"):
            value = getattr(self, name)
            if not _finite_number(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.style_weight == 0 and self.content_weight == 0:
            raise ConfigError("style_weight and content_weight are both 0: there is nothing to optimise")
        if not _finite_number(self.learning_rate) or self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be a finite number > 0, got {self.learning_rate!r}")
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("init", self.init, INITS)
        _check_choice("pooling", self.pooling, ("max", "avg"))
        if self.preserve_color is not None:
            _check_choice("preserve_color", self.preserve_color, COLOR_MODES)
        if not _finite_number(self.style_scale) or not 0.05 <= self.style_scale <= 8:
            raise ConfigError(f"style_scale must be a number from 0.05 to 8, got {self.style_scale!r}")
        if self.style_blend is not None:
            blend = tuple(self.style_blend)
            object.__setattr__(self, "style_blend", blend)
            if not blend or any(not _finite_number(b) or b < 0 for b in blend) or sum(blend) <= 0:
                raise ConfigError(f"style_blend must be weights >= 0 with a positive sum, got {blend!r}")
        if self.scales is not None:
            scales = tuple(self.scales)
            object.__setattr__(self, "scales", scales)
            if (not scales or any(isinstance(v, bool) or not isinstance(v, int) or v < 16 for v in scales)
                    or any(b <= a for a, b in zip(scales, scales[1:]))):
                raise ConfigError(f"scales must be increasing sizes of at least 16 px, got {scales!r}")
            if self.num_steps < len(scales):
                raise ConfigError(f"num_steps ({self.num_steps}) must be at least one per scale {scales!r}")
        if self.weights not in WEIGHT_SOURCES:
            if not str(self.weights).endswith((".pth", ".pt")):
                raise ConfigError(
                    f"weights must be one of {', '.join(WEIGHT_SOURCES)} or a .pth file; got {self.weights!r}"
                )
            if not os.path.isfile(self.weights):
                raise ConfigError(f"weights file {str(self.weights)!r} does not exist")
        if self.tile is not None and (isinstance(self.tile, bool) or not isinstance(self.tile, int) or self.tile < 32):
            raise ConfigError(f"tile must be None or a side of at least 32 px, got {self.tile!r}")
        ov = self.tile_overlap
        if isinstance(ov, bool) or not isinstance(ov, int) or ov < 0:
            raise ConfigError(f"tile_overlap must be an integer >= 0, got {ov!r}")
        if self.tile is not None and 2 * ov > self.tile:
            raise ConfigError(f"tile_overlap ({ov} px) must be at most half the tile ({self.tile} px)")
        if not self.content_layers and not self.style_layers:
            raise ConfigError("content_layers and style_layers are both empty")
        try:
            for layer in (*self.content_layers, *self.style_layers, *(self.style_layer_weights or {})):
                canonical_layer(layer)
        except FeatureError as exc:
            raise ConfigError(str(exc)) from None
        for layer, w in (self.style_layer_weights or {}).items():
            if layer not in self.style_layers:
                raise ConfigError(f"style_layer_weights names {layer!r}, which is not in style_layers")
            if not _finite_number(w) or w < 0:
                raise ConfigError(f"style_layer_weights[{layer!r}] must be a finite number >= 0, got {w!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Config":
        """Build a Config from a dict such as the seed's ``CONFIG``.

        The seed's file paths (``content_path``, ``style_path``, ``output_path``) are ignored here;
        any other unknown key is an error that suggests the closest field.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key in names:
                kwargs[key] = value
            elif key not in _SEED_IO_KEYS:
                close = difflib.get_close_matches(key, sorted(names), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"unknown config key {key!r}{hint}")
        return cls(**kwargs)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "Config":
        """One of :data:`PRESETS` (``high_style``, ``balanced``, ``high_content``), with overrides."""
        _check_choice("preset", name, tuple(PRESETS))
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def as_config(config: "Config | Mapping[str, Any] | None" = None, **overrides: Any) -> "Config":
    """A :class:`Config` from a Config, a dict like the seed's ``CONFIG`` or None (the defaults),
    with ``overrides`` (Config fields) applied."""
    if config is None:
        config = Config()
    elif isinstance(config, Mapping):
        config = Config.from_dict(config)
    return config.replace(**overrides) if overrides else config


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
