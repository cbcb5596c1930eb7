"""The method comparison: one fixed evaluator, timings, the table and the grid."""

from __future__ import annotations

import pytest
import torch

from nstlib.feedforward.fast import TransformerNet
from nstlib.core.losses import gram_matrix
from nstlib.course.methods import compare_methods, evaluate, methods_table, plot_grid, plot_tradeoff, time_call
from nstlib.feedforward.training import save_checkpoint, CHECKPOINT_FORMAT
from nstlib.feedforward.models import load_model
from nstlib.core.features import get_extractor


def pair():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 32, 40, generator=g), torch.rand(1, 3, 36, 36, generator=g)


def test_evaluate_is_the_gatys_losses_by_hand():
    content, style = pair()
    assert evaluate(content, content, style)["content"] == 0.0
    image = (content * 0.5 + 0.25)
    got = evaluate(image, content, style)
    net = get_extractor(("conv4_2",), "caffe", "max", "cpu", 0)
    ref_c = float(((net(image)["conv4_2"] - net(content)["conv4_2"]) ** 2).mean())
    styles = [f"conv{b}_1" for b in range(1, 6)]
    net = get_extractor(tuple(styles), "caffe", "max", "cpu", 0)
    fi, fs = net(image), net(style)
    ref_s = sum(float(((gram_matrix(fi[n]) - gram_matrix(fs[n])) ** 2).mean()) for n in styles)
    assert got["content"] == pytest.approx(ref_c, rel=1e-5)
    assert got["style"] == pytest.approx(ref_s, rel=1e-5)
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate(image[..., :30], content, style)


def test_time_call_takes_the_median_and_returns_the_result():
    calls = []
    seconds, out = time_call(lambda: calls.append(1) or len(calls), repeats=3, warmup=2)
    assert out == 5 and len(calls) == 5 and seconds >= 0


def test_compare_methods_table_and_grid(tmp_path):
    content, style = pair()
    torch.manual_seed(0)
    net = TransformerNet(width=4, n_residual=1)
    history = {"total": [3.0, 2.0, 1.0], "seconds": [10.0, 20.0, 30.0]}
    path = save_checkpoint(tmp_path / "f.pt", {"format": CHECKPOINT_FORMAT, "kind": "fast", "arch": net.arch,
                                                "meta": {}, "state_dict": net.state_dict(), "step": 3,
                                                "history": history})
    rows = compare_methods(content, style, {"fast": load_model(path, "cpu")}, gatys_steps=3, repeats=2)
    assert [r.method for r in rows] == ["gatys", "fast"]
    gatys, fast = rows
    assert (gatys.train_steps, fast.train_steps, fast.train_seconds) == (0, 3, 60.0)
    assert gatys.size == fast.size == 40 and fast.image.shape == content.shape
    assert gatys.style < evaluate(content, content, style)["style"]  # the optimisation lowered it
    table = methods_table(rows)
    assert table.count("\n") == 3 and "| fast | 40 | cpu |" in table and "60 s (3 steps)" in table
    fig = plot_grid(rows, content, style)
    assert len(fig.axes) == 4 and "fast" in fig.axes[3].get_title()
    ax = plot_tradeoff(rows).axes[0]
    assert ax.get_xscale() == "log" and "seconds per image" in ax.get_xlabel()
    assert [line.get_label() for line in ax.get_lines()] == ["gatys", "fast"]
