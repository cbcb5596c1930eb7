"""The methods side by side, measured: Gatys optimisation, the fast network, AdaIN and WCT.

Every method stylises the same content with the same style, and one fixed evaluator scores
every output: the Gatys losses on the bundled (Caffe) VGG19 with the default layers of
:class:`nstlib.gatys.transfer.Config` (content conv4_2, style conv1_1…conv5_1), unweighted. So the
numbers compare the methods, not their own training objectives.

- :func:`evaluate` (from :mod:`nstlib.core.metrics`) gives the content and style losses of one image;
- :func:`time_call` measures seconds per call (median of repeats, device synchronised);
- :func:`compare_methods` runs the methods and returns one :class:`MethodRow` each;
- :func:`methods_table` and :func:`plot_grid` turn the rows into the table and the figure of
  notebook 15 and the README.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..core.metrics import evaluate
from ..core.tables import format_table
from ..feedforward.models import model_info
from ..gatys.transfer import stylize
from .notebook import show_images

__all__ = ["MethodRow", "evaluate", "time_call", "training_cost", "compare_methods", "methods_table",
           "plot_grid", "plot_tradeoff", "FLEXIBILITY"]

#: What each method can do without training anything new.
FLEXIBILITY = {
    "gatys": "any style, any control (masks, colour, photorealism); no training",
    "fast": "the style(s) it was trained on only",
    "multi": "its N trained styles and their mixtures",
    "adain": "any style image, alpha and style interpolation, one network",
    "wct": "any style image, no style in training at all (decoders only invert VGG)",
}


@dataclass
class MethodRow:
    """One method's measurements at one size.

    ``seconds`` is per image at inference (the whole optimisation for Gatys); ``train_seconds``
    and ``train_steps`` are what the model cost to train here (0 for Gatys); ``content`` and
    ``style`` are the fixed evaluator's losses of ``image``.
    """

    method: str
    size: int
    device: str
    seconds: float
    content: float
    style: float
    train_seconds: float = 0.0
    train_steps: int = 0
    flexibility: str = ""
    image: Tensor | None = field(default=None, repr=False)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_call(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1,
              device: str | torch.device = "cpu") -> tuple[float, Any]:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls; and its last result."""
    device = torch.device(device)
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(max(1, repeats)):
        _sync(device)
        t = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def training_cost(model: torch.nn.Module) -> tuple[float, int]:
    """Seconds and steps a loaded model took to train (from the history its checkpoint keeps)."""
    path = getattr(model, "source", None)
    if path is None:
        return 0.0, 0
    history = model_info(path)["history"]
    return float(sum(history.get("seconds", []))), len(history.get("total", []))


def compare_methods(
    content: Tensor,
    style: Tensor,
    models: Mapping[str, Any],
    *,
    gatys_steps: int = 200,
    gatys_config: Mapping[str, Any] | None = None,
    repeats: int = 3,
    device: str | torch.device = "cpu",
) -> list[MethodRow]:
    """Stylise ``content`` with ``style`` by every method and measure each.

    Args:
        content: ``[1, 3, H, W]`` in [0, 1], at the size to compare (its longer side is the row's size).
        style: ``[1, 3, h, w]`` in [0, 1].
        models: loaded models by method name, any of ``"fast"`` (a TransformerNet trained on
            this style), ``"adain"``, ``"wct"``; missing ones are skipped.
        gatys_steps: L-BFGS evaluations of the Gatys baseline (timed once: it is the slow one).
        gatys_config: more :class:`nstlib.gatys.transfer.Config` fields for the baseline.
        repeats: timed calls of each feed-forward method (median).

    Returns:
        One :class:`MethodRow` per method, in the order gatys, fast, adain, wct.
    """
    device = torch.device(device)
    size = max(content.shape[-2:])
    content, style = content.to(device), style.to(device)
    runs: dict[str, tuple[Callable[[], Tensor], int]] = {
        "gatys": (lambda: stylize(content, style, dict(gatys_config or {}), progress=False, num_steps=gatys_steps,
                                  device=str(device)).image, 1),
    }
    if "fast" in models:
        runs["fast"] = (lambda: models["fast"].stylize(content), repeats)
    if "adain" in models:
        runs["adain"] = (lambda: models["adain"].stylize(content, style), repeats)
    if "wct" in models:
        runs["wct"] = (lambda: models["wct"].stylize(content, style), repeats)
    rows = []
    for name, (fn, n) in runs.items():
        seconds, image = time_call(fn, repeats=n, warmup=0 if name == "gatys" else 1, device=device)
        image = image.detach().float().cpu()
        scores = evaluate(image, content.cpu(), style.cpu())
        train_s, train_n = training_cost(models[name]) if name in models else (0.0, 0)
        rows.append(MethodRow(name, size, device.type, seconds, scores["content"], scores["style"], train_s, train_n,
                              FLEXIBILITY.get(name, ""), image))
    return rows


def _duration(seconds: float) -> str:
    if seconds == 0:
        return "none"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def methods_table(rows: Sequence[MethodRow]) -> str:
    """A Markdown table of the rows (one line per method and size), speed-ups against Gatys at the same size."""
    gatys = {(r.size, r.device): r.seconds for r in rows if r.method == "gatys"}
    body = []
    for r in rows:
        ref = gatys.get((r.size, r.device))
        speed = f"{ref / r.seconds:.0f}×" if ref and r.method != "gatys" else "1×"
        train = f"{_duration(r.train_seconds)} ({r.train_steps} steps)" if r.train_steps else "none"
        body.append([r.method, r.size, r.device, f"{r.seconds:.3g}", speed, f"{r.content:.3g}", f"{r.style:.3g}",
                     train, r.flexibility])
    return format_table(["method", "size (px)", "device", "s / image", "speed-up vs Gatys", "content loss",
                         "style loss", "training here", "flexibility"], body)


def plot_grid(rows: Sequence[MethodRow], content: Tensor, style: Tensor):
    """Content, style and every method's output side by side, each titled with its time and losses."""
    images = [content, style] + [r.image for r in rows]
    titles = ["content", "style"] + [f"{r.method}: {r.seconds:.3g} s\ncontent {r.content:.3g}, style {r.style:.3g}"
                                     for r in rows]
    return show_images(images, titles, suptitle=f"Methods side by side at {rows[0].size} px on {rows[0].device} "
                       "(losses: one fixed VGG19 evaluator)", ncols=len(images))


_MARKERS = {"gatys": "o", "fast": "s", "multi": "P", "adain": "^", "wct": "D"}


def plot_tradeoff(rows: Sequence[MethodRow]):
    """Seconds per image (log) against the judge's style loss, one point per method and size.

    Each point is labelled with its size and content loss. Returns a matplotlib Figure.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for method in dict.fromkeys(r.method for r in rows):
        mine = sorted((r for r in rows if r.method == method), key=lambda r: r.size)
        ax.plot([r.seconds for r in mine], [r.style for r in mine], marker=_MARKERS.get(method, "o"),
                linestyle=":", label=method)
        for r in mine:
            ax.annotate(f"{r.size} px, content {r.content:.2g}", (r.seconds, r.style), fontsize=7,
                        textcoords="offset points", xytext=(5, 4))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"seconds per image on {rows[0].device} (log scale)")
    ax.set_ylabel("style loss of the output (fixed VGG19 judge, log)")
    ax.set_title("Speed against closeness to the style (lower left is better)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig
