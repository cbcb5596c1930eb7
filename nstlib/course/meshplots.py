"""Figures for 3D style transfer (notebook 18): what the rasteriser finds, consistency, views, a 3D viewer."""

from __future__ import annotations

import base64
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..mesh.meshes import save_textured
from ..mesh.render import Camera, Mesh, rasterize, render, reproject
from ..video.io import write_gif

__all__ = ["gif_html", "plot_consistency", "plot_fragments", "plot_reprojection", "plot_views", "viewer_html"]


def _hwc(image: Tensor) -> np.ndarray:
    return image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def plot_fragments(mesh: Mesh, texture: Tensor, camera: Camera, size: int = 128) -> Figure:
    """Four panels: triangle index, depth, barycentric coordinates (as RGB), and the textured render."""
    frags = rasterize(mesh, camera, size)
    fig = Figure(figsize=(9.6, 2.7), layout="constrained")
    axes = fig.subplots(1, 4)
    rng = np.random.default_rng(0)
    palette = rng.uniform(0.2, 1.0, size=(mesh.faces.shape[0], 3))
    face = frags.face.cpu().numpy()
    ids = np.where(face[..., None] >= 0, palette[np.clip(face, 0, None)], 1.0)
    axes[0].imshow(ids)
    axes[0].set_title(f"nearest triangle ({mesh.faces.shape[0]} in all)")
    depth = frags.depth.cpu().numpy().astype(float)
    shown = axes[1].imshow(np.where(np.isfinite(depth), depth, np.nan), cmap="viridis")
    fig.colorbar(shown, ax=axes[1], shrink=0.8, label="depth (scene units)")
    axes[1].set_title("z-buffer depth")
    bary = frags.bary.cpu().numpy() * frags.mask.cpu().numpy()[..., None]
    axes[2].imshow(np.where(frags.mask.cpu().numpy()[..., None], bary, 1.0))
    axes[2].set_title("barycentric coordinates (RGB)")
    with torch.no_grad():
        image = render(mesh, texture, camera, size, lights=(0.5, 0.8, 0.6)).image[0]
    axes[3].imshow(_hwc(image))
    axes[3].set_title("texture sampled, shaded, 2× supersampled")
    for ax in axes:
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
    fig.suptitle(f"Rasterising the {mesh.name} once (no gradient), then sampling the texture (differentiable)")
    fig._nstlib_photos = True  # shown as JPEG in notebooks (nstlib.course), to keep them small
    return fig


def plot_views(rows: Mapping[str, Tensor], columns: Sequence[str] | None = None, title: str = "") -> Figure:
    """A grid: one row per entry of ``rows`` (``[B, 3, H, W]`` each), one column per view."""
    count = max(v.shape[0] for v in rows.values())
    fig = Figure(figsize=(1.35 * count, 1.4 * len(rows) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), count, squeeze=False))
    for r, (name, images) in enumerate(rows.items()):
        for c in range(count):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < images.shape[0]:
                ax.imshow(_hwc(images[c]))
            if c == 0:
                ax.set_ylabel(name)
            if r == 0 and columns is not None and c < len(columns):
                ax.set_title(columns[c], fontsize="small")
    if title:
        fig.suptitle(title)
    fig._nstlib_photos = True
    return fig


def plot_reprojection(mesh: Mesh, rows: Mapping[str, Tensor], cameras: Sequence[Camera], pair: tuple[int, int]) -> Figure:
    """For each method: view j, view i reprojected into it, and their squared difference (pixels seen in both)."""
    i, j = pair
    fig = Figure(figsize=(7.2, 2.3 * len(rows) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), 3, squeeze=False))
    for r, (name, images) in enumerate(rows.items()):
        h, w = images.shape[-2:]
        fi, fj = rasterize(mesh, cameras[i], h, w), rasterize(mesh, cameras[j], h, w)
        warped, both = reproject(images[i], fi, fj, mesh)
        diff = ((warped - images[j]) ** 2).mean(0) * both
        axes[r, 0].imshow(_hwc(images[j]))
        axes[r, 1].imshow(_hwc(warped + (1 - both.to(warped.dtype))))
        shown = axes[r, 2].imshow(diff.cpu().numpy(), cmap="magma", vmin=0, vmax=0.1)
        fig.colorbar(shown, ax=axes[r, 2], shrink=0.8, label="squared difference")
        mse = float(diff[both].mean()) if bool(both.any()) else math.nan
        axes[r, 0].set_ylabel(name)
        axes[r, 0].set_title(f"view {j}")
        axes[r, 1].set_title(f"view {i} reprojected into view {j}")
        axes[r, 2].set_title(f"difference (mean {mse:.4f})")
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Consistency: one view brought into the next through the mesh (white: seen in one view only)")
    fig._nstlib_photos = True
    return fig


def plot_consistency(errors: Mapping[str, Mapping[str, float]], title: str = "Consistency across views") -> Figure:
    """Grouped bars, log scale: ``errors[method][pair name]`` (mean squared difference, RGB in [0, 1])."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    methods = list(errors)
    pairs = list(next(iter(errors.values())))
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        values = [errors[method][p] for p in pairs]
        bars = ax.bar(np.arange(len(pairs)) + k * width, values, width, label=method)
        ax.bar_label(bars, labels=[f"{v:.2g}" for v in values], fontsize="small")
    ax.set_xticks(np.arange(len(pairs)) + width * (len(methods) - 1) / 2, pairs)
    ax.set_yscale("log")
    ax.set_ylabel("reprojection error (MSE, RGB in [0, 1])")
    ax.set_xlabel("angle between the two views")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return fig


def gif_html(frames: Tensor, fps: float = 12.0, width: int = 256) -> str:
    """An ``<img>`` tag holding a looping GIF of ``[T, 3, H, W]`` (base64), for ``IPython.display.HTML``."""
    with tempfile.TemporaryDirectory() as folder:
        data = base64.b64encode(write_gif(frames, Path(folder) / "turntable.gif", fps=fps, size=None).read_bytes()).decode()
    return f'<img src="data:image/gif;base64,{data}" width="{width}" alt="turntable">'


def viewer_html(mesh: Mesh, texture: Tensor, path: str | Path | None = None, height: int = 360,
                texture_size: int | None = 128) -> str:
    """An interactive three.js view of the textured mesh (trimesh's viewer, about 0.8 MB, works offline).

    Returns an ``<iframe>`` for ``IPython.display.HTML``; with ``path``, also writes the page there
    (open it in any browser). The texture is shown downsampled to ``texture_size`` (None: as is),
    which keeps a notebook that embeds the page small.
    """
    import html

    import trimesh
    from trimesh.viewer.notebook import scene_to_html


    if texture_size is not None and max(texture.shape[-2:]) > texture_size:
        texture = torch.nn.functional.interpolate(texture, size=(texture_size, texture_size), mode="bicubic",
                                                  antialias=True, align_corners=False).clamp(0, 1)
    with tempfile.TemporaryDirectory() as folder:
        glb = save_textured(mesh, texture, Path(folder) / "mesh.glb")[0]
        scene = trimesh.load(glb)
    page = scene_to_html(scene)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(page)
    # (inside a <div>: IPython warns about HTML that starts with <iframe>)
    return (f'<div><iframe srcdoc="{html.escape(page, quote=True)}" width="100%" height="{height}" '
            'style="border:none" title="interactive 3D view"></iframe></div>')
