"""What the notebooks share: the preset switch, figure export, image grids, live previews, plots.

Presets (environment variable ``NSTLIB_PRESET``; ``NSTLIB_QUICK=1`` forces ``quick``):

============  ===========  ==========  ===========================================
preset        main size    grid size   steps
============  ===========  ==========  ===========================================
``quick``     64 px        48 px       1/5 of the medium count (CI, nbval)
``medium``    256 px       128 px      as written in the notebook (CPU, minutes)
``full``      512 px       256 px      2× the medium count (meant for a GPU)
============  ===========  ==========  ===========================================

Figures meant for slides go through :func:`export_figure`, which writes
``images/figures/<name>.png`` only when ``NSTLIB_EXPORT_FIGURES=1`` (set by ``make figures``).

Plots are drawn on a given matplotlib ``Axes`` or on a new ``matplotlib.figure.Figure``, so the
command line needs no display.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from ..core.devices import resolve_device
from ..core.images import to_pil
from ..gatys.plots import plot_history

__all__ = [
    "COURSE_PRESETS",
    "Preset",
    "current_preset",
    "export_figure",
    "is_quick",
    "LivePreview",
    "plot_history",
    "setup",
    "show_images",
    "to_hwc",
]



@dataclass(frozen=True)
class Preset:
    """Image sizes and step budgets of one course preset."""

    name: str
    size: int
    small: int
    step_factor: float

    def steps(self, medium: int) -> int:
        """The number of steps to run for an experiment that takes ``medium`` steps at ``medium``."""
        return max(2, round(medium * self.step_factor))


COURSE_PRESETS: dict[str, Preset] = {
    "quick": Preset("quick", size=64, small=48, step_factor=1 / 5),
    "medium": Preset("medium", size=256, small=128, step_factor=1.0),
    "full": Preset("full", size=512, small=256, step_factor=2.0),
}


def current_preset() -> Preset:
    """The preset chosen by ``NSTLIB_QUICK`` / ``NSTLIB_PRESET`` (default ``medium``)."""
    if os.environ.get("NSTLIB_QUICK", "") not in ("", "0"):
        return COURSE_PRESETS["quick"]
    name = os.environ.get("NSTLIB_PRESET", "medium")
    if name not in COURSE_PRESETS:
        raise ValueError(f"NSTLIB_PRESET={name!r}: use one of {', '.join(COURSE_PRESETS)}")
    return COURSE_PRESETS[name]


def is_quick() -> bool:
    """True in CI's quick mode (small images, few steps)."""
    return current_preset().name == "quick"


def figures_dir() -> Path:
    """Where :func:`export_figure` writes: the repository's ``images/figures`` when nstlib is
    imported from its checkout (``make figures``), else ``outputs/figures`` in the working folder
    (an installed package, Colab)."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "images" / "figures").is_dir():
        return checkout / "images" / "figures"
    return Path.cwd() / "outputs" / "figures"


def export_figure(fig: Figure, name: str, dpi: int = 110) -> Path | None:
    """Save ``fig`` as ``<figures_dir()>/<name>.png`` when ``NSTLIB_EXPORT_FIGURES=1``.

    Returns the path written, or None when exporting is off (the default, and always in quick
    mode, so that CI never touches the committed figures).
    """
    if os.environ.get("NSTLIB_EXPORT_FIGURES") != "1" or is_quick():
        return None
    path = figures_dir() / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def setup(seed: int = 0) -> str:
    """Seed everything, set the figure style, and report the preset and the device.

    Returns the device string (``cuda``, ``mps`` or ``cpu``) for the notebook to use.
    """
    import matplotlib
    import torch


    torch.manual_seed(seed)
    try:  # in a notebook, show the Figure objects that cells return
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and "IPKernelApp" in shell.config:
            shell.run_line_magic("matplotlib", "inline")
            _photos_as_jpeg(shell)
    except ImportError:  # pragma: no cover - IPython comes with the notebooks extra
        pass
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.titlesize": "medium",
                                "image.interpolation": "lanczos"})
    device = resolve_device("auto")
    preset = current_preset()
    print(f"nstlib preset: {preset.name} ({preset.size} px, grids at {preset.small} px); device: {device}")
    if device.type == "cpu":
        # no speed-up is promised here: none has been measured on the GPUs students have (issue 17)
        hint = (" Tip: on Colab, Runtime → Change runtime type → T4 GPU, then run this cell again."
                if "google.colab" in sys.modules else "")
        print(f"No GPU found; running on the CPU ({torch.get_num_threads()} threads).{hint}")
    return device.type


def _figure_bytes(fig: Figure, fmt: str) -> bytes:
    buf = io.BytesIO()
    kwargs = {"pil_kwargs": {"quality": 88}} if fmt == "jpeg" else {}
    fig.savefig(buf, format=fmt, bbox_inches="tight", **kwargs)
    return buf.getvalue()


def _photos_as_jpeg(shell) -> None:
    """Show image grids (:func:`show_images`) as JPEG and plots as PNG, to keep notebooks small."""
    formatters = shell.display_formatter.formatters
    try:
        png_default = formatters["image/png"].lookup_by_type(Figure)
    except KeyError:  # no inline backend: leave the defaults alone
        return

    def png(fig: Figure):
        return None if getattr(fig, "_nstlib_photos", False) else png_default(fig)

    def jpeg(fig: Figure):
        return _figure_bytes(fig, "jpeg") if getattr(fig, "_nstlib_photos", False) else None

    formatters["image/png"].for_type(Figure, png)
    formatters["image/jpeg"].for_type(Figure, jpeg)


def to_hwc(image):
    """``[1,3,H,W]`` or ``[3,H,W]`` tensor, or PIL image -> array ``[H,W,3]`` in [0, 1]."""
    import numpy as np
    import torch

    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        if t.dim() == 4:
            t = t[0]
        if t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        return t.clamp(0, 1).permute(1, 2, 0).numpy()
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def show_images(
    images: Sequence,
    titles: Sequence[str] | None = None,
    *,
    suptitle: str | None = None,
    ncols: int | None = None,
    width: float = 3.2,
) -> Figure:
    """A grid of images (tensors ``[1,3,H,W]``/``[3,H,W]`` in [0, 1], or PIL images) with titles.

    Each panel's title gets its size in pixels; the axes show pixel coordinates.
    """
    n = len(images)
    ncols = ncols or n
    nrows = -(-n // ncols)
    first = to_hwc(images[0])
    aspect = first.shape[0] / first.shape[1]
    fig = Figure(figsize=(width * ncols, width * aspect * nrows + (0.5 if suptitle else 0.2) + 0.3 * nrows),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        arr = to_hwc(images[i])
        ax.imshow(arr)
        label = titles[i] if titles else ""
        ax.set_title(f"{label}\n{arr.shape[1]}×{arr.shape[0]} px" if label else f"{arr.shape[1]}×{arr.shape[0]} px",
                     fontsize="small")
        ax.tick_params(labelsize="x-small", length=2)
        if i % ncols == 0:
            ax.set_ylabel("y (px)", fontsize="x-small")
        if i // ncols == nrows - 1:
            ax.set_xlabel("x (px)", fontsize="x-small")
    if suptitle:
        fig.suptitle(suptitle)
    fig._nstlib_photos = True  # shown as JPEG in notebooks (see setup)
    return fig


class LivePreview:
    """A ``stylize`` callback that shows the image and the loss while the optimisation runs.

    In a notebook it updates one display in place (no ``clear_output``, so nothing piles up in
    headless runs); elsewhere it does nothing. It redraws every ``every`` steps and at the end.

    >>> preview = LivePreview(every=10)
    >>> result = nstlib.stylize(content, style, callback=preview)
    """

    def __init__(self, every: int = 10, width: int = 320) -> None:
        self.every = max(1, every)
        self.width = width
        self.frames = 0
        self._handle = None
        try:
            from IPython import get_ipython

            self._live = get_ipython() is not None and "IPKernelApp" in get_ipython().config
        except ImportError:  # pragma: no cover - IPython comes with the notebooks extra
            self._live = False

    def __call__(self, info) -> None:
        if info.step % self.every and info.step != info.num_steps:
            return
        self.frames += 1
        if not self._live:
            return
        from IPython.display import HTML, display


        buf = io.BytesIO()
        picture = to_pil(info.image)
        picture.save(buf, format="PNG")
        import base64

        data = base64.b64encode(buf.getvalue()).decode()
        html = HTML(
            f'<div><img src="data:image/png;base64,{data}" width="{self.width}" '
            f'style="image-rendering:auto"/><br><code>step {info.step}/{info.num_steps} · '
            f'total loss {info.losses["total"]:.4g} · {info.seconds:.1f} s</code></div>'
        )
        if self._handle is None:
            self._handle = display(html, display_id=True)
        else:
            self._handle.update(html)


# --------------------------------------------------------------------------------------------
# `make figures`: execute the notebooks in place at a preset


def execute_notebooks(paths: Sequence[str | os.PathLike], preset: str = "medium", timeout: int = 7200) -> None:
    """Run each notebook top to bottom on a fresh kernel and write it back with its outputs.

    Sets ``NSTLIB_PRESET=<preset>`` and ``NSTLIB_EXPORT_FIGURES=1`` for the kernels, records the
    preset in each notebook's metadata (``metadata.nstlib.preset``), and shows one progress bar
    over the whole run.
    """
    import nbformat
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    if preset not in COURSE_PRESETS or preset == "quick":
        raise ValueError(f"preset {preset!r}: committed notebooks use medium or full")
    saved = {k: os.environ.get(k) for k in ("NSTLIB_PRESET", "NSTLIB_EXPORT_FIGURES", "NSTLIB_QUICK")}
    os.environ.update(NSTLIB_PRESET=preset, NSTLIB_EXPORT_FIGURES="1")
    os.environ.pop("NSTLIB_QUICK", None)
    try:
        nbs = [Path(p) for p in paths]
        cells = {p: len(nbformat.read(p, as_version=4).cells) for p in nbs}
        with tqdm(total=sum(cells.values()), desc=f"figures ({preset})", unit="cell") as bar:
            for path in nbs:
                nb = nbformat.read(path, as_version=4)
                bar.set_postfix_str(path.name)
                client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                        resources={"metadata": {"path": str(path.parent)}})
                with client.setup_kernel():
                    for index, cell in enumerate(nb.cells):
                        client.execute_cell(cell, index)
                        bar.update(1)
                nb.metadata.setdefault("nstlib", {})["preset"] = preset
                nbformat.write(nb, path)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nstlib.course figures --preset medium [notebooks ...]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nstlib.course")
    sub = parser.add_subparsers(dest="command", required=True)
    fig = sub.add_parser("figures", help="re-execute notebooks in place and export their figures")
    fig.add_argument("--preset", choices=("medium", "full"), default="medium")
    fig.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(str(p) for p in (Path.cwd() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    execute_notebooks(paths, args.preset)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
