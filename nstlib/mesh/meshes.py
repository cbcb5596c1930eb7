"""Meshes for 3D style transfer: procedural shapes with clean UVs, loading, UV unwrapping, export.

- :func:`torus`, :func:`trefoil`, :func:`vase`: made by this code, with UVs that have no poles
  and, where the surface closes on itself, a periodic texture (no visible seam).
- :func:`load_mesh`: one of those names, ``"teapot"`` (the Utah teapot shipped in
  ``nstlib/data/images/meshes/``), or a user's OBJ / GLB / PLY / STL file through ``trimesh``. A mesh without
  UVs is unwrapped with ``xatlas`` (the ``3d`` extra), with gutters between its charts.
- :func:`save_textured`: a GLB, or an OBJ with its MTL and PNG beside it.

The stylisation itself is in :mod:`nstlib.mesh.texture`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core.assets import mesh_files
from ..core.files import atomic_file, write_bytes, write_text
from .render import Mesh, RenderError

__all__ = [
    "MESH_SUFFIXES",
    "PROCEDURAL",
    "MeshError",
    "load_mesh",
    "mesh_names",
    "save_textured",
    "torus",
    "trefoil",
    "unwrap",
    "vase",
]

#: File types :func:`load_mesh` reads (through trimesh).
MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".stl", ".off")
#: Suffixes :func:`save_textured` writes.
EXPORT_SUFFIXES = (".glb", ".obj")


class MeshError(RenderError):
    """A mesh file or name that cannot be used; the message names it."""


def _grid(points: Tensor, outward: Tensor, u_repeat: float, v_repeat: float,
          wrap: tuple[bool, bool], name: str) -> Mesh:
    """A mesh from a ``[Nu + 1, Nv + 1, 3]`` grid of points (last row/column repeats the first when periodic).

    ``outward`` ``[Nu + 1, Nv + 1, 3]`` points away from the surface's inside; faces are wound so
    that their normals agree with it.
    """
    nu, nv = points.shape[0] - 1, points.shape[1] - 1
    i, j = torch.meshgrid(torch.arange(nu + 1), torch.arange(nv + 1), indexing="ij")
    uvs = torch.stack([i / nu * u_repeat, j / nv * v_repeat], dim=-1).reshape(-1, 2).float()
    index = (i * (nv + 1) + j)
    a, b = index[:-1, :-1].reshape(-1), index[1:, :-1].reshape(-1)
    c, d = index[1:, 1:].reshape(-1), index[:-1, 1:].reshape(-1)
    faces = torch.cat([torch.stack([a, b, c], 1), torch.stack([a, c, d], 1)])
    verts = points.reshape(-1, 3).float()
    tri = verts[faces]
    normal = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    if float((normal * outward.reshape(-1, 3).float()[faces].mean(1)).sum()) < 0:
        faces = faces[:, [0, 2, 1]]
    return Mesh(verts, faces, uvs, wrap=wrap, name=name).normalized()


def torus(major: int = 96, minor: int = 48, radius: float = 1.0, tube: float = 0.45) -> Mesh:
    """A torus around the y axis: ``major`` × ``minor`` quads, UVs periodic in both directions.

    ``u`` runs around the ring twice (the ring is about twice as long as the tube's circumference
    at these radii, so texels stay roughly square), ``v`` once around the tube.
    """
    theta = torch.linspace(0, 2 * math.pi, major + 1, dtype=torch.float64)[:, None]
    phi = torch.linspace(0, 2 * math.pi, minor + 1, dtype=torch.float64)[None, :]
    ring = (radius + tube * torch.cos(phi)).expand(major + 1, -1)
    points = torch.stack([ring * torch.cos(theta), tube * torch.sin(phi).expand_as(ring), ring * torch.sin(theta)], -1)
    centre = torch.stack([radius * torch.cos(theta), torch.zeros_like(theta), radius * torch.sin(theta)], -1).expand_as(points)
    repeat = max(1, round(radius / tube))
    return _grid(points, points - centre, float(repeat), 1.0, (True, True), "torus")


def trefoil(segments: int = 256, sides: int = 32, tube: float = 0.5) -> Mesh:
    """A tube around a trefoil knot, UVs periodic in both directions.

    The tube's frame is rotation-minimising (double reflection, Wang et al. 2008) and its leftover
    twist after one loop is spread along the knot, so the frame closes and ``v`` stays periodic.
    ``u`` repeats the texture along the knot as often as keeps texels roughly square.
    """
    t = torch.linspace(0, 2 * math.pi, segments + 1, dtype=torch.float64)
    curve = torch.stack([torch.sin(t) + 2 * torch.sin(2 * t), torch.cos(t) - 2 * torch.cos(2 * t), -torch.sin(3 * t)], -1)
    tangent = torch.nn.functional.normalize(torch.roll(curve[:-1], -1, 0) - torch.roll(curve[:-1], 1, 0), dim=-1)
    tangent = torch.cat([tangent, tangent[:1]])
    helper = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    r = torch.nn.functional.normalize(torch.linalg.cross(tangent[0], helper), dim=0)
    frames = [r]
    for k in range(segments):  # double reflection: a rotation-minimising frame
        v1 = curve[k + 1] - curve[k]
        c1 = v1 @ v1
        r_l = frames[-1] - (2 / c1) * (v1 @ frames[-1]) * v1
        t_l = tangent[k] - (2 / c1) * (v1 @ tangent[k]) * v1
        v2 = tangent[k + 1] - t_l
        c2 = v2 @ v2
        frames.append(r_l - (2 / c2) * (v2 @ r_l) * v2 if c2 > 1e-20 else r_l)
    normal = torch.stack(frames)
    binormal = torch.linalg.cross(tangent, normal)
    # the frame comes back rotated about the tangent; undo that twist gradually along the knot
    twist = math.atan2(float(frames[-1] @ binormal[0]), float(frames[-1] @ normal[0]))
    angle = -twist * t / (2 * math.pi)
    normal, binormal = (torch.cos(angle)[:, None] * normal + torch.sin(angle)[:, None] * binormal,
                        -torch.sin(angle)[:, None] * normal + torch.cos(angle)[:, None] * binormal)
    phi = torch.linspace(0, 2 * math.pi, sides + 1, dtype=torch.float64)[None, :, None]
    offset = tube * (torch.cos(phi) * normal[:, None] + torch.sin(phi) * binormal[:, None])
    points = curve[:, None] + offset
    length = float((curve[1:] - curve[:-1]).norm(dim=-1).sum())
    repeat = max(1, round(length / (2 * math.pi * tube)))
    return _grid(points, offset, float(repeat), 1.0, (True, True), "trefoil")


def vase(segments: int = 96, rings: int = 64) -> Mesh:
    """A vase of revolution around the y axis, closed at the bottom, open at the top.

    ``u`` runs around it twice (periodic), ``v`` up its profile by arc length (clamped). The
    bottom closes at a point; that small disc is where the texture pinches.
    """
    s = torch.linspace(0, 1, rings + 1, dtype=torch.float64)
    height = 2.2 * s - 1.1
    radius = (0.42 + 0.22 * torch.sin(5.0 * s - 0.6) + 0.08 * torch.cos(11.0 * s)) * torch.sqrt(torch.clamp(s * 12, max=1.0))
    radius[0] = 0.0
    profile = torch.stack([radius, height], -1)
    arc = torch.cat([torch.zeros(1, dtype=torch.float64), (profile[1:] - profile[:-1]).norm(dim=-1).cumsum(0)])
    theta = torch.linspace(0, 2 * math.pi, segments + 1, dtype=torch.float64)[:, None]
    points = torch.stack([radius[None] * torch.cos(theta), height[None].expand(segments + 1, -1),
                          radius[None] * torch.sin(theta)], -1)
    outward = torch.stack([torch.cos(theta).expand_as(points[..., 0]), torch.zeros_like(points[..., 0]),
                           torch.sin(theta).expand_as(points[..., 0])], -1)
    mesh = _grid(points, outward, 2.0, 1.0, (True, False), "vase")
    # v by arc length, so texels are not stretched where the profile is steep
    v = (arc / arc[-1]).float().repeat(segments + 1)
    return Mesh(mesh.vertices, mesh.faces, torch.stack([mesh.uvs[:, 0], v], -1), wrap=mesh.wrap, name="vase")


#: Meshes made by this code, by name.
PROCEDURAL: dict[str, Callable[[], Mesh]] = {"torus": torus, "trefoil": trefoil, "vase": vase}


def _bundled() -> dict[str, Path]:
    """Meshes shipped with the package (the teapot, :func:`nstlib.core.assets.mesh_files`), by file stem."""
    return {p.stem: p for p in mesh_files()}


def mesh_names() -> list[str]:
    """Every name :func:`load_mesh` accepts besides a path."""
    return [*PROCEDURAL, *_bundled()]


def unwrap(vertices: np.ndarray, faces: np.ndarray, resolution: int = 512, padding: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UV-unwrap a mesh with xatlas: ``(vertex_map [V'], faces [F, 3], uvs [V', 2])``.

    Charts are packed for a ``resolution`` texture with ``padding`` texels of gutter between them,
    so bilinear sampling and mip levels do not bleed one chart into the next. ``vertex_map``
    gives, for each new vertex, the original vertex it copies (vertices on chart borders are split).
    """
    try:
        import xatlas
    except ImportError:
        raise MeshError("unwrapping a mesh without UVs needs xatlas: pip install 'nstlib[3d]'") from None
    atlas = xatlas.Atlas()
    atlas.add_mesh(np.ascontiguousarray(vertices, dtype=np.float32), np.ascontiguousarray(faces, dtype=np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution = int(resolution)
    pack.padding = int(padding)
    pack.bilinear = True
    atlas.generate(pack_options=pack)
    vmap, new_faces, uvs = atlas[0]
    return vmap.astype(np.int64), new_faces.astype(np.int64), uvs.astype(np.float32)


def load_mesh(source: str | os.PathLike, *, texture_size: int = 512) -> Mesh:
    """A mesh by name (``"torus"``, ``"trefoil"``, ``"vase"``, ``"teapot"``) or from a file.

    Files are read with trimesh (scenes are merged into one mesh), centred and scaled to unit
    radius. A mesh without UVs is unwrapped with :func:`unwrap` for a ``texture_size`` texture.

    Raises:
        MeshError: unknown name, missing or unreadable file, or a file without triangles.
    """
    name = str(source)
    if name in PROCEDURAL:
        return PROCEDURAL[name]()
    bundled = _bundled()
    path = bundled.get(name, Path(source))
    if path.suffix.lower() not in MESH_SUFFIXES:
        known = ", ".join(mesh_names())
        raise MeshError(f"mesh {name!r}: not a mesh name ({known}) nor a mesh file ({', '.join(MESH_SUFFIXES)})")
    if not path.is_file():
        raise MeshError(f"mesh file {path} does not exist")
    try:
        import trimesh
    except ImportError:
        raise MeshError("loading mesh files needs trimesh: pip install 'nstlib[3d]'") from None
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for corrupt files
        raise MeshError(f"mesh file {path} could not be read: {str(exc) or type(exc).__name__}") from None
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))))
    vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
    if faces.ndim != 2 or faces.shape[0] == 0 or vertices.shape[0] < 3:
        raise MeshError(f"mesh file {path} has no faces (is it a point cloud or empty?)")
    uv = getattr(getattr(loaded, "visual", None), "uv", None)
    if uv is not None and len(uv) == len(vertices):
        uvs = np.asarray(uv, dtype=np.float32)
        verts, faces_out = vertices, faces.astype(np.int64)
    else:
        vmap, faces_out, uvs = unwrap(vertices, faces, resolution=texture_size)
        verts = vertices[vmap]
    mesh = Mesh(torch.from_numpy(np.ascontiguousarray(verts)).float(), torch.from_numpy(faces_out),
                torch.from_numpy(np.ascontiguousarray(uvs)), name=path.stem)
    return mesh.normalized()


def save_textured(mesh: Mesh, texture: Tensor, path: str | os.PathLike) -> list[Path]:
    """Write ``mesh`` with ``texture`` ``[1, 3, T, T']``: a ``.glb``, or an ``.obj`` with its ``.mtl`` and ``.png``.

    Returns the files written. Periodic UVs that run past 1 are kept (both formats repeat the
    texture by default).
    """
    import trimesh
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise MeshError(f"output {path}: the suffix must be one of {', '.join(EXPORT_SUFFIXES)}")
    array = (texture.detach()[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    image = Image.fromarray(array)
    material = trimesh.visual.material.SimpleMaterial(image=image, diffuse=(255, 255, 255, 255))
    visual = trimesh.visual.TextureVisuals(uv=mesh.uvs.detach().cpu().numpy(), material=material)
    tm = trimesh.Trimesh(vertices=mesh.vertices.detach().cpu().numpy(), faces=mesh.faces.cpu().numpy(),
                         vertex_normals=mesh.normals.detach().cpu().numpy(), visual=visual,  # type: ignore[union-attr]
                         process=False)
    if suffix == ".glb":
        write_bytes(path, tm.export(file_type="glb"))
        return [path]
    from trimesh.exchange.obj import export_obj

    png = path.with_suffix(".png")
    mtl = path.with_suffix(".mtl")
    text, files = export_obj(tm, include_normals=True, include_texture=True, return_texture=True,
                             mtl_name=mtl.name)
    written = [path]
    for name, data in files.items():  # the MTL and the texture, under trimesh's names
        target = mtl if name.endswith(".mtl") else png if name.lower().endswith((".png", ".jpg", ".jpeg")) else path.parent / name
        if target is png:
            with atomic_file(png) as handle:
                image.save(handle, format="PNG")
        else:
            data = data.decode() if isinstance(data, bytes) else data
            for old in files:
                if not old.endswith(".mtl"):
                    data = data.replace(old, png.name)
            write_text(target, data)
        written.append(target)
    write_text(path, text)
    return written
