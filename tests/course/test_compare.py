"""nstlib.course.compare: snapshot callbacks, side-by-side runs, summaries and the measured conclusion."""

import math

import pytest
import torch
from matplotlib.figure import Figure

from nstlib.course import compare
from nstlib.core.config import Config
from nstlib.core.optimize import StepInfo
from nstlib.gatys.transfer import Result


def fake_result(totals, seconds_per_step=0.1, name_config=None):
    """A Result with a given total-loss history (no optimisation run)."""
    n = len(totals)
    history = {
        "total": list(totals),
        "content": [0.0] * n,
        "style": list(totals),
        "tv": [0.0] * n,
        "seconds": [seconds_per_step * (i + 1) for i in range(n)],
    }
    best = min(range(n), key=lambda i: totals[i]) + 1
    return Result(image=torch.zeros(1, 3, 4, 4), history=history, evaluations=n,
                  seconds=seconds_per_step * n, config=name_config or Config(), best_step=best)


@pytest.fixture(scope="module")
def pair():
    y, x = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    content = torch.stack([x, y, 0.5 * (x + y)]).unsqueeze(0)
    stripes = (torch.sin(x * 30 + y * 8) > 0).float()
    style = torch.stack([stripes, 0.2 + 0.6 * (1 - stripes), 0.3 * stripes + 0.5]).unsqueeze(0)
    return content, style


def test_snapshot_steps_are_geometric_unique_and_bounded():
    assert compare.snapshot_steps(100, 5) == [1, 3, 10, 32, 100]
    assert compare.snapshot_steps(1, 6) == [1]
    assert compare.snapshot_steps(4, 6) == [1, 2, 3, 4]
    assert compare.snapshot_steps(300, 1) == [300]
    for n in (2, 7, 60, 300):
        s = compare.snapshot_steps(n, 6)
        assert s[0] == 1 and s[-1] == n and s == sorted(set(s)) and len(s) <= 6
    with pytest.raises(ValueError):
        compare.snapshot_steps(0)


def test_snapshots_keep_copies_at_the_chosen_steps_and_chain_calls_all():
    snaps = compare.Snapshots([3, 1])
    seen = []
    cb = compare.chain(snaps, None, lambda info: seen.append(info.step))
    x = torch.zeros(1, 3, 4, 4)
    for step in range(1, 5):
        x.fill_(step / 10)
        cb(StepInfo(step, 4, {"total": 1.0}, x, 0.0))
    assert seen == [1, 2, 3, 4]
    assert sorted(snaps.images) == [1, 3]
    assert snaps.images[1].mean().item() == pytest.approx(0.1)  # a copy, not a view of x
    assert snaps.titles() == ["step 1", "step 3"]
    assert [t.shape for t in snaps.ordered()] == [torch.Size([1, 3, 4, 4])] * 2


def test_start_image_for_each_init(pair):
    content, style = pair
    style = style[..., :8, :]  # another shape: stretched to the content's
    assert torch.equal(compare.start_image(Config(init="content"), content, style), content)
    noise = compare.start_image(Config(init="noise", seed=3), content, style)
    assert noise.shape == content.shape and 0 <= noise.min() and noise.max() <= 1
    assert torch.equal(noise, compare.start_image(Config(init="noise", seed=3), content, style))
    stretched = compare.start_image(Config(init="style"), content, style)
    assert stretched.shape == content.shape
    assert stretched.mean().item() == pytest.approx(style.mean().item(), abs=0.05)


def test_best_so_far_and_steps_to_reach():
    assert compare.best_so_far([5, 3, 4, 1, 2]) == [5, 3, 3, 1, 1]
    h = {"total": [5.0, 3.0, 4.0, 1.0]}
    assert compare.steps_to_reach(h, 3.0) == 2
    assert compare.steps_to_reach(h, 0.5) is None
    h["seconds"] = [0.1, 0.2, 0.3, 0.4]
    assert compare.loss_at_time(h, 0.35) == 3.0 and compare.loss_at_time(h, 1.0) == 1.0
    assert compare.loss_at_time(h, 0.05) is None


def test_summarize_and_table():
    results = {"ref": fake_result([10, 4, 2, 1]), "slow": fake_result([10, 8, 6, 4], 0.2)}
    rows = compare.summarize(results, "ref")
    assert [r.name for r in rows] == ["ref", "slow"]
    assert rows[0].ratio == 1 and rows[1].ratio == pytest.approx(4.0)
    assert rows[1].steps_to_reference is None and rows[0].steps_to_reference == 4
    assert rows[1].seconds_per_step == pytest.approx(0.2)
    table = compare.runs_table(rows, "ref")
    lines = table.splitlines()
    assert len(lines) == 4 and "slow" in lines[3] and "4.00" in lines[3] and "never" in lines[3]
    assert len({len(line) for line in lines}) == 1  # columns line up
    with pytest.raises(KeyError):
        compare.summarize(results, "missing")


def test_conclusion_states_the_measured_numbers_either_way():
    lbfgs = fake_result([100, 10, 2, 1])
    adam = fake_result([100, 50, 20, 5])
    text = compare.conclusion({"L-BFGS": lbfgs, "Adam": adam}, "L-BFGS")
    three = compare.conclusion({"L-BFGS": lbfgs, "Adam": adam, "SGD": fake_result([100, 90, 80, 30])}, "L-BFGS")
    assert "best other run (Adam) ended at 5" in three and "worst (SGD) at 30, 30.0× as high" in three
    assert "holds here" in text and "ended at 5, 5.0× as high" in text and "evaluation 3 of 4" in text
    assert "about the same wall time" in text
    assert "same wall time (0.4 s), the two stood at 1 (L-BFGS) and 5 (Adam)." in text
    text = compare.conclusion({"L-BFGS": adam, "Adam": fake_result([100, 1, 1, 1], 0.5)}, "L-BFGS")
    assert "does not hold" in text and "ended at 5, 5.0× as high" in text and "evaluation 2 of 4" in text
    assert "the others were 5.0× slower" in text
    assert "same wall time" not in text  # Adam's first evaluation came after L-BFGS's last
    with pytest.raises(ValueError):
        compare.conclusion({"L-BFGS": lbfgs}, "L-BFGS")


def test_plot_runs_log_axis_labels_and_running_min():
    results = {"a": fake_result([10, 12, 3]), "b": fake_result([10, 9, 8])}
    fig = compare.plot_runs(results, x="seconds", title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "wall time (s)" and ax.get_title() == "t"
    assert list(ax.lines[0].get_ydata()) == [10, 10, 3]
    assert list(ax.lines[0].get_xdata()) == pytest.approx([0.1, 0.2, 0.3])
    fig = compare.plot_runs(results, running_min=False)
    assert list(fig.axes[0].lines[0].get_ydata()) == [10, 12, 3]
    assert "loss evaluation" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError):
        compare.plot_runs(results, x="minutes")



def test_run_variants_same_budget_and_loss_falls(pair, one_thread):
    content, style = pair
    config = Config(weights="random", num_steps=4, device="cpu", style_layers=("conv1_1", "conv2_1"),
                    content_layers=("conv2_1",))
    done = []
    results = compare.run_variants(
        content, style, config,
        {"lbfgs": {}, "adam": {"optimizer": "adam", "learning_rate": 0.05}, "noise": {"init": "noise"}},
        on_done=lambda name, r: done.append(name),
    )
    assert list(results) == done == ["lbfgs", "adam", "noise"]
    assert {len(r.history["total"]) for r in results.values()} == {4}
    for r in results.values():
        assert r.final_loss < r.history["total"][0]
        assert r.image.shape == content.shape
    # the same start gives the same first loss, whatever the optimiser
    assert results["adam"].history["total"][0] == pytest.approx(results["lbfgs"].history["total"][0])
    assert math.isfinite(compare.summarize(results, "lbfgs")[1].ratio)
