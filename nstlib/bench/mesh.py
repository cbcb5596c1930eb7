"""3D style transfer measured side by side: consistency across views, style on unseen views, time.

    python -m nstlib.bench.mesh --meshes torus,teapot --json outputs/mesh_bench.json   (make bench-3d)

For each mesh, with the same style, training cameras and seeds:

- **texture**: :func:`nstlib.mesh.texture.stylize_texture` with random views at every step (its own
  way of working), or, with ``fixed_views``, views drawn from the training cameras only;
- **per-view Gatys**: :func:`nstlib.mesh.texture.per_view_gatys`, each training view stylised on its own;
- **AdaIN back-projection**: :func:`nstlib.mesh.texture.adain_backproject` (the fast baseline).

Consistency is StyleMesh's: views reprojected into each other through the mesh's depth maps, the
mean squared difference over pixels seen in both, for pairs 45° apart ("short") and 90° apart
("long"). The texture method is measured on unlit renders of its texture (what the texture
itself agrees on); the baselines on their stylised views. Style on unseen views is the masked
style loss of held-out cameras, lit by a fixed light, against the grey starting texture's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core.assets import default_style
from ..core.images import load_image
from ..feedforward.models import load_model
from ..mesh.meshes import load_mesh
from ..mesh.render import Camera, Mesh, render
from ..mesh.texture import (
    FIXED_LIGHT,
    TextureConfig,
    TextureResult,
    adain_backproject,
    consistency,
    held_out_cameras,
    per_view_gatys,
    style_loss_of_views,
    stylize_texture,
    training_cameras,
)

__all__ = ["MeshReport", "evaluate", "format_report", "main", "training_cameras"]


def _pairs(count: int, gap_degrees: float) -> list[tuple[int, int]]:
    step = round(gap_degrees / (360.0 / count))
    return [(k, (k + step) % count) for k in range(count)] if step >= 1 else []


@dataclass
class MethodScores:
    """One method's figures on one mesh (NaN where it does not apply)."""

    short: float
    long: float
    held_out_style: float = math.nan
    train_style: float = math.nan
    seconds: float = math.nan


@dataclass
class MeshReport:
    """:func:`evaluate`'s result: settings, the grey texture's style loss, and each method's scores."""

    mesh: str
    settings: dict[str, Any]
    grey_held_out_style: float
    methods: dict[str, MethodScores] = field(default_factory=dict)
    seconds_per_step: dict[str, float] = field(default_factory=dict)
    textures: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    views: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def ratio(self, method: str = "texture", baseline: str = "per-view Gatys", pair: str = "short") -> float:
        """The method's consistency error over the baseline's (below 1: more consistent)."""
        return getattr(self.methods[method], pair) / getattr(self.methods[baseline], pair)

    def to_json(self) -> dict[str, Any]:
        return {"mesh": self.mesh, "settings": self.settings, "grey_held_out_style": self.grey_held_out_style,
                "methods": {k: asdict(v) for k, v in self.methods.items()}, "seconds_per_step": self.seconds_per_step}


def _lit_style(mesh: Mesh, texture: torch.Tensor, cams: list[Camera], style: torch.Tensor, config: TextureConfig) -> float:
    with torch.no_grad():
        out = render(mesh, texture, cams, config.render_size, lights=FIXED_LIGHT, supersample=config.supersample)
    values = style_loss_of_views(out.image, out.mask, style, config)
    return sum(values) / len(values)


def evaluate(mesh: Mesh, style: torch.Tensor, config: TextureConfig | None = None, *, train_views: int = 8,
             held_out: int = 4, baseline_steps: int = 100, adain: bool = True, time_sizes: tuple[int, ...] = (),
             fixed_views: bool = False, result: TextureResult | None = None, progress: bool = True) -> MeshReport:
    """Run the three methods on ``mesh`` with ``style`` ``[1, 3, H, W]`` and measure them (see the module docstring).

    Args:
        config: the texture method's settings (its ``render_size`` is every method's view size).
        train_views: evenly spaced training cameras (8 gives 45° and 90° pairs).
        held_out: cameras between them, higher up, that no method trains on.
        baseline_steps: L-BFGS evaluations per view for the per-view baseline.
        adain: also run the AdaIN back-projection (needs the shipped ``adain`` model).
        time_sizes: view sizes at which to time a few texture steps (seconds per step).
        fixed_views: train the texture on the training cameras only (as the baselines see them),
            instead of new random cameras at every step. Measured on the torus (300 steps, 128 px):
            the held-out views' style loss was then 2.3× the training views' (README, 3D section).
        result: a texture already optimised for this mesh and style (notebook 18 reuses its own);
            its time is then the time it took.
    """
    config = config or TextureConfig()
    size = config.render_size
    cams = training_cameras(train_views)
    unseen = held_out_cameras(held_out, elevation=35.0, offset=180.0 / train_views)
    short, long_ = _pairs(train_views, 45.0), _pairs(train_views, 90.0)
    grey = torch.full((1, 3, 64, 64), 0.5)
    report = MeshReport(mesh=mesh.name, settings={**asdict(config), "train_views": train_views, "held_out": held_out,
                                                   "baseline_steps": baseline_steps, "fixed_views": fixed_views},
                        grey_held_out_style=_lit_style(mesh, grey, unseen, style, config))

    def scores(images: torch.Tensor) -> tuple[float, float]:
        return consistency(mesh, images, cams, short).mean, consistency(mesh, images, cams, long_).mean

    if result is None:
        result = stylize_texture(mesh, style, config, cameras=cams if fixed_views else None, progress=progress)
    seconds = result.seconds
    with torch.no_grad():
        unlit = render(mesh, result.texture, cams, size, supersample=config.supersample).image
    report.textures["texture"] = result.texture
    report.views["texture"] = unlit
    report.methods["texture"] = MethodScores(*scores(unlit), _lit_style(mesh, result.texture, unseen, style, config),
                                             _lit_style(mesh, result.texture, cams, style, config), seconds)

    t0 = time.perf_counter()
    views = per_view_gatys(mesh, cams, style, size=size, progress=progress, num_steps=baseline_steps,
                           weights=config.weights, device=config.device, seed=config.seed)
    report.views["per-view Gatys"] = views
    report.methods["per-view Gatys"] = MethodScores(*scores(views), seconds=time.perf_counter() - t0)

    if adain:
        t0 = time.perf_counter()
        texture, views, _ = adain_backproject(mesh, cams, style, load_model("adain", device="cpu"),
                                           texture_size=config.texture_size, size=size)
        seconds = time.perf_counter() - t0
        report.textures["AdaIN back-projection"] = texture
        report.views["AdaIN per view"] = views
        report.methods["AdaIN back-projection"] = MethodScores(
            *scores(views), _lit_style(mesh, texture, unseen, style, config), _lit_style(mesh, texture, cams, style, config),
            seconds)

    for px in time_sizes:
        timed = stylize_texture(mesh, style, config.replace(render_size=px, num_steps=4), progress=False)
        report.seconds_per_step[f"{px} px"] = sum(timed.history["seconds"][1:]) / 3
    return report


def format_report(report: MeshReport) -> str:
    """A Markdown table of one :class:`MeshReport`."""
    lines = [f"**{report.mesh}**: grey texture's style loss on the held-out views {report.grey_held_out_style:.3g}",
             "", "| method | consistency, 45° | consistency, 90° | style, held-out views | style, training views | seconds |",
             "|---|---:|---:|---:|---:|---:|"]

    def f(x: float) -> str:
        return "—" if math.isnan(x) else f"{x:.3g}"

    for name, m in report.methods.items():
        lines.append(f"| {name} | {f(m.short)} | {f(m.long)} | {f(m.held_out_style)} | {f(m.train_style)} | {m.seconds:.0f} |")
    if "per-view Gatys" in report.methods:
        lines.append(f"\ntexture / per-view Gatys consistency: {report.ratio(pair='short'):.3f} (45°), "
                     f"{report.ratio(pair='long'):.3f} (90°)")
    for px, s in report.seconds_per_step.items():
        lines.append(f"seconds per texture step at {px} views: {s:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nstlib.bench.mesh", description=__doc__.splitlines()[0])
    p.add_argument("--meshes", default="torus,teapot")
    p.add_argument("--style_path", default=str(default_style()))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--baseline_steps", type=int, default=100)
    p.add_argument("--render_size", type=int, default=128)
    p.add_argument("--texture_size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--fixed_views", action="store_true", help="train the texture on the 8 training cameras only")
    p.add_argument("--json", default=None)
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    config = TextureConfig(num_steps=args.steps, render_size=args.render_size, texture_size=args.texture_size,
                           device=args.device)
    style = load_image(args.style_path, args.render_size)
    reports = []
    for name in args.meshes.split(","):
        report = evaluate(load_mesh(name), style, config, baseline_steps=args.baseline_steps,
                          time_sizes=(128, 256), fixed_views=args.fixed_views, progress=not args.quiet)
        print(format_report(report), flush=True)
        reports.append(report.to_json())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                               "reports": reports}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
