"""The command line: ``python -m nstlib`` (and ``python train_pytorch.py``, the seed's entry point).

Exit status: 0 on success; 1 if the loss became NaN/inf (the best image so far is saved);
2 for bad arguments or input (one line naming the value or file at fault, nothing started);
130 on Ctrl-C (the best image so far is saved).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_NONFINITE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, but not the uninformative ``(default: None)`` / ``(default: False)``."""

    def _get_help_string(self, action: argparse.Action) -> str:  # type: ignore[override]
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action) or ""


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer >= 0")
    return value


def _positive_int(text: str) -> int:
    value = _nonnegative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _positive_float(text: str) -> float:
    value = _nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _layers(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _float_list(text: str) -> tuple[float, ...]:
    values = tuple(_nonnegative_float(part.strip()) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers")
    return values


def _size_list(text: str) -> tuple[int, ...]:
    values = tuple(_positive_int(part.strip()) for part in text.split(",") if part.strip())
    if not values or any(b <= a for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"{text!r} must be increasing sizes in pixels, e.g. 128,256,512")
    return values


def _region_styles(text: str) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if part == "none":
            out.append(None)
        elif part.isdigit():
            out.append(int(part))
        else:
            raise argparse.ArgumentTypeError(
                f"{text!r}: each entry is a style index (0 for the first --style_path) or none")
    return tuple(out)


def _style_scale(text: str) -> float:
    value = _positive_float(text)
    if not 0.05 <= value <= 8:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 0.05 to 8")
    return value


def build_parser(prog: str = "python -m nstlib") -> argparse.ArgumentParser:
    """The argument parser; every flag of the seed's ``train_pytorch.py`` and more."""
    from ..core.assets import default_content, default_style
    from ..gatys.transfer import INITS, OPTIMIZERS, PRESETS, Config

    d = Config()
    p = _Parser(
        prog=prog,
        description="Neural style transfer by optimisation (Gatys et al.): render a content photo "
        "in the style of another image.",
        epilog="Example: python -m nstlib --content_path nstlib/data/images/content/chelsea.png "
        "--style_path nstlib/data/images/style/mondrian.png --image_size 256 --num_steps 150 "
        "--output_path outputs/cat_mondrian.png --plot outputs/cat_mondrian_loss.png. "
        "Feed-forward models (one forward pass): python -m nstlib {train,fast,adain,wct,models} --help. "
        "Video, without flicker: python -m nstlib video --help. "
        "A folder of images, on one process or many: python -m nstlib batch --help. "
        "The texture of a 3D mesh: python -m nstlib mesh --help",
        formatter_class=_HelpFormatter,
    )

    io = p.add_argument_group("images")
    p_add = io.add_argument
    p_add("--content_path", "--content-path", default=str(default_content()),
          help="content photo: a file path or an http(s) URL")
    p_add("--style_path", "--style-path", nargs="+", default=[str(default_style())], metavar="STYLE",
          help="style image: a file path or an http(s) URL; several are blended (--style_blend) "
               "or given to mask regions (--mask)")
    p_add("--output_path", "--output-path", default="outputs/stylized.png",
          help="where to write the result (PNG/JPEG by extension); never one of the inputs")
    p_add("--image_size", "--image-size", type=_positive_int, default=d.image_size,
          help="longer side of the output, in pixels")

    w = p.add_argument_group("loss weights")
    w.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="the seed's tuning presets: high_style (beta 1e7), balanced (alpha 1, beta 1e6), "
                   "high_content (alpha 10, beta 1e5); explicit weights override it")
    w.add_argument("--content_weight", "--content-weight", type=_nonnegative_float, default=None,
                   help=f"alpha, weight of the content loss (default {d.content_weight:g})")
    w.add_argument("--style_weight", "--style-weight", type=_nonnegative_float, default=None,
                   help=f"beta, weight of the style loss (default {d.style_weight:g})")
    w.add_argument("--tv_weight", "--tv-weight", type=_nonnegative_float, default=d.tv_weight,
                   help="gamma, weight of the total-variation loss (raise it if the output is noisy)")
    w.add_argument("--content_layers", "--content-layers", type=_layers, default=d.content_layers,
                   help="comma-separated VGG19 layers for the content loss")
    w.add_argument("--style_layers", "--style-layers", type=_layers, default=d.style_layers,
                   help="comma-separated VGG19 layers for the style loss")

    o = p.add_argument_group("optimisation")
    o.add_argument("--num_steps", "--num-steps", type=_positive_int, default=d.num_steps,
                   help="loss evaluations (forward + backward passes) to spend")
    o.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                   help="L-BFGS (Gatys et al.) or Adam")
    o.add_argument("--learning_rate", "--learning-rate", type=_positive_float, default=d.learning_rate,
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
    o.add_argument("--lbfgs_history", "--lbfgs-history", type=_positive_int, default=d.lbfgs_history,
                   help="L-BFGS memory (pairs of image-sized vectors); lower it for large images")
    o.add_argument("--seed", type=int, default=d.seed, help="random seed (noise init); CPU runs are reproducible")

    a = p.add_argument_group("advanced controls")
    a.add_argument("--style_blend", "--style-blend", type=_float_list, default=None, metavar="W1,W2,...",
                   help="weights of several style images, e.g. 0.7,0.3 (default: equal)")
    a.add_argument("--style_scale", "--style-scale", type=_style_scale, default=d.style_scale,
                   help="style image size relative to the output: below 1 gives finer brush strokes")
    a.add_argument("--preserve_color", "--preserve-color", choices=("luminance", "histogram"), default=None,
                   help="keep the content's colours: stylise the luminance only, or match the style's "
                        "colour histogram to the content first")
    a.add_argument("--scales", type=_size_list, default=None, metavar="S1,S2,...",
                   help="coarse to fine, e.g. 128,256,512 (the last is the output size; the steps are "
                        "split equally between the scales)")
    a.add_argument("--photo_weight", "--photo-weight", type=_nonnegative_float, default=d.photo_weight,
                   help="weight of the photorealism (matting Laplacian) term; it grows with the image size: "
                        "about 10 at 256 px, less at larger sizes")
    a.add_argument("--mask", default=None, metavar="PNG",
                   help="content regions, one flat colour each: region r takes style r (see --region_styles)")
    a.add_argument("--region_styles", "--region-styles", type=_region_styles, default=None, metavar="I,...",
                   help="with --mask, the style index for each region in the order of the mask's colours "
                        "(sorted as hex RGB), or none to leave a region unstylised, e.g. 0,1,none")

    big = p.add_argument_group("large outputs")
    big.add_argument("--tile", type=_positive_int, default=None, metavar="N",
                     help="optimise outputs larger than N px in overlapping N-px tiles with global style "
                          "statistics: device memory of one tile, whatever the output size (e.g. 512)")
    big.add_argument("--tile_overlap", "--tile-overlap", type=_nonnegative_int, default=d.tile_overlap,
                     metavar="N", help="pixels neighbouring tiles share (at most half the tile)")
    big.add_argument("--checkpointing", action="store_true",
                     help="recompute VGG activations in the backward pass instead of keeping them "
                          "(less memory per pixel, about a third more time)")

    r = p.add_argument_group("reporting")
    r.add_argument("--plot", default=None, metavar="PNG", help="save the loss curves as a PNG plot")
    r.add_argument("--history", default=None, metavar="JSON", help="save the per-step loss history as JSON")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no step log")
    r.add_argument("--log_every", "--log-every", type=_nonnegative_int, default=None, metavar="N",
                   help="print the loss every N steps to stdout (0: never; default: every tenth of "
                        "the run when stderr is not a terminal, as in Colab's ! cells or a log file)")
    return p


def _reporting(quiet: bool, log_every: int | None, total: int) -> tuple[bool, int]:
    """(show a progress bar?, print a log line every N steps (0: never)) for a run of ``total`` steps.

    A terminal gets the bar; without one (Colab's ``!`` cells, a log file) a line every tenth.
    """
    progress = not quiet and sys.stderr.isatty()
    if quiet:
        return False, 0
    if log_every is None:
        log_every = 0 if progress else max(1, total // 10)
    return progress, log_every


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--seed`` and ``-q/--quiet``, as every subcommand (video, mesh) has them."""
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_subcommand(name: str, build: Callable[[str], argparse.ArgumentParser],
                   run: Callable[[argparse.Namespace, str], int], argv: Sequence[str], prog: str) -> int:
    """Parse ``argv`` with ``build(prog)`` and ``run`` it; Ctrl-C before ``run`` handles it exits 130."""
    try:
        args = build(prog).parse_args(list(argv))
        return run(args, prog)
    except KeyboardInterrupt:
        print(f"{prog} {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(prog: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def _config_from_args(args: argparse.Namespace):
    from ..gatys.transfer import Config

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


def _save_reports(result, plot: Path | None, history: Path | None) -> None:
    if history is not None:
        history.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(result.config).items()},
            "evaluations": result.evaluations,
            "seconds": result.seconds,
            "best_step": result.best_step,
            "status": result.status,
            "history": result.history,
        }
        history.write_text(json.dumps(payload, indent=1, default=str))
    if plot is not None:
        from ..course.notebook import plot_history

        plot.parent.mkdir(parents=True, exist_ok=True)
        fig = plot_history(result.history, per_layer=True)
        fig.savefig(plot, dpi=120)


def main(argv: Sequence[str] | None = None, prog: str = "python -m nstlib") -> int:
    """Run the command line; returns the exit status (see the module docstring).

    ``train``, ``fast``, ``adain``, ``wct`` and ``models`` as the first argument run the
    feed-forward subcommands (:mod:`nstlib.cli.feedforward`), ``video`` the video one
    (:mod:`nstlib.cli.video`), ``mesh`` the 3D one (:mod:`nstlib.cli.mesh`), ``batch`` a folder of
    images (:mod:`nstlib.cli.batch`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("train", "fast", "adain", "wct", "models"):
        from .feedforward import main as subcommand

        return subcommand(argv, prog)
    if argv and argv[0] == "video":
        from .video import main as video_command

        return video_command(argv[1:], prog)
    if argv and argv[0] == "mesh":
        from .mesh import main as mesh_command

        return mesh_command(argv[1:], prog)
    if argv and argv[0] == "batch":
        from .batch import main as batch_command

        return batch_command(argv[1:], prog)
    try:
        args = build_parser(prog).parse_args(argv)
        return _run(args, prog)
    except KeyboardInterrupt:  # Ctrl-C before the optimisation started: nothing to lose
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace, prog: str) -> int:
    from ..core.features import FeatureError
    from ..core.images import ImageError, check_output_path, check_writable_path, load_image, max_pixels_for, save_image
    from ..gatys.transfer import ConfigError, StylizeInterrupted, get_extractor, resolve_device, stylize

    inputs = [args.content_path, *args.style_path, *([args.mask] if args.mask else []),
              *([args.init_image] if args.init_image else [])]
    try:
        config = _config_from_args(args)
        if args.style_blend and len(args.style_blend) != len(args.style_path):
            raise ConfigError(f"--style_blend has {len(args.style_blend)} weights for "
                              f"{len(args.style_path)} --style_path images")
        resolve_device(config.device)
        output = check_output_path(args.output_path, inputs)
        plot = args.plot and check_writable_path(args.plot, inputs, (".png", ".svg", ".pdf"))
        history = args.history and check_writable_path(args.history, inputs, (".json",))
        # --image_size is honoured however large (a tiled output); only sources without a size are capped
        content = load_image(args.content_path, config.image_size, max_pixels=max_pixels_for(config.image_size))
        style_size = max(16, round(config.style_scale * config.image_size))
        styles = [load_image(path, style_size, max_pixels=max_pixels_for(style_size)) for path in args.style_path]
        init_image = (load_image(args.init_image, config.image_size, max_pixels=max_pixels_for(config.image_size))
                      if args.init_image else None)
        masks = None
        if args.mask:
            from ..controls.masks import MaskError, load_mask

            try:
                masks, colors = load_mask(args.mask, tuple(content.shape[-2:]))
            except MaskError as exc:
                raise ConfigError(str(exc)) from None
            wanted = len(args.region_styles) if args.region_styles is not None else len(styles)
            if len(colors) != wanted:
                found = ", ".join("#%02x%02x%02x" % tuple(c) for c in colors)
                what = "--region_styles entries" if args.region_styles is not None else "--style_path images"
                raise ConfigError(f"{args.mask} has {len(colors)} regions ({found}) but there are {wanted} {what}; "
                                  "give one style per region, or --region_styles with one entry per region")
        elif args.region_styles is not None:
            raise ConfigError("--region_styles needs --mask")
        # load the network now, so that bad weights fail before any work and step 1 follows at once
        get_extractor(tuple(dict.fromkeys((*config.content_layers, *config.style_layers))),
                      config.weights, config.pooling, str(resolve_device(config.device)), config.seed)
    except (ConfigError, ImageError, FeatureError) as exc:
        return _fail(prog, str(exc))

    progress, log_every = _reporting(args.quiet, args.log_every, config.num_steps)

    def log_step(info) -> None:
        if info.step % log_every == 0 or info.step == info.num_steps:
            print(f"step {info.step}/{info.num_steps}: loss {info.losses['total']:.4g} "
                  f"({info.seconds:.1f} s)", flush=True)

    h, w = content.shape[-2:]
    print(
        f"stylizing {args.content_path} in the style of {', '.join(args.style_path)}: {w}×{h} px, "
        f"{config.num_steps} {config.optimizer} steps on {resolve_device(config.device)}",
        flush=True,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the non-finite case is reported below
            result = stylize(content, styles, config, log_step if log_every else None, progress=progress,
                             masks=masks, region_styles=args.region_styles, init_image=init_image)
    except StylizeInterrupted as stop:
        result = stop.result
        if result.evaluations:
            save_image(result.image, output)
            _save_reports(result, plot, history)
            print(f"{prog}: {result.message}; saved {output}", file=sys.stderr)
        else:
            print(f"{prog}: interrupted before the first step; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfigError, FeatureError) as exc:
        return _fail(prog, str(exc))

    save_image(result.image, output)
    _save_reports(result, plot, history)
    if result.status == "nonfinite":
        return _fail(prog, f"{result.message} Saved it to {output}", EXIT_NONFINITE)
    print(
        f"saved {output} ({result.evaluations} steps in {result.seconds:.1f} s, "
        f"final loss {result.final_loss:.4g})"
    )
    for extra in (plot, history):
        if extra is not None:
            print(f"saved {extra}")
    return EXIT_OK
