"""The optimisation driver: one loop that turns loss evaluations into an image.

:func:`drive` optimises one or more leaf tensors with L-BFGS or Adam for a budget of loss
evaluations. Whoever calls it says how to evaluate the loss (one VGG pass, the tiled passes of
:mod:`nstlib.scale.tiling`, or random rendered views of a texture in :mod:`nstlib.mesh.texture`)
and what to keep (:class:`Policy`); the driver does everything else, the same way for all: it
clamps the leaves to [0, 1] before each evaluation (if asked), keeps the best or the last image,
records the history, drives the progress bar and the callback, restarts L-BFGS after a failed
line search, and stops on a non-finite loss or Ctrl-C with the kept image.

How a loop ends is worded once, by :class:`Ending`: statuses ``done``, ``nonfinite`` and
``interrupted``, and a one-line message. The feed-forward training loop uses it too.

Notebook 06 runs it end to end; notebook 07 compares the optimisers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch import Tensor

from .config import Config
from .features import VGGFeatures

__all__ = [
    "DONE",
    "INTERRUPTED",
    "NONFINITE",
    "Ending",
    "Evaluation",
    "Loop",
    "NonFiniteLoss",
    "Policy",
    "Run",
    "Stage",
    "StepInfo",
    "drive",
]

#: The statuses of a loop that ended: its budget spent, a non-finite loss, or Ctrl-C.
DONE, NONFINITE, INTERRUPTED = "done", "nonfinite", "interrupted"


@dataclass
class StepInfo:
    """What the ``stylize`` callback receives after each loss evaluation.

    ``image`` is the current image ``[1, 3, H, W]`` (a detached view: do not modify it);
    ``losses`` are this step's weighted loss terms; ``seconds`` is what the history records
    (the time since the start of the run, or of the step for a :class:`Loop` with ``step_seconds``).
    """

    step: int
    num_steps: int
    losses: dict[str, float]
    image: Tensor
    seconds: float


@dataclass(frozen=True)
class Policy:
    """How :func:`drive` optimises and which image it keeps.

    Attributes:
        optimizer: ``"lbfgs"`` or ``"adam"``.
        learning_rate: Adam's step size (L-BFGS uses unit steps).
        lbfgs_history, line_search: L-BFGS memory and strong-Wolfe line search.
        keep: ``"best"`` (the lowest loss evaluated; Gatys) or ``"last"`` (the last finite state:
            for a stochastic loss, where "lowest" compares different random losses).
        clamp: clamp the leaves to [0, 1] in place before each evaluation (pixels).
    """

    optimizer: str = "lbfgs"
    learning_rate: float = 1.0
    lbfgs_history: int = 100
    line_search: bool = True
    keep: str = "best"
    clamp: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in ("lbfgs", "adam") or self.keep not in ("best", "last"):
            raise ValueError(f"optimizer must be lbfgs or adam and keep best or last, got {self!r}")

    @classmethod
    def of(cls, config: Config) -> Policy:
        """Gatys' policy: ``config``'s optimiser, the best image kept, pixels clamped."""
        return cls(config.optimizer, config.learning_rate, config.lbfgs_history, config.lbfgs_line_search)


@dataclass
class Loop:
    """The driver's state over the stages of one run: what :func:`drive` reads and updates.

    Attributes:
        policy: how to optimise and what to keep.
        total_steps: evaluations over all stages (the progress bar's total, ``StepInfo.num_steps``).
        callback: called with a :class:`StepInfo` after every evaluation, or None.
        bar: a ``tqdm`` progress bar over ``total_steps``.
        start: ``time.perf_counter()`` at the start of the run.
        history: per evaluation, the loss terms, ``style/<layer>`` terms and ``seconds``.
        evaluations: evaluations done so far, over all stages.
        step_seconds: record each step's duration as ``seconds`` (default: time since ``start``).
    """

    policy: Policy
    total_steps: int
    callback: Callable[[StepInfo], None] | None
    bar: Any
    start: float
    history: dict[str, list[float]]
    evaluations: int = 0
    step_seconds: bool = False


@dataclass
class Run:
    """A Gatys run: a :class:`Loop` whose policy and budget come from its :class:`Config`.

    Attributes:
        config: the settings (optimiser, budget ``num_steps`` over all stages, layers).
        extractor: the VGG feature extractor the stages evaluate with.
        callback, bar, start, history, evaluations: as in :class:`Loop`.
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

    @property
    def policy(self) -> Policy:
        return Policy.of(self.config)

    @property
    def total_steps(self) -> int:
        return self.config.num_steps

    @property
    def step_seconds(self) -> bool:
        return False


@dataclass
class Stage:
    """The outcome of one stage: the kept image, the step it comes from, and how the stage ended."""

    image: Tensor
    best_step: int  # 1-based, within the whole history; 0 if no evaluation was made
    status: str
    message: str


@dataclass
class Evaluation:
    """One loss evaluation: the terms (``total`` first), the weighted style loss per layer, and
    the image ``[1, 3, H, W]`` it was made at (None: the first leaf, or ``drive``'s ``image_of()``)."""

    losses: dict[str, float]
    style_layers: dict[str, float]
    image: Tensor | None = None


class NonFiniteLoss(Exception):
    """A loop's loss became non-finite at ``step`` (1-based); :class:`Ending` turns it into a status."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"the loss became {value} at step {step}")
        self.step, self.value = step, value


@dataclass
class Ending:
    """How a loop ended, and the one way its message is worded.

    Use it as a context around the loop: a :class:`NonFiniteLoss` becomes ``status="nonfinite"``
    (``step`` and ``value`` from it), Ctrl-C becomes ``"interrupted"``; anything else propagates.
    """

    status: str = DONE
    step: int = 0
    value: float = math.nan

    def __enter__(self) -> Ending:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if isinstance(exc, NonFiniteLoss):
            self.status, self.step, self.value = NONFINITE, exc.step, exc.value
            return True
        if isinstance(exc, KeyboardInterrupt):
            self.status = INTERRUPTED
            return True
        return False

    def message(self, steps: int, kept: str, advice: str = "") -> str:
        """The one-line message: ``steps`` finished when interrupted, ``kept`` says what was kept
        (``"kept the best image (step 4)"``), ``advice`` follows a non-finite loss. "" when done."""
        if self.status == NONFINITE:
            return f"the loss became {self.value} at step {self.step}; stopped and {kept}{advice}"
        if self.status == INTERRUPTED:
            return f"interrupted at step {steps}; {kept}"
        return ""


class _BudgetSpent(Exception):
    """num_steps evaluations are done (a line search may ask for more)."""


class _Kept:
    """The image a stage keeps (the best or the last finite one) and the lowest loss seen."""

    def __init__(self, keep: str) -> None:
        self.keep, self.step, self.lowest = keep, 0, math.inf
        self.image: Tensor | None = None

    def offer(self, step: int, value: float, image: Tensor) -> None:
        """Evaluation ``step`` (1-based, in the stage) gave ``value`` at ``image``."""
        better = value < self.lowest
        self.lowest = min(self.lowest, value)
        if self.keep == "last" or better:
            self.step = step
            if self.image is None:
                self.image = image.detach().clone()
            else:
                self.image.copy_(image.detach())


def _optimizer(policy: Policy, params: Sequence[Tensor], num_steps: int) -> torch.optim.Optimizer:
    """A fresh optimiser over ``params``; L-BFGS may spend the whole budget in one ``step``."""
    if policy.optimizer == "adam":
        return torch.optim.Adam(params, lr=policy.learning_rate)
    return torch.optim.LBFGS(
        params, lr=1.0, max_iter=num_steps, max_eval=num_steps,
        tolerance_grad=0.0, tolerance_change=0.0, history_size=policy.lbfgs_history,
        line_search_fn="strong_wolfe" if policy.line_search else None,
    )


class _Stage:
    """One call of :func:`drive`: the closure the optimiser calls, and the loops around it."""

    def __init__(self, run: Loop | Run, params: list[Tensor], num_steps: int,
                 evaluate: Callable[[], Evaluation], image_of: Callable[[], Tensor]) -> None:
        self.run, self.params, self.num_steps = run, params, num_steps
        self.evaluate, self.image_of = evaluate, image_of
        self.policy = run.policy
        self.offset = len(run.history.get("total", ()))
        self.evals = 0
        self.kept = _Kept(self.policy.keep)
        self.last_seconds = 0.0
        self.optimizer = _optimizer(self.policy, params, num_steps)

    def closure(self) -> float:
        """One evaluation: clamp, evaluate (fills the leaves' grads), check, keep and record."""
        if self.evals >= self.num_steps:
            raise _BudgetSpent
        self.optimizer.zero_grad(set_to_none=True)
        if self.policy.clamp:
            with torch.no_grad():
                for p in self.params:
                    p.clamp_(0.0, 1.0)
        evaluation = self.evaluate()
        value = evaluation.losses["total"]
        if not math.isfinite(value):
            raise NonFiniteLoss(self.offset + self.evals + 1, value)
        self.evals += 1
        self.run.evaluations += 1
        image = evaluation.image if evaluation.image is not None else self.image_of()
        self.kept.offer(self.evals, value, image)
        self.record(evaluation, image)
        return value

    def record(self, evaluation: Evaluation, image: Tensor) -> None:
        """History, progress bar and callback for one finite evaluation at ``image`` ``[1, 3, H, W]``."""
        run, history, losses = self.run, self.run.history, evaluation.losses
        for n, v in evaluation.style_layers.items():
            history.setdefault(f"style/{n}", []).append(v)
        for k, v in losses.items():
            history.setdefault(k, []).append(v)
        if "size" in history:
            history["size"].append(float(max(image.shape[-2:])))
        elapsed = time.perf_counter() - run.start
        seconds = elapsed - self.last_seconds if run.step_seconds else elapsed
        self.last_seconds = elapsed
        history.setdefault("seconds", []).append(seconds)
        run.bar.update(1)
        if run.evaluations % 10 == 0 or run.evaluations == run.total_steps:
            run.bar.set_postfix(loss=f"{losses['total']:.3g}", refresh=False)
        if run.callback is not None:
            run.callback(StepInfo(run.evaluations, run.total_steps, losses, image.detach(), seconds))

    def optimise(self) -> None:
        """Spend the budget. One L-BFGS ``step`` runs until it is spent, or returns early when its
        line search finds no descent along a stale curvature estimate: then restart it with an
        empty history (a steepest-descent step first), and stop only when a whole call brings no
        improvement (a true plateau). Adam takes one step per evaluation."""
        try:
            if self.policy.optimizer == "adam":
                for _ in range(self.num_steps):
                    self.optimizer.step(self.closure)
                return
            while self.evals < self.num_steps:
                lowest = self.kept.lowest
                self.optimizer.step(self.closure)
                if not self.kept.lowest < lowest:
                    break
                self.optimizer = _optimizer(self.policy, self.params, self.num_steps)
        except _BudgetSpent:
            pass

    def kept_step(self) -> int:
        return self.offset + self.kept.step if self.kept.step else 0


def drive(
    run: Loop | Run,
    x: Tensor | Sequence[Tensor],
    init_img: Tensor,
    num_steps: int,
    evaluate: Callable[[], Evaluation],
    *,
    image_of: Callable[[], Tensor] | None = None,
) -> Stage:
    """Optimise the leaf ``x`` (``[1, 3, H, W]``, or a list of leaves) for ``num_steps`` evaluations.

    ``evaluate()`` computes the loss at the leaves and fills their ``.grad`` (one forward and
    backward pass, the tiled passes of :mod:`nstlib.scale.tiling`, or random views of a texture);
    for a non-finite loss it may skip the backward pass. ``image_of()`` gives the image
    ``[1, 3, H, W]`` the leaves stand for (default: the first leaf), unless the evaluation names
    it. ``init_img`` ``[1, 3, H, W]`` is returned if no evaluation was finite.

    ``run.policy.keep`` says what the stage returns: ``"best"``, the lowest-loss image evaluated;
    ``"last"``, the state after the final update (``done``) or the last finite evaluation
    (stopped early). A non-finite loss or Ctrl-C stops the stage with that image, the status and
    a one-line message (:class:`Ending`).
    """
    params = [x] if isinstance(x, Tensor) else list(x)
    stage = _Stage(run, params, num_steps, evaluate, image_of or (lambda: params[0]))
    with Ending() as ending:
        stage.optimise()
    kept = stage.kept
    if ending.status == DONE and kept.keep == "last" and kept.step:
        with torch.no_grad():
            image = stage.image_of().detach()
    else:
        image = kept.image if kept.image is not None and kept.step else init_img.detach()
    what = "best" if kept.keep == "best" else "last good"
    message = ending.message(run.evaluations, f"kept the {what} image (step {stage.kept_step()})",
                             ". Lower the weights or the learning rate.")
    return Stage(image.clamp(0.0, 1.0), stage.kept_step(), ending.status, message)
