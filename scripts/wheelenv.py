"""Build nstlib's wheel and install it, not editable, into a fresh venv: the package as users get it.

    python scripts/wheelenv.py DEST    # prints DEST/venv/bin/python; the wheel is in DEST/dist

Used by ``tests/test_wheel.py`` and by ``make test``, which runs every notebook with that python
from a temporary folder (no checkout beside it, ``NSTLIB_IMAGES`` unset).

The wheel is built from a copy of the sources (``pip wheel --no-deps --no-build-isolation``), so
no ``build/`` folder of the checkout can leak stale files into it. The venv's own site-packages
holds only nstlib; its dependencies (torch, …) come from the running interpreter's
site-packages (the project's ``.venv``) through a ``.pth`` file naming that folder. A path line
does not run the ``.pth`` files inside that folder, so the checkout's editable install of nstlib
stays out: ``import nstlib`` finds the wheel's copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What the wheel is built from (the rest of the checkout is not part of the package).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "nstlib")
DEPS_PTH = "_nstlib_dependencies.pth"


def build_wheel(dest: Path) -> Path:
    """Build the wheel of the checkout's current files into ``dest/dist``; its path."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dest / "dist"), str(src)], check=True)
    shutil.rmtree(src)
    (wheel,) = (dest / "dist").glob("nstlib-*.whl")
    return wheel


def site_packages(python: Path) -> Path:
    """The ``purelib`` folder of the interpreter ``python``."""
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def make_venv(dest: Path, wheel: Path) -> Path:
    """A venv in ``dest/venv`` with ``wheel`` installed (``--no-deps``); its python."""
    venv = dest / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Install first: with the dependencies' folder on its path pip would see the editable nstlib.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-compile", "--disable-pip-version-check", str(wheel)], check=True)
    (site_packages(python) / DEPS_PTH).write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def clean_env() -> dict[str, str]:
    """This process's environment without what would lead an installed nstlib to the checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NSTLIB_IMAGES", "NSTLIB_MODELS"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def main(argv: list[str] | None = None) -> int:
    """``python scripts/wheelenv.py DEST``: build, install, print the venv's python."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dest", type=Path, help="an empty or missing folder")
    args = p.parse_args(argv)
    if args.dest.exists() and any(args.dest.iterdir()):
        p.error(f"{args.dest} is not empty")
    print(make_venv(args.dest.resolve(), build_wheel(args.dest.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
