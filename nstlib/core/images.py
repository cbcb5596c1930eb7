"""Image input and output: files and URLs in, float tensors ``[1, 3, H, W]`` in ``[0, 1]`` out.

Everything here speaks one tensor convention: RGB, ``float32``, values in ``[0, 1]``, shape
``[1, 3, H, W]`` (``save_image`` and ``to_pil`` also take ``[3, H, W]``).

``load_image`` copes with what people actually feed a style-transfer notebook: phone photos with an
EXIF rotation, transparent PNGs (composited onto white), palette GIFs, CMYK JPEGs, 16-bit grayscale
scans, and 100-megapixel panoramas, which are downscaled while decoding (JPEG draft mode) so that
they neither exhaust memory nor trigger Pillow's decompression-bomb warning. Every failure is an
:class:`ImageError` whose message is one line naming the file, URL or value at fault.

URLs are downloaded once into :func:`cache_dir` and read from there afterwards. Only a whole,
decodable image is ever cached: a download must finish within :data:`DOWNLOAD_TIMEOUT` seconds in
all (``$NSTLIB_DOWNLOAD_TIMEOUT`` overrides it), be at most :data:`MAX_DOWNLOAD_BYTES` long, be as
long as its ``Content-Length`` says, and decode (with the same checks as :func:`load_image`) before
it is renamed into the cache. A cached file that does not decode (left by an older nstlib) is
removed when it is loaded, and the error says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import math
import numbers
import os
import re
import socket
import stat
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from .assets import bundled_image, bundled_image_names
from .errors import NstlibError
from .files import atomic_file, atomic_path

__all__ = [
    "ImageLike",
    "DEFAULT_MAX_PIXELS",
    "ImageError",
    "DOWNLOAD_TIMEOUT",
    "MAX_DOWNLOAD_BYTES",
    "MAX_SOURCE_PIXELS",
    "cache_dir",
    "check_output_path",
    "fetch_url",
    "from_pil",
    "load_image",
    "max_pixels_for",
    "resize",
    "save_image",
    "to_pil",
]

#: Images with more pixels than this (about 1.07 gigapixels) are refused before decoding.
MAX_SOURCE_PIXELS = 1 << 30
#: ``load_image``'s default cap on the pixels of what it returns (16 MP; see :func:`max_pixels_for`).
DEFAULT_MAX_PIXELS = 16_000_000

#: Seconds a whole download may take (a total deadline, not a per-read timeout); the environment
#: variable ``NSTLIB_DOWNLOAD_TIMEOUT`` overrides it (for a slow connection, or a test).
DOWNLOAD_TIMEOUT = 30.0
#: Downloads longer than this (128 MiB) are refused: a ``Content-Length`` above it before reading,
#: a body without one as soon as it passes it. A 100-megapixel JPEG is well under it; a larger image
#: can be downloaded by other means and loaded as a file.
MAX_DOWNLOAD_BYTES = 128 << 20

_URL_SCHEMES = ("http://", "https://")
_REDUCING_GAP = 3.0  # Pillow: >= 3 is indistinguishable from a plain Lanczos resize
_SAVE_OPTIONS: dict[str, dict[str, int]] = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}}
_CHUNK = 1 << 20
_PROBE_SIZE = 64  # a download is decoded at most this large (JPEG: in draft mode) before caching
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")

# EXIF Orientation value -> the transpose that makes the image upright (the EXIF 2.3 table, the
# one ImageOps.exif_transpose applies). We apply it ourselves *after* downscaling, so a rotated
# 100-megapixel photo is never copied at full resolution.
_ORIENTATION_TAG = 0x0112
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


#: What an image argument may be: a tensor ``[1, 3, H, W]``, or a path or URL to load.
ImageLike = Union[Tensor, str, os.PathLike]


class ImageError(NstlibError):
    """Bad image input. The message is ONE clear line that names the file, URL or value at fault."""

    def __init__(self, message: str) -> None:
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _is_url(source: object) -> bool:
    return isinstance(source, str) and source.lower().startswith(_URL_SCHEMES)


def _check_size(size: object, name: str = "size") -> int:
    """Return ``size`` as an int, or raise ImageError naming the bad value."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or int(size) < 1:
        raise ImageError(f"{name} must be an integer >= 1, got {size!r}")
    return int(size)


def _check_sha256(sha256: str | None) -> str | None:
    """Return the expected digest in lower case, or raise ImageError naming the bad value."""
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256.strip()):
        raise ImageError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return sha256.strip().lower()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _scaled_dims(width: int, height: int, size: int) -> tuple[int, int]:
    """``(width, height)`` scaled so that the longer side is exactly ``size``; aspect kept."""
    scale = size / max(width, height)
    if width >= height:
        return size, max(1, round(height * scale))
    return max(1, round(width * scale)), size


def _fit_pixels(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Shrink ``(width, height)`` (aspect kept as far as possible) to at most ``max_pixels``."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    w, h = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    if w * h > max_pixels:  # only for extreme aspect ratios, where one side hit the floor of 1
        if w >= h:
            w = max(1, max_pixels // h)
        else:
            h = max(1, max_pixels // w)
    return w, h


def _target_dims(width: int, height: int, size: int | None, max_pixels: int) -> tuple[int, int]:
    """Output ``(width, height)`` of ``load_image`` for a ``width × height`` source."""
    if size is not None:
        width, height = _scaled_dims(width, height, size)
    return _fit_pixels(width, height, max_pixels)


# --------------------------------------------------------------------------------------------
# PIL <-> tensor
# --------------------------------------------------------------------------------------------


def _has_transparency(img: Image.Image) -> bool:
    if "transparency" in img.info or img.mode in ("PA", "LA", "La", "RGBA", "RGBa"):
        return True
    return img.mode == "P" and img.palette is not None and img.palette.mode == "RGBA"


def _working_image(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to one of ``L, LA, RGB, RGBA`` (8 bit) or ``F`` (gray in [0, 1]).

    These are the modes that Pillow resizes correctly (alpha is premultiplied while resampling)
    and that :func:`_working_to_tensor` understands. Integer images (``I;16``, ``I;16B``, ``I``)
    are 16-bit data, so they are divided by 65535; ``F`` images are taken to be in ``[0, 1]``.
    """
    mode = img.mode
    if mode in ("L", "RGB"):
        if "transparency" in img.info:
            return img.convert("LA" if mode == "L" else "RGBA")
        return img
    if mode in ("LA", "RGBA"):
        return img
    if mode == "La":
        return img.convert("LA")
    if mode == "RGBa":
        return img.convert("RGBA")
    if mode == "1":
        return img.convert("L")
    if mode in ("P", "PA"):
        return img.convert("RGBA" if _has_transparency(img) else "RGB")
    if mode == "F":
        return img
    if mode == "I" or mode.startswith("I;16"):
        return img.convert("F").point(lambda v: v * (1.0 / 65535.0))
    return img.convert("RGB")  # CMYK, YCbCr, RGBX, HSV, LAB...; ValueError if Pillow cannot


def _working_to_tensor(img: Image.Image) -> Tensor:
    """``[1, 3, H, W]`` float32 in ``[0, 1]`` from a working-mode image; alpha over white."""
    if img.mode == "F":
        gray = torch.from_numpy(np.array(img, dtype=np.float32)).nan_to_num_(0.0).clamp_(0.0, 1.0)
        return gray.expand(3, -1, -1).unsqueeze(0).contiguous()
    array = torch.from_numpy(np.array(img, dtype=np.uint8))
    if array.dim() == 2:
        array = array.unsqueeze(-1)
    pixels = array.permute(2, 0, 1).float().div_(255.0)  # [C, H, W]
    if img.mode in ("LA", "RGBA"):
        colour, alpha = pixels[:-1], pixels[-1:]
        pixels = colour * alpha + (1.0 - alpha)
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    return pixels.unsqueeze(0).contiguous()


def from_pil(img: Image.Image) -> Tensor:
    """A Pillow image of any mode as an RGB float32 tensor ``[1, 3, H, W]`` in ``[0, 1]``.

    Transparency is composited onto white; 16-bit gray is scaled by 65535. EXIF orientation is
    *not* applied here (``load_image`` does that).
    """
    try:
        working = _working_image(img)
    except ValueError as exc:
        raise ImageError(f"cannot convert a Pillow image of mode {img.mode!r} to RGB: {exc}") from exc
    return _working_to_tensor(working)


def _as_chw(image: Tensor, what: str) -> Tensor:
    """``[3, H, W]`` view of a ``[1, 3, H, W]`` or ``[3, H, W]`` tensor, else ImageError."""
    if not isinstance(image, Tensor):
        raise ImageError(f"{what} expects a torch.Tensor, got {type(image).__name__}")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise ImageError(f"{what} expects an image [1, 3, H, W] or [3, H, W], got {tuple(image.shape)}")
    return image


def to_pil(image: Tensor) -> Image.Image:
    """An RGB Pillow image from a tensor ``[1, 3, H, W]`` or ``[3, H, W]`` with values in ``[0, 1]``.

    Works for any device, dtype and ``requires_grad``; values are clamped to ``[0, 1]`` (NaN -> 0)
    and rounded to the nearest of the 256 levels.
    """
    chw = _as_chw(image, "to_pil")
    pixels = chw.detach().to("cpu", torch.float32).nan_to_num(0.0).clamp(0.0, 1.0)
    array = pixels.mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array)


def resize(image: Tensor, size: int) -> Tensor:
    """Resize ``[B, C, H, W]`` so that the longer side is ``size``, keeping the aspect ratio.

    Antialiased bicubic interpolation (good for downscaling), clamped to ``[0, 1]``. Returns a new
    tensor ``[B, C, H', W']`` of the same dtype and device; ``max(H', W') == size``.
    """
    size = _check_size(size)
    if not isinstance(image, Tensor) or image.dim() != 4 or not image.is_floating_point():
        what = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, Tensor) else type(image).__name__
        raise ImageError(f"resize expects a float image tensor [B, C, H, W], got {what}")
    height, width = image.shape[-2:]
    new_w, new_h = _scaled_dims(int(width), int(height), size)
    if (new_h, new_w) == (height, width):
        return image.clamp(0.0, 1.0)
    work = image if image.dtype in (torch.float32, torch.float64) else image.float()  # half, bf16
    out = F.interpolate(work, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0).to(image.dtype)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

_LIMIT_LOCK = threading.Lock()
_limit_users = 0
_saved_limit: int | None = None


@contextlib.contextmanager
def _pillow_pixel_limit() -> Iterator[None]:
    """While active, Pillow accepts up to ``MAX_SOURCE_PIXELS`` without warning; then restored.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` (about 89 MP) and refuses above twice that. We
    raise the limit to our own hard limit (refusals above it become ImageError) and silence the
    warning, for the duration of one load. A counter keeps concurrent loads from restoring the
    global too early. (Like any use of ``warnings.catch_warnings`` before Python 3.14, the warning
    filter itself is process-global, so loads from several threads at once are best avoided.)
    """
    global _limit_users, _saved_limit
    with _LIMIT_LOCK:
        if _limit_users == 0:
            _saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS
        _limit_users += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        with _LIMIT_LOCK:
            _limit_users -= 1
            if _limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _saved_limit


def _bundled_if_missing(source: str | os.PathLike[str], path: Path, label: str) -> tuple[Path, str]:
    """A bare name that is no file here (``"chelsea"``) is a bundled image's, if one has that name.

    A file of that name in the working folder always wins. For a name that matches nothing, the
    label lists the names there are, so the error says what would have worked.
    """
    name = os.fspath(source)
    if path.exists() or os.sep in name or "/" in name or not name:
        return path, label
    bundled = bundled_image(name)
    if bundled is not None:
        return bundled, f"'{name}' (bundled: {bundled.name})"
    return path, f"{label} (not a file here, nor a bundled image: {', '.join(bundled_image_names())})"


def _check_local_file(path: Path, label: str) -> None:
    """Raise ImageError unless ``path`` is an existing, readable-looking, non-empty regular file."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"cannot load image {label}: file does not exist") from None
    except OSError as exc:
        raise ImageError(f"cannot load image {label}: cannot access it ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"cannot load image {label}: it is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"cannot load image {label}: not a regular file")
    if info.st_size == 0:
        raise ImageError(f"cannot load image {label}: the file is empty (0 bytes)")


def _orientation(img: Image.Image) -> int:
    """The EXIF Orientation value (1 = upright) of an opened image."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a corrupt EXIF block must not make a decodable image unreadable
        return 1
    return value if value in _ORIENTATION_TRANSPOSE else 1


def _decode(path: Path, label: str, size: int | None, max_pixels: int) -> Tensor:
    """Open, decode (JPEG: in draft mode when much larger than needed), convert, resize, rotate.

    Returns the upright image as ``[1, 3, H, W]`` float32 in ``[0, 1]`` on the CPU, with
    ``(W, H) == _target_dims(...)`` up to the EXIF rotation.
    """
    try:
        with _pillow_pixel_limit(), Image.open(path) as img:
            width, height = img.size
            if width * height > MAX_SOURCE_PIXELS:
                raise ImageError(
                    f"cannot load image {label}: {width}x{height} is {width * height} pixels, "
                    f"more than the limit of {MAX_SOURCE_PIXELS}"
                )
            target = _target_dims(width, height, size, max_pixels)
            if img.format == "JPEG" and 4 * target[0] <= width and 4 * target[1] <= height:
                # Much smaller: let libjpeg decode at 1/2, 1/4 or 1/8 scale, keeping at least
                # twice the target size so the Lanczos pass below still has detail to work with.
                img.draft(None, (2 * target[0], 2 * target[1]))
            img.load()
            orientation = _orientation(img)
            work = _working_image(img)
            if work.size != target:
                work = work.resize(target, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
            if orientation in _ORIENTATION_TRANSPOSE:
                work = work.transpose(_ORIENTATION_TRANSPOSE[orientation])
            return _working_to_tensor(work)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"cannot load image {label}: too large ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError(f"cannot load image {label}: not an image, or an unsupported format") from exc
    except PermissionError as exc:
        raise ImageError(f"cannot load image {label}: permission denied") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error) as exc:
        raise ImageError(f"cannot load image {label}: truncated, corrupt or unsupported ({exc})") from exc


def max_pixels_for(size: int | None) -> int:
    """The ``max_pixels`` with which ``load_image(path, size)`` keeps an output size that was asked
    for: :data:`DEFAULT_MAX_PIXELS`, raised to ``size²`` so that a large ``size`` (a tiled
    8000-px output) is never shrunk. Without a ``size``, a huge photo is still capped."""
    return DEFAULT_MAX_PIXELS if size is None else max(DEFAULT_MAX_PIXELS, int(size) ** 2)


def load_image(
    source: str | os.PathLike[str],
    size: int | None = None,
    *,
    sha256: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    device: torch.device | str | None = None,
) -> Tensor:
    """Load an image from a local path or an http(s) URL as an RGB float32 tensor [1, 3, H, W] in [0, 1].

    Args:
        source: a file path, an ``http://`` / ``https://`` URL (downloaded once into
            :func:`cache_dir`, see :func:`fetch_url`; a cached file that does not decode is
            removed, and the error says so), or the name of a bundled photo or style
            image (``"chelsea"``, ``"mondrian"``; :func:`nstlib.core.assets.bundled_image`) when no
            file of that name is in the working folder.
        size: if given, resize (Lanczos) so that the longer side is ``size`` pixels, keeping the
            aspect ratio. ``None`` keeps the original size.
        sha256: optional expected SHA-256 of the file; a mismatch raises ImageError.
        max_pixels: images with more pixels than this (after applying ``size``) are downscaled to
            fit, so a huge photo never becomes a huge tensor. To keep a large ``size`` that
            was asked for, pass ``max_pixels_for(size)``.
        device: where to put the tensor (default CPU).

    Returns:
        ``[1, 3, H, W]`` float32 in ``[0, 1]``: upright (EXIF orientation applied), transparency
        composited onto white, gray replicated to three channels, first frame of an animation.

    Raises:
        ImageError: one-line message naming the file, URL or value at fault.
    """
    size = None if size is None else _check_size(size)
    max_pixels = _check_size(max_pixels, "max_pixels")
    expected = _check_sha256(sha256)
    if _is_url(source):
        path = _fetch(str(source), expected, check_cached=False)  # decoded below
        label = f"'{source}' (cached as '{path}')"
    elif isinstance(source, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        raise ImageError(f"cannot load image '{source}': only http:// and https:// URLs are supported")
    else:
        try:
            path = Path(os.fspath(source)).expanduser()
        except TypeError as exc:
            raise ImageError(f"load_image expects a path or URL, got {source!r}") from exc
        label = f"'{source}'"
        path, label = _bundled_if_missing(source, path, label)
    try:
        _check_local_file(path, label)
        if expected is not None and not _is_url(source):
            actual = _file_sha256(path)
            if actual != expected:
                raise ImageError(f"sha256 mismatch for {label}: expected {expected}, got {actual}")
        image = _decode(path, label, size, max_pixels)
    except ImageError as exc:
        if _is_url(source):  # garbage cached by an older nstlib: remove it, never fail on it forever
            raise _forget_cached(path, exc) from exc
        raise
    return image if device is None else image.to(device)


# --------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """nstlib's cache folder (not created here).

    ``$NSTLIB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/nstlib``, else ``~/.cache/nstlib``.
    Downloads go to ``<cache>/downloads/``.
    """
    explicit = os.environ.get("NSTLIB_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "nstlib"
    return Path.home() / ".cache" / "nstlib"


def _cache_path(url: str) -> Path:
    """``<cache>/downloads/<sha256(url)[:16]>-<basename>``, the basename made filesystem-safe."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    basename = urllib.parse.unquote(urllib.parse.urlsplit(url).path).rstrip("/").rsplit("/", 1)[-1]
    basename = re.sub(r"[^A-Za-z0-9._-]+", "_", basename).lstrip(".")[-100:] or "download"
    return cache_dir() / "downloads" / f"{key}-{basename}"


def _download_deadline() -> float:
    """Seconds a download may take in all: ``$NSTLIB_DOWNLOAD_TIMEOUT``, else :data:`DOWNLOAD_TIMEOUT`."""
    raw = os.environ.get("NSTLIB_DOWNLOAD_TIMEOUT", "").strip()
    if not raw:
        return DOWNLOAD_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ImageError(f"NSTLIB_DOWNLOAD_TIMEOUT must be a number of seconds > 0, got {raw!r}")
    return seconds


def _announced_length(url: str, response: http.client.HTTPResponse) -> int | None:
    """The response's ``Content-Length`` (None if absent or unreadable); ImageError above the cap."""
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    if length > MAX_DOWNLOAD_BYTES:
        raise ImageError(
            f"cannot download '{url}': its Content-Length of {length} bytes is more than the limit of "
            f"{MAX_DOWNLOAD_BYTES} bytes; download it by other means and load the file"
        )
    return length if length >= 0 else None


def _limit_next_read(response: http.client.HTTPResponse, seconds: float) -> None:
    """Make the response's next socket read wait at most ``seconds``.

    http.client keeps the socket at ``response.fp.raw._sock``; where it is not found, the per-read
    timeout that ``urlopen`` was given stays, and the deadline is still checked between reads.
    """
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(max(seconds, 0.001))


def _receive(url: str, response: http.client.HTTPResponse, handle: BinaryIO, seconds: float,
             until: float) -> int:
    """Copy the body into ``handle`` by the monotonic ``until`` (``seconds`` after the start); return its length.

    Reads return whatever has arrived (``read1``), so a server that drips a byte at a time is cut
    off at the deadline, and a body longer than :data:`MAX_DOWNLOAD_BYTES` as soon as it passes it.
    """
    received = 0
    while True:
        left = until - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            _limit_next_read(response, left)
            chunk = response.read1(_CHUNK)
        except TimeoutError:
            raise ImageError(
                f"cannot download '{url}': not finished within {seconds:g} s ({received} bytes received); "
                "NSTLIB_DOWNLOAD_TIMEOUT sets a longer limit"
            ) from None
        if not chunk:
            return received
        received += len(chunk)
        if received > MAX_DOWNLOAD_BYTES:
            raise ImageError(
                f"cannot download '{url}': it is more than the limit of {MAX_DOWNLOAD_BYTES} bytes; "
                "download it by other means and load the file"
            )
        handle.write(chunk)


def _check_image(path: Path, label: str) -> None:
    """Raise ImageError (naming ``label``) unless ``path`` decodes as :func:`load_image` would decode it.

    The same checks (a non-empty regular file, the pixel limit, Pillow's decompression-bomb limit,
    a whole, uncorrupted stream), decoded small: a JPEG in draft mode, anything else resized.
    """
    _check_local_file(path, label)
    _decode(path, label, _PROBE_SIZE, _PROBE_SIZE * _PROBE_SIZE)


def _download(url: str, target: Path) -> str:
    """Stream ``url`` into ``target`` atomically; return the SHA-256 of what was written.

    Nothing reaches ``target`` (and no temporary file stays) unless the whole body arrived within
    the deadline (:data:`DOWNLOAD_TIMEOUT`), is at most :data:`MAX_DOWNLOAD_BYTES` long, is as long
    as its ``Content-Length`` and decodes as an image; otherwise ImageError names the URL and what
    it got.
    """
    seconds = _download_deadline()
    until = time.monotonic() + seconds
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                request = urllib.request.Request(url, headers={"User-Agent": "nstlib"})
                with urllib.request.urlopen(request, timeout=seconds) as response:
                    announced = _announced_length(url, response)
                    kind = response.headers.get("Content-Type") or "no Content-Type"
                    received = _receive(url, response, handle, seconds, until)
            if announced is not None and received < announced:
                raise ImageError(
                    f"cannot download '{url}': the server sent {received} bytes of the {announced} "
                    "its Content-Length announced (cut off); nothing was cached"
                )
            _check_image(tmp, f"'{url}' (the server sent {kind}, {received} bytes; nothing was cached)")
            digest = _file_sha256(tmp)
    except ImageError:
        raise
    except urllib.error.HTTPError as exc:
        raise ImageError(f"cannot download '{url}': HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise ImageError(f"cannot download '{url}': {exc.reason}") from exc
    except http.client.HTTPException as exc:  # a malformed or cut-off response
        raise ImageError(f"cannot download '{url}': bad response ({type(exc).__name__}: {exc})") from exc
    except (OSError, ValueError) as exc:  # timeouts, resets, bad URLs, disk full
        raise ImageError(f"cannot download '{url}': {exc}") from exc
    return digest


def _forget_cached(path: Path, error: ImageError) -> ImageError:
    """Remove the cached file ``path`` that failed with ``error``; return ``error`` saying so."""
    path.unlink(missing_ok=True)
    return ImageError(f"{error}; the cached copy was removed, so the next attempt downloads it again")


def _fetch(url: str, expected: str | None, check_cached: bool) -> Path:
    """:func:`fetch_url` with the digest already checked; ``check_cached``: decode a cache hit too."""
    if not _is_url(url):
        raise ImageError(f"cannot download '{url}': not an http:// or https:// URL")
    target = _cache_path(url)
    if target.is_file():
        if check_cached:
            try:
                _check_image(target, f"'{url}' (cached as '{target}')")
            except ImageError as exc:
                raise _forget_cached(target, exc) from exc
        actual = _file_sha256(target) if expected is not None else None
    else:
        actual = _download(url, target)
    if expected is not None and actual != expected:
        target.unlink(missing_ok=True)
        raise ImageError(f"sha256 mismatch for '{url}': expected {expected}, got {actual}")
    return target


def fetch_url(url: str, sha256: str | None = None) -> Path:
    """Download ``url`` (http/https) into the cache once and return the cached file's path.

    A second call for the same URL does not touch the network. Only a whole image that decodes is
    cached: the download must end within :data:`DOWNLOAD_TIMEOUT` seconds in all
    (``$NSTLIB_DOWNLOAD_TIMEOUT`` overrides it), be at most :data:`MAX_DOWNLOAD_BYTES` long and as
    long as its ``Content-Length``, and decode with :func:`load_image`'s checks; otherwise nothing is
    cached and ImageError names the URL and what it got. A cached file that no longer decodes (left
    by an older nstlib) is deleted, and ImageError says so. With ``sha256``, the file is checked; on a mismatch the
    cached copy is deleted and ImageError names the URL and both hashes.
    """
    return _fetch(url, _check_sha256(sha256), check_cached=True)


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _can_write_rgb(fmt: str) -> bool:
    """Whether Pillow can write an 8-bit RGB image in format ``fmt`` (probed once, in memory)."""
    try:
        Image.new("RGB", (16, 16)).save(BytesIO(), format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
    except Exception:  # any failure means "not usable for our outputs"
        return False
    return True


def _save_format(path: Path) -> str:
    """The Pillow format name for ``path``'s extension, or ImageError if we cannot write it."""
    ext = path.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE or not _can_write_rgb(fmt):
        shown = ext or "(none)"
        raise ImageError(
            f"cannot save to '{path}': unknown or unsupported image extension {shown}; use .png or .jpg"
        )
    return fmt


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable_path(
    output: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] = (),
    suffixes: Sequence[str] | None = None,
) -> Path:
    """Validate any output file path (image, plot, JSON) before work starts; return it resolved.

    Refuses (ImageError) an output that is an existing directory, does not end with one of
    ``suffixes`` (when given), is the same file as one of ``inputs`` (URLs are ignored), or whose
    folder is not writable (or is a file). A missing folder is fine: it is created on save.
    """
    out = Path(os.fspath(output)).expanduser()
    resolved = out.resolve()
    if out.is_dir():
        raise ImageError(f"cannot write output '{output}': it is an existing directory")
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise ImageError(f"cannot write output '{output}': it should end with {' or '.join(suffixes)}")
    for source in inputs:
        if _is_url(source):
            continue
        src = Path(os.fspath(source)).expanduser()
        same = src.resolve() == resolved
        if not same and out.exists() and src.exists():
            same = os.path.samefile(src, out)
        if same:
            raise ImageError(f"refusing to write output '{output}': it is the input '{source}'")
    folder = _nearest_existing(resolved.parent)
    if not folder.is_dir():
        raise ImageError(f"cannot write output '{output}': '{folder}' is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImageError(f"cannot write output '{output}': folder '{folder}' is not writable")
    return resolved


def check_output_path(output: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """:func:`check_writable_path` for an output *image*: also refuses extensions Pillow cannot write."""
    out = Path(os.fspath(output)).expanduser()
    if out.is_dir():
        raise ImageError(f"cannot write output '{output}': it is an existing directory")
    _save_format(out)
    return check_writable_path(output, inputs)


def save_image(image: Tensor, path: str | os.PathLike[str]) -> Path:
    """Save ``[1, 3, H, W]`` or ``[3, H, W]`` (values in ``[0, 1]``, clamped) as an 8-bit RGB file.

    The format follows the extension (JPEG and WebP at quality 95). The parent folder is created.
    The file is written to a temporary name in the same folder and then renamed over ``path``, so
    an existing file is replaced whole or not at all. Returns the resolved path.
    """
    target = Path(os.fspath(path)).expanduser().resolve()
    if target.is_dir():
        raise ImageError(f"cannot save to '{path}': it is an existing directory")
    fmt = _save_format(target)
    picture = to_pil(image)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"cannot save to '{path}': cannot create its folder ({exc})") from exc
    try:
        with atomic_file(target) as handle:
            picture.save(handle, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot save to '{path}': {exc}") from exc
    return target
