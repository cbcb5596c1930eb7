"""nstlib as pip installs it from its wheel, into a fresh venv, run from an empty folder.

No checkout beside it and ``NSTLIB_IMAGES`` unset: the default images, the clip, the mesh and
the models must come from the package itself (``importlib.resources``).
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from wheelenv import clean_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def venv(wheel_python: Path) -> Path:
    return wheel_python.parents[1]


@pytest.fixture()
def run(wheel_python, tmp_path):
    """Run the installed python with ``args`` in an empty folder (``tmp_path``)."""
    assert not any(tmp_path.iterdir())

    def _run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(wheel_python), *args], cwd=tmp_path, env=clean_env(),
                              capture_output=True, text=True, timeout=600)
    return _run


def test_the_wheel_holds_the_assets_and_models_but_not_the_course(venv):
    (wheel,) = (venv.parent / "dist").glob("nstlib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("images/content/chelsea.png", "images/style/brush_strokes.png", "images/video/bigbuckbunny_3s.mp4",
                 "images/meshes/teapot.obj", "images/CREDITS.md", "models/adain.pt", "vgg19_calibration.json"):
        assert f"nstlib/data/{name}" in names, name
    assert not [n for n in names if n.startswith(("images/", "notebooks/", "tests/", "scripts/"))]


def test_nstlib_and_its_assets_come_from_the_venv_not_the_checkout(run, venv, tmp_path):
    code = ("import nstlib; from nstlib import course; from nstlib.core import assets\n"
            "for p in (nstlib.__file__, assets.default_content(), assets.default_style(), assets.video_clip(),"
            " assets.mesh_file('teapot'), course.figures_dir()): print(p)")
    r = run("-c", code)
    assert r.returncode == 0, r.stderr
    module, *found, figures = [Path(line) for line in r.stdout.splitlines()]
    assert module.is_relative_to(venv) and not module.is_relative_to(ROOT), module
    for path in found:
        assert path.is_relative_to(venv / "lib") and path.is_file(), path
    assert figures == tmp_path / "outputs" / "figures", "figures go under the working folder"


def test_the_default_run_finds_its_images(run, tmp_path, venv):
    r = run("-m", "nstlib", "--image_size", "32", "--num_steps", "2", "--device", "cpu", "--output_path", "out.png")
    assert r.returncode == 0, r.stderr
    assert f"stylizing {venv}" in r.stdout and "chelsea.png" in r.stdout
    with Image.open(tmp_path / "out.png") as img:
        assert max(img.size) == 32


def test_the_shipped_models_are_listed_and_load(run):
    r = run("-m", "nstlib", "models")
    assert r.returncode == 0, r.stderr
    assert {"adain", "wct", "fast_brush_strokes"} <= {line.split(":")[0] for line in r.stdout.splitlines()}
    r = run("-c", 'import nstlib; m = nstlib.load_model("adain"); print(type(m).__name__, sum(p.numel() for p in m.parameters()))')
    assert r.returncode == 0, r.stderr
    name, count = r.stdout.split()
    assert int(count) > 100_000, r.stdout


def test_bad_input_exits_2_with_one_line(run):
    r = run("-m", "nstlib", "--content_path", "missing.png", "--num_steps", "1")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "missing.png" in r.stderr
