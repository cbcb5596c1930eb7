"""The loss curves of a :func:`~nstlib.gatys.transfer.stylize` run (``python -m nstlib --plot``, notebooks 06-08).

Plots are drawn on a given matplotlib ``Axes`` or on a new ``matplotlib.figure.Figure``, so the
command line needs no display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib takes about a second to import: the command line loads it only for --plot
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_history"]

_TERM_STYLE = {
    "total": dict(color="black", linewidth=2.0),
    "content": dict(color="tab:blue"),
    "style": dict(color="tab:red"),
    "tv": dict(color="tab:green"),
}


def plot_history(
    history: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    *,
    x: str = "step",
    per_layer: bool = False,
    title: str = "Loss terms during optimisation",
    label_prefix: str = "",
    terms: Sequence[str] = ("total", "content", "style", "tv"),
) -> Figure:
    """Plot each weighted loss term of a :class:`nstlib.gatys.transfer.Result` history on a log scale.

    Args:
        history: ``Result.history`` (keys ``total``, ``content``, ``style``, ``tv``,
            ``style/<layer>``, ``seconds``).
        ax: axes to draw on; a new figure is made if None.
        x: ``"step"`` (loss evaluations) or ``"seconds"`` (wall time).
        per_layer: also draw each style layer's contribution (dashed).
        title: the axes title.
        label_prefix: put before each legend label (to compare runs on one axes).
        terms: which terms to draw.

    Returns:
        The figure that holds the axes.
    """
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.get_figure()
    n = len(history.get("total", ()))
    xs = list(history["seconds"]) if x == "seconds" else list(range(1, n + 1))
    for term in terms:
        values = history.get(term, ())
        if len(values) and max(values) > 0:
            ax.plot(xs, values, label=f"{label_prefix}{term}", **_TERM_STYLE.get(term, {}))
    if per_layer:
        for key, values in history.items():
            if key.startswith("style/") and len(values) and max(values) > 0:
                ax.plot(xs, values, linestyle="--", linewidth=1, label=f"{label_prefix}{key}")
    ax.set_yscale("log")
    ax.set_xlabel("wall time (s)" if x == "seconds" else "loss evaluation (forward + backward pass)")
    ax.set_ylabel("weighted loss (log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return fig
