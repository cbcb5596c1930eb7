"""3D style transfer: optimise one texture so that every view of the mesh carries the style.

Stylising rendered pictures one by one gives views that disagree (a stroke on the spout in one
view is somewhere else in the next). After Mordvintsev et al. (2018, "Differentiable Image
Parameterizations") this module optimises the *texture* instead: each step renders a few random
views (azimuth, elevation, distance, light) with :func:`nstlib.mesh.render.render`, and descends

    style_weight · Σ_l w_l ‖G_l^mask(view) − G_l(style)‖²   (Gram matrices inside the silhouette)
    + content_weight · ‖F(view) − F(view rendered with the starting texture)‖²
    + tv_weight · TV(texture)

with Adam. Every view reads the same texels, so the views agree by construction.

Pitfalls it handles (and notebook 18 explains):
- *Lighting baked into the texture*: the light is random at every step (or views are unlit,
  ``lit=False``), so the texture cannot paint a fixed shadow; it learns the albedo.
- *Texels no view sees* get no gradient: the texture is a sum of a pyramid of resolutions
  (``pyramid`` levels, Mordvintsev's multi-resolution parameterisation), so coarse levels fill
  them, and :func:`fill_unseen` extends the seen texels into the rest (atlas gutters included).
- *Seams*: periodic meshes (a torus) wrap the texture circularly in sampling, in the pyramid's
  upsampling and in the TV term; atlas charts (the teapot) have gutters between them.
- *Texel density far above pixel density*: views are supersampled and sampled from a mip pyramid.

Baselines for the consistency comparison: :func:`per_view_gatys` (Gatys on each rendered view
independently) and :func:`adain_backproject` (AdaIN on each view, then averaged back into the texture).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..controls.masks import guided_gram_matrix, masks_for_layers
from ..core.config import DEFAULT_STYLE_LAYERS
from ..core.devices import resolve_device
from ..core.features import get_extractor
from ..core.images import load_image
from ..core.losses import gram_matrix, tv_loss
from ..core.optimize import Evaluation, Loop, Policy, StepInfo, drive
from ..feedforward.models import load_model
from ..gatys.transfer import stylize
from .render import (
    Camera,
    Fragments,
    Mesh,
    RenderError,
    orbit_camera,
    rasterize,
    render,
    reprojection_error,
    texel_coverage,
    texel_index,
)

__all__ = [
    "TextureConfig",
    "TextureResult",
    "adain_backproject",
    "consistency",
    "fill_unseen",
    "held_out_cameras",
    "per_view_gatys",
    "random_views",
    "style_loss_of_views",
    "stylize_texture",
    "training_cameras",
    "turntable",
]

#: A light fixed in the world for the baselines and measurements (upper right, in front of +z);
#: turntables use it in the camera's frame instead, so the object is lit from the front at every angle.
FIXED_LIGHT = (0.5, 0.8, 0.6)


@dataclass(frozen=True)
class TextureConfig:
    """Settings of :func:`stylize_texture`.

    Attributes:
        texture_size: side of the square texture, in texels.
        render_size: side of the rendered views fed to VGG, in pixels.
        views: random views rendered per step (the batch).
        num_steps: Adam steps.
        learning_rate: Adam's step size (texture values in [0, 1]).
        style_weight, content_weight, tv_weight: weights of the three terms. The content target
            is the views rendered with the starting texture (a grey one shows the shading only).
        lit: render with a random light per view (True) or unlit (the albedo itself).
        ambient: the share of light that reaches every surface when lit.
        elevation: range of camera elevations, degrees. distance: range of camera distances (the
            mesh fits in the unit sphere). fov: vertical field of view, degrees.
        supersample: views are rendered this many times larger, then averaged down.
        pyramid: levels of the multi-resolution texture (1 optimises the texels directly).
        style_scale: the style image's longer side relative to ``render_size``.
        style_layers, style_layer_weights, content_layers, weights, pooling: as in
            :class:`nstlib.gatys.transfer.Config`.
        seed: seeds the views, lights and backgrounds. device: ``"auto"`` or a torch device.
    """

    texture_size: int = 256
    render_size: int = 128
    views: int = 4
    num_steps: int = 300
    learning_rate: float = 0.01
    style_weight: float = 1e6
    content_weight: float = 0.0
    tv_weight: float = 1e-5
    lit: bool = True
    ambient: float = 0.35
    elevation: tuple[float, float] = (-15.0, 50.0)
    distance: tuple[float, float] = (2.6, 3.4)
    fov: float = 40.0
    supersample: int = 2
    pyramid: int = 4
    style_scale: float = 1.0
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_layer_weights: Mapping[str, float] | None = None
    content_layers: tuple[str, ...] = ("conv4_2",)
    weights: str = "caffe"
    pooling: str = "max"
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("texture_size", "render_size", "views", "num_steps", "supersample", "pyramid"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RenderError(f"{name} must be a positive integer, got {value!r}")
        if self.texture_size < 8 or self.render_size < 16:
            raise RenderError(f"texture_size must be at least 8 and render_size at least 16, got "
                              f"{self.texture_size} and {self.render_size}")
        if self.texture_size % (2 ** (self.pyramid - 1)):
            raise RenderError(f"texture_size {self.texture_size} must be divisible by 2^(pyramid - 1) = "
                              f"{2 ** (self.pyramid - 1)}")
        for name in ("learning_rate", "style_weight", "content_weight", "tv_weight", "style_scale"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise RenderError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.learning_rate <= 0 or self.style_scale <= 0:
            raise RenderError("learning_rate and style_scale must be > 0")
        lo, hi = self.elevation
        if not -89 <= lo <= hi <= 89:
            raise RenderError(f"elevation must be a range within ±89 degrees, got {self.elevation!r}")
        lo, hi = self.distance
        if not 0 < lo <= hi:
            raise RenderError(f"distance must be a range of positive numbers, got {self.distance!r}")

    def replace(self, **changes: Any) -> TextureConfig:
        return replace(self, **changes)


@dataclass
class TextureResult:
    """What :func:`stylize_texture` returns.

    Attributes:
        texture: ``[1, 3, T, T]`` in [0, 1] on the CPU, unseen texels filled in.
        history: per step, ``total``, ``style``, ``content``, ``tv`` and ``seconds``.
        seen: ``[T, T]`` bool, the texels some training view sampled.
        seconds: wall-clock time. status: ``"done"``, ``"interrupted"`` or ``"nonfinite"``.
        config: the :class:`TextureConfig` as a dict. message: how an early stop happened, in
            one line (the same wording as :func:`nstlib.gatys.transfer.stylize`'s); "" when done.
    """

    texture: Tensor
    history: dict[str, list[float]]
    seen: Tensor
    seconds: float
    status: str = "done"
    config: dict = field(default_factory=dict)
    message: str = ""

    @property
    def coverage(self) -> float:
        """Fraction of the texels that some view saw."""
        return float(self.seen.float().mean())


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


def random_views(count: int, generator: torch.Generator, config: TextureConfig) -> tuple[list[Camera], list[tuple[float, float, float]]]:
    """``count`` random cameras (uniform azimuth, elevation and distance in the config's ranges) and lights.

    Each light comes from the camera's side of the object (a random direction in the hemisphere
    towards the camera, tilted upwards), so the visible surface is never entirely in shadow.
    """
    u = torch.rand(count, 6, generator=generator, dtype=torch.float64)
    cams, lights = [], []
    for k in range(count):
        az = 360.0 * float(u[k, 0])
        el = config.elevation[0] + (config.elevation[1] - config.elevation[0]) * float(u[k, 1])
        dist = config.distance[0] + (config.distance[1] - config.distance[0]) * float(u[k, 2])
        cams.append(orbit_camera(az, el, dist, fov=config.fov))
        light_az = math.radians(az + 120.0 * (float(u[k, 3]) - 0.5))
        light_el = math.radians(10.0 + 60.0 * float(u[k, 4]))
        lights.append((math.cos(light_el) * math.sin(light_az), math.sin(light_el), math.cos(light_el) * math.cos(light_az)))
    return cams, lights


def training_cameras(count: int = 8, elevation: float = 20.0, distance: float = 3.0) -> list[Camera]:
    """``count`` cameras evenly spaced around the mesh: consecutive ones are ``360 / count`` degrees apart."""
    return [orbit_camera(360.0 * k / count, elevation, distance) for k in range(count)]


def held_out_cameras(count: int = 4, elevation: float = 20.0, distance: float = 3.0, offset: float = 22.5,
                     fov: float = 40.0) -> list[Camera]:
    """``count`` evenly spaced cameras, turned by ``offset`` degrees: views no training step used exactly."""
    return [orbit_camera(offset + 360.0 * k / count, elevation, distance, fov=fov) for k in range(count)]


def turntable(mesh: Mesh, texture: Tensor, frames: int = 36, size: int = 256, elevation: float = 20.0,
              distance: float = 3.0, lit: bool = True, background: float = 1.0) -> Tensor:
    """``[frames, 3, size, size]``: the textured mesh turning once around, lit from a fixed light."""
    with torch.no_grad():
        images = []
        for k in range(frames):
            cam = orbit_camera(360.0 * k / frames, elevation, distance)
            light = _light_for(cam) if lit else None
            images.append(render(mesh, texture, cam, size, lights=light, background=background).image)
    return torch.cat(images)


def _light_for(camera: Camera) -> tuple[float, float, float]:
    """A light that turns with the camera: :data:`FIXED_LIGHT` in the camera's frame."""
    r = camera.rotation(torch.float64)
    d = torch.tensor(FIXED_LIGHT, dtype=torch.float64) @ r
    return tuple(float(x) for x in d)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# The texture: a pyramid of resolutions, wrapped where the mesh is periodic
# --------------------------------------------------------------------------------------------


def _upsample(level: Tensor, size: int, wrap: tuple[bool, bool]) -> Tensor:
    """Bilinear upsampling of ``[1, C, t, t]`` to ``size``, wrapping periodic axes (no seam at the border)."""
    s = size // level.shape[-1]
    if s == 1:
        return level
    x = F.pad(level, (1, 1, 0, 0), mode="circular" if wrap[0] else "replicate")
    x = F.pad(x, (0, 0, 1, 1), mode="circular" if wrap[1] else "replicate")
    x = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
    return x[..., s:-s, s:-s]


def _compose(levels: Sequence[Tensor], size: int, wrap: tuple[bool, bool]) -> Tensor:
    return sum(_upsample(lv, size, wrap) for lv in levels).clamp(0, 1)  # type: ignore[return-value]


def _texture_tv(texture: Tensor, wrap: tuple[bool, bool]) -> Tensor:
    """Total variation, with the wrap-around differences included along periodic axes."""
    x = texture
    if wrap[0]:
        x = torch.cat([x, x[..., :, :1]], dim=-1)
    if wrap[1]:
        x = torch.cat([x, x[..., :1, :]], dim=-2)
    return tv_loss(x)


def fill_unseen(texture: Tensor, seen: Tensor, wrap: tuple[bool, bool] = (False, False), max_steps: int = 512) -> Tensor:
    """Extend the seen texels into the unseen ones, by repeated 3×3 averaging of the seen neighbours.

    ``texture`` ``[1, C, T, T']``, ``seen`` ``[T, T']`` bool. Seen texels are unchanged; atlas
    gutters and hidden texels take the colour of the nearest seen ones, so bilinear and mip
    sampling near a chart border do not pull in grey.
    """
    out = texture.detach().clone()
    known = seen.to(out.dtype)[None, None].to(out.device)
    if bool(known.all()) or not bool(known.any()):
        return out

    def pad(x: Tensor) -> Tensor:
        x = F.pad(x, (1, 1, 0, 0), mode="circular" if wrap[0] else "replicate")
        return F.pad(x, (0, 0, 1, 1), mode="circular" if wrap[1] else "replicate")

    for _ in range(max_steps):
        total = F.avg_pool2d(pad(out * known), 3, stride=1)
        weight = F.avg_pool2d(pad(known), 3, stride=1)
        grow = (weight > 0) & (known == 0)
        if not bool(grow.any()):
            break
        out = torch.where(grow, total / weight.clamp(min=1e-12), out)
        known = known + grow.to(out.dtype)
    return out


# --------------------------------------------------------------------------------------------
# Losses on rendered views
# --------------------------------------------------------------------------------------------


def _style_image(style: Tensor | str, config: TextureConfig) -> Tensor:
    size = max(16, round(config.render_size * config.style_scale))
    if isinstance(style, Tensor):
        image = style if style.dim() == 4 else style.unsqueeze(0)
        scale = size / max(image.shape[-2:])
        if abs(scale - 1) > 1e-6:
            image = F.interpolate(image, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
        return image.detach().float().clamp(0, 1)
    return load_image(style, size)


def _masked_style_loss(feats: Mapping[str, Tensor], mask: Tensor, targets: Mapping[str, Tensor],
                       layer_weights: Mapping[str, float] | None) -> Tensor:
    """Mean over views of Σ_l w_l ‖G_l inside the silhouette − target_l‖² (``mask`` ``[B, 1, H, W]``)."""
    masks = masks_for_layers(mask, list(targets))
    total = 0.0
    for name, target in targets.items():
        gram = guided_gram_matrix(feats[name], masks[name])[:, 0]  # [B, C, C]
        loss = F.mse_loss(gram, target.expand_as(gram))
        total = total + (layer_weights or {}).get(name, 1.0) * loss
    return total  # type: ignore[return-value]


def style_loss_of_views(images: Tensor, masks: Tensor, style: Tensor | str, config: TextureConfig | None = None,
                        extractor: Callable[[Tensor], dict[str, Tensor]] | None = None) -> list[float]:
    """The (unweighted) masked style loss of each view ``[B, 3, H, W]`` with coverage ``[B, 1, H, W]``."""
    config = config or TextureConfig()
    device = resolve_device(config.device)
    extractor = extractor or get_extractor(tuple(config.style_layers), config.weights, config.pooling, str(device), config.seed)
    with torch.no_grad():
        targets = {n: gram_matrix(f) for n, f in extractor(_style_image(style, config).to(device)).items()
                   if n in config.style_layers}
        out = []
        for k in range(images.shape[0]):
            feats = extractor(images[k:k + 1].to(device))
            out.append(float(_masked_style_loss(feats, masks[k:k + 1].to(device), targets, config.style_layer_weights)))
    return out


# --------------------------------------------------------------------------------------------
# Texture-space Gatys
# --------------------------------------------------------------------------------------------


def _start_texture(texture: Tensor | None, size: int, device: torch.device) -> Tensor:
    """The starting texture ``[1, 3, size, size]`` on ``device``: ``texture`` resized, or mid grey."""
    base = texture if texture is not None else torch.full((1, 3, size, size), 0.5)
    if base.dim() != 4 or base.shape[:2] != (1, 3):
        raise RenderError(f"texture must be [1, 3, T, T], got {tuple(base.shape)}")
    if base.shape[-1] != size or base.shape[-2] != size:
        return F.interpolate(base.float(), size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False).clamp(0, 1).to(device)
    return base.float().to(device)


@dataclass
class _Views:
    """What each step of :func:`stylize_texture` renders and compares (all on one device).

    ``levels``: the pyramid leaves ``[1, 3, T >> k, T >> k]``; ``base`` ``[1, 3, T, T]``: the
    starting texture (the content target renders it); ``targets``: the style Gram matrices
    ``[1, C, C]`` per layer; ``seen`` ``[T, T]`` bool, grown by every finite step.
    """

    mesh: Mesh
    wrap: tuple[bool, bool]
    config: TextureConfig
    extractor: Callable[[Tensor], dict[str, Tensor]]
    targets: dict[str, Tensor]
    levels: list[Tensor]
    base: Tensor
    seen: Tensor
    generator: torch.Generator
    cameras: Sequence[Camera] | None

    def texture(self) -> Tensor:
        """The texture ``[1, 3, T, T]`` the levels stand for, in [0, 1]."""
        return _compose(self.levels, self.config.texture_size, self.wrap)

    def cameras_and_lights(self) -> tuple[list[Camera], list[tuple[float, float, float]]]:
        """This step's cameras (random, or drawn from the fixed ones) and random lights."""
        config = self.config
        cams, lights = random_views(config.views, self.generator, config)
        if self.cameras:
            pick = torch.randperm(len(self.cameras), generator=self.generator)[:config.views]
            cams = [self.cameras[int(i)] for i in pick]
        return cams, lights

    def evaluate(self) -> Evaluation:
        """Render new random views, compute the loss and, if it is finite, fill the levels' grads.

        The terms recorded are unweighted (``total`` is the weighted sum); the evaluation names
        the composed texture ``[1, 3, T, T]`` it was made at.
        """
        config, device, mesh = self.config, self.base.device, self.mesh
        cams, lights = self.cameras_and_lights()
        frags = [rasterize(mesh, cam, config.render_size * config.supersample) for cam in cams]
        background = torch.rand(config.views, 3, 1, 1, generator=self.generator).to(device) * 0.8 + 0.1
        tex = self.texture()
        kwargs = dict(lights=lights if config.lit else None, ambient=config.ambient, background=background,
                      supersample=config.supersample, fragments=frags)
        views = render(mesh, tex, cams, config.render_size, **kwargs)  # type: ignore[arg-type]
        feats = self.extractor(views.image)
        style_term = _masked_style_loss(feats, views.mask, self.targets, config.style_layer_weights)
        content_term = torch.zeros((), device=device)
        if config.content_weight > 0:
            with torch.no_grad():
                reference = self.extractor(render(mesh, self.base, cams, config.render_size, **kwargs).image)  # type: ignore[arg-type]
            content_term = sum(F.mse_loss(feats[n], reference[n]) for n in config.content_layers)  # type: ignore[assignment]
        tv_term = _texture_tv(tex, self.wrap)
        total = config.style_weight * style_term + config.content_weight * content_term + config.tv_weight * tv_term
        if not torch.isfinite(total):
            return Evaluation({"total": float(total.detach())}, {}, tex.detach())
        total.backward()
        self.seen |= texel_coverage(mesh, frags, config.texture_size)
        losses = {"total": float(total.detach()), "style": float(style_term.detach()),
                  "content": float(content_term.detach()), "tv": float(tv_term.detach())}
        return Evaluation(losses, {}, tex.detach())


def _views_for(mesh: Mesh, style: Tensor | str, config: TextureConfig, base: Tensor,
               cameras: Sequence[Camera] | None) -> _Views:
    """The VGG extractor, the style targets and the pyramid (``base`` in the finest level, zeros in the others)."""
    device, size = base.device, config.texture_size
    layers = tuple(dict.fromkeys((*config.style_layers, *(config.content_layers if config.content_weight > 0 else ()))))
    extractor = get_extractor(layers, config.weights, config.pooling, str(device), config.seed)
    with torch.no_grad():
        style_feats = extractor(_style_image(style, config).to(device))
        targets = {n: gram_matrix(style_feats[n]) for n in config.style_layers}
        del style_feats
    levels = [base.clone()] + [torch.zeros(1, 3, size >> k, size >> k, device=device) for k in range(1, config.pyramid)]
    for lv in levels:
        lv.requires_grad_(True)
    return _Views(mesh.to(device), mesh.wrap, config, extractor, targets, levels, base,
                  torch.zeros(size, size, dtype=torch.bool, device=device),
                  torch.Generator().manual_seed(config.seed), cameras)


def _step_callback(callback: Callable[[int, dict[str, float], Tensor], None] | None) -> Callable[[StepInfo], None] | None:
    """The driver's callback for ``stylize_texture``'s ``(step, losses with seconds, texture [1, 3, T, T])`` one."""
    if callback is None:
        return None

    def on_step(info: StepInfo) -> None:
        callback(info.step, {**info.losses, "seconds": info.seconds}, info.image)

    return on_step


def stylize_texture(
    mesh: Mesh,
    style: Tensor | str,
    config: TextureConfig | None = None,
    *,
    texture: Tensor | None = None,
    cameras: Sequence[Camera] | None = None,
    progress: bool = True,
    callback: Callable[[int, dict[str, float], Tensor], None] | None = None,
    **overrides: Any,
) -> TextureResult:
    """Optimise a texture ``[1, 3, T, T]`` for ``mesh`` so that random views carry ``style``.

    Args:
        mesh: the mesh (its UVs decide where texels land).
        style: the style image (``[1, 3, H, W]`` or a path/URL).
        config: a :class:`TextureConfig`; keyword ``overrides`` replace its fields.
        texture: the starting texture (default: mid grey); the content target renders it.
        cameras: a fixed set of training cameras to draw each step's views from (lights stay
            random); default: new random cameras at every step.
        progress: show a ``tqdm.auto`` progress bar.
        callback: called after each step with ``(step, losses, texture)``.

    Returns:
        A :class:`TextureResult`. Ctrl-C or a non-finite loss stops early and returns the last
        good texture (``status`` and ``message`` say which). The loop is
        :func:`nstlib.core.optimize.drive` with Adam, keeping the last finite state.
    """
    from tqdm.auto import tqdm

    config = (config or TextureConfig()).replace(**overrides) if overrides else (config or TextureConfig())
    device = resolve_device(config.device)
    base = _start_texture(texture, config.texture_size, device)
    views = _views_for(mesh, style, config, base, cameras)
    policy = Policy("adam", config.learning_rate, keep="last", clamp=False)
    bar = tqdm(total=config.num_steps, desc=f"texture {mesh.name}", unit="step", disable=not progress, leave=False)
    loop = Loop(policy, config.num_steps, _step_callback(callback), bar, time.perf_counter(), {}, step_seconds=True)
    try:
        stage = drive(loop, views.levels, base, config.num_steps, views.evaluate, image_of=views.texture)
    finally:
        bar.close()
    final = fill_unseen(stage.image, views.seen, mesh.wrap).cpu()
    return TextureResult(texture=final, history=loop.history, seen=views.seen.cpu(),
                         seconds=time.perf_counter() - loop.start, status=stage.status, config=asdict(config),
                         message=stage.message)


# --------------------------------------------------------------------------------------------
# Baselines and the consistency metric
# --------------------------------------------------------------------------------------------


def per_view_gatys(mesh: Mesh, cameras: Sequence[Camera], style: Tensor | str, *, texture: Tensor | None = None,
                   size: int = 128, progress: bool = True, **stylize_options: Any) -> Tensor:
    """The per-view baseline: each view (rendered with ``texture``, lit by :data:`FIXED_LIGHT`) stylised by
    :func:`nstlib.gatys.transfer.stylize` on its own. Returns ``[B, 3, size, size]``.

    The light is fixed in the world, so the content views agree with each other where they
    overlap (Lambert shading does not depend on the viewer): what disagrees is the stylisation.

    Views stylised independently disagree where they overlap; :func:`consistency` measures by how much.
    """
    base = texture if texture is not None else torch.full((1, 3, 64, 64), 0.5)
    with torch.no_grad():
        contents = [render(mesh, base, cam, size, lights=FIXED_LIGHT).image for cam in cameras]
    out = []
    for content in contents:
        result = stylize(content, style, progress=progress, image_size=size, **stylize_options)
        out.append(result.image.cpu())
    return torch.cat(out)


def adain_backproject(mesh: Mesh, cameras: Sequence[Camera], style: Tensor | str, model: Any = None, *,
                      texture: Tensor | None = None, texture_size: int = 256, size: int = 256,
                      alpha: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """The feed-forward baseline: AdaIN on each rendered view, averaged back into the texture.

    Each covered pixel of each stylised view adds its colour to the texel it shows (weighted by
    how squarely the view faces it is not needed here: all views count equally); texels no view
    sees are filled by :func:`fill_unseen`. Fast (one network pass per view), but the views
    disagree, so the average blurs.

    Returns:
        ``(texture [1, 3, T, T], stylised views [B, 3, size, size], seen [T, T])``, the last the
        texels some view reached.
    """
    model = model if model is not None else load_model("adain", device="cpu")
    device = next(model.parameters()).device
    style_image = style if isinstance(style, Tensor) else load_image(style, size)
    base = texture if texture is not None else torch.full((1, 3, 64, 64), 0.5)
    total = torch.zeros(3, texture_size * texture_size)
    weight = torch.zeros(texture_size * texture_size)
    views = []
    with torch.no_grad():
        for cam in cameras:
            rendered = render(mesh, base, cam, size, lights=FIXED_LIGHT, supersample=1)
            stylised = model.stylize(rendered.image.to(device), style_image.to(device), alpha=alpha).cpu()
            stylised = stylised[..., :size, :size]
            views.append(stylised)
            frag = rendered.fragments[0]
            index = texel_index(mesh, frag, texture_size)
            total.index_add_(1, index, stylised[0][:, frag.mask])
            weight.index_add_(0, index, torch.ones_like(index, dtype=weight.dtype))
    seen = (weight > 0).view(texture_size, texture_size)
    tex = (total / weight.clamp(min=1)).view(1, 3, texture_size, texture_size)
    return fill_unseen(tex, seen, mesh.wrap), torch.cat(views), seen


@dataclass
class Consistency:
    """Reprojection errors between pairs of views (StyleMesh's consistency metric).

    Attributes:
        pairs: ``(i, j)`` view indices per pair. errors: mean squared difference per pair.
        pixels: pixels seen in both views, per pair.
    """

    pairs: list[tuple[int, int]]
    errors: list[float]
    pixels: list[int]

    @property
    def mean(self) -> float:
        finite = [e for e in self.errors if math.isfinite(e)]
        return sum(finite) / len(finite) if finite else math.nan


def consistency(mesh: Mesh, images: Tensor, cameras: Sequence[Camera], pairs: Sequence[tuple[int, int]],
                depth_tolerance: float = 0.01, mode: str = "bilinear") -> Consistency:
    """Reproject view ``i`` into view ``j`` for each pair and average the squared differences over pixels seen in both.

    ``images`` is ``[B, 3, H, W]``, one per camera (renders or stylised views); ``mode`` is
    :func:`nstlib.mesh.render.reproject`'s.
    """
    h, w = images.shape[-2:]
    frags: dict[int, Fragments] = {}
    errors, pixels = [], []
    for i, j in pairs:
        for k in (i, j):
            if k not in frags:
                frags[k] = rasterize(mesh, cameras[k], h, w)
        err, count = reprojection_error(images[i], images[j], frags[i], frags[j], mesh, depth_tolerance, mode)
        errors.append(err)
        pixels.append(count)
    return Consistency(pairs=list(pairs), errors=errors, pixels=pixels)
