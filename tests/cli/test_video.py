"""``python -m nstlib video``: a real clip in, an mp4 with its audio out, resuming, and bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from nstlib.video.io import read_video, write_frames, write_video
from nstlib.cli.video import main
from nstlib.core.assets import video_clip

pytestmark = pytest.mark.usefixtures("one_thread")

CLIP = video_clip()
QUICK = ["--image_size", "64", "--max_frames", "4", "-q", "--device", "cpu"]


def run(argv):
    return main([str(a) for a in argv], prog="nstlib")


def test_fast_video_keeps_frames_rate_and_audio_and_resumes(tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert run(["--video_path", CLIP, "--method", "fast", "--output_path", out, "--gif", tmp_path / "o.gif",
                *QUICK]) == 0
    video = read_video(out)
    assert video.frames.shape[0] == 4 and video.fps == pytest.approx(25.0) and video.has_audio
    assert max(video.frames.shape[-2:]) == 64
    frames = sorted((tmp_path / "out_frames").glob("*.png"))
    assert [f.name for f in frames] == [f"{i:06d}.png" for i in range(4)]
    assert (tmp_path / "o.gif").stat().st_size > 0
    assert "0 resumed, 4 stylised" in capsys.readouterr().out
    # lose the mp4 and two frames: the same command continues with the missing frames only
    out.unlink()
    frames[2].unlink()
    frames[3].unlink()
    assert run(["--video_path", CLIP, "--method", "fast", "--output_path", out, *QUICK]) == 0
    assert "2 resumed, 2 stylised" in capsys.readouterr().out
    assert read_video(out).frames.shape[0] == 4


def test_ruder_on_a_frame_folder(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 48, 80, generator=g), 5, 1, 2)
    frames = torch.stack([base[0, :, :, 2 * t:2 * t + 48] for t in range(3)])  # a pan, 2 px per frame
    write_frames(frames, tmp_path / "in")
    out = tmp_path / "r.mp4"
    assert run(["--video_path", tmp_path / "in", "--output_path", out, "--num_steps", "3", "--image_size", "48",
                "-q", "--device", "cpu"]) == 0
    assert read_video(out).frames.shape[0] == 3
    assert list((tmp_path / "r_frames" / "flows").glob("*.pt"))  # the flows are cached with the frames
    # another temporal weight on the same frames folder is refused, nothing is overwritten
    before = {p: p.read_bytes() for p in (tmp_path / "r_frames").glob("*.png")}
    assert run(["--video_path", tmp_path / "in", "--output_path", out, "--num_steps", "3", "--image_size", "48",
                "--temporal_weight", "5", "-q"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert before == {p: p.read_bytes() for p in (tmp_path / "r_frames").glob("*.png")}


def bad_inputs(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = tmp_path / "mixed"
    write_frames(torch.rand(1, 3, 16, 16), mixed)
    write_frames(torch.rand(1, 3, 20, 16), mixed, start=1)
    copy = tmp_path / "clip.mp4"
    write_video(torch.rand(2, 3, 16, 16), copy, 5)
    return [
        (["--video_path", text], "notes.mp4: not a readable video"),
        (["--video_path", empty], "no numbered image frames"),
        (["--video_path", mixed], "000001.png is 16×20 px but 000000.png is 16×16 px"),
        (["--video_path", copy, "--output_path", copy], "it is the input"),
        (["--video_path", CLIP, "--start", "10"], "no frames between 10 s"),
        (["--video_path", CLIP, "--output_path", tmp_path / "x.avi"], "should end with .mp4"),
        (["--video_path", tmp_path / "missing.mp4"], "no such file"),
    ]


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    for argv, message in bad_inputs(tmp_path):
        code = run([*argv, "--method", "fast", "-q"] + ([] if "--output_path" in argv
                                                         else ["--output_path", tmp_path / "o.mp4"]))
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert message in err and err.count("\n") == 1, (message, err)
    assert not (tmp_path / "o.mp4").exists()


def test_unknown_codec_is_named(tmp_path, capsys):
    # an mp4 whose video stream is cut short: the decoder fails mid-stream
    good = tmp_path / "good.mp4"
    write_video(torch.rand(6, 3, 32, 32), good, 5)
    data = good.read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 2] + bytes(64) + data[len(data) // 2 + 64:])
    code = run(["--video_path", bad, "--method", "fast", "--output_path", tmp_path / "o.mp4", "-q"])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err


def test_module_entry_point_dispatches_video():
    proc = subprocess.run([sys.executable, "-m", "nstlib", "video", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--temporal_weight" in proc.stdout and proc.stderr == ""
