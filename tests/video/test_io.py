"""Video in and out with PyAV: round trips, windows, frame rates, folders, GIFs, audio, errors."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from nstlib.video.flow import synthetic_clip
from nstlib.video.io import VideoError, read_video, write_frames, write_gif, write_video

av = pytest.importorskip("av")  # the `video` extra; `make test` installs it
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip():
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, 120), torch.linspace(0, 1, 200), indexing="ij")
    background = torch.stack([x, y, 0.5 + 0.3 * torch.sin(12 * x) * torch.cos(9 * y)])[None]
    sprite = torch.rand(1, 3, 12, 16, generator=g) * 0.3 + torch.tensor([0.7, 0.1, 0.1]).view(1, 3, 1, 1)
    return synthetic_clip(background, sprite, num_frames=12, size=(48, 64)).frames


def psnr(a, b):
    return 10 * math.log10(1 / float(((a - b) ** 2).mean()))


def test_mp4_round_trip(clip, tmp_path):
    path = write_video(clip, tmp_path / "clip.mp4", fps=12)
    video = read_video(path)
    assert video.frames.shape == clip.shape and video.fps == pytest.approx(12)
    assert psnr(video.frames, clip) > 30  # H.264 at crf 18 on smooth frames
    assert not video.has_audio and list(tmp_path.glob(".*")) == []  # no temporary file left


def test_window_max_frames_fps_and_size(clip, tmp_path):
    path = write_video(clip, tmp_path / "clip.mp4", fps=12)
    full = read_video(path).frames
    window = read_video(path, start=0.25, end=0.75)  # frames 3, 4, 5, 6, 7, 8
    assert window.frames.shape[0] == 6
    torch.testing.assert_close(window.frames, full[3:9])
    assert read_video(path, max_frames=4).frames.shape[0] == 4
    half = read_video(path, fps=6)  # every other frame
    assert half.fps == 6 and half.frames.shape[0] == 6
    torch.testing.assert_close(half.frames, full[::2])
    double = read_video(path, fps=24)  # each frame shown twice
    assert double.frames.shape[0] == 24
    torch.testing.assert_close(double.frames[::2], full)
    torch.testing.assert_close(double.frames[1::2], full)
    assert read_video(path, size=32).frames.shape[-2:] == (24, 32)


def test_folder_of_numbered_frames_and_gif(clip, tmp_path):
    folder = tmp_path / "frames"
    paths = write_frames(clip, folder, start=8)
    assert [p.name for p in paths[:3]] == ["000008.png", "000009.png", "000010.png"]
    video = read_video(folder, folder_fps=10)
    torch.testing.assert_close(video.frames, clip, atol=1 / 255, rtol=0)  # PNG keeps 8 bits
    assert video.fps == 10
    gif = write_gif(clip, tmp_path / "clip.gif", fps=12, size=32)
    back = read_video(gif)
    assert back.frames.shape[0] == 12 and back.frames.shape[-1] == 32


def test_audio_track_is_copied(clip, tmp_path):
    src = tmp_path / "with_audio.mp4"
    with av.open(str(src), "w") as out:  # a video with a 440 Hz tone
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        for f in clip:
            frame = av.VideoFrame.from_ndarray((f.permute(1, 2, 0).numpy() * 255).astype(np.uint8), format="rgb24")
            for p in video.encode(frame):
                out.mux(p)
        for p in video.encode():
            out.mux(p)
        t = np.arange(44100) / 44100
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for i in range(0, 44100, 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, i:i + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 44100, i, Fraction(1, 44100)
            for p in audio.encode(frame):
                out.mux(p)
        for p in audio.encode():
            out.mux(p)
    styled = write_video(1 - clip, tmp_path / "styled.mp4", fps=12, audio_from=src)
    with av.open(str(styled)) as c:
        assert len(c.streams.audio) == 1 and c.streams.audio[0].codec_context.name == "aac"
        assert len(c.streams.video) == 1
    assert read_video(styled).has_audio
    # an excerpt takes the audio from the same place: the track starts at 0 and is cut to the video
    excerpt = read_video(src, start=0.5)
    cut = write_video(excerpt.frames, tmp_path / "cut.mp4", fps=12, audio_from=src, audio_start=0.5)
    with av.open(str(cut)) as c:
        a = c.streams.audio[0]
        first = next(c.demux(a))
        assert abs(float(first.pts * a.time_base)) < 0.05
        assert float(a.duration * a.time_base) == pytest.approx(len(excerpt.frames) / 12, abs=0.05)


def test_errors_name_the_file_or_value(clip, tmp_path):
    with pytest.raises(VideoError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="junk.mp4"):
        read_video(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no numbered image frames"):
        read_video(tmp_path / "empty")
    path = write_video(clip, tmp_path / "clip.mp4", fps=12)
    with pytest.raises(VideoError, match="no frames between 5 s"):
        read_video(path, start=5)
    with pytest.raises(VideoError, match="end"):
        read_video(path, start=1, end=0.5)
    with pytest.raises(VideoError, match="fps"):
        write_video(clip, tmp_path / "x.mp4", fps=0)
    with pytest.raises(VideoError, match=r"\[T, 3, H, W\]"):
        write_video(clip[0], tmp_path / "x.mp4", fps=12)


def test_the_course_clip_is_what_sources_md_says():
    from nstlib.core.assets import images_dir, video_clip

    path = video_clip()
    video = read_video(path)
    assert video.frames.shape == (75, 3, 180, 320) and video.fps == 25 and video.has_audio
    assert path.stat().st_size < 1_000_000
    assert path.name in (Path(__file__).resolve().parents[2] / "images" / "SOURCES.md").read_text()
    credits = (images_dir() / "CREDITS.md").read_text()  # shipped beside it: CC BY needs the credit
    assert path.name in credits and "Blender Foundation" in credits
