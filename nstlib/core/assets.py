"""The course's assets: content photos, style images, the video clip and the mesh, by name.

They ship inside the package, in ``nstlib/data/images/{content,style,video,meshes}``, and are
found through :mod:`importlib.resources`, so an installed nstlib (``pip install``, Colab) needs
no checkout of the repository. ``NSTLIB_IMAGES`` names another folder with the same layout.
Credits and licences: ``images/SOURCES.md`` in the repository (``CREDITS.md`` in the package).

    from nstlib.core import assets
    assets.content_image("chelsea")   # .../nstlib/data/images/content/chelsea.png
    assets.video_clip()               # the Big Buck Bunny excerpt
    assets.mesh_file("teapot")        # the Utah teapot (OBJ)
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from .errors import NstlibError

__all__ = [
    "AssetError",
    "images_dir",
    "content_dir",
    "style_dir",
    "content_images",
    "style_images",
    "content_image",
    "style_image",
    "bundled_image",
    "bundled_image_names",
    "default_content",
    "default_style",
    "video_clips",
    "video_clip",
    "mesh_files",
    "mesh_file",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
#: The pair that ``python -m nstlib`` and ``make demo`` stylise when given no paths.
DEFAULT_CONTENT_NAME = "chelsea.png"
DEFAULT_STYLE_NAME = "brush_strokes.png"
#: The clip of the video notebook and ``nstlib video``'s examples.
DEFAULT_CLIP_NAME = "bigbuckbunny_3s.mp4"
DEFAULT_MESH_NAME = "teapot.obj"


class AssetError(NstlibError):
    """An asset asked for by a name that no file of that kind has (bad input: the command line exits 2)."""


def images_dir() -> Path:
    """The folder holding ``content/``, ``style/``, ``video/`` and ``meshes/``.

    ``$NSTLIB_IMAGES`` if set, else the package's own ``nstlib/data/images``.
    """
    env = os.environ.get("NSTLIB_IMAGES")
    if env:
        return Path(env)
    # A package installed in a folder (wheel, editable, Colab) is a pathlib.Path here.
    return Path(os.fspath(importlib.resources.files("nstlib").joinpath("data", "images")))


def content_dir() -> Path:
    """The folder of the content photos (a training set for ``nstlib train``)."""
    return images_dir() / "content"


def style_dir() -> Path:
    """The folder of the style images."""
    return images_dir() / "style"


def _listing(kind: str, suffixes: tuple[str, ...]) -> list[Path]:
    folder = images_dir() / kind
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in suffixes)


def _by_name(kind: str, name: str, suffixes: tuple[str, ...]) -> Path:
    """The file of ``kind`` called ``name``, with or without its suffix."""
    files = _listing(kind, suffixes)
    for path in files:
        if name in (path.name, path.stem):
            return path
    known = ", ".join(p.name for p in files) or "none"
    raise AssetError(f"no {kind} asset named {name!r} in {images_dir() / kind} (there are: {known})")


def content_images() -> list[Path]:
    """The content photos, sorted by name."""
    return _listing("content", IMAGE_SUFFIXES)


def style_images() -> list[Path]:
    """The style images, sorted by name."""
    return _listing("style", IMAGE_SUFFIXES)


def content_image(name: str) -> Path:
    """A content photo by name, e.g. ``"chelsea"`` or ``"rocket.jpg"``; :class:`AssetError` if none."""
    return _by_name("content", name, IMAGE_SUFFIXES)


def style_image(name: str) -> Path:
    """A style image by name, e.g. ``"mondrian"`` or ``"wave.png"``; :class:`AssetError` if none."""
    return _by_name("style", name, IMAGE_SUFFIXES)


def bundled_image(name: str) -> Path | None:
    """A bundled photo or style image called ``name`` (with or without its suffix), or None.

    Content photos are searched first, then style images, so ``load_image("chelsea")`` and
    ``python -m nstlib --content_path chelsea --style_path mondrian`` work from any folder.
    """
    for path in (*content_images(), *style_images()):
        if name in (path.name, path.stem):
            return path
    return None


def bundled_image_names() -> list[str]:
    """The names :func:`bundled_image` knows: the content photos', then the style images' stems."""
    return [p.stem for p in (*content_images(), *style_images())]


def default_content() -> Path:
    """The default content photo (its path, even where ``$NSTLIB_IMAGES`` lacks it)."""
    return content_dir() / DEFAULT_CONTENT_NAME


def default_style() -> Path:
    """The default style image (its path, even where ``$NSTLIB_IMAGES`` lacks it)."""
    return style_dir() / DEFAULT_STYLE_NAME


def video_clips() -> list[Path]:
    """The shipped video clips, sorted by name."""
    return _listing("video", VIDEO_SUFFIXES)


def video_clip(name: str = DEFAULT_CLIP_NAME) -> Path:
    """A video clip by name (default: the Big Buck Bunny excerpt); :class:`AssetError` if none."""
    return _by_name("video", name, VIDEO_SUFFIXES)


def mesh_files() -> list[Path]:
    """The shipped mesh files, OBJ with UVs (the Utah teapot), sorted by name."""
    return _listing("meshes", (".obj",))


def mesh_file(name: str = DEFAULT_MESH_NAME) -> Path:
    """A shipped mesh file by name (default: the teapot); :class:`AssetError` if none."""
    return _by_name("meshes", name, (".obj",))
