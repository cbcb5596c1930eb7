"""The feed-forward subcommands of ``python -m nstlib``: train the models, and stylise with them.

    python -m nstlib train fast  --style_path STYLE [STYLE ...] [--data FOLDER] --checkpoint PT
    python -m nstlib train fast  --init_model NAME|PT --temporal_weight W --checkpoint PT   (stable video)
    python -m nstlib train adain [--data FOLDER] [--style_data FOLDER] --checkpoint PT
    python -m nstlib train wct   [--data FOLDER] [--levels relu1_1,relu2_1,relu3_1] --checkpoint PT
    python -m nstlib fast  --model NAME|PT --content_path IMG --output_path OUT [--style I | --style_mix W,...]
    python -m nstlib adain --model NAME|PT --content_path IMG --style_path STYLE [...] [--alpha A]
    python -m nstlib wct   --model NAME|PT --content_path IMG --style_path STYLE [--alpha A]
    python -m nstlib models

Exit status as for the optimisation (see :mod:`nstlib.cli.args`): 0 success; 1 the training loss
became NaN/inf (the last checkpoint is kept), or under torchrun another process died (rank 0
saves the last finished step), or a model's output was not finite (nothing is written); 2 bad
arguments or input, one line naming the value or file (a ``--resume`` with other settings than
the checkpoint's, or fewer ``--iterations`` than it has done, too); 130 Ctrl-C (training writes its
checkpoint first; ``--resume`` continues). ``models`` lists a file it cannot read as unreadable, and
exits 0.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.assets import IMAGE_SUFFIXES, content_dir, default_content, default_style, images_dir, style_dir
from ..core.devices import resolve_device
from ..core.errors import ConfigError, NstlibError
from ..core.images import check_output_path, check_writable_path, load_image, save_image
from ..feedforward.adain import LEVELS, AdaINTask
from ..feedforward.fast import JOHNSON_CONTENT_LAYERS, JOHNSON_STYLE_LAYERS, FastTask, load_style_images
from ..feedforward.models import NonFiniteOutput, check_output, export_model, load_model, model_info, pretrained_models
from ..feedforward.training import CropDataset, TrainConfig, TrainError, plot_training, resumable_state, train
from ..feedforward.wct import WCTTask
from ..scale import distributed
from ..scale.distributed import batch_rows, world_size
from ..video.stable import StableFastTask
from .args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NONFINITE,
    EXIT_OK,
    EXIT_USAGE,
    HelpFormatter,
    Parser,
    check_outputs,
    deliver,
    fail,
    float_list,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    reporting,
)

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS = ("train", "fast", "adain", "wct", "models")
_DEFAULTS = {  # per model kind: what a CPU run of a few minutes can train (see README for a GPU)
    "fast": dict(crop=256, width=32, style_weight=2e4, learning_rate=1e-3, finetune_learning_rate=1e-4),
    "adain": dict(crop=256, width=1.0, style_weight=10.0, learning_rate=1e-4),
    "wct": dict(crop=256, width=1.0, style_weight=0.0, learning_rate=1e-4),
}


def _levels(text: str) -> tuple[str, ...]:
    levels = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [lv for lv in levels if lv not in LEVELS]
    if not levels or bad:
        raise argparse.ArgumentTypeError(f"{text!r}: levels are a comma-separated list of {', '.join(LEVELS)}")
    return levels


def _alpha(text: str) -> float:
    value = nonnegative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 0 (content) to 1 (full style)")
    return value


def _train_parser(prog: str) -> argparse.ArgumentParser:
    p = Parser(prog=f"{prog} train", description="Train a feed-forward model on a folder of images.",
                formatter_class=HelpFormatter)
    p.add_argument("kind", choices=("fast", "adain", "wct"),
                   help="fast: Johnson et al.'s network for the given style(s) (several styles: Dumoulin et "
                        "al.'s multi-style network); adain: the AdaIN decoder; wct: WCT's decoders")
    p.add_argument("--data", default=str(content_dir()),
                   help="folder of training photos (random crops and flips); COCO on a GPU, see the README")
    p.add_argument("--style_path", "--style-path", nargs="+", default=None, metavar="STYLE",
                   help="fast: the style image(s) the network learns (default: the --init_model's, found by "
                        "name among the shipped style images, else the course's default style)")
    p.add_argument("--style_data", "--style-data", default=str(style_dir()),
                   help="adain: folder of style images (WikiArt on a GPU)")
    p.add_argument("--levels", type=_levels, default=("relu1_1", "relu2_1", "relu3_1"),
                   help="wct: the VGG levels whose decoders are trained (default: relu1_1,relu2_1,relu3_1)")
    p.add_argument("--checkpoint", required=True, metavar="PT", help="checkpoint file, written every "
                   "--checkpoint_every steps, at the end and on Ctrl-C")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--export", default=None, metavar="PT",
                   help="also write a small copy for sharing (float16, no optimiser state)")
    p.add_argument("--plot", default=None, metavar="PNG", help="save the loss curves")
    p.add_argument("--iterations", type=positive_int, default=2000, help="optimiser steps in total")
    p.add_argument("--batch_size", "--batch-size", type=positive_int, default=4, help="crops per step")
    p.add_argument("--crop", type=positive_int, default=None,
                   help="side of the training crops, px (default: 256, or the --init_model's)")
    p.add_argument("--learning_rate", "--learning-rate", type=positive_float, default=None,
                   help="Adam's step size (default: 1e-3 for fast, 1e-4 for the decoders and a fine-tune "
                        "from --init_model)")
    p.add_argument("--width", type=positive_float, default=None,
                   help="network width: fast, channels of the first layer (Johnson: 32); "
                        "decoders, a factor on VGG's channel counts (default: 32 and 1.0)")
    p.add_argument("--content_weight", "--content-weight", type=nonnegative_float, default=None,
                   help="weight of the content loss (default: 1)")
    p.add_argument("--style_weight", "--style-weight", type=nonnegative_float, default=None,
                   help="weight of the style loss (default: 2e4 for fast, 10 for adain)")
    p.add_argument("--tv_weight", "--tv-weight", type=nonnegative_float, default=None,
                   help="fast only (default: 1e-6)")
    p.add_argument("--init_model", "--init-model", default=None, metavar="NAME|PT",
                   help="fast: start from this fast model's weights (a shipped name or a checkpoint); its crop, "
                        "loss weights, layers and VGG weights become the defaults, so the look is kept")
    p.add_argument("--temporal_weight", "--temporal-weight", type=nonnegative_float, default=None, metavar="W",
                   help="fast: train a stable video network, with a temporal loss on simulated motion of the "
                        "crops (nstlib.video.stable; try 2000 with --init_model); the result is a fast model")
    p.add_argument("--checkpoint_every", "--checkpoint-every", type=nonnegative_int, default=200,
                   help="steps between checkpoints (0: only at the end and on Ctrl-C)")
    p.add_argument("--weights", default=None, help="the VGG19 of the loss and the encoders: caffe (bundled, the "
                   "default), torchvision, random (tests), or a .pth path; a decoder only works with the encoder "
                   "it was trained against")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps; "
                   "under torchrun, cuda is each process's own GPU")
    p.add_argument("--num_workers", "--num-workers", type=nonnegative_int, default=0,
                   help="processes that decode and crop the coming batches while the model trains (a few per GPU "
                        "for COCO; the batches are the same as with 0)")
    p.add_argument("--seed", type=int, default=0, help="seeds the initial weights, the batches and the crops")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no step log")
    p.add_argument("--log_every", "--log-every", type=nonnegative_int, default=None, metavar="N",
                   help="print the loss every N steps (default: every tenth of the run when stderr is not "
                        "a terminal)")
    return p


def _inference_parser(kind: str, prog: str) -> argparse.ArgumentParser:
    what = {"fast": "Stylise with a trained fast network (one forward pass).",
            "adain": "Arbitrary style transfer with AdaIN (any style image, one forward pass).",
            "wct": "Universal style transfer with the whitening and colouring transform (any style image)."}
    p = Parser(prog=f"{prog} {kind}", description=what[kind],
                formatter_class=HelpFormatter)
    p.add_argument("--model", required=True, help="a shipped model's name (see `models`) or a checkpoint path")
    p.add_argument("--content_path", "--content-path", default=str(default_content()),
                   help="content photo: a file path or an http(s) URL")
    p.add_argument("--output_path", "--output-path", default=f"outputs/{kind}.png",
                   help="where to write the result (PNG/JPEG by extension); never one of the inputs")
    p.add_argument("--image_size", "--image-size", type=positive_int, default=512,
                   help="longer side of the output, px")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    if kind == "fast":
        p.add_argument("--style", type=nonnegative_int, default=None, help="style index of a multi-style network")
        p.add_argument("--style_mix", "--style-mix", type=float_list, default=None, metavar="W1,W2,...",
                       help="mix the styles of a multi-style network, one weight per style")
    else:
        p.add_argument("--style_path", "--style-path", nargs="+", default=[str(default_style())], metavar="STYLE",
                       help="any style image (several: interpolated with --style_blend)")
        p.add_argument("--alpha", type=_alpha, default=1.0, help="0 keeps the content, 1 is the full style")
        p.add_argument("--preserve_color", "--preserve-color", action="store_true",
                       help="match the style's colours to the content's first")
        if kind == "adain":
            p.add_argument("--style_blend", "--style-blend", type=float_list, default=None, metavar="W1,W2,...",
                           help="interpolate between several styles")
        else:
            p.add_argument("--levels", type=_levels, default=None, help="the levels to use, deepest first "
                           "(default: every level the model has)")
    return p


def main(argv: Sequence[str], prog: str = "python -m nstlib") -> int:
    """Run one subcommand (``argv[0]`` is its name); returns the exit status."""
    command, rest = argv[0], list(argv[1:])
    try:
        if command == "models":
            return _list_models()
        if command == "train":
            args = _train_parser(prog).parse_args(rest)
            return _train(args, prog, argv)
        args = _inference_parser(command, prog).parse_args(rest)
        return _stylize(command, args, prog)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _list_models() -> int:
    shipped = pretrained_models()
    if not shipped:
        print("no models ship with this installation")
    for name in shipped:
        try:
            info = model_info(name)
        except TrainError as exc:  # one bad file in the folder does not hide the others
            print(f"{name}: unreadable: {exc}")
            continue
        styles = ", ".join(info["meta"].get("styles", [])) or "any style"
        print(f"{name}: {info['kind']}, {styles}; {info['step']} steps, {info['megabytes']:.1f} MB")
        for command in info["commands"]:
            print(f"    trained by: {command}")
    return EXIT_OK


def _init_model(args: argparse.Namespace):
    """The ``--init_model`` network with its meta, or None; a clear error for a bad one."""
    if args.init_model is None:
        return None

    try:
        net = load_model(args.init_model, "cpu", kind="fast")
    except TrainError as exc:
        raise TrainError(f"--init_model: {exc}") from None
    if args.width is not None and args.width != net.width:
        raise ConfigError(f"--width {args.width:g} differs from the --init_model {args.init_model}'s width "
                         f"{net.width}; leave --width out to keep it")
    return net


def _init_styles(args: argparse.Namespace, meta: dict) -> list[str]:
    """The style images of a fine-tune: ``--style_path``, else the init model's styles by name."""
    if args.style_path:
        return list(args.style_path)
    names = list(meta.get("styles") or [])
    paths = [style_dir() / n for n in names]
    missing = [n for n, p in zip(names, paths) if not p.is_file()]
    if not names or missing:
        raise ConfigError(f"the --init_model {args.init_model} was trained on "
                         f"{', '.join(names) or 'unrecorded styles'}, not found in {images_dir() / 'style'}; "
                         "give them with --style_path")
    return [str(p) for p in paths]


def _task(args: argparse.Namespace, crop: int, init=None):
    d = _DEFAULTS[args.kind]
    meta = dict(getattr(init, "meta", {}) or {})
    data = CropDataset(args.data, crop=crop, seed=args.seed)

    def pick(name: str, default):  # the command line, else the init model's meta, else the default
        value = getattr(args, name, None)
        return value if value is not None else meta.get(name, default)

    style_weight = pick("style_weight", d["style_weight"])
    content_weight = pick("content_weight", 1.0)
    width = d["width"] if args.width is None else args.width
    common = dict(batch_size=args.batch_size, device=args.device, seed=args.seed, weights=pick("weights", "caffe"))
    if args.kind == "fast":
        paths = _init_styles(args, meta) if init is not None else (args.style_path or [str(default_style())])
        if int(width) != width:
            raise ConfigError(f"--width {width:g}: the fast network's width is a whole number of channels")
        styles = load_style_images(paths, crop)
        if init is not None and init.n_styles != len(styles):
            raise ConfigError(f"the --init_model {args.init_model} has {init.n_styles} style(s) but {len(styles)} "
                             "style image(s) were given")
        options = dict(width=int(width), content_weight=content_weight, style_weight=style_weight,
                       tv_weight=pick("tv_weight", 1e-6), net=init,
                       content_layers=meta.get("content_layers", JOHNSON_CONTENT_LAYERS),
                       style_layers=meta.get("style_layers", JOHNSON_STYLE_LAYERS), **common)
        names = [Path(p).name for p in paths]
        if args.temporal_weight is None:
            return FastTask(data, styles, names, **options)

        return StableFastTask(data, styles, names, temporal_weight=args.temporal_weight,
                              init_model=args.init_model, **options)
    if args.kind == "adain":
        styles = CropDataset(args.style_data, crop=crop, seed=args.seed + 1)
        return AdaINTask(data, styles, width=width, content_weight=content_weight,
                         style_weight=style_weight, **common)

    return WCTTask(data, args.levels, width=width, **common)


def _train_inputs(args: argparse.Namespace) -> list[str]:
    """Every file ``train`` reads: the style images, ``--init_model`` and the images of the data folders."""
    files = [*(args.style_path or []), *([args.init_model] if args.init_model else [])]
    for folder in (args.data, getattr(args, "style_data", None)):
        if folder and Path(folder).is_dir():
            files += [str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    return files


def _train(args: argparse.Namespace, prog: str, argv: Sequence[str]) -> int:
    """``train``, on one process or under torchrun (see :mod:`nstlib.scale.distributed`)."""
    distributed.init(args.device)
    try:
        return _train_here(args, prog, argv, distributed.is_main())
    finally:
        distributed.cleanup()


def _train_here(args: argparse.Namespace, prog: str, argv: Sequence[str], main: bool) -> int:
    """The training command on this process; only the ``main`` one (rank 0) prints and writes files."""
    d = _DEFAULTS[args.kind]
    try:
        resolve_device(args.device)
        if args.kind != "fast" and (args.init_model is not None or args.temporal_weight is not None):
            raise ConfigError(f"--init_model and --temporal_weight are for fast networks, not {args.kind}")
        init = _init_model(args)
        batch_rows(args.batch_size)  # under torchrun: the global batch must split evenly
        crop = args.crop or (init.meta.get("crop") if init is not None else None) or d["crop"]
        default_lr = d["learning_rate"] if init is None else d["finetune_learning_rate"]
        inputs = _train_inputs(args)
        checkpoint = check_writable_path(args.checkpoint, inputs, (".pt", ".pth"))
        export = check_writable_path(args.export, inputs, (".pt", ".pth")) if args.export else None
        plot = check_writable_path(args.plot, inputs, (".png", ".svg", ".pdf")) if args.plot else None
        check_outputs({"--checkpoint": checkpoint, "--export": export, "--plot": plot})
        if not args.resume and Path(args.checkpoint).exists():
            raise TrainError(f"checkpoint {args.checkpoint} exists: add --resume to continue it, "
                             "or give another path")
        config = TrainConfig(iterations=args.iterations, batch_size=args.batch_size,
                             learning_rate=args.learning_rate or default_lr,
                             checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device,
                             num_workers=args.num_workers, command=shlex.join([*prog.split(), *argv]))
        task = _task(args, crop, init)
        if init is not None:  # the fine-tuned model records how its starting weights were made
            task.prior_commands = list(getattr(init, "commands", None) or [])
        if args.resume:  # another setting, or fewer iterations than done, is refused before anything starts
            resumable_state(task, config, args.checkpoint)
    except NstlibError as exc:
        return fail(prog, str(exc)) if main else EXIT_USAGE

    progress, log_every = reporting(args.quiet, args.log_every, args.iterations)

    def log(step: int, values: dict) -> None:
        if step % log_every == 0 or step == args.iterations:
            parts = ", ".join(f"{k} {v:.4g}" for k, v in values.items() if k != "seconds")
            print(f"step {step}/{args.iterations}: {parts} ({values['seconds']:.2f} s/step)", flush=True)

    what = args.kind
    if args.temporal_weight is not None:
        what += f" (stable, temporal weight {args.temporal_weight:g})"
    start = f" from {args.init_model}" if args.init_model else ""

    where = f"{world_size()} processes" if world_size() > 1 else resolve_device(args.device)
    if main:
        print(f"training {what}{start} on {len(task.data)} images from {args.data}, {crop} px crops, "
              f"batch {args.batch_size}, {args.iterations} steps on {where}", flush=True)
    try:
        result = train(task, config, args.checkpoint, resume=args.resume, progress=progress,
                       callback=log if log_every else None)
    except TrainError as exc:
        return fail(prog, str(exc)) if main else EXIT_USAGE
    if not main:
        return {"nonfinite": EXIT_NONFINITE, "interrupted": EXIT_INTERRUPTED, "failed": EXIT_NONFINITE}.get(
            result.status, EXIT_OK)
    saves = []
    if args.plot and result.history:
        title = f"Training {args.kind} ({result.step} steps)"
        saves.append((Path(args.plot), lambda p: plot_training(result.history, title, p)))
    if args.export and result.status == "done":
        saves.append((Path(args.export), lambda p: export_model(args.checkpoint, p)))
    done = deliver(saves)
    if done.problems:
        return fail(prog, "; ".join(done.problems), EXIT_FAILED)
    if args.export and result.status == "done":
        print(f"saved {args.export}")
    if result.status == "nonfinite":
        return fail(prog, result.message, EXIT_NONFINITE)  # it says what the checkpoint holds, if anything
    if result.status in ("interrupted", "failed") or done.interrupted:
        message = result.message if result.status != "done" else "interrupted while saving"
        kept = (f"saved {args.checkpoint} (add --resume to continue)" if Path(args.checkpoint).is_file()
                else "no step had finished, nothing saved")
        print(f"{prog}: {message}; {kept}", file=sys.stderr)
        return EXIT_NONFINITE if result.status == "failed" else EXIT_INTERRUPTED
    print(f"saved {args.checkpoint} ({result.message}, {result.seconds:.1f} s)")
    return EXIT_OK


def _check_content_size(model, content, args: argparse.Namespace) -> None:
    """A content photo too small for the fast network (an extreme aspect ratio): an error naming it and its size."""
    height, width = content.shape[-2:]
    try:
        model.check_size(height, width)
    except ConfigError as exc:
        raise ConfigError(f"--content_path {args.content_path} at --image_size {args.image_size}: {exc}") from None


def _stylize(kind: str, args: argparse.Namespace, prog: str) -> int:
    styles_in = getattr(args, "style_path", [])
    try:
        device = resolve_device(args.device)
        output = check_output_path(args.output_path, [args.content_path, *styles_in, args.model])
        check_outputs({"--output_path": output})
        model = load_model(args.model, device, kind=kind)
        content = load_image(args.content_path, args.image_size).to(device)
        if kind == "fast":
            if args.style is not None and args.style_mix is not None:
                raise ConfigError("give --style or --style_mix, not both")
            style = args.style_mix if args.style_mix is not None else args.style
            _check_content_size(model, content, args)
            image = model.stylize(content, style)
        else:
            styles = [load_image(p, args.image_size).to(device) for p in styles_in]
            if kind == "adain":
                image = model.stylize(content, styles, alpha=args.alpha, style_weights=args.style_blend,
                                      preserve_color=args.preserve_color)
            else:
                if len(styles) != 1:
                    raise ConfigError(f"wct takes one --style_path, got {len(styles)}")
                image = model.stylize(content, styles[0], alpha=args.alpha, levels=args.levels,
                                      preserve_color=args.preserve_color)
        check_output(image, model)
    except NonFiniteOutput as exc:
        return fail(prog, f"{kind}: {exc}; nothing was written", EXIT_NONFINITE)
    except NstlibError as exc:
        return fail(prog, f"{kind}: {exc}")
    done = deliver([(output, lambda p: save_image(image, p))])
    if done.problems:
        return fail(prog, f"{kind}: " + "; ".join(done.problems), EXIT_FAILED)
    print(f"saved {output}")
    return EXIT_INTERRUPTED if done.interrupted else EXIT_OK
