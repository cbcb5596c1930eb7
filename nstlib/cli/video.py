"""``python -m nstlib video``: stylise a clip, frame by frame or with temporal consistency.

    python -m nstlib video --video_path clip.mp4 --method ruder --output_path out.mp4
    python -m nstlib video --video_path clip.mp4 --method fast --model fast_brush_strokes_stable

Finished frames go to ``--frames_dir`` (default: ``<output>_frames/``) as they are made, so the
same command run again (after Ctrl-C or a crash) continues where it stopped. At the end the
frames become an H.264 mp4 at the input's frame rate, with the input's audio copied, and
optionally a GIF. Exit status: 0 done, 2 bad input (one line naming it), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.assets import default_style
from ..core.devices import resolve_device
from ..core.errors import NstlibError
from ..core.images import check_writable_path, load_image
from ..video.io import VideoError, read_video, write_gif, write_video
from ..video.transfer import METHODS, stylize_video
from .args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    HelpFormatter,
    Parser,
    add_run_options,
    check_outputs,
    deliver,
    fail,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    reporting,
    run_subcommand,
)

__all__ = ["main", "build_parser"]


def _offsets(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of frame offsets, e.g. 1,2,4")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"frame offsets must be >= 1, got {text!r}")
    return values


def build_parser(prog: str = "python -m nstlib") -> argparse.ArgumentParser:
    p = Parser(prog=f"{prog} video", formatter_class=HelpFormatter,
                description="Stylise a video (mp4, webm, mov, gif, or a folder of numbered frames). "
                            "Resumable: run the same command again to continue.")
    p.add_argument("--video_path", "--video-path", required=True, help="the input clip or frame folder")
    p.add_argument("--output_path", "--output-path", default="outputs/video.mp4", help="the stylised mp4")
    p.add_argument("--method", choices=METHODS, default="ruder",
                   help="gatys: per frame; ruder: temporally consistent optimisation (Ruder et al. 2016); "
                        "fast, adain, wct: a feed-forward model per frame")
    p.add_argument("--style_path", "--style-path", default=str(default_style()),
                   help="style image (not used by --method fast, whose style is trained in)")
    p.add_argument("--model", default=None,
                   help="feed-forward model: a shipped name (see `models`) or a checkpoint "
                        "(default: the shipped one of the method)")
    p.add_argument("--style", type=nonnegative_int, default=None, help="style index of a multi-style fast network")
    p.add_argument("--alpha", type=nonnegative_float, default=1.0, help="AdaIN/WCT content-style blend, 0..1")
    g = p.add_argument_group("frames")
    g.add_argument("--image_size", "--image-size", type=positive_int, default=256,
                   help="longer side of the frames, px")
    g.add_argument("--start", type=nonnegative_float, default=None, help="first second to read")
    g.add_argument("--end", type=positive_float, default=None, help="last second to read")
    g.add_argument("--fps", type=positive_float, default=None, help="resample to this frame rate")
    g.add_argument("--max_frames", "--max-frames", type=positive_int, default=None, help="stop after N frames")
    g.add_argument("--frames_dir", "--frames-dir", default=None,
                   help="where finished frames go (PNG), for resuming (default: <output>_frames/)")
    g.add_argument("--gif", default=None, help="also write a small looping GIF here")
    o = p.add_argument_group("optimisation (gatys, ruder)")
    o.add_argument("--num_steps", "--num-steps", type=positive_int, default=100, help="L-BFGS evaluations per frame")
    o.add_argument("--style_weight", "--style-weight", type=nonnegative_float, default=1e6)
    o.add_argument("--content_weight", "--content-weight", type=nonnegative_float, default=1.0)
    o.add_argument("--temporal_weight", "--temporal-weight", type=nonnegative_float, default=1e3,
                   help="weight of Ruder's temporal loss")
    o.add_argument("--long_term", "--long-term", type=_offsets, default=(1,), metavar="J1,J2,...",
                   help="earlier frames the temporal loss looks at: 1 (short-term) or e.g. 1,2,4 (long-term)")
    o.add_argument("--passes", type=positive_int, default=1, help="Ruder's multi-pass variant when > 1")
    o.add_argument("--flow", choices=("dis", "tvl1"), default="dis",
                   help="optical flow: OpenCV DIS (fast) or scikit-image TV-L1 (slower, often finer)")
    add_run_options(p)
    return p


def main(argv: Sequence[str], prog: str = "python -m nstlib") -> int:
    """``argv`` without the leading ``video``; returns the exit status."""
    return run_subcommand("video", build_parser, _run, argv, prog)


def _run(args: argparse.Namespace, prog: str) -> int:
    name = f"{prog} video"
    inputs = [args.video_path, args.style_path, *([args.model] if args.model else [])]
    progress, _ = reporting(args.quiet, 0, 1)
    try:
        device = resolve_device(args.device)
        output = check_writable_path(args.output_path, inputs, (".mp4",))
        gif = check_writable_path(args.gif, inputs, (".gif",)) if args.gif else None
        check_outputs({"--output_path": output, "--gif": gif})
        frames_dir = Path(args.frames_dir) if args.frames_dir else output.with_name(f"{output.stem}_frames")
        if frames_dir.resolve() == Path(args.video_path).resolve():
            raise VideoError(f"--frames_dir {frames_dir} is the input folder; choose another")
        video = read_video(args.video_path, start=args.start, end=args.end, max_frames=args.max_frames,
                           fps=args.fps, size=args.image_size)
        style = None if args.method == "fast" else load_image(args.style_path, args.image_size)
        print(f"{len(video.frames)} frames of {video.frames.shape[-1]}×{video.frames.shape[-2]} px at "
              f"{video.fps:g} fps from {args.video_path}; method {args.method} on {device}", flush=True)
        result = stylize_video(
            video.frames, style, args.method, model=args.model, fast_style=args.style, alpha=args.alpha,
            flow_method=args.flow, flow_cache=frames_dir / "flows", temporal_weight=args.temporal_weight,
            long_term=args.long_term, passes=args.passes, frames_dir=frames_dir, progress=progress,
            num_steps=args.num_steps, style_weight=args.style_weight, content_weight=args.content_weight,
            seed=args.seed, device=str(device))
    except NstlibError as exc:
        return fail(name, str(exc))
    total = len(video.frames)
    if result.status == "interrupted":
        print(f"{name}: interrupted after {len(result.frames)} of {total} frames; they are in {frames_dir} "
              "(run the same command again to continue)", file=sys.stderr)
        return EXIT_INTERRUPTED
    audio = args.video_path if video.has_audio else None
    saves = [(output, lambda p: write_video(result.frames, p, video.fps, audio_from=audio,
                                            audio_start=args.start or 0.0))]
    if gif:
        saves.append((gif, lambda p: write_gif(result.frames, p, video.fps)))
    done = deliver(saves)
    if done.problems:
        return fail(name, "; ".join(done.problems), EXIT_FAILED)
    timing = (f"{result.seconds_per_frame:.2f} s per frame" if result.stylised else "all frames resumed")
    flow = f", optical flow {result.flow_seconds:.1f} s" if result.flow_seconds else ""
    print(f"saved {output} ({total} frames; {result.resumed} resumed, {result.stylised} stylised, "
          f"{timing}{flow}){' and ' + str(gif) if gif else ''}")
    return EXIT_INTERRUPTED if done.interrupted else EXIT_OK
