"""Item 2 (and 8's read-only output) of issue 21: no output replaces an input or another output.

Every path a command writes is checked against every path it reads and against the other paths
it writes, before any work starts: exit 2, one line naming both, every file unchanged.
"""

from __future__ import annotations

import os
import shutil

import pytest

from faults.kit import QUICK, snapshot
from nstlib.core.assets import video_clip
from nstlib.feedforward.models import pretrained_models


def _refused(result, tmp_path, before, *needles):
    assert result.code == 2, (result.code, result.err)
    result.one_line(*needles)
    assert snapshot(tmp_path) == before
    assert "stylizing" not in result.out and "training" not in result.out  # nothing started


@pytest.mark.parametrize("flags,needles", [
    (["--output_path", "out.png", "--plot", "out.png"], ["--plot", "--output_path"]),
    (["--output_path", "out.png", "--plot", "./sub/../out.png"], ["--plot", "--output_path"]),
    (["--output_path", "out.png", "--plot", "content.png"], ["content.png", "input"]),
    (["--output_path", "out.png", "--plot", "style.png"], ["style.png", "input"]),
    (["--output_path", "out.png", "--plot", "h.svg", "--history", "h.json"], []),
    (["--output_path", "content.png"], ["content.png", "input"]),
])
def test_gatys_outputs_against_inputs_and_each_other(flags, needles, cli, pair, tmp_path):
    content, style = pair
    if "./sub/../out.png" in flags:
        (tmp_path / "sub").mkdir()
    before = snapshot(tmp_path)
    result = cli("--content_path", content, "--style_path", style, *QUICK, *flags)
    if not needles:  # the control: distinct outputs are all written
        assert result.code == 0, result.err
        assert {"out.png", "h.svg", "h.json"} <= set(snapshot(tmp_path))
        return
    _refused(result, tmp_path, before, *needles)


def test_gatys_output_hard_linked_to_the_content_is_refused(cli, pair, tmp_path):
    content, style = pair
    os.link(content, tmp_path / "linked.png")
    before = snapshot(tmp_path)
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "linked.png")
    _refused(result, tmp_path, before, "linked.png", "input")


def test_a_read_only_output_is_refused_not_replaced(cli, pair, tmp_path):
    content, style = pair
    (tmp_path / "old.png").write_bytes(content.read_bytes())
    (tmp_path / "old.png").chmod(0o444)
    before = snapshot(tmp_path)
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "old.png")
    _refused(result, tmp_path, before, "old.png", "read-only")


@pytest.fixture()
def photos(tmp_path, pair):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):
        shutil.copy(pair[0], data / f"{i}.png")
    return data


@pytest.mark.parametrize("flags,needles", [
    (["--plot", "photos/0.png"], ["photos/0.png", "input"]),
    (["--plot", "style.png"], ["style.png", "input"]),
    (["--export", "ck.pt"], ["--export", "--checkpoint"]),
    (["--plot", "ck.png", "--export", "ck.pt"], ["--export", "--checkpoint"]),
])
def test_train_outputs_against_photos_style_and_each_other(flags, needles, cli, photos, pair, tmp_path):
    before = snapshot(tmp_path)
    result = cli("train", "fast", "--data", photos, "--style_path", pair[1], "--checkpoint", "ck.pt",
                 "--iterations", "1", "--crop", "32", "--batch_size", "1", "--device", "cpu", "-q", *flags)
    _refused(result, tmp_path, before, *needles)


def test_train_does_not_export_over_its_starting_model(cli, photos, tmp_path):
    start = tmp_path / "m.pt"
    shutil.copy(pretrained_models()["fast_brush_strokes"], start)
    before = snapshot(tmp_path)
    result = cli("train", "fast", "--data", photos, "--init_model", start, "--export", start, "--checkpoint", "ck.pt",
                 "--iterations", "1", "--crop", "32", "--batch_size", "1", "--device", "cpu", "-q")
    _refused(result, tmp_path, before, "m.pt", "input")


def test_fast_does_not_write_over_its_model(cli, pair, tmp_path):
    """A checkpoint may have any name; one called like an image must still not become the output."""
    model = tmp_path / "model.png"
    shutil.copy(pretrained_models()["fast_brush_strokes"], model)
    before = snapshot(tmp_path)
    result = cli("fast", "--model", model, "--content_path", pair[0], "--output_path", model,
                 "--image_size", "32", "--device", "cpu")
    _refused(result, tmp_path, before, "model.png", "input")


def test_mesh_outputs_beside_the_style_image_are_refused(cli, tmp_path, pair):
    """``--output x.glb`` writes ``x.png`` (the texture) too: never over ``--style_path x.png``."""
    pytest.importorskip("trimesh")
    shutil.copy(pair[1], tmp_path / "x.png")
    before = snapshot(tmp_path)
    result = cli("mesh", "--style_path", "x.png", "--output", "x.glb", "--num_steps", "1", "--device", "cpu", "-q")
    _refused(result, tmp_path, before, "x.png", "input")


def test_video_gif_and_output_are_checked_against_the_model(cli, tmp_path, pair):
    pytest.importorskip("av")
    model = tmp_path / "m.gif"
    shutil.copy(pretrained_models()["fast_brush_strokes"], model)
    before = snapshot(tmp_path)
    result = cli("video", "--video_path", video_clip(), "--method", "fast", "--model", model, "--gif", model, "--output_path", "o.mp4",
                 "--max_frames", "2", "--device", "cpu", "-q")
    _refused(result, tmp_path, before, "m.gif", "input")
