"""Video in and out, with PyAV (the ``video`` extra: ``pip install "nstlib[video]"``).

- :func:`read_video` reads a video file (mp4, webm, mov, gif, anything FFmpeg decodes) or a
  folder of numbered frames into ``[T, 3, H, W]`` RGB in [0, 1], with ``start``/``end`` in
  seconds, ``max_frames``, a target ``fps`` (frames picked by timestamp) and a frame size.
- :func:`write_video` writes an H.264 mp4 (yuv420p, so every player opens it) at a given frame
  rate, and copies the audio track of another file when asked.
- :func:`write_frames` and :func:`write_gif` write numbered PNGs and a small looping GIF (for
  notebooks and slides).

torchvision 0.29 no longer has ``read_video``/``write_video``; this module replaces them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core.assets import IMAGE_SUFFIXES
from ..core.errors import NstlibError
from ..core.files import atomic_path
from ..core.images import load_image, resize, save_image

__all__ = ["VideoError", "Video", "read_video", "write_video", "write_frames", "write_gif"]


class VideoError(NstlibError):
    """An unreadable video, a bad option or a missing extra; the message names the file or value."""


@dataclass
class Video:
    """Frames ``[T, 3, H, W]`` in [0, 1], their rate, and where they came from."""

    frames: Tensor
    fps: float
    source: str
    has_audio: bool = False


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - the video extra is installed by `make test`
        raise VideoError('video needs PyAV: pip install "nstlib[video]" (or pip install av)') from None
    av.logging.set_level(av.logging.ERROR)  # FFmpeg's own chatter stays off stderr
    return av


def _resize(frame: Tensor, size: int | None) -> Tensor:
    if size is None:
        return frame

    return resize(frame[None], size)[0]


def _numbered(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]

    def key(p: Path) -> tuple:
        numbers = re.findall(r"\d+", p.stem)
        return (int(numbers[-1]) if numbers else -1, p.name)

    return sorted(files, key=key)


def _check_window(start: float | None, end: float | None, fps: float | None, max_frames: int | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if value is not None and not value >= 0:
            raise VideoError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if start is not None and end is not None and end <= start:
        raise VideoError(f"end ({end} s) must come after start ({start} s)")
    if fps is not None and not fps > 0:
        raise VideoError(f"fps must be > 0, got {fps!r}")
    if max_frames is not None and max_frames < 1:
        raise VideoError(f"max_frames must be >= 1, got {max_frames!r}")


def read_video(
    source: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    max_frames: int | None = None,
    fps: float | None = None,
    size: int | None = None,
    folder_fps: float = 25.0,
) -> Video:
    """Read frames from a video file or a folder of numbered images.

    Args:
        source: a video file, or a folder of images named with a frame number (``0001.png`` …;
            sorted by the last number in the name).
        start, end: the window to read, in seconds from the beginning.
        max_frames: stop after this many frames.
        fps: resample to this rate (each output frame is the last input frame shown at its
            time); default the source's rate.
        size: resize each frame so that its longer side is ``size`` pixels.
        folder_fps: the rate of a folder of frames (it has none of its own).

    Returns:
        A :class:`Video` with ``frames`` ``[T, 3, H, W]`` float32 in [0, 1].

    Raises:
        VideoError: a missing or unreadable file (named), an empty window, or bad options.
    """
    _check_window(start, end, fps, max_frames)
    path = Path(source)
    if not path.exists():
        raise VideoError(f"video {path}: no such file or folder")
    decoded, src_fps, has_audio = _folder_frames(path, folder_fps) if path.is_dir() else _file_frames(path, folder_fps)
    try:
        frames = _pick_frames(decoded, src_fps, start or 0.0, end, fps, max_frames, size)
    finally:
        if hasattr(decoded, "close"):
            decoded.close()
    if not frames:
        raise VideoError(f"video {path}: no frames between {start or 0.0:g} s and "
                         f"{'the end' if end is None else f'{end:g} s'}")
    return Video(torch.stack(frames), float(fps or src_fps), str(path), has_audio)


#: A decoded frame: its time in seconds and a function that loads it as ``[3, H, W]`` in [0, 1].
TimedFrame = tuple[float, Callable[[], Tensor]]


def _folder_frames(path: Path, folder_fps: float) -> tuple[Iterator[TimedFrame], float, bool]:
    """The numbered images of a folder as timed frames at ``folder_fps``; all must share one size."""
    files = _numbered(path)
    if not files:
        raise VideoError(f"video {path}: the folder holds no numbered image frames")
    first: list[tuple[str, tuple[int, ...]]] = []

    def load_frame(f: Path) -> Tensor:
        image = load_image(f)[0]
        if not first:
            first.append((f.name, tuple(image.shape[-2:])))
        elif tuple(image.shape[-2:]) != first[0][1]:
            (h0, w0), (h, w) = first[0][1], image.shape[-2:]
            raise VideoError(f"video {path}: frame {f.name} is {w}×{h} px but {first[0][0]} is {w0}×{h0} px; "
                             "all frames of a folder must have one size")
        return image

    return ((i / folder_fps, lambda f=f: load_frame(f)) for i, f in enumerate(files)), folder_fps, False


def _file_frames(path: Path, default_fps: float) -> tuple[Iterator[TimedFrame], float, bool]:
    """The frames of a video file as PyAV decodes them (lazily), its frame rate, and whether it has audio."""
    av = _av()
    try:
        container = av.open(str(path))
    except Exception as exc:  # FFmpeg's errors come in many types
        raise VideoError(f"video {path}: not a readable video ({type(exc).__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"video {path}: has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or Fraction(default_fps)
    src_fps = float(rate)

    def frames_of() -> Iterator[TimedFrame]:
        i = 0
        try:
            for i, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else i / src_fps
                yield t, (lambda fr=frame: torch.from_numpy(fr.to_ndarray(format="rgb24")).permute(2, 0, 1)
                          .float().div_(255.0))
        except av.FFmpegError as exc:  # an unknown codec or corrupt data
            raise VideoError(f"video {path}: cannot decode frame {i} "
                             f"(codec {stream.codec_context.name}: {exc})") from None
        finally:
            container.close()

    return frames_of(), src_fps, bool(container.streams.audio)


def _pick_frames(decoded: Iterator[TimedFrame], src_fps: float, t0: float, end: float | None,
                 fps: float | None, max_frames: int | None, size: int | None) -> list[Tensor]:
    """The frames in ``[t0, end)``, at most ``max_frames``, each ``[3, H, W]`` resized to ``size``.

    Without ``fps`` every frame in the window; with it, output frame ``k`` (at ``t0 + k / fps``)
    shows the newest input frame at that time, and the last input frame lasts one source frame.
    """
    out_fps, eps = fps or src_fps, 1e-6
    frames: list[Tensor] = []

    def full() -> bool:
        return max_frames is not None and len(frames) >= max_frames

    previous = None  # with fps: the newest frame at or before the next output time, (time, loader)
    for t, load in decoded:
        if end is not None and t >= end - eps:
            break
        if t < t0 - eps:
            continue
        if fps is None:
            frames.append(_resize(load(), size))
        else:
            while previous is not None and t0 + len(frames) / out_fps < t - eps and not full():
                frames.append(_resize(previous[1](), size))
            previous = (t, load)
        if full():
            break
    if previous is not None:
        stop = previous[0] + 1.0 / src_fps if end is None else min(end, previous[0] + 1.0 / src_fps)
        while t0 + len(frames) / out_fps < stop - eps and not full():
            frames.append(_resize(previous[1](), size))
    return frames


def _to_uint8(frames: Tensor) -> np.ndarray:
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise VideoError(f"frames must be [T, 3, H, W], got {tuple(frames.shape)}")
    arr = frames.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    return arr.permute(0, 2, 3, 1).numpy()


def write_video(
    frames: Tensor,
    path: str | os.PathLike,
    fps: float,
    *,
    audio_from: str | os.PathLike | None = None,
    audio_start: float = 0.0,
    crf: int = 18,
) -> Path:
    """Write ``frames`` ``[T, 3, H, W]`` in [0, 1] as an H.264 mp4 (yuv420p).

    Odd widths or heights are cropped by one pixel (yuv420p needs even sizes). ``audio_from``
    copies the audio track of that file unchanged (no re-encoding) from ``audio_start`` seconds
    on (the ``start`` the frames were read from), cut to the video's length. ``crf`` is x264's quality (18: visually lossless; lower is bigger).
    The file is written to a temporary name and renamed, so a crash leaves no half-written mp4.
    """
    av = _av()
    arr = _to_uint8(frames)
    arr = arr[:, : arr.shape[1] // 2 * 2, : arr.shape[2] // 2 * 2]
    if arr.shape[1] < 2 or arr.shape[2] < 2:
        raise VideoError(f"frames of {frames.shape[-1]}×{frames.shape[-2]} px are too small for a video")
    if not fps > 0:
        raise VideoError(f"fps must be > 0, got {fps!r}")
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    source = None
    try:
        with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height = arr.shape[2], arr.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf)}
            audio_out = audio_in = None
            if audio_from is not None:
                source = av.open(str(audio_from))
                if source.streams.audio:
                    audio_in = source.streams.audio[0]
                    audio_out = out.add_stream_from_template(audio_in)
            for image in arr:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            if audio_in is not None:
                length = len(arr) / float(rate)
                tb = audio_in.time_base
                offset = round(audio_start / tb)  # in the audio stream's time base
                for packet in source.demux(audio_in):
                    if packet.dts is None or packet.pts is None:
                        continue
                    if packet.pts < offset:
                        continue
                    if float((packet.pts - offset) * tb) >= length:
                        break
                    packet.pts -= offset
                    packet.dts -= offset
                    packet.stream = audio_out
                    out.mux(packet)
    finally:
        if source is not None:
            source.close()
    return path


def write_frames(frames: Tensor, folder: str | os.PathLike, start: int = 0) -> list[Path]:
    """Write ``[T, 3, H, W]`` as ``folder/000000.png`` … (numbered from ``start``); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [save_image(f, folder / f"{start + i:06d}.png") for i, f in enumerate(frames)]


def write_gif(frames: Tensor, path: str | os.PathLike, fps: float, size: int | None = 256) -> Path:
    """A looping GIF of ``[T, 3, H, W]`` (longer side ``size`` px) for notebooks and slides."""
    from PIL import Image

    if not fps > 0:
        raise VideoError(f"fps must be > 0, got {fps!r}")
    small = torch.stack([_resize(f, size) for f in frames]) if size else frames
    images = [Image.fromarray(a) for a in _to_uint8(small)]
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                       loop=0, optimize=True)
    return path
