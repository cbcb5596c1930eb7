"""Figures of notebook 18 and the 3D benchmark's bookkeeping, at tiny sizes."""

from __future__ import annotations

import math
import re

import pytest
import torch

from nstlib.course import meshplots
from nstlib.mesh.meshes import torus
from nstlib.bench.mesh import _pairs, evaluate, format_report, training_cameras
from nstlib.mesh.render import orbit_camera
from nstlib.mesh.texture import TextureConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def test_pairs_are_45_and_90_degrees_apart():
    assert _pairs(8, 45.0) == [(k, (k + 1) % 8) for k in range(8)]
    assert _pairs(8, 90.0) == [(k, (k + 2) % 8) for k in range(8)]
    eyes = [torch.tensor(c.eye) for c in training_cameras(8)]
    cos = float(eyes[0] @ eyes[1] / (eyes[0].norm() * eyes[1].norm()))
    # 45 degrees of azimuth at 20 degrees of elevation
    assert cos == pytest.approx(math.cos(math.radians(20)) ** 2 * math.cos(math.radians(45)) + math.sin(math.radians(20)) ** 2)


def test_evaluate_reports_every_method_and_the_texture_is_more_consistent():
    style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    config = TextureConfig(texture_size=32, render_size=32, views=2, pyramid=2, num_steps=4, weights="random",
                           supersample=1, device="cpu")
    report = evaluate(torus(24, 12), style, config, baseline_steps=6, adain=False, progress=False)
    assert set(report.methods) == {"texture", "per-view Gatys"}
    ours, theirs = report.methods["texture"], report.methods["per-view Gatys"]
    assert ours.short < theirs.short and ours.long < theirs.long
    assert report.ratio(pair="short") == pytest.approx(ours.short / theirs.short)
    assert math.isnan(theirs.held_out_style) and ours.held_out_style > 0
    table = format_report(report)
    assert "| texture |" in table and "—" in table
    assert set(report.to_json()["methods"]) == set(report.methods)


def test_figures_have_titles_and_labels(tmp_path):
    ring = torus(16, 8)
    texture = torch.full((1, 3, 16, 16), 0.5)
    fig = meshplots.plot_fragments(ring, texture, orbit_camera(0, 30, 3.0), size=24)
    assert fig._suptitle is not None and len(fig.axes) == 5  # four panels and the depth colour bar
    assert all(ax.get_xlabel() == "x (px)" for ax in fig.axes[:4] if ax.get_label() != "<colorbar>")
    fig = meshplots.plot_consistency({"a": {"45°": 1e-3, "90°": 2e-3}, "b": {"45°": 1e-2, "90°": 3e-2}})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "MSE" in ax.get_ylabel() and ax.get_title()
    frames = torch.rand(3, 3, 16, 16)
    assert meshplots.gif_html(frames).startswith('<img src="data:image/gif;base64,')
    cams = [orbit_camera(0, 20, 3.0), orbit_camera(45, 20, 3.0)]
    fig = meshplots.plot_reprojection(ring, {"x": torch.rand(2, 3, 24, 24)}, cams, (0, 1))
    assert "difference" in fig.axes[2].get_title()


def test_viewer_writes_a_self_contained_page(tmp_path):
    pytest.importorskip("trimesh")
    html = meshplots.viewer_html(torus(12, 6), torch.full((1, 3, 8, 8), 0.5), tmp_path / "v.html")
    page = (tmp_path / "v.html").read_text()
    assert html.startswith("<div><iframe srcdoc=") and "THREE" in page
    # three.js is inlined (no <script src=...> to fetch) and the mesh travels inside the page
    assert re.findall(r"<script[^>]*>", page) == ["<script>"] and "base64" in page
    assert len(page) > 300_000
