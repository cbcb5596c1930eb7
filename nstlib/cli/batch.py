"""``python -m nstlib batch``: stylise every image of a folder, on one process or many.

    python -m nstlib batch --input_dir photos/ --output_dir out/ --method fast --model fast_brush_strokes
    torchrun --nproc_per_node=4 -m nstlib batch --input_dir frames/ --output_dir out/ --method adain \\
        --style_path nstlib/data/images/style/wave.png

The images of ``--input_dir`` (not its subfolders; the frames folder of a video works too) are
taken in sorted order by name; under torchrun rank ``r`` of ``N`` takes images ``r, r+N, …``
(:func:`nstlib.scale.distributed.shard`). Each output is ``<input name without extension>.<ext>`` in
``--output_dir``, written atomically (temporary file, then rename), so names and contents do not
depend on the number of processes, and an output that exists is finished: a run that is
interrupted (Ctrl-C, a crash, a lost node) continues where it stopped when run again. The
settings are stored beside the outputs (``nstlib-batch.json``); another run with other settings
refuses to mix into that folder. An image that fails (cannot be read, is too small for the
method, makes the model raise or run out of memory, or gives a non-finite output) is reported by
name on one line, with the error, and skipped; the summary at the end (rank 0, gathered from every
rank) lists what was done, what was already finished and what failed.

Exit status: 0 every image done (or already finished); 1 some images failed (named in the
summary; the others are done; under torchrun, rank 0 returns it); 2 bad arguments (one line naming the value); 130 Ctrl-C
(finished outputs are kept; run the same command again to continue).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.assets import IMAGE_SUFFIXES, default_style
from ..core.config import Config
from ..core.devices import resolve_device
from ..core.errors import NstlibError
from ..core.files import write_text
from ..core.features import get_extractor
from ..core.images import check_output_path, load_image, save_image
from ..feedforward.models import check_output
from ..gatys.transfer import stylize
from ..scale import distributed
from ..video.transfer import frames_fingerprint, load_feed_forward
from .args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    HelpFormatter,
    Parser,
    check_outputs,
    fail,
    nonnegative_float,
    nonnegative_int,
    positive_int,
    reporting,
)

__all__ = ["main", "build_parser", "METHODS", "SETTINGS_FILE", "BatchReport", "list_inputs", "output_name"]

METHODS = ("gatys", "fast", "adain", "wct")
#: What one image can raise without stopping the batch: a library error (unreadable, too small, a
#: non-finite output), or the model failing on it (torch's RuntimeError and ValueError, out of memory).
_IMAGE_FAILURES = (NstlibError, RuntimeError, ValueError, MemoryError)
SETTINGS_FILE = "nstlib-batch.json"


class BatchError(NstlibError):
    """A bad folder, name clash or setting; the message names it."""


@dataclass
class BatchReport:
    """What one rank did: input names done, already finished (skipped) and failed (with the reason)."""

    done: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, others: Sequence[BatchReport]) -> BatchReport:
        """One report of several ranks' reports (names in sorted order)."""
        out = BatchReport(seconds=max([self.seconds, *(o.seconds for o in others)]))
        for r in (self, *others):
            out.done += r.done
            out.finished += r.finished
            out.failed += r.failed
        out.done.sort()
        out.finished.sort()
        out.failed.sort()
        return out


def build_parser(prog: str = "python -m nstlib") -> argparse.ArgumentParser:
    """The ``batch`` subcommand's arguments."""
    p = Parser(prog=f"{prog} batch", formatter_class=HelpFormatter,
                description="Stylise every image in a folder (or a video's frames folder) with any method. "
                            "Under torchrun each process takes its share; finished outputs are skipped, so "
                            "running the same command again continues an interrupted run.")
    p.add_argument("--input_dir", "--input-dir", required=True, help="the folder of images (sorted by name)")
    p.add_argument("--output_dir", "--output-dir", required=True,
                   help="where the outputs go, one per input, named after it")
    p.add_argument("--method", choices=METHODS, default="fast",
                   help="gatys: optimise each image; fast, adain, wct: one forward pass of a trained model")
    p.add_argument("--style_path", "--style-path", default=str(default_style()),
                   help="the style image (not used by --method fast, whose style is trained in)")
    p.add_argument("--model", default=None, help="feed-forward model: a shipped name (see `models`) or a "
                   "checkpoint (default: the shipped one of the method)")
    p.add_argument("--style", type=nonnegative_int, default=None, help="style index of a multi-style fast network")
    p.add_argument("--alpha", type=nonnegative_float, default=1.0, help="AdaIN/WCT content-style blend, 0..1")
    p.add_argument("--image_size", "--image-size", type=positive_int, default=512,
                   help="longer side of each output, px")
    p.add_argument("--ext", choices=("png", "jpg"), default="png", help="the outputs' format")
    o = p.add_argument_group("optimisation (gatys)")
    o.add_argument("--num_steps", "--num-steps", type=positive_int, default=100, help="L-BFGS evaluations per image")
    o.add_argument("--style_weight", "--style-weight", type=nonnegative_float, default=1e6)
    o.add_argument("--content_weight", "--content-weight", type=nonnegative_float, default=1.0)
    o.add_argument("--weights", default="caffe", help="VGG19 weights: caffe (bundled), torchvision, random, or a .pth")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps; "
                   "under torchrun cuda is each process's own GPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def list_inputs(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; :class:`BatchError` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        hint = " (for a video file use `python -m nstlib video`)" if folder.is_file() else ""
        raise BatchError(f"--input_dir {folder}: not a folder{hint}")
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                   key=lambda p: p.name)
    if not files:
        raise BatchError(f"--input_dir {folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def output_name(source: Path, ext: str) -> str:
    """``photo.jpg`` -> ``photo.<ext>``: the output's name, whatever the number of processes."""
    return f"{source.stem}.{ext}"


def _check_names(files: Sequence[Path], ext: str) -> None:
    seen: dict[str, Path] = {}
    for f in files:
        name = output_name(f, ext)
        if name in seen:
            raise BatchError(f"{seen[name].name} and {f.name} would both become {name}; rename one of them")
        seen[name] = f


def _settings(args: argparse.Namespace, model: Any, style) -> dict[str, Any]:
    """Everything that changes the outputs (stored beside them; the device and process count do not)."""
    out: dict[str, Any] = {"method": args.method, "image_size": args.image_size, "ext": args.ext}
    if style is not None:
        out["style"] = frames_fingerprint(style)[0]
    if args.method == "gatys":
        out.update(num_steps=args.num_steps, style_weight=args.style_weight, content_weight=args.content_weight,
                   weights=args.weights, seed=args.seed)
    else:
        source = Path(getattr(model, "source", args.model))  # named by its contents: paths differ between machines
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        out.update(model=f"{source.name} sha256:{digest}", style_index=args.style, alpha=args.alpha)
    return out


def _check_settings(folder: Path, settings: dict[str, Any], write: bool) -> None:
    """Refuse a folder made with other settings; rank 0 records ours (atomically)."""
    manifest = folder / SETTINGS_FILE
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):
            raise BatchError(f"{manifest} is unreadable; delete it or choose another --output_dir") from None
        changed = [k for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
        if changed:
            k = changed[0]
            raise BatchError(f"the outputs in {folder} were made with other settings ({k} {old.get(k)!r}, now "
                             f"{settings.get(k)!r}); use the same settings to resume, or another --output_dir")
        return
    if write:
        write_text(manifest, json.dumps(settings, indent=1, sort_keys=True))


def main(argv: Sequence[str], prog: str = "python -m nstlib") -> int:
    """``argv`` without the leading ``batch``; returns the exit status."""
    name = f"{prog} batch"
    try:
        args = build_parser(prog).parse_args(list(argv))
        distributed.init(args.device)
        try:
            return _run(args, name, distributed.is_main())
        finally:
            distributed.cleanup()
    except KeyboardInterrupt:
        print(f"{name}: interrupted before any image was started", file=sys.stderr)
        return EXIT_INTERRUPTED


def _prepare(args: argparse.Namespace, main: bool):
    """Inputs, output folder, model and style, checked before any work; raises on bad usage."""
    if not 0 <= args.alpha <= 1:
        raise BatchError(f"--alpha {args.alpha:g} must be from 0 (content) to 1 (full style)")
    device = resolve_device(args.device)
    files = list_inputs(args.input_dir)
    out_dir = Path(args.output_dir)
    if out_dir.resolve() == Path(args.input_dir).resolve():
        raise BatchError(f"--output_dir {out_dir} is the input folder; choose another")
    check_outputs({"--output_dir": check_output_path(out_dir / output_name(files[0], args.ext), files)})
    _check_names(files, args.ext)
    style = None if args.method == "fast" else load_image(args.style_path, args.image_size)
    model = None
    if args.method == "gatys":  # bad weights fail now, not at every image

        d = Config()
        get_extractor(tuple(dict.fromkeys((*d.content_layers, *d.style_layers))), args.weights, d.pooling,
                      str(device), args.seed)
    else:
        model = load_feed_forward(args.method, args.model, device)
        if args.method == "fast" and args.style is not None and args.style >= model.n_styles:
            raise BatchError(f"--style {args.style}: the model has {model.n_styles} style(s), 0..{model.n_styles - 1}")
    _check_settings(out_dir, _settings(args, model, style), write=main)
    return files, out_dir, device, model, style


def _stylize_one(args: argparse.Namespace, content, model, style, device):
    """One image ``[1, 3, H, W]`` stylised by the chosen method."""
    import torch

    content = content.to(device)
    if args.method == "gatys":
        return stylize(content, style.to(device), progress=False, num_steps=args.num_steps,
                       style_weight=args.style_weight, content_weight=args.content_weight, weights=args.weights,
                       seed=args.seed, device=str(device)).image
    with torch.no_grad():
        if args.method == "fast":
            image = model.stylize(content, args.style)
        else:
            image = model.stylize(content, style.to(device), alpha=args.alpha)
    return check_output(image, model)


def _failure(exc: BaseException) -> str:
    """One line saying why an image failed: a library error's message, else the error's type and message."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(exc, NstlibError) else f"{type(exc).__name__}: {text}"


def _run(args: argparse.Namespace, name: str, main: bool) -> int:
    from tqdm.auto import tqdm


    try:
        files, out_dir, device, model, style = _prepare(args, main)
    except NstlibError as exc:
        return fail(name, str(exc)) if main else EXIT_USAGE
    distributed.barrier()  # rank 0 has recorded the settings before anyone writes an output
    mine = distributed.shard(files)
    report = BatchReport()
    progress, _ = reporting(args.quiet, 0, 1)
    if main:
        procs = distributed.world_size()
        print(f"{len(files)} images in {args.input_dir}; method {args.method} at {args.image_size} px on "
              f"{f'{procs} processes' if procs > 1 else device}", flush=True)
    bar = tqdm(mine, desc=f"batch ({args.method})", unit="image", disable=not (progress and main), leave=False)
    t0 = time.perf_counter()
    try:
        for source in bar:
            target = out_dir / output_name(source, args.ext)
            if target.exists():
                report.finished.append(source.name)
                continue
            try:
                image = _stylize_one(args, load_image(source, args.image_size), model, style, device)
                save_image(image, target)
            except _IMAGE_FAILURES as exc:  # this image failed: name it, skip it and go on
                report.failed.append((source.name, _failure(exc)))
                print(f"{name}: skipped {source.name}: {_failure(exc)}", file=sys.stderr, flush=True)
                continue
            report.done.append(source.name)
    except KeyboardInterrupt:
        bar.close()
        made = len(report.done)
        print(f"{name}: interrupted; {made} image(s) finished by this process are in {out_dir} "
              "(run the same command again to continue)", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.close()
    report.seconds = time.perf_counter() - t0
    reports = distributed.gather(report)
    if not main:  # rank 0 reports for everyone (and its exit status says whether anything failed)
        return EXIT_OK
    total = reports[0].merge(reports[1:])
    per = f", {total.seconds / len(total.done):.2f} s per image" if total.done else ""
    print(f"{len(total.done)} done, {len(total.finished)} already finished (skipped), {len(total.failed)} failed; "
          f"outputs in {out_dir}{per}")
    for source, reason in total.failed:
        print(f"failed: {source}: {reason}")
    return EXIT_FAILED if total.failed else EXIT_OK
