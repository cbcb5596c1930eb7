"""Tests for nstlib.core.images: loading (modes, EXIF, huge images, URLs), saving and output checks."""

from __future__ import annotations

import hashlib
import http.server
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, JpegImagePlugin

from nstlib.core import images
from nstlib.core.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    cache_dir,
    check_output_path,
    fetch_url,
    from_pil,
    load_image,
    max_pixels_for,
    resize,
    save_image,
    to_pil,
)

# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def as_uint8(image: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] in [0, 1] -> [H, W, 3] uint8."""
    return (image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def pixel(image: torch.Tensor, row: int, col: int) -> list[float]:
    return image[0, :, row, col].tolist()


def assert_one_line_naming(err: pytest.ExceptionInfo[ImageError], name: str) -> str:
    message = str(err.value)
    assert name in message, message
    assert "\n" not in message and "\r" not in message, message
    return message


def stored_mode(path: Path) -> str:
    """The Pillow mode of a file, to prove a test really exercises that mode."""
    with Image.open(path) as img:
        return img.mode


def stored_format(path: Path) -> str | None:
    with Image.open(path) as img:
        return img.format


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR claims width x height, with no pixel data (cheap to create)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


# ----------------------------------------------------------------------------------------------
# round trip, shapes, resizing
# ----------------------------------------------------------------------------------------------


def test_load_png_exact_pixels_shape_dtype_range(tmp_path: Path) -> None:
    array = random_rgb(7, 5)
    Image.fromarray(array).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.shape == (1, 3, 7, 5)
    assert image.dtype == torch.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_array_equal(as_uint8(image), array)


def test_save_then_load_round_trip_is_exact(tmp_path: Path) -> None:
    array = random_rgb(9, 13, seed=1)
    image = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float() / 255
    path = save_image(image, tmp_path / "out.png")
    assert path == (tmp_path / "out.png").resolve()
    loaded = load_image(path)
    np.testing.assert_array_equal(as_uint8(loaded), array)
    assert torch.equal(loaded, image)


def test_save_image_3d_grad_clamps_and_creates_folder(tmp_path: Path) -> None:
    values = [[[-0.5, 0.5, 1.5]], [[0.0, 0.2, 1.0]], [[0.999, 0.001, float("nan")]]]
    image = torch.tensor(values, requires_grad=True)
    assert image.shape == (3, 1, 3)
    path = save_image(image * 1.0, tmp_path / "new" / "deeper" / "x.png")
    assert path.is_file()
    with Image.open(path) as stored:
        saved = np.array(stored)
    np.testing.assert_array_equal(saved[0], [[0, 0, 255], [128, 51, 0], [255, 255, 0]])


def test_save_image_bad_shape_and_bad_extension(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"\(2, 3, 4, 4\)"):
        save_image(torch.zeros(2, 3, 4, 4), tmp_path / "x.png")
    with pytest.raises(ImageError) as err:
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / "x.notanimage")
    assert_one_line_naming(err, "x.notanimage")
    assert list(tmp_path.iterdir()) == []


def test_save_image_jpeg_is_close(tmp_path: Path) -> None:
    image = torch.full((1, 3, 16, 16), 0.5)
    image[:, 0] = 0.9
    loaded = load_image(save_image(image, tmp_path / "x.JPG"))
    assert stored_format(tmp_path / "x.JPG") == "JPEG"
    assert torch.allclose(loaded, image, atol=3 / 255)


@pytest.mark.parametrize(("width", "height", "size", "expected"), [
    (300, 200, 150, (100, 150)),
    (200, 300, 150, (150, 100)),
    (300, 200, 600, (400, 600)),
    (300, 200, 300, (200, 300)),
    (1000, 3, 100, (1, 100)),
])
def test_load_with_size_keeps_aspect_ratio(tmp_path: Path, width: int, height: int, size: int,
                                           expected: tuple[int, int]) -> None:
    Image.new("RGB", (width, height), (10, 200, 30)).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png", size=size)
    assert image.shape == (1, 3, *expected)
    assert torch.allclose(image[0, :, 0, 0], torch.tensor([10, 200, 30]) / 255, atol=1.5 / 255)


@pytest.mark.parametrize("bad", [0, -3, 1.5, "512", True, None])
def test_invalid_size_is_named(tmp_path: Path, bad: object) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    if bad is None:  # None is valid for size, so use it for max_pixels instead
        with pytest.raises(ImageError, match="max_pixels.*None"):
            load_image(tmp_path / "a.png", max_pixels=bad)  # type: ignore[arg-type]
        return
    with pytest.raises(ImageError) as err:
        load_image(tmp_path / "a.png", size=bad)  # type: ignore[arg-type]
    assert_one_line_naming(err, repr(bad))
    with pytest.raises(ImageError):
        resize(torch.zeros(1, 3, 4, 4), bad)  # type: ignore[arg-type]


def test_max_pixels_downscales_without_size(tmp_path: Path) -> None:
    Image.new("RGB", (400, 100), (1, 2, 3)).save(tmp_path / "wide.png")
    image = load_image(tmp_path / "wide.png", max_pixels=10_000)
    assert image.shape == (1, 3, 50, 200)
    assert load_image(tmp_path / "wide.png", max_pixels=40_000).shape == (1, 3, 100, 400)
    # max_pixels also caps an explicit size
    assert load_image(tmp_path / "wide.png", size=800, max_pixels=10_000).shape == (1, 3, 50, 200)


def test_an_output_size_asked_for_is_kept_above_the_default_cap(tmp_path: Path) -> None:
    from nstlib.gatys.transfer import as_image

    Image.new("RGB", (30, 20), (1, 2, 3)).save(tmp_path / "small.png")
    assert max_pixels_for(None) == DEFAULT_MAX_PIXELS == max_pixels_for(1000)
    assert max_pixels_for(5000) == 25_000_000
    # 5000 x 3333 is 16.7 MP: the default cap shrinks it, stylize's loader (a tiled output) keeps it
    assert load_image(tmp_path / "small.png", 5000).shape[-1] < 5000
    assert as_image(str(tmp_path / "small.png"), 5000, "content").shape == (1, 3, 3333, 5000)


def test_device_argument(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", device="cpu").device.type == "cpu"
    assert load_image(tmp_path / "a.png", device="meta").device.type == "meta"


# ----------------------------------------------------------------------------------------------
# colour modes
# ----------------------------------------------------------------------------------------------


def _palette_image(transparent_index: int | None) -> Image.Image:
    img = Image.new("P", (3, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2])
    if transparent_index is not None:
        img.info["transparency"] = transparent_index
    return img


def test_gray_l(tmp_path: Path) -> None:
    img = Image.new("L", (2, 2), 128)
    img.putpixel((1, 1), 0)
    img.save(tmp_path / "g.png")
    image = load_image(tmp_path / "g.png")
    assert pixel(image, 0, 0) == pytest.approx([128 / 255] * 3, abs=1e-7)
    assert pixel(image, 1, 1) == [0.0, 0.0, 0.0]


def test_gray_with_alpha_la(tmp_path: Path) -> None:
    img = Image.new("LA", (3, 1))
    img.putdata([(100, 255), (100, 0), (0, 51)])
    img.save(tmp_path / "la.png")
    assert stored_mode(tmp_path / "la.png") == "LA"
    image = load_image(tmp_path / "la.png")
    assert pixel(image, 0, 0) == pytest.approx([100 / 255] * 3, abs=1e-6)
    assert pixel(image, 0, 1) == pytest.approx([1.0] * 3, abs=1e-6)  # transparent -> white
    assert pixel(image, 0, 2) == pytest.approx([0.8] * 3, abs=1e-6)  # black at 20 % over white


def test_palette_without_transparency(tmp_path: Path) -> None:
    _palette_image(None).save(tmp_path / "p.png")
    assert stored_mode(tmp_path / "p.png") == "P"
    image = load_image(tmp_path / "p.png")
    assert image.shape == (1, 3, 1, 3)
    assert image[0, :, 0].T.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


@pytest.mark.parametrize("fmt", ["png", "gif"])
def test_palette_with_transparency(tmp_path: Path, fmt: str) -> None:
    _palette_image(transparent_index=1).save(tmp_path / f"p.{fmt}", transparency=1)
    assert stored_mode(tmp_path / f"p.{fmt}") == "P"
    image = load_image(tmp_path / f"p.{fmt}")
    assert image[0, :, 0].T.tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]]


def test_rgba_composited_onto_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (3, 1))
    img.putdata([(10, 20, 30, 255), (0, 0, 0, 0), (255, 0, 0, 128)])
    img.save(tmp_path / "rgba.png")
    image = load_image(tmp_path / "rgba.png")
    assert pixel(image, 0, 0) == pytest.approx([10 / 255, 20 / 255, 30 / 255], abs=1e-6)
    assert pixel(image, 0, 1) == [1.0, 1.0, 1.0]
    assert pixel(image, 0, 2) == pytest.approx([1.0, 127 / 255, 127 / 255], abs=1e-6)


def test_rgba_resized_without_dark_fringes(tmp_path: Path) -> None:
    # Transparent black next to opaque white: a naive (non-premultiplied) resize would pull grey in.
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    img.paste((255, 255, 255, 255), (0, 0, 32, 64))
    img.save(tmp_path / "half.png")
    image = load_image(tmp_path / "half.png", size=16)
    assert image.min() > 0.98


@pytest.mark.parametrize("fmt", ["tiff", "jpeg"])
def test_cmyk(tmp_path: Path, fmt: str) -> None:
    img = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan
    img.paste((0, 0, 0, 255), (8, 0, 16, 16))  # pure black on the right half
    img.save(tmp_path / f"c.{fmt}", quality=95)
    assert stored_mode(tmp_path / f"c.{fmt}") == "CMYK"
    image = load_image(tmp_path / f"c.{fmt}")
    assert pixel(image, 8, 1) == pytest.approx([0.0, 1.0, 1.0], abs=0.05)
    assert pixel(image, 8, 14) == pytest.approx([0.0, 0.0, 0.0], abs=0.05)


@pytest.mark.parametrize(("mode", "fmt"), [("I;16", "png"), ("I;16B", "tiff"), ("I", "tiff")])
def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path: Path, mode: str, fmt: str) -> None:
    values = np.array([[0, 255, 32768, 65535]])
    if mode == "I":
        img = Image.fromarray(values.astype(np.int32))
    else:
        img = Image.frombytes(mode, (4, 1), values.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    img.save(tmp_path / f"g.{fmt}")
    assert stored_mode(tmp_path / f"g.{fmt}") == mode
    image = load_image(tmp_path / f"g.{fmt}")
    expected = [0.0, 255 / 65535, 32768 / 65535, 1.0]
    for channel in range(3):
        assert image[0, channel, 0].tolist() == pytest.approx(expected, abs=1e-6)


def test_float_f_mode_is_unit_range_and_clamped(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.25, 0.75, 2.0, -1.0]], dtype=np.float32)).save(tmp_path / "f.tiff")
    assert stored_mode(tmp_path / "f.tiff") == "F"
    image = load_image(tmp_path / "f.tiff")
    assert image[0, 1, 0].tolist() == [0.25, 0.75, 1.0, 0.0]


def test_one_bit(tmp_path: Path) -> None:
    img = Image.new("1", (2, 1), 0)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "b.png")
    assert stored_mode(tmp_path / "b.png") == "1"
    image = load_image(tmp_path / "b.png")
    assert pixel(image, 0, 0) == [0.0, 0.0, 0.0]
    assert pixel(image, 0, 1) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("mode", ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX",
                                  "CMYK", "YCbCr", "HSV", "I", "I;16", "I;16B", "F"])
def test_from_pil_handles_every_common_mode(mode: str) -> None:
    img = Image.new(mode, (5, 4))
    tensor = from_pil(img)
    assert tensor.shape == (1, 3, 4, 5)
    assert tensor.dtype == torch.float32
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0


def test_to_pil_from_pil_round_trip() -> None:
    array = random_rgb(6, 4, seed=3)
    img = Image.fromarray(array)
    tensor = from_pil(img)
    back = to_pil(tensor.requires_grad_())
    assert back.mode == "RGB" and back.size == (4, 6)
    np.testing.assert_array_equal(np.array(back), array)
    np.testing.assert_array_equal(np.array(to_pil(tensor[0])), array)


# ----------------------------------------------------------------------------------------------
# EXIF orientation
# ----------------------------------------------------------------------------------------------


def _with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def test_exif_orientation_6_rotates_png(tmp_path: Path) -> None:
    img = Image.new("RGB", (3, 2), (0, 0, 0))  # 3 wide, 2 high
    img.putpixel((0, 0), (255, 0, 0))  # top-left marked red
    img.save(tmp_path / "o.png", exif=_with_orientation(6))
    image = load_image(tmp_path / "o.png")
    # Orientation 6: the camera was turned, display = rotate 90° clockwise -> 2 wide, 3 high,
    # and the stored top-left corner ends up top-right.
    assert image.shape == (1, 3, 3, 2)
    assert pixel(image, 0, 1) == [1.0, 0.0, 0.0]
    assert image.sum() == 1.0


def test_exif_orientation_6_rotates_jpeg_with_resize(tmp_path: Path) -> None:
    img = Image.new("RGB", (64, 32), (0, 0, 255))  # blue
    img.paste((255, 0, 0), (0, 0, 32, 32))  # left half red
    img.save(tmp_path / "o.jpg", quality=95, exif=_with_orientation(6))
    image = load_image(tmp_path / "o.jpg", size=32)
    assert image.shape == (1, 3, 32, 16)
    assert pixel(image, 8, 8) == pytest.approx([1.0, 0.0, 0.0], abs=0.1)  # red now on top
    assert pixel(image, 24, 8) == pytest.approx([0.0, 0.0, 1.0], abs=0.1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_match_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    array = random_rgb(3, 5, seed=orientation)
    Image.fromarray(array).save(tmp_path / "o.png", exif=_with_orientation(orientation))
    with Image.open(tmp_path / "o.png") as stored:
        expected = from_pil(ImageOps.exif_transpose(stored))
    assert torch.equal(load_image(tmp_path / "o.png"), expected)
    if orientation > 1:
        assert not torch.equal(expected, from_pil(Image.fromarray(array)))


# ----------------------------------------------------------------------------------------------
# 100-megapixel images and absurd sizes
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """10000 x 10000 (100 MP, above Pillow's 89 MP warning limit) solid images, JPEG and PNG."""
    folder = tmp_path_factory.mktemp("huge")
    paths = {"jpeg": folder / "huge.jpg", "png": folder / "huge.png"}
    img = Image.new("RGB", (10_000, 10_000), (200, 30, 60))
    img.save(paths["jpeg"], quality=90)
    del img
    Image.new("L", (10_000, 10_000), 77).save(paths["png"], compress_level=1)
    return paths


def test_pillow_itself_would_warn_on_the_huge_image(huge_images: dict[str, Path]) -> None:
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(huge_images["jpeg"]).close()


@pytest.mark.parametrize(("fmt", "colour"), [("jpeg", (200, 30, 60)), ("png", (77, 77, 77))])
def test_100_megapixel_loads_downscaled_silently(
    huge_images: dict[str, Path], capfd: pytest.CaptureFixture[str], fmt: str, colour: tuple[int, int, int]
) -> None:
    limit_before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_image(huge_images[fmt], size=512)
    assert image.shape == (1, 3, 512, 512)
    assert pixel(image, 256, 256) == pytest.approx([c / 255 for c in colour], abs=2 / 255)
    assert Image.MAX_IMAGE_PIXELS == limit_before
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_100_megapixel_without_size_fits_max_pixels(huge_images: dict[str, Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_image(huge_images["jpeg"], max_pixels=1_000_000)
    assert image.shape == (1, 3, 1000, 1000)


def test_huge_jpeg_is_decoded_in_draft_mode(
    huge_images: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, int]] = []
    original_load = JpegImagePlugin.JpegImageFile.load

    def spy_load(self: JpegImagePlugin.JpegImageFile) -> object:
        result = original_load(self)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy_load)
    assert load_image(huge_images["jpeg"], size=512).shape == (1, 3, 512, 512)
    # libjpeg decoded at 1/8 scale (1250 >= 2 x 512), not the full 10000 x 10000
    assert decoded and decoded[0] == (1250, 1250)


def test_between_pillow_bomb_error_and_our_limit_still_loads(tmp_path: Path) -> None:
    # 225 MP is more than twice Pillow's default MAX_IMAGE_PIXELS, so Pillow alone raises
    # DecompressionBombError; it is below MAX_SOURCE_PIXELS, so load_image must cope.
    path = tmp_path / "225mp.jpg"
    Image.new("L", (15_000, 15_000), 99).save(path)
    with pytest.raises(Image.DecompressionBombError), Image.open(path):
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_image(path, size=300)
    assert image.shape == (1, 3, 300, 300)
    assert pixel(image, 150, 150) == pytest.approx([99 / 255] * 3, abs=1 / 255)


@pytest.mark.parametrize("side", [40_000, 100_000])  # 1.6 GP (our limit), 10 GP (Pillow's error)
def test_absurd_sizes_are_refused(tmp_path: Path, side: int, capfd: pytest.CaptureFixture[str]) -> None:
    path = png_header_only(tmp_path / f"bomb{side}.png", side, side)
    limit_before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError) as err:
            load_image(path, size=256)
    message = assert_one_line_naming(err, path.name)
    assert "pixels" in message
    assert Image.MAX_IMAGE_PIXELS == limit_before
    assert capfd.readouterr() == ("", "")


# ----------------------------------------------------------------------------------------------
# error cases
# ----------------------------------------------------------------------------------------------


def _make_bad(kind: str, folder: Path) -> Path:
    if kind == "missing":
        return folder / "missing.png"
    if kind == "under_a_file":
        (folder / "plain.txt").write_text("x")
        return folder / "plain.txt" / "inside.png"
    if kind == "directory":
        (folder / "adir.png").mkdir()
        return folder / "adir.png"
    if kind == "text":
        (folder / "notes.png").write_text("this is not an image\n" * 10)
        return folder / "notes.png"
    if kind == "empty":
        (folder / "empty.jpg").write_bytes(b"")
        return folder / "empty.jpg"
    if kind == "truncated":
        Image.fromarray(random_rgb(64, 64)).save(folder / "cut.png")
        data = (folder / "cut.png").read_bytes()
        (folder / "cut.png").write_bytes(data[: len(data) // 2])
        return folder / "cut.png"
    if kind == "svg":
        (folder / "vector.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
        return folder / "vector.svg"
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "words"), [
    ("missing", "does not exist"),
    ("under_a_file", "does not exist"),
    ("directory", "directory"),
    ("text", "not an image"),
    ("empty", "empty"),
    ("truncated", "truncated"),
    ("svg", "unsupported format"),
])
def test_bad_inputs_give_one_line_image_error(tmp_path: Path, kind: str, words: str,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    path = _make_bad(kind, tmp_path)
    with pytest.raises(ImageError) as err:
        load_image(path)
    message = assert_one_line_naming(err, path.name)
    assert words in message
    assert isinstance(err.value, ValueError)
    assert capfd.readouterr() == ("", "")


def test_image_error_message_is_forced_to_one_line() -> None:
    assert str(ImageError("first\n  second\r\nthird")) == "first second third"


def test_local_sha256(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "a.png")
    digest = hashlib.sha256((tmp_path / "a.png").read_bytes()).hexdigest()
    assert load_image(tmp_path / "a.png", sha256=digest.upper()).shape == (1, 3, 2, 2)
    with pytest.raises(ImageError) as err:
        load_image(tmp_path / "a.png", sha256="0" * 64)
    message = assert_one_line_naming(err, "a.png")
    assert digest in message and "0" * 64 in message
    assert (tmp_path / "a.png").exists()  # never delete a user's own file
    with pytest.raises(ImageError, match="'abc'"):
        load_image(tmp_path / "a.png", sha256="abc")


def test_other_url_schemes_are_refused() -> None:
    with pytest.raises(ImageError, match="ftp://example.com/a.png"):
        load_image("ftp://example.com/a.png")


# ----------------------------------------------------------------------------------------------
# URLs
# ----------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()


class _Server:
    def __init__(self, root: Path) -> None:
        handler = type("Handler", (_QuietHandler,), {"requests": []})
        self.requests: list[str] = handler.requests
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.running = True

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()
            self.running = False


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    """An HTTP server on 127.0.0.1 serving tmp_path/www, with NSTLIB_CACHE_DIR in tmp_path/cache."""
    (tmp_path / "www").mkdir()
    Image.fromarray(random_rgb(6, 8, seed=7)).save(tmp_path / "www" / "cat.png")
    (tmp_path / "www" / "page.png").write_text("<html>not found, really</html>")
    monkeypatch.setenv("NSTLIB_CACHE_DIR", str(tmp_path / "cache"))
    srv = _Server(tmp_path / "www")
    yield srv
    srv.stop()


def test_url_download_then_cache_hit_without_network(server: _Server, tmp_path: Path,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    url = server.url("cat.png")
    image = load_image(url)
    np.testing.assert_array_equal(as_uint8(image), random_rgb(6, 8, seed=7))
    assert server.requests == ["/cat.png"]
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    cached = tmp_path / "cache" / "downloads" / f"{key}-cat.png"
    assert fetch_url(url) == cached
    assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]  # no temp files left
    assert server.requests == ["/cat.png"]

    server.stop()
    again = load_image(url, size=4)
    assert again.shape == (1, 3, 3, 4)
    assert capfd.readouterr() == ("", "")


def test_url_sha256_good_and_bad(server: _Server, tmp_path: Path) -> None:
    url = server.url("cat.png")
    digest = hashlib.sha256((tmp_path / "www" / "cat.png").read_bytes()).hexdigest()
    with pytest.raises(ImageError) as err:
        load_image(url, sha256="f" * 64)
    message = assert_one_line_naming(err, url)
    assert digest in message and "f" * 64 in message
    assert not any((tmp_path / "cache" / "downloads").iterdir())  # the bad download was deleted

    assert load_image(url, sha256=digest).shape == (1, 3, 6, 8)
    # A cached file that no longer matches is deleted too.
    cached = fetch_url(url)
    with pytest.raises(ImageError, match="sha256 mismatch"):
        fetch_url(url, sha256="e" * 64)
    assert not cached.exists()


def test_url_404_and_refused_connection(server: _Server, tmp_path: Path) -> None:
    url = server.url("nope.png")
    with pytest.raises(ImageError) as err:
        load_image(url)
    assert "404" in assert_one_line_naming(err, url)
    assert [p.name for p in (tmp_path / "cache" / "downloads").iterdir()] == []

    gone = server.url("cat.png")
    server.stop()
    with pytest.raises(ImageError) as err:
        load_image(gone)
    assert_one_line_naming(err, gone)


def test_url_that_is_not_an_image_names_the_url(server: _Server) -> None:
    url = server.url("page.png")
    with pytest.raises(ImageError) as err:
        load_image(url)
    assert "not an image" in assert_one_line_naming(err, url)


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NSTLIB_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("NSTLIB_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "nstlib"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "nstlib"


def test_cache_file_name_is_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NSTLIB_CACHE_DIR", str(tmp_path))
    path = images._cache_path("https://example.com/a/b/../my%20photo.jpg?x=1")
    assert path.parent == tmp_path / "downloads"
    assert path.name.endswith("-my_photo.jpg") and len(path.name) == 16 + 1 + len("my_photo.jpg")
    assert images._cache_path("https://example.com/").name.endswith("-download")


# ----------------------------------------------------------------------------------------------
# check_output_path and atomic saving
# ----------------------------------------------------------------------------------------------


def test_check_output_path_accepts_new_file_in_missing_folder(tmp_path: Path) -> None:
    out = tmp_path / "new" / "result.png"
    inputs = [tmp_path / "content.jpg", "https://example.com/style.jpg"]
    assert check_output_path(out, inputs) == out.resolve()
    assert not out.parent.exists()  # nothing created before the work is done


def test_check_output_path_refuses_the_input_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "content.png")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ImageError) as err:
        check_output_path(tmp_path / "content.png", [tmp_path / "style.png", tmp_path / "content.png"])
    assert_one_line_naming(err, "content.png")
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ImageError, match="input"):
        check_output_path("../sub/../content.png", ["../content.png"])
    os.link(tmp_path / "content.png", tmp_path / "hardlink.png")
    with pytest.raises(ImageError, match="hardlink.png"):
        check_output_path(tmp_path / "hardlink.png", [tmp_path / "content.png"])


def test_check_output_path_refuses_directory_and_bad_extension(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(ImageError) as err:
        check_output_path(tmp_path / "out.png", [])
    assert "directory" in assert_one_line_naming(err, "out.png")
    for name in ["out.xyz", "out", "out.xbm"]:  # XBM exists in Pillow but cannot hold RGB
        with pytest.raises(ImageError) as err:
            check_output_path(tmp_path / name, [])
        assert "extension" in assert_one_line_naming(err, name)


def test_check_output_path_refuses_file_as_folder(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "somefile.png")
    with pytest.raises(ImageError) as err:
        check_output_path(tmp_path / "somefile.png" / "out.png", [])
    assert "not a directory" in assert_one_line_naming(err, "out.png")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_check_output_path_refuses_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ImageError) as err:
            check_output_path(locked / "out.png", [])
        assert "not writable" in assert_one_line_naming(err, "out.png")
        with pytest.raises(ImageError):
            check_output_path(locked / "missing" / "out.png", [])
    finally:
        locked.chmod(0o700)


def test_check_output_path_asks_os_access_about_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs even as root (where chmod cannot lock a folder): pretend the OS denies write access.
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    asked: list[tuple[Path, int]] = []

    def fake_access(path: str | os.PathLike[str], mode: int, **kwargs: object) -> bool:
        asked.append((Path(path), mode))
        return False if Path(path) == locked else real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", fake_access)
    with pytest.raises(ImageError) as err:
        check_output_path(locked / "sub" / "out.png", [])
    assert "not writable" in assert_one_line_naming(err, "out.png")
    assert asked and asked[-1][0] == locked and asked[-1][1] & os.W_OK
    assert check_output_path(tmp_path / "out.png", []) == (tmp_path / "out.png").resolve()


def test_save_image_replaces_existing_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old contents")
    image = torch.zeros(1, 3, 4, 4)
    image[:, 1] = 1.0
    save_image(image, target)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert pixel(load_image(target), 0, 0) == [0.0, 1.0, 0.0]


def test_save_image_failure_keeps_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old contents")

    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"half an image")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError) as err:
        save_image(torch.zeros(1, 3, 4, 4), target)
    assert "disk full" in assert_one_line_naming(err, "out.png")
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


# ----------------------------------------------------------------------------------------------
# tensor resize
# ----------------------------------------------------------------------------------------------


def test_resize_tensor_shape_and_dtype() -> None:
    image = torch.rand(1, 3, 200, 300)
    out = resize(image, 150)
    assert out.shape == (1, 3, 100, 150) and out.dtype == torch.float32
    assert resize(torch.rand(2, 3, 300, 200), 30).shape == (2, 3, 30, 20)
    assert resize(torch.rand(1, 3, 8, 8, dtype=torch.float64), 4).dtype == torch.float64
    half = resize(torch.full((1, 3, 8, 8), 0.5, dtype=torch.bfloat16), 4)
    assert half.dtype == torch.bfloat16 and torch.all(half == 0.5)
    with pytest.raises(ImageError, match="uint8"):
        resize(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 4)
    with pytest.raises(ImageError, match=r"\(3, 8, 8\)"):
        resize(torch.zeros(3, 8, 8), 4)


def test_resize_is_antialiased() -> None:
    stripes = (torch.arange(64) % 2).float()  # 1-pixel black/white columns
    image = stripes.expand(1, 3, 64, 64)
    out = resize(image, 20)
    assert out.shape == (1, 3, 20, 20)
    assert torch.allclose(out, torch.full_like(out, 0.5), atol=0.06)
    # without antialiasing the stripes alias to near-black and near-white columns
    aliased = F.interpolate(image, size=(20, 20), mode="bicubic", align_corners=False)
    assert aliased.max() - aliased.min() > 0.9


def test_resize_is_clamped() -> None:
    image = torch.zeros(1, 3, 8, 8)
    image[..., 4:] = 1.0  # a hard edge: bicubic upsampling overshoots it
    raw = F.interpolate(image, size=(32, 32), mode="bicubic", align_corners=False, antialias=True)
    assert raw.min() < 0.0 and raw.max() > 1.0
    out = resize(image, 32)
    assert out.min() == 0.0 and out.max() == 1.0


def test_a_bare_name_is_a_bundled_image_unless_a_file_has_it(tmp_path, monkeypatch):
    from nstlib.core.assets import default_content, style_image

    monkeypatch.chdir(tmp_path)
    assert torch.equal(load_image("chelsea", 32), load_image(default_content(), 32))
    assert torch.equal(load_image("mondrian.png", 32), load_image(style_image("mondrian"), 32))
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "chelsea", format="PNG")  # a local file wins
    local = load_image("chelsea")
    assert local.shape == (1, 3, 8, 8) and torch.equal(local[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ImageError, match=r"'nope' \(not a file here, nor a bundled image: .*chelsea.*mondrian"):
        load_image("nope")
    with pytest.raises(ImageError, match="file does not exist"):
        load_image("sub/mondrian")  # a path is a path
