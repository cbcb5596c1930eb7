"""Create the course's example images under ``images/``.

Usage::

    python scripts/make_images.py            # both steps
    python scripts/make_images.py --content  # copy the content photos
    python scripts/make_images.py --style    # paint the style images

``--content`` copies a few public-domain / CC0 photographs, byte for byte,
from the sample data that ships inside the scikit-image package into
``nstlib/data/images/content/``.  This is a one-off step done by a maintainer: only
this script needs scikit-image (``pip install scikit-image``); nstlib itself
never imports it.  Files that already exist with the same bytes are left
alone; a file that exists with different bytes is only replaced with
``--force``.

``--style`` paints every style in :data:`nstlib.course.paint.STYLES` at 512 px
with seed 0 and writes ``nstlib/data/images/style/<name>.png``.  The result is
deterministic, so re-running it reproduces the shipped files exactly (the
tests check this).

The origin, author and licence of every file are recorded by hand in
``images/SOURCES.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = ROOT / "nstlib" / "data" / "images" / "content"
STYLE_DIR = ROOT / "nstlib" / "data" / "images" / "style"

# File in skimage/data -> file name in nstlib/data/images/content.  Only images whose
# licence (stated in the docstrings of skimage/data/_fetchers.py) is CC0 or
# public domain are copied; see images/SOURCES.md.  ``motorcycle_left.png``
# (Middlebury 2014 stereo data) is deliberately left out: no CC0 or
# public-domain statement accompanies it.
CONTENT_PHOTOS: dict[str, str] = {
    "astronaut.png": "astronaut.png",
    "chelsea.png": "chelsea.png",
    "coffee.png": "coffee.png",
    "rocket.jpg": "rocket.jpg",
}

STYLE_SIZE = 512
STYLE_SEED = 0


def _skimage_data_dir() -> Path:
    """Locate ``skimage/data`` without importing scikit-image's heavy modules."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "make_images.py --content needs scikit-image, which ships the sample photos.\n"
            "It is only needed for this one-off copy, not by nstlib:\n"
            "    pip install scikit-image"
        )
    for location in spec.submodule_search_locations:
        data = Path(location) / "data"
        if data.is_dir():
            return data
    raise SystemExit(f"scikit-image is installed but has no data folder in {list(spec.submodule_search_locations)}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_content(force: bool = False) -> None:
    """Copy the content photos from scikit-image's data folder, unchanged."""
    data = _skimage_data_dir()
    missing = [name for name in CONTENT_PHOTOS if not (data / name).is_file()]
    if missing:
        raise SystemExit(
            f"these photos are not in {data}: {', '.join(missing)}\n"
            "(this scikit-image release does not ship them; try another version)"
        )
    CONTENT_DIR.mkdir(parents=True, exist_ok=True)
    for src_name, dst_name in CONTENT_PHOTOS.items():
        src, dst = data / src_name, CONTENT_DIR / dst_name
        if dst.exists():
            if _sha256(dst) == _sha256(src):
                print(f"up to date  {dst.relative_to(ROOT)}")
                continue
            if not force:
                print(f"differs     {dst.relative_to(ROOT)} (kept; use --force to replace)")
                continue
        shutil.copyfile(src, dst)
        print(f"copied      {dst.relative_to(ROOT)}  ({dst.stat().st_size / 1024:.0f} KiB, sha256 {_sha256(dst)[:16]}...)")


def paint_styles() -> None:
    """Paint every registered style at 512 px, seed 0, into nstlib/data/images/style/."""
    sys.path.insert(0, str(ROOT))
    from nstlib.course.paint import STYLES, paint

    STYLE_DIR.mkdir(parents=True, exist_ok=True)
    for name in STYLES:
        img = paint(name, size=STYLE_SIZE, seed=STYLE_SEED)
        out = STYLE_DIR / f"{name}.png"
        img.save(out, format="PNG", optimize=True)
        print(f"painted     {out.relative_to(ROOT)}  ({out.stat().st_size / 1024:.0f} KiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", action="store_true", help="copy the content photos from scikit-image")
    parser.add_argument("--style", action="store_true", help="paint the style images with nstlib.course.paint")
    parser.add_argument("--force", action="store_true", help="replace content photos whose bytes differ")
    args = parser.parse_args(argv)
    if not args.content and not args.style:
        args.content = args.style = True
    if args.content:
        copy_content(force=args.force)
    if args.style:
        paint_styles()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
