"""The renderer against cases worked out by hand: a quad that fills the view, depth order, gradcheck."""

import math

import pytest
import torch

from nstlib.mesh.render import (Camera, Mesh, RenderError, interpolate, orbit_camera, rasterize, render,
                           reprojection_error, texel_coverage, texel_footprint, texel_index)


def quad(z: float = 0.0, half: float = 1.0, uv_flip: bool = False, dtype=torch.float64) -> Mesh:
    """A square in the plane ``z`` facing +z, with UV (0, 0) at its bottom-left corner."""
    v = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]], dtype=dtype)
    uv = torch.tensor([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=dtype)
    if uv_flip:
        uv[:, 1] = 1 - uv[:, 1]
    return Mesh(v, torch.tensor([[0, 1, 2], [0, 2, 3]]), uv, name="quad")


def filling_camera(fov: float = 40.0) -> Camera:
    """A camera on +z at the distance where the unit quad exactly fills its view."""
    return Camera(eye=(0.0, 0.0, 1.0 / math.tan(math.radians(fov) / 2)), fov=fov)


def test_quad_facing_the_camera_renders_its_texture_exactly():
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64)
    out = render(quad(), texture, filling_camera(), 16, supersample=1, mip=False)
    assert out.mask.min() == 1
    torch.testing.assert_close(out.image, texture, atol=1e-9, rtol=0)


def test_checkerboard_catches_a_flipped_v_axis():
    # texture image: top half red, bottom half blue; UV v = 1 is the top row (OBJ convention)
    texture = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    texture[:, 0, :4] = 1
    texture[:, 2, 4:] = 1
    image = render(quad(), texture, filling_camera(), 8, supersample=1, mip=False).image
    assert image[0, 0, :4].min() == 1 and image[0, 2, :4].max() == 0  # top of the view is red
    assert image[0, 2, 4:].min() == 1 and image[0, 0, 4:].max() == 0
    flipped = render(quad(uv_flip=True), texture, filling_camera(), 8, supersample=1, mip=False).image
    assert flipped[0, 2, :4].min() == 1  # a mesh with v flipped shows blue on top: the test can tell


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_depth_order_of_two_overlapping_triangles(order):
    near = torch.tensor([[-1, -1, 0.5], [1, -1, 0.5], [0, 1, 0.5]], dtype=torch.float64)
    far = torch.tensor([[-1, 1, -0.5], [1, 1, -0.5], [0, -1, -0.5]], dtype=torch.float64)
    parts = [near, far]
    verts = torch.cat([parts[order[0]], parts[order[1]]])
    # the near triangle samples the left texel (u 0.25), the far one the right texel (u 0.75)
    uv_near = torch.full((3, 2), 0.25, dtype=torch.float64)
    uv_far = torch.tensor([[0.75, 0.25]] * 3, dtype=torch.float64)
    uvs = torch.cat([[uv_near, uv_far][order[0]], [uv_near, uv_far][order[1]]])
    mesh = Mesh(verts, torch.tensor([[0, 1, 2], [3, 4, 5]]), uvs)
    texture = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]], dtype=torch.float64).expand(1, 3, 2, 2)
    cam = Camera(eye=(0.0, 0.0, 4.0), fov=50)
    frags = rasterize(mesh, cam, 32)
    near_face = order.index(0)
    centre = frags.face[16, 16]
    assert centre == near_face
    image = render(mesh, texture, cam, 32, supersample=1, mip=False, mode="nearest").image
    assert image[0, 0, 16, 16] == 0.0  # the near triangle's colour, whichever was listed first
    # where only the far triangle is (top corners of the view inside it), its colour shows
    assert (frags.face == 1 - near_face).any()
    assert torch.isclose(frags.depth[16, 16], torch.tensor(3.5, dtype=frags.depth.dtype))


def test_constant_texture_renders_a_constant_image():
    from nstlib.mesh.meshes import torus

    mesh = torus(24, 12).to(dtype=torch.float64)
    texture = torch.full((1, 3, 64, 64), 0.3, dtype=torch.float64)
    out = render(mesh, texture, orbit_camera(30, 35, 3.0), 48, background=0.3, supersample=2, mip=True)
    torch.testing.assert_close(out.image, torch.full_like(out.image, 0.3), atol=1e-9, rtol=0)
    assert 0.2 < float(out.mask.mean()) < 0.9


def test_gradcheck_with_respect_to_the_texture():
    from nstlib.mesh.meshes import torus

    mesh = torus(8, 6).to(dtype=torch.float64)
    texture = torch.rand(1, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    texture.requires_grad_(True)
    cam = orbit_camera(20, 30, 3.0)
    frags = rasterize(mesh, cam, 12)
    light = (0.3, 1.0, 0.5)

    def fn(t):
        return render(mesh, t, cam, 6, supersample=2, lights=light, fragments=[frags], mip=True).image

    assert torch.autograd.gradcheck(fn, (texture,), eps=1e-6, atol=1e-6)


def test_reprojection_between_two_views_is_close_to_zero():
    from nstlib.mesh.meshes import torus

    mesh = torus(48, 24)
    # a smooth texture: nearest sampling in two views picks neighbouring texels of similar colour
    u = torch.linspace(0, 2 * math.pi, 64)
    texture = (0.5 + 0.4 * torch.sin(u)[None, :] * torch.cos(u)[:, None]).expand(1, 3, 64, 64).contiguous()
    texture[:, 1] = texture[:, 1].flip(-1)
    cams = [orbit_camera(0, 30, 3.0), orbit_camera(45, 30, 3.0)]
    out = render(mesh, texture, cams, 96, supersample=1, mip=False, mode="nearest")
    a, b = out.fragments
    error, count = reprojection_error(out.image[0], out.image[1], a, b, mesh, mode="nearest")
    assert count > 1000
    smooth, kept = reprojection_error(out.image[0], out.image[1], a, b, mesh, mode="bilinear")
    assert smooth <= error and 0.8 * count < kept <= count  # bilinear drops the silhouette pixels only
    # the same texture seen twice agrees; a texture shifted by a quarter turn does not
    shifted = render(mesh, texture.roll(16, -1), cams[1], 96, supersample=1, mip=False, mode="nearest").image[0]
    wrong, _ = reprojection_error(out.image[0], shifted, a, b, mesh, mode="nearest")
    assert error < 2e-3 < wrong / 5


def test_mip_pyramid_averages_a_texture_far_larger_than_the_view():
    # 256 texels seen through 16 pixels: each pixel shows the mean of its 16 x 16 texels (mip level 4)
    texture = torch.rand(1, 3, 256, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    cam = filling_camera()
    footprint = texel_footprint(quad(), rasterize(quad(), cam, 16), (256, 256))
    torch.testing.assert_close(footprint, torch.full_like(footprint, 16.0))
    mipped = render(quad(), texture, cam, 16, supersample=1, mip=True).image
    torch.testing.assert_close(mipped, torch.nn.functional.avg_pool2d(texture, 16), atol=1e-9, rtol=0)
    aliased = render(quad(), texture, cam, 16, supersample=1, mip=False).image
    assert float(aliased.std()) > 5 * float(mipped.std())  # point samples: the noise comes through


def test_texel_coverage_and_interpolation():
    frags = rasterize(quad(), filling_camera(), 8)
    seen = texel_coverage(quad(), [frags], 8)
    assert seen.all()
    assert not texel_coverage(quad(), [frags], 32).all()  # 8 pixels cannot reach 32 texels per row
    pos = interpolate(frags, quad().faces, quad().vertices)
    assert torch.allclose(pos[..., 2], torch.zeros(8, 8, dtype=pos.dtype))
    assert float(pos[0, 0, 1]) > 0 > float(pos[-1, 0, 1])  # row 0 is the top of the view


def test_texel_index_maps_pixels_to_their_texels_and_wraps_periodic_axes():
    frags = rasterize(quad(), filling_camera(), 8)
    # the quad fills the view and its texture has one texel per pixel: pixel (r, c) shows texel (r, c)
    assert torch.equal(texel_index(quad(), frags, 8), torch.arange(64))
    # 8 x 4 texels: two pixels per texel across, one per texel down
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    assert torch.equal(texel_index(quad(), frags, (8, 4)), (rows * 4 + cols // 2).flatten())
    shifted = quad()
    shifted = Mesh(shifted.vertices, shifted.faces, shifted.uvs + torch.tensor([1.0, 0.0], dtype=torch.float64))
    periodic = Mesh(shifted.vertices, shifted.faces, shifted.uvs, wrap=(True, False))
    # u + 1 on a texture periodic in u shows the same texels; clamped, every pixel shows the last column
    assert torch.equal(texel_index(periodic, frags, 8), torch.arange(64))
    assert torch.equal(texel_index(shifted, frags, 8) % 8, torch.full((64,), 7))


@pytest.mark.parametrize("kwargs, message", [
    (dict(eye=(0, 0, 0)), "same point"),
    (dict(eye=(0, 3, 0)), "parallel"),
    (dict(eye=(0, 0, 3), fov=0), "fov"),
])
def test_degenerate_cameras_are_refused(kwargs, message):
    with pytest.raises(RenderError, match=message):
        Camera(**kwargs)


def test_meshes_without_faces_or_with_bad_indices_are_refused():
    v = torch.zeros(3, 3)
    with pytest.raises(RenderError, match="no faces"):
        Mesh(v, torch.zeros(0, 3, dtype=torch.long), torch.zeros(3, 2))
    with pytest.raises(RenderError, match="face indices"):
        Mesh(v, torch.tensor([[0, 1, 5]]), torch.zeros(3, 2))
