"""The committed notebooks: the series' header, executed in order at a real preset, no errors, small.

(Running them is nbval's job in `make test`; this checks what is committed.)
"""

import json
import re
import tomllib
from pathlib import Path

import pytest
from nbtemplate import notebook_setup_source

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
MAX_NOTEBOOK_BYTES = 3_000_000
MAX_FOLDER_BYTES = 25_000_000


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_series_exists_and_is_numbered():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_setup_and_tour.ipynb", "the series starts with 00"
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert len(set(numbers)) == len(numbers), f"two notebooks share a number: {[p.name for p in NOTEBOOKS]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_header_title_badge_and_setup(path):
    cells = load(path)["cells"]
    title = source(cells[0])
    assert cells[0]["cell_type"] == "markdown" and title.startswith(f"# {path.name[:2]} ")
    repo_path = REPO_URL.removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{repo_path}/blob/main/notebooks/{path.name}"
    assert badge in title, "the Colab badge must point at this notebook in the repository of pyproject.toml"
    assert cells[1]["cell_type"] == "code"
    assert source(cells[1]) == notebook_setup_source(cells), "the template's setup cell: python scripts/nbtemplate.py"


#: The extras beyond the base package, by what the notebooks import (nstlib.video, nstlib.mesh).
EXTRAS = {"16_video": "video", "17_scaling_up": "video", "18_3d_style_transfer": "3d"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_on_colab_the_setup_cell_installs_nstlib_with_the_extras_it_needs(path):
    setup = source(load(path)["cells"][1])
    extra = EXTRAS.get(path.stem)
    requirement = f"nstlib[{extra}]" if extra else "nstlib"
    assert f'\nif "google.colab" in sys.modules:\n    %pip install -q "{requirement} @ git+{REPO_URL}"\n' in setup
    assert "NSTLIB_IMAGES" not in setup and "course.setup()" in setup
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extra is None or extra in optional


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_assets_come_from_the_package_and_files_go_under_the_working_folder(path):
    """Nothing relative to the checkout (Colab and pip users have none): assets through nstlib.core.assets."""
    text = "\n".join(source(c) for c in load(path)["cells"])  # markdown too: students copy its code
    assert "../" not in text
    assert "images_dir" not in text, "use assets.content_image / style_image / video_clip / mesh_file"
    code = "\n".join(source(c) for c in load(path)["cells"] if c["cell_type"] == "code")
    assert not re.search(r"""["'](images|nstlib)/""", code), "no paths into the checkout"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executed_in_order_without_errors_at_a_real_preset(path):
    nb = load(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), "run top to bottom once"
    for cell in code:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", source(cell)[:80]
            if out["output_type"] == "stream":
                assert out["name"] != "stderr" or not "".join(out["text"]).strip(), "stderr noise"
    assert nb["metadata"].get("nstlib", {}).get("preset") in ("medium", "full"), "run `make figures`"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_logic_lives_in_the_library(path):
    text = "\n".join(source(c) for c in load(path)["cells"] if c["cell_type"] == "code")
    assert "import nstlib" in text
    assert not re.search(r"sys\.path\.(insert|append)|sys\.path\s*=", text), "notebooks never edit sys.path"
    assert "clear_output" not in text, "update one display instead of clear_output"
    assert re.search(r"^\s*assert ", text, re.M), "teaching-critical facts need assert cells"


def test_size_budget():
    sizes = {p.name: p.stat().st_size for p in NOTEBOOKS}
    for name, size in sizes.items():
        assert size < MAX_NOTEBOOK_BYTES, f"{name} is {size / 1e6:.1f} MB"
    folder = sum(p.stat().st_size for p in (ROOT / "notebooks").rglob("*") if p.is_file())
    assert folder < MAX_FOLDER_BYTES


def test_every_exported_figure_comes_from_a_notebook_call():
    """images/figures/NN_name.png is made by `course.export_figure(fig, "NN_name")` in notebook NN."""
    by_number = {p.name[:2]: "\n".join(source(c) for c in load(p)["cells"]) for p in NOTEBOOKS}
    for png in sorted((ROOT / "images" / "figures").glob("*.png")):
        text = by_number.get(png.name[:2])
        assert text is not None, f"{png.name}: no notebook {png.name[:2]}_*.ipynb"
        assert f'"{png.stem}"' in text, f"{png.name} is not exported by notebook {png.name[:2]}"
        assert png.stat().st_size < 5_000_000


def test_every_shipped_image_is_listed_in_sources():
    """images/SOURCES.md names every image file under images/ and nstlib/data/images/ (origin and licence)."""
    sources = (ROOT / "images" / "SOURCES.md").read_text()
    images = [p for folder in (ROOT / "images", ROOT / "nstlib" / "data" / "images") for p in folder.rglob("*")
              if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".mp4", ".obj")]
    assert len(images) > 50
    missing = [str(p.relative_to(ROOT)) for p in images if p.name not in sources]
    assert not missing, f"not in images/SOURCES.md: {missing}"
