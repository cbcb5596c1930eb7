"""A stable feed-forward video network: the fast network fine-tuned with a temporal loss.

Applying :class:`nstlib.feedforward.fast.TransformerNet` to each frame of a video flickers: a sub-pixel
motion, a little sensor noise or a change of lighting moves the output much more than the
input. Huang et al. (2017, "Real-time neural style transfer for videos") and ReCoNet (Gao et
al. 2018) train the network on *pairs* of frames with a temporal loss, so that at run time it
needs no optical flow and still stylises one frame per forward pass. Without a video data set,
the pairs here are made from single photos by a *simulated motion* whose flow is known exactly:

- :func:`simulated_motion` moves each training crop by a random small similarity transform
  (sub-pixel shift, zoom and rotation about the centre), adds a little noise and a brightness
  change, and returns the exact backward flow and the mask of pixels that have a source;
- :class:`StableFastTask` is :class:`nstlib.feedforward.fast.FastTask` plus the temporal term

      temporal_weight · Σ_p v(p) |f(x')(p) − warp(f(x), b)(p)|² / (B·C·H·W)

  (:func:`nstlib.core.losses.temporal_loss`) where ``x'`` is the moved frame, ``b`` its backward
  flow and ``v`` the valid mask. Its checkpoints are ordinary ``"fast"`` models: they load with
  ``load_model(..., kind="fast")`` and run with ``python -m nstlib fast``;
- :func:`stability` is the same difference as a number (the warping error of one training
  pair), to compare networks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..core.errors import ConfigError
from ..core.losses import temporal_loss
from ..feedforward.fast import FastTask, TransformerNet
from ..feedforward.training import step_generator
from .flow import out_of_frame, warp

__all__ = [
    "DEFAULT_TEMPORAL_WEIGHT",
    "MOTION_DEFAULTS",
    "affine_flow",
    "simulated_motion",
    "stability",
    "StableFastTask",
]

#: Weight of the temporal term (for the fast network's loss scale): see :class:`StableFastTask`.
DEFAULT_TEMPORAL_WEIGHT: float = 2000.0

#: :func:`simulated_motion`'s defaults: motion between two consecutive video frames.
MOTION_DEFAULTS: dict[str, float] = {"max_shift": 4.0, "max_zoom": 0.05, "max_rotation": 3.0,
                                     "noise": 0.01, "brightness": 0.02}


def affine_flow(height: int, width: int, shift: Tensor, zoom: Tensor, rotation: Tensor) -> Tensor:
    """The backward flow of a similarity transform about the image centre.

    Pixel ``p = (x, y)`` of the moved frame shows the point ``c + (1 + zoom) R(rotation) (p − c)
    + shift`` of the original (``c = ((W − 1) / 2, (H − 1) / 2)``, ``R`` the rotation matrix), so
    the flow is that position minus ``p`` (:mod:`nstlib.video.flow`'s convention: ``warp(image, flow)``
    makes the moved frame). A positive ``zoom`` samples a larger area: the content shrinks.

    Args:
        height, width: H and W of the frames.
        shift: ``[B, 2]`` (x, y) in pixels.
        zoom: ``[B]``, relative (0: none).
        rotation: ``[B]``, degrees (counter-clockwise in x-right, y-down coordinates as drawn).

    Returns:
        ``[B, 2, H, W]`` float flow in pixels.
    """
    shift, zoom, rotation = (torch.as_tensor(t, dtype=torch.float32) for t in (shift, zoom, rotation))
    if shift.dim() != 2 or shift.shape[1] != 2 or zoom.shape != shift.shape[:1] or rotation.shape != zoom.shape:
        raise ConfigError(f"affine_flow needs shift [B, 2], zoom [B] and rotation [B], got "
                         f"{tuple(shift.shape)}, {tuple(zoom.shape)}, {tuple(rotation.shape)}")
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    dx, dy = xs - (width - 1) / 2, ys - (height - 1) / 2  # [H, W], relative to the centre
    theta = torch.deg2rad(rotation)
    scale = (1 + zoom)[:, None, None]
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    # (1 + z) R (p − c) − (p − c) + shift
    fx = scale * (cos * dx - sin * dy) - dx + shift[:, 0, None, None]
    fy = scale * (sin * dx + cos * dy) - dy + shift[:, 1, None, None]
    return torch.stack([fx, fy], dim=1)


def simulated_motion(
    images: Tensor,
    generator: torch.Generator,
    max_shift: float = MOTION_DEFAULTS["max_shift"],
    max_zoom: float = MOTION_DEFAULTS["max_zoom"],
    max_rotation: float = MOTION_DEFAULTS["max_rotation"],
    noise: float = MOTION_DEFAULTS["noise"],
    brightness: float = MOTION_DEFAULTS["brightness"],
) -> tuple[Tensor, Tensor, Tensor]:
    """A "next frame" for each image: a random small camera motion, noise and a lighting change.

    Per sample, uniformly at random: a shift of up to ``max_shift`` pixels in x and in y
    (sub-pixel), a zoom of up to ± ``max_zoom`` and a rotation of up to ± ``max_rotation``
    degrees about the centre (:func:`affine_flow`). The moved frame is ``warp(images, flow)``
    (bilinear, so it agrees with the flow by construction). Then, because consecutive frames of
    a real video also differ in lighting (which ReCoNet models with a luminance term) and in
    sensor and compression noise, a brightness offset uniform in ± ``brightness`` (the same for
    the whole sample) and Gaussian noise of standard deviation ``noise`` per pixel are added and
    the result is clamped to [0, 1]. ``noise=0`` and
    ``brightness=0`` give exactly ``warp(images, flow)``.

    Args:
        images: ``[B, 3, H, W]`` in [0, 1].
        generator: the only source of randomness (the same state gives the same output).

    Returns:
        ``(moved [B, 3, H, W], flow [B, 2, H, W], valid [B, 1, H, W])``: the moved frames, their
        exact backward flow (``moved[p] ≈ images[p + flow(p)]``) and 1 − :func:`nstlib.video.flow.out_of_frame`
        (0 where the moved frame shows what entered through the border).
    """
    if images.dim() != 4:
        raise ConfigError(f"simulated_motion needs images [B, C, H, W], got {tuple(images.shape)}")
    for name, value in (("max_shift", max_shift), ("max_zoom", max_zoom), ("max_rotation", max_rotation),
                        ("noise", noise), ("brightness", brightness)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"simulated_motion: {name} must be a number >= 0, got {value!r}")
    if max_zoom >= 1:
        raise ConfigError(f"simulated_motion: max_zoom must be below 1, got {max_zoom}")
    b, c, h, w = images.shape

    def uniform(*shape: int) -> Tensor:  # in [-1, 1]
        return torch.rand(*shape, generator=generator) * 2 - 1

    shift, zoom, rotation = uniform(b, 2) * max_shift, uniform(b) * max_zoom, uniform(b) * max_rotation
    offset = uniform(b) * brightness
    jitter = torch.randn(b, c, h, w, generator=generator) * noise
    flow = affine_flow(h, w, shift, zoom, rotation).to(images.device, images.dtype)
    moved = warp(images, flow)
    if noise or brightness:
        moved = (moved + offset.to(moved)[:, None, None, None] + jitter.to(moved)).clamp(0, 1)
    return moved, flow, 1 - out_of_frame(flow)


@torch.no_grad()
def stability(
    net: TransformerNet,
    images: Tensor,
    generator: torch.Generator,
    style: int | Sequence[float] | Tensor | None = None,
    **motion: float,
) -> float:
    """How much ``net``'s output moves *unlike* its input: the warping error of simulated pairs.

    ``moved, flow, valid = simulated_motion(images, generator, **motion)``, then the mean over
    the valid pixels and channels of ``(net(moved) − warp(net(images), flow))²``, with the
    outputs clamped to [0, 1] as :meth:`TransformerNet.stylize` returns them (the formula of
    :func:`nstlib.video.flow.warping_error`). A network that follows the motion exactly scores 0;
    lower is steadier. Give ``noise=0, brightness=0`` to measure the motion alone.

    Args:
        net: a (fast) :class:`TransformerNet`.
        images: ``[B, 3, H, W]`` in [0, 1].
        generator: seeds the motion (reuse a seed to compare networks on the same pairs).
        style: the style of a multi-style network (see :meth:`TransformerNet.stylize`).
        motion: keyword arguments of :func:`simulated_motion`.
    """
    moved, flow, valid = simulated_motion(images, generator, **motion)
    first = net.stylize(images, style)
    second = net.stylize(moved, style)
    warped = warp(first, flow.to(first))
    valid = valid.to(first)
    sq = (second - warped).pow(2).sum(1, keepdim=True) * valid
    return float(sq.sum() / (second.shape[1] * valid.sum().clamp(min=1)))


class StableFastTask(FastTask):
    """:class:`nstlib.feedforward.fast.FastTask` with a temporal loss on simulated motion (Huang et al. 2017).

    Each step's sample holds the content crops (as for :class:`FastTask`) and, drawn from a
    generator seeded by ``(seed, step)``, their moved versions, flows and valid masks
    (:func:`simulated_motion`). The network stylises both frames in one batch; the loss is

        FastTask's content + style + tv on the first frame (on both with ``both_frames=True``)
        + temporal_weight · temporal_loss(f(x'), warp(f(x), b), v),

    with gradients through both outputs. The outputs are the network's (unclamped, about
    [0, 1]), so the temporal term is a mean squared difference in image units.

    Choosing ``temporal_weight`` (default :data:`DEFAULT_TEMPORAL_WEIGHT` = 2000), measured on the
    shipped ``fast_brush_strokes`` (128 px crops, batch 2, content weight 1, style weight 2e4,
    learning rate 1e-4), with :func:`stability` (motion only) and the style term on eight 128 px
    crops of the course photos. The network starts at stability 0.0166, style 7.6, content 13.9;
    its unweighted temporal term is about 0.008, so a weight of 2000 makes it about 15, the size
    of the content term. After 60 steps: weight 0 → 0.0166 / style 6.6; 500 → 0.0092 / 9.5;
    2000 → 0.0044 / 15.0; 8000 → 0.0012 / 32 (four times the style loss: the look changes). With 2000 the style term
    recovers while the stability keeps improving: 0.0033 / 11.5 after 200 steps, 0.0030 / 8.9
    after 350 (5.6 times steadier, style +16 %, content 10.1). The network gives up some of the
    finest hatching, which is what flickered most. A fine-tune needs a small learning rate: at
    1e-3 Adam's first steps throw the trained network far off (the style term rose about 500-fold in 3 steps).

    ``kind`` stays ``"fast"`` (the model is a plain :class:`TransformerNet`); :meth:`meta` adds
    ``"stable": True``, ``"temporal_weight"``, ``"motion"`` (the motion settings),
    ``"both_frames"`` and ``"init_model"`` (what the weights started from, if given).

    Args:
        data, styles, style_names: as for :class:`FastTask`.
        temporal_weight: weight of the temporal term (≥ 0).
        motion: keyword arguments of :func:`simulated_motion` (defaults: :data:`MOTION_DEFAULTS`).
        both_frames: also apply the perceptual loss to the moved frame (twice the VGG cost).
        init_model: a name recorded in the meta (e.g. the shipped model whose weights ``net``
            holds); it does not load anything.
        **kwargs: the other arguments of :class:`FastTask` (``net``, weights of the loss, ...).
    """

    def __init__(
        self,
        data,
        styles: Sequence[Tensor],
        style_names: Sequence[str] | None = None,
        *,
        temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
        motion: Mapping[str, float] | None = None,
        both_frames: bool = False,
        init_model: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not (math.isfinite(temporal_weight) and temporal_weight >= 0):
            raise ConfigError(f"temporal_weight must be a number >= 0, got {temporal_weight!r}")
        unknown = set(motion or {}) - set(MOTION_DEFAULTS)
        if unknown:
            raise ConfigError(f"unknown motion setting(s) {sorted(unknown)}; known: {', '.join(MOTION_DEFAULTS)}")
        super().__init__(data, styles, style_names, **kwargs)
        self.temporal_weight = float(temporal_weight)
        self.motion = {**MOTION_DEFAULTS, **{k: float(v) for k, v in (motion or {}).items()}}
        self.both_frames = bool(both_frames)
        self.init_model = init_model

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "stable": True, "temporal_weight": self.temporal_weight,
                "motion": dict(self.motion), "both_frames": self.both_frames, "init_model": self.init_model}

    def sample(self, step: int, rows: Sequence[int] | None = None) -> dict[str, Tensor]:
        """The batch of ``step``; ``rows`` keeps only those rows. The motion of every row is drawn
        from one generator for the whole batch, so a rank's rows are cut from the whole batch
        (each rank decodes every crop of the step)."""
        out = super().sample(step)
        moved, flow, valid = simulated_motion(out["content"], step_generator(self.seed, 3, step), **self.motion)
        out = {**out, "moved": moved, "flow": flow, "valid": valid}
        return out if rows is None else {k: v[list(rows)] for k, v in out.items()}

    def losses(self, sample: Mapping[str, Tensor]) -> dict[str, Tensor]:
        content, moved, idx = sample["content"], sample["moved"], sample["style"].long()
        b = content.shape[0]
        # one forward pass for both frames (instance norm is per sample, so this is the same)
        both = self.model(torch.cat([content, moved]), torch.cat([idx, idx]))
        first, second = both[:b], both[b:]
        if self.both_frames:
            c, s, t = self.perceptual(both, torch.cat([content, moved]), torch.cat([idx, idx]))
        else:
            c, s, t = self.perceptual(first, content, idx)
        temporal = self.temporal_weight * temporal_loss(second, warp(first, sample["flow"]), sample["valid"])
        return {"total": c + s + t + temporal, "content": c, "style": s, "tv": t, "temporal": temporal}
