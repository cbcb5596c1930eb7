"""Procedural meshes, loading (with and without UVs), export, and the wrap of periodic textures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nstlib.mesh.meshes import MeshError, load_mesh, mesh_names, save_textured, torus, trefoil, vase
from nstlib.mesh.render import orbit_camera, render, sample_texture

trimesh = pytest.importorskip("trimesh")


def _outward_share(mesh, centre_of) -> float:
    """Share of faces whose normal points away from ``centre_of(face centroid)``."""
    tri = mesh.vertices[mesh.faces]
    normal = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    centroid = tri.mean(1)
    return float(((normal * (centroid - centre_of(centroid))).sum(-1) > 0).float().mean())


def test_torus_faces_point_outwards_and_its_uvs_are_periodic():
    mesh = torus(32, 16)
    assert mesh.wrap == (True, True)
    assert float(mesh.vertices.norm(dim=-1).max()) == pytest.approx(1.0, abs=1e-5)

    def ring_centre(p):  # the nearest point of the ring through the tube's centre
        radial = torch.nn.functional.normalize(p * torch.tensor([1.0, 0.0, 1.0]), dim=-1)
        return radial * (1 / 1.45)

    assert _outward_share(mesh, ring_centre) == 1.0
    # the first and last columns of the grid are the same points (the texture seam)
    grid = mesh.vertices.view(33, 17, 3)
    torch.testing.assert_close(grid[0], grid[-1], atol=1e-5, rtol=0)
    torch.testing.assert_close(grid[:, 0], grid[:, -1], atol=1e-5, rtol=0)
    # one normal per position, even across the seam
    torch.testing.assert_close(mesh.normals.view(33, 17, 3)[0], mesh.normals.view(33, 17, 3)[-1], atol=1e-5, rtol=0)


def test_trefoil_tube_closes_without_a_twist():
    mesh = trefoil(128, 12)
    grid = mesh.vertices.view(129, 13, 3)
    torch.testing.assert_close(grid[0], grid[-1], atol=1e-4, rtol=0)  # the frame comes back untwisted
    # consecutive rings stay a tube: neighbouring points are close
    step = (grid[1:] - grid[:-1]).norm(dim=-1).max()
    assert float(step) < 0.1


def test_vase_is_closed_at_the_bottom_and_its_v_follows_the_profile():
    mesh = vase(32, 24)
    assert mesh.wrap == (True, False)
    grid = mesh.vertices.view(33, 25, 3)
    assert float(grid[:, 0, [0, 2]].abs().max()) < 1e-6  # the bottom ring is one point
    v = mesh.uvs.view(33, 25, 2)[0, :, 1]
    assert float(v[0]) == 0 and float(v[-1]) == pytest.approx(1.0) and bool((v.diff() > 0).all())


def test_periodic_textures_wrap_and_others_clamp():
    texture = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 2, 8)
    uv = torch.tensor([[[[0.0, 0.5], [1.0, 0.5], [1.0625, 0.5]]]])  # the left edge, the right edge, past it
    wrapped = sample_texture(texture, uv, wrap=(True, False))[0, 0, 0]
    clamped = sample_texture(texture, uv, wrap=(False, False))[0, 0, 0]
    torch.testing.assert_close(wrapped, torch.tensor([3.5, 3.5, 0.0]))  # (7 + 0) / 2 across the seam
    torch.testing.assert_close(clamped, torch.tensor([0.0, 7.0, 7.0]))


def test_the_teapot_ships_with_uvs_and_the_names_are_listed():
    assert {"torus", "trefoil", "vase", "teapot"} <= set(mesh_names())
    mesh = load_mesh("teapot")
    assert mesh.faces.shape[0] > 3000 and mesh.wrap == (False, False)
    assert float(mesh.uvs.min()) >= 0 and float(mesh.uvs.max()) <= 1


def test_a_mesh_without_uvs_is_unwrapped(tmp_path):
    box = trimesh.creation.box()
    path = tmp_path / "box.ply"
    box.export(path)
    mesh = load_mesh(path, texture_size=64)
    assert mesh.faces.shape[0] == 12 and mesh.vertices.shape[0] > 8  # chart borders split vertices
    assert float(mesh.uvs.min()) >= 0 and float(mesh.uvs.max()) <= 1
    # each face keeps its shape: the unwrapped positions are the box's corners, scaled to radius 1
    assert float(mesh.vertices.norm(dim=-1).max()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("suffix", [".glb", ".obj"])
def test_export_round_trip_renders_the_same(tmp_path, suffix):
    mesh = load_mesh("teapot")
    g = torch.Generator().manual_seed(0)
    texture = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=64, mode="bilinear")
    files = save_textured(mesh, texture, tmp_path / f"pot{suffix}")
    assert all(f.exists() for f in files)
    if suffix == ".obj":
        assert {f.suffix for f in files} == {".obj", ".mtl", ".png"}
        assert "pot.png" in (tmp_path / "pot.mtl").read_text()
    back = load_mesh(tmp_path / f"pot{suffix}")
    loaded = trimesh.load(tmp_path / f"pot{suffix}", force="mesh")
    image = np.asarray(loaded.visual.material.to_simple().image if hasattr(loaded.visual.material, "to_simple")
                       else loaded.visual.material.image)[..., :3]
    texture_back = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    cam = orbit_camera(30, 25, 3.0)
    a = render(mesh, texture, cam, 64).image
    b = render(back, texture_back, cam, 64).image
    assert float((a - b).abs().max()) < 0.02  # 8-bit texture, same UV convention both ways


def test_bad_meshes_are_named(tmp_path):
    with pytest.raises(MeshError, match="not a mesh name"):
        load_mesh("doughnut")
    with pytest.raises(MeshError, match="does not exist"):
        load_mesh(tmp_path / "missing.obj")
    garbage = tmp_path / "garbage.glb"
    garbage.write_bytes(b"\x00not a gltf at all" * 10)
    with pytest.raises(MeshError, match="garbage.glb"):
        load_mesh(garbage)
    empty = tmp_path / "points.obj"
    empty.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(MeshError, match="no faces"):
        load_mesh(empty)
    with pytest.raises(MeshError, match="suffix"):
        save_textured(torus(8, 4), torch.zeros(1, 3, 8, 8), tmp_path / "out.stl")
