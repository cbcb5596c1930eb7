"""Where the course's images live: ``images/content`` (photos) and ``images/style`` (painted).

The images ship in the repository, beside the package; an editable install
(``pip install -e .``) finds them. ``NSTLIB_IMAGES`` overrides the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["images_dir", "content_images", "style_images", "default_content", "default_style"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: The pair that ``python -m nstlib`` and ``make demo`` stylise when given no paths.
DEFAULT_CONTENT_NAME = "chelsea.png"
DEFAULT_STYLE_NAME = "brush_strokes.png"


def images_dir() -> Path:
    """The repository's ``images/`` folder (or ``$NSTLIB_IMAGES``)."""
    env = os.environ.get("NSTLIB_IMAGES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "images"


def _listing(kind: str) -> list[Path]:
    folder = images_dir() / kind
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def content_images() -> list[Path]:
    """The content photos, sorted by name."""
    return _listing("content")


def style_images() -> list[Path]:
    """The style images, sorted by name."""
    return _listing("style")


def default_content() -> Path:
    """The default content photo."""
    return images_dir() / "content" / DEFAULT_CONTENT_NAME


def default_style() -> Path:
    """The default style image."""
    return images_dir() / "style" / DEFAULT_STYLE_NAME
