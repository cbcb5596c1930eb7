"""The fault battery's shared tools (issue 21): run a command as a user would, and check its promise.

Every command promises (docs/cli.md, "What is kept"): exit 0 on success, 1 when a loss turns
non-finite or the final write fails (the best result kept, its path named), 2 for bad input or
a path collision (one line naming the value or file, nothing started), 130 on Ctrl-C and 143 on
SIGTERM (the best result kept); inputs never change; outputs appear whole or not at all; no
temporary file is left behind; a failure is one line without a traceback.

Each module of this folder is one category of faults; ``pytest tests/faults -q`` counts them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstlib.cli import main

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    """What a command left behind: its exit status and what it printed."""

    code: int
    out: str
    err: str

    def one_line(self, *needles: str) -> str:
        """Assert stderr is exactly one line, without a traceback, containing every needle."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert "Traceback" not in self.err, self.err
        assert len(lines) == 1, self.err
        for needle in needles:
            assert needle in lines[0], (needle, lines[0])
        return lines[0]


@pytest.fixture()
def cli(capsys, monkeypatch, tmp_path):
    """``cli(*args)`` runs ``python -m nstlib ARGS`` in this process, in ``tmp_path``; returns an Outcome."""
    monkeypatch.chdir(tmp_path)

    def run(*args: object) -> Outcome:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def spawn(args, cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """``python -m nstlib ARGS`` in a real interpreter (for signals and start-up)."""
    env = {**os.environ, **kw.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "nstlib", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env, **kw)


def snapshot(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder`` (hidden ones too), links not followed."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def leftovers(folder: Path) -> list[str]:
    """Temporary files a command left in ``folder`` (``.*.tmp*`` and ``tmp*`` names), recursively."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if ".tmp" in p.name or p.name.startswith("tmp"))


@pytest.fixture()
def pair(tmp_path) -> tuple[Path, Path]:
    """A 40×48 content photo and a 50×50 style image, noise, in ``tmp_path``."""
    rng = np.random.default_rng(0)
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)).save(style)
    return content, style


#: A Gatys run that finishes in well under a second on the CPU.
QUICK = ("--image_size", "32", "--num_steps", "2", "--device", "cpu", "-q")
