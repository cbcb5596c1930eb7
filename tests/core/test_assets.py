"""The bundled assets are package data, found by name; ``NSTLIB_IMAGES`` overrides the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import nstlib
from nstlib.core import assets
from nstlib.core.errors import NstlibError

PACKAGE = Path(nstlib.__file__).resolve().parent


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv("NSTLIB_IMAGES", raising=False)


def test_the_assets_live_inside_the_package():
    assert assets.images_dir().resolve() == PACKAGE / "data" / "images"
    kinds = {
        "content": assets.content_images(), "style": assets.style_images(),
        "video": assets.video_clips(), "meshes": assets.mesh_files(),
    }
    for kind, files in kinds.items():
        assert files, kind
        for path in files:
            assert path.is_file() and path.resolve().parent == PACKAGE / "data" / "images" / kind, path
    assert [p.name for p in assets.content_images()] == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
    assert len(assets.style_images()) == 5
    assert assets.content_dir() == assets.images_dir() / "content"
    assert assets.style_dir() == assets.images_dir() / "style"


@pytest.mark.parametrize("name", ["chelsea", "chelsea.png"])
def test_a_content_image_by_name_with_or_without_its_suffix(name):
    path = assets.content_image(name)
    assert path == assets.default_content() and path.is_file()
    with Image.open(path) as img:
        assert img.size == (451, 300)


def test_style_clip_and_mesh_by_name():
    assert assets.style_image("mondrian").name == "mondrian.png"
    assert assets.style_image("brush_strokes") == assets.default_style()
    assert assets.video_clip() == assets.video_clip("bigbuckbunny_3s") and assets.video_clip().suffix == ".mp4"
    teapot = assets.mesh_file("teapot")
    assert teapot == assets.mesh_file() and teapot.read_text().startswith(("#", "v ", "o ", "mtllib"))


def test_the_mesh_module_finds_the_teapot_through_assets():
    from nstlib.mesh.meshes import mesh_names

    assert "teapot" in mesh_names()


def test_the_shipped_models_are_package_data():
    from nstlib.feedforward.models import pretrained_dir, pretrained_models

    assert pretrained_dir().resolve() == PACKAGE / "data" / "models"
    assert {"adain", "wct", "fast_brush_strokes"} <= set(pretrained_models())


@pytest.mark.parametrize("lookup, kind", [(assets.content_image, "content"), (assets.style_image, "style"),
                                          (assets.video_clip, "video"), (assets.mesh_file, "meshes")])
def test_an_unknown_name_says_what_there_is(lookup, kind):
    with pytest.raises(assets.AssetError, match=rf"no {kind} asset named 'nope' .*there are: \w") as info:
        lookup("nope")
    assert isinstance(info.value, NstlibError)  # bad input: one line and exit 2 on the command line


def test_nstlib_images_overrides_the_folder(tmp_path, monkeypatch):
    (tmp_path / "content").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "content" / "mine.png")
    (tmp_path / "content" / "notes.txt").write_text("not an image")
    monkeypatch.setenv("NSTLIB_IMAGES", str(tmp_path))
    assert assets.images_dir() == tmp_path
    assert assets.content_images() == [tmp_path / "content" / "mine.png"]
    assert assets.content_image("mine") == tmp_path / "content" / "mine.png"
    assert assets.style_images() == [] and assets.mesh_files() == []
    # The default's path is still given (the CLI's --help must work), under the override.
    assert assets.default_content() == tmp_path / "content" / assets.DEFAULT_CONTENT_NAME
    with pytest.raises(assets.AssetError, match="there are: none"):
        assets.video_clip()
