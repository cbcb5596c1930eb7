"""Gatys et al. style transfer by optimisation: ``Config``, ``stylize`` and its ``Result``.

``stylize`` optimises the pixels of an image so that its VGG19 features match the content image
at the content layers and its Gram matrices match the style image at the style layers:

    L(x) = α · Σ content_loss + β · Σ_l w_l · style_loss_l + γ · tv_loss(x)

``num_steps`` counts loss evaluations (one forward and one backward pass each), whatever the
optimiser, so that L-BFGS and Adam compare fairly at equal compute.

The advanced controls are options of the same call (see :class:`Config`): several style images
blended by weight (``style_blend``), the style's scale (``style_scale``), colour preservation
(``preserve_color``, :mod:`nstlib.controls.color`), coarse-to-fine optimisation (``scales``), a
photorealism term (``photo_weight``, :mod:`nstlib.controls.photoreal`) and spatial control with masks
(``stylize(..., masks=...)``, :mod:`nstlib.controls.masks`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import Tensor

from ..core.features import WEIGHT_SOURCES, FeatureError, VGGFeatures, canonical_layer
from ..core.losses import content_loss, gram_matrix, total_style_loss, tv_loss

__all__ = [
    "Config",
    "ConfigError",
    "PRESETS",
    "Result",
    "StepInfo",
    "StylizeInterrupted",
    "as_config",
    "get_extractor",
    "resolve_device",
    "stylize",
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


class ConfigError(ValueError):
    """An invalid configuration value. The message names the field and the value."""


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


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else is passed to ``torch.device``.

    Under torchrun, ``cuda`` without an index is this process's GPU, ``cuda:LOCAL_RANK``.
    """
    from ..scale.distributed import local_device

    if str(device) == "auto":
        if torch.cuda.is_available():
            return local_device(torch.device("cuda"))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, but CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} was asked for, but MPS is not available here")
    return local_device(dev)


@functools.lru_cache(maxsize=4)
def get_extractor(
    layers: tuple[str, ...], weights: str = "caffe", pooling: str = "max", device: str = "cpu", seed: int = 0
) -> VGGFeatures:
    """A cached :class:`VGGFeatures`, so repeated ``stylize`` calls skip loading the weights."""
    return VGGFeatures(layers, weights=weights, pooling=pooling, device=device, seed=seed)


@dataclass
class StepInfo:
    """What the ``stylize`` callback receives after each loss evaluation.

    ``image`` is the current image ``[1, 3, H, W]`` (a detached view: do not modify it);
    ``losses`` are this step's weighted loss terms.
    """

    step: int
    num_steps: int
    losses: dict[str, float]
    image: Tensor
    seconds: float


@dataclass
class Result:
    """The outcome of :func:`stylize`.

    Attributes:
        image: the best image seen (lowest total loss), ``[1, 3, H, W]`` on the CPU, in [0, 1].
        history: per evaluation, the *weighted* loss terms ``total``, ``content``, ``style``,
            ``tv`` and ``style/<layer>``, plus ``seconds`` since the start.
        evaluations: loss evaluations done (forward + backward passes).
        seconds: wall time of the optimisation (targets included, weight loading excluded).
        best_step: the evaluation (1-based) that produced ``image``.
        status: ``"done"``, ``"interrupted"`` (Ctrl-C) or ``"nonfinite"`` (a loss became NaN/inf).
        message: a human-readable line about how it ended.
    """

    image: Tensor
    history: dict[str, list[float]]
    evaluations: int
    seconds: float
    config: Config
    best_step: int = 0
    status: str = "done"
    message: str = ""

    @property
    def final_loss(self) -> float:
        """The lowest total loss reached (that of ``image``)."""
        return self.history["total"][self.best_step - 1] if self.best_step else math.nan


class StylizeInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`stylize`; ``.result`` holds the best image so far."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.message)
        self.result = result


class _BudgetSpent(Exception):
    """num_steps evaluations are done (a line search may ask for more)."""


class _NonFinite(Exception):
    def __init__(self, step: int, value: float) -> None:
        self.step, self.value = step, value


def _as_image(image: Tensor | str | os.PathLike, size: int, what: str) -> Tensor:
    if isinstance(image, Tensor):
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ConfigError(f"{what} image must be a [1, 3, H, W] tensor, got shape {tuple(image.shape)}")
        return image.detach().float()
    from ..core.images import load_image, max_pixels_for

    return load_image(image, size, max_pixels=max_pixels_for(size))  # the size asked for, however large


def _initial_image(init: str, content: Tensor, style: Tensor, seed: int) -> Tensor:
    """The starting point ``[1, 3, H, W]`` of the optimisation, the content's size."""
    if init == "content":
        return content.clone()
    if init == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=gen).to(content.device)
    # "style": the style image stretched to the content's size
    return torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bilinear", align_corners=False)


def _resize_to(image: Tensor, longer: int) -> Tensor:
    from ..core.images import resize

    return resize(image, max(16, int(round(longer))))


def _upsample(image: Tensor, like: Tensor) -> Tensor:
    """``image`` ``[1, 3, h, w]`` resized to the size of ``like`` (coarse-to-fine)."""
    if image.shape[-2:] == like.shape[-2:]:
        return image.clone()
    up = torch.nn.functional.interpolate(image, size=like.shape[-2:], mode="bicubic", align_corners=False)
    return up.clamp_(0.0, 1.0)


def _split_steps(total: int, parts: int) -> list[int]:
    """``total`` evaluations split into ``parts`` nearly equal shares (the last gets the rest)."""
    share = total // parts
    return [share] * (parts - 1) + [total - share * (parts - 1)]


@dataclass
class _Run:
    """State shared by the stages of one ``stylize`` call (one per scale)."""

    config: Config
    extractor: VGGFeatures
    callback: Callable[[StepInfo], None] | None
    bar: Any
    start: float
    history: dict[str, list[float]]
    evaluations: int = 0
    extra_losses: Mapping[str, Callable[[Tensor], Tensor]] = field(default_factory=dict)


@dataclass
class _Stage:
    """The outcome of one scale: the best image at that scale and where it was found."""

    image: Tensor
    best_step: int  # 1-based, within the whole history; 0 if no evaluation was made
    status: str
    message: str


def _style_targets(
    extractor: Callable[[Tensor], dict[str, Tensor]],
    styles: Sequence[Tensor],
    blend: Sequence[float],
    layers: Sequence[str],
    region_styles: Sequence[int | None] | None,
) -> dict[str, Tensor]:
    """Per style layer, the blended Gram matrix ``[1, C, C]``, or ``[1, R, C, C]`` per mask region."""
    grams: list[dict[str, Tensor]] = []
    with torch.no_grad():
        for image in styles:
            feats = extractor(image)
            grams.append({n: gram_matrix(feats[n]) for n in layers})
            del feats
    if region_styles is None:
        return {n: sum(w * g[n] for w, g in zip(blend, grams)) for n in layers}  # type: ignore[misc]
    return {
        n: torch.stack([grams[k][n][0] if k is not None else torch.zeros_like(grams[0][n][0])
                        for k in region_styles]).unsqueeze(0)
        for n in layers
    }


def _check_sizes(extractor: VGGFeatures, content_img: Tensor, style_imgs: Sequence[Tensor]) -> None:
    for what, img in (("content", content_img), *(("style", s) for s in style_imgs)):
        h, w = img.shape[-2:]
        if min(h, w) < extractor.min_side:
            raise ConfigError(
                f"the {what} image is {w}×{h} px, too small for the deepest layer used; "
                f"it needs at least {extractor.min_side} px on each side"
            )


def run_extractor(extractor: VGGFeatures, image: Tensor, config: Config) -> dict[str, Tensor]:
    """``extractor(image)`` as ``config`` asks: float16 autocast on CUDA with ``config.amp``
    (the Gram matrices stay float32, see :func:`nstlib.core.losses.gram_matrix`) and activation
    checkpointing with ``config.checkpointing``. ``image`` ``[B, 3, H, W]`` on the extractor's device."""
    use_amp = config.amp and image.device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
        return extractor(image, checkpoint=config.checkpointing)


def _optimise(
    run: _Run,
    content_img: Tensor,
    style_imgs: Sequence[Tensor],
    blend: Sequence[float],
    init_img: Tensor,
    num_steps: int,
    region_masks: Tensor | None = None,
    region_styles: Sequence[int | None] | None = None,
) -> _Stage:
    """One Gatys optimisation at the content's size: ``num_steps`` evaluations from ``init_img``."""
    config, extractor = run.config, run.extractor
    _check_sizes(extractor, content_img, style_imgs)
    device = content_img.device
    features_of = functools.partial(run_extractor, extractor, config=config)

    with torch.no_grad():
        feats = features_of(content_img)
        content_targets = {n: feats[n].detach().clone() for n in config.content_layers}
        del feats
    style_targets = _style_targets(features_of, style_imgs, blend, config.style_layers, region_styles)
    layer_masks: dict[str, Tensor] = {}
    region_weights: list[float] | None = None
    if region_masks is not None:
        from ..controls.masks import downsample_mask
        from ..core.features import layer_resolution_divisor

        region_masks = region_masks.to(device)
        for n in config.style_layers:
            d = layer_resolution_divisor(n)
            h, w = content_img.shape[-2:]
            layer_masks[n] = downsample_mask(region_masks, (h // d, w // d))
        region_weights = [0.0 if k is None else 1.0 for k in region_styles or ()]
    photo_term = None
    if config.photo_weight:
        from ..controls.photoreal import make_photorealism_loss

        photo_term = make_photorealism_loss(content_img)

    x = init_img.detach().clone().contiguous().requires_grad_(True)
    alpha, beta, gamma, lam = config.content_weight, config.style_weight, config.tv_weight, config.photo_weight
    layer_w = dict(config.style_layer_weights or {})

    def style_term(feats: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        if region_masks is None:
            return total_style_loss(feats, style_targets, layer_w)
        from ..controls.masks import guided_style_loss

        per_layer = {n: guided_style_loss(feats[n], style_targets[n], layer_masks[n], region_weights)
                     for n in config.style_layers}
        return sum(layer_w.get(n, 1.0) * v for n, v in per_layer.items()), per_layer  # type: ignore[return-value]

    def evaluate() -> _Evaluation:
        feats = features_of(x)
        c_loss = sum(content_loss(feats[n], t) for n, t in content_targets.items()) if content_targets else x.new_zeros(())
        s_loss, s_layers = style_term(feats) if style_targets else (x.new_zeros(()), {})
        t_loss = tv_loss(x) if gamma else x.new_zeros(())
        total = alpha * c_loss + beta * s_loss + gamma * t_loss
        p_loss = None
        if photo_term is not None:
            p_loss = photo_term(x)
            total = total + lam * p_loss
        extra = {name: fn(x) for name, fn in run.extra_losses.items()}
        for v in extra.values():
            total = total + v
        value = total.item()
        if not math.isfinite(value):
            return _Evaluation({"total": value}, {})
        total.backward()
        losses = {"total": value, "content": alpha * c_loss.item(), "style": beta * s_loss.item(),
                  "tv": gamma * t_loss.item()}
        if p_loss is not None:
            losses["photo"] = lam * p_loss.item()
        losses.update({name: v.item() for name, v in extra.items()})
        return _Evaluation(losses, {n: beta * layer_w.get(n, 1.0) * l.item() for n, l in s_layers.items()})

    return _drive(run, x, init_img, num_steps, evaluate)


@dataclass
class _Evaluation:
    """One loss evaluation: the weighted terms (``total`` first) and the weighted style loss per layer."""

    losses: dict[str, float]
    style_layers: dict[str, float]


def _drive(
    run: _Run, x: Tensor, init_img: Tensor, num_steps: int, evaluate: Callable[[], _Evaluation]
) -> _Stage:
    """Optimise the leaf ``x`` ``[1, 3, H, W]`` for ``num_steps`` evaluations of ``evaluate``.

    ``evaluate()`` computes the loss at ``x`` and fills ``x.grad`` (one forward and backward pass,
    or the tiled passes of :mod:`nstlib.scale.tiling`). This loop clamps ``x`` to [0, 1] before each
    evaluation, keeps the best image, records the history, drives the progress bar and the
    callback, restarts L-BFGS after a failed line search, and stops on NaN or Ctrl-C.
    """
    config = run.config

    def new_lbfgs() -> torch.optim.Optimizer:
        return torch.optim.LBFGS(
            [x], lr=1.0, max_iter=num_steps, max_eval=num_steps,
            tolerance_grad=0.0, tolerance_change=0.0, history_size=config.lbfgs_history,
            line_search_fn="strong_wolfe" if config.lbfgs_line_search else None,
        )

    if config.optimizer == "lbfgs":
        optimizer: torch.optim.Optimizer = new_lbfgs()
    else:
        optimizer = torch.optim.Adam([x], lr=config.learning_rate)

    history = run.history
    offset = len(history["total"])
    best = {"loss": math.inf, "step": 0, "image": x.detach().clone()}
    state = {"evals": 0}

    def closure() -> float:
        if state["evals"] >= num_steps:
            raise _BudgetSpent
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        evaluation = evaluate()
        step = state["evals"] + 1
        value = evaluation.losses["total"]
        if not math.isfinite(value):
            raise _NonFinite(offset + step, value)
        state["evals"] = step
        run.evaluations += 1
        if value < best["loss"]:
            best.update(loss=value, step=step)
            best["image"].copy_(x.detach())
        losses = evaluation.losses
        for n, l in evaluation.style_layers.items():
            history[f"style/{n}"].append(l)
        for k, v in losses.items():
            history[k].append(v)
        if "size" in history:
            history["size"].append(float(max(x.shape[-2:])))
        elapsed = time.perf_counter() - run.start
        history["seconds"].append(elapsed)
        run.bar.update(1)
        if run.evaluations % 10 == 0 or run.evaluations == config.num_steps:
            run.bar.set_postfix(loss=f"{value:.3g}", refresh=False)
        if run.callback is not None:
            run.callback(StepInfo(run.evaluations, config.num_steps, losses, x.detach(), elapsed))
        return value

    status, message = "done", ""
    try:
        if config.optimizer == "lbfgs":
            # One call runs until num_steps evaluations are spent (line searches included). It
            # returns early when its line search finds no descent step along a stale curvature
            # estimate; then restart it with an empty history (a steepest-descent step first),
            # and stop only when a whole call brings no improvement (a true plateau).
            while state["evals"] < num_steps:
                best_before = best["loss"]
                optimizer.step(closure)
                if not best["loss"] < best_before:
                    break
                optimizer = new_lbfgs()
        else:
            for _ in range(num_steps):
                optimizer.step(closure)
    except _BudgetSpent:
        pass
    except _NonFinite as exc:
        status = "nonfinite"
        message = (
            f"the loss became {exc.value} at step {exc.step}; stopped and kept the best image "
            f"(step {offset + best['step'] if best['step'] else 0}). Lower the weights or the learning rate."
        )
    except KeyboardInterrupt:
        status = "interrupted"
        message = (f"interrupted at step {run.evaluations}; kept the best image "
                   f"(step {offset + best['step'] if best['step'] else 0})")
    image = best["image"] if best["step"] else init_img.detach()
    return _Stage(image.clamp(0.0, 1.0), offset + best["step"] if best["step"] else 0, status, message)


ImageLike = Union[Tensor, str, os.PathLike]


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    config: Config | Mapping[str, Any] | None = None,
    callback: Callable[[StepInfo], None] | None = None,
    *,
    progress: bool = True,
    masks: Tensor | str | os.PathLike | None = None,
    region_styles: Sequence[int | None] | None = None,
    init_image: ImageLike | None = None,
    extra_losses: Mapping[str, Callable[[Tensor], Tensor]] | None = None,
    **overrides: Any,
) -> Result:
    """Render ``content`` in the style of ``style`` by optimising pixels (Gatys et al. 2016).

    Args:
        content: RGB ``[1, 3, H, W]`` in [0, 1], or a path/URL loaded at ``config.image_size``
            (at the last of ``config.scales`` if given). A tensor is used at its own size.
        style: the same for the style image, or a list of them (blended by
            ``config.style_blend``, or one per mask region). Sizes may differ from the content's.
        config: a :class:`Config`, a dict like the seed's ``CONFIG``, or None for the defaults.
        callback: called after every loss evaluation with a :class:`StepInfo` (live previews).
        progress: show a ``tqdm.auto`` progress bar.
        masks: spatial control (Gatys et al. 2017): regions of the content image, as a mask
            image file with one flat colour per region or a ``[R, H, W]`` tensor (see
            :mod:`nstlib.controls.masks`). Region ``r`` takes the style ``region_styles[r]``.
        region_styles: for each region, the index of its style image, or None to keep that
            region unstylised (the content term alone holds it). Default: region ``r`` takes
            style ``r``, which needs as many style images as regions.
        init_image: start from this image instead of ``config.init`` (a warm start: refine an
            earlier result, or Luan et al.'s second stage, photorealism on top of a plain
            transfer). ``[1, 3, h, w]`` or a path; resized to the (first) working size.
        extra_losses: more loss terms, by name: each takes the image being optimised
            ``[1, 3, H, W]`` and returns a weighted scalar that is added to the total and
            recorded in the history under its name (for example Ruder et al.'s temporal loss,
            :mod:`nstlib.video.transfer`). Single-scale runs only.
        **overrides: Config fields to change, e.g. ``num_steps=50``.

    Returns:
        A :class:`Result` whose ``image`` is the best image seen, ``[1, 3, H, W]`` on the CPU.

    Raises:
        ConfigError: an invalid setting or an image too small for the deepest layer.
        StylizeInterrupted: on Ctrl-C; its ``.result`` carries the best image so far.
    """
    config = as_config(config, **overrides)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    style_list = list(style) if isinstance(style, (list, tuple)) else [style]
    if not style_list:
        raise ConfigError("no style image was given")
    if config.style_blend is not None and len(config.style_blend) != len(style_list):
        raise ConfigError(f"style_blend has {len(config.style_blend)} weights for {len(style_list)} style images")
    blend = [float(b) for b in (config.style_blend or [1.0] * len(style_list))]
    blend = [b / sum(blend) for b in blend]

    final_size = config.scales[-1] if config.scales else config.image_size
    content_img = _as_image(content, final_size, "content")
    if config.scales and isinstance(content, Tensor):
        content_img = _resize_to(content_img, final_size)
    content_longer = max(content_img.shape[-2:])
    style_longer = config.style_scale * content_longer
    styles = []
    for i, s in enumerate(style_list):
        what = "style" if len(style_list) == 1 else f"style {i + 1}"
        img = _as_image(s, max(16, round(config.style_scale * final_size)), what)
        if isinstance(s, Tensor) and config.style_scale != 1.0:
            img = _resize_to(img, style_longer)
        styles.append(img)

    region_masks = None
    if masks is not None:
        from ..controls.masks import MaskError, load_mask, masks_from_tensor

        size_hw = tuple(content_img.shape[-2:])
        try:
            region_masks = (masks_from_tensor(masks, size_hw) if isinstance(masks, Tensor)
                            else load_mask(masks, size_hw)[0])
        except MaskError as exc:
            raise ConfigError(str(exc)) from None
        n_regions = region_masks.shape[0]
        if region_styles is None:
            if n_regions != len(styles):
                raise ConfigError(
                    f"the mask has {n_regions} regions but {len(styles)} style image(s) were given; "
                    "give one style per region or say which style each region takes (region_styles)")
            region_styles = list(range(n_regions))
        region_styles = list(region_styles)
        if len(region_styles) != n_regions:
            raise ConfigError(f"region_styles has {len(region_styles)} entries for {n_regions} mask regions")
        for k in region_styles:
            if k is not None and not (isinstance(k, int) and 0 <= k < len(styles)):
                raise ConfigError(f"region_styles entry {k!r} is not None or a style index 0..{len(styles) - 1}")
        if config.style_blend is not None:
            raise ConfigError("style_blend and masks do not combine: with masks, each region takes one style")
    elif region_styles is not None:
        raise ConfigError("region_styles needs masks")
    extra_losses = dict(extra_losses or {})
    if extra_losses and config.scales:
        raise ConfigError("extra losses are computed at the output size; they do not combine with scales")
    if config.tile and (masks is not None or extra_losses or config.photo_weight):
        what = "masks" if masks is not None else "extra losses" if extra_losses else "photo_weight"
        raise ConfigError(f"tile={config.tile} does not combine with {what}: they need the whole image at once")
    clash = set(extra_losses) & {"total", "content", "style", "tv", "photo", "seconds", "size"}
    if clash:
        raise ConfigError(f"extra loss name {sorted(clash)[0]!r} is taken by a built-in term")

    original_content = content_img
    if config.preserve_color == "histogram":
        from ..controls.color import match_color_histogram

        styles = [match_color_histogram(s, content_img) for s in styles]
    elif config.preserve_color == "luminance":
        from ..controls.color import luminance, luminance_only, match_luminance_stats

        # the style's luminance, shifted and scaled to the content's mean and std (Gatys et al.)
        content_y = luminance(content_img)
        styles = [match_luminance_stats(luminance(s), content_y).clamp(0.0, 1.0).repeat(1, 3, 1, 1)
                  for s in styles]
        content_img = luminance_only(content_img)
    # a tiled run keeps the whole images on the CPU and moves one tile at a time to the device
    home = torch.device("cpu") if config.tile else device
    start = None
    if init_image is not None:
        start = _as_image(init_image, final_size, "init")
        if config.preserve_color == "luminance":
            from ..controls.color import luminance_only

            start = luminance_only(start)
        start = start.to(home)

    content_img, original_content = content_img.to(home), original_content.to(home)
    styles = [s.to(home) for s in styles]
    layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
    extractor = get_extractor(layers, config.weights, config.pooling, str(device), config.seed)

    from tqdm.auto import tqdm

    history: dict[str, list[float]] = {"total": [], "content": [], "style": [], "tv": [], "seconds": []}
    if config.photo_weight:
        history["photo"] = []
    if config.scales:
        history["size"] = []
    for name in extra_losses:
        history[name] = []
    for n in config.style_layers:
        history[f"style/{n}"] = []
    bar = tqdm(total=config.num_steps, desc="stylize", unit="step", disable=not progress, leave=False)
    run = _Run(config, extractor, callback, bar, time.perf_counter(), history, extra_losses=extra_losses)

    sizes = config.scales or (content_longer,)
    steps = _split_steps(config.num_steps, len(sizes))
    previous: Tensor | None = None
    stage = None
    try:
        for size, n_steps in zip(sizes, steps):
            scale = size / content_longer
            if scale == 1:
                c, ss, m = content_img, styles, region_masks
            else:
                c = _resize_to(content_img, size)
                ss = [_resize_to(s, max(s.shape[-2:]) * scale) for s in styles]
                m = None
                if region_masks is not None:
                    m = torch.nn.functional.interpolate(region_masks[None], size=c.shape[-2:], mode="area")[0]
            if previous is not None:
                init = _upsample(previous, c)
            elif start is not None:
                init = _upsample(start, c)
            else:
                init = _initial_image(config.init, c, ss[0], config.seed)
            if config.tile and max(c.shape[-2:]) > config.tile:
                from ..scale.tiling import optimise_tiled

                stage = optimise_tiled(run, c, ss, blend, init, n_steps)
            else:
                stage = _optimise(run, c.to(device), [s.to(device) for s in ss], blend, init.to(device),
                                  n_steps, m, region_styles)
            previous = stage.image
            if stage.status != "done":
                break
    finally:
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)

    assert stage is not None and previous is not None
    image = _upsample(previous.to(home), content_img)
    if config.preserve_color == "luminance":
        from ..controls.color import transfer_chrominance

        image = transfer_chrominance(image, original_content)
    status, message = stage.status, stage.message
    if status == "nonfinite":
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    best_value = history["total"][stage.best_step - 1] if stage.best_step else math.nan
    result = Result(
        image=image.clamp(0.0, 1.0).cpu(),
        history=history,
        evaluations=run.evaluations,
        seconds=time.perf_counter() - run.start,
        config=config,
        best_step=stage.best_step,
        status=status,
        message=message or f"{run.evaluations} evaluations, best total loss {best_value:.4g}",
    )
    if status == "interrupted":
        raise StylizeInterrupted(result)
    return result
