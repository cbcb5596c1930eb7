"""The optimisation driver (nstlib.core.optimize): budget, kept image, history, statuses, messages."""

from __future__ import annotations

import math
import time

import pytest
import torch

from nstlib.core.optimize import (DONE, INTERRUPTED, NONFINITE, Ending, Evaluation, Loop, NonFiniteLoss, Policy,
                                  drive)


class Bar:
    """A stand-in for tqdm: counts updates."""

    def __init__(self) -> None:
        self.n, self.postfix = 0, None

    def update(self, k: int) -> None:
        self.n += k

    def set_postfix(self, **kw) -> None:
        self.postfix = kw


def loop(policy: Policy, total: int, callback=None, **kw) -> Loop:
    return Loop(policy, total, callback, Bar(), time.perf_counter(), {}, **kw)


TARGET = torch.tensor([0.2, 0.9, 0.5, 0.1, 0.7, 0.3]).view(1, 3, 1, 2)


def quadratic(x: torch.Tensor, seen: list | None = None):
    """evaluate() for 0.5 ‖x − TARGET‖² (Hessian I), recording the points it is evaluated at."""
    def evaluate() -> Evaluation:
        if seen is not None:
            seen.append(x.detach().clone())
        loss = 0.5 * (x - TARGET).square().sum()
        loss.backward()
        return Evaluation({"total": loss.item(), "content": loss.item()}, {"conv1_1": 2 * loss.item()})
    return evaluate


def adam_by_hand(x0: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """Adam (β = 0.9, 0.999, ε = 1e-8) on the quadratic, written out."""
    x, m, v = x0.double().clone(), torch.zeros_like(x0, dtype=torch.float64), torch.zeros_like(x0, dtype=torch.float64)
    for t in range(1, steps + 1):
        g = x - TARGET.double()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - lr * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8)
    return x.float()


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_the_budget_is_spent_exactly_and_the_history_has_one_row_per_evaluation(optimizer):
    x0 = torch.full((1, 3, 1, 2), 0.5)
    x = x0.clone().requires_grad_(True)
    run = loop(Policy(optimizer, 0.01, line_search=True), 7)
    # a far target keeps L-BFGS from reaching it (and stopping on a plateau) within the budget
    far = torch.linspace(-50, 50, 6).view(1, 3, 1, 2)

    def evaluate() -> Evaluation:
        loss = (x - far).abs().sum() + 0.01 * x.square().sum()
        loss.backward()
        return Evaluation({"total": loss.item()}, {"conv1_1": 1.0})

    stage = drive(run, x, x0, 7, evaluate)
    assert stage.status == DONE and stage.message == ""
    assert run.evaluations == 7 and run.bar.n == 7
    assert {k: len(v) for k, v in run.history.items()} == {"total": 7, "style/conv1_1": 7, "seconds": 7}
    assert run.history["seconds"] == sorted(run.history["seconds"])  # time since the start


def test_adam_matches_adam_written_out_and_keep_last_returns_the_final_state():
    x0 = torch.tensor([0.9, 0.1, 0.4, 0.6, 0.0, 1.0]).view(1, 3, 1, 2)
    x = x0.clone().requires_grad_(True)
    seen: list[torch.Tensor] = []
    stage = drive(loop(Policy("adam", 0.05, keep="last", clamp=False), 6), x, x0, 6, quadratic(x, seen))
    torch.testing.assert_close(stage.image, adam_by_hand(x0, 6, 0.05), atol=1e-6, rtol=0)
    # the evaluations saw the points before each update
    torch.testing.assert_close(seen[3], adam_by_hand(x0, 3, 0.05), atol=1e-6, rtol=0)
    assert stage.best_step == 6


def test_lbfgs_on_a_quadratic_reaches_the_minimum_and_stops_on_the_plateau():
    """Without line search, L-BFGS's first step is −g·min(1, 1/‖g‖₁); its second, with the Hessian
    I learnt from one (s, y = s) pair, lands on the minimum. Restarts then find no improvement."""
    x0 = torch.full((1, 3, 1, 2), 0.5)
    x = x0.clone().requires_grad_(True)
    seen: list[torch.Tensor] = []
    run = loop(Policy("lbfgs", line_search=False), 50)
    stage = drive(run, x, x0, 50, quadratic(x, seen))
    g0 = x0 - TARGET
    torch.testing.assert_close(seen[1], x0 - g0 * min(1.0, 1.0 / float(g0.abs().sum())))
    torch.testing.assert_close(stage.image, TARGET, atol=1e-6, rtol=0)
    assert run.history["total"][2] < 1e-12  # the third evaluation is at the minimum (up to rounding)
    # restarts stop once a whole L-BFGS call brings no improvement, long before the budget
    assert stage.status == DONE and run.evaluations <= 6 and run.history["total"][-1] == min(run.history["total"])


def scripted(x: torch.Tensor, values: list[float], seen: list):
    """evaluate() returning ``values`` in turn (a constant gradient), recording the points."""
    def evaluate() -> Evaluation:
        seen.append(x.detach().clone())
        x.grad = torch.ones_like(x)
        value = values[len(seen) - 1]
        if isinstance(value, BaseException):
            raise value
        return Evaluation({"total": value}, {})
    return evaluate


@pytest.mark.parametrize("keep", ["best", "last"])
def test_best_or_last_image_is_kept(keep):
    x0 = torch.full((1, 3, 2, 2), 0.9)
    x = x0.clone().requires_grad_(True)
    seen: list[torch.Tensor] = []
    stage = drive(loop(Policy("adam", 0.1, keep=keep), 4), x, x0, 4, scripted(x, [3.0, 1.0, 2.0, 5.0], seen))
    if keep == "best":
        assert stage.best_step == 2 and torch.equal(stage.image, seen[1])
    else:  # the state after the last update, not an evaluated one
        assert stage.best_step == 4 and torch.equal(stage.image, x.detach())
        assert not torch.equal(stage.image, seen[3])


@pytest.mark.parametrize("keep", ["best", "last"])
@pytest.mark.parametrize("stop", ["nonfinite", "interrupt"])
def test_nonfinite_and_ctrl_c_stop_with_the_kept_image_and_one_line(keep, stop):
    x0 = torch.full((1, 3, 2, 2), 0.9)
    x = x0.clone().requires_grad_(True)
    seen: list[torch.Tensor] = []
    fourth = math.nan if stop == "nonfinite" else KeyboardInterrupt()
    run = loop(Policy("adam", 0.1, keep=keep), 10)
    stage = drive(run, x, x0, 10, scripted(x, [3.0, 1.0, 2.0, fourth, 0.0], seen))
    kept = 2 if keep == "best" else 3
    what = "best" if keep == "best" else "last good"
    assert run.evaluations == 3 and len(run.history["total"]) == 3
    assert stage.best_step == kept and torch.equal(stage.image, seen[kept - 1])
    if stop == "nonfinite":
        assert stage.status == NONFINITE
        assert stage.message == (f"the loss became nan at step 4; stopped and kept the {what} image (step {kept}). "
                                 "Lower the weights or the learning rate.")
    else:
        assert stage.status == INTERRUPTED
        assert stage.message == f"interrupted at step 3; kept the {what} image (step {kept})"


def test_a_first_nonfinite_loss_returns_the_starting_image():
    x0 = torch.full((1, 3, 2, 2), 0.25)
    x = x0.clone().requires_grad_(True)
    stage = drive(loop(Policy("adam", 0.1, keep="last"), 3), x, x0, 3, scripted(x, [math.inf], []))
    assert stage.status == NONFINITE and stage.best_step == 0 and torch.equal(stage.image, x0)
    assert "inf at step 1" in stage.message


def test_stages_share_the_budget_history_and_step_numbers():
    x0 = torch.full((1, 3, 1, 2), 0.5)
    run = loop(Policy("adam", 0.05), 5)
    x = x0.clone().requires_grad_(True)
    drive(run, x, x0, 3, quadratic(x))
    y = x.detach().clone().requires_grad_(True)
    calls = []
    run.callback = lambda info: calls.append((info.step, info.num_steps))
    stage = drive(run, y, x0, 2, quadratic(y))
    assert run.evaluations == 5 and len(run.history["total"]) == 5
    assert stage.best_step == 5 and calls == [(4, 5), (5, 5)]


def test_several_leaves_and_an_image_of_them():
    """The texture's case: leaves stand for one image; the driver keeps and reports that image."""
    a = torch.zeros(1, 3, 2, 2, requires_grad=True)
    b = torch.zeros(1, 3, 1, 1, requires_grad=True)
    target = torch.rand(1, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    images = []

    def image_of() -> torch.Tensor:
        return a + b

    def evaluate() -> Evaluation:
        image = image_of()
        loss = (image - target).square().sum()
        loss.backward()
        return Evaluation({"total": loss.item()}, {}, image.detach())

    run = loop(Policy("adam", 0.1, keep="last", clamp=False), 20,
               callback=lambda info: images.append(info.image), step_seconds=True)
    stage = drive(run, [a, b], torch.zeros(1, 3, 2, 2), 20, evaluate, image_of=image_of)
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(stage.image, (a + b).detach().clamp(0, 1))
    assert run.history["total"][-1] < 0.5 * run.history["total"][0] and len(images) == 20
    assert all(s >= 0 for s in run.history["seconds"])  # per step, not cumulative


def test_ending_classifies_and_words_how_a_loop_ended():
    with Ending() as ending:
        pass
    assert ending.status == DONE and ending.message(3, "kept x") == ""
    with Ending() as ending:
        raise NonFiniteLoss(5, math.nan)
    assert ending.status == NONFINITE and ending.step == 5
    assert ending.message(4, "kept x", " (advice)") == "the loss became nan at step 5; stopped and kept x (advice)"
    with Ending() as ending:
        raise KeyboardInterrupt
    assert ending.status == INTERRUPTED and ending.message(4, "kept x") == "interrupted at step 4; kept x"
    with pytest.raises(RuntimeError), Ending():
        raise RuntimeError("not ours")


def test_policy_refuses_unknown_names():
    with pytest.raises(ValueError):
        Policy("sgd")
    with pytest.raises(ValueError):
        Policy(keep="median")
