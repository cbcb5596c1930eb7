"""The optimisation driver: one loop that turns loss evaluations into an image.

:func:`drive` optimises a leaf image ``x`` ``[1, 3, H, W]`` with L-BFGS or Adam for a budget of
loss evaluations. Whoever calls it says how to evaluate the loss (one VGG pass, or the tiled
passes of :mod:`nstlib.scale.tiling`); the driver does everything else, the same way for all:
it clamps ``x`` to [0, 1] before each evaluation, keeps the best image, records the history,
drives the progress bar and the callback, restarts L-BFGS after a failed line search, and
stops on a non-finite loss or Ctrl-C with the best image kept.

Notebook 06 runs it end to end; notebook 07 compares the optimisers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .config import Config
from .features import VGGFeatures

__all__ = ["Evaluation", "Run", "Stage", "StepInfo", "drive"]


@dataclass
class StepInfo:
    """What the ``stylize`` callback receives after each loss evaluation.

    ``image`` is the current image ``[1, 3, H, W]`` (a detached view: do not modify it);
    ``losses`` are this step's weighted loss terms.
    """

    step: int
    num_steps: int
    losses: dict[str, float]
    image: Tensor
    seconds: float


@dataclass
class Run:
    """State shared by the stages of one optimisation (one stage per scale).

    Attributes:
        config: the settings (optimiser, budget ``num_steps`` over all stages, layers).
        extractor: the VGG feature extractor the stages evaluate with.
        callback: called with a :class:`StepInfo` after every evaluation, or None.
        bar: a ``tqdm`` progress bar over ``config.num_steps`` evaluations.
        start: ``time.perf_counter()`` at the start of the run.
        history: per evaluation, the weighted loss terms (filled by :func:`drive`).
        evaluations: evaluations done so far, over all stages.
        extra_losses: more loss terms by name, each ``image -> weighted scalar``.
    """

    config: Config
    extractor: VGGFeatures
    callback: Callable[[StepInfo], None] | None
    bar: Any
    start: float
    history: dict[str, list[float]]
    evaluations: int = 0
    extra_losses: Mapping[str, Callable[[Tensor], Tensor]] = field(default_factory=dict)


@dataclass
class Stage:
    """The outcome of one scale: the best image at that scale and where it was found."""

    image: Tensor
    best_step: int  # 1-based, within the whole history; 0 if no evaluation was made
    status: str
    message: str


@dataclass
class Evaluation:
    """One loss evaluation: the weighted terms (``total`` first) and the weighted style loss per layer."""

    losses: dict[str, float]
    style_layers: dict[str, float]


class _BudgetSpent(Exception):
    """num_steps evaluations are done (a line search may ask for more)."""


class _NonFinite(Exception):
    def __init__(self, step: int, value: float) -> None:
        self.step, self.value = step, value


def drive(
    run: Run, x: Tensor, init_img: Tensor, num_steps: int, evaluate: Callable[[], Evaluation]
) -> Stage:
    """Optimise the leaf ``x`` ``[1, 3, H, W]`` for ``num_steps`` evaluations of ``evaluate``.

    ``evaluate()`` computes the loss at ``x`` and fills ``x.grad`` (one forward and backward pass,
    or the tiled passes of :mod:`nstlib.scale.tiling`). This loop clamps ``x`` to [0, 1] before each
    evaluation, keeps the best image, records the history, drives the progress bar and the
    callback, restarts L-BFGS after a failed line search, and stops on NaN or Ctrl-C.
    """
    config = run.config

    def new_lbfgs() -> torch.optim.Optimizer:
        return torch.optim.LBFGS(
            [x], lr=1.0, max_iter=num_steps, max_eval=num_steps,
            tolerance_grad=0.0, tolerance_change=0.0, history_size=config.lbfgs_history,
            line_search_fn="strong_wolfe" if config.lbfgs_line_search else None,
        )

    if config.optimizer == "lbfgs":
        optimizer: torch.optim.Optimizer = new_lbfgs()
    else:
        optimizer = torch.optim.Adam([x], lr=config.learning_rate)

    history = run.history
    offset = len(history["total"])
    best = {"loss": math.inf, "step": 0, "image": x.detach().clone()}
    state = {"evals": 0}

    def closure() -> float:
        if state["evals"] >= num_steps:
            raise _BudgetSpent
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        evaluation = evaluate()
        step = state["evals"] + 1
        value = evaluation.losses["total"]
        if not math.isfinite(value):
            raise _NonFinite(offset + step, value)
        state["evals"] = step
        run.evaluations += 1
        if value < best["loss"]:
            best.update(loss=value, step=step)
            best["image"].copy_(x.detach())
        losses = evaluation.losses
        for n, l in evaluation.style_layers.items():
            history[f"style/{n}"].append(l)
        for k, v in losses.items():
            history[k].append(v)
        if "size" in history:
            history["size"].append(float(max(x.shape[-2:])))
        elapsed = time.perf_counter() - run.start
        history["seconds"].append(elapsed)
        run.bar.update(1)
        if run.evaluations % 10 == 0 or run.evaluations == config.num_steps:
            run.bar.set_postfix(loss=f"{value:.3g}", refresh=False)
        if run.callback is not None:
            run.callback(StepInfo(run.evaluations, config.num_steps, losses, x.detach(), elapsed))
        return value

    status, message = "done", ""
    try:
        if config.optimizer == "lbfgs":
            # One call runs until num_steps evaluations are spent (line searches included). It
            # returns early when its line search finds no descent step along a stale curvature
            # estimate; then restart it with an empty history (a steepest-descent step first),
            # and stop only when a whole call brings no improvement (a true plateau).
            while state["evals"] < num_steps:
                best_before = best["loss"]
                optimizer.step(closure)
                if not best["loss"] < best_before:
                    break
                optimizer = new_lbfgs()
        else:
            for _ in range(num_steps):
                optimizer.step(closure)
    except _BudgetSpent:
        pass
    except _NonFinite as exc:
        status = "nonfinite"
        message = (
            f"the loss became {exc.value} at step {exc.step}; stopped and kept the best image "
            f"(step {offset + best['step'] if best['step'] else 0}). Lower the weights or the learning rate."
        )
    except KeyboardInterrupt:
        status = "interrupted"
        message = (f"interrupted at step {run.evaluations}; kept the best image "
                   f"(step {offset + best['step'] if best['step'] else 0})")
    image = best["image"] if best["step"] else init_img.detach()
    return Stage(image.clamp(0.0, 1.0), offset + best["step"] if best["step"] else 0, status, message)
