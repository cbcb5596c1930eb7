"""``python -m nstlib mesh``: stylise the texture of a 3D mesh, consistent from every view.

    python -m nstlib mesh --mesh torus --style_path style.png --output outputs/torus.glb
    python -m nstlib mesh --mesh my_model.obj --texture_size 512 --views 4 --num_steps 300 --output out.glb

Writes the textured mesh twice, as a GLB and as an OBJ with its MTL and PNG (same name, other
suffixes), and a turntable GIF. ``--mesh`` takes a name (torus, trefoil, vase, teapot) or an OBJ,
GLB, PLY or STL file; a file without UVs is unwrapped with xatlas. Exit status: 0 done,
1 the loss became non-finite (the last good texture is saved), 2 bad input (one line naming
it), 130 interrupted (the texture so far is saved).
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
from ..feedforward.models import load_model
from ..mesh.meshes import load_mesh, save_textured
from ..mesh.texture import (
    TextureConfig,
    TextureResult,
    adain_backproject,
    stylize_texture,
    training_cameras,
    turntable,
)
from ..video.io import write_gif
from .args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NONFINITE,
    EXIT_OK,
    HelpFormatter,
    Parser,
    add_run_options,
    check_outputs,
    deliver,
    fail,
    nonnegative_float,
    positive_int,
    reporting,
    run_subcommand,
)

__all__ = ["build_parser", "main"]


def _range(text: str) -> tuple[float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) == 1:
        values = (values[0], values[0])
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a range MIN,MAX")
    return values  # type: ignore[return-value]


def build_parser(prog: str = "python -m nstlib") -> argparse.ArgumentParser:
    d = TextureConfig()
    p = Parser(prog=f"{prog} mesh", formatter_class=HelpFormatter,
                description="Stylise the texture of a 3D mesh through a differentiable renderer: every "
                            "view of the result carries the style, and the views agree.")
    p.add_argument("--mesh", default="torus",
                   help="torus, trefoil, vase, teapot, or an .obj/.glb/.ply/.stl file (unwrapped with xatlas if it has no UVs)")
    p.add_argument("--style_path", "--style-path", default=str(default_style()), help="style image")
    p.add_argument("--output", "--output_path", "--output-path", default="outputs/mesh.glb",
                   help="the textured mesh (.glb or .obj); the other format, the PNG texture and a "
                        "turntable GIF are written beside it")
    p.add_argument("--method", choices=("gatys", "adain"), default="gatys",
                   help="gatys: optimise the texture through random views (consistent); adain: the shipped "
                        "AdaIN network on 8 views around the mesh, averaged back into the texture (fast, blurrier)")
    p.add_argument("--texture_size", "--texture-size", type=positive_int, default=d.texture_size, help="texture side, texels")
    p.add_argument("--render_size", "--render-size", type=positive_int, default=d.render_size, help="side of the views, px")
    p.add_argument("--views", type=positive_int, default=d.views, help="random views per step")
    p.add_argument("--num_steps", "--num-steps", type=positive_int, default=d.num_steps, help="Adam steps")
    p.add_argument("--learning_rate", "--learning-rate", type=nonnegative_float, default=d.learning_rate)
    p.add_argument("--style_weight", "--style-weight", type=nonnegative_float, default=d.style_weight)
    p.add_argument("--content_weight", "--content-weight", type=nonnegative_float, default=d.content_weight,
                   help="keep the views close to the starting texture's (its shading, for a plain one)")
    p.add_argument("--tv_weight", "--tv-weight", type=nonnegative_float, default=d.tv_weight)
    p.add_argument("--style_scale", "--style-scale", type=nonnegative_float, default=d.style_scale,
                   help="style image size relative to the views: smaller gives finer strokes")
    p.add_argument("--elevation", type=_range, default=d.elevation, metavar="MIN,MAX",
                   help="range of camera elevations, degrees")
    p.add_argument("--distance", type=_range, default=d.distance, metavar="MIN,MAX",
                   help="range of camera distances (the mesh fits in the unit sphere)")
    p.add_argument("--unlit", action="store_true", help="optimise unlit views (the albedo) instead of random lights")
    p.add_argument("--frames", type=positive_int, default=36, help="frames of the turntable GIF")
    p.add_argument("--weights", default="caffe", help="VGG19 weights: caffe, torchvision, random or a .pth file")
    add_run_options(p)
    return p


def main(argv: Sequence[str], prog: str = "python -m nstlib") -> int:
    """``argv`` without the leading ``mesh``; returns the exit status."""
    return run_subcommand("mesh", build_parser, _run, argv, prog)


def outputs_for(output: str | Path) -> dict[str, Path]:
    """Every file the command writes for ``--output``: glb, obj, mtl, png and gif, by suffix."""
    out = Path(output)
    return {s: out.with_suffix(f".{s}") for s in ("glb", "obj", "mtl", "png", "gif")}


def _run(args: argparse.Namespace, prog: str) -> int:
    name = f"{prog} mesh"
    inputs = [args.mesh, args.style_path, args.weights]
    progress, _ = reporting(args.quiet, 0, 1)
    try:
        device = resolve_device(args.device)
        check_writable_path(args.output, inputs, (".glb", ".obj"))
        files = outputs_for(args.output)
        for path in files.values():
            check_writable_path(path, inputs)
        check_outputs({f".{suffix} output": path for suffix, path in files.items()})
        config = TextureConfig(texture_size=args.texture_size, render_size=args.render_size, views=args.views,
                               num_steps=args.num_steps, learning_rate=args.learning_rate,
                               style_weight=args.style_weight, content_weight=args.content_weight,
                               tv_weight=args.tv_weight, style_scale=args.style_scale, lit=not args.unlit,
                               elevation=args.elevation, distance=args.distance,
                               weights=args.weights, seed=args.seed, device=str(device))
        mesh = load_mesh(args.mesh, texture_size=args.texture_size)
        style = load_image(args.style_path, args.render_size)
        print(f"{mesh.name}: {mesh.vertices.shape[0]} vertices, {mesh.faces.shape[0]} faces; "
              f"{args.num_steps} steps of {args.views} views at {args.render_size} px on {device}", flush=True)
        if args.method == "adain":
            result = _adain(mesh, style, config)
        else:
            result = stylize_texture(mesh, style, config, progress=progress)
    except NstlibError as exc:
        return fail(name, str(exc))
    done = deliver([
        (files["glb"], lambda p: save_textured(mesh, result.texture, p)),
        (files["obj"], lambda p: save_textured(mesh, result.texture, p)),  # also writes the .mtl and the .png
        (files["gif"], lambda p: write_gif(turntable(mesh, result.texture, frames=args.frames, size=256), p, fps=12)),
    ])
    if done.problems:
        return fail(name, "; ".join(done.problems), EXIT_FAILED)
    written = ", ".join(str(files[s]) for s in ("glb", "obj", "mtl", "png", "gif"))
    if result.status == "interrupted" or done.interrupted:
        print(f"{name}: interrupted after {len(result.history.get('total', []))} steps; saved the texture so far: "
              f"{written}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "nonfinite":
        return fail(name, f"the loss became non-finite; saved the last good texture: {written} "
                           "(lower --learning_rate)", EXIT_NONFINITE)
    steps = len(result.history.get("total", []))
    detail = (f"{steps} steps in {result.seconds:.0f} s, {result.seconds / max(steps, 1):.2f} s per step; "
              f"style loss {result.history['style'][0]:.3g} -> {result.history['style'][-1]:.3g}" if steps
              else f"AdaIN on 8 views in {result.seconds:.1f} s")
    print(f"saved {written} ({detail}; {result.coverage:.0%} of the texels seen)")
    return EXIT_OK


def _adain(mesh, style, config):
    """The fast baseline as a :class:`~nstlib.mesh.texture.TextureResult`: AdaIN on 8 views, back-projected."""
    import time


    t0 = time.perf_counter()
    model = load_model("adain", device=config.device)
    texture, _, seen = adain_backproject(mesh, training_cameras(8), style, model, texture_size=config.texture_size,
                                         size=config.render_size)
    return TextureResult(texture=texture, history={}, seen=seen, seconds=time.perf_counter() - t0)
