"""The loss curves of a run: one line per positive term, on a log axis, against steps or seconds."""

from __future__ import annotations

from matplotlib.figure import Figure

from nstlib.gatys.plots import plot_history

HISTORY = {
    "total": [10.0, 5.0, 2.0],
    "content": [1.0, 2.0, 1.5],
    "style": [9.0, 3.0, 0.5],
    "tv": [0.0, 0.0, 0.0],  # all zero: not drawable on a log scale, left out
    "style/conv1_1": [4.0, 1.0, 0.2],
    "seconds": [0.5, 1.0, 2.0],
}


def test_one_line_per_positive_term_on_a_log_scale():
    fig = plot_history(HISTORY)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["total", "content", "style"]
    assert list(ax.get_lines()[2].get_ydata()) == [9.0, 3.0, 0.5]
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert ax.get_yscale() == "log" and ax.get_xlabel().startswith("loss evaluation") and ax.get_title()


def test_per_layer_terms_and_wall_time_on_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_history(HISTORY, ax, x="seconds", per_layer=True, label_prefix="run A: ") is fig
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["run A: total", "run A: content", "run A: style", "run A: style/conv1_1"]
    assert list(ax.get_lines()[0].get_xdata()) == [0.5, 1.0, 2.0]
    assert ax.get_xlabel() == "wall time (s)"
