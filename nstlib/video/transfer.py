"""Stylise a video: frame by frame, or with Ruder et al.'s temporal constraints.

Stylising each frame on its own flickers: every frame lands in a different local optimum (Gatys)
or reacts to small changes of its input (feed-forward networks). :func:`stylize_video` runs

- ``"gatys"``: :func:`nstlib.gatys.transfer.stylize` on each frame independently (the baseline);
- ``"ruder"``: Ruder et al. (2016): frame t starts from frame t−1's result warped by the
  optical flow, and a temporal loss keeps it close to that warp wherever the flow is trusted
  (not occluded, not on a motion boundary). Options: the long-term loss (several earlier
  frames, each pixel counted once, the closest first) and the multi-pass variant (passes
  alternate direction; each frame starts from a blend of its last result and its warped
  neighbour);
- ``"fast"``, ``"adain"``, ``"wct"``: a feed-forward model on each frame (issue 5's models). A
  network fine-tuned for stability (:mod:`nstlib.video.stable`) runs the same way: no flow at run time.

Frames are written to ``frames_dir`` as they are finished (``000000.png`` …) with the settings
beside them, so an interrupted run resumes where it stopped; :func:`video_metrics` measures the
flicker (the warping error of :func:`nstlib.video.flow.warping_error`) beside the style loss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core.config import Config, as_config
from ..core.devices import resolve_device
from ..core.errors import ConfigError
from ..core.files import write_text
from ..core.images import load_image, save_image
from ..core.losses import temporal_loss
from ..core.metrics import evaluate
from ..core.tables import format_table
from ..feedforward.models import load_model
from ..gatys.transfer import StylizeInterrupted, stylize
from .flow import clip_flows, estimate_flow, quantised, ruder_occlusions, warp, warping_error
from .io import VideoError, write_video

__all__ = [
    "METHODS",
    "FEED_FORWARD",
    "FrameStore",
    "VideoResult",
    "VideoRow",
    "trusted_weights",
    "long_term_targets",
    "flow_pairs",
    "long_range_error",
    "stylize_video",
    "video_metrics",
    "measure_video",
    "frames_fingerprint",
    "video_table",
    "plot_warping_error",
    "plot_flow",
    "plot_flicker",
    "side_by_side_html",
    "load_feed_forward",
]

METHODS = ("gatys", "ruder", "fast", "adain", "wct")
FEED_FORWARD = ("fast", "adain", "wct")
SETTINGS_FILE = "nstlib-video.json"


def frames_fingerprint(frames: Tensor) -> list[str]:
    """A short hash per frame of ``[T, 3, H, W]`` quantised to 8 bits (checks what a resumed run reuses)."""
    return [hashlib.sha1(str(tuple(f.shape)).encode() + f.numpy().tobytes()).hexdigest()[:12]
            for f in quantised(frames)]


class FrameStore:
    """Finished frames on disk, ``folder/000000.png`` …, with the settings and inputs that made them.

    Opening a folder made with other settings, or from other input frames, raises
    :class:`nstlib.video.io.VideoError`, so a resumed run never mixes two stylisations (a longer
    clip with the same beginning is fine: it continues). Frames are written atomically.

    Args:
        folder: where the frames go (created).
        settings: everything that changes the result (method, weights, style, size …; JSON-able).
        inputs: one fingerprint per input frame (:func:`frames_fingerprint`).
    """

    def __init__(self, folder: str | os.PathLike, settings: Mapping[str, Any], inputs: Sequence[str] = ()) -> None:
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(dict(settings)))  # normalised (tuples → lists)
        inputs = list(inputs)
        manifest = self.folder / SETTINGS_FILE
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text())
                old_settings, old_inputs = old["settings"], list(old["inputs"])
            except (OSError, ValueError, KeyError, TypeError):
                raise VideoError(f"{manifest} is unreadable; delete {self.folder} or choose another folder") from None
            if old_settings != self.settings:
                keys = sorted(k for k in set(old_settings) | set(self.settings)
                              if old_settings.get(k) != self.settings.get(k))
                diff = ", ".join(f"{k} {old_settings.get(k)!r} → {self.settings.get(k)!r}" for k in keys[:3])
                raise VideoError(f"the frames in {self.folder} were made with other settings ({diff}); "
                                 "use the same settings to resume, or another folder")
            for i, (a, b) in enumerate(zip(old_inputs, inputs)):
                if a != b:
                    raise VideoError(f"input frame {i} differs from the one the frames in {self.folder} were made "
                                     "from (another clip, window or size?); use another folder")
            if len(old_inputs) > len(inputs):
                inputs = old_inputs
        elif self.folder.exists() and any(self.folder.glob("[0-9]*.png")):
            raise VideoError(f"{self.folder} holds frames that this run did not make; choose another folder")
        write_text(manifest, json.dumps({"settings": self.settings, "inputs": inputs}, indent=1, sort_keys=True))
        self.inputs = inputs

    def path(self, index: int) -> Path:
        return self.folder / f"{index:06d}.png"

    def has(self, index: int) -> bool:
        return self.path(index).is_file()

    def load(self, index: int) -> Tensor:
        """``[1, 3, H, W]`` in [0, 1]."""
        return load_image(self.path(index))

    def save(self, index: int, frame: Tensor) -> None:
        save_image(frame, self.path(index))

    def count(self, total: int) -> int:
        """How many of frames 0 … total−1 are finished."""
        return sum(self.has(i) for i in range(total))


@dataclass
class VideoResult:
    """A stylised clip and what it cost.

    ``frames`` ``[T, 3, H, W]`` in [0, 1] (fewer than the input when interrupted);
    ``seconds``: stylisation wall time in this call (flow excluded), ``stylised``: frames made in
    this call (the others were resumed from disk), ``flow_seconds``: optical flow time (0 when
    cached or not needed), ``losses``: per frame, the final loss terms of optimisation methods.
    """

    frames: Tensor
    method: str
    seconds: float
    stylised: int
    resumed: int = 0
    flow_seconds: float = 0.0
    status: str = "done"
    message: str = ""
    losses: list[dict[str, float]] = field(default_factory=list)

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.stylised if self.stylised else math.nan


def trusted_weights(flow: Tensor, inverse: Tensor) -> Tensor:
    """Ruder et al.'s per-pixel weights ``c = 1 − occlusion``: ``[B, 1, H, W]``.

    ``flow`` maps the current frame to its neighbour (the flow that warps the neighbour in),
    ``inverse`` the neighbour back to the current frame. A pixel is distrusted (0) where the
    forward-backward check fails, where the flow leaves the frame, or on a motion boundary.
    """
    return 1.0 - ruder_occlusions(flow, inverse)


def long_term_targets(
    stylised: Sequence[Tensor | None], pair: Callable[[int, int], tuple[Tensor, Tensor]], t: int,
    offsets: Sequence[int],
) -> list[tuple[Tensor, Tensor]]:
    """Warped earlier results and their long-term weights for frame ``t`` (Ruder et al. 2016).

    Offset j looks at frame t−j through the flow between the two frames directly (so a region
    hidden in frame t−1 by a passing object can still be taken from t−2). Each pixel counts
    once, the closest frame first: the weight of offset j is ``max(c_j − Σ_{k<j} c_k, 0)``.

    Args:
        stylised: results so far, ``stylised[i]`` ``[1, 3, H, W]`` for i < t.
        pair: ``pair(t, s)`` → (the flow ``[1, 2, H, W]`` that warps frame s into frame t, its
            trusted pixels ``[1, 1, H, W]``, see :func:`trusted_weights`).
        t: the frame being made (≥ 1).
        offsets: for example ``(1,)`` (short-term only) or ``(1, 2, 4)``.

    Returns:
        ``[(warped [1, 3, H, W], weights [1, 1, H, W]), …]`` for the offsets with t − j ≥ 0.
    """
    out: list[tuple[Tensor, Tensor]] = []
    covered: Tensor | None = None
    for j in sorted(set(offsets)):
        if j < 1 or t - j < 0:
            continue
        flow, trusted = pair(t, t - j)
        weights = trusted if covered is None else (trusted - covered).clamp(min=0.0)
        covered = weights if covered is None else (covered + weights).clamp(max=1.0)
        previous = stylised[t - j]
        assert previous is not None
        out.append((warp(previous.to(flow.device), flow), weights))
    return out


def flow_pairs(frames: Tensor, flows: Any, method: str = "dis") -> Callable[[int, int], tuple[Tensor, Tensor]]:
    """``pair(t, s)`` → (the flow ``[1, 2, H, W]`` that warps frame s into frame t, its trusted
    pixels ``[1, 1, H, W]``), for any two frames of the clip.

    Consecutive pairs come from ``flows.backward`` and ``flows.forward``; others from
    ``flows.between`` (a :class:`nstlib.video.flow.SyntheticClip`'s exact flows) or are estimated with
    ``method`` between the two frames directly. Results are remembered.
    """
    memo: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    def pair(t: int, s: int) -> tuple[Tensor, Tensor]:
        if (t, s) not in memo:
            if s == t - 1:
                there, back = flows.backward[t:t + 1].float().cpu(), flows.forward[s:s + 1].float().cpu()
            elif s == t + 1:
                there, back = flows.forward[t:t + 1].float().cpu(), flows.backward[s:s + 1].float().cpu()
            elif hasattr(flows, "between"):
                there, back = flows.between(t, s), flows.between(s, t)
            else:
                there = estimate_flow(frames[t:t + 1], frames[s:s + 1], method)
                back = estimate_flow(frames[s:s + 1], frames[t:t + 1], method)
            memo[(t, s)] = there, trusted_weights(there, back)
        return memo[(t, s)]

    return pair


def long_range_error(stylised: Tensor, pair: Callable[[int, int], tuple[Tensor, Tensor]], gap: int) -> float:
    """How well what reappears is kept: frame t against frame t−gap warped onto it.

    The mean squared difference over the pixels both frames show (``pair``'s trusted mask, see
    :func:`flow_pairs`), averaged over t = gap … T−1. With ``gap=1`` it is the warping error; a
    larger gap also counts regions that an object hid in between, which only the long-term loss
    constrains. ``stylised`` ``[T, 3, H, W]`` in [0, 1].
    """
    if not 1 <= gap < stylised.shape[0]:
        raise ConfigError(f"gap {gap} needs 1 <= gap < {stylised.shape[0]} frames")
    errors = []
    for t in range(gap, stylised.shape[0]):
        flow, trusted = pair(t, t - gap)
        diff = (stylised[t:t + 1] - warp(stylised[t - gap:t - gap + 1], flow)).pow(2).sum(1, keepdim=True)
        errors.append(float((diff * trusted).sum() / (stylised.shape[1] * trusted.sum().clamp(min=1))))
    return sum(errors) / len(errors)


def load_feed_forward(method: str, model: Any, device: torch.device):
    """A feed-forward model for ``method`` (``fast``, ``adain``, ``wct``) on ``device``: the shipped one
    when ``model`` is None, a name or checkpoint path loaded with ``weights_only=True``, or a module as is."""
    if model is None:
        model = {"fast": "fast_brush_strokes", "adain": "adain", "wct": "wct"}[method]
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, device, kind=method)
    return model.to(device)


def _store(folder: str | os.PathLike | None, method: str, frames: Tensor, style: Tensor | None,
           extra: Mapping[str, Any]) -> FrameStore | None:
    if folder is None:
        return None
    settings = {"method": method, "size": list(frames.shape[-2:]),
                "style": frames_fingerprint(style)[0] if style is not None else None, **extra}
    return FrameStore(folder, settings, frames_fingerprint(frames))


def stylize_video(
    frames: Tensor,
    style: Tensor | None = None,
    method: str = "ruder",
    *,
    model: Any = None,
    flows: Any = None,
    flow_method: str = "dis",
    flow_cache: str | os.PathLike | None = None,
    temporal_weight: float = 1e3,
    long_term: Sequence[int] = (1,),
    passes: int = 1,
    pass_steps: int | None = None,
    blend: float = 0.5,
    fast_style: Any = None,
    alpha: float = 1.0,
    batch_size: int = 4,
    frames_dir: str | os.PathLike | None = None,
    progress: bool = True,
    config: Any = None,
    **overrides: Any,
) -> VideoResult:
    """Stylise ``frames`` ``[T, 3, H, W]`` (RGB in [0, 1]) with one of :data:`METHODS`.

    Args:
        frames: the clip, ``[T, 3, H, W]``.
        style: ``[1, 3, h, w]``, the style image (not needed by ``"fast"``, whose style is trained in).
        method: ``"gatys"`` (per frame), ``"ruder"`` (temporal), or a feed-forward ``"fast"``,
            ``"adain"``, ``"wct"`` applied per frame.
        model: for feed-forward methods, a loaded model, a shipped model's name or a checkpoint
            (default: the shipped model of that kind).
        flows: for ``"ruder"``, an object with ``backward`` and ``forward`` ``[T, 2, H, W]``
            (a :class:`nstlib.video.flow.SyntheticClip` or the result of :func:`nstlib.video.flow.clip_flows`);
            default: estimated with ``flow_method`` and cached in ``flow_cache``.
        temporal_weight: the weight of the temporal loss (per offset, on images in [0, 1]).
        long_term: the earlier frames the temporal loss looks at, e.g. ``(1,)`` (short-term, the
            default) or ``(1, 2, 4)`` (long-term).
        passes: Ruder's multi-pass variant when > 1: after the first forward pass, passes
            alternate backward and forward, each frame starting from ``blend`` of its warped
            neighbour (where trusted) and its own last result, with ``pass_steps`` evaluations
            (default half of ``num_steps``).
        fast_style: the style index or mixture of a multi-style fast network.
        alpha: content-style blend of AdaIN and WCT.
        batch_size: frames per forward pass of a feed-forward model.
        frames_dir: write each finished frame there and resume from the frames found (the
            settings are stored beside them; another run's frames are never overwritten).
        progress: a ``tqdm.auto`` bar over frames, with its ETA.
        config, overrides: the :class:`nstlib.gatys.transfer.Config` of the optimisation methods
            (``num_steps=…`` etc.).

    Returns:
        A :class:`VideoResult`. Ctrl-C returns the finished frames with ``status="interrupted"``
        (they are on disk when ``frames_dir`` is given).
    """
    _check_video_options(frames, style, method, passes, temporal_weight, blend, long_term)
    config = as_config(config, **overrides)
    device = resolve_device(config.device)
    frames = frames.detach().float().cpu()

    if method in FEED_FORWARD:
        net = load_feed_forward(method, model, device)
        store = _store(frames_dir, method, frames, style, _model_settings(net, model, fast_style, alpha))
        return _feed_forward(frames, style, method, net, fast_style, alpha, batch_size, store, progress, device)

    return _optimise_video(frames, style, method, config, flows, flow_method, flow_cache, temporal_weight,
                           long_term, passes, pass_steps, blend, frames_dir, progress)


def _optimise_video(frames: Tensor, style: Tensor, method: str, config: Config, flows: Any, flow_method: str,
                    flow_cache: str | os.PathLike | None, temporal_weight: float, long_term: Sequence[int],
                    passes: int, pass_steps: int | None, blend: float, frames_dir: str | os.PathLike | None,
                    progress: bool) -> VideoResult:
    """The optimisation methods of :func:`stylize_video`: ``"gatys"`` per frame, or ``"ruder"``."""
    if config.scales:
        raise ConfigError("video stylisation works at one scale; drop scales")
    flow_seconds, flow_source = 0.0, flow_method if flows is None else "given"
    if method == "ruder":
        flows, flow_seconds = _flows_for(frames, flows, flow_method, flow_cache, progress)
    extra: dict[str, Any] = {"config": {k: v for k, v in dataclasses.asdict(config).items() if k != "device"}}
    if method == "ruder":
        extra.update(_ruder_settings(temporal_weight, long_term, passes, pass_steps, blend, flow_source))
    store = _store(frames_dir, method, frames, style, extra)
    start = time.perf_counter()
    if method == "gatys":
        result = _optimise_frames(frames, style, config, store, progress, None)
    else:
        result = _ruder(frames, style, config, store, progress, flows, flow_method, temporal_weight,
                        tuple(long_term), passes, pass_steps, blend)
    result.flow_seconds = flow_seconds
    result.seconds = time.perf_counter() - start
    return result


def _model_settings(net: Any, model: Any, fast_style: Any, alpha: float) -> dict[str, Any]:
    """What a feed-forward run records beside its frames: the model's source, the style index, alpha."""
    source = getattr(net, "source", model if isinstance(model, (str, os.PathLike)) else "in memory")
    return {"model": str(source), "fast_style": fast_style, "alpha": alpha}


def _ruder_settings(temporal_weight: float, long_term: Sequence[int], passes: int, pass_steps: int | None,
                   blend: float, flow_method: str) -> dict[str, Any]:
    """What a Ruder run records beside its frames, so that a resumed run must use the same."""
    return dict(temporal_weight=temporal_weight, long_term=sorted(set(int(j) for j in long_term)), passes=passes,
                pass_steps=pass_steps, blend=blend, flow_method=flow_method)


def _check_video_options(frames: Tensor, style: Tensor | None, method: str, passes: int,
                         temporal_weight: float, blend: float, long_term: Sequence[int]) -> None:
    """Refuse a method, clip ``[T, 3, H, W]`` or option that :func:`stylize_video` cannot run, by name."""
    if method not in METHODS:
        raise ConfigError(f"unknown video method {method!r}; choose one of {', '.join(METHODS)}")
    if frames.dim() != 4 or frames.shape[1] != 3 or frames.shape[0] < 1:
        raise ConfigError(f"frames must be [T >= 1, 3, H, W], got {tuple(frames.shape)}")
    if style is None and method != "fast":
        raise ConfigError(f"the {method} method needs a style image")
    if passes < 1 or (passes > 1 and method != "ruder"):
        raise ConfigError(f"passes={passes}: multi-pass needs method 'ruder' and passes >= 1")
    if not temporal_weight >= 0 or not 0 <= blend <= 1:
        raise ConfigError(f"temporal_weight must be >= 0 and blend in [0, 1], got {temporal_weight!r}, {blend!r}")
    if any(int(j) != j or j < 1 for j in long_term) or not long_term:
        raise ConfigError(f"long_term offsets must be whole numbers >= 1, got {tuple(long_term)}")


def _flows_for(frames: Tensor, flows: Any, method: str, cache: str | os.PathLike | None,
               progress: bool) -> tuple[Any, float]:
    """The clip's flows (given, or estimated with ``method`` and cached) and the seconds estimating took."""
    seconds = 0.0
    if flows is None:
        flows = clip_flows(frames, method, cache_dir=cache, progress=progress)
        seconds = float(getattr(flows, "seconds", 0.0))
    shape = tuple(flows.backward.shape)
    if shape[0] != frames.shape[0] or shape[-2:] != frames.shape[-2:]:
        raise ConfigError(f"flows {shape} do not match frames {tuple(frames.shape)}")
    return flows, seconds


def _feed_forward(frames: Tensor, style: Tensor | None, method: str, net, fast_style, alpha: float,
                  batch_size: int, store: FrameStore | None, progress: bool, device: torch.device) -> VideoResult:
    from tqdm.auto import tqdm

    n = frames.shape[0]
    out: list[Tensor | None] = [None] * n
    resumed = 0
    if store is not None:
        for i in range(n):
            if store.has(i):
                out[i] = store.load(i)[0]
                resumed += 1
    todo = [i for i in range(n) if out[i] is None]
    style_dev = style.to(device) if style is not None else None
    bar = tqdm(total=n, initial=resumed, desc=f"video ({method})", unit="frame", disable=not progress, leave=False)
    status, message, seconds, made = "done", "", 0.0, 0
    try:
        with torch.no_grad():
            for k in range(0, len(todo), max(1, batch_size)):
                idx = todo[k:k + max(1, batch_size)]
                batch = frames[idx].to(device)
                t0 = time.perf_counter()
                if method == "fast":
                    images = net.stylize(batch, fast_style)
                else:
                    images = torch.cat([
                        net.stylize(f[None], style_dev, alpha=alpha) for f in batch])
                images = images.float().cpu()
                seconds += time.perf_counter() - t0
                for i, image in zip(idx, images):
                    out[i] = image
                    if store is not None:
                        store.save(i, image)
                made += len(idx)
                bar.update(len(idx))
    except KeyboardInterrupt:
        status, message = "interrupted", "interrupted; the finished frames are kept"
    finally:
        bar.close()
    done = [o for o in out if o is not None]
    stacked = torch.stack(done) if done else frames[:0]
    return VideoResult(stacked, method, seconds, made, resumed, status=status, message=message)


def _final_losses(result) -> dict[str, float]:
    h = result.history
    step = result.best_step - 1 if result.best_step else -1
    return {k: float(v[step]) for k, v in h.items() if v and not k.startswith("style/") and k != "seconds"}


def _optimise_frames(frames: Tensor, style: Tensor, config, store: FrameStore | None, progress: bool,
                     temporal, order: Sequence[int] | None = None, results: list[Tensor | None] | None = None, label: str = "video") -> VideoResult:
    """Optimise frames one after another (in ``order``); ``temporal(t, results)`` gives the init
    image and extra losses of frame t from the frames made so far (None: per-frame)."""
    from tqdm.auto import tqdm


    n = frames.shape[0]
    order = list(order if order is not None else range(n))
    results = results if results is not None else [None] * n
    losses: list[dict[str, float]] = [{} for _ in range(n)]
    resumed = 0
    bar = tqdm(total=len(order), desc=label, unit="frame", disable=not progress, leave=False)
    status, message, made = "done", "", 0
    try:
        for t in order:
            if store is not None and store.has(t):
                results[t] = store.load(t)
                resumed += 1
                bar.update(1)
                continue
            init, extra = None, None
            if temporal is not None:
                init, extra = temporal(t, results)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a non-finite frame keeps its best image
                res = stylize(frames[t:t + 1], style, config, progress=False, init_image=init, extra_losses=extra)
            results[t] = res.image
            losses[t] = _final_losses(res)
            if store is not None:
                store.save(t, res.image)
            made += 1
            bar.update(1)
    except (KeyboardInterrupt, StylizeInterrupted):
        status, message = "interrupted", "interrupted; the finished frames are kept"
    finally:
        bar.close()
    done = [r[0] for r in results if r is not None]
    stacked = torch.stack(done) if done else frames[:0]
    return VideoResult(stacked, "gatys", 0.0, made, resumed, status=status, message=message, losses=losses)


def _ruder(frames: Tensor, style: Tensor, config, store: FrameStore | None, progress: bool,
           flows: Any, flow_method: str, weight: float, offsets: tuple[int, ...], passes: int,
           pass_steps: int | None, blend: float) -> VideoResult:
    n = frames.shape[0]
    pair = flow_pairs(frames, flows, flow_method)

    def temporal_loss_of(targets):
        on_device: list[tuple[Tensor, Tensor]] = []  # moved once, not at every evaluation

        def fn(x: Tensor) -> Tensor:
            if not on_device:
                on_device.extend((w.to(x.device), c.to(x.device)) for w, c in targets)
            return weight * sum(temporal_loss(x, w, c) for w, c in on_device)
        return fn

    def first_pass(t: int, results: list[Tensor | None]):
        if t == 0:
            return None, None
        targets = long_term_targets(results, pair, t, offsets)
        init = targets[0][0]  # frame t−1 warped into frame t
        return init, {"temporal": temporal_loss_of(targets)}

    def pass_store(p: int) -> FrameStore | None:
        if store is None or passes == 1:
            return store
        return FrameStore(store.folder / f"pass{p}", {**store.settings, "pass": p}, store.inputs)

    result = _optimise_frames(frames, style, config, pass_store(1), progress, first_pass,
                              label="video (ruder)" if passes == 1 else "pass 1")
    steps = pass_steps or max(1, config.num_steps // 2)
    later = config.replace(num_steps=steps)
    for p in range(2, passes + 1):
        if result.status != "done":
            break
        previous = [f[None] for f in result.frames]
        reverse = p % 2 == 0
        order = range(n - 1, -1, -1) if reverse else range(n)
        results: list[Tensor | None] = [None] * n

        def pass_init(t: int, done: list[Tensor | None], reverse=reverse, previous=previous):
            neighbour = t + 1 if reverse else t - 1
            if not 0 <= neighbour < n:
                return previous[t], None
            flow, c = pair(t, neighbour)
            warped = warp(done[neighbour], flow)
            init = previous[t] + blend * c * (warped - previous[t])
            return init, {"temporal": temporal_loss_of([(warped, c)])}

        made_before, losses = result.stylised, result.losses
        result = _optimise_frames(frames, style, later, pass_store(p), progress, pass_init, order=order,
                                  results=results, label=f"pass {p}")
        result.stylised += made_before
        result.losses = [b or a for a, b in zip(losses, result.losses)]
    if store is not None and passes > 1 and result.status == "done":
        for t, f in enumerate(result.frames):  # the final pass's frames, where the CLI looks
            store.save(t, f[None])
    result.method = "ruder"
    return result


def video_metrics(
    stylised: Tensor, backward: Tensor, occlusions: Tensor, style: Tensor | None = None,
    content: Tensor | None = None, weights: str = "caffe", device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Flicker and style of a stylised clip, measured the same way for every method.

    Args:
        stylised: ``[T, 3, H, W]`` in [0, 1].
        backward, occlusions: ``[T, 2, H, W]`` and ``[T, 1, H, W]``: the true ones of a synthetic
            clip, or estimated ones (:func:`nstlib.video.flow.clip_flows`) for a real clip.
        style, content: for the style and content losses of the fixed evaluator
            (:func:`nstlib.core.metrics.evaluate`), averaged over frames; content ``[T, 3, H, W]``.

    Returns:
        ``{"e_warp": mean warping error, "e_warp_per_frame": [T − 1 values], "style": …,
        "content": …}`` (the last two when ``style`` and ``content`` are given).
    """
    per_frame = warping_error(stylised.float().cpu(), backward.float().cpu(), occlusions.float().cpu())
    out: dict[str, Any] = {"e_warp": float(per_frame.mean()), "e_warp_per_frame": per_frame.tolist()}
    if style is not None and content is not None:
        device = resolve_device(device)
        scores = [evaluate(s[None], c[None], style, weights, device) for s, c in zip(stylised, content)]
        out["style"] = sum(s["style"] for s in scores) / len(scores)
        out["content"] = sum(s["content"] for s in scores) / len(scores)
    return out


@dataclass
class VideoRow:
    """One method's line in the comparison: cost, flicker and style, measured the same way."""

    name: str
    seconds_per_frame: float
    flow_seconds_per_frame: float
    e_warp: float
    e_warp_per_frame: list[float]
    style: float
    content: float
    frames: Tensor


def measure_video(name: str, result: VideoResult, content: Tensor, style: Tensor, backward: Tensor,
                  occlusions: Tensor, device: str | torch.device = "cpu") -> VideoRow:
    """:func:`video_metrics` of ``result`` as a :class:`VideoRow` (the style judged against ``style``)."""
    m = video_metrics(result.frames, backward, occlusions, style, content, device=device)
    n = max(len(result.frames), 1)
    return VideoRow(name, result.seconds_per_frame, result.flow_seconds / n, m["e_warp"], m["e_warp_per_frame"],
                    m["style"], m["content"], result.frames)


def video_table(rows: Sequence[VideoRow], baselines: Mapping[str, str] | None = None) -> str:
    """A Markdown table of :class:`VideoRow` s; ``baselines`` maps a row to the row it is compared with
    (its E_warp and style loss as ratios)."""
    baselines = dict(baselines or {})
    by = {r.name: r for r in rows}
    body = []
    for r in rows:
        base = by.get(baselines.get(r.name, ""))
        body.append([r.name, f"{r.seconds_per_frame:.3g}",
                     f"{r.flow_seconds_per_frame:.3g}" if r.flow_seconds_per_frame else "–", f"{r.e_warp:.3g}",
                     f"{base.e_warp / r.e_warp:.1f}× vs {base.name}" if base else "", f"{r.style:.3g}",
                     f"{r.style / base.style:.2f}" if base else "", f"{r.content:.3g}"])
    return format_table(["method", "s / frame", "flow s / frame", "E_warp", "less flicker", "style loss",
                         "style ratio", "content loss"], body)


def plot_warping_error(rows: Sequence[VideoRow], title: str = "Flicker per frame"):
    """E_warp of each frame (against the previous one) for every method, log scale. A Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    for r in rows:
        ax.plot(range(1, len(r.e_warp_per_frame) + 1), r.e_warp_per_frame, marker="o", ms=3,
                label=f"{r.name} (mean {r.e_warp:.2g})")
    ax.set_yscale("log")
    ax.set_xlabel("frame t (compared with frame t − 1 warped onto it)")
    ax.set_ylabel("warping error E_warp (mean squared, RGB in [0, 1])")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_flow(previous: Tensor, current: Tensor, flow: Tensor, trusted: Tensor, true_occlusions: Tensor | None = None):
    """Frame t−1, frame t, the backward flow (torchvision's colour wheel), the distrusted pixels,
    and what warping frame t−1 by the flow leaves unexplained. Inputs ``[1, C, H, W]``. A Figure."""
    from matplotlib.figure import Figure
    from torchvision.utils import flow_to_image

    warped = warp(previous, flow)
    residual = (current - warped).abs().mean(1, keepdim=True) * trusted
    panels = [("frame t − 1", previous[0].permute(1, 2, 0), None),
              ("frame t", current[0].permute(1, 2, 0), None),
              (f"backward flow (max {flow.norm(dim=1).max():.1f} px)",
               flow_to_image(flow.float())[0].permute(1, 2, 0), None),
              (f"not trusted: {100 * (1 - trusted.mean()):.1f} % of pixels", 1 - trusted[0, 0], "gray"),
              (f"|frame t − warped t − 1| where trusted (mean {residual.mean():.3f})", residual[0, 0], "magma")]
    if true_occlusions is not None:
        panels.insert(4, ("true occlusions", true_occlusions[0, 0], "gray"))
    h, w = current.shape[-2:]
    fig = Figure(figsize=(2.6 * len(panels), 2.6 * h / w + 0.7), layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, (title, image, cmap) in zip(axes, panels):
        image = image.detach().cpu()
        ax.imshow(image.clamp(0, 1) if cmap is None and image.dtype.is_floating_point else image, cmap=cmap,
                  vmin=0 if cmap else None, vmax=1 if cmap == "gray" else None)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("x (px)", fontsize=7)
        ax.set_ylabel("y (px)", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle("Optical flow and occlusions (Ruder et al.'s consistency and motion-boundary tests)")
    return fig


def plot_flicker(rows: Sequence[VideoRow], backward: Tensor, t: int = 1):
    """Per method: frame t, and how much it differs from frame t−1 warped onto it (the flicker a
    viewer sees), on one colour scale. A Figure."""
    from matplotlib.figure import Figure

    diffs = [(r.frames[t] - warp(r.frames[t - 1:t], backward[t:t + 1])[0]).abs().mean(0) for r in rows]
    top = max(float(d.max()) for d in diffs) or 1.0
    h, w = rows[0].frames.shape[-2:]
    fig = Figure(figsize=(2.8 * len(rows), 5.2 * h / w + 0.9), layout="constrained")
    axes = fig.subplots(2, len(rows), squeeze=False)
    for k, (r, d) in enumerate(zip(rows, diffs)):
        axes[0, k].imshow(r.frames[t].permute(1, 2, 0).clamp(0, 1))
        axes[0, k].set_title(f"{r.name}: frame {t}", fontsize=9)
        im = axes[1, k].imshow(d, cmap="magma", vmin=0, vmax=top)
        axes[1, k].set_title(f"|x_t − warp(x_t−1)|, mean {float(d.mean()):.3f}", fontsize=8)
        for ax in axes[:, k]:
            ax.set_xlabel("x (px)", fontsize=7)
            ax.set_ylabel("y (px)", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8, label="absolute difference (RGB mean, [0, 1])")
    fig.suptitle("What flickers: each frame against the previous one moved along the flow")
    return fig


def side_by_side_html(videos: Mapping[str, Tensor], fps: float, height: int = 160) -> str:
    """An HTML ``<video>`` (base64 H.264 mp4) of several clips side by side, labelled, for notebooks."""
    import base64
    import html
    import tempfile


    clips = list(videos.values())
    n = min(len(c) for c in clips)
    strip = torch.cat([c[:n].float().cpu() for c in clips], dim=-1)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(strip, Path(tmp) / "side_by_side.mp4", fps, crf=23)
        data = base64.b64encode(path.read_bytes()).decode()
    labels = " | ".join(html.escape(k) for k in videos)
    return (f'<figure><video height="{height}" controls loop autoplay muted playsinline '
            f'src="data:video/mp4;base64,{data}"></video><figcaption>{labels}</figcaption></figure>')
