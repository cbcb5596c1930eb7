"""A small differentiable renderer in PyTorch: rasterise once, sample the texture differentiably.

Stylising a 3D model means optimising its *texture* through many rendered views. The renderer
splits the work the way Lucid and StyleMesh do:

1. :func:`rasterize` (no gradient): for every pixel, which triangle is nearest the camera and
   where inside it the pixel falls (perspective-correct barycentric coordinates). A z-buffer in
   plain, vectorised torch: each triangle lists the pixels of its bounding box, an inside test and
   a ``scatter_reduce`` keep the nearest. It runs on any device.
2. :func:`render` (differentiable in the texture): interpolate the UVs at each pixel, sample the
   texture with ``grid_sample``, shade it (Lambert with a soft ambient term) and composite it over
   a background. Gradients flow into every texel that some pixel samples.

Aliasing is handled twice: views are rendered at ``supersample`` times the size and averaged down
(smooth silhouettes), and the texture is sampled from a mip pyramid (2×2 means) at the level that
matches how many texels fall in one pixel, so a texture far larger than the view does not alias.

Conventions: world space is right-handed with ``y`` up; a :class:`Camera` looks from ``eye`` at
``target``. UVs follow OBJ (and trimesh): ``(0, 0)`` is the *bottom-left* of the texture image,
``v`` grows upwards, so texture row 0 is ``v = 1``. Images are ``[B, 3, H, W]`` in ``[0, 1]``,
row 0 at the top. A mesh may mark its texture as periodic in ``u`` and/or ``v`` (a torus): UVs
are then taken modulo 1 at each pixel and the texture wraps around instead of clamping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.errors import NstlibError

__all__ = [
    "Camera",
    "Fragments",
    "Mesh",
    "RenderError",
    "Rendering",
    "interpolate",
    "orbit_camera",
    "rasterize",
    "render",
    "reproject",
    "reprojection_error",
    "sample_texture",
    "texel_coverage",
    "texel_footprint",
    "texel_index",
    "vertex_normals",
    "wrap_uv",
]

#: Candidate (triangle, pixel) pairs examined at once; bounds the rasteriser's memory (~40 bytes each).
_CHUNK_PAIRS = 4_000_000


class RenderError(NstlibError):
    """A mesh, camera or texture the renderer cannot use; the message names the value at fault."""


# --------------------------------------------------------------------------------------------
# Meshes and cameras
# --------------------------------------------------------------------------------------------


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Unit vertex normals ``[V, 3]``: the area-weighted sum of the normals of the faces around each vertex.

    ``vertices`` is ``[V, 3]``, ``faces`` ``[F, 3]`` (counter-clockwise seen from outside). A
    vertex that no face uses gets ``(0, 0, 0)``. Vertices duplicated along UV seams get their own
    faces only; :class:`Mesh` welds them by position first (see ``Mesh.__post_init__``).
    """
    tri = vertices[faces]  # [F, 3, 3]
    face_n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)  # length = 2 × area
    normals = torch.zeros_like(vertices).index_add_(0, faces.reshape(-1), face_n.repeat_interleave(3, dim=0))
    return F.normalize(normals, dim=-1, eps=1e-12)


def _welded_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Vertex normals that ignore UV seams: vertices at the same position share one normal."""
    key = torch.round(vertices.double() * 1e6)
    _, inverse = torch.unique(key, dim=0, return_inverse=True)
    welded = vertex_normals(torch.zeros(int(inverse.max()) + 1, 3, dtype=vertices.dtype,
                                        device=vertices.device).index_copy_(0, inverse, vertices),
                            inverse[faces])
    return welded[inverse]


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh with one UV per vertex.

    Attributes:
        vertices: ``[V, 3]`` float positions.
        faces: ``[F, 3]`` int64 vertex indices, counter-clockwise seen from outside.
        uvs: ``[V, 2]`` texture coordinates (OBJ convention, ``v`` up). Vertices on a UV seam are
            duplicated, one per side. Periodic directions may run past 1 (a knot's tube repeats
            its texture along its length).
        normals: ``[V, 3]`` unit normals; computed (area-weighted, welded across seams) if None.
        wrap: ``(u, v)``: whether the texture is periodic in each direction.
        name: shown in messages and titles.
    """

    vertices: Tensor
    faces: Tensor
    uvs: Tensor
    normals: Tensor | None = None
    wrap: tuple[bool, bool] = (False, False)
    name: str = "mesh"

    def __post_init__(self) -> None:
        v, f, uv = self.vertices, self.faces, self.uvs
        if not isinstance(v, Tensor) or v.dim() != 2 or v.shape[1] != 3 or v.shape[0] < 3:
            raise RenderError(f"mesh {self.name!r}: vertices must be [V, 3] with V >= 3, got {_shape(v)}")
        if not torch.isfinite(v).all():
            raise RenderError(f"mesh {self.name!r}: vertices hold NaN or infinite values")
        if not isinstance(f, Tensor) or f.dim() != 2 or f.shape[1] != 3 or f.shape[0] == 0:
            raise RenderError(f"mesh {self.name!r} has no faces (faces must be [F, 3] with F >= 1, got {_shape(f)})")
        if f.dtype.is_floating_point or int(f.min()) < 0 or int(f.max()) >= v.shape[0]:
            raise RenderError(f"mesh {self.name!r}: face indices must be integers in [0, {v.shape[0] - 1}]")
        if not isinstance(uv, Tensor) or tuple(uv.shape) != (v.shape[0], 2):
            raise RenderError(f"mesh {self.name!r}: uvs must be [{v.shape[0]}, 2] (one per vertex), got {_shape(uv)}")
        object.__setattr__(self, "faces", f.long())
        if self.normals is None:
            object.__setattr__(self, "normals", _welded_normals(v, self.faces))
        object.__setattr__(self, "wrap", (bool(self.wrap[0]), bool(self.wrap[1])))

    @property
    def device(self) -> torch.device:
        return self.vertices.device

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Mesh:
        """The same mesh on another device and/or float dtype (faces stay int64)."""
        return replace(self, vertices=self.vertices.to(device, dtype), faces=self.faces.to(device),
                       uvs=self.uvs.to(device, dtype), normals=self.normals.to(device, dtype))  # type: ignore[union-attr]

    def normalized(self, radius: float = 1.0) -> Mesh:
        """Centred on its bounding box, scaled so that its farthest vertex is ``radius`` from the centre."""
        v = self.vertices
        centre = (v.amin(0) + v.amax(0)) / 2
        scale = radius / float((v - centre).norm(dim=-1).max().clamp_min(1e-12))
        return replace(self, vertices=(v - centre) * scale)

    def __repr__(self) -> str:
        return (f"Mesh({self.name!r}, {self.vertices.shape[0]} vertices, {self.faces.shape[0]} faces, "
                f"wrap={self.wrap})")


def _shape(x: object) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking from ``eye`` at ``target``, with a vertical field of view in degrees."""

    eye: tuple[float, float, float]
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    fov: float = 40.0
    near: float = 0.01

    def __post_init__(self) -> None:
        for name in ("eye", "target", "up"):
            value = tuple(float(x) for x in getattr(self, name))
            if len(value) != 3 or not all(math.isfinite(x) for x in value):
                raise RenderError(f"camera {name} must be three finite numbers, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        forward = torch.tensor(self.target, dtype=torch.float64) - torch.tensor(self.eye, dtype=torch.float64)
        if float(forward.norm()) < 1e-9:
            raise RenderError(f"degenerate camera: eye {self.eye} and target {self.target} are the same point")
        up = torch.tensor(self.up, dtype=torch.float64)
        if float(torch.linalg.cross(F.normalize(forward, dim=0), up).norm()) < 1e-6 * max(float(up.norm()), 1e-300):
            raise RenderError(f"degenerate camera: up {self.up} is parallel to the viewing direction "
                              f"from {self.eye} to {self.target}")
        if not (isinstance(self.fov, (int, float)) and 1.0 <= self.fov <= 170.0):
            raise RenderError(f"camera fov must be from 1 to 170 degrees, got {self.fov!r}")
        if not (isinstance(self.near, (int, float)) and self.near > 0):
            raise RenderError(f"camera near must be > 0, got {self.near!r}")

    def rotation(self, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None) -> Tensor:
        """``[3, 3]`` world-to-camera rotation; rows are the camera's right, up and backward axes."""
        eye = torch.tensor(self.eye, dtype=torch.float64)
        back = F.normalize(eye - torch.tensor(self.target, dtype=torch.float64), dim=0)
        right = F.normalize(torch.linalg.cross(torch.tensor(self.up, dtype=torch.float64), back), dim=0)
        up = torch.linalg.cross(back, right)
        return torch.stack([right, up, back]).to(device=device, dtype=dtype)

    def to_camera(self, points: Tensor) -> Tensor:
        """``[..., 3]`` world points in camera coordinates (the camera looks down ``-z``)."""
        r = self.rotation(points.dtype, points.device)
        return (points - torch.tensor(self.eye, dtype=points.dtype, device=points.device)) @ r.T

    def project(self, points: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
        """Pixel coordinates ``[..., 2]`` (x right, y down, pixel centres at ``i + 0.5``) and depth ``[...]``.

        Depth is the distance along the viewing direction (positive in front of the camera).
        """
        cam = self.to_camera(points)
        depth = -cam[..., 2]
        f = 1.0 / math.tan(math.radians(self.fov) / 2)
        safe = torch.where(depth.abs() > 1e-12, depth, torch.full_like(depth, 1e-12))
        x_ndc = f * (height / width) * cam[..., 0] / safe
        y_ndc = f * cam[..., 1] / safe
        xy = torch.stack([(x_ndc + 1) * (width / 2), (1 - y_ndc) * (height / 2)], dim=-1)
        return xy, depth


def orbit_camera(azimuth: float, elevation: float = 20.0, distance: float = 3.0, fov: float = 40.0,
                 target: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Camera:
    """A camera on a sphere around ``target``: azimuth about ``+y`` from ``+z`` and elevation in degrees.

    ``orbit_camera(0, 0)`` looks along ``-z`` from ``(0, 0, distance)``; azimuth 90 looks from ``+x``.
    """
    if not (isinstance(distance, (int, float)) and distance > 0 and math.isfinite(distance)):
        raise RenderError(f"camera distance must be a finite number > 0, got {distance!r}")
    if not -89.9 <= elevation <= 89.9:
        raise RenderError(f"camera elevation must be within ±89.9 degrees (the poles are degenerate), got {elevation!r}")
    az, el = math.radians(azimuth), math.radians(elevation)
    offset = (distance * math.cos(el) * math.sin(az), distance * math.sin(el), distance * math.cos(el) * math.cos(az))
    eye = tuple(t + o for t, o in zip(target, offset))
    return Camera(eye=eye, target=target, fov=fov)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Rasterisation (no gradient)
# --------------------------------------------------------------------------------------------


@dataclass
class Fragments:
    """What :func:`rasterize` found at each pixel of one view.

    Attributes:
        face: ``[H, W]`` int64 index of the nearest triangle, ``-1`` where no triangle is.
        bary: ``[H, W, 3]`` perspective-correct barycentric coordinates in that triangle.
        depth: ``[H, W]`` distance along the viewing direction, ``inf`` where empty.
    """

    face: Tensor
    bary: Tensor
    depth: Tensor
    camera: Camera = field(repr=False)

    @property
    def mask(self) -> Tensor:
        """``[H, W]`` bool: pixels covered by the mesh."""
        return self.face >= 0

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.face.shape)  # type: ignore[return-value]


def rasterize(mesh: Mesh, camera: Camera, height: int, width: int | None = None) -> Fragments:
    """Z-buffer the mesh into a ``height`` × ``width`` view (pixel centres sampled, no anti-aliasing).

    Triangles are two-sided; one with a vertex closer than ``camera.near`` is dropped. Vectorised:
    every triangle enumerates the pixel centres of its bounding box (in chunks of a few million
    pairs), keeps those inside it, and ``scatter_reduce`` keeps the nearest per pixel.
    """
    width = height if width is None else width
    if not (isinstance(height, int) and isinstance(width, int) and height >= 1 and width >= 1):
        raise RenderError(f"render size must be positive integers, got {height!r} x {width!r}")
    with torch.no_grad():
        verts = mesh.vertices.double()
        xy, depth = camera.project(verts, height, width)
        faces = mesh.faces
        tri_xy, tri_d = xy[faces], depth[faces]  # [F, 3, 2], [F, 3]
        a, b, c = tri_xy[:, 0], tri_xy[:, 1], tri_xy[:, 2]
        area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        lo = torch.ceil(tri_xy.amin(1) - 0.5).clamp(min=0)
        hi = torch.floor(tri_xy.amax(1) - 0.5)
        hi = torch.minimum(hi, torch.tensor([width - 1.0, height - 1.0], dtype=hi.dtype, device=hi.device))
        span = (hi - lo + 1).clamp(min=0)
        keep = (tri_d.amin(1) > camera.near) & (area.abs() > 1e-12) & (span > 0).all(1)
        ids = torch.nonzero(keep).squeeze(1)
        counts = (span[ids, 0] * span[ids, 1]).long()
        cand_pix, cand_face, cand_depth, cand_bary = [], [], [], []
        start = 0
        while start < ids.numel():
            cum = torch.cumsum(counts[start:], 0)
            stop = start + max(1, int(torch.searchsorted(cum, torch.tensor(_CHUNK_PAIRS, device=cum.device))))
            stop = min(stop, ids.numel())
            f_ids, n = ids[start:stop], counts[start:stop]
            owner = torch.repeat_interleave(torch.arange(f_ids.numel(), device=n.device), n)
            first = torch.cumsum(n, 0) - n
            local = torch.arange(int(n.sum()), device=n.device) - first[owner]
            f = f_ids[owner]
            w = span[f, 0].long()
            px = lo[f, 0] + (local % w)
            py = lo[f, 1] + torch.div(local, w, rounding_mode="floor")
            p = torch.stack([px + 0.5, py + 0.5], dim=-1)
            ta, tb, tc = a[f], b[f], c[f]
            w0 = ((tb[:, 0] - p[:, 0]) * (tc[:, 1] - p[:, 1]) - (tb[:, 1] - p[:, 1]) * (tc[:, 0] - p[:, 0])) / area[f]
            w1 = ((tc[:, 0] - p[:, 0]) * (ta[:, 1] - p[:, 1]) - (tc[:, 1] - p[:, 1]) * (ta[:, 0] - p[:, 0])) / area[f]
            w2 = 1 - w0 - w1
            screen = torch.stack([w0, w1, w2], dim=-1)
            inside = (screen >= -1e-9).all(-1)
            screen, f, px, py = screen[inside], f[inside], px[inside], py[inside]
            inv = screen / tri_d[f]  # perspective correction: interpolate 1/z
            z = 1 / inv.sum(-1)
            cand_pix.append((py * width + px).long())
            cand_face.append(f)
            cand_depth.append(z)
            cand_bary.append(inv * z[:, None])
            start = stop
        n_pix = height * width
        face_img = torch.full((n_pix,), -1, dtype=torch.long, device=verts.device)
        depth_img = torch.full((n_pix,), math.inf, dtype=torch.float64, device=verts.device)
        bary_img = torch.zeros(n_pix, 3, dtype=torch.float64, device=verts.device)
        if cand_pix:
            pix, fc, z, bc = (torch.cat(t) for t in (cand_pix, cand_face, cand_depth, cand_bary))
            depth_img.scatter_reduce_(0, pix, z, reduce="amin")
            front = z <= depth_img[pix]
            # ties (a shared edge, or coplanar faces) go to the highest face index, for determinism
            face_img.scatter_reduce_(0, pix[front], fc[front], reduce="amax")
            win = front & (fc == face_img[pix])
            bary_img[pix[win]] = bc[win]
        dtype = mesh.vertices.dtype
        return Fragments(face=face_img.view(height, width), bary=bary_img.view(height, width, 3).to(dtype),
                         depth=depth_img.view(height, width).to(dtype), camera=camera)


def interpolate(fragments: Fragments, faces: Tensor, attributes: Tensor) -> Tensor:
    """Per-pixel ``[H, W, K]`` values of per-vertex ``attributes`` ``[V, K]`` (0 where empty).

    Differentiable with respect to ``attributes``.
    """
    face = fragments.face.clamp(min=0)
    tri = attributes[faces[face]]  # [H, W, 3, K]
    bary = fragments.bary.to(attributes.dtype)
    values = (bary.unsqueeze(-1) * tri).sum(-2)
    return values * fragments.mask.unsqueeze(-1).to(values.dtype)


# --------------------------------------------------------------------------------------------
# Texture sampling (differentiable)
# --------------------------------------------------------------------------------------------


def _pad_texture(texture: Tensor, wrap: tuple[bool, bool], pad: int) -> Tensor:
    """Pad ``[N, C, T, T']`` by ``pad`` texels: circularly along periodic axes, by replication otherwise."""
    wrap_u, wrap_v = wrap
    x = F.pad(texture, (pad, pad, 0, 0), mode="circular" if wrap_u else "replicate") if pad else texture
    return F.pad(x, (0, 0, pad, pad), mode="circular" if wrap_v else "replicate") if pad else x


def texel_footprint(mesh: Mesh, fragments: Fragments, texture_size: tuple[int, int]) -> Tensor:
    """Texels per pixel ``[H, W]`` at each covered pixel (0 where empty).

    From each triangle's affine map from the screen to the texture (its UV edges against its
    screen edges): the larger of the two lengths, in texels, that one pixel step along x or y
    covers. Per triangle, so UV seams (where neighbouring pixels jump across the atlas) do not
    count as a large footprint.
    """
    h, w = fragments.shape
    xy, _ = fragments.camera.project(mesh.vertices.double(), h, w)
    tri_xy, tri_uv = xy[mesh.faces], mesh.uvs.double()[mesh.faces]  # [F, 3, 2]
    screen = torch.stack([tri_xy[:, 1] - tri_xy[:, 0], tri_xy[:, 2] - tri_xy[:, 0]], dim=-1)  # [F, 2, 2]
    scale = torch.tensor([texture_size[1], texture_size[0]], dtype=torch.float64, device=xy.device)
    tex = torch.stack([tri_uv[:, 1] - tri_uv[:, 0], tri_uv[:, 2] - tri_uv[:, 0]], dim=-1) * scale[:, None]
    det = screen[:, 0, 0] * screen[:, 1, 1] - screen[:, 0, 1] * screen[:, 1, 0]
    safe = torch.where(det.abs() > 1e-12, det, torch.ones_like(det))
    inverse = torch.stack([torch.stack([screen[:, 1, 1], -screen[:, 0, 1]], -1),
                           torch.stack([-screen[:, 1, 0], screen[:, 0, 0]], -1)], 1) / safe[:, None, None]
    jac = tex @ inverse  # [F, 2 (u, v), 2 (x, y)]: texels per pixel
    per_face = jac.norm(dim=1).amax(-1) * (det.abs() > 1e-12)
    out = per_face[fragments.face.clamp(min=0)] * fragments.mask
    return out.to(fragments.bary.dtype)


def sample_texture(texture: Tensor, uv: Tensor, *, wrap: tuple[bool, bool] = (False, False),
                   footprint: Tensor | None = None, mode: str = "bilinear") -> Tensor:
    """Sample ``texture`` ``[1 or N, C, T, T']`` at ``uv`` ``[N, H, W, 2]`` (OBJ convention): ``[N, C, H, W]``.

    Periodic axes take UVs modulo 1 and pad circularly, so the texture wraps without a seam; the
    others clamp at the border. With ``footprint`` ``[N, H, W]`` (texels per pixel, see
    :func:`texel_footprint`), each pixel reads the mip level whose texels match its footprint (a
    pyramid of 2×2 means, blended linearly between the two nearest levels); without it, the
    full-resolution texture. Differentiable with respect to ``texture``; the UVs are treated as constants.
    """
    if texture.dim() != 4 or uv.dim() != 4 or uv.shape[-1] != 2:
        raise RenderError(f"sample_texture expects texture [N, C, T, T'] and uv [N, H, W, 2], "
                          f"got {_shape(texture)} and {_shape(uv)}")
    n = uv.shape[0]
    if texture.shape[0] not in (1, n):
        raise RenderError(f"texture batch {texture.shape[0]} does not match {n} views")
    levels = [texture]
    if footprint is not None:
        top = max(0, int(math.log2(max(1.0, float(footprint.max())))) + 1)
        while len(levels) <= top and min(levels[-1].shape[-2:]) >= 2:
            levels.append(F.avg_pool2d(levels[-1], 2, ceil_mode=True))
        lod = torch.log2(footprint.clamp(min=1.0)).clamp(max=len(levels) - 1)
    else:
        lod = None
    wrapped = wrap_uv(uv.detach(), wrap)
    samples = []
    for level in levels:
        t_h, t_w = level.shape[-2:]
        padded = _pad_texture(level, wrap, 1)
        # texel (i + 0.5) / T of the unpadded level sits at (i + 1.5) / (T + 2) of the padded one
        gx = (wrapped[..., 0] * t_w + 1) / (t_w + 2) * 2 - 1
        gy = ((1 - wrapped[..., 1]) * t_h + 1) / (t_h + 2) * 2 - 1
        grid = torch.stack([gx, gy], dim=-1).to(level.dtype)
        source = padded.expand(n, -1, -1, -1) if padded.shape[0] == 1 else padded
        samples.append(F.grid_sample(source, grid, mode=mode, padding_mode="border", align_corners=False))
    if lod is None or len(samples) == 1:
        return samples[0]
    out = torch.zeros_like(samples[0])
    for k, s in enumerate(samples):
        weight = (1 - (lod - k).abs()).clamp(min=0)  # hat functions: linear between adjacent levels
        out = out + s * weight.unsqueeze(1).to(s.dtype)
    return out


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@dataclass
class Rendering:
    """Views rendered by :func:`render`.

    Attributes:
        image: ``[B, 3, H, W]`` in ``[0, 1]``, composited over the background.
        mask: ``[B, 1, H, W]``: the fraction of each pixel the mesh covers (0 or 1 without supersampling).
        fragments: the rasterisation of each view at the supersampled size.
    """

    image: Tensor
    mask: Tensor
    fragments: list[Fragments] = field(repr=False)


def _as_color(value: float | Sequence[float] | Tensor, like: Tensor) -> Tensor:
    c = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if c.dim() == 0:
        c = c.expand(3)
    if c.dim() == 1:
        c = c.view(1, -1, 1, 1)
    return c


def render(
    mesh: Mesh,
    texture: Tensor,
    cameras: Camera | Sequence[Camera],
    size: int | tuple[int, int] = 128,
    *,
    lights: Sequence[Sequence[float]] | Sequence[float] | None = None,
    ambient: float = 0.35,
    background: float | Sequence[float] | Tensor = 1.0,
    supersample: int = 2,
    mip: bool = True,
    mode: str = "bilinear",
    fragments: Sequence[Fragments] | None = None,
) -> Rendering:
    """Render ``mesh`` with ``texture`` ``[1, 3, T, T']`` from each camera: differentiable in the texture.

    Args:
        cameras: one camera or a list (the views of the batch).
        size: output side, or ``(H, W)``.
        lights: None renders unlit (the texture itself, the albedo); otherwise one direction
            towards a distant white light for all views, or one per view. Shading is
            ``ambient + (1 - ambient) · max(0, n · l)`` with the normal turned towards the camera
            (triangles are two-sided).
        background: a grey level, an RGB triple, or a ``[B or 1, 3, H, W]`` image at the output size.
        supersample: render at this many times the size, then average ``s × s`` blocks.
        mip: sample the texture from a mip pyramid (see :func:`sample_texture`).
        mode: ``"bilinear"`` or ``"nearest"`` texture filtering.
        fragments: reuse rasterisations made earlier for these cameras at the supersampled size.

    Returns:
        A :class:`Rendering` with ``image`` ``[B, 3, H, W]`` and coverage ``mask`` ``[B, 1, H, W]``.
    """
    cams = [cameras] if isinstance(cameras, Camera) else list(cameras)
    if not cams:
        raise RenderError("render needs at least one camera")
    if not isinstance(texture, Tensor) or texture.dim() != 4 or texture.shape[1] != 3:
        raise RenderError(f"texture must be [1, 3, T, T'], got {_shape(texture)}")
    if not (isinstance(supersample, int) and supersample >= 1):
        raise RenderError(f"supersample must be a positive integer, got {supersample!r}")
    if not 0.0 <= ambient <= 1.0:
        raise RenderError(f"ambient must be from 0 to 1, got {ambient!r}")
    h, w = (size, size) if isinstance(size, int) else size
    sh, sw = h * supersample, w * supersample
    frags = list(fragments) if fragments is not None else [rasterize(mesh, cam, sh, sw) for cam in cams]
    if len(frags) != len(cams) or any(fr.shape != (sh, sw) for fr in frags):
        raise RenderError(f"fragments must be {len(cams)} rasterisations at {sh}x{sw}")
    dtype = texture.dtype
    mesh_t = mesh if mesh.vertices.dtype == dtype and mesh.device == texture.device else mesh.to(texture.device, dtype)
    uv = torch.stack([interpolate(fr, mesh_t.faces, mesh_t.uvs) for fr in frags])  # [B, sh, sw, 2]
    covered = torch.stack([fr.mask for fr in frags])  # [B, sh, sw]
    footprint = None
    if mip:
        size_t = tuple(texture.shape[-2:])
        footprint = torch.stack([texel_footprint(mesh, fr, size_t) for fr in frags]).to(dtype)  # type: ignore[arg-type]
    color = sample_texture(texture, uv, wrap=mesh.wrap, footprint=footprint, mode=mode)
    if lights is not None:
        dirs = torch.as_tensor(lights, dtype=dtype, device=texture.device)
        dirs = F.normalize(dirs.view(-1, 3).expand(len(cams), 3), dim=-1)
        shades = []
        for k, fr in enumerate(frags):
            normal = F.normalize(interpolate(fr, mesh_t.faces, mesh_t.normals), dim=-1, eps=1e-12)  # type: ignore[arg-type]
            pos = interpolate(fr, mesh_t.faces, mesh_t.vertices)
            to_eye = torch.tensor(fr.camera.eye, dtype=dtype, device=texture.device) - pos
            facing = torch.where((normal * to_eye).sum(-1, keepdim=True) < 0, -normal, normal)
            lambert = (facing * dirs[k]).sum(-1).clamp(min=0)
            shades.append(ambient + (1 - ambient) * lambert)
        color = color * torch.stack(shades).unsqueeze(1)
    m = covered.unsqueeze(1).to(dtype)
    bg = _as_color(background, color)
    if bg.shape[-1] == w and supersample > 1 and bg.dim() == 4 and bg.shape[-2] == h:
        bg = F.interpolate(bg, size=(sh, sw), mode="nearest")
    image = color * m + bg * (1 - m)
    if supersample > 1:
        image = F.avg_pool2d(image, supersample)
        m = F.avg_pool2d(m, supersample)
    return Rendering(image=image, mask=m, fragments=frags)


# --------------------------------------------------------------------------------------------
# Reprojection between views (the consistency metric) and texel coverage
# --------------------------------------------------------------------------------------------


def reproject(source: Tensor, fragments_source: Fragments, fragments_target: Fragments, mesh: Mesh,
              depth_tolerance: float = 0.01, mode: str = "bilinear") -> tuple[Tensor, Tensor]:
    """Bring the colours of one view into another through the mesh: ``([C, H, W], [H, W] bool)``.

    For each covered pixel of the target view, the surface point it shows is projected into the
    source view and its colour read there, if the source view sees the same point (the source's
    depth at the nearest pixel agrees within ``depth_tolerance`` × depth: the visibility test).
    ``mode`` ``"nearest"`` reads the nearest source pixel; ``"bilinear"`` interpolates the four
    around the point and keeps the pixel only if all four are covered, so that no background
    enters. Pixels on the target's silhouette (a neighbour uncovered) are left out in bilinear
    mode, since their colour mixes in the background. The mask marks the pixels kept.
    ``source`` is ``[C, H, W]`` at the size of ``fragments_source``.
    """
    if mode not in ("nearest", "bilinear"):
        raise RenderError(f"reprojection mode must be 'nearest' or 'bilinear', got {mode!r}")
    sh, sw = fragments_source.shape
    pos = interpolate(fragments_target, mesh.faces.to(fragments_target.face.device),
                      mesh.vertices.to(fragments_target.bary.device, torch.float64))  # [H, W, 3]
    xy, depth = fragments_source.camera.project(pos, sh, sw)
    col = torch.floor(xy[..., 0]).long()
    row = torch.floor(xy[..., 1]).long()
    inside = fragments_target.mask & (col >= 0) & (col < sw) & (row >= 0) & (row < sh)
    col_c, row_c = col.clamp(0, sw - 1), row.clamp(0, sh - 1)
    seen_depth = fragments_source.depth[row_c, col_c].to(depth.dtype)
    visible = inside & fragments_source.mask[row_c, col_c] & ((seen_depth - depth).abs() <= depth_tolerance * depth)
    if mode == "nearest":
        return source[:, row_c, col_c] * visible.to(source.dtype), visible
    covered = fragments_source.mask.to(source.dtype)[None]
    stacked = torch.cat([source * covered, covered])[None]  # [1, C + 1, H, W]
    grid = torch.stack([xy[..., 0] / sw * 2 - 1, xy[..., 1] / sh * 2 - 1], dim=-1)[None].to(source.dtype)
    sampled = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    weight = sampled[-1]
    target = fragments_target.mask.to(source.dtype)[None, None]
    interior = (-F.max_pool2d(-target, 3, stride=1, padding=1))[0, 0] > 0.5
    kept = visible & interior & (weight > 1 - 1e-6)
    out = sampled[:-1] / weight.clamp(min=1e-12) * kept.to(source.dtype)
    return out, kept


def reprojection_error(image_a: Tensor, image_b: Tensor, fragments_a: Fragments, fragments_b: Fragments,
                       mesh: Mesh, depth_tolerance: float = 0.01, mode: str = "bilinear") -> tuple[float, int]:
    """Mean squared difference between view ``b`` and view ``a`` reprojected into it, over pixels seen in both.

    ``image_a``, ``image_b`` are ``[3, H, W]`` at the fragments' size. Returns the error (mean over
    pixels and channels) and the number of pixels it averages (see :func:`reproject`). StyleMesh's
    consistency metric: a texture gives nearly 0 by construction (what is left is resampling: the
    same texels read through two pixel grids), views stylised independently do not.
    """
    warped, both = reproject(image_a, fragments_a, fragments_b, mesh, depth_tolerance, mode)
    count = int(both.sum())
    if count == 0:
        return math.nan, 0
    diff = (warped - image_b.to(warped.dtype)) ** 2
    return float(diff[:, both].mean()), count


def wrap_uv(uv: Tensor, wrap: tuple[bool, bool]) -> Tensor:
    """A copy of ``uv`` ``[..., 2]`` with each periodic axis (``wrap[axis]``) taken modulo 1."""
    out = uv.clone()
    for axis in (0, 1):
        if wrap[axis]:
            out[..., axis] = torch.remainder(out[..., axis], 1.0)
    return out


def texel_index(mesh: Mesh, fragments: Fragments, texture_size: int | tuple[int, int]) -> Tensor:
    """``[P]`` long: for each of the ``P`` covered pixels of one view (``fragments.mask`` order),
    the flat index ``row * T' + col`` of the texel it shows (nearest texel; row 0 is the top of a
    ``[T, T']`` texture, where V = 1)."""
    t_h, t_w = (texture_size, texture_size) if isinstance(texture_size, int) else texture_size
    uv = wrap_uv(interpolate(fragments, mesh.faces, mesh.uvs.to(fragments.bary.dtype))[fragments.mask], mesh.wrap)
    col = (uv[:, 0] * t_w).long().clamp(0, t_w - 1)
    row = ((1 - uv[:, 1]) * t_h).long().clamp(0, t_h - 1)
    return row * t_w + col


def texel_coverage(mesh: Mesh, fragments: Sequence[Fragments], texture_size: int | tuple[int, int]) -> Tensor:
    """``[T, T']`` bool: the texels that some pixel of these views samples (nearest texel).

    Texels no view sees get no gradient during optimisation; the fraction covered is worth
    reporting, and the rest is filled in after (see :func:`nstlib.mesh.meshes.fill_unseen`).
    """
    t_h, t_w = (texture_size, texture_size) if isinstance(texture_size, int) else texture_size
    seen = torch.zeros(t_h * t_w, dtype=torch.bool, device=mesh.device)
    for fr in fragments:
        seen[texel_index(mesh, fr, (t_h, t_w))] = True
    return seen.view(t_h, t_w)
