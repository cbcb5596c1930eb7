"""Tests for nstlib.course.paint (procedural style images) and the shipped example images."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import nstlib.course.paint as paint_module
from nstlib.course.paint import STYLES, paint

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "nstlib" / "data" / "images"  # shipped with the package
CONTENT = IMAGES / "content"
STYLE = IMAGES / "style"
SOURCES = ROOT / "images" / "SOURCES.md"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}

REQUIRED = ("brush_strokes", "mondrian", "pointillism", "stained_glass")
NAMES = sorted(STYLES)
SMALL = 96  # most tests run at this size to stay fast


@pytest.fixture(scope="module")
def full():
    """``full(name)`` -> paint(name, 512, 0) as a uint8 array, computed once per module."""
    cache: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = np.asarray(paint(name, 512, 0))
        return cache[name]

    return get


# -- helpers -----------------------------------------------------------------


def _hsv(arr: np.ndarray) -> np.ndarray:
    """(N, 3) HSV in [0, 1] for an (H, W, 3) uint8 array."""
    return paint_module._rgb_to_hsv(arr.reshape(-1, 3).astype(np.float64))


def _component_labels(arr: np.ndarray, tol: int) -> np.ndarray:
    """Label 4-connected regions whose neighbouring pixels differ by at most ``tol`` per channel.

    Returns a (H * W,) array giving each pixel the index of its region's
    representative pixel.
    """
    a = arr.astype(np.int16)
    h, w, _ = a.shape
    idx = np.arange(h * w).reshape(h, w)
    same_h = np.abs(a[:, 1:] - a[:, :-1]).max(axis=2) <= tol
    same_v = np.abs(a[1:] - a[:-1]).max(axis=2) <= tol
    src = np.concatenate([idx[:, :-1][same_h], idx[:-1][same_v]])
    dst = np.concatenate([idx[:, 1:][same_h], idx[1:][same_v]])
    parent = np.arange(h * w)
    for _ in range(200):  # union-find by hooking roots, then full path compression
        ra, rb = parent[src], parent[dst]
        differ = ra != rb
        if not differ.any():
            return parent
        np.minimum.at(parent, np.maximum(ra, rb)[differ], np.minimum(ra, rb)[differ])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    raise AssertionError("connected-component labelling did not converge")  # pragma: no cover


def _round_blobs(arr: np.ndarray) -> int:
    """Number of dot-like regions: 8..150 px of near-uniform colour, compact and roundish."""
    h, w, _ = arr.shape
    labels = _component_labels(arr, tol=8)
    n = h * w
    ys, xs = np.divmod(np.arange(n), w)
    area = np.bincount(labels, minlength=n)
    x0, y0 = np.full(n, w), np.full(n, h)
    x1, y1 = np.full(n, -1), np.full(n, -1)
    np.minimum.at(x0, labels, xs)
    np.maximum.at(x1, labels, xs)
    np.minimum.at(y0, labels, ys)
    np.maximum.at(y1, labels, ys)
    bw, bh = x1 - x0 + 1, y1 - y0 + 1
    aspect = np.maximum(bw, bh) / np.maximum(1, np.minimum(bw, bh))
    fill = area / np.maximum(1, bw * bh)
    dots = (area >= 8) & (area <= 150) & (aspect <= 2.0) & (fill >= 0.5)
    return int(dots.sum())


def _has_region(mask: np.ndarray, tile: int = 16) -> bool:
    """True if some aligned ``tile`` x ``tile`` block lies entirely inside ``mask``."""
    h, w = mask.shape
    blocks = mask[: h - h % tile, : w - w % tile].reshape(h // tile, tile, w // tile, tile)
    return bool(blocks.all(axis=(1, 3)).any())


def _longest_run(mask: np.ndarray, axis: int) -> int:
    """Length of the longest run of True values along ``axis``."""
    m = np.moveaxis(mask, axis, -1).astype(np.int32)
    best = 0
    run = np.zeros(m.shape[:-1], dtype=np.int32)
    for i in range(m.shape[-1]):
        run = (run + 1) * m[..., i]
        best = max(best, int(run.max()))
    return best


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


# -- registry and arguments ----------------------------------------------------


def test_registry_contains_the_styles():
    for name in REQUIRED:
        assert name in STYLES
    for name, fn in STYLES.items():
        assert fn is getattr(paint_module, name), name
        assert fn.__doc__ and len(fn.__doc__) > 80, f"{name} needs a docstring"


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        paint("starry_nite")
    message = str(info.value)
    assert "starry_nite" in message
    for name in STYLES:
        assert name in message


@pytest.mark.parametrize("size", [0, 8, -1])
def test_too_small_size_is_rejected(size):
    with pytest.raises(ValueError):
        paint("mondrian", size=size)


def test_bad_argument_types_and_seed():
    with pytest.raises(TypeError):
        paint("mondrian", size=64.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        paint("mondrian", size=64, seed="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        paint("mondrian", size=64, seed=-1)


# -- determinism, size and mode --------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_identical_pixels(name):
    a = np.asarray(paint(name, SMALL, 7))
    b = np.asarray(STYLES[name](size=SMALL, seed=7))
    assert a.dtype == np.uint8
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_different_seed_gives_different_image(name):
    a = np.asarray(paint(name, SMALL, 1)).astype(np.int16)
    b = np.asarray(paint(name, SMALL, 2)).astype(np.int16)
    assert np.abs(a - b).mean() > 3.0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [64, 101])
def test_size_and_mode(name, size):
    img = paint(name, size, 0)
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    assert img.size == (size, size)


# -- every style is worth stylising with -------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_style_is_not_flat(name, full):
    arr = full(name)
    assert arr.shape == (512, 512, 3)
    assert arr.std() > 25.0
    packed = (arr[..., 0].astype(np.int32) << 16) | (arr[..., 1].astype(np.int32) << 8) | arr[..., 2]
    assert len(np.unique(packed)) > 1000
    # No 32 x 32 tile is perfectly flat: grain or texture everywhere.
    tiles = arr.astype(np.float64).reshape(16, 32, 16, 32, 3).transpose(0, 2, 1, 3, 4).reshape(256, -1, 3)
    assert tiles.std(axis=1).max(axis=1).min() > 1.0


def test_mondrian_has_black_bars_and_primaries(full):
    arr = full("mondrian").astype(np.int16)
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    black = arr.max(axis=2) < 50
    red = (r > 150) & (g < 80) & (b < 80)
    blue = (b > 100) & (r < 80) & (g < 120)
    yellow = (r > 200) & (g > 150) & (b < 80)
    off_white = arr.min(axis=2) > 200
    assert 0.03 < black.mean() < 0.35
    # Black bars: long straight runs of near-black pixels.
    assert max(_longest_run(black, axis=0), _longest_run(black, axis=1)) >= 100
    for colour, mask in {"red": red, "blue": blue, "yellow": yellow}.items():
        assert mask.mean() > 0.005, colour
        assert _has_region(mask, 16), f"no solid {colour} region"
    assert off_white.mean() > 0.3


def test_stained_glass_has_lead_lines_and_jewel_glass(full):
    arr = full("stained_glass")
    lead = arr.max(axis=2) < 60
    assert 0.08 < lead.mean() < 0.40
    hsv = _hsv(arr)
    jewel = (hsv[:, 1] > 0.5) & (hsv[:, 2] > 0.3)
    assert jewel.mean() > 0.3
    # The lead forms lines: most rows and columns cross some of it.
    assert lead.any(axis=1).mean() > 0.9
    assert lead.any(axis=0).mean() > 0.9


def test_brush_strokes_is_dominated_by_blue(full):
    arr = full("brush_strokes")
    hsv = _hsv(arr)
    blue = (hsv[:, 0] > 0.47) & (hsv[:, 0] < 0.75) & (hsv[:, 1] > 0.25)
    assert blue.mean() > 0.55
    # ... with warm star and moon highlights.
    warm = (hsv[:, 0] > 0.08) & (hsv[:, 0] < 0.18) & (hsv[:, 1] > 0.4) & (hsv[:, 2] > 0.7)
    assert warm.mean() > 0.01


def test_pointillism_is_made_of_many_small_dots(full):
    arr = full("pointillism")
    assert _round_blobs(arr) > 2500
    # The measure really detects dots: the same picture blurred has almost
    # none, and the elongated strokes of brush_strokes score far lower.
    blurred = np.asarray(Image.fromarray(arr).filter(ImageFilter.GaussianBlur(2.5)))
    assert _round_blobs(blurred) < 500
    assert _round_blobs(full("brush_strokes")) < 1000


def test_wave_is_blue_with_white_foam(full):
    arr = full("wave")
    hsv = _hsv(arr)
    blue = (hsv[:, 0] > 0.5) & (hsv[:, 0] < 0.7) & (hsv[:, 1] > 0.25)
    assert blue.mean() > 0.4
    assert (arr.min(axis=2) > 225).mean() > 0.01


# -- shipped images ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shipped_style_image_is_regenerable(name, full):
    path = STYLE / f"{name}.png"
    assert path.is_file(), f"missing {path}; run: python scripts/make_images.py --style"
    assert path.stat().st_size < 1_000_000
    with Image.open(path) as img:
        assert img.format == "PNG"
        shipped = np.asarray(img.convert("RGB"))
    fresh = full(name)
    assert shipped.shape == fresh.shape
    diff = np.abs(shipped.astype(np.int16) - fresh.astype(np.int16)).mean()
    assert diff == 0.0, f"{path.name} differs from paint({name!r}, 512, 0) (mean |diff| {diff:.4f}); re-run scripts/make_images.py --style"


def test_content_images_exist_and_open():
    files = _images_in(CONTENT)
    assert len(files) >= 4, files
    for path in files:
        with Image.open(path) as img:
            img.load()
            assert img.mode == "RGB", path.name
            assert min(img.size) >= 256, path.name


def test_every_image_is_listed_in_sources():
    text = SOURCES.read_text(encoding="utf-8")
    files = _images_in(CONTENT) + _images_in(STYLE)
    assert files
    for path in files:
        assert f"`{path.name}`" in text, f"{path.relative_to(ROOT)} is not listed in images/SOURCES.md"
    # Nothing unexpected (non-image files) lurks in the image folders either.
    for folder in (CONTENT, STYLE):
        for path in folder.iterdir():
            if not path.name.startswith("."):
                assert path.suffix.lower() in IMAGE_SUFFIXES, path


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_package_does_not_need_scikit_image():
    for path in sorted((ROOT / "nstlib").rglob("*.py")):
        if path.name == "flow.py":  # TV-L1 optical flow, the optional `video` extra: imported on use only
            top = ast.parse(path.read_text(encoding="utf-8")).body
            assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) and "skimage" in ast.dump(n) for n in top)
            continue
        assert "skimage" not in _imports(path), f"{path.relative_to(ROOT)} imports scikit-image"
    assert not ({"matplotlib", "skimage", "scipy", "cv2"} & _imports(ROOT / "nstlib" / "course" / "paint.py"))
    # The image script only looks scikit-image up lazily, never at import time.
    script = ROOT / "scripts" / "make_images.py"
    top_level = ast.parse(script.read_text(encoding="utf-8")).body
    for node in top_level:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.split(".")[0] == "skimage" for n in names)
