"""Arbitrary style transfer in real time with Adaptive Instance Normalization (AdaIN).

Huang & Belongie 2017: a fixed VGG19 encoder ``f``, one AdaIN layer and a trained decoder ``g``::

    t = AdaIN(f(c), f(s)) = σ(f(s)) · (f(c) − μ(f(c))) / σ(f(c)) + μ(f(s))
    T(c, s) = g(t)

``μ`` and ``σ`` are the per-sample, per-channel mean and standard deviation over the spatial
positions. The decoder is trained (only the decoder: the encoder stays frozen) to minimise

    L = L_c + λ L_s,   L_c = ‖f(g(t)) − t‖²,   L_s = Σ_i ‖μ(φ_i(g(t))) − μ(φ_i(s))‖² + ‖σ(φ_i(g(t))) − σ(φ_i(s))‖²

with ``φ_i`` the layers relu1_1, relu2_1, relu3_1 and relu4_1 and ``f = φ_4``. The norms are
mean squared errors here, which is how the authors' code computes them and what the default
``λ = 10`` is tuned for.

At test time ``alpha`` mixes the AdaIN target with the content's own features,
``t' = α t + (1 − α) f(c)``, and several styles are interpolated by a weighted sum of their
targets, ``t = Σ_k w_k AdaIN(f(c), f(s_k))``.

Tensors: images are RGB ``[B, 3, H, W]`` in [0, 1]; features ``[B, C, h, w]``. Everything runs on
the device of the module (inputs are moved there) and results come back on the content's device.

The :class:`Decoder` defined here is also the decoder of :mod:`nstlib.feedforward.wct`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..controls.color import match_color_histogram
from ..core.devices import resolve_device
from ..core.errors import NstlibError
from ..core.features import BLOCK_SIZES, CHANNELS, FeatureError, VGGFeatures, canonical_layer

__all__ = [
    "LEVELS",
    "STYLE_LAYERS",
    "AdaIN",
    "AdaINTask",
    "AdaINError",
    "Decoder",
    "adaptive_instance_norm",
    "canonical_level",
    "mean_std",
    "mean_std_style_loss",
    "check_alpha",
    "check_image",
    "encoder_input",
    "module_device",
    "pad_to_multiple",
]

#: The encoder levels a :class:`Decoder` can invert (``convB_1`` is accepted as an alias).
LEVELS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
#: The layers of AdaIN's style loss (Huang & Belongie, section 6.2).
STYLE_LAYERS: tuple[str, ...] = LEVELS


class AdaINError(NstlibError):
    """A bad argument to AdaIN, WCT or their decoder. The message names the value at fault."""


# --------------------------------------------------------------------------------------------
# helpers shared with nstlib.feedforward.wct


def canonical_level(level: str, error: type[ValueError] = AdaINError) -> str:
    """``relu4_1`` / ``conv4_1`` -> ``relu4_1``; anything but the four supported levels raises."""
    try:
        canon = canonical_layer(level) if isinstance(level, str) else None
    except FeatureError:
        canon = None
    name = "relu" + canon[4:] if canon else None
    if name not in LEVELS:
        raise error(f"unsupported level {level!r}: use one of {', '.join(LEVELS)} (or conv1_1 … conv4_1)")
    return name


def check_image(image: object, name: str, error: type[ValueError], single: bool = False) -> Tensor:
    """Check an RGB batch ``[B, 3, H, W]`` (``B == 1`` if ``single``) and return it."""
    if not isinstance(image, Tensor):
        raise error(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 4 or image.shape[1] != 3 or (single and image.shape[0] != 1):
        expected = "[1, 3, H, W]" if single else "[B, 3, H, W]"
        raise error(f"{name} must be an RGB image {expected}, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise error(f"{name} must be floating point in [0, 1], got dtype {image.dtype}")
    return image


def check_alpha(alpha: float, error: type[ValueError]) -> float:
    """``alpha`` as a float, or ``error`` if it is not a number in [0, 1] (the content-style mix)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise error(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def _normalised_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """Check ``style_weights`` (one finite weight >= 0 per style, not all zero) and scale them to sum 1."""
    if weights is None:
        return [1.0 / count] * count
    weights = list(weights)
    if len(weights) != count:
        raise AdaINError(f"style_weights has {len(weights)} entries for {count} style image(s): {weights!r}")
    for value in weights:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= 0
        ):
            raise AdaINError(f"style_weights must be finite numbers >= 0, got {weights!r}")
    total = float(sum(weights))
    if total <= 0:
        raise AdaINError(f"style_weights must not all be zero, got {weights!r}")
    return [float(v) / total for v in weights]


def pad_to_multiple(image: Tensor, multiple: int) -> Tensor:
    """Pad ``[B, C, H, W]`` at the bottom and right up to multiples of ``multiple``.

    Reflection padding where the image is large enough for it, else edge replication.
    """
    h, w = image.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if not (ph or pw):
        return image
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(image, (0, pw, 0, ph), mode=mode)


def module_device(module: nn.Module | None) -> torch.device | None:
    """The device of ``module``'s first parameter, or None for None or a module without parameters."""
    param = next(module.parameters(), None) if module is not None else None
    return param.device if param is not None else None


def encoder_input(image: Tensor, encoder: VGGFeatures) -> Tensor:
    """``image`` on the encoder's device and dtype."""
    return image.to(device=encoder.device, dtype=encoder.mean.dtype)


# --------------------------------------------------------------------------------------------
# statistics and the AdaIN layer


def mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and standard deviation over the spatial positions.

    Args:
        feat: ``[B, C, H, W]``.
        eps: added to the variance before the square root, so that flat channels do not give a
            zero standard deviation.

    Returns:
        ``(mean, std)``, each ``[B, C, 1, 1]``, with ``std = sqrt(var + eps)`` and ``var`` the
        *population* variance (divided by H·W, so a 1×1 map has variance 0, not NaN). Half
        precision inputs give float32 statistics.
    """
    if not isinstance(feat, Tensor) or feat.dim() != 4:
        shape = tuple(feat.shape) if isinstance(feat, Tensor) else type(feat).__name__
        raise AdaINError(f"mean_std expects features [B, C, H, W], got {shape}")
    if not eps >= 0:
        raise AdaINError(f"eps must be >= 0, got {eps!r}")
    if feat.dtype in (torch.float16, torch.bfloat16):
        feat = feat.float()
    var, mean = torch.var_mean(feat, dim=(2, 3), correction=0, keepdim=True)
    return mean, (var + eps).sqrt()


def adaptive_instance_norm(content: Tensor, style: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN: normalise each content channel, then give it the style channel's mean and std.

    ``out = σ(style) · (content − μ(content)) / σ(content) + μ(style)``, with ``μ, σ`` from
    :func:`mean_std` (the same ``eps`` for both).

    Args:
        content: ``[B, C, H, W]``.
        style: ``[B or 1, C, h, w]``; its spatial size may differ from the content's.
        eps: see :func:`mean_std`.

    Returns:
        ``[B, C, H, W]`` in the content's dtype. With ``eps = 0`` each output channel has
        exactly the style channel's mean and (population) standard deviation.
    """
    for name, t in (("content", content), ("style", style)):
        if not isinstance(t, Tensor) or t.dim() != 4:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise AdaINError(f"adaptive_instance_norm: {name} must be [B, C, H, W], got {shape}")
    if style.shape[1] != content.shape[1] or style.shape[0] not in (1, content.shape[0]):
        raise AdaINError(
            f"adaptive_instance_norm: style {tuple(style.shape)} does not fit content "
            f"{tuple(content.shape)} (needs the same channels and a batch of 1 or {content.shape[0]})"
        )
    mean_c, std_c = mean_std(content, eps)
    mean_s, std_s = mean_std(style.to(content.device), eps)
    return ((content - mean_c) / std_c * std_s + mean_s).to(content.dtype)


def mean_std_style_loss(
    out_feats: Mapping[str, Tensor], style_feats: Mapping[str, Tensor], layers: Iterable[str]
) -> Tensor:
    """AdaIN's style loss: ``Σ_l MSE(μ(out_l), μ(style_l)) + MSE(σ(out_l), σ(style_l))``.

    Args:
        out_feats, style_feats: ``{layer: [B, C, H, W]}``; the style batch may be 1 (it is
            broadcast) and the spatial sizes may differ.
        layers: the layer names to sum over.

    Returns:
        A scalar.
    """
    total = None
    for name in layers:
        if name not in out_feats or name not in style_feats:
            raise AdaINError(f"mean_std_style_loss: layer {name!r} is missing from the features")
        mean_o, std_o = mean_std(out_feats[name])
        mean_s, std_s = mean_std(style_feats[name])
        term = F.mse_loss(mean_o, mean_s.expand_as(mean_o)) + F.mse_loss(std_o, std_s.expand_as(std_o))
        total = term if total is None else total + term
    if total is None:
        raise AdaINError("mean_std_style_loss needs at least one layer")
    return total


# --------------------------------------------------------------------------------------------
# the decoder


class _ReflectConv2d(nn.Conv2d):
    """3×3 convolution with reflection padding (edge replication for maps of one pixel)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=3, padding=0)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        mode = "reflect" if min(x.shape[-2:]) > 1 else "replicate"
        return super().forward(F.pad(x, (1, 1, 1, 1), mode=mode))


def _decoder_plan(block: int, width: float) -> list[tuple[int, int, bool]]:
    """``(in_channels, out_channels, upsample_after)`` per convolution, mirroring VGG19 from
    ``relu{block}_1`` down to RGB."""

    def hidden(k: int) -> int:
        return max(1, round(CHANNELS[k - 1] * width))

    plan, current = [], CHANNELS[block - 1]
    for k in range(block, 0, -1):
        # block ``block`` contributes only its first convolution; earlier blocks all of theirs.
        n_convs = 1 if k == block else BLOCK_SIZES[k - 1]
        for _ in range(n_convs - 1):
            plan.append((current, hidden(k), False))
            current = hidden(k)
        out = hidden(k - 1) if k > 1 else 3
        plan.append((current, out, k > 1))
        current = out
    return plan


class Decoder(nn.Module):
    """The mirror image of VGG19 from ``level`` back to RGB (Huang & Belongie; Li et al.).

    For ``relu4_1``: conv 512→256, ×2 nearest upsampling, 3 × conv 256→256, conv 256→128,
    upsampling, conv 128→128, conv 128→64, upsampling, conv 64→64, conv 64→3. The shallower
    levels are the tails of that chain (``relu1_1`` is a single conv 64→3). All convolutions are
    3×3 with reflection padding; a ReLU follows every one but the last; no normalisation.

    Args:
        level: ``"relu1_1"``, ``"relu2_1"``, ``"relu3_1"`` or ``"relu4_1"`` (or ``convB_1``).
        width: multiplies the hidden channel counts (``0.5`` halves them, rounded, at least 1);
            the input keeps VGG's channel count and the output 3. Small widths make a decoder
            trainable on a CPU.

    ``forward(feat [B, C, h, w]) -> [B, 3, h·s, w·s]`` with ``s = decoder.scale``
    (1, 2, 4 or 8); the output is not clamped. ``decoder.arch`` holds the constructor's
    arguments, so ``Decoder(**d.arch)`` rebuilds an identical architecture for
    ``load_state_dict``.
    """

    def __init__(self, level: str = "relu4_1", width: float = 1.0) -> None:
        super().__init__()
        canon = canonical_level(level)
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not (
            math.isfinite(width) and width > 0
        ):
            raise AdaINError(f"width must be a positive number, got {width!r}")
        block = int(canon[4])
        self.level = canon
        self.width = float(width)
        self.scale = 2 ** (block - 1)
        self.in_channels = CHANNELS[block - 1]
        self.arch = {"level": level, "width": width}
        layers: list[nn.Module] = []
        plan = _decoder_plan(block, self.width)
        for index, (c_in, c_out, upsample) in enumerate(plan):
            layers.append(_ReflectConv2d(c_in, c_out))
            if index < len(plan) - 1:
                layers.append(nn.ReLU(inplace=True))
            if upsample:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.layers = nn.Sequential(*layers)

    def extra_repr(self) -> str:
        return f"level={self.level!r}, width={self.width}"

    def forward(self, feat: Tensor) -> Tensor:
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise AdaINError(
                f"the {self.level} decoder expects features [B, {self.in_channels}, h, w], "
                f"got {tuple(feat.shape)}"
            )
        return self.layers(feat)


# --------------------------------------------------------------------------------------------
# the model


class AdaIN(nn.Module):
    """AdaIN style transfer: a frozen VGG19 encoder, the AdaIN layer and a trainable decoder.

    Args:
        decoder: a :class:`Decoder` (trained or to be trained); default ``Decoder()`` at
            relu4_1, full width, untrained. Its level is where AdaIN is applied (relu4_1 in
            the paper).
        weights: the encoder's VGG19 weights (``"caffe"``, ``"torchvision"``, ``"random"`` or a
            ``.pth`` path; see :class:`~nstlib.core.features.VGGFeatures`). A decoder only works
            with the encoder weights it was trained against.
        device: where the model lives; default the decoder's device (CPU for a new decoder).
            Inputs are moved here; results are returned on the content's device.

    The encoder (``self.encoder``, VGG19 up to relu4_1, layers :data:`STYLE_LAYERS`) is built
    here rather than taken from ``transfer.get_extractor``'s cache, so that moving this module
    with ``.to()`` never moves a shared extractor.
    """

    def __init__(
        self,
        decoder: Decoder | None = None,
        weights: str = "caffe",
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if decoder is not None and not isinstance(decoder, Decoder):
            raise AdaINError(f"decoder must be an nstlib.feedforward.adain.Decoder, got {type(decoder).__name__}")
        device = device if device is not None else module_device(decoder)
        self.encoder = VGGFeatures(STYLE_LAYERS, weights=weights, device=device)
        self.decoder = (decoder if decoder is not None else Decoder()).to(self.encoder.device)

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    @property
    def level(self) -> str:
        """The layer AdaIN is applied at: the decoder's level."""
        return self.decoder.level

    def train(self, mode: bool = True) -> AdaIN:
        super().train(mode)
        self.encoder.eval()
        return self

    def training_losses(self, content: Tensor, style: Tensor, style_weight: float = 10.0) -> dict[str, Tensor]:
        """The decoder's training objective on one batch.

        Args:
            content: ``[B, 3, H, W]`` in [0, 1].
            style: ``[B or 1, 3, H', W']`` in [0, 1] (the i-th style goes with the i-th content).
            style_weight: λ; 10 as in the paper's code (with mean squared errors).

        Returns:
            ``{"total": L_c + λ L_s, "content": L_c, "style": L_s}``, scalars. ``content`` is the
            MSE between the decoded image's features at the decoder's level and the AdaIN target
            ``t``; ``style`` is :func:`mean_std_style_loss` over :data:`STYLE_LAYERS`. Only the
            decoder's parameters receive gradients.
        """
        check_image(content, "content", AdaINError)
        check_image(style, "style", AdaINError)
        if style.shape[0] not in (1, content.shape[0]):
            raise AdaINError(f"style batch {style.shape[0]} does not match content batch {content.shape[0]}")
        content, style = encoder_input(content, self.encoder), encoder_input(style, self.encoder)
        with torch.no_grad():
            content_feat = self.encoder(content)[self.level]
            style_feats = self.encoder(style)
            target = adaptive_instance_norm(content_feat, style_feats[self.level])
        out_feats = self.encoder(self.decoder(target))
        c_loss = F.mse_loss(out_feats[self.level], target)
        s_loss = mean_std_style_loss(out_feats, style_feats, STYLE_LAYERS)
        return {"total": c_loss + style_weight * s_loss, "content": c_loss, "style": s_loss}

    @torch.no_grad()
    def stylize(
        self,
        content: Tensor,
        style: Tensor | Sequence[Tensor],
        alpha: float = 1.0,
        style_weights: Sequence[float] | None = None,
        preserve_color: bool = False,
    ) -> Tensor:
        """Stylise one image in a single forward pass.

        Args:
            content: ``[1, 3, H, W]`` in [0, 1], any size.
            style: ``[1, 3, h, w]`` or a sequence of them (sizes may differ).
            alpha: 0 keeps the content's features (the decoder's reconstruction), 1 is full
                style: ``t' = α t + (1 − α) f(c)``.
            style_weights: one weight per style, ≥ 0, normalised to sum 1 (default equal);
                the styles' AdaIN targets are mixed with them.
            preserve_color: first recolour each style to the content's colour statistics
                (:func:`nstlib.controls.color.match_color_histogram`), as in the paper's section 7.

        Returns:
            ``[1, 3, H, W]`` float32 in [0, 1] on the content's device. Sizes that are not
            multiples of the decoder's scale (8 at relu4_1) are reflection-padded at the bottom
            and right before encoding and the decoded image is cropped back to ``H × W``.
        """
        check_image(content, "content", AdaINError, single=True)
        styles = [style] if isinstance(style, Tensor) else list(style)
        if not styles:
            raise AdaINError("stylize needs at least one style image")
        for i, s in enumerate(styles):
            check_image(s, "style" if len(styles) == 1 else f"style {i}", AdaINError, single=True)
        alpha = check_alpha(alpha, AdaINError)
        weights = _normalised_weights(style_weights, len(styles))

        out_device = content.device
        h, w = content.shape[-2:]
        content = encoder_input(content, self.encoder)
        styles = [encoder_input(s, self.encoder) for s in styles]
        if preserve_color:
            styles = [match_color_histogram(s, content) for s in styles]
        content_feat = self.encoder(pad_to_multiple(content, self.decoder.scale))[self.level]
        target = None
        for weight, s in zip(weights, styles):
            if weight == 0.0:
                continue
            term = weight * adaptive_instance_norm(content_feat, self.encoder(s)[self.level])
            target = term if target is None else target + term
        assert target is not None  # the weights sum to 1
        target = alpha * target + (1.0 - alpha) * content_feat
        out = self.decoder(target)[..., :h, :w]
        return out.clamp(0.0, 1.0).to(out_device)



class AdaINTask:
    """Training task of the AdaIN decoder (see :mod:`nstlib.feedforward.training`).

    Each step pairs a batch of content crops with a batch of style crops (Huang & Belongie
    train on MS-COCO and WikiArt; offline the defaults are the course's photos and paintings)
    and minimises ``content_weight · L_c + style_weight · L_s`` of
    :meth:`AdaIN.training_losses`. Only the decoder is trained; ``task.model`` is the decoder.

    Args:
        data, styles: :class:`nstlib.feedforward.training.CropDataset` of content and of style images.
        width: the decoder's width factor (1.0 is the paper's decoder, 3.5 M parameters).
        level: where AdaIN is applied (relu4_1 in the paper).
    """

    kind = "adain"

    def __init__(self, data, styles, *, batch_size: int = 4, width: float = 1.0, level: str = "relu4_1",
                 content_weight: float = 1.0, style_weight: float = 10.0, weights: str = "caffe",
                 device: str | torch.device = "auto", seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.adain = AdaIN(Decoder(level, width), weights=weights, device=resolve_device(device))
        self.model = self.adain.decoder
        self.data, self.styles, self.batch_size = data, styles, batch_size
        self.content_weight, self.style_weight, self.weights = content_weight, style_weight, weights

    def arch(self) -> dict:
        return self.model.arch

    def meta(self) -> dict:
        return {"weights": self.weights, "content_weight": self.content_weight, "style_weight": self.style_weight,
                "crop": self.data.crop, "styles": []}

    def sample(self, step: int, rows: Sequence[int] | None = None) -> dict[str, Tensor]:
        return {"content": self.data.batch(step, self.batch_size, rows),
                "style": self.styles.batch(step, self.batch_size, rows)}

    def losses(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        parts = self.adain.training_losses(sample["content"], sample["style"], style_weight=1.0)
        c, s = self.content_weight * parts["content"], self.style_weight * parts["style"]
        return {"total": c + s, "content": c, "style": s}
