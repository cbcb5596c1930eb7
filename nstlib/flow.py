"""Optical flow for video style transfer: warping, occlusions, and a clip with exact ground truth.

Conventions (those of Ruder et al. 2016):

- A flow is ``[B, 2, H, W]`` in pixels: channel 0 is the x (column) displacement, channel 1
  the y (row) displacement.
- The *backward* flow of frame t, ``b_t``, maps each pixel p of frame t to where the same point
  is in frame t−1: ``p + b_t(p)``. :func:`warp` with ``b_t`` brings frame t−1 (or its stylised
  version) into frame t's geometry.
- The *forward* flow ``f_{t−1}`` maps pixels of frame t−1 to frame t.
- An occlusion mask is ``[B, 1, H, W]``, 1 where frame t shows something that frame t−1 did
  not (disocclusions, pixels entering through the border) or where the flow is unreliable
  (motion boundaries). The temporal loss skips those pixels.

:func:`synthetic_clip` renders a camera pan over a photo with an object moving across it, with
integer-pixel motion, and returns the true flows and occlusions, so that flow methods and the
occlusion tests can be checked exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["warp", "out_of_frame", "consistency_occlusions", "motion_boundaries", "warping_error",
           "SyntheticClip", "synthetic_clip"]


def _check_flow(flow: Tensor, like: Tensor | None = None) -> None:
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"a flow is [B, 2, H, W], got {tuple(flow.shape)}")
    if like is not None and like.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"flow {tuple(flow.shape)} and image {tuple(like.shape)} differ in size")


def _positions(flow: Tensor) -> tuple[Tensor, Tensor]:
    """Where each pixel's flow points, ``p + flow(p)``, as x and y in pixels, ``[B, H, W]`` each."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    return xs + flow[:, 0], ys + flow[:, 1]


def _grid(flow: Tensor) -> Tensor:
    """Sampling positions ``p + flow(p)`` in grid_sample's [-1, 1] coordinates, ``[B, H, W, 2]``."""
    h, w = flow.shape[-2:]
    x, y = _positions(flow)
    return torch.stack([x * (2.0 / max(w - 1, 1)) - 1.0, y * (2.0 / max(h - 1, 1)) - 1.0], dim=-1)


def warp(image: Tensor, flow: Tensor, mode: str = "bilinear") -> Tensor:
    """``out[p] = image[p + flow(p)]``: bring ``image`` into the geometry the flow starts from.

    Args:
        image: ``[B, C, H, W]``.
        flow: ``[B, 2, H, W]`` in pixels (x, y), e.g. the backward flow of frame t to warp
            frame t−1.
        mode: ``"bilinear"`` (differentiable in the image and the flow) or ``"nearest"``.

    Returns:
        ``[B, C, H, W]``. Positions outside the image take the nearest border pixel; mark them
        with :func:`out_of_frame`. The loss and the warping-error metric both use this function.
    """
    _check_flow(flow, image)
    return F.grid_sample(image, _grid(flow.to(image.dtype)), mode=mode, padding_mode="border",
                         align_corners=True)


def out_of_frame(flow: Tensor) -> Tensor:
    """``[B, 1, H, W]``: 1 where ``p + flow(p)`` falls outside the frame (nothing to warp from)."""
    _check_flow(flow)
    h, w = flow.shape[-2:]
    x, y = _positions(flow)
    outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    return outside.unsqueeze(1).to(flow.dtype)


def consistency_occlusions(backward: Tensor, forward: Tensor) -> Tensor:
    """Ruder et al.'s forward-backward consistency check (after Sundaram et al. 2010).

    A pixel p of frame t is occluded (1) when following its backward flow to frame t−1 and the
    forward flow back does not return near p:

        |b(p) + f(p + b(p))|² > 0.01 (|b(p)|² + |f(p + b(p))|²) + 0.5,

    or when ``p + b(p)`` leaves the frame.

    Args:
        backward: ``b_t``, ``[B, 2, H, W]`` (frame t to t−1).
        forward: ``f_{t−1}``, ``[B, 2, H, W]`` (frame t−1 to t).

    Returns:
        ``[B, 1, H, W]`` of 0 and 1.
    """
    _check_flow(backward)
    _check_flow(forward, backward)
    f_back = warp(forward, backward)
    total = (backward + f_back).pow(2).sum(1, keepdim=True)
    bound = 0.01 * (backward.pow(2).sum(1, keepdim=True) + f_back.pow(2).sum(1, keepdim=True)) + 0.5
    return ((total > bound).to(backward.dtype) + out_of_frame(backward)).clamp(max=1.0)


def motion_boundaries(flow: Tensor) -> Tensor:
    """Ruder et al.'s motion-boundary test: 1 where ``|∇u|² + |∇v|² > 0.01 |w|² + 0.002``.

    The gradients are forward differences (0 on the last row and column). ``[B, 1, H, W]``.
    """
    _check_flow(flow)
    dx = torch.zeros_like(flow)
    dy = torch.zeros_like(flow)
    dx[..., :, :-1] = flow[..., :, 1:] - flow[..., :, :-1]
    dy[..., :-1, :] = flow[..., 1:, :] - flow[..., :-1, :]
    grad = (dx.pow(2) + dy.pow(2)).sum(1, keepdim=True)
    return (grad > 0.01 * flow.pow(2).sum(1, keepdim=True) + 0.002).to(flow.dtype)


def warping_error(frames: Tensor, backward: Tensor, occlusions: Tensor) -> Tensor:
    """The flicker metric: how much each frame differs from the previous one warped onto it.

    ``E_t = Σ_p (1 − o_t(p)) |x_t(p) − warp(x_{t−1}, b_t)(p)|² / (C · Σ_p (1 − o_t(p)))``, the mean
    squared error over the pixels visible in both frames, for t = 1 … T−1 (Lai et al. 2018 use
    the same measure). It is 0 for a video whose frames move exactly with the flow; per-frame
    stylisation that lands in a different local optimum each frame raises it.

    Args:
        frames: ``[T, C, H, W]`` (the stylised video, or the input to get its own baseline).
        backward: ``[T, 2, H, W]`` backward flows (``backward[t]``: frame t to t−1; [0] unused).
        occlusions: ``[T, 1, H, W]``, 1 where frame t has no source in t−1 ([0] unused).

    Returns:
        ``[T − 1]``: the error of each frame after the first.
    """
    if frames.dim() != 4 or frames.shape[0] < 2:
        raise ValueError(f"warping_error needs frames [T >= 2, C, H, W], got {tuple(frames.shape)}")
    if backward.shape[0] != frames.shape[0] or occlusions.shape[0] != frames.shape[0]:
        raise ValueError(f"{frames.shape[0]} frames but {backward.shape[0]} flows and {occlusions.shape[0]} masks")
    warped = warp(frames[:-1], backward[1:])
    visible = 1 - occlusions[1:]
    sq = (frames[1:] - warped).pow(2).sum(1, keepdim=True) * visible
    return sq.sum((1, 2, 3)) / (frames.shape[1] * visible.sum((1, 2, 3)).clamp(min=1))


@dataclass
class SyntheticClip:
    """A rendered clip with its ground truth.

    ``frames`` ``[T, 3, h, w]`` in [0, 1]; ``backward[t]`` and ``forward[t]`` ``[T, 2, h, w]``
    (``backward[0]`` and ``forward[T−1]`` are zero: there is no frame before the first or after
    the last); ``occlusions[t]`` ``[T, 1, h, w]``: 1 where frame t shows what frame t−1 did not
    (``occlusions[0]`` is all 1); ``objects[t]`` ``[T, 1, h, w]``: the moving object's mask.
    """

    frames: Tensor
    backward: Tensor
    forward: Tensor
    occlusions: Tensor
    objects: Tensor


def synthetic_clip(
    background: Tensor,
    sprite: Tensor,
    num_frames: int = 8,
    size: tuple[int, int] = (96, 128),
    camera_step: tuple[int, int] = (3, 1),
    sprite_step: tuple[int, int] = (-5, 2),
    sprite_start: tuple[int, int] | None = None,
) -> SyntheticClip:
    """A camera pan over ``background`` with ``sprite`` moving across it; all motion in whole pixels.

    Args:
        background: ``[1, 3, H, W]`` in [0, 1], larger than ``size`` plus the pan.
        sprite: ``[1, 3, s, s']``: the moving object (an opaque rectangle).
        num_frames: T.
        size: ``(h, w)`` of the frames.
        camera_step: ``(dx, dy)`` of the camera per frame, pixels (the background moves the other way).
        sprite_step: ``(dx, dy)`` of the object per frame in the world, pixels.
        sprite_start: the object's top-left world position in frame 0 (default: right of centre).

    Returns:
        A :class:`SyntheticClip`. For a background pixel the backward flow is ``camera_step``;
        for an object pixel it is ``camera_step − sprite_step``.
    """
    h, w = size
    (cx, cy), (sx, sy) = camera_step, sprite_step
    span_x, span_y = abs(cx) * (num_frames - 1), abs(cy) * (num_frames - 1)
    if background.shape[-2] < h + span_y or background.shape[-1] < w + span_x:
        raise ValueError(f"the background {tuple(background.shape[-2:])} is too small for {num_frames} frames "
                         f"of {h}×{w} px panning {camera_step} px per frame")
    x0 = 0 if cx >= 0 else span_x
    y0 = 0 if cy >= 0 else span_y
    sh, sw = sprite.shape[-2:]
    if sprite_start is None:
        sprite_start = (x0 + w // 2, y0 + h // 3)
    frames, objects = [], []
    for t in range(num_frames):
        camx, camy = x0 + t * cx, y0 + t * cy
        frame = background[0, :, camy:camy + h, camx:camx + w].clone()
        mask = torch.zeros(1, h, w)
        ox, oy = sprite_start[0] + t * sx - camx, sprite_start[1] + t * sy - camy  # in frame coordinates
        x_a, x_b, y_a, y_b = max(ox, 0), min(ox + sw, w), max(oy, 0), min(oy + sh, h)
        if x_a < x_b and y_a < y_b:
            frame[:, y_a:y_b, x_a:x_b] = sprite[0, :, y_a - oy:y_b - oy, x_a - ox:x_b - ox]
            mask[:, y_a:y_b, x_a:x_b] = 1
        frames.append(frame)
        objects.append(mask)
    frames_t, objects_t = torch.stack(frames), torch.stack(objects)
    bg_back = torch.tensor([float(cx), float(cy)]).view(2, 1, 1)
    obj_back = torch.tensor([float(cx - sx), float(cy - sy)]).view(2, 1, 1)
    backward = torch.zeros(num_frames, 2, h, w)
    forward = torch.zeros(num_frames, 2, h, w)
    occlusions = torch.ones(num_frames, 1, h, w)
    for t in range(num_frames):
        m = objects_t[t]
        if t > 0:
            backward[t] = bg_back * (1 - m) + obj_back * m
        if t < num_frames - 1:
            forward[t] = -bg_back * (1 - m) - obj_back * m
    for t in range(1, num_frames):
        # a pixel of frame t is visible in t-1 when its source is inside the frame and the source
        # pixel shows the same surface (object on object, background on background)
        b = backward[t:t + 1]
        source_is_object = warp(objects_t[t - 1:t], b, mode="nearest")
        same_surface = (source_is_object == objects_t[t:t + 1]).to(b.dtype)
        occlusions[t] = ((1 - same_surface) + out_of_frame(b)).clamp(max=1.0)[0]
    return SyntheticClip(frames_t, backward, forward, occlusions, objects_t)
