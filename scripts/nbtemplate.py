"""Author a course notebook with the series' header (title, Colab badge, setup cell).

Notebooks are written as JSON by ``build()``; execute them with ``make figures`` afterwards.
The repository URL comes from ``pyproject.toml`` ([project.urls] Repository), the one place it
is set; ``tests/test_notebooks.py`` checks every notebook against it.

    from nbtemplate import build
    build("notebooks/02_gram_matrices.ipynb", "02 · Gram matrices", "intro…", [("md", "…"), ("code", "…")])
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
REPO_PATH = REPO_URL.removeprefix("https://github.com/")
CLONE_DIR = "/content/nstlib-course"


def colab_badge(name: str) -> str:
    """The Markdown of the "Open in Colab" badge for ``notebooks/<name>.ipynb``."""
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{REPO_PATH}/blob/main/notebooks/{name}.ipynb)"
    )


SETUP = f'''# Setup: on Colab, fetch the course and install it; locally, `pip install -e .` already did.
import os
import sys

if "google.colab" in sys.modules:
    if not os.path.isdir("{CLONE_DIR}"):
        !git clone -q {REPO_URL} {CLONE_DIR}
        %pip install -q {CLONE_DIR}
    os.environ["NSTLIB_IMAGES"] = "{CLONE_DIR}/images"

import nstlib
from nstlib import course

device = course.setup()  # seeds, figure style; reports the preset and the device'''


def build(path: str | Path, title: str, intro: str, cells: list[tuple[str, str]]) -> None:
    """Write a notebook: the header, then ``cells`` as ``("md" | "code", source)`` pairs."""
    path = Path(path)
    nb = new_notebook()
    nb.cells = [new_markdown_cell(f"# {title}\n\n{colab_badge(path.stem)}\n\n{intro.strip()}"), new_code_cell(SETUP)]
    for kind, source in cells:
        source = source.strip("\n")
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
