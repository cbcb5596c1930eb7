"""Compare ``stylize`` runs: snapshots during a run, runs side by side, conclusions from measurements.

The course's notebooks 06 (Gatys end to end) and 07 (optimisers) use it:

- :class:`Snapshots` is a ``stylize`` callback that keeps copies of the image at chosen steps, and
  :func:`chain` lets it run beside :class:`nstlib.course.LivePreview`.
- :func:`run_variants` runs one content/style pair under several settings (same budget);
  :func:`summarize`, :func:`runs_table`, :func:`plot_runs` and :func:`conclusion` turn the
  measured histories into a table, a figure and a sentence, so that a notebook's written
  conclusion comes from its own numbers.

All images are RGB tensors ``[1, 3, H, W]`` in [0, 1].
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from ..core.config import Config
from ..core.optimize import StepInfo
from ..core.tables import format_table
from ..gatys.transfer import Result, initial_image, stylize

__all__ = [
    "RunSummary",
    "Snapshots",
    "best_so_far",
    "chain",
    "conclusion",
    "runs_table",
    "loss_at_time",
    "plot_runs",
    "run_variants",
    "snapshot_steps",
    "start_image",
    "steps_to_reach",
    "summarize",
]

Callback = Callable[[StepInfo], None]


# --------------------------------------------------------------------------------------------
# Callbacks


def snapshot_steps(num_steps: int, count: int = 6) -> list[int]:
    """About ``count`` steps from 1 to ``num_steps``, spaced geometrically (dense early on).

    The image changes fastest in the first evaluations, so a geometric spacing shows the
    evolution better than an even one. Always contains 1 and ``num_steps``; ascending, unique
    (so fewer than ``count`` when ``num_steps`` is small).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count!r}")
    if count == 1:
        return [num_steps]
    steps = {1, num_steps}
    for i in range(1, count - 1):
        steps.add(round(num_steps ** (i / (count - 1))))
    return sorted(s for s in steps if 1 <= s <= num_steps)


class Snapshots:
    """A ``stylize`` callback that keeps a copy of the image at the given steps.

    ``images[step]`` is ``[1, 3, H, W]`` on the CPU, clamped to [0, 1]. Step 1 is the starting
    image (the first evaluation happens before any update).

    >>> snaps = Snapshots([1, 10, 100])
    >>> result = nstlib.stylize(content, style, num_steps=100, callback=snaps)
    >>> course.show_images(list(snaps.images.values()), snaps.titles())
    """

    def __init__(self, steps: Sequence[int]) -> None:
        self.steps = sorted(set(int(s) for s in steps))
        self.images: dict[int, Tensor] = {}

    def __call__(self, info: StepInfo) -> None:
        if info.step in self.steps:
            self.images[info.step] = info.image.detach().clamp(0.0, 1.0).cpu().clone()

    def titles(self, prefix: str = "step ") -> list[str]:
        """One title per kept image, in step order (``"step 1"``, ``"step 10"``, …)."""
        return [f"{prefix}{s}" for s in sorted(self.images)]

    def ordered(self) -> list[Tensor]:
        """The kept images in step order."""
        return [self.images[s] for s in sorted(self.images)]


def chain(*callbacks: Callback | None) -> Callback:
    """One callback that calls each of ``callbacks`` in order (``None`` entries are skipped)."""
    active = [cb for cb in callbacks if cb is not None]

    def call_all(info: StepInfo) -> None:
        for cb in active:
            cb(info)

    return call_all


# --------------------------------------------------------------------------------------------
# Running and summarising


def run_variants(
    content: Tensor | str | os.PathLike,
    style: Tensor | str | os.PathLike,
    config: Config,
    variants: Mapping[str, Mapping[str, Any]],
    *,
    progress: bool = False,
    on_done: Callable[[str, Result], None] | None = None,
) -> dict[str, Result]:
    """Run ``stylize`` once per variant: ``config`` with the variant's overrides.

    Args:
        content, style: as for :func:`nstlib.stylize` (tensors ``[1, 3, H, W]`` keep their size).
        config: the settings every run shares (the budget ``num_steps`` in particular).
        variants: ``{name: {field: value}}``, e.g. ``{"Adam, lr 0.01": {"optimizer": "adam"}}``.
        progress: one progress bar per run (off by default, to avoid piles of bars).
        on_done: called with ``(name, result)`` after each run (e.g. to print its time).

    Returns:
        ``{name: Result}`` in the order of ``variants``.
    """
    results: dict[str, Result] = {}
    for name, overrides in variants.items():
        results[name] = stylize(content, style, config.replace(**dict(overrides)), progress=progress)
        if on_done is not None:
            on_done(name, results[name])
    return results


def start_image(config: Config, content: Tensor, style: Tensor) -> Tensor:
    """The image ``stylize`` starts from under ``config.init`` (and ``config.seed`` for noise).

    Args:
        config: its ``init`` is ``"content"``, ``"noise"`` or ``"style"``.
        content: ``[1, 3, H, W]`` in [0, 1].
        style: ``[1, 3, H', W']`` in [0, 1] (stretched to ``H × W`` for ``init="style"``).

    Returns:
        ``[1, 3, H, W]`` on the CPU, the content's shape.
    """
    return initial_image(config.init, content.detach().cpu(), style.detach().cpu(), config.seed).clamp(0.0, 1.0)


def best_so_far(values: Sequence[float]) -> list[float]:
    """The running minimum of ``values``: the loss of the image you would keep at each step."""
    out: list[float] = []
    low = math.inf
    for v in values:
        low = min(low, v)
        out.append(low)
    return out


def steps_to_reach(history: Mapping[str, Sequence[float]], level: float) -> int | None:
    """The first (1-based) evaluation whose total loss is at or below ``level``; None if never."""
    for i, v in enumerate(history["total"]):
        if v <= level:
            return i + 1
    return None


def loss_at_time(history: Mapping[str, Sequence[float]], seconds: float) -> float | None:
    """The lowest total loss among the evaluations finished by ``seconds``; None if none had."""
    done = [v for v, t in zip(history["total"], history["seconds"]) if t <= seconds]
    return min(done) if done else None


@dataclass(frozen=True)
class RunSummary:
    """The measured outcome of one run, relative to a reference run.

    Attributes:
        name: the variant's name.
        first_loss: total loss at the first evaluation (the starting image).
        final_loss: lowest total loss reached (that of ``Result.image``).
        seconds: wall time of the run (targets included).
        evaluations: loss evaluations done.
        ratio: ``final_loss / reference.final_loss`` (1 for the reference; > 1 means worse).
        steps_to_reference: first evaluation at which this run reached the reference's final
            loss, or None if it never did.
    """

    name: str
    first_loss: float
    final_loss: float
    seconds: float
    evaluations: int
    ratio: float
    steps_to_reference: int | None

    @property
    def seconds_per_step(self) -> float:
        """Mean wall time per loss evaluation."""
        return self.seconds / max(1, self.evaluations)


def summarize(results: Mapping[str, Result], reference: str) -> list[RunSummary]:
    """One :class:`RunSummary` per run, in the order of ``results``, relative to ``reference``."""
    if reference not in results:
        raise KeyError(f"reference run {reference!r} not among {list(results)}")
    ref_loss = results[reference].final_loss
    rows = []
    for name, r in results.items():
        rows.append(RunSummary(
            name=name,
            first_loss=r.history["total"][0],
            final_loss=r.final_loss,
            seconds=r.seconds,
            evaluations=r.evaluations,
            ratio=r.final_loss / ref_loss if ref_loss > 0 else math.inf,
            steps_to_reference=steps_to_reach(r.history, ref_loss),
        ))
    return rows


def runs_table(rows: Sequence[RunSummary], reference: str | None = None) -> str:
    """A fixed-width text table of :func:`summarize`'s rows, ready to ``print``."""
    ref = reference or "reference"
    body = [[row.name, f"{row.first_loss:.4g}", f"{row.final_loss:.4g}", f"{row.ratio:.2f}", f"{row.seconds:.1f}",
             f"{row.seconds_per_step:.3f}",
             "never" if row.steps_to_reference is None else f"step {row.steps_to_reference}"] for row in rows]
    return format_table(["run", "start loss", "final loss", f"× {ref}", "time (s)", "s / step", f"reaches {ref} at"],
                        body, markdown=False)


# --------------------------------------------------------------------------------------------
# Plots


def plot_runs(
    results: Mapping[str, Result],
    ax: Axes | None = None,
    *,
    x: str = "step",
    running_min: bool = True,
    title: str = "Total loss of each run",
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """The total loss of several runs on one log-scale axes, against steps or wall time.

    Args:
        results: ``{name: Result}``; each name becomes a legend label.
        ax: axes to draw on; a new figure is made if None.
        x: ``"step"`` (loss evaluations) or ``"seconds"`` (measured wall time, ``history["seconds"]``).
        running_min: plot the lowest loss so far (the image ``stylize`` keeps) instead of
            each evaluation's loss, which L-BFGS's un-searched steps make jump now and then.
        title: the axes title.
        styles: optional matplotlib keyword arguments per run name.

    Returns:
        The figure that holds the axes.
    """
    if x not in ("step", "seconds"):
        raise ValueError(f"x must be 'step' or 'seconds', got {x!r}")
    if ax is None:
        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.get_figure()
    for name, r in results.items():
        ys = r.history["total"]
        ys = best_so_far(ys) if running_min else list(ys)
        xs = list(r.history["seconds"]) if x == "seconds" else list(range(1, len(ys) + 1))
        ax.plot(xs, ys, label=name, **dict((styles or {}).get(name, {})))
    ax.set_yscale("log")
    ax.set_xlabel("wall time (s)" if x == "seconds" else "loss evaluation (forward + backward pass)")
    ax.set_ylabel(("lowest total loss so far" if running_min else "total loss") + " (weighted, log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------------------------
# A conclusion built from the measurements


def _fmt_ratio(r: float) -> str:
    return f"{r:.1f}×" if r >= 1.95 else f"{r:.2f}×"


def conclusion(
    results: Mapping[str, Result],
    reference: str,
    contenders: Sequence[str] | None = None,
) -> str:
    """A few sentences that test "``reference`` converges better" against the measured runs.

    Compares the reference's final (lowest) total loss with each contender's at the same number
    of evaluations, names the best contender and by how much the two differ, when the winner
    had already reached the loser's final loss, and whether an evaluation cost the same wall
    time in both. Every number in the text comes from ``results``.

    Args:
        results: ``{name: Result}``, all run with the same budget.
        reference: the run the claim is about (e.g. ``"L-BFGS"``).
        contenders: the runs to compare against (default: all others).
    """
    if reference not in results:
        raise KeyError(f"reference run {reference!r} not among {list(results)}")
    names = list(contenders) if contenders is not None else [n for n in results if n != reference]
    if not names:
        raise ValueError("conclusion needs at least one contender besides the reference")
    ref = results[reference]
    best = min(names, key=lambda n: results[n].final_loss)
    other = results[best]
    n = ref.evaluations
    ratio = other.final_loss / ref.final_loss
    parts = []
    if ratio > 1:
        worst = max(names, key=lambda n_: results[n_].final_loss)
        sentence = (
            f'"{reference} converges better" holds here: after {n} loss evaluations it reached a total loss '
            f"of {ref.final_loss:.4g}, while the best other run ({best}) ended at {other.final_loss:.4g}, "
            f"{_fmt_ratio(ratio)} as high"
        )
        if worst != best:
            w = results[worst].final_loss
            sentence += f", and the worst ({worst}) at {w:.4g}, {_fmt_ratio(w / ref.final_loss)} as high"
        parts.append(sentence + ".")
        k = steps_to_reach(ref.history, other.final_loss)
        if k is not None:
            parts.append(
                f"{reference} had already reached {best}'s final loss at evaluation {k} of {n} "
                f"({100 * k / n:.0f}% of the budget, {ref.history['seconds'][k - 1]:.1f} s)."
            )
    else:
        parts.append(
            f'"{reference} converges better" does not hold here: after {n} loss evaluations {best} reached '
            f"a total loss of {other.final_loss:.4g}, while {reference} ended at {ref.final_loss:.4g}, "
            f"{_fmt_ratio(1 / ratio)} as high."
        )
        k = steps_to_reach(other.history, ref.final_loss)
        if k is not None:
            parts.append(f"{best} had reached {reference}'s final loss at evaluation {k} of {other.evaluations}.")
    t_ref = ref.seconds / max(1, ref.evaluations)
    t_other = sum(results[m].seconds for m in names) / max(1, sum(results[m].evaluations for m in names))
    rel = t_ref / t_other
    if abs(rel - 1) < 0.2:
        parts.append(
            f"An evaluation took about the same wall time in both ({t_ref:.3f} s for {reference}, "
            f"{t_other:.3f} s on average for the others), so equal evaluations also means about equal time."
        )
    else:
        slower, factor = (reference, rel) if rel > 1 else ("the others", 1 / rel)
        parts.append(
            f"Per evaluation {reference} took {t_ref:.3f} s and the others {t_other:.3f} s on average: "
            f"{slower} {'was' if slower == reference else 'were'} {factor:.1f}× slower per step, "
            "so compare the curves against wall time too."
        )
    t_common = min(ref.history["seconds"][-1], other.history["seconds"][-1])
    a, b = loss_at_time(ref.history, t_common), loss_at_time(other.history, t_common)
    if a is not None and b is not None:
        parts.append(
            f"Stopped at the same wall time ({t_common:.1f} s), the two stood at {a:.4g} ({reference}) "
            f"and {b:.4g} ({best})."
        )
    return " ".join(parts)
