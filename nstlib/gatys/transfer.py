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
import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..controls.color import (
    luminance,
    luminance_only,
    match_color_histogram,
    match_luminance_stats,
    transfer_chrominance,
)
from ..controls.masks import MaskError, downsample_mask, guided_style_loss, load_mask, masks_from_tensor
from ..controls.photoreal import make_photorealism_loss
from ..core.config import PRESETS, Config, ConfigError, as_config
from ..core.devices import resolve_device
from ..core.features import check_image_sizes, get_extractor, layer_resolution_divisor, run_extractor
from ..core.images import ImageLike, load_image, max_pixels_for, resize
from ..core.losses import content_loss, gram_matrix, total_style_loss, tv_loss
from ..core.optimize import Evaluation, Run, Stage, StepInfo, drive
from ..scale.tiling import optimise_tiled

__all__ = [
    "Config",
    "ConfigError",
    "PRESETS",
    "Result",
    "StepInfo",
    "StylizeInterrupted",
    "as_config",
    "as_image",
    "get_extractor",
    "initial_image",
    "resolve_device",
    "run_extractor",
    "stylize",
]


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


def as_image(image: Tensor | str | os.PathLike, size: int, what: str) -> Tensor:
    if isinstance(image, Tensor):
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ConfigError(f"{what} image must be a [1, 3, H, W] tensor, got shape {tuple(image.shape)}")
        return image.detach().float()

    return load_image(image, size, max_pixels=max_pixels_for(size))  # the size asked for, however large


def initial_image(init: str, content: Tensor, style: Tensor, seed: int) -> Tensor:
    """The starting point ``[1, 3, H, W]`` of the optimisation, the content's size."""
    if init == "content":
        return content.clone()
    if init == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=gen).to(content.device)
    # "style": the style image stretched to the content's size
    return torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bilinear", align_corners=False)


def _resize_to(image: Tensor, longer: int) -> Tensor:
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


def _optimise(
    run: Run,
    content_img: Tensor,
    style_imgs: Sequence[Tensor],
    blend: Sequence[float],
    init_img: Tensor,
    num_steps: int,
    region_masks: Tensor | None = None,
    region_styles: Sequence[int | None] | None = None,
) -> Stage:
    """One Gatys optimisation at the content's size: ``num_steps`` evaluations from ``init_img``."""
    config, extractor = run.config, run.extractor
    check_image_sizes(extractor, content_img, style_imgs)
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
        region_masks = region_masks.to(device)
        for n in config.style_layers:
            d = layer_resolution_divisor(n)
            h, w = content_img.shape[-2:]
            layer_masks[n] = downsample_mask(region_masks, (h // d, w // d))
        region_weights = [0.0 if k is None else 1.0 for k in region_styles or ()]
    photo_term = None
    if config.photo_weight:
        photo_term = make_photorealism_loss(content_img)

    x = init_img.detach().clone().contiguous().requires_grad_(True)
    alpha, beta, gamma, lam = config.content_weight, config.style_weight, config.tv_weight, config.photo_weight
    layer_w = dict(config.style_layer_weights or {})

    def style_term(feats: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        if region_masks is None:
            return total_style_loss(feats, style_targets, layer_w)

        per_layer = {n: guided_style_loss(feats[n], style_targets[n], layer_masks[n], region_weights)
                     for n in config.style_layers}
        return sum(layer_w.get(n, 1.0) * v for n, v in per_layer.items()), per_layer  # type: ignore[return-value]

    def evaluate() -> Evaluation:
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
            return Evaluation({"total": value}, {})
        total.backward()
        losses = {"total": value, "content": alpha * c_loss.item(), "style": beta * s_loss.item(),
                  "tv": gamma * t_loss.item()}
        if p_loss is not None:
            losses["photo"] = lam * p_loss.item()
        losses.update({name: v.item() for name, v in extra.items()})
        return Evaluation(losses, {n: beta * layer_w.get(n, 1.0) * l.item() for n, l in s_layers.items()})

    return drive(run, x, init_img, num_steps, evaluate)


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
    extra_losses = dict(extra_losses or {})
    inputs = _load_inputs(content, style, config, masks, region_styles, init_image)
    _check_combinations(config, inputs, extra_losses)
    inputs = _color_before(inputs, config)
    # a tiled run keeps the whole images on the CPU and moves one tile at a time to the device
    inputs = inputs.to(torch.device("cpu") if config.tile else device)
    layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
    extractor = get_extractor(layers, config.weights, config.pooling, str(device), config.seed)
    bar = tqdm(total=config.num_steps, desc="stylize", unit="step", disable=not progress, leave=False)
    run = Run(config, extractor, callback, bar, time.perf_counter(), _empty_history(config, extra_losses),
              extra_losses=extra_losses)
    try:
        stage, image = _optimise_scales(run, inputs, device)
    finally:
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return _finish(run, stage, _color_after(image, inputs, config))


@dataclass
class _Inputs:
    """The images of one ``stylize`` call, loaded, checked and (after colour pre-processing) ready.

    Attributes:
        content: ``[1, 3, H, W]``, what the content loss matches (luminance only with
            ``preserve_color="luminance"``).
        original: the content as given, whose colours ``"luminance"`` puts back at the end.
        styles: one ``[1, 3, h, w]`` per style image, at ``style_scale`` of the content.
        blend: the normalised weight of each style.
        masks: ``[R, H, W]`` regions of the content, or None; ``region_styles`` their style indices.
        start: the warm start ``[1, 3, h, w]`` (``init_image``), or None.
    """

    content: Tensor
    original: Tensor
    styles: list[Tensor]
    blend: list[float]
    masks: Tensor | None = None
    region_styles: list[int | None] | None = None
    start: Tensor | None = None

    def to(self, device: torch.device) -> "_Inputs":
        """The same inputs, the images on ``device`` (the masks move per scale)."""
        return dataclasses.replace(
            self, content=self.content.to(device), original=self.original.to(device),
            styles=[s.to(device) for s in self.styles],
            start=None if self.start is None else self.start.to(device))


def _style_blend(config: Config, count: int) -> list[float]:
    """The weights of ``count`` style images, normalised to sum to 1 (equal without ``style_blend``)."""
    if count == 0:
        raise ConfigError("no style image was given")
    if config.style_blend is not None and len(config.style_blend) != count:
        raise ConfigError(f"style_blend has {len(config.style_blend)} weights for {count} style images")
    blend = [float(b) for b in (config.style_blend or [1.0] * count)]
    return [b / sum(blend) for b in blend]


def _load_inputs(content: ImageLike, style: ImageLike | Sequence[ImageLike], config: Config,
                 masks: Tensor | str | os.PathLike | None, region_styles: Sequence[int | None] | None,
                 init_image: ImageLike | None) -> _Inputs:
    """Load (or check) every image at the size the run needs: the content at the output size (the
    last of ``config.scales``), the styles at ``style_scale`` of it, the masks at the content's."""
    style_list = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = _style_blend(config, len(style_list))
    final_size = config.scales[-1] if config.scales else config.image_size
    content_img = as_image(content, final_size, "content")
    if config.scales and isinstance(content, Tensor):
        content_img = _resize_to(content_img, final_size)
    style_longer = config.style_scale * max(content_img.shape[-2:])
    styles = []
    for i, s in enumerate(style_list):
        what = "style" if len(style_list) == 1 else f"style {i + 1}"
        img = as_image(s, max(16, round(config.style_scale * final_size)), what)
        if isinstance(s, Tensor) and config.style_scale != 1.0:
            img = _resize_to(img, style_longer)
        styles.append(img)
    region_masks, region_list = _load_masks(masks, region_styles, content_img, len(styles), config)
    start = as_image(init_image, final_size, "init") if init_image is not None else None
    return _Inputs(content_img, content_img, styles, blend, region_masks, region_list, start)


def _load_masks(masks: Tensor | str | os.PathLike | None, region_styles: Sequence[int | None] | None,
                content: Tensor, n_styles: int, config: Config) -> tuple[Tensor | None, list[int | None] | None]:
    """The regions ``[R, H, W]`` at the content's size and the style index of each (None: unstylised)."""
    if masks is None:
        if region_styles is not None:
            raise ConfigError("region_styles needs masks")
        return None, None
    size_hw = tuple(content.shape[-2:])
    try:
        region_masks = masks_from_tensor(masks, size_hw) if isinstance(masks, Tensor) else load_mask(masks, size_hw)[0]
    except MaskError as exc:
        raise ConfigError(str(exc)) from None
    n_regions = region_masks.shape[0]
    if region_styles is None:
        if n_regions != n_styles:
            raise ConfigError(
                f"the mask has {n_regions} regions but {n_styles} style image(s) were given; "
                "give one style per region or say which style each region takes (region_styles)")
        region_styles = list(range(n_regions))
    region_styles = list(region_styles)
    if len(region_styles) != n_regions:
        raise ConfigError(f"region_styles has {len(region_styles)} entries for {n_regions} mask regions")
    for k in region_styles:
        if k is not None and not (isinstance(k, int) and 0 <= k < n_styles):
            raise ConfigError(f"region_styles entry {k!r} is not None or a style index 0..{n_styles - 1}")
    if config.style_blend is not None:
        raise ConfigError("style_blend and masks do not combine: with masks, each region takes one style")
    return region_masks, region_styles


def _check_combinations(config: Config, inputs: _Inputs, extra_losses: Mapping[str, Any]) -> None:
    """Refuse the options that do not combine (tiles need a loss that splits over the image)."""
    if extra_losses and config.scales:
        raise ConfigError("extra losses are computed at the output size; they do not combine with scales")
    if config.tile and (inputs.masks is not None or extra_losses or config.photo_weight):
        what = "masks" if inputs.masks is not None else "extra losses" if extra_losses else "photo_weight"
        raise ConfigError(f"tile={config.tile} does not combine with {what}: they need the whole image at once")
    clash = set(extra_losses) & {"total", "content", "style", "tv", "photo", "seconds", "size"}
    if clash:
        raise ConfigError(f"extra loss name {sorted(clash)[0]!r} is taken by a built-in term")


def _color_before(inputs: _Inputs, config: Config) -> _Inputs:
    """Colour pre-processing (Gatys et al. 2016, "Preserving Color"): ``"histogram"`` matches each
    style's colour mean and covariance to the content's; ``"luminance"`` optimises the luminance
    only, against each style's luminance shifted and scaled to the content's mean and std."""
    if config.preserve_color == "histogram":
        return dataclasses.replace(inputs, styles=[match_color_histogram(s, inputs.content) for s in inputs.styles])
    if config.preserve_color != "luminance":
        return inputs
    content_y = luminance(inputs.content)
    styles = [match_luminance_stats(luminance(s), content_y).clamp(0.0, 1.0).repeat(1, 3, 1, 1)
              for s in inputs.styles]
    start = None if inputs.start is None else luminance_only(inputs.start)
    return dataclasses.replace(inputs, content=luminance_only(inputs.content), styles=styles, start=start)


def _color_after(image: Tensor, inputs: _Inputs, config: Config) -> Tensor:
    """Colour post-processing: with ``"luminance"``, the content's chrominance on the result's luminance."""
    if config.preserve_color == "luminance":
        return transfer_chrominance(image, inputs.original)
    return image


def _empty_history(config: Config, extra_losses: Mapping[str, Any]) -> dict[str, list[float]]:
    """The history's keys, in the order a :class:`Result` lists them, each an empty list."""
    history: dict[str, list[float]] = {"total": [], "content": [], "style": [], "tv": [], "seconds": []}
    if config.photo_weight:
        history["photo"] = []
    if config.scales:
        history["size"] = []
    for name in extra_losses:
        history[name] = []
    for n in config.style_layers:
        history[f"style/{n}"] = []
    return history


def _optimise_scales(run: Run, inputs: _Inputs, device: torch.device) -> tuple[Stage, Tensor]:
    """Optimise at each of ``config.scales`` in turn (or once at the content's size), each scale
    starting from the previous one's best image upsampled; tiles where a scale exceeds ``tile``.
    Returns the last stage and its image at the content's size."""
    config, content = run.config, inputs.content
    content_longer = max(content.shape[-2:])
    sizes = config.scales or (content_longer,)
    previous: Tensor | None = None
    for size, n_steps in zip(sizes, _split_steps(config.num_steps, len(sizes))):
        scale = size / content_longer
        c, ss, m = content, inputs.styles, inputs.masks
        if scale != 1:
            c = _resize_to(content, size)
            ss = [_resize_to(s, max(s.shape[-2:]) * scale) for s in inputs.styles]
            m = None if m is None else torch.nn.functional.interpolate(m[None], size=c.shape[-2:], mode="area")[0]
        start = previous if previous is not None else inputs.start
        init = _upsample(start, c) if start is not None else initial_image(config.init, c, ss[0], config.seed)
        if config.tile and max(c.shape[-2:]) > config.tile:
            stage = optimise_tiled(run, c, ss, inputs.blend, init, n_steps)
        else:
            stage = _optimise(run, c.to(device), [s.to(device) for s in ss], inputs.blend, init.to(device),
                              n_steps, m, inputs.region_styles)
        previous = stage.image
        if stage.status != "done":
            break
    return stage, _upsample(previous.to(content.device), content)


def _finish(run: Run, stage: Stage, image: Tensor) -> Result:
    """The :class:`Result`; warns on a non-finite loss and raises :class:`StylizeInterrupted` on Ctrl-C."""
    history = run.history
    if stage.status == "nonfinite":
        warnings.warn(stage.message, RuntimeWarning, stacklevel=3)
    best_value = history["total"][stage.best_step - 1] if stage.best_step else math.nan
    result = Result(
        image=image.clamp(0.0, 1.0).cpu(),
        history=history,
        evaluations=run.evaluations,
        seconds=time.perf_counter() - run.start,
        config=run.config,
        best_step=stage.best_step,
        status=stage.status,
        message=stage.message or f"{run.evaluations} evaluations, best total loss {best_value:.4g}",
    )
    if stage.status == "interrupted":
        raise StylizeInterrupted(result)
    return result
