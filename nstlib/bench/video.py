"""``make bench-video``: video methods side by side on one clip and one style, in one run.

For the course clip (Big Buck Bunny, ``nstlib/data/images/video/``) at ``--size`` px it measures, for every
method, the seconds per frame (optical flow timed apart), the warping error E_warp (Lai et al.
2018: estimated DIS flow, Ruder's occlusion mask) and the style and content losses of one fixed
VGG19 judge, so that "stable" can not mean "washed out":

- ``gatys`` (per frame) against ``ruder`` (warped init + temporal loss), the same L-BFGS budget;
- ``fast`` (the shipped network per frame) against ``fast (stable)`` (the same network
  fine-tuned with a temporal loss on simulated motion, :mod:`nstlib.video.stable`), and AdaIN and WCT
  per frame, with the frames per second of the fast network;
- on a synthetic clip with exact flows, per-frame Gatys against Ruder once more, where the
  metric needs no flow estimate.

    python -m nstlib.bench.video [--size 256] [--frames 8] [--steps 100] [--json outputs/video_bench.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from ..core.assets import default_content, default_style, video_clip
from ..core.devices import resolve_device
from ..core.images import load_image, resize
from ..course.methods import time_call
from ..feedforward.models import load_model, pretrained_models
from ..video.flow import clip_flows, synthetic_clip
from ..video.io import read_video
from ..video.transfer import VideoRow, measure_video, stylize_video, video_table

STABLE_MODEL = "fast_brush_strokes_stable"
BASELINES = {"ruder": "gatys", "fast (stable)": "fast"}


def course_clip(size: int, frames: int):
    """The course clip's first ``frames`` frames at ``size`` px (longer side)."""
    return read_video(video_clip(), size=size, max_frames=frames)


def synthetic(size: int, frames: int):
    """A pan over the course photo with a square of the style image crossing it (exact flows)."""
    h, w = (size * 9) // 16, size
    background = load_image(default_content(), int(size * 1.6))
    sprite = resize(load_image(default_style(), size), max(8, size // 5))
    return synthetic_clip(background, sprite, num_frames=frames, size=(h, w))


def compare(frames: torch.Tensor, style: torch.Tensor, backward, occlusions, flows, steps: int,
            device: str, feed_forward: bool = True, progress: bool = True) -> list[VideoRow]:
    """Run every method on ``frames`` and measure each the same way; ``flows`` feed Ruder's method."""
    common = dict(progress=progress, device=device)
    runs = [("gatys", dict(method="gatys", num_steps=steps)),
            ("ruder", dict(method="ruder", flows=flows, num_steps=steps))]
    if feed_forward:
        runs += [("fast", dict(method="fast", model="fast_brush_strokes")),
                 ("adain", dict(method="adain")), ("wct", dict(method="wct"))]
        if STABLE_MODEL in pretrained_models():
            runs.insert(3, ("fast (stable)", dict(method="fast", model=STABLE_MODEL)))
    rows = []
    for name, kw in runs:
        result = stylize_video(frames, style, **kw, **common)
        rows.append(measure_video(name, result, frames, style, backward, occlusions, device=device))
    return rows


def fast_fps(size: int, device: str, repeats: int = 5) -> float:
    """Frames per second of the shipped fast network at ``size`` px (16:9), batch 1, after a warm-up."""
    dev = resolve_device(device)
    net = load_model("fast_brush_strokes", dev)
    x = torch.rand(1, 3, (size * 9) // 16, size, device=dev)
    with torch.no_grad():
        seconds, _ = time_call(lambda: net.stylize(x), repeats=repeats)
    return 1.0 / seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nstlib.bench.video", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256, help="longer side of the frames, px")
    p.add_argument("--frames", type=int, default=8, help="frames of the course clip")
    p.add_argument("--steps", type=int, default=100, help="L-BFGS evaluations per frame (gatys, ruder)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None, help="also write the numbers here")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)

    args.device = str(resolve_device(args.device))
    torch.manual_seed(0)
    style = load_image(default_style(), args.size)
    video = course_clip(args.size, args.frames)
    flows = clip_flows(video.frames, "dis", progress=not args.quiet)
    h, w = video.frames.shape[-2:]
    print(f"# Video methods on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    print(f"## Big Buck Bunny, {args.frames} frames at {w}×{h} px, style brush_strokes, "
          f"{args.steps} L-BFGS evaluations per frame; E_warp with DIS flow "
          f"({flows.seconds / max(args.frames - 1, 1):.3f} s per pair) and Ruder's occlusions\n")
    start = time.perf_counter()
    rows = compare(video.frames, style, flows.backward, flows.occlusions, flows, args.steps, args.device,
                   progress=not args.quiet)
    for r in rows:
        if r.name == "ruder":
            r.flow_seconds_per_frame = flows.seconds / args.frames
    print(video_table(rows, BASELINES))
    fps = fast_fps(args.size, args.device)
    print(f"\nfast network alone: {fps:.1f} frames per second at {w}×{h} px")
    clip = synthetic(args.size, args.frames)
    synth = compare(clip.frames, style, clip.backward, clip.occlusions, clip, args.steps, args.device,
                    feed_forward=False, progress=not args.quiet)
    ch, cw = clip.frames.shape[-2:]
    print(f"\n## Synthetic clip (a pan and a moving square, exact flows), {args.frames} frames at {cw}×{ch} px\n")
    print(video_table(synth, BASELINES))
    print(f"\n({time.perf_counter() - start:.0f} s in all)")
    if args.json:
        out = {"size": [w, h], "frames": args.frames, "steps": args.steps, "fast_fps": fps,
               "flow_seconds_per_pair": flows.seconds / max(args.frames - 1, 1),
               "clip": [{k: v for k, v in vars(r).items() if k != "frames"} for r in rows],
               "synthetic": [{k: v for k, v in vars(r).items() if k != "frames"} for r in synth]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
