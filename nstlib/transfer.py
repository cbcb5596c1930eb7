"""Gatys et al. style transfer by optimisation: ``Config``, ``stylize`` and its ``Result``.

``stylize`` optimises the pixels of an image so that its VGG19 features match the content image
at the content layers and its Gram matrices match the style image at the style layers:

    L(x) = α · Σ content_loss + β · Σ_l w_l · style_loss_l + γ · tv_loss(x)

``num_steps`` counts loss evaluations (one forward and one backward pass each), whatever the
optimiser, so that L-BFGS and Adam compare fairly at equal compute.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .features import WEIGHT_SOURCES, FeatureError, VGGFeatures, canonical_layer
from .losses import content_loss, gram_matrix, total_style_loss, tv_loss

__all__ = [
    "Config",
    "ConfigError",
    "PRESETS",
    "Result",
    "StepInfo",
    "StylizeInterrupted",
    "get_extractor",
    "resolve_device",
    "stylize",
]

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
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
        content_layers, style_layers: VGG19 layer names (see :mod:`nstlib.features`).
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
        for name in ("style_weight", "content_weight", "tv_weight"):
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
        if self.weights not in WEIGHT_SOURCES:
            if not str(self.weights).endswith((".pth", ".pt")):
                raise ConfigError(
                    f"weights must be one of {', '.join(WEIGHT_SOURCES)} or a .pth file; got {self.weights!r}"
                )
            if not os.path.isfile(self.weights):
                raise ConfigError(f"weights file {str(self.weights)!r} does not exist")
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


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else is passed to ``torch.device``."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
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
    return dev


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
    from .images import load_image

    return load_image(image, size)


def _initial_image(init: str, content: Tensor, style: Tensor, seed: int) -> Tensor:
    """The starting point ``[1, 3, H, W]`` of the optimisation, the content's size."""
    if init == "content":
        return content.clone()
    if init == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=gen).to(content.device)
    # "style": the style image stretched to the content's size
    return torch.nn.functional.interpolate(style, size=content.shape[-2:], mode="bilinear", align_corners=False)


def stylize(
    content: Tensor | str | os.PathLike,
    style: Tensor | str | os.PathLike,
    config: Config | Mapping[str, Any] | None = None,
    callback: Callable[[StepInfo], None] | None = None,
    *,
    progress: bool = True,
    **overrides: Any,
) -> Result:
    """Render ``content`` in the style of ``style`` by optimising pixels (Gatys et al. 2016).

    Args:
        content: RGB ``[1, 3, H, W]`` in [0, 1], or a path/URL loaded at ``config.image_size``.
            A tensor is used at its own size.
        style: the same for the style image; its size may differ from the content's.
        config: a :class:`Config`, a dict like the seed's ``CONFIG``, or None for the defaults.
        callback: called after every loss evaluation with a :class:`StepInfo` (live previews).
        progress: show a ``tqdm.auto`` progress bar.
        **overrides: Config fields to change, e.g. ``num_steps=50``.

    Returns:
        A :class:`Result` whose ``image`` is the best image seen, ``[1, 3, H, W]`` on the CPU.

    Raises:
        ConfigError: an invalid setting or an image too small for the deepest layer.
        StylizeInterrupted: on Ctrl-C; its ``.result`` carries the best image so far.
    """
    if config is None:
        config = Config()
    elif isinstance(config, Mapping):
        config = Config.from_dict(config)
    if overrides:
        config = config.replace(**overrides)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    content_img = _as_image(content, config.image_size, "content").to(device)
    style_img = _as_image(style, config.image_size, "style").to(device)
    layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
    extractor = get_extractor(layers, config.weights, config.pooling, str(device), config.seed)
    for what, img in (("content", content_img), ("style", style_img)):
        h, w = img.shape[-2:]
        if min(h, w) < extractor.min_side:
            raise ConfigError(
                f"the {what} image is {w}×{h} px, too small for the deepest layer used; "
                f"it needs at least {extractor.min_side} px on each side"
            )

    use_amp = config.amp and device.type == "cuda"

    def features_of(image: Tensor) -> dict[str, Tensor]:
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            return extractor(image)

    start = time.perf_counter()
    with torch.no_grad():
        feats = features_of(content_img)
        content_targets = {n: feats[n].detach().clone() for n in config.content_layers}
        feats = features_of(style_img)
        style_targets = {n: gram_matrix(feats[n]) for n in config.style_layers}
        del feats

    x = _initial_image(config.init, content_img, style_img, config.seed).contiguous().requires_grad_(True)
    if config.optimizer == "lbfgs":
        optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=config.num_steps, max_eval=config.num_steps,
            tolerance_grad=0.0, tolerance_change=0.0, history_size=config.lbfgs_history,
            line_search_fn="strong_wolfe" if config.lbfgs_line_search else None,
        )
    else:
        optimizer = torch.optim.Adam([x], lr=config.learning_rate)

    alpha, beta, gamma = config.content_weight, config.style_weight, config.tv_weight
    layer_w = dict(config.style_layer_weights or {})
    history: dict[str, list[float]] = {"total": [], "content": [], "style": [], "tv": [], "seconds": []}
    for n in config.style_layers:
        history[f"style/{n}"] = []
    best = {"loss": math.inf, "step": 0, "image": x.detach().clone()}
    state = {"evals": 0}

    from tqdm.auto import tqdm

    bar = tqdm(total=config.num_steps, desc="stylize", unit="step", disable=not progress, leave=False)

    def closure() -> Tensor:
        if state["evals"] >= config.num_steps:
            raise _BudgetSpent
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        feats = features_of(x)
        c_loss = sum(content_loss(feats[n], t) for n, t in content_targets.items()) if content_targets else x.new_zeros(())
        s_loss, s_layers = total_style_loss(feats, style_targets, layer_w) if style_targets else (x.new_zeros(()), {})
        t_loss = tv_loss(x) if gamma else x.new_zeros(())
        total = alpha * c_loss + beta * s_loss + gamma * t_loss
        step = state["evals"] + 1
        value = total.item()
        if not math.isfinite(value):
            raise _NonFinite(step, value)
        total.backward()
        state["evals"] = step
        if value < best["loss"]:
            best.update(loss=value, step=step)
            best["image"].copy_(x.detach())
        losses = {"total": value, "content": alpha * c_loss.item(), "style": beta * s_loss.item(),
                  "tv": gamma * t_loss.item()}
        for n, l in s_layers.items():
            history[f"style/{n}"].append(beta * layer_w.get(n, 1.0) * l.item())
        for k, v in losses.items():
            history[k].append(v)
        elapsed = time.perf_counter() - start
        history["seconds"].append(elapsed)
        bar.update(1)
        if step % 10 == 0 or step == config.num_steps:
            bar.set_postfix(loss=f"{value:.3g}", refresh=False)
        if callback is not None:
            callback(StepInfo(step, config.num_steps, losses, x.detach(), elapsed))
        return total

    status, message = "done", ""
    try:
        if config.optimizer == "lbfgs":
            # One call runs until num_steps evaluations are spent (line searches included); it
            # stops earlier only if the gradient vanishes exactly.
            optimizer.step(closure)
        else:
            for _ in range(config.num_steps):
                optimizer.step(closure)
    except _BudgetSpent:
        pass
    except _NonFinite as exc:
        status = "nonfinite"
        message = (
            f"the loss became {exc.value} at step {exc.step}; stopped and kept the best image "
            f"(step {best['step']}). Lower the weights or the learning rate."
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    except KeyboardInterrupt:
        status = "interrupted"
        message = f"interrupted at step {state['evals']}; kept the best image (step {best['step']})"
    finally:
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    result = Result(
        image=best["image"].clamp_(0.0, 1.0).cpu(),
        history=history,
        evaluations=state["evals"],
        seconds=time.perf_counter() - start,
        config=config,
        best_step=best["step"],
        status=status,
        message=message or f"{state['evals']} evaluations, best total loss {best['loss']:.4g}",
    )
    if status == "interrupted":
        raise StylizeInterrupted(result)
    return result
