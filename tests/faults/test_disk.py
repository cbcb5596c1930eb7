"""Item 3 of issue 21: a finished run is never lost at the last step.

Before any work, every output folder must really take a new file (a probe, which also catches
what ``os.access`` cannot see as root: read-only mounts, immutable folders). When the final write
fails anyway (a full disk, a folder made read-only during the run), the result goes to a rescue
file in the working folder, named in one line, exit 1. A full disk is simulated by making the
creation of temporary files in one folder fail (no small tmpfs is available to fill).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from PIL import Image

import nstlib.core.files as files
from faults.kit import QUICK, leftovers, snapshot
from nstlib.feedforward.models import pretrained_models

REAL_OPEN_TEMP = files.open_temp


def _fail_in(folder: Path, code: int = errno.ENOSPC, after: int = 0):
    """An ``open_temp`` that fails with ``code`` in ``folder`` once ``after`` files were made there."""
    made = {"n": 0}

    def open_temp(where, name, suffix=".tmp"):
        if Path(where).resolve() == folder.resolve() and name != "probe":
            made["n"] += 1
            if made["n"] > after:
                raise OSError(code, "No space left on device" if code == errno.ENOSPC else "Read-only file system")
        return REAL_OPEN_TEMP(where, name, suffix)

    return open_temp


def test_a_file_where_the_output_folder_should_be_is_refused_before_work(cli, pair, tmp_path):
    content, style = pair
    (tmp_path / "blocker").write_text("a file, not a folder")
    before = snapshot(tmp_path)
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "blocker/out.png")
    assert result.code == 2
    result.one_line("blocker")
    assert snapshot(tmp_path) == before and "stylizing" not in result.out


def test_a_folder_that_takes_no_new_file_is_refused_before_work(cli, pair, tmp_path, monkeypatch):
    content, style = pair
    (tmp_path / "ro").mkdir()

    def refuse(where, name, suffix=".tmp"):
        if Path(where).resolve() == (tmp_path / "ro").resolve():
            raise OSError(errno.EROFS, "Read-only file system")
        return REAL_OPEN_TEMP(where, name, suffix)

    monkeypatch.setattr(files, "open_temp", refuse)
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "ro/out.png")
    assert result.code == 2
    result.one_line("ro", "does not take new files", "Read-only file system")
    assert "stylizing" not in result.out and list((tmp_path / "ro").iterdir()) == []


@pytest.mark.parametrize("extra", [[], ["--plot", "full/loss.png", "--history", "full/h.json"]])
def test_a_full_disk_at_the_final_write_rescues_the_result(extra, cli, pair, tmp_path, monkeypatch):
    content, style = pair
    (tmp_path / "full").mkdir()
    monkeypatch.setattr(files, "open_temp", _fail_in(tmp_path / "full"))
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "full/out.png", *extra)
    assert result.code == 1, result.err
    line = result.one_line("full/out.png", "No space left on device", "out.rescued.png")
    assert Image.open(tmp_path / "out.rescued.png").size == (32, 27), line
    if extra:
        assert (tmp_path / "loss.rescued.png").is_file() and (tmp_path / "h.rescued.json").is_file()
    assert list((tmp_path / "full").iterdir()) == [] and leftovers(tmp_path) == []


def test_a_rescue_never_replaces_a_file(cli, pair, tmp_path, monkeypatch):
    content, style = pair
    (tmp_path / "full").mkdir()
    (tmp_path / "out.rescued.png").write_bytes(b"an earlier rescue")
    monkeypatch.setattr(files, "open_temp", _fail_in(tmp_path / "full"))
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "full/out.png")
    assert result.code == 1
    result.one_line("out.rescued-2.png")
    assert (tmp_path / "out.rescued.png").read_bytes() == b"an earlier rescue"
    assert (tmp_path / "out.rescued-2.png").is_file()


def test_when_the_rescue_fails_too_the_line_says_the_result_is_lost(cli, pair, tmp_path, monkeypatch):
    content, style = pair
    (tmp_path / "full").mkdir()
    inner = _fail_in(tmp_path / "full")
    outer = _fail_in(tmp_path)

    def both(where, name, suffix=".tmp"):
        in_full = Path(where).resolve() == (tmp_path / "full").resolve()
        return (inner if in_full else outer)(where, name, suffix)

    monkeypatch.setattr(files, "open_temp", both)
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "full/out.png")
    assert result.code == 1
    result.one_line("full/out.png", "lost")
    assert leftovers(tmp_path) == []


def test_fast_rescues_its_output(cli, pair, tmp_path, monkeypatch):
    (tmp_path / "full").mkdir()
    monkeypatch.setattr(files, "open_temp", _fail_in(tmp_path / "full"))
    result = cli("fast", "--model", pretrained_models()["fast_brush_strokes"], "--content_path", pair[0],
                 "--output_path", "full/o.jpg", "--image_size", "32", "--device", "cpu")
    assert result.code == 1
    result.one_line("full/o.jpg", "o.rescued.jpg")
    assert Image.open(tmp_path / "o.rescued.jpg").format == "JPEG"


def test_train_rescues_its_export(cli, pair, tmp_path, monkeypatch):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):
        (data / f"{i}.png").write_bytes(pair[0].read_bytes())
    (tmp_path / "full").mkdir()
    monkeypatch.setattr(files, "open_temp", _fail_in(tmp_path / "full"))
    result = cli("train", "fast", "--data", data, "--style_path", pair[1], "--checkpoint", "ck.pt",
                 "--export", "full/m.pt", "--iterations", "1", "--crop", "32", "--batch_size", "1",
                 "--width", "4", "--device", "cpu", "-q")
    assert result.code == 1, result.err
    result.one_line("full/m.pt", "m.rescued.pt")
    assert (tmp_path / "m.rescued.pt").is_file() and (tmp_path / "ck.pt").is_file()


def test_video_rescues_its_clip_and_gif(cli, tmp_path, monkeypatch):
    pytest.importorskip("av")
    from nstlib.core.assets import video_clip

    (tmp_path / "full").mkdir()
    monkeypatch.setattr(files, "open_temp", _fail_in(tmp_path / "full"))
    result = cli("video", "--video_path", video_clip(), "--method", "fast", "--max_frames", "2", "--image_size", "32",
                 "--output_path", "full/o.mp4", "--gif", "full/o.gif", "--frames_dir", "frames", "--device", "cpu", "-q")
    assert result.code == 1, result.err
    result.one_line("full/o.mp4", "o.rescued.mp4", "full/o.gif", "o.rescued.gif")
    assert (tmp_path / "o.rescued.mp4").stat().st_size > 0 and (tmp_path / "o.rescued.gif").stat().st_size > 0
    assert leftovers(tmp_path) == []


def test_mesh_rescues_every_file(cli, tmp_path, monkeypatch):
    pytest.importorskip("trimesh")
    (tmp_path / "full").mkdir()
    monkeypatch.setattr(files, "open_temp", _fail_in(tmp_path / "full"))
    result = cli("mesh", "--output", "full/m.glb", "--num_steps", "1", "--texture_size", "16", "--render_size", "16",
                 "--views", "1", "--frames", "2", "--device", "cpu", "-q")
    assert result.code == 1, result.err
    result.one_line("m.rescued.glb", "m.rescued.obj", "m.rescued.gif")
    assert {p.name for p in tmp_path.glob("m.rescued.*")} == {f"m.rescued.{s}" for s in ("glb", "obj", "mtl", "png", "gif")}
    assert list((tmp_path / "full").iterdir()) == [] and leftovers(tmp_path) == []
