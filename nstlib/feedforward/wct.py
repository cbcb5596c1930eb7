"""Universal style transfer via feature transforms: whitening and colouring (WCT).

Li, Fang, Yang, Wang, Lu & Yang 2017. Content features ``f_c`` ``[C, N]`` (N = H·W positions)
are centred and *whitened*, which removes their correlations (and with them the style)::

    f̂_c = E_c D_c^{-1/2} E_cᵀ (f_c − m_c),     Σ_c = f̄_c f̄_cᵀ / N = E_c D_c E_cᵀ

then *coloured* with the style's covariance and shifted to its mean::

    f̂_cs = E_s D_s^{1/2} E_sᵀ f̂_c + m_s,       out = α f̂_cs + (1 − α) f_c

so that ``out`` (at α = 1) has exactly the style features' mean and covariance. Eigenvalues
below ``eps`` are dropped, as in the paper, so rank-deficient covariances (more channels than
positions, dead channels) work; the algebra runs in float64.

:class:`WCT` needs no style-specific training: one decoder per level, trained once to invert
the frozen VGG19 encoder (:meth:`WCT.reconstruction_losses`), then styles are transferred
coarse to fine: at the deepest level first, encode the current image, transform, decode, and
hand the result to the next shallower level.

The decoders are :class:`nstlib.feedforward.adain.Decoder`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..controls.color import match_color_histogram, mean_cov, work_device
from ..core.devices import resolve_device
from ..core.errors import NstlibError
from ..core.features import VGGFeatures
from .adain import Decoder, canonical_level, check_alpha, check_image, encoder_input, module_device, pad_to_multiple

__all__ = ["WCT", "WCTError", "WCTTask", "decode_whitened", "feature_covariance", "whiten", "whitening_coloring"]


class WCTError(NstlibError):
    """A bad argument to the WCT functions or model. The message names the value at fault."""


def _flat64(feat: Tensor, name: str) -> Tensor:
    """``[C, H, W]`` or ``[B, C, H, W]`` -> float64 ``[B, C, H·W]`` (on the CPU for MPS)."""
    if not isinstance(feat, Tensor) or feat.dim() not in (3, 4) or not feat.is_floating_point():
        what = f"{tuple(feat.shape)} {feat.dtype}" if isinstance(feat, Tensor) else type(feat).__name__
        raise WCTError(f"{name} must be floating-point features [C, H, W] or [B, C, H, W], got {what}")
    x = feat if feat.dim() == 4 else feat.unsqueeze(0)
    return x.to(device=work_device(x.device), dtype=torch.float64).flatten(2)


def _check_eps(eps: float) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise WCTError(f"eps must be a number >= 0, got {eps!r}")


def _eigh(cov: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.linalg.eigh``, on one CPU thread: for C ≤ 512 the LAPACK call is 2-3× faster so
    (measured: 28 ms against 76 ms for C = 256 on an idle 2-core machine), and it does not
    collapse when other processes load the cores (65 ms against 220 ms)."""
    if cov.device.type != "cpu":
        return torch.linalg.eigh(cov)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(cov)
    finally:
        torch.set_num_threads(threads)


def _covariance_power(cov: Tensor, power: float, eps: float) -> Tensor:
    """``E diag(d^power) Eᵀ`` of symmetric ``[B, C, C]``, keeping only eigenvalues ``d > eps``."""
    evals, evecs = _eigh(cov)
    keep = evals > eps
    factor = torch.where(keep, evals.clamp_min(torch.finfo(evals.dtype).tiny).pow(power), 0.0)
    return (evecs * factor.unsqueeze(-2)) @ evecs.transpose(-1, -2)


def _whiten64(flat: Tensor, eps: float) -> Tensor:
    """Centred, whitened float64 ``[B, C, N]``."""
    mean, cov = mean_cov(flat)
    return _covariance_power(cov, -0.5, eps) @ (flat - mean.unsqueeze(-1))


def whiten(feat: Tensor, eps: float = 1e-5) -> Tensor:
    """Centre and whiten features: ``E D^{-1/2} Eᵀ (f − m)`` per sample.

    Args:
        feat: ``[C, H, W]`` or ``[B, C, H, W]``.
        eps: eigenvalues of the covariance at or below ``eps`` are dropped (their directions
            are set to zero).

    Returns:
        The same shape, dtype and device: zero mean per channel and, over the kept directions,
        identity (population) covariance; the identity itself when the covariance has full rank.
    """
    _check_eps(eps)
    flat = _flat64(feat, "feat")
    return _whiten64(flat, eps).reshape(feat.shape).to(device=feat.device, dtype=feat.dtype)


def whitening_coloring(content: Tensor, style: Tensor, alpha: float = 1.0, eps: float = 1e-5) -> Tensor:
    """The whitening and colouring transform of Li et al. 2017.

    Args:
        content: ``[C, H, W]`` or ``[B, C, H, W]`` features.
        style: ``[C, h, w]`` or ``[B or 1, C, h, w]`` with the same ``C``; the spatial size may
            differ.
        alpha: blend ``α · transformed + (1 − α) · content``; 0 returns the content unchanged.
        eps: eigenvalues at or below it are dropped from both covariances.

    Returns:
        Shaped, typed and placed like ``content``. At ``alpha = 1`` each sample has the style's
        per-channel mean and (population) covariance, up to the dropped eigenvalues.
    """
    alpha = check_alpha(alpha, WCTError)
    _check_eps(eps)
    c, s = _flat64(content, "content"), _flat64(style, "style")
    if s.shape[1] != c.shape[1] or s.shape[0] not in (1, c.shape[0]):
        raise WCTError(
            f"style {tuple(style.shape)} does not fit content {tuple(content.shape)}: "
            f"they need the same channel count and a style batch of 1 or {c.shape[0]}"
        )
    mean_s, cov_s = mean_cov(s)
    colored = _covariance_power(cov_s, 0.5, eps) @ _whiten64(c, eps) + mean_s.unsqueeze(-1)
    colored = colored.reshape(content.shape).to(device=content.device, dtype=content.dtype)
    return alpha * colored + (1.0 - alpha) * content


class WCT(nn.Module):
    """Universal style transfer: frozen VGG19 encoders and one inverting decoder per level.

    Args:
        decoders: ``{level: Decoder}``, e.g. ``{"relu1_1": Decoder("relu1_1"), …}``; each key
            must be its decoder's level (``convB_1`` aliases are accepted).
        weights: the encoders' VGG19 weights (see :class:`~nstlib.core.features.VGGFeatures`); the
            decoders must have been trained against the same ones.
        device: where the model lives; default the decoders' device.

    There is one encoder per level, truncated at that level (``self.encoders[level]``), so a
    shallow level does not pay for the deep layers; as in the paper.
    """

    def __init__(
        self,
        decoders: Mapping[str, Decoder],
        weights: str = "caffe",
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(decoders, Mapping) or not decoders:
            raise WCTError(f"decoders must be a non-empty mapping {{level: Decoder}}, got {decoders!r}")
        ordered: dict[str, Decoder] = {}
        for key, decoder in decoders.items():
            level = canonical_level(key, WCTError)
            if not isinstance(decoder, Decoder):
                raise WCTError(f"decoders[{key!r}] must be an nstlib.feedforward.adain.Decoder, got {type(decoder).__name__}")
            if decoder.level != level:
                raise WCTError(f"decoders[{key!r}] inverts {decoder.level}, not {level}")
            if level in ordered:
                raise WCTError(f"two decoders were given for {level} (keys {list(decoders)})")
            ordered[level] = decoder
        device = device if device is not None else module_device(next(iter(ordered.values())))
        self.encoders = nn.ModuleDict(
            {level: VGGFeatures([level], weights=weights, device=device) for level in ordered}
        )
        target = next(iter(self.encoders.values())).device
        self.decoders = nn.ModuleDict({level: d.to(target) for level, d in ordered.items()})

    @property
    def device(self) -> torch.device:
        return next(iter(self.encoders.values())).device

    def train(self, mode: bool = True) -> WCT:
        super().train(mode)
        self.encoders.eval()
        return self

    def _level(self, level: str) -> str:
        canon = canonical_level(level, WCTError)
        if canon not in self.decoders:
            raise WCTError(f"no decoder for level {level!r}; this model has {', '.join(self.decoders)}")
        return canon

    def reconstruction_losses(self, images: Tensor, level: str, feature_weight: float = 1.0) -> dict[str, Tensor]:
        """The paper's decoder-training objective at ``level``.

        ``‖I_o − I_i‖² + λ ‖Φ(I_o) − Φ(I_i)‖²`` with ``I_o = decoder(Φ(I_i))`` and ``Φ`` the
        encoder up to ``level``, both terms as mean squared errors.

        Args:
            images: ``[B, 3, H, W]`` in [0, 1]. Sizes that are not multiples of the level's
                scale lose the last rows/columns (the encoder's pooling drops them), and the
                pixel loss compares the decoded image with the matching top-left crop.
            level: which decoder to train.
            feature_weight: λ (1 in the paper).

        Returns:
            ``{"total", "pixel", "feature"}``, scalars; only ``self.decoders[level]`` gets
            gradients.
        """
        level = self._level(level)
        check_image(images, "images", WCTError)
        encoder, decoder = self.encoders[level], self.decoders[level]
        images = encoder_input(images, encoder)
        with torch.no_grad():
            feat = encoder(images)[level]
        out = decoder(feat)
        pixel = F.mse_loss(out, images[..., : out.shape[-2], : out.shape[-1]])
        feature = F.mse_loss(encoder(out)[level], feat)
        return {"total": pixel + feature_weight * feature, "pixel": pixel, "feature": feature}

    @torch.no_grad()
    def stylize(
        self,
        content: Tensor,
        style: Tensor,
        alpha: float = 1.0,
        levels: Sequence[str] | None = None,
        preserve_color: bool = False,
    ) -> Tensor:
        """Multi-level, coarse-to-fine universal style transfer.

        Args:
            content: ``[1, 3, H, W]`` in [0, 1], any size.
            style: ``[1, 3, h, w]`` in [0, 1].
            alpha: the blend of :func:`whitening_coloring` at every level.
            levels: which levels to use (default all the model's); they run deepest first.
            preserve_color: first recolour the style to the content's colour statistics
                (:func:`nstlib.controls.color.match_color_histogram`).

        Returns:
            ``[1, 3, H, W]`` float32 in [0, 1] on the content's device. At each level the
            current image is reflection-padded at the bottom and right to a multiple of the
            level's scale, and the decoded image is cropped back to ``H × W`` and clamped to
            [0, 1] before the next level encodes it.
        """
        check_image(content, "content", WCTError, single=True)
        check_image(style, "style", WCTError, single=True)
        alpha = check_alpha(alpha, WCTError)
        if levels is None:
            chosen = list(self.decoders)
        elif isinstance(levels, str):
            raise WCTError(f"levels must be a sequence of level names, got the string {levels!r}")
        else:
            chosen = list(dict.fromkeys(self._level(level) for level in levels))
        if not chosen:
            raise WCTError("levels is empty: give at least one level")
        chosen.sort(key=lambda level: int(level[4]), reverse=True)

        out_device = content.device
        h, w = content.shape[-2:]
        image = encoder_input(content, self.encoders[chosen[0]])
        style = encoder_input(style, self.encoders[chosen[0]])
        if preserve_color:
            style = match_color_histogram(style, image)
        for level in chosen:
            encoder, decoder = self.encoders[level], self.decoders[level]
            content_feat = encoder(pad_to_multiple(image, decoder.scale))[level]
            target = whitening_coloring(content_feat, encoder(style)[level], alpha)
            image = decoder(target)[..., :h, :w].clamp(0.0, 1.0)
        return image.to(out_device)


class WCTTask:
    """Training task of WCT's decoders (see :mod:`nstlib.feedforward.training`): one per level, trained together.

    Li et al. train each decoder to invert the VGG encoder up to its level, on reconstruction
    alone (pixel MSE plus feature MSE, :meth:`WCT.reconstruction_losses`): the style enters
    only at run time, through the whitening and colouring transform. The decoders are
    independent, so training them in one loop with the loss summed is the same as training
    each alone. ``task.model`` is the ``ModuleDict`` of decoders.
    """

    kind = "wct"

    def __init__(self, data, levels: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1"), *, batch_size: int = 4,
                 width: float = 1.0, feature_weight: float = 1.0, weights: str = "caffe",
                 device: str | torch.device = "auto", seed: int = 0) -> None:
        if not levels:
            raise WCTError("WCTTask needs at least one level")
        torch.manual_seed(seed)
        self.wct = WCT({lv: Decoder(lv, width) for lv in levels}, weights=weights, device=resolve_device(device))
        self.model = self.wct.decoders
        self.data, self.batch_size = data, batch_size
        self.feature_weight, self.weights = feature_weight, weights

    def arch(self) -> dict:
        return {level: d.arch for level, d in self.model.items()}

    def meta(self) -> dict:
        return {"weights": self.weights, "feature_weight": self.feature_weight, "crop": self.data.crop,
                "levels": list(self.model), "styles": []}

    def sample(self, step: int, rows: Sequence[int] | None = None) -> dict[str, Tensor]:
        return {"images": self.data.batch(step, self.batch_size, rows)}

    def losses(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for level in self.model:
            parts = self.wct.reconstruction_losses(sample["images"], level, self.feature_weight)
            out[level] = parts["total"]
        out["total"] = sum(out.values())  # type: ignore[assignment]
        return {"total": out.pop("total"), **out}


# --------------------------------------------------------------------------------------------
# helpers for inspecting the transform (notebook 14)


def feature_covariance(feat: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel means and population covariance of features, in float64.

    The statistics that :func:`whiten` removes and :func:`whitening_coloring` imposes, for
    checks and plots.

    Args:
        feat: ``[C, H, W]`` or ``[B, C, H, W]``.

    Returns:
        ``(mean [B, C], cov [B, C, C])`` with ``cov = (f − m)(f − m)ᵀ / (H·W)``, float64, on the
        features' device (the CPU for MPS).
    """
    return mean_cov(_flat64(feat, "feat"))


@torch.no_grad()
def decode_whitened(model: WCT, image: Tensor, level: str, eps: float = 1e-5) -> Tensor:
    """Encode ``image`` at ``level``, whiten the features and decode them: what whitening leaves.

    Li et al. (2017) show such inversions: the outlines of the content survive whitening,
    its colours and textures (the style) do not.

    Args:
        model: a :class:`WCT` with a decoder at ``level``.
        image: ``[1, 3, H, W]`` in [0, 1], any size (padded as in :meth:`WCT.stylize`).
        level: the level to whiten at.
        eps: see :func:`whiten`.

    Returns:
        ``[1, 3, H, W]`` float32 in [0, 1] on the image's device.
    """
    if not isinstance(model, WCT):
        raise WCTError(f"model must be an nstlib.feedforward.wct.WCT, got {type(model).__name__}")
    level = model._level(level)
    check_image(image, "image", WCTError, single=True)
    _check_eps(eps)
    encoder, decoder = model.encoders[level], model.decoders[level]
    h, w = image.shape[-2:]
    x = encoder_input(image, encoder)
    feat = encoder(pad_to_multiple(x, decoder.scale))[level]
    out = decoder(whiten(feat, eps))[..., :h, :w].clamp(0.0, 1.0)
    return out.float().to(image.device)
