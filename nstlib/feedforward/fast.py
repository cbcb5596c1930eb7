"""Fast neural style transfer: one forward pass of a trained network instead of an optimisation.

- :class:`TransformerNet` is the image transformation network of Johnson et al. (2016):
  a 9×9 convolution, two stride-2 convolutions, residual blocks, two upsample-then-convolve
  stages (nearest ×2 followed by a 3×3 convolution, which avoids the checkerboard artefacts of
  transposed convolutions, Odena et al. 2016) and a 9×9 convolution back to RGB. Every
  convolution uses reflection padding; normalisation is instance normalisation (Ulyanov et
  al. 2016), which matters more for quality than anything else in the network.
- With ``n_styles > 1`` the instance norms are *conditional* (Dumoulin et al. 2017): each style
  has its own scale γ_s and shift β_s per channel, and everything else is shared. A style
  *mixture* ``w`` (weights summing to 1) uses γ = Σ w_s γ_s and β = Σ w_s β_s, which
  interpolates between styles with one network.
- :class:`FastTask` is the training task (see :mod:`nstlib.feedforward.training`): Johnson's perceptual
  loss on the project's VGG19, a content term on one layer, Gram-matrix style terms against
  each style image, and total variation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.devices import resolve_device
from ..core.errors import ConfigError
from ..core.features import get_extractor
from ..core.images import load_image
from ..core.losses import content_loss, gram_matrix, tv_loss
from .training import step_generator

__all__ = [
    "ConditionalInstanceNorm2d",
    "TransformerNet",
    "FastTask",
    "style_vector",
    "JOHNSON_CONTENT_LAYERS",
    "JOHNSON_STYLE_LAYERS",
    "MIN_SIDE",
    "parameter_counts",
    "receptive_width",
    "upsampling_demo",
    "periodic_variation",
]

#: Johnson et al.'s perceptual loss: content at relu2_2 (structure, not texture) ...
JOHNSON_CONTENT_LAYERS: tuple[str, ...] = ("relu2_2",)
#: ... and style at the last ReLU of the first four blocks.
JOHNSON_STYLE_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_4", "relu4_4")
#: The shortest side, px, that :class:`TransformerNet` takes: reflection padding needs a side longer
#: than the pad, and the first and last 9×9 convolutions pad by 4 (the input, padded to a multiple
#: of 4, must be at least 8 px; 5 px is the smallest side that pads to 8).
MIN_SIDE = 5


class ConditionalInstanceNorm2d(nn.Module):
    """Instance normalisation with one (γ, β) pair per style.

    ``forward(x [B, C, H, W], mix [B, n_styles])``: each sample's per-channel scale and shift
    are its row of ``mix`` times the per-style tables. With one style this is ordinary
    affine instance normalisation.
    """

    def __init__(self, channels: int, n_styles: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_styles, channels))
        self.bias = nn.Parameter(torch.zeros(n_styles, channels))

    def forward(self, x: Tensor, mix: Tensor) -> Tensor:
        x = F.instance_norm(x, eps=self.eps)
        gamma = (mix @ self.weight)[:, :, None, None]
        beta = (mix @ self.bias)[:, :, None, None]
        return x * gamma + beta


class _Conv(nn.Module):
    """Reflection-padded convolution, optionally preceded by nearest ×2 upsampling."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad = kernel // 2
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(F.pad(x, [self.pad] * 4, mode="reflect"))


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network, optionally conditional on a style.

    ``forward(x [B, 3, H, W] in [0, 1], style=None)`` returns ``[B, 3, H, W]`` (not clamped;
    :meth:`stylize` clamps). H and W need not be multiples of 4: the input is
    reflection-padded to one and the output cropped back. Each must be at least
    :data:`MIN_SIDE` pixels (:meth:`check_size` raises a ``ConfigError`` naming the size otherwise).

    Args:
        n_styles: number of styles (1: Johnson et al.; more: Dumoulin et al.'s multi-style).
        width: channels of the first layer (Johnson: 32); the others are 2× and 4× it.
        n_residual: residual blocks at 1/4 resolution (Johnson: 5).
    """

    def __init__(self, n_styles: int = 1, width: int = 32, n_residual: int = 5) -> None:
        super().__init__()
        if n_styles < 1 or width < 1 or n_residual < 0:
            raise ConfigError(f"TransformerNet needs n_styles >= 1, width >= 1, n_residual >= 0; "
                             f"got {n_styles}, {width}, {n_residual}")
        self.n_styles, self.width, self.n_residual = n_styles, width, n_residual
        w = width
        self.down = nn.ModuleList([_Conv(3, w, 9), _Conv(w, 2 * w, 3, 2), _Conv(2 * w, 4 * w, 3, 2)])
        self.down_norm = nn.ModuleList([ConditionalInstanceNorm2d(c, n_styles) for c in (w, 2 * w, 4 * w)])
        self.res = nn.ModuleList([_Conv(4 * w, 4 * w, 3) for _ in range(2 * n_residual)])
        self.res_norm = nn.ModuleList([ConditionalInstanceNorm2d(4 * w, n_styles) for _ in range(2 * n_residual)])
        self.up = nn.ModuleList([_Conv(4 * w, 2 * w, 3, upsample=True), _Conv(2 * w, w, 3, upsample=True)])
        self.up_norm = nn.ModuleList([ConditionalInstanceNorm2d(c, n_styles) for c in (2 * w, w)])
        self.out = _Conv(w, 3, 9)

    @property
    def arch(self) -> dict[str, int]:
        """The constructor's arguments: ``TransformerNet(**net.arch)`` builds the same network."""
        return {"n_styles": self.n_styles, "width": self.width, "n_residual": self.n_residual}

    @staticmethod
    def check_size(height: int, width: int) -> None:
        """Raise :class:`~nstlib.core.errors.ConfigError` if a ``height`` × ``width`` input is too small."""
        if min(height, width) < MIN_SIDE:
            raise ConfigError(f"an image of {width}×{height} px is too small for the fast network: each side "
                              f"must be at least {MIN_SIDE} px (its 9×9 convolutions are reflection-padded)")

    def forward(self, x: Tensor, style: int | Sequence[float] | Tensor | None = None) -> Tensor:
        b, _, h, w = x.shape
        self.check_size(h, w)
        mix = style_vector(style, self.n_styles, b, x.device)
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, [0, pw, 0, ph], mode="reflect")
        for conv, norm in zip(self.down, self.down_norm):
            x = F.relu(norm(conv(x), mix))
        for i in range(0, len(self.res), 2):
            y = F.relu(self.res_norm[i](self.res[i](x), mix))
            x = x + self.res_norm[i + 1](self.res[i + 1](y), mix)
        for conv, norm in zip(self.up, self.up_norm):
            x = F.relu(norm(conv(x), mix))
        return self.out(x)[:, :, :h, :w]

    @torch.no_grad()
    def stylize(self, content: Tensor, style: int | Sequence[float] | Tensor | None = None) -> Tensor:
        """Inference: ``content`` ``[B, 3, H, W]`` (or ``[3, H, W]``) in [0, 1] -> the same shape, in [0, 1].

        ``style``: a style index, a mixture of the styles (weights, normalised to sum to 1), or
        None for the first style.
        """
        squeeze = content.dim() == 3
        if squeeze:
            content = content[None]
        was_training = self.training
        self.eval()
        param = next(self.parameters())
        out = self(content.to(param.device, param.dtype), style).clamp_(0, 1)
        self.train(was_training)
        return out[0] if squeeze else out


def style_vector(style: int | Sequence[float] | Tensor | None, n_styles: int, batch: int,
                 device: torch.device | str = "cpu") -> Tensor:
    """The ``[batch, n_styles]`` mixture weights that the conditional norms use.

    ``style`` is None (style 0), an index, one mixture (weights ≥ 0, normalised to sum to 1)
    for the whole batch, or a ``[batch]`` tensor of indices. Bad values raise ``ValueError``.
    """
    if style is None:
        style = 0
    if isinstance(style, Tensor) and style.dim() == 1 and style.dtype in (torch.int64, torch.int32):
        if style.numel() != batch or int(style.min()) < 0 or int(style.max()) >= n_styles:
            raise ConfigError(f"style indices {style.tolist()} do not fit a batch of {batch} and {n_styles} styles")
        return F.one_hot(style.long(), n_styles).float().to(device)
    if isinstance(style, int):
        if not 0 <= style < n_styles:
            raise ConfigError(f"style index {style} is out of range: the network has {n_styles} style(s), "
                             f"0..{n_styles - 1}")
        mix = F.one_hot(torch.tensor(style), n_styles).float()
    else:
        mix = torch.as_tensor(style, dtype=torch.float32).flatten()
        if mix.numel() != n_styles:
            raise ConfigError(f"a style mixture needs {n_styles} weights (one per style), got {mix.numel()}")
        if not torch.isfinite(mix).all() or (mix < 0).any() or float(mix.sum()) <= 0:
            raise ConfigError(f"style mixture weights must be >= 0 and not all 0, got {mix.tolist()}")
        mix = mix / mix.sum()
    return mix.to(device).expand(batch, n_styles)


class FastTask:
    """Training task of :class:`TransformerNet` with the perceptual loss (Johnson et al. 2016).

    Each step takes a batch of content crops; with several styles every sample draws a style
    at random (seeded by the step), as Dumoulin et al. train the multi-style network.

    loss = content_weight · MSE(φ_c(ŷ), φ_c(x)) + style_weight · Σ_l MSE(G_l(ŷ), G_l(s))
           + tv_weight · TV(ŷ) / B,

    where φ are the project's calibrated VGG19 features (so the weights are on the same scale as
    :class:`nstlib.gatys.transfer.Config`'s).

    Args:
        data: a :class:`nstlib.feedforward.training.CropDataset` of content images.
        styles: style images ``[1, 3, h, w]`` in [0, 1] (their Gram matrices are the targets).
        style_names: names stored in the checkpoint (for example the file names).
        batch_size: crops per step.
        net: the network (default: a new ``TransformerNet(len(styles), width)`` seeded by ``seed``).
    """

    kind = "fast"

    def __init__(
        self,
        data,
        styles: Sequence[Tensor],
        style_names: Sequence[str] | None = None,
        *,
        batch_size: int = 4,
        width: int = 32,
        n_residual: int = 5,
        content_weight: float = 1.0,
        style_weight: float = 2e4,
        tv_weight: float = 1e-6,
        content_layers: Sequence[str] = JOHNSON_CONTENT_LAYERS,
        style_layers: Sequence[str] = JOHNSON_STYLE_LAYERS,
        weights: str = "caffe",
        device: str | torch.device = "auto",
        seed: int = 0,
        net: TransformerNet | None = None,
    ) -> None:
        if not styles:
            raise ConfigError("FastTask needs at least one style image")
        self.device = resolve_device(device)
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.style_names = list(style_names or [f"style {i}" for i in range(len(styles))])
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.content_layers, self.style_layers = tuple(content_layers), tuple(style_layers)
        self.weights = weights
        if net is None:
            torch.manual_seed(seed)
            net = TransformerNet(len(styles), width, n_residual)
        if net.n_styles != len(styles):
            raise ConfigError(f"the network has {net.n_styles} styles but {len(styles)} style images were given")
        self.model = net.to(self.device)
        layers = tuple(dict.fromkeys((*self.content_layers, *self.style_layers)))
        self.extractor = get_extractor(layers, weights, "max", str(self.device), seed)
        with torch.no_grad():
            per_style = [self.extractor(s.to(self.device)) for s in styles]
        # [n_styles, C, C] per layer
        self.targets = {n: torch.cat([gram_matrix(f[n]) for f in per_style]) for n in self.style_layers}

    def arch(self) -> dict[str, Any]:
        return self.model.arch

    def meta(self) -> dict[str, Any]:
        return {"styles": self.style_names, "content_layers": list(self.content_layers),
                "style_layers": list(self.style_layers), "weights": self.weights,
                "content_weight": self.content_weight, "style_weight": self.style_weight,
                "tv_weight": self.tv_weight, "crop": self.data.crop}

    def sample(self, step: int, rows: Sequence[int] | None = None) -> dict[str, Tensor]:
        images = self.data.batch(step, self.batch_size, rows)
        gen = step_generator(self.seed, 2, step)
        styles = torch.randint(0, self.model.n_styles, (self.batch_size,), generator=gen)
        return {"content": images, "style": styles if rows is None else styles[list(rows)]}

    def perceptual(self, out: Tensor, content: Tensor, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The weighted (content, style, tv) terms of the network's outputs ``out`` ``[B, 3, H, W]``
        for the inputs ``content`` and style indices ``idx`` ``[B]``."""
        feats = self.extractor(out)
        with torch.no_grad():
            target = self.extractor(content)
        c = sum(content_loss(feats[n], target[n]) for n in self.content_layers)
        s = sum(F.mse_loss(gram_matrix(feats[n]), self.targets[n][idx]) for n in self.style_layers)
        t = tv_loss(out) / out.shape[0]
        return self.content_weight * c, self.style_weight * s, self.tv_weight * t

    def losses(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        content, idx = sample["content"], sample["style"].long()
        c, s, t = self.perceptual(self.model(content, idx), content, idx)
        return {"total": c + s + t, "content": c, "style": s, "tv": t}


def load_style_images(paths: Sequence[str | os.PathLike], size: int) -> list[Tensor]:
    """Style images ``[1, 3, h, w]`` loaded with their longer side ``size`` pixels."""
    return [load_image(p, size) for p in paths]


# --------------------------------------------------------------------------------------------
# What notebook 13 measures about the network: its parts, its receptive field, and why it
# upsamples with nearest + convolution instead of transposed convolutions.


def parameter_counts(net: TransformerNet) -> dict[str, int]:
    """The trainable parameters of each part of ``net``.

    Returns ``{"down", "residual", "up", "output", "total", "per_style", "shared"}``: the three
    downsampling convolutions with their norms, the residual blocks, the two upsampling stages,
    the last 9×9 convolution, everything, the norm scales and shifts (γ, β) that belong to
    *one* style, and what all styles share (``total - n_styles * per_style``).
    """
    def count(*modules: nn.Module) -> int:
        return sum(p.numel() for m in modules for p in m.parameters())

    norms = [*net.down_norm, *net.res_norm, *net.up_norm]
    per_style = sum(2 * n.weight.shape[1] for n in norms)
    parts = {"down": count(net.down, net.down_norm), "residual": count(net.res, net.res_norm),
             "up": count(net.up, net.up_norm), "output": count(net.out)}
    total = count(net)
    return {**parts, "total": total, "per_style": per_style, "shared": total - net.n_styles * per_style}


def _layer_geometry(net: TransformerNet) -> list[tuple[int, int, bool]]:
    """(kernel, stride, upsample first) of every convolution of ``net``, in forward order."""
    convs = [*net.down, *net.res, *net.up, net.out]
    return [(c.conv.kernel_size[0], c.conv.stride[0], c.upsample) for c in convs]


def receptive_width(net: TransformerNet, position: int | None = None) -> int:
    """Width in input pixels of the window that one output pixel's convolutions see.

    Follows one output row ``position`` back through every convolution (a window of ``k``
    rows around ``stride · i``) and nearest ×2 upsampling (row ``j`` comes from ``j // 2``), far
    from the image borders. ``None`` gives the largest width over the four positions modulo 4
    (the window's width depends slightly on where the pixel sits relative to the stride-4 grid).
    The instance norms are not counted: their per-channel means and variances are taken over the
    whole image, so every output pixel also depends (weakly) on all input pixels.
    """
    if position is None:
        return max(receptive_width(net, p) for p in range(1000, 1004))
    lo = hi = position
    for kernel, stride, upsample in reversed(_layer_geometry(net)):
        pad = kernel // 2
        lo, hi = stride * lo - pad, stride * hi - pad + kernel - 1
        if upsample:
            lo, hi = lo // 2, hi // 2
    return hi - lo + 1


def upsampling_demo(size: int = 8, channels: int = 4, stages: int = 2, transposed_kernel: int = 3,
                    seed: int = 0) -> dict[str, Tensor]:
    """Upsample a constant image ``stages`` times ×2 with random (untrained) layers, three ways.

    The input is ``[1, channels, size, size]`` of ones; each stage is one of

    - ``"transposed conv"``: a stride-2 transposed convolution (Johnson et al.'s original
      decoder: ``kernel 3, padding 1, output_padding 1``; with ``transposed_kernel=4``,
      ``padding 1``);
    - ``"upsample + conv, zero padding"``: nearest ×2, then a 3×3 convolution padded with zeros;
    - ``"upsample + conv, reflection"``: nearest ×2, then a 3×3 convolution with reflection
      padding (what :class:`TransformerNet` does).

    No nonlinearity is used: the patterns come from the layers alone. Returns the three outputs,
    each ``[channels, size · 2^stages, size · 2^stages]``.
    """
    if transposed_kernel not in (3, 4):
        raise ConfigError(f"transposed_kernel must be 3 (Johnson) or 4 (divisible by the stride), "
                         f"got {transposed_kernel}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.ones(1, channels, size, size)
    out = {"transposed conv": x, "upsample + conv, zero padding": x, "upsample + conv, reflection": x}
    scale = 1.0 / (3 * channels**0.5)
    for _ in range(stages):
        wt = torch.randn(channels, channels, transposed_kernel, transposed_kernel, generator=gen) * scale
        w = torch.randn(channels, channels, 3, 3, generator=gen) * scale
        b = torch.randn(channels, generator=gen) * 0.1
        extra = 1 if transposed_kernel == 3 else 0
        out["transposed conv"] = F.conv_transpose2d(out["transposed conv"], wt, b, stride=2, padding=1,
                                                    output_padding=extra)
        up = F.interpolate(out["upsample + conv, zero padding"], scale_factor=2, mode="nearest")
        out["upsample + conv, zero padding"] = F.conv2d(up, w, b, padding=1)
        up = F.interpolate(out["upsample + conv, reflection"], scale_factor=2, mode="nearest")
        out["upsample + conv, reflection"] = F.conv2d(F.pad(up, [1] * 4, mode="reflect"), w, b)
    return {k: v[0] for k, v in out.items()}


def periodic_variation(x: Tensor, period: int = 2, border: int = 4) -> float:
    """How strongly ``x`` ``[..., H, W]`` repeats with ``period``: a checkerboard detector.

    Splits the pixels (``border`` pixels from each edge left out) into the ``period²`` phases
    ``x[..., a::period, b::period]``, takes each phase's mean per channel, and returns the range
    (max − min) of the phase means, averaged over channels, relative to the mean absolute value
    of ``x``. 0 for an image without any pattern of that period (e.g. a constant); a
    checkerboard of ±c around m gives 2c / |m| (for |m| > c).
    """
    if period < 1 or border < 0:
        raise ConfigError(f"periodic_variation needs period >= 1 and border >= 0, got {period}, {border}")
    x = x.double()
    if border:
        x = x[..., border:-border, border:-border]
    h, w = x.shape[-2:]
    if h < period or w < period:
        raise ConfigError(f"an image of {h}×{w} px (after the border) is smaller than the period {period}")
    x = x[..., : h - h % period, : w - w % period].reshape(-1, h - h % period, w - w % period)
    means = torch.stack([x[:, a::period, b::period].mean((-2, -1)) for a in range(period) for b in range(period)])
    scale = float(x.abs().mean())
    if scale == 0:
        return 0.0
    return float((means.amax(0) - means.amin(0)).mean()) / scale

