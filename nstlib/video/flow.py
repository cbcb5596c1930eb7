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

:func:`estimate_flow` measures the flow between two real frames (OpenCV's DIS or Farnebäck, or
scikit-image's TV-L1: the ``video`` extra), and :func:`clip_flows` does so for a whole clip,
both directions, with Ruder et al.'s occlusions, cached on disk.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.errors import NstlibError
from ..core.files import atomic_file

__all__ = ["warp", "out_of_frame", "consistency_occlusions", "motion_boundaries", "ruder_occlusions",
           "warping_error", "SyntheticClip", "synthetic_clip", "FlowError", "FLOW_METHODS", "estimate_flow",
           "ClipFlows", "clip_flows", "quantised", "end_point_error", "occlusion_recall", "occlusion_precision"]

#: The methods :func:`estimate_flow` knows, with the package each one needs.
FLOW_METHODS = {"dis": "opencv-python-headless", "farneback": "opencv-python-headless",
                "tvl1": "scikit-image"}
_CACHE_FORMAT = 1  # bump when the cached content or the estimation changes


class FlowError(NstlibError):
    """An unknown flow method, a missing optional package, or frames of the wrong shape."""


def _check_flow(flow: Tensor, like: Tensor | None = None) -> None:
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise FlowError(f"a flow is [B, 2, H, W], got {tuple(flow.shape)}")
    if like is not None and like.shape[-2:] != flow.shape[-2:]:
        raise FlowError(f"flow {tuple(flow.shape)} and image {tuple(like.shape)} differ in size")


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


def ruder_occlusions(flow: Tensor, inverse: Tensor) -> Tensor:
    """Where the warp by ``flow`` cannot be trusted, as Ruder et al. (2016) detect it: the
    forward-backward check (:func:`consistency_occlusions`, with ``inverse`` the flow back) or a
    motion boundary (:func:`motion_boundaries`). ``[B, 1, H, W]`` of 0 and 1."""
    return (consistency_occlusions(flow, inverse) + motion_boundaries(flow)).clamp(max=1.0)


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
        raise FlowError(f"warping_error needs frames [T >= 2, C, H, W], got {tuple(frames.shape)}")
    if backward.shape[0] != frames.shape[0] or occlusions.shape[0] != frames.shape[0]:
        raise FlowError(f"{frames.shape[0]} frames but {backward.shape[0]} flows and {occlusions.shape[0]} masks")
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
    camera_step: tuple[int, int] = (0, 0)
    sprite_step: tuple[int, int] = (0, 0)

    def between(self, t: int, s: int) -> Tensor:
        """The exact flow ``[1, 2, h, w]`` that warps frame ``s`` into frame ``t`` (any two frames:
        Ruder's long-term loss looks several frames back)."""
        (cx, cy), (sx, sy) = self.camera_step, self.sprite_step
        k = float(t - s)
        m = self.objects[t:t + 1]
        background = torch.tensor([k * cx, k * cy]).view(1, 2, 1, 1)
        obj = torch.tensor([k * (cx - sx), k * (cy - sy)]).view(1, 2, 1, 1)
        return background * (1 - m) + obj * m


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
        raise FlowError(f"the background {tuple(background.shape[-2:])} is too small for {num_frames} frames "
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
    return SyntheticClip(frames_t, backward, forward, occlusions, objects_t, (cx, cy), (sx, sy))


# --------------------------------------------------------------------------------------------
# Estimating the flow of real frames


def _check_method(method: str) -> None:
    if method not in FLOW_METHODS:
        raise FlowError(f"unknown flow method {method!r}: choose one of {', '.join(map(repr, FLOW_METHODS))}")


def _estimator(method: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The flow of two grayscale frames ``[H, W]`` (CPU float32 in [0, 1]) as ``[2, H, W]`` (x, y).

    Each backend's ``f(first, second)`` gives ``first(p) ≈ second(p + flow(p))``.
    """
    _check_method(method)
    try:
        if method == "tvl1":
            from scipy.ndimage import median_filter  # scipy comes with scikit-image
            from skimage.registration import optical_flow_tvl1
        else:
            import cv2
    except ImportError:
        raise FlowError(f"flow method {method!r} needs {FLOW_METHODS[method]}: "
                        f'pip install "nstlib[video]"') from None
    if method == "tvl1":
        def tvl1(first: Tensor, second: Tensor) -> Tensor:
            # (reference, moving) -> (row, col) displacements with reference(p) ≈ moving(p + flow).
            # Its flow has a pixel-scale grain that the motion-boundary test would mark almost
            # everywhere on a real clip; a 5×5 median removes it and keeps the edges.
            flow = optical_flow_tvl1(first.numpy(), second.numpy())
            return torch.from_numpy(median_filter(flow, size=(1, 5, 5), mode="nearest")).float().flip(0)
        return tvl1

    if method == "dis":
        # The medium preset, but down to full resolution (its default stops at half, which blurs
        # small moving objects into their background), with patches every 4 pixels (not 3).
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        dis.setFinestScale(0)
        dis.setPatchStride(4)

    def opencv(first: Tensor, second: Tensor) -> Tensor:
        # calc(prev, next) -> [H, W, (x, y)] with prev(p) ≈ next(p + flow), on 8-bit images
        prev, nxt = (g.mul(255).round().to(torch.uint8).numpy() for g in (first, second))
        if method == "dis":
            flow = dis.calc(prev, nxt, None)
        else:
            flow = cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        return torch.from_numpy(flow).permute(2, 0, 1).float()
    return opencv


def _gray(frames: Tensor) -> Tensor:
    """``[B, 3, H, W]`` RGB -> ``[B, H, W]`` luma (ITU-R 601), CPU float32 in [0, 1]."""
    weights = torch.tensor([0.299, 0.587, 0.114])
    return torch.einsum("bchw,c->bhw", frames.detach().cpu().float().clamp(0, 1), weights).contiguous()


def _check_frames(frames: Tensor, what: str) -> None:
    """``what`` is e.g. ``"clip_flows needs frames [T, 3, H, W]"``."""
    if frames.dim() != 4 or frames.shape[1] != 3 or frames.shape[0] < 1:
        raise FlowError(f"{what}, got {tuple(frames.shape)}")


def estimate_flow(first: Tensor, second: Tensor, method: str = "dis") -> Tensor:
    """The optical flow from ``first`` to ``second``: ``first(p) ≈ second(p + flow(p))``.

    So ``estimate_flow(frame_t, frame_{t−1})`` is the backward flow ``b_t`` and
    ``warp(frame_{t−1}, b_t) ≈ frame_t``; swapping the frames gives the forward flow ``f_{t−1}``.
    The frames are converted to grayscale first.

    Args:
        first: ``[B, 3, H, W]`` RGB in [0, 1].
        second: ``[B, 3, H, W]``, the same shape.
        method: ``"dis"`` (OpenCV's dense inverse search at full resolution: about 20 ms a
            flow at 320×180 on one core, and the most accurate here), ``"tvl1"`` (scikit-image's
            TV-L1, median-filtered: about 50 times slower) or ``"farneback"`` (OpenCV: fast,
            but misses small fast objects).

    Returns:
        ``[B, 2, H, W]`` float32 flow in pixels (x, y), on ``first``'s device.

    Raises:
        FlowError: an unknown method, its package not installed, or frames of the wrong shape.
    """
    _check_method(method)
    _check_frames(first, "estimate_flow needs frames [B, 3, H, W]")
    if second.shape != first.shape:
        raise FlowError(f"estimate_flow needs two frames of one shape, "
                        f"got {tuple(first.shape)} and {tuple(second.shape)}")
    flow_of = _estimator(method)
    pairs = zip(_gray(first), _gray(second))
    return torch.stack([flow_of(a, b) for a, b in pairs]).to(first.device)


@dataclass
class ClipFlows:
    """The estimated flows of a clip, as :class:`SyntheticClip` holds the true ones.

    ``backward`` and ``forward`` ``[T, 2, H, W]`` (``backward[0]`` and ``forward[T−1]`` are zero);
    ``occlusions`` ``[T, 1, H, W]``: Ruder et al.'s forward-backward check or motion boundary
    (``occlusions[0]`` is all 1); ``method``; ``seconds`` spent estimating (0 when loaded from
    the cache).
    """

    backward: Tensor
    forward: Tensor
    occlusions: Tensor
    method: str
    seconds: float


def quantised(frames: Tensor) -> Tensor:
    """Frames in [0, 1] as the 8-bit values a file would hold (CPU uint8): what caches hash."""
    return frames.detach().cpu().float().clamp(0, 1).mul(255).round().to(torch.uint8).contiguous()


def _cache_file(folder: Path, pixels: Tensor, method: str) -> Path:
    digest = hashlib.sha1(f"nstlib flow v{_CACHE_FORMAT} {method} {tuple(pixels.shape)}\n".encode())
    digest.update(pixels.numpy().tobytes())
    return folder / f"flow-{method}-{digest.hexdigest()[:16]}.pt"


def _read_cache(path: Path, shape: tuple[int, ...], method: str) -> ClipFlows | None:
    """The cached flows, or None when there are none or the file is unreadable or foreign."""
    if not path.is_file():
        return None
    t, _, h, w = shape
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        flows = ClipFlows(data["backward"].float(), data["forward"].float(), data["occlusions"].float(),
                          method, 0.0)
        valid = (data["format"] == _CACHE_FORMAT and data["method"] == method
                 and flows.backward.shape == flows.forward.shape == (t, 2, h, w)
                 and flows.occlusions.shape == (t, 1, h, w))
    except Exception:  # truncated, garbage or a foreign pickle: recompute and overwrite
        return None
    return flows if valid else None


def _write_cache(path: Path, flows: ClipFlows) -> None:
    """Flows as float16 (half the size; 0.03 px steps up to 64 px), written atomically."""
    payload = {"format": _CACHE_FORMAT, "method": flows.method, "backward": flows.backward.cpu().half(),
               "forward": flows.forward.cpu().half(), "occlusions": flows.occlusions.cpu().to(torch.uint8)}
    with atomic_file(path) as handle:
        torch.save(payload, handle)


def clip_flows(
    frames: Tensor,
    method: str = "dis",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> ClipFlows:
    """Backward and forward flows of every pair of consecutive frames, and the occlusions.

    ``backward[t] = estimate_flow(frames[t], frames[t−1])``, ``forward[t−1]`` the reverse, and
    ``occlusions[t]`` = :func:`consistency_occlusions` ``(b_t, f_{t−1})`` or
    :func:`motion_boundaries` ``(b_t)`` (Ruder et al. 2016). The frames are quantised to 8 bits
    before estimating, so the result depends only on what the cache key hashes.

    Args:
        frames: ``[T, 3, H, W]`` RGB in [0, 1].
        method: see :func:`estimate_flow`.
        cache_dir: if given, the result is kept there in one file per clip,
            ``flow-<method>-<hash>.pt`` (hash of the 8-bit frames, their shape, the method and
            the cache format), flows in float16; a later call with the same frames loads it. An
            unreadable file is recomputed and overwritten.
        progress: show a ``tqdm.auto`` progress bar, one step per pair.

    Returns:
        A :class:`ClipFlows` on ``frames``' device.
    """
    _check_method(method)
    _check_frames(frames, "clip_flows needs frames [T, 3, H, W]")
    pixels = quantised(frames)
    path = None if cache_dir is None else _cache_file(Path(cache_dir), pixels, method)
    result = None if path is None else _read_cache(path, tuple(frames.shape), method)
    if result is None:
        from tqdm.auto import tqdm

        flow_of = _estimator(method)
        start = time.perf_counter()
        gray = _gray(pixels.float() / 255)
        n, _, h, w = frames.shape
        backward, forward = torch.zeros(n, 2, h, w), torch.zeros(n, 2, h, w)
        for t in tqdm(range(1, n), desc="optical flow", unit="pair", disable=not progress, leave=False):
            backward[t] = flow_of(gray[t], gray[t - 1])
            forward[t - 1] = flow_of(gray[t - 1], gray[t])
        occlusions = torch.ones(n, 1, h, w)
        if n > 1:
            b = backward[1:]
            occlusions[1:] = ruder_occlusions(b, forward[:-1])
        result = ClipFlows(backward, forward, occlusions, method, time.perf_counter() - start)
        if path is not None:
            _write_cache(path, result)
    device = frames.device
    return ClipFlows(result.backward.to(device), result.forward.to(device), result.occlusions.to(device),
                     method, result.seconds)


# --------------------------------------------------------------------------------------------
# Scores against the truth


def end_point_error(estimated: Tensor, true: Tensor, mask: Tensor | None = None) -> float:
    """The mean end-point error: the Euclidean distance between two flows, averaged over pixels.

    Args:
        estimated: ``[B, 2, H, W]``.
        true: ``[B, 2, H, W]``.
        mask: optional ``[B, 1, H, W]`` (or broadcastable to it): average only where it is 1
            (> 0.5).

    Returns:
        The mean distance in pixels; NaN when the mask selects no pixel.
    """
    _check_flow(estimated)
    if true.shape != estimated.shape:
        raise FlowError(f"flows {tuple(estimated.shape)} and {tuple(true.shape)} differ in shape")
    dist = (estimated - true).pow(2).sum(1, keepdim=True).sqrt()
    if mask is None:
        return float(dist.mean())
    return float(dist[(mask > 0.5).expand_as(dist)].mean())


def _occlusion_counts(predicted: Tensor, true: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    if predicted.shape != true.shape:
        raise FlowError(f"occlusion masks {tuple(predicted.shape)} and {tuple(true.shape)} differ in shape")
    p, t = predicted > 0.5, true > 0.5
    return (p & t).sum(), p.sum(), t.sum()


def occlusion_recall(predicted: Tensor, true: Tensor) -> float:
    """The fraction of truly occluded pixels that ``predicted`` marks occluded.

    Both masks have one shape (e.g. ``[T, 1, H, W]``); a pixel counts as occluded where its
    value is > 0.5, and every pixel given counts. Frame 0 of a clip is all 1 by convention in
    both masks, so pass ``occlusions[1:]`` to score only the frames that have a predecessor.
    NaN when ``true`` has no occluded pixel.
    """
    hits, _, truth = _occlusion_counts(predicted, true)
    return float(hits / truth)


def occlusion_precision(predicted: Tensor, true: Tensor) -> float:
    """The fraction of pixels that ``predicted`` marks occluded that truly are.

    Same conventions as :func:`occlusion_recall` (pass ``occlusions[1:]`` for a clip); NaN when
    ``predicted`` marks no pixel.
    """
    hits, marked, _ = _occlusion_counts(predicted, true)
    return float(hits / marked)
