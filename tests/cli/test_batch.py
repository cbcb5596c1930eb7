"""``python -m nstlib batch``: a folder in, one output per image, the same on 1 or 2 processes,
resumable, and an unreadable image skipped and named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nstlib.cli import batch as batchcli
from nstlib.cli import main
from processes import torchrun

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ["--method", "fast", "--model", "fast_brush_strokes", "--image_size", "40", "--device", "cpu", "-q"]


@pytest.fixture()
def folder(tmp_path):
    """6 small images (40×48 px), one file that is not an image, and a text file that is ignored."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        y, x = np.mgrid[0:40, 0:48]
        img = np.stack([x * 5 + 30 * i, y * 6, (x * y + 17 * i) % 200], -1) % 256
        Image.fromarray(img.astype(np.uint8)).save(src / f"frame_{i:03d}.png")
    (src / "broken.png").write_bytes(b"not a png")
    (src / "notes.txt").write_text("ignored")
    return src


def status(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def one_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def outputs(folder):
    return sorted(p.name for p in folder.iterdir())


NAMES = [*(f"frame_{i:03d}.png" for i in range(6)), batchcli.SETTINGS_FILE]


def test_two_processes_write_what_one_process_writes(folder, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["batch", "--input_dir", str(folder), "--output_dir", str(one), *FAST]) == 1  # broken.png failed
    captured = capsys.readouterr()
    assert "6 done, 0 already finished (skipped), 1 failed" in captured.out
    assert "failed: broken.png: cannot load image" in captured.out
    assert captured.err.count("skipped broken.png") == 1
    proc = torchrun(["batch", "--input_dir", str(folder), "--output_dir", str(two), *FAST])
    assert proc.returncode == 1, proc.stderr
    assert "6 done, 0 already finished (skipped), 1 failed" in proc.stdout
    assert "failed: broken.png" in proc.stdout and "2 processes" in proc.stdout
    assert proc.stderr.count("skipped broken.png") == 1  # reported by the rank that met it
    assert outputs(one) == outputs(two) == NAMES  # every output once, no temporary file left
    for name in NAMES[:-1]:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert Image.open(one / NAMES[0]).size == (40, 33)


def test_a_rerun_skips_finished_outputs_and_refuses_other_settings(folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["batch", "--input_dir", str(folder), "--output_dir", str(out), *FAST]
    (folder / "broken.png").unlink()
    assert main(args) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "frame_002.png").unlink()
    capsys.readouterr()
    assert main(args) == 0
    assert "1 done, 5 already finished (skipped), 0 failed" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert after.keys() == stamps.keys()
    assert all(after[n] == stamps[n] for n in stamps if n != "frame_002.png")
    assert status([*args[:-5], "--image_size", "32", "--device", "cpu"]) == 2
    one_line(capsys.readouterr().err, "image_size 40", "32", str(out))


def test_ctrl_c_keeps_finished_outputs_and_the_next_run_continues(folder, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    (folder / "broken.png").unlink()
    args = ["batch", "--input_dir", str(folder), "--output_dir", str(out), *FAST]
    real, calls = batchcli._stylize_one, []

    def interrupted_at_the_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(batchcli, "_stylize_one", interrupted_at_the_third)
    assert main(args) == 130
    assert "interrupted" in capsys.readouterr().err
    assert outputs(out) == [*NAMES[:2], batchcli.SETTINGS_FILE]  # finished ones whole, nothing half-written
    monkeypatch.setattr(batchcli, "_stylize_one", real)
    assert main(args) == 0
    assert "4 done, 2 already finished" in capsys.readouterr().out
    assert outputs(out) == NAMES


def test_gatys_and_adain(folder, tmp_path, capsys):
    (folder / "broken.png").unlink()
    for i in range(2, 6):
        (folder / f"frame_{i:03d}.png").unlink()
    style = folder.parent / "style.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(style)
    common = ["batch", "--input_dir", str(folder), "--style_path", str(style), "--image_size", "32", "--ext", "jpg",
              "--device", "cpu", "-q"]
    assert main([*common, "--output_dir", str(tmp_path / "g"), "--method", "gatys", "--num_steps", "2",
                 "--weights", "random"]) == 0
    assert main([*common, "--output_dir", str(tmp_path / "a"), "--method", "adain", "--alpha", "0.5"]) == 0
    for sub in ("g", "a"):
        assert outputs(tmp_path / sub) == ["frame_000.jpg", "frame_001.jpg", batchcli.SETTINGS_FILE]
        assert Image.open(tmp_path / sub / "frame_000.jpg").size == (32, 27)


@pytest.mark.parametrize("make, needles", [
    (lambda d, t: ["--input_dir", str(t / "nope"), "--output_dir", str(t / "o")], ["nope", "not a folder"]),
    (lambda d, t: ["--input_dir", str(d / "broken.png"), "--output_dir", str(t / "o")], ["broken.png", "video"]),
    (lambda d, t: ["--input_dir", str(d), "--output_dir", str(d)], ["--output_dir", "input folder"]),
    (lambda d, t: ["--input_dir", str(t / "empty"), "--output_dir", str(t / "o")], ["empty", "no image files"]),
    (lambda d, t: ["--input_dir", str(d), "--output_dir", str(t / "o"), "--model", "nope"], ["nope"]),
    (lambda d, t: ["--input_dir", str(d), "--output_dir", str(t / "o"), "--alpha", "1.5"], ["--alpha"]),
    (lambda d, t: ["--input_dir", str(d), "--output_dir", str(t / "o"), "--method", "magic"], ["--method", "magic"]),
    (lambda d, t: ["--input_dir", str(d), "--output_dir", str(t / "o"), "--style", "3"], ["--style 3"]),
    (lambda d, t: ["--output_dir", str(t / "o")], ["--input_dir"]),
])
def test_bad_usage_exits_2_with_one_line(make, needles, folder, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert status(["batch", *make(folder, tmp_path), "--device", "cpu", "-q"]) == 2
    one_line(capsys.readouterr().err, *needles)
    assert not (tmp_path / "o").exists()


def test_two_inputs_with_one_output_name_are_refused(folder, tmp_path, capsys):
    Image.new("RGB", (20, 20)).save(folder / "frame_001.jpg")
    assert status(["batch", "--input_dir", str(folder), "--output_dir", str(tmp_path / "o"), *FAST]) == 2
    one_line(capsys.readouterr().err, "frame_001.jpg", "frame_001.png")
