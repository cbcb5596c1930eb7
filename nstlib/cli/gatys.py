"""``python -m nstlib`` without a subcommand: Gatys et al.'s optimisation on one content image.

``python train_pytorch.py``, the seed's entry point, runs this too. Exit status as for every
command (:mod:`nstlib.cli.args`): 0 on success; 1 if the loss became NaN/inf (the best image so
far is saved); 2 for bad arguments or input (one line naming the value or file at fault,
nothing started); 130 on Ctrl-C (the best image so far is saved).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from ..controls.masks import MaskError, load_mask
from ..core.assets import default_content, default_style
from ..core.config import INITS, OPTIMIZERS, PRESETS, Config
from ..core.devices import resolve_device
from ..core.errors import ConfigError, NstlibError
from ..core.features import get_extractor
from ..core.files import save_figure, write_text
from ..core.images import check_output_path, check_writable_path, load_image, max_pixels_for, save_image
from ..core.optimize import StepInfo
from ..gatys.plots import plot_history
from ..gatys.transfer import StylizeInterrupted, stylize
from .args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NONFINITE,
    EXIT_OK,
    HelpFormatter,
    Delivery,
    Parser,
    check_outputs,
    deliver,
    fail,
    float_list,
    layer_list,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    region_style_list,
    reporting,
    size_list,
    style_scale,
)

__all__ = ["build_parser", "main"]

def build_parser(prog: str = "python -m nstlib") -> argparse.ArgumentParser:
    """The argument parser; every flag of the seed's ``train_pytorch.py`` and more."""
    d = Config()
    p = Parser(
        prog=prog,
        description="Neural style transfer by optimisation (Gatys et al.): render a content photo "
        "in the style of another image.",
        epilog="Example: python -m nstlib --content_path chelsea "
        "--style_path mondrian --image_size 256 --num_steps 150 "
        "--output_path outputs/cat_mondrian.png --plot outputs/cat_mondrian_loss.png. "
        "Feed-forward models (one forward pass): python -m nstlib {train,fast,adain,wct,models} --help. "
        "Video, without flicker: python -m nstlib video --help. "
        "A folder of images, on one process or many: python -m nstlib batch --help. "
        "The texture of a 3D mesh: python -m nstlib mesh --help",
        formatter_class=HelpFormatter,
    )
    _add_image_options(p, d)
    _add_weight_options(p, d)
    _add_optimisation_options(p, d)
    _add_control_options(p, d)
    _add_large_output_options(p, d)
    _add_reporting_options(p)
    return p


def _add_image_options(parser: argparse.ArgumentParser, d: Config) -> None:
    """Add the images: content, style, output and size."""
    io = parser.add_argument_group("images")
    p_add = io.add_argument
    p_add("--content_path", "--content-path", default=str(default_content()),
          help="content photo: a file path, an http(s) URL or a bundled image's name (chelsea, astronaut, coffee, rocket)")
    p_add("--style_path", "--style-path", nargs="+", default=[str(default_style())], metavar="STYLE",
          help="style image: a file path, an http(s) URL or a bundled style's name (mondrian, wave, ...); several are blended (--style_blend) "
               "or given to mask regions (--mask)")
    p_add("--output_path", "--output-path", default="outputs/stylized.png",
          help="where to write the result (PNG/JPEG by extension); never one of the inputs")
    p_add("--image_size", "--image-size", type=positive_int, default=d.image_size,
          help="longer side of the output, in pixels")


def _add_weight_options(parser: argparse.ArgumentParser, d: Config) -> None:
    """Add the loss weights and layers."""
    w = parser.add_argument_group("loss weights")
    w.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="the seed's tuning presets: high_style (beta 1e7), balanced (alpha 1, beta 1e6), "
                   "high_content (alpha 10, beta 1e5); explicit weights override it")
    w.add_argument("--content_weight", "--content-weight", type=nonnegative_float, default=None,
                   help=f"alpha, weight of the content loss (default {d.content_weight:g})")
    w.add_argument("--style_weight", "--style-weight", type=nonnegative_float, default=None,
                   help=f"beta, weight of the style loss (default {d.style_weight:g})")
    w.add_argument("--tv_weight", "--tv-weight", type=nonnegative_float, default=d.tv_weight,
                   help="gamma, weight of the total-variation loss (raise it if the output is noisy)")
    w.add_argument("--content_layers", "--content-layers", type=layer_list, default=d.content_layers,
                   help="comma-separated VGG19 layers for the content loss")
    w.add_argument("--style_layers", "--style-layers", type=layer_list, default=d.style_layers,
                   help="comma-separated VGG19 layers for the style loss")


def _add_optimisation_options(parser: argparse.ArgumentParser, d: Config) -> None:
    """Add the optimiser, its start, the network and the device."""
    o = parser.add_argument_group("optimisation")
    o.add_argument("--num_steps", "--num-steps", type=positive_int, default=d.num_steps,
                   help="loss evaluations (forward + backward passes) to spend")
    o.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                   help="L-BFGS (Gatys et al.) or Adam")
    o.add_argument("--learning_rate", "--learning-rate", type=positive_float, default=d.learning_rate,
                   help="Adam's step size; L-BFGS sets its own steps")
    o.add_argument("--init", choices=INITS, default=d.init, help="the image the optimisation starts from")
    o.add_argument("--init_image", "--init-image", default=None, metavar="IMAGE",
                   help="start from this image instead (overrides --init): refine an earlier output, "
                        "or add --photo_weight to a finished transfer (Luan et al.'s second stage)")
    o.add_argument("--weights", default=d.weights,
                   help="VGG19 weights: caffe (bundled, offline), torchvision (downloads IMAGENET1K_V1), "
                   "random, or a path to a torchvision-layout .pth file")
    o.add_argument("--pooling", choices=("max", "avg"), default=d.pooling, help="VGG19 pooling")
    o.add_argument("--device", default=d.device, help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    o.add_argument("--amp", action="store_true", help="float16 autocast for the VGG pass on CUDA")
    o.add_argument("--lbfgs_history", "--lbfgs-history", type=positive_int, default=d.lbfgs_history,
                   help="L-BFGS memory (pairs of image-sized vectors); lower it for large images")
    o.add_argument("--seed", type=int, default=d.seed, help="random seed (noise init); CPU runs are reproducible")


def _add_control_options(parser: argparse.ArgumentParser, d: Config) -> None:
    """Add the advanced controls: blending, scale, colour, coarse to fine, photorealism, masks."""
    a = parser.add_argument_group("advanced controls")
    a.add_argument("--style_blend", "--style-blend", type=float_list, default=None, metavar="W1,W2,...",
                   help="weights of several style images, e.g. 0.7,0.3 (default: equal)")
    a.add_argument("--style_scale", "--style-scale", type=style_scale, default=d.style_scale,
                   help="style image size relative to the output: below 1 gives finer brush strokes")
    a.add_argument("--preserve_color", "--preserve-color", choices=("luminance", "histogram"), default=None,
                   help="keep the content's colours: stylise the luminance only, or match the style's "
                        "colour histogram to the content first")
    a.add_argument("--scales", type=size_list, default=None, metavar="S1,S2,...",
                   help="coarse to fine, e.g. 128,256,512 (the last is the output size; the steps are "
                        "split equally between the scales)")
    a.add_argument("--photo_weight", "--photo-weight", type=nonnegative_float, default=d.photo_weight,
                   help="weight of the photorealism (matting Laplacian) term; it grows with the image size: "
                        "about 10 at 256 px, less at larger sizes")
    a.add_argument("--mask", default=None, metavar="PNG",
                   help="content regions, one flat colour each: region r takes style r (see --region_styles)")
    a.add_argument("--region_styles", "--region-styles", type=region_style_list, default=None, metavar="I,...",
                   help="with --mask, the style index for each region in the order of the mask's colours "
                        "(sorted as hex RGB), or none to leave a region unstylised, e.g. 0,1,none")


def _add_large_output_options(parser: argparse.ArgumentParser, d: Config) -> None:
    """Add outputs larger than memory: tiles and checkpointing."""
    big = parser.add_argument_group("large outputs")
    big.add_argument("--tile", type=positive_int, default=None, metavar="N",
                     help="optimise outputs larger than N px in overlapping N-px tiles with global style "
                          "statistics: device memory of one tile, whatever the output size (e.g. 512)")
    big.add_argument("--tile_overlap", "--tile-overlap", type=nonnegative_int, default=d.tile_overlap,
                     metavar="N", help="pixels neighbouring tiles share (at most half the tile)")
    big.add_argument("--checkpointing", action="store_true",
                     help="recompute VGG activations in the backward pass instead of keeping them "
                          "(less memory per pixel, about a third more time)")


def _add_reporting_options(parser: argparse.ArgumentParser) -> None:
    """Add the loss plot, the history and the progress report."""
    r = parser.add_argument_group("reporting")
    r.add_argument("--plot", default=None, metavar="PNG", help="save the loss curves as a PNG plot")
    r.add_argument("--history", default=None, metavar="JSON", help="save the per-step loss history as JSON")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no step log")
    r.add_argument("--log_every", "--log-every", type=nonnegative_int, default=None, metavar="N",
                   help="print the loss every N steps to stdout (0: never; default: every tenth of "
                        "the run when stderr is not a terminal, as in Colab's ! cells or a log file)")


def _config_from_args(args: argparse.Namespace):
    base = Config.preset(args.preset) if args.preset else Config()
    changes = dict(
        image_size=args.image_size, tv_weight=args.tv_weight, num_steps=args.num_steps,
        learning_rate=args.learning_rate, optimizer=args.optimizer, init=args.init,
        content_layers=args.content_layers, style_layers=args.style_layers, weights=args.weights,
        pooling=args.pooling, device=args.device, seed=args.seed, amp=args.amp,
        style_blend=args.style_blend, style_scale=args.style_scale, preserve_color=args.preserve_color,
        scales=args.scales, photo_weight=args.photo_weight, lbfgs_history=args.lbfgs_history,
        tile=args.tile, tile_overlap=args.tile_overlap, checkpointing=args.checkpointing,
    )
    if args.scales:
        changes["image_size"] = args.scales[-1]
    if args.content_weight is not None:
        changes["content_weight"] = args.content_weight
    if args.style_weight is not None:
        changes["style_weight"] = args.style_weight
    return base.replace(**changes)


@dataclass
class _Job:
    """What one command line run has checked and loaded before any work starts."""

    config: Config
    output: Path
    plot: Path | None
    history: Path | None
    content: Tensor
    styles: list[Tensor]
    init_image: Tensor | None
    masks: Tensor | None


def _history_json(result) -> str:
    """The run's settings, timing and per-step losses, as the JSON of ``--history``."""
    payload = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(result.config).items()},
        "evaluations": result.evaluations,
        "seconds": result.seconds,
        "best_step": result.best_step,
        "status": result.status,
        "history": result.history,
    }
    return json.dumps(payload, indent=1, default=str)


def _deliver(result, job: _Job) -> Delivery:
    """Write the image, then ``--history`` and ``--plot``, each atomically (rescued if its folder fails)."""
    saves: list[tuple[Path, Callable[[Path], object]]] = [(job.output, lambda p: save_image(result.image, p))]
    if job.history is not None:
        saves.append((job.history, lambda p: write_text(p, _history_json(result))))
    if job.plot is not None:
        saves.append((job.plot, lambda p: save_figure(plot_history(result.history, per_layer=True), p, dpi=120)))
    return deliver(saves)


def _load_mask(args: argparse.Namespace, content: Tensor, n_styles: int) -> Tensor | None:
    """``--mask`` as regions ``[R, H, W]`` at the content's size, with one style (or none) per region."""
    if not args.mask:
        if args.region_styles is not None:
            raise ConfigError("--region_styles needs --mask")
        return None
    try:
        masks, colors = load_mask(args.mask, tuple(content.shape[-2:]))
    except MaskError as exc:
        raise ConfigError(str(exc)) from None
    wanted = len(args.region_styles) if args.region_styles is not None else n_styles
    if len(colors) != wanted:
        found = ", ".join("#%02x%02x%02x" % tuple(c) for c in colors)
        what = "--region_styles entries" if args.region_styles is not None else "--style_path images"
        raise ConfigError(f"{args.mask} has {len(colors)} regions ({found}) but there are {wanted} {what}; "
                          "give one style per region, or --region_styles with one entry per region")
    return masks


def _prepare(args: argparse.Namespace) -> _Job:
    """Check every setting and path and load every input; raises :class:`NstlibError` on bad input."""
    inputs = [args.content_path, *args.style_path, *([args.mask] if args.mask else []),
              *([args.init_image] if args.init_image else [])]
    config = _config_from_args(args)
    if args.style_blend and len(args.style_blend) != len(args.style_path):
        raise ConfigError(f"--style_blend has {len(args.style_blend)} weights for "
                          f"{len(args.style_path)} --style_path images")
    device = resolve_device(config.device)
    output = check_output_path(args.output_path, inputs)
    plot = check_writable_path(args.plot, inputs, (".png", ".svg", ".pdf")) if args.plot else None
    history = check_writable_path(args.history, inputs, (".json",)) if args.history else None
    check_outputs({"--output_path": output, "--plot": plot, "--history": history})
    # --image_size is honoured however large (a tiled output); only sources without a size are capped
    size, style_size = config.image_size, max(16, round(config.style_scale * config.image_size))
    content = load_image(args.content_path, size, max_pixels=max_pixels_for(size))
    styles = [load_image(path, style_size, max_pixels=max_pixels_for(style_size)) for path in args.style_path]
    init_image = load_image(args.init_image, size, max_pixels=max_pixels_for(size)) if args.init_image else None
    masks = _load_mask(args, content, len(styles))
    # load the network now, so that bad weights fail before any work and step 1 follows at once
    get_extractor(tuple(dict.fromkeys((*config.content_layers, *config.style_layers))),
                  config.weights, config.pooling, str(device), config.seed)
    return _Job(config, output, plot, history, content, styles, init_image, masks)


def _step_logger(every: int) -> Callable[[StepInfo], None] | None:
    """A callback that prints the loss every ``every`` steps and at the last (None for 0: never)."""
    if not every:
        return None

    def log_step(info: StepInfo) -> None:
        if info.step % every == 0 or info.step == info.num_steps:
            print(f"step {info.step}/{info.num_steps}: loss {info.losses['total']:.4g} "
                  f"({info.seconds:.1f} s)", flush=True)

    return log_step


def _run(args: argparse.Namespace, prog: str) -> int:
    try:
        job = _prepare(args)
    except NstlibError as exc:
        return fail(prog, str(exc))
    config = job.config
    progress, log_every = reporting(args.quiet, args.log_every, config.num_steps)
    h, w = job.content.shape[-2:]
    print(f"stylizing {args.content_path} in the style of {', '.join(args.style_path)}: {w}×{h} px, "
          f"{config.num_steps} {config.optimizer} steps on {resolve_device(config.device)}", flush=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the non-finite case is reported below
            result = stylize(job.content, job.styles, config, _step_logger(log_every), progress=progress,
                             masks=job.masks, region_styles=args.region_styles, init_image=job.init_image)
    except StylizeInterrupted as stop:
        if not stop.result.evaluations:
            print(f"{prog}: interrupted before the first step; nothing saved", file=sys.stderr)
            return EXIT_INTERRUPTED
        return _finish(prog, stop.result, job)
    except NstlibError as exc:
        return fail(prog, str(exc))
    return _finish(prog, result, job)


def _finish(prog: str, result, job: _Job) -> int:
    """Save the outputs and report: exit 0, or 1 (non-finite or not written where asked), or 130."""
    done = _deliver(result, job)
    if done.problems:
        return fail(prog, "; ".join([m for m in [result.message] if m] + done.problems), EXIT_FAILED)
    if result.status == "nonfinite":
        return fail(prog, f"{result.message} Saved it to {job.output}", EXIT_NONFINITE)
    if result.status == "interrupted" or done.interrupted:
        what = result.message if result.status == "interrupted" else "interrupted while saving"
        print(f"{prog}: {what}; saved {job.output}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"saved {job.output} ({result.evaluations} steps in {result.seconds:.1f} s, "
          f"final loss {result.final_loss:.4g})")
    for extra in (job.plot, job.history):
        if extra is not None:
            print(f"saved {extra}")
    return EXIT_OK


def main(argv: Sequence[str], prog: str = "python -m nstlib") -> int:
    """Parse ``argv`` (the flags of :func:`build_parser`) and stylise; returns the exit status."""
    try:
        args = build_parser(prog).parse_args(list(argv))
        return _run(args, prog)
    except KeyboardInterrupt:  # Ctrl-C before the optimisation started: nothing to lose
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
