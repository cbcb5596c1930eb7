"""Author a course notebook with the series' header (title, Colab badge, setup cell).

Notebooks are written as JSON by ``build()``; execute them with ``make figures`` afterwards.
The repository URL comes from ``pyproject.toml`` ([project.urls] Repository), the one place it
is set; the badge and the setup cell's install source (:data:`INSTALL_SOURCE`) derive from it.
The setup cell is :func:`setup_source` with the extras the notebook's imports need
(:func:`extras_for`); ``tests/test_notebooks.py`` checks every notebook's header against it.

    python scripts/nbtemplate.py    # rewrite the setup cell of every notebook (outputs kept)

    from nbtemplate import build
    build("notebooks/02_gram_matrices.ipynb", "02 · Gram matrices", "intro…", [("md", "…"), ("code", "…")])
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
REPO_PATH = REPO_URL.removeprefix("https://github.com/")


def colab_badge(name: str) -> str:
    """The Markdown of the "Open in Colab" badge for ``notebooks/<name>.ipynb``."""
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{REPO_PATH}/blob/main/notebooks/{name}.ipynb)"
    )


#: Where Colab installs nstlib from: the one install source of every notebook's setup cell.
INSTALL_SOURCE = f"git+{REPO_URL}"
#: The extra (pyproject.toml [project.optional-dependencies]) that a notebook importing the module needs.
EXTRAS_BY_MODULE = {"nstlib.video": "video", "nstlib.mesh": "3d"}


def extras_for(code: str) -> list[str]:
    """The extras that notebook ``code`` needs on Colab, from the nstlib modules it imports, sorted."""
    return sorted({extra for module, extra in EXTRAS_BY_MODULE.items() if re.search(rf"\b{re.escape(module)}\b", code)})


def setup_source(extras: Sequence[str] = ()) -> str:
    """The setup cell: on Colab only, ``%pip install`` nstlib (images and models are package data)
    with ``extras`` from :data:`INSTALL_SOURCE`; then import it and call ``course.setup()``."""
    requirement = f"nstlib[{','.join(extras)}] @ {INSTALL_SOURCE}" if extras else f"nstlib @ {INSTALL_SOURCE}"
    return f'''# Setup: on Colab, install nstlib (its images and models come with it); locally, `pip install -e .` already did.
import sys

if "google.colab" in sys.modules:
    %pip install -q "{requirement}"

import nstlib
from nstlib import course
from nstlib.core import assets  # the course's photos, style images, clip and mesh, by name

device = course.setup()  # seeds, figure style; reports the preset and the device'''


def notebook_setup_source(cells: Sequence[Mapping]) -> str:
    """The setup cell a notebook with these cells (nbformat dicts, header included) should have."""
    code = "\n".join(_text(c["source"]) for c in cells[2:] if c["cell_type"] == "code")
    return setup_source(extras_for(code))


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def build(path: str | Path, title: str, intro: str, cells: list[tuple[str, str]]) -> None:
    """Write a notebook: the header, then ``cells`` as ``("md" | "code", source)`` pairs."""
    path = Path(path)
    nb = new_notebook()
    nb.cells = [new_markdown_cell(f"# {title}\n\n{colab_badge(path.stem)}\n\n{intro.strip()}"), new_code_cell("")]
    for kind, source in cells:
        source = source.strip("\n")
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    nb.cells[1].source = notebook_setup_source(nb.cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)


def update_setup(path: str | Path) -> bool:
    """Set a committed notebook's setup cell to the template's, outputs kept; True if it changed.

    The JSON is written as ``nbformat`` writes it (indent 1, UTF-8), so nothing else changes.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    nb["cells"][1]["source"] = notebook_setup_source(nb["cells"]).splitlines(keepends=True)
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if update_setup(notebook):
            print(f"updated {notebook.relative_to(ROOT)}")
