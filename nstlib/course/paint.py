"""Procedurally painted style images, deterministic from a seed.

The course needs style images whose licence is beyond doubt, so this module
paints its own.  Every generator has the signature ``fn(size=512, seed=0)``
and returns an RGB :class:`PIL.Image.Image` of ``size`` x ``size`` pixels.
The output depends only on ``(size, seed)``: all randomness comes from
``numpy.random.default_rng(seed)`` and all drawing is done with Pillow, so
the same call gives byte-identical pixels every time (on the same versions
of numpy and Pillow).

Shapes are drawn with :mod:`PIL.ImageDraw` on a canvas two or three times
larger than requested and then downscaled with a Lanczos filter, which
anti-aliases the edges.  (``stained_glass`` is computed per pixel with numpy
instead and anti-aliases its lead lines analytically.)  Textures such as
canvas grain are added at the final size.  No style needs more than a
second or so at 512 px on a laptop CPU.

Available styles (see :data:`STYLES`):

``brush_strokes``
    Thick, swirling night-sky brush strokes in the spirit of a famous
    post-impressionist night scene.
``mondrian``
    A recursively subdivided grid with black bars and primary colours.
``pointillism``
    A sunset over water painted with thousands of small dots.
``stained_glass``
    A rose window of Voronoi glass cells held in dark lead came.
``wave``
    Woodblock-print style bands of blue waves with white foam.

Example::

    from nstlib.course.paint import paint
    paint("stained_glass", size=256, seed=3).save("glass.png")
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "STYLES",
    "brush_strokes",
    "mondrian",
    "paint",
    "pointillism",
    "stained_glass",
    "wave",
]

_MIN_SIZE = 16
_LANCZOS = Image.Resampling.LANCZOS


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _check(size: int, seed: int) -> np.random.Generator:
    """Validate the common arguments and return the random generator."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < _MIN_SIZE:
        raise ValueError(f"size must be at least {_MIN_SIZE}, got {size}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


def _downscale(canvas: Image.Image, size: int) -> Image.Image:
    """Anti-alias a supersampled canvas down to ``size`` x ``size``."""
    if canvas.size == (size, size):
        return canvas
    return canvas.resize((size, size), _LANCZOS)


def _to_image(arr: np.ndarray) -> Image.Image:
    """Convert a float array in [0, 255] of shape (H, W, 3) to an RGB image."""
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth value noise in roughly [-1, 1]: a coarse random grid, bicubically upsampled."""
    h, w = shape
    coarse = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    img = Image.fromarray(coarse, "F")
    # Upsample a slightly larger grid and crop, so the borders are not clamped.
    big = img.resize((w * (cells + 3) // cells + 1, h * (cells + 3) // cells + 1), Image.Resampling.BICUBIC)
    ox = (big.size[0] - w) // 2
    oy = (big.size[1] - h) // 2
    out = np.asarray(big, dtype=np.float32)[oy : oy + h, ox : ox + w]
    return np.clip(out / 1.5, -1.0, 1.0)


def _sample(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Nearest-neighbour lookup of a (H, W) field at points given in [0, 1]^2 (x, y)."""
    h, w = field.shape
    ix = np.clip((pts[:, 0] * (w - 1)).round().astype(np.intp), 0, w - 1)
    iy = np.clip((pts[:, 1] * (h - 1)).round().astype(np.intp), 0, h - 1)
    return field[iy, ix]


def _lerp_palette(palette: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation through ``palette`` (K, 3) at ``t`` in [0, 1]."""
    k = len(palette) - 1
    t = np.clip(t, 0.0, 1.0) * k
    i = np.minimum(t.astype(np.intp), k - 1)
    f = (t - i)[..., None]
    return palette[i] * (1.0 - f) + palette[i + 1] * f


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """Vectorised RGB (0..255) to HSV (all in 0..1)."""
    c = rgb / 255.0
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    mx = c.max(axis=-1)
    mn = c.min(axis=-1)
    d = mx - mn
    safe = np.where(d == 0, 1.0, d)
    h = np.where(mx == r, ((g - b) / safe) % 6.0, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h = np.where(d == 0, 0.0, h / 6.0)
    s = np.where(mx == 0, 0.0, d / np.where(mx == 0, 1.0, mx))
    return np.stack([h, s, mx], axis=-1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Vectorised HSV (0..1) to RGB (0..255)."""
    h, s, v = hsv[..., 0] % 1.0, np.clip(hsv[..., 1], 0, 1), np.clip(hsv[..., 2], 0, 1)
    i = np.floor(h * 6.0).astype(np.intp) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    choices_r = np.stack([v, q, p, p, t, v], axis=-1)
    choices_g = np.stack([t, v, v, q, p, p], axis=-1)
    choices_b = np.stack([p, p, t, v, v, q], axis=-1)
    idx = i[..., None]
    r = np.take_along_axis(choices_r, idx, axis=-1)[..., 0]
    g = np.take_along_axis(choices_g, idx, axis=-1)[..., 0]
    b = np.take_along_axis(choices_b, idx, axis=-1)[..., 0]
    return np.stack([r, g, b], axis=-1) * 255.0


def _rgb(c: Sequence[float]) -> tuple[int, int, int]:
    """Clamp and round a colour to an integer RGB tuple for ImageDraw."""
    return (
        int(min(255, max(0, round(float(c[0]))))),
        int(min(255, max(0, round(float(c[1]))))),
        int(min(255, max(0, round(float(c[2]))))),
    )


def _grain(rng: np.random.Generator, size: int, amount: float) -> np.ndarray:
    """Canvas grain: per-pixel Gaussian noise of std ``amount``, shape (size, size, 1)."""
    return rng.standard_normal((size, size, 1)).astype(np.float32) * amount


# ---------------------------------------------------------------------------
# 1. brush strokes: a swirling night sky
# ---------------------------------------------------------------------------

_NIGHT = np.array(
    [
        (14, 24, 66),  # deep navy
        (26, 44, 118),  # ultramarine
        (38, 78, 166),  # cobalt
        (44, 112, 150),  # teal
        (96, 146, 190),  # light blue
        (150, 182, 200),  # pale blue-grey
    ],
    dtype=np.float64,
)
_GLOW = np.array(
    [
        (236, 196, 66),  # chrome yellow
        (246, 226, 128),  # pale yellow
        (248, 242, 210),  # warm white
        (196, 226, 222),  # pale teal-white
        (224, 170, 60),  # ochre
    ],
    dtype=np.float64,
)
_HILLS = np.array(
    [
        (12, 20, 44),
        (24, 42, 82),
        (34, 66, 104),
        (38, 84, 96),
        (70, 100, 128),
    ],
    dtype=np.float64,
)
_CYPRESS = np.array(
    [
        (10, 14, 20),
        (20, 32, 28),
        (34, 54, 34),
        (58, 44, 28),
        (66, 86, 50),
        (96, 110, 62),
    ],
    dtype=np.float64,
)


def _stroke_polygons(
    paths: np.ndarray, widths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Outline polygons of tapered strokes.

    ``paths`` is (N, M, 2) in canvas pixels and ``widths`` (N,) the full
    stroke widths.  Returns the polygon vertices (N, 2M, 2) and the unit
    normals (N, M, 2) used to offset highlight stripes.
    """
    m = paths.shape[1]
    tang = np.gradient(paths, axis=1)
    norm = np.linalg.norm(tang, axis=-1, keepdims=True)
    tang = tang / np.maximum(norm, 1e-9)
    normal = np.stack([-tang[..., 1], tang[..., 0]], axis=-1)
    t = np.linspace(0.0, 1.0, m)
    # A brush loads paint quickly and lifts off slowly: asymmetric taper.
    profile = np.clip(np.sin(np.pi * (0.04 + 0.92 * t ** 0.85)), 0.0, 1.0) ** 0.6
    half = 0.5 * widths[:, None, None] * profile[None, :, None]
    left = paths + normal * half
    right = paths - normal * half
    poly = np.concatenate([left, right[:, ::-1]], axis=1)
    return poly, normal


def _trace(field: Callable[[np.ndarray], np.ndarray], start: np.ndarray, length: np.ndarray, steps: int) -> np.ndarray:
    """Trace streamlines of ``field`` centred on ``start`` (N, 2); returns (N, steps + 1, 2)."""
    half = steps // 2
    h = (length / steps)[:, None]

    def run(p: np.ndarray, sign: float, k: int) -> list[np.ndarray]:
        out = []
        for _ in range(k):
            v = field(p)
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
            mid = p + sign * 0.5 * h * v
            v2 = field(mid)
            v2 = v2 / np.maximum(np.linalg.norm(v2, axis=1, keepdims=True), 1e-9)
            p = p + sign * h * v2
            out.append(p)
        return out

    back = run(start, -1.0, half)
    fwd = run(start, 1.0, steps - half)
    return np.stack(back[::-1] + [start] + fwd, axis=1)


def brush_strokes(size: int = 512, seed: int = 0) -> Image.Image:
    """Paint a swirling night sky out of thousands of thick brush strokes.

    Strokes follow a smooth vector field made of a few large vortices (the
    swirling sky), small vortices around stars and the moon, and gentle
    low-frequency waves.  Under the sky lie dark rolling hills, and a
    flame-like cypress rises at one side.  Each stroke is a tapered polygon
    with a per-stroke colour jitter, a slightly darker rim and a lighter
    highlight stripe so the surface reads as impasto paint.

    Args:
        size: Width and height of the returned image in pixels.
        seed: Seed for :func:`numpy.random.default_rng`; the output is a
            pure function of ``(size, seed)``.

    Returns:
        An RGB image of ``size`` x ``size`` pixels.
    """
    rng = _check(size, seed)
    ss = 2
    big = size * ss
    scale = size / 512.0  # stroke sizes are designed at 512 px

    # ---- composition --------------------------------------------------
    mirror = bool(rng.random() < 0.5)
    cyp_x = 0.14 + 0.06 * rng.random()
    moon = np.array([0.80 + 0.06 * rng.random(), 0.12 + 0.05 * rng.random()])
    if mirror:
        cyp_x, moon[0] = 1.0 - cyp_x, 1.0 - moon[0]
    horizon = 0.70 + 0.04 * rng.random()
    hill_phase = rng.random(3) * 2 * np.pi

    def horizon_y(x: np.ndarray) -> np.ndarray:
        return (
            horizon
            + 0.035 * np.sin(2 * np.pi * (0.7 * x) + hill_phase[0])
            + 0.018 * np.sin(2 * np.pi * (2.1 * x) + hill_phase[1])
        )

    # Large swirls: an S-shaped pair with opposite spin in the middle sky.
    sx = 0.36 + 0.08 * rng.random()
    sy = 0.36 + 0.06 * rng.random()
    spin = 1.0 if rng.random() < 0.5 else -1.0
    vortices = [
        (sx, sy, 5.5 * spin, 0.17),
        (sx + 0.24, sy + 0.05 * rng.standard_normal(), -5.0 * spin, 0.14),
    ]
    # Stars: keep them in the sky, away from each other and from the moon.
    stars: list[tuple[float, float, float]] = []
    tries = 0
    n_stars = int(rng.integers(7, 11))
    while len(stars) < n_stars and tries < 400:
        tries += 1
        p = np.array([0.04 + 0.92 * rng.random(), 0.05 + (horizon - 0.18) * rng.random()])
        if abs(p[0] - cyp_x) < 0.08 and p[1] > 0.2:
            continue
        if np.hypot(*(p - moon)) < 0.17:
            continue
        if any(np.hypot(p[0] - q[0], p[1] - q[1]) < 0.13 for q in stars):
            continue
        stars.append((float(p[0]), float(p[1]), 0.022 + 0.022 * rng.random()))
    for x, y, r in stars:
        vortices.append((x, y, 3.0 * (1 if rng.random() < 0.5 else -1), 2.4 * r))
    moon_r = 0.058
    bite_off = moon_r * 0.45 * np.array([-1.0 if mirror else 1.0, -0.6])
    vortices.append((float(moon[0]), float(moon[1]), 3.5, 2.6 * moon_r))
    vort = np.array(vortices, dtype=np.float64)
    wave_phase = rng.random(4) * 2 * np.pi

    def sky_field(p: np.ndarray) -> np.ndarray:
        x, y = p[:, 0], p[:, 1]
        vx = 1.0 + 0.3 * np.sin(2 * np.pi * (1.1 * y + 0.4 * x) + wave_phase[0])
        vy = 0.35 * np.sin(2 * np.pi * (1.4 * x) + wave_phase[1]) + 0.2 * np.sin(
            2 * np.pi * (2.3 * x + 1.7 * y) + wave_phase[2]
        )
        dx = x[:, None] - vort[None, :, 0]
        dy = y[:, None] - vort[None, :, 1]
        f = vort[None, :, 2] * np.exp(-(dx * dx + dy * dy) / vort[None, :, 3] ** 2) / vort[None, :, 3]
        vx = vx - (dy * f).sum(axis=1)
        vy = vy + (dx * f).sum(axis=1)
        return np.stack([vx, vy], axis=1)

    def hill_field(p: np.ndarray) -> np.ndarray:
        x, y = p[:, 0], p[:, 1]
        eps = 1e-3
        slope = (horizon_y(x + eps) - horizon_y(x - eps)) / (2 * eps)
        depth = np.clip((y - horizon_y(x)) / 0.3, 0, 1)
        vy = slope * (1 - depth) + 0.25 * np.sin(2 * np.pi * (3.0 * x + 2.0 * y) + wave_phase[3])
        return np.stack([np.ones_like(x), vy], axis=1)

    cyp_top = 0.06 + 0.06 * rng.random()

    def cyp_half_width(y: np.ndarray) -> np.ndarray:
        u = np.clip((y - cyp_top) / (1.0 - cyp_top), 0.0, 1.0)
        # A flame: pointed top, bulges and pinches along its height.
        wob = 1.0 + 0.3 * np.sin(2 * np.pi * 5.5 * u + wave_phase[0]) + 0.15 * np.sin(2 * np.pi * 12.0 * u + wave_phase[1])
        return 0.066 * u ** 0.8 * wob

    def cyp_axis(y: np.ndarray) -> np.ndarray:
        return cyp_x + 0.018 * np.sin(2 * np.pi * 1.3 * y + wave_phase[3])

    def cyp_field(p: np.ndarray) -> np.ndarray:
        x, y = p[:, 0], p[:, 1]
        vx = 0.55 * np.sin(2 * np.pi * (4.5 * y + 3.0 * (x - cyp_x)) + wave_phase[2])
        return np.stack([vx, -np.ones_like(y)], axis=1)

    # ---- colour fields ---------------------------------------------------
    nres = 128
    tone = _smooth_noise(rng, (nres, nres), 5)

    def glow(p: np.ndarray) -> np.ndarray:
        x, y = p[:, 0], p[:, 1]
        g = np.zeros(len(p))
        for cx, cy, _, r in vortices[:2]:
            d = np.hypot(x - cx, y - cy) / r
            g += 0.8 * np.exp(-(((d - 0.62) / 0.2) ** 2))
        for cx, cy, r in stars:
            d = np.hypot(x - cx, y - cy)
            halo = np.exp(-((d / (2.3 * r)) ** 2)) * (0.55 + 0.45 * np.cos(2 * np.pi * d / (0.9 * r)))
            g += np.where(d < 0.75 * r, 1.6, 1.1 * halo)
        d = np.hypot(x - moon[0], y - moon[1])
        halo = np.exp(-((d / (2.6 * moon_r)) ** 2)) * (0.6 + 0.4 * np.cos(2 * np.pi * d / (0.8 * moon_r)))
        g += np.where(d < moon_r, 2.0, 1.2 * halo)
        return g

    def star_core(p: np.ndarray) -> np.ndarray:
        """0 = not a core; 1 = star core or pale side of the moon; 2 = lit moon crescent."""
        x, y = p[:, 0], p[:, 1]
        core = np.zeros(len(p), dtype=np.intp)
        for cx, cy, r in stars:
            core[np.hypot(x - cx, y - cy) < 0.75 * r] = 1
        core[np.hypot(x - moon[0], y - moon[1]) < moon_r] = 2
        bite = np.hypot(x - moon[0] - bite_off[0], y - moon[1] - bite_off[1]) < 0.8 * moon_r
        core[(core == 2) & bite] = 1
        return core

    # ---- canvas ------------------------------------------------------------
    yy = np.linspace(0, 1, big, dtype=np.float32)[:, None, None]
    base = (1 - yy) * np.array([20, 32, 84], np.float32) + yy * np.array([30, 52, 110], np.float32)
    canvas = Image.fromarray(np.broadcast_to(base, (big, big, 3)).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(canvas)

    def jitter(cols: np.ndarray, amount: float) -> np.ndarray:
        hsv = _rgb_to_hsv(cols)
        hsv[:, 0] += rng.normal(0, 0.012, len(cols))
        hsv[:, 1] *= 1 + rng.normal(0, 0.08, len(cols))
        hsv[:, 2] *= 1 + rng.normal(0, 0.06, len(cols))
        return _hsv_to_rgb(hsv) + rng.normal(0, amount, cols.shape)

    def render(paths: np.ndarray, widths: np.ndarray, cols: np.ndarray, rim: float, shine: float) -> None:
        px = paths * big
        wpx = widths * big
        poly, normal = _stroke_polygons(px, wpx + 2.5 * ss * scale)
        inner, _ = _stroke_polygons(px, wpx)
        m = px.shape[1]
        lo, hi = m // 5, m - m // 5
        stripe = px[:, lo:hi] + normal[:, lo:hi] * (0.18 * wpx)[:, None, None]
        dark = cols * rim
        light = cols + (255.0 - cols) * shine
        sw = np.maximum(1, np.rint(wpx * 0.22)).astype(int)
        for k in range(len(px)):
            draw.polygon(poly[k].ravel().tolist(), fill=_rgb(dark[k]))
            draw.polygon(inner[k].ravel().tolist(), fill=_rgb(cols[k]))
            draw.line(stripe[k].ravel().tolist(), fill=_rgb(light[k]), width=int(sw[k]))

    def in_sky(p: np.ndarray) -> np.ndarray:
        return p[:, 1] < horizon_y(p[:, 0]) + 0.01

    def sky_strokes(n: int, w_range: tuple[float, float], l_range: tuple[float, float], glow_gain: float) -> None:
        # Stratified starts so the whole sky is covered.
        g = int(np.ceil(np.sqrt(n)))
        cells = (np.stack(np.meshgrid(np.arange(g), np.arange(g)), -1).reshape(-1, 2) + rng.random((g * g, 2))) / g
        cells = cells[rng.permutation(len(cells))[:n]]
        cells = cells[in_sky(cells)]
        cells[:, 1] = np.minimum(cells[:, 1], horizon_y(cells[:, 0]) + 0.01)
        k = len(cells)
        widths = rng.uniform(*w_range, k) / 512.0
        lengths = rng.uniform(*l_range, k) / 512.0
        paths = _trace(sky_field, cells, lengths, 8)
        t = 0.5 + 0.3 * _sample(tone, cells) - 0.25 * cells[:, 1] + rng.normal(0, 0.16, k)
        cols = _lerp_palette(_NIGHT, t)
        gl = glow(cells) * glow_gain
        hot = rng.random(k) < np.clip(gl, 0, 1) * 0.9
        core = star_core(cells)
        pick = rng.integers(0, len(_GLOW), k)
        # Swirl bands favour whites and pale teals, star halos favour yellows.
        pick = np.where((core == 0) & (rng.random(k) < 0.45), np.where(rng.random(k) < 0.5, 2, 3), pick)
        cols = np.where(hot[:, None], _GLOW[pick], cols)
        cols = np.where((core == 1)[:, None], _GLOW[np.where(rng.random(k) < 0.5, 1, 2)], cols)
        cols = np.where((core == 2)[:, None], _GLOW[np.where(rng.random(k) < 0.6, 0, 4)], cols)
        cols = jitter(cols, 7.0)
        render(paths, widths, cols, rim=0.66, shine=0.32)

    def hill_strokes(n: int, w_range: tuple[float, float], l_range: tuple[float, float]) -> None:
        starts = rng.random((n * 2, 2))
        starts = starts[~in_sky(starts - np.array([0, 0.012]))][:n]
        k = len(starts)
        widths = rng.uniform(*w_range, k) / 512.0
        lengths = rng.uniform(*l_range, k) / 512.0
        paths = _trace(hill_field, starts, lengths, 8)
        depth = np.clip((starts[:, 1] - horizon_y(starts[:, 0])) / (1 - horizon), 0, 1)
        t = 0.75 - 0.6 * depth + rng.normal(0, 0.18, k)
        cols = jitter(_lerp_palette(_HILLS, t), 6.0)
        render(paths, widths, cols, rim=0.7, shine=0.25)

    def cypress_strokes(n: int, w_range: tuple[float, float], l_range: tuple[float, float]) -> None:
        starts = np.column_stack([cyp_x + 0.16 * (rng.random(n * 4) - 0.5), cyp_top + (1.0 - cyp_top) * rng.random(n * 4)])
        inside = np.abs(starts[:, 0] - cyp_axis(starts[:, 1])) < cyp_half_width(starts[:, 1])
        starts = starts[inside][:n]
        k = len(starts)
        widths = rng.uniform(*w_range, k) / 512.0
        lengths = rng.uniform(*l_range, k) / 512.0
        paths = _trace(cyp_field, starts, lengths, 8)
        edge = np.abs(starts[:, 0] - cyp_axis(starts[:, 1])) / np.maximum(cyp_half_width(starts[:, 1]), 1e-6)
        t = 0.2 + 0.45 * edge * rng.random(k) + rng.normal(0, 0.15, k)
        cols = jitter(_lerp_palette(_CYPRESS, t), 5.0)
        render(paths, widths, cols, rim=0.6, shine=0.22)

    def village_lights(n: int) -> None:
        xs = rng.random(n * 3)
        keep = np.abs(xs - cyp_x) > 0.09
        xs = xs[keep][:n]
        k = len(xs)
        ys = horizon_y(xs) + 0.05 + 0.12 * rng.random(k)
        for x, y in zip(xs, ys):
            w = (3 + 4 * rng.random()) / 512 * big
            h = w * (0.6 + 0.5 * rng.random())
            cx, cy = x * big, y * big
            col = _GLOW[int(rng.choice([0, 1, 4]))] + rng.normal(0, 8, 3)
            draw.rectangle([cx - w / 2 - ss, cy - h / 2 - ss, cx + w / 2 + ss, cy + h / 2 + ss], fill=_rgb(col * 0.45))
            draw.rectangle([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=_rgb(col))

    def orb(cx: float, cy: float, r: float, n: int, crescent: bool) -> None:
        """A glowing disc (star or moon) painted as short concentric arcs."""
        rad = r * np.sqrt(rng.uniform(0.02, 1.0, n))
        a0 = rng.uniform(0, 2 * np.pi, n)
        ext = rng.uniform(0.8, 2.2, n)
        u = np.linspace(0, 1, 9)
        ang = a0[:, None] + ext[:, None] * u[None, :]
        paths = np.stack([cx + rad[:, None] * np.cos(ang), cy + rad[:, None] * np.sin(ang)], axis=-1)
        widths = r * rng.uniform(0.22, 0.38, n) * (0.7 if crescent else 1.0)
        mid = paths[:, 4]
        if crescent:
            # Solid underpainting so the crescent reads clearly through the arcs.
            px, py, pr = cx * big, cy * big, r * big
            draw.ellipse([px - pr * 1.08, py - pr * 1.08, px + pr * 1.08, py + pr * 1.08], fill=_rgb(_GLOW[4] * 0.7))
            draw.ellipse([px - pr, py - pr, px + pr, py + pr], fill=_rgb(_GLOW[0]))
            bx, by, br = px + bite_off[0] * big, py + bite_off[1] * big, 0.8 * pr
            draw.ellipse([bx - br, by - br, bx + br, by + br], fill=_rgb(_GLOW[1]))
            lit = np.hypot(mid[:, 0] - cx - bite_off[0], mid[:, 1] - cy - bite_off[1]) > 0.8 * r
            warm = np.where(rng.random(n) < 0.6, 0, 4)
            cols = np.where(lit[:, None], _GLOW[warm], _GLOW[np.where(rng.random(n) < 0.5, 1, 2)])
        else:
            inner = rad < 0.5 * r
            cols = np.where(inner[:, None], _GLOW[np.where(rng.random(n) < 0.6, 2, 1)], _GLOW[np.where(rng.random(n) < 0.6, 1, 0)])
        order = np.argsort(-rad)  # outer rings first, bright centre last
        render(paths[order], widths[order], jitter(cols[order], 5.0), rim=0.8, shine=0.4)

    # Broad strokes first, then ever finer detail on top.
    area = (size / 512.0) ** 2
    sky_strokes(int(700 * area), (18, 26), (70, 110), 0.6)
    hill_strokes(int(300 * area), (14, 22), (60, 100))
    sky_strokes(int(1500 * area), (10, 15), (45, 80), 1.0)
    hill_strokes(int(450 * area), (7, 12), (35, 65))
    village_lights(max(1, int(22 * area)))
    hill_strokes(int(160 * area), (5, 8), (20, 40))
    sky_strokes(int(1300 * area), (6, 9), (28, 48), 1.15)
    sky_strokes(int(600 * area), (4, 6), (18, 30), 1.3)
    for x, y, r in stars:
        orb(x, y, 0.8 * r, 14, crescent=False)
    orb(float(moon[0]), float(moon[1]), moon_r, 40, crescent=True)
    cypress_strokes(int(450 * area), (7, 13), (35, 70))
    cypress_strokes(int(300 * area), (4, 7), (18, 34))

    return _downscale(canvas, size)


# ---------------------------------------------------------------------------
# 2. Mondrian: recursive subdivision with primaries
# ---------------------------------------------------------------------------

_MONDRIAN_RED = (200, 34, 38)
_MONDRIAN_BLUE = (28, 62, 148)
_MONDRIAN_YELLOW = (246, 200, 20)
_MONDRIAN_BLACK = (24, 23, 26)
_OFF_WHITES = ((240, 236, 222), (236, 233, 224), (244, 239, 226), (230, 229, 222), (238, 232, 214))


def _aniso_noise(rng: np.random.Generator, shape: tuple[int, int], cells_y: int, cells_x: int) -> np.ndarray:
    """Smooth noise with different feature sizes along y and x (for brush streaks)."""
    h, w = shape
    coarse = rng.standard_normal((cells_y + 2, cells_x + 2)).astype(np.float32)
    big = Image.fromarray(coarse, "F").resize((w + 2 * (w // cells_x + 1), h + 2 * (h // cells_y + 1)), Image.Resampling.BICUBIC)
    oy, ox = h // cells_y + 1, w // cells_x + 1
    return np.asarray(big, dtype=np.float32)[oy : oy + h, ox : ox + w]


def mondrian(size: int = 512, seed: int = 0) -> Image.Image:
    """Paint a neo-plastic composition: black bars and primary-coloured rectangles.

    The square is split recursively, alternating mostly along the longer
    side, into 10-20 rectangles separated by thick near-black bars of
    slightly varying width.  Most rectangles are off-white; at least one each
    is red, blue and yellow (the largest colour field is usually red), and
    occasionally one is black.  Directional brush streaks, low-frequency
    unevenness and a fine canvas weave keep the colour fields from being
    perfectly flat.

    Args:
        size: Width and height of the returned image in pixels.
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        An RGB image of ``size`` x ``size`` pixels.
    """
    rng = _check(size, seed)
    ss = 2
    big = size * ss

    leaves: list[tuple[float, float, float, float]] = []
    bars: list[tuple[float, float, float, float, float]] = []  # x0, y0, x1, y1, width

    def split(x0: float, y0: float, x1: float, y1: float, depth: int) -> None:
        w, h = x1 - x0, y1 - y0
        stop = depth >= 2 and w * h < 0.16 and max(w, h) < 0.6 and rng.random() < 0.3 + 0.2 * (depth - 2)
        if depth >= 5 or max(w, h) < 0.2 or stop:
            leaves.append((x0, y0, x1, y1))
            return
        vertical = (w > h) if rng.random() < 0.8 else (w <= h)
        if vertical and w < 0.16:
            vertical = False
        if not vertical and h < 0.16:
            vertical = True
        lw = (9.0 + 6.0 * rng.random()) / 512.0
        if vertical:
            c = x0 + w * rng.uniform(0.22, 0.78)
            bars.append((c - lw / 2, y0, c + lw / 2, y1, lw))
            split(x0, y0, c, y1, depth + 1)
            split(c, y0, x1, y1, depth + 1)
        else:
            c = y0 + h * rng.uniform(0.22, 0.78)
            bars.append((x0, c - lw / 2, x1, c + lw / 2, lw))
            split(x0, y0, x1, c, depth + 1)
            split(x0, c, x1, y1, depth + 1)

    split(0.0, 0.0, 1.0, 1.0, 0)

    n = len(leaves)
    areas = np.array([(x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in leaves])
    colours: list[tuple[int, int, int]] = [_OFF_WHITES[int(i)] for i in rng.integers(0, len(_OFF_WHITES), n)]
    order = np.argsort(-areas)
    free = list(order)
    # The biggest colour field: one of the three largest rectangles, in red.
    big_pick = free.pop(int(rng.integers(0, min(3, len(free)))))
    colours[big_pick] = _MONDRIAN_RED
    # Blue and yellow go to medium-sized rectangles, away from the red one.
    for col in (_MONDRIAN_BLUE, _MONDRIAN_YELLOW):
        mid = free[1 : max(2, len(free) * 2 // 3)]
        pick = mid[int(rng.integers(0, len(mid)))]
        free.remove(pick)
        colours[pick] = col
    # A few extra accents, mostly small.
    extras = (_MONDRIAN_RED, _MONDRIAN_BLUE, _MONDRIAN_YELLOW, _MONDRIAN_BLACK, (214, 214, 208))
    for idx in free:
        if areas[idx] < 0.03 and rng.random() < 0.22:
            colours[idx] = extras[int(rng.integers(0, len(extras)))]

    canvas = Image.new("RGB", (big, big), _MONDRIAN_BLACK)
    draw = ImageDraw.Draw(canvas)
    for (x0, y0, x1, y1), col in zip(leaves, colours):
        draw.rectangle([round(x0 * big), round(y0 * big), round(x1 * big) - 1, round(y1 * big) - 1], fill=col)
    for x0, y0, x1, y1, _ in bars:
        draw.rectangle([round(x0 * big), round(y0 * big), round(x1 * big) - 1, round(y1 * big) - 1], fill=_MONDRIAN_BLACK)
    img = np.asarray(_downscale(canvas, size), dtype=np.float32)

    # Paint texture: each rectangle is brushed either horizontally or vertically.
    horiz = np.zeros((size, size), dtype=bool)
    for x0, y0, x1, y1 in leaves:
        if rng.random() < 0.5:
            horiz[round(y0 * size) : round(y1 * size), round(x0 * size) : round(x1 * size)] = True
    cells = max(4, size // 3)
    streak_h = _aniso_noise(rng, (size, size), cells, 6)
    streak_v = _aniso_noise(rng, (size, size), 6, cells)
    streak = np.where(horiz, streak_h, streak_v)
    blotch = _smooth_noise(rng, (size, size), 7)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = max(2.0, 3.0 * size / 512.0)
    weave = np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)
    lum = img.mean(axis=2, keepdims=True)
    # Texture is multiplicative on colour, so black bars stay near-black.
    gain = 1.0 + (0.018 * streak + 0.02 * blotch + 0.012 * weave)[..., None]
    img = img * gain + _grain(rng, size, 2.2) * (0.4 + 0.6 * lum / 255.0)
    return _to_image(img)


# ---------------------------------------------------------------------------
# 3. pointillism: a sunset over water, in dots
# ---------------------------------------------------------------------------

_SUNSET_SKY = np.array(
    [
        (44, 46, 118),  # indigo
        (92, 62, 146),  # violet
        (176, 84, 142),  # magenta-rose
        (236, 118, 96),  # coral
        (248, 162, 70),  # orange
        (252, 214, 118),  # pale gold
    ],
    dtype=np.float64,
)


def _sunset_scene(rng: np.random.Generator, res: int) -> np.ndarray:
    """The smooth scene behind :func:`pointillism`: (res, res, 3) float RGB."""
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float64) / (res - 1)
    horizon = 0.56 + 0.04 * rng.random()
    sun_x = 0.3 + 0.4 * rng.random()
    sun_y = horizon - 0.07 - 0.05 * rng.random()
    sun_r = 0.065

    # Sky: gradient towards the horizon, warmer near the sun.
    v = np.clip(yy / horizon, 0, 1)
    d_sun = np.hypot((xx - sun_x) * 0.8, yy - sun_y)
    warm = np.exp(-((d_sun / 0.35) ** 2))
    sky = _lerp_palette(_SUNSET_SKY, np.clip(v ** 1.3 * 0.85 + 0.25 * warm, 0, 1))
    # Clouds: horizontal bands of noise, violet with glowing undersides.
    cloud_n = _aniso_noise(rng, (res, res), 14, 3)
    cloud = np.clip((cloud_n - 0.35) * 1.8, 0, 1) * (yy < horizon - 0.1) * np.clip(yy / 0.1, 0, 1)
    lit = np.clip(_aniso_noise(rng, (res, res), 30, 4) * 0.5 + 0.5, 0, 1)
    cloud_col = _lerp_palette(np.array([(96, 60, 120), (188, 92, 128), (250, 150, 90)], dtype=np.float64), lit * (0.4 + 0.6 * v))
    sky = sky * (1 - cloud[..., None] * 0.85) + cloud_col * cloud[..., None] * 0.85
    halo = np.exp(-((d_sun / 0.12) ** 2))[..., None] * 0.6
    sky = sky * (1 - halo) + np.array([255, 224, 140]) * halo
    sun = np.clip((sun_r - d_sun) / 0.008 + 0.5, 0, 1)[..., None]
    sky = sky * (1 - sun) + np.array([255, 246, 200]) * sun

    # Two ranges of hills on the horizon.
    ph = rng.random(4) * 2 * np.pi
    far = horizon - 0.05 - 0.035 * (np.sin(2 * np.pi * 1.3 * xx + ph[0]) + 0.5 * np.sin(2 * np.pi * 3.1 * xx + ph[1]))
    near = horizon - 0.015 - 0.03 * np.clip(np.sin(2 * np.pi * 0.8 * xx + ph[2]) + 0.4 * np.sin(2 * np.pi * 2.7 * xx + ph[3]), 0, 2)
    scene = sky.copy()
    scene[(yy > far) & (yy < horizon)] = (138, 92, 150)
    scene[(yy > near) & (yy < horizon)] = (84, 66, 124)

    # Water: mirrored sky, darker and bluer, with ripples and a sun path.
    my = np.clip(2 * horizon - yy, 0, 1)
    vm = np.clip(my / horizon, 0, 1)
    refl = _lerp_palette(_SUNSET_SKY, np.clip(vm ** 1.3 * 0.85, 0, 1)) * 0.75 + np.array([10, 24, 60]) * 0.25
    depth = np.clip((yy - horizon) / (1 - horizon), 0, 1)
    water = refl * (1 - 0.45 * depth[..., None]) + np.array([20, 40, 100]) * 0.45 * depth[..., None]
    ripple = _aniso_noise(rng, (res, res), 40, 4)
    water = water * (1 + 0.1 * ripple[..., None])
    path_w = 0.04 + 0.22 * depth
    glitter = np.exp(-(((xx - sun_x) / path_w) ** 2)) * np.clip(ripple * 0.9 + 0.4, 0, 1)
    water = water * (1 - glitter[..., None]) + np.array([252, 200, 110]) * glitter[..., None]
    scene = np.where((yy >= horizon)[..., None], water, scene)

    # A grassy bank in the lower corner away from the sun, with a tree on it.
    u = xx if sun_x > 0.5 else 1 - xx
    bank = yy > 0.80 + 0.38 * u ** 2 + 0.01 * np.sin(2 * np.pi * 9 * u + ph[0])
    bank_t = np.clip(_smooth_noise(rng, (res, res), 12) * 0.5 + 0.5 - 0.3 * (1 - yy), 0, 1)
    green = np.array([(30, 46, 70), (44, 96, 66), (118, 132, 58), (200, 150, 70)], dtype=np.float64)
    scene = np.where(bank[..., None], _lerp_palette(green, bank_t), scene)
    tu, ty = 0.1 + 0.04 * rng.random(), 0.5 + 0.05 * rng.random()
    trunk = (np.abs(u - tu) < 0.008) & (yy > ty) & (yy < 0.84)
    canopy_d = np.hypot((u - tu) / 0.075, (yy - ty) / 0.17)
    leaf_n = _smooth_noise(rng, (res, res), 20)
    canopy = canopy_d + 0.18 * leaf_n < 1.0
    lit_side = np.clip(0.5 + 2.0 * (u - tu) + 0.5 * leaf_n, 0, 1)
    canopy_col = _lerp_palette(np.array([(26, 40, 62), (40, 80, 60), (150, 120, 60)], dtype=np.float64), lit_side * 0.8)
    scene = np.where(trunk[..., None], np.array([60, 40, 50.0]), scene)
    scene = np.where(canopy[..., None], canopy_col, scene)
    return scene


def pointillism(size: int = 512, seed: int = 0) -> Image.Image:
    """Paint a sunset over water in the divisionist manner: dots, not strokes.

    A smooth scene (sky gradient from indigo to gold, glowing clouds, a sun,
    violet hills, water with a glittering sun path and a grassy bank) is
    sampled by three layers of small round dots, large to small.  Each dot
    takes the local scene colour with a small hue, saturation and value
    jitter; about one dot in eight is a muted complementary or analogous
    colour, which is what makes divisionist colour vibrate.  The light
    canvas shows through between the dots.

    Args:
        size: Width and height of the returned image in pixels.
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        An RGB image of ``size`` x ``size`` pixels.
    """
    rng = _check(size, seed)
    ss = 3
    big = size * ss
    res = 256
    scene = _sunset_scene(rng, res)
    scene_hsv = _rgb_to_hsv(scene)

    # A light canvas with a thin tinted wash of the scene, as an underpainting.
    canvas_col = np.array([244, 236, 218], dtype=np.float32)
    wash = Image.fromarray(np.clip(0.45 * canvas_col + 0.55 * scene, 0, 255).astype(np.uint8), "RGB")
    canvas = wash.resize((big, big), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(canvas)

    def layer(spacing: float, radius: tuple[float, float], comp: float) -> None:
        # Jittered grid in output pixels, then to [0, 1].
        g = max(2, int(round(512 / spacing)))
        pts = (np.stack(np.meshgrid(np.arange(g), np.arange(g)), -1).reshape(-1, 2) + rng.random((g * g, 2))) / g
        pts = pts[rng.permutation(len(pts))]
        n = len(pts)
        hsv = _sample_grid(scene_hsv, pts)
        hsv[:, 0] += rng.normal(0, 0.018, n)
        hsv[:, 1] = np.clip(hsv[:, 1] * rng.uniform(0.95, 1.25, n), 0, 1)
        hsv[:, 2] = np.clip(hsv[:, 2] * rng.uniform(0.9, 1.1, n), 0, 1)
        kind = rng.random(n)
        compl = kind < comp
        hsv[compl, 0] += 0.5 + rng.normal(0, 0.05, int(compl.sum()))
        hsv[compl, 1] *= 0.75
        analog = (kind >= comp) & (kind < 2 * comp)
        hsv[analog, 0] += rng.choice([-0.07, 0.07], int(analog.sum()))
        cols = _hsv_to_rgb(hsv)
        r = rng.uniform(*radius, n) / 512.0 * big
        asp = rng.uniform(0.85, 1.15, n)
        cx, cy = pts[:, 0] * big, pts[:, 1] * big
        for k in range(n):
            rx, ry = r[k] * asp[k], r[k] / asp[k]
            draw.ellipse([cx[k] - rx, cy[k] - ry, cx[k] + rx, cy[k] + ry], fill=_rgb(cols[k]))

    layer(9.0, (3.8, 5.0), 0.03)
    layer(6.6, (2.8, 3.8), 0.05)
    layer(5.4, (2.0, 2.8), 0.06)
    img = np.asarray(_downscale(canvas, size), dtype=np.float32)
    img = img + _grain(rng, size, 2.0)
    return _to_image(img)


def _sample_grid(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Nearest-neighbour lookup of a (H, W, C) field at points in [0, 1]^2 (x, y); returns a copy."""
    h, w = field.shape[:2]
    ix = np.clip((pts[:, 0] * (w - 1)).round().astype(np.intp), 0, w - 1)
    iy = np.clip((pts[:, 1] * (h - 1)).round().astype(np.intp), 0, h - 1)
    return field[iy, ix].copy()


# ---------------------------------------------------------------------------
# 4. stained glass: a rose window of Voronoi cells
# ---------------------------------------------------------------------------

_JEWELS = np.array(
    [
        (168, 18, 42),  # ruby
        (22, 60, 168),  # sapphire
        (16, 128, 74),  # emerald
        (232, 150, 20),  # amber
        (104, 36, 150),  # violet
        (20, 128, 150),  # aquamarine
        (214, 60, 28),  # vermilion
    ],
    dtype=np.float64,
)
_PALE_GLASS = np.array(
    [
        (200, 190, 140),  # pale amber
        (150, 180, 176),  # celadon
        (120, 150, 190),  # pale blue
        (214, 196, 168),  # clear, slightly yellowed
        (52, 76, 150),  # deep blue
        (40, 110, 120),  # teal
    ],
    dtype=np.float64,
)


def stained_glass(size: int = 512, seed: int = 0) -> Image.Image:
    """Paint a stained-glass window: Voronoi cells of jewel-coloured glass.

    Seeds lie on concentric rings with n-fold symmetry (a rose window)
    surrounded by a looser field of cells in paler glass.  Colours follow the
    rings, so the rose reads as a symmetric flower.  Every pixel is assigned
    to its nearest seed with numpy; the exact distance to the cell boundary
    gives anti-aliased lead came of constant width with a soft highlight
    ridge, and a radial falloff inside each cell, plus mottled glass texture
    and light streaming in from behind, shades the glass.

    Args:
        size: Width and height of the returned image in pixels.
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        An RGB image of ``size`` x ``size`` pixels.
    """
    rng = _check(size, seed)
    centre = np.array([0.5, 0.5]) + rng.normal(0, 0.015, 2)
    rose_r = 0.36 + 0.04 * rng.random()
    fold = int(rng.choice([6, 8, 10, 12]))
    ring_radii = np.array([0.0, 0.2, 0.4, 0.62, 0.84]) * rose_r
    ring_mult = [0, 1, 2, 2, 3]
    seeds: list[tuple[float, float]] = []
    ring_of: list[int] = []
    pos_in_ring: list[int] = []
    twist = rng.random() * 2 * np.pi
    for i, (rr, m) in enumerate(zip(ring_radii, ring_mult)):
        if m == 0:
            seeds.append((float(centre[0]), float(centre[1])))
            ring_of.append(0)
            pos_in_ring.append(0)
            continue
        count = fold * m
        off = twist + (0.5 if i % 2 else 0.0) * 2 * np.pi / count
        for j in range(count):
            a = off + 2 * np.pi * j / count
            seeds.append((float(centre[0] + rr * np.cos(a)), float(centre[1] + rr * np.sin(a))))
            ring_of.append(i)
            pos_in_ring.append(j)
    # Outer field: jittered grid outside the rose.
    g = 8
    outer = (np.stack(np.meshgrid(np.arange(g), np.arange(g)), -1).reshape(-1, 2) + 0.15 + 0.7 * rng.random((g * g, 2))) / g
    keep = np.hypot(*(outer - centre).T) > rose_r + 0.03
    for p in outer[keep]:
        seeds.append((float(p[0]), float(p[1])))
        ring_of.append(-1)
        pos_in_ring.append(0)
    S = np.array(seeds, dtype=np.float32) * size
    ring_arr = np.array(ring_of)
    pos_arr = np.array(pos_in_ring)
    k = len(S)

    # Colours: two jewels per ring, alternating; pale glass outside.
    cols = np.zeros((k, 3))
    for i in range(len(ring_radii)):
        a, b = rng.choice(len(_JEWELS), 2, replace=False)
        sel = ring_arr == i
        cols[sel] = np.where((pos_arr[sel] % 2 == 0)[:, None], _JEWELS[a], _JEWELS[b])
    sel = ring_arr == -1
    cols[sel] = _PALE_GLASS[rng.integers(0, len(_PALE_GLASS), int(sel.sum()))]
    cols *= rng.uniform(0.88, 1.12, (k, 1))

    # Nearest seed, then exact distance to the nearest Voronoi edge.  The
    # rose and the outer field are separate diagrams joined at a lead circle.
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    c = centre.astype(np.float32) * size
    rc = np.hypot(xx - c[0], yy - c[1])
    circle_r = np.float32(rose_r * size)
    inside = rc < circle_r
    group = ring_arr >= 0
    best = np.full((size, size), np.inf, dtype=np.float32)
    idx = np.zeros((size, size), dtype=np.intp)
    for j in range(k):
        d = (xx - S[j, 0]) ** 2 + (yy - S[j, 1]) ** 2
        m = (d < best) & (inside == group[j])
        best[m] = d[m]
        idx[m] = j
    own = S[idx]
    edge = np.full((size, size), np.inf, dtype=np.float32)
    for j in range(k):
        d = (xx - S[j, 0]) ** 2 + (yy - S[j, 1]) ** 2
        sep = np.hypot(S[j, 0] - own[..., 0], S[j, 1] - own[..., 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            e = (d - best) / (2 * sep)
        e = np.where((idx == j) | (inside != group[j]), np.inf, e)
        np.minimum(edge, e, out=edge)
    d1 = np.sqrt(best)
    edge = np.minimum(edge, np.abs(rc - circle_r))
    frame = np.minimum(np.minimum(xx, yy), np.minimum(size - xx, size - yy))
    edge = np.minimum(edge, frame - 0.006 * size)
    edge = np.maximum(edge, 0)

    # Glass shading.
    t = d1 / (d1 + edge + 1e-6)
    shade = 1.22 - 0.5 * t ** 1.6
    mottle = 1.0 + 0.1 * _smooth_noise(rng, (size, size), 18) + 0.05 * _smooth_noise(rng, (size, size), 60)
    light = 0.8 + 0.35 * np.exp(-((rc / (0.75 * size)) ** 2))
    glass = cols[idx] * (shade * mottle * light)[..., None]
    # Bright specks where light passes straight through.
    glass += (np.clip(_smooth_noise(rng, (size, size), 70) - 0.75, 0, 1) * 160)[..., None]

    hw = max(1.2, 3.4 * size / 512.0)
    alpha = np.clip(hw + 0.5 - edge, 0, 1)[..., None]
    ridge = np.exp(-((edge / (0.45 * hw)) ** 2))[..., None]
    lead = np.array([24, 22, 27], dtype=np.float32) + 16.0 * ridge
    img = glass * (1 - alpha) + lead * alpha
    img = img + _grain(rng, size, 1.5)
    return _to_image(img)


# ---------------------------------------------------------------------------
# 5. wave: woodblock-print waves
# ---------------------------------------------------------------------------

_WAVE_BLUES = np.array(
    [
        (18, 38, 86),  # Prussian blue, dark
        (30, 64, 124),
        (52, 98, 150),
        (96, 144, 178),
        (150, 186, 200),
    ],
    dtype=np.float64,
)


def wave(size: int = 512, seed: int = 0) -> Image.Image:
    """Paint woodblock-print style waves: bands of blue with white foam.

    Rows of sharp-crested, forward-leaning waves recede towards a pale sky
    with a graded band of colour at the top and a small snow-capped
    mountain.  Each row is a filled band carved with parallel contour lines
    in lighter and darker blues; a white foam line edges every crest, nearer
    crests curl over into claw-like spirals fringed with foam beads, and
    spray flies above them.  The paper shows a soft grain.

    Args:
        size: Width and height of the returned image in pixels.
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        An RGB image of ``size`` x ``size`` pixels.
    """
    rng = _check(size, seed)
    ss = 2
    big = size * ss
    px_unit = ss * size / 512.0  # one output pixel at 512 px, on the canvas
    foam = (246, 243, 232)
    ink = _rgb(_WAVE_BLUES[0] * 0.6)

    # Paper sky with a bokashi (graded) band of grey-blue at the top.
    yy = np.linspace(0, 1, big, dtype=np.float32)[:, None, None]
    paper = (1 - yy) * np.array([226, 210, 176], np.float32) + yy * np.array([240, 220, 188], np.float32)
    band = np.clip(1 - yy / 0.16, 0, 1) ** 1.5
    bg = paper * (1 - 0.8 * band) + np.array([70, 88, 118], np.float32) * 0.8 * band
    canvas = Image.fromarray(np.broadcast_to(bg, (big, big, 3)).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(canvas)

    def to_px(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        return list(zip((x * big).tolist(), (y * big).tolist()))

    # Stylised clouds: long flat bands with rounded ends, lit from below.
    for _ in range(int(rng.integers(3, 6))):
        cy = 0.08 + 0.24 * rng.random()
        cx = rng.random()
        half = 0.08 + 0.16 * rng.random()
        th = (0.012 + 0.012 * rng.random()) * big
        x0, x1 = (cx - half) * big, (cx + half) * big
        y = cy * big
        tint = np.array([246, 232, 214]) if rng.random() < 0.6 else np.array([214, 196, 200])
        draw.rounded_rectangle([x0, y - th, x1, y + th], radius=th, fill=_rgb(tint * 0.82))
        draw.rounded_rectangle([x0 + th * 0.6, y - th, x1 - th * 0.6, y + th * 0.55], radius=th * 0.8, fill=_rgb(tint))

    # A distant mountain with a zig-zag snow cap.
    mx = 0.2 + 0.6 * rng.random()
    base_y, peak_y, half_w = 0.37, 0.19 + 0.03 * rng.random(), 0.19
    draw.polygon(
        to_px(np.array([mx - half_w, mx - 0.03, mx + 0.025, mx + half_w]), np.array([base_y, peak_y, peak_y + 0.004, base_y])),
        fill=(84, 100, 132),
    )
    zig = np.linspace(mx + 0.07, mx - 0.066, 7)
    cap_x = np.concatenate([[mx - 0.066, mx - 0.03, mx + 0.025, mx + 0.07], zig])
    cap_y = np.concatenate([[peak_y + 0.066, peak_y, peak_y + 0.004, peak_y + 0.07], peak_y + 0.07 + 0.018 * (np.arange(7) % 2)])
    draw.polygon(to_px(cap_x, cap_y), fill=(244, 240, 230))

    xs = np.linspace(-0.08, 1.08, 480)
    rows = 8
    for r in range(rows):
        depth = r / (rows - 1)  # 0 = far, 1 = near
        base = 0.37 + 0.58 * depth ** 1.15
        amp = 0.018 + 0.1 * depth ** 1.3
        freq = 3.4 - 2.0 * depth + 0.5 * rng.random()
        apex = 0.62 + 0.1 * rng.random()  # > 0.5: crests lean to the right
        w = (xs * freq + rng.random()) % 1.0
        crest = np.where(w < apex, (w / apex) ** 2, ((1 - w) / (1 - apex)) ** 2)
        ytop = base - amp * crest + 0.004 * np.sin(2 * np.pi * (xs * 7 + rng.random()))
        tone = np.clip(0.62 - 0.62 * depth + rng.normal(0, 0.04), 0, 1)
        body = _lerp_palette(_WAVE_BLUES, np.array([tone]))[0]
        draw.polygon(to_px(xs, ytop) + [(1.1 * big, 1.1 * big), (-0.1 * big, 1.1 * big)], fill=_rgb(body))
        # Carved contour lines following the crest, alternating light and dark.
        gap = 0.011 + 0.012 * depth
        for i in range(3 + int(4 * depth)):
            ly = ytop + (i + 1.2) * gap + 0.003 * np.sin(2 * np.pi * (xs * (4 + i) + rng.random()))
            shade = np.clip(tone + (0.32 if i % 2 == 0 else -0.22), 0, 1)
            lw = max(1, int(round((1.2 + 1.6 * depth) * px_unit)))
            draw.line(to_px(xs, ly), fill=_rgb(_lerp_palette(_WAVE_BLUES, np.array([shade]))[0]), width=lw)
        # Ink outline, then a white foam edge along the crest.
        ow = max(1, int(round((1.6 + 2.4 * depth) * px_unit)))
        draw.line(to_px(xs, ytop), fill=ink, width=ow + int(round(2 * px_unit)))
        draw.line(to_px(xs, ytop + 0.0015), fill=foam, width=ow)

        peaks = np.where((w[:-1] < apex) & (w[1:] >= apex))[0] + 1
        for pidx in peaks:
            px0, py0 = float(xs[pidx]), float(ytop[pidx])
            if depth < 0.15:
                continue
            # Claw-like curl: a tapering spiral that breaks forward and down.
            rho0 = (0.01 + 0.036 * depth ** 1.2) * (0.8 + 0.4 * rng.random())
            if rng.random() < 0.25:
                continue
            th = np.linspace(0.0, 1.45 * np.pi, 14)
            rho = rho0 * (1 - 0.55 * th / (2 * np.pi))
            cx, cy = px0 + rho0 * 1.3, py0 - rho0 * 0.25
            sx = cx - 1.4 * rho * np.cos(th)
            sy = cy - rho * np.sin(th)
            path = np.stack([sx * big, sy * big], axis=-1)[None]
            width = np.array([rho0 * 0.9 * big])
            outer, normal = _stroke_polygons(path, width + 2 * px_unit)
            inner, _ = _stroke_polygons(path, width)
            draw.polygon(outer[0].ravel().tolist(), fill=ink)
            draw.polygon(inner[0].ravel().tolist(), fill=foam)
            # Carved blue line inside the curl.
            mid = path[0, 1:-3] - normal[0, 1:-3] * 0.1 * width[0]
            draw.line(mid.ravel().tolist(), fill=_rgb(_WAVE_BLUES[2]), width=max(1, int(round(px_unit))))
            # Foam beads ("fingers") on the outside of the curl.
            beads = np.arange(2, 13, 1 if depth > 0.5 else 2)
            for j in beads:
                bx = path[0, j, 0] + normal[0, j, 0] * 0.62 * width[0]
                by = path[0, j, 1] + normal[0, j, 1] * 0.62 * width[0]
                br = (0.25 + 0.2 * rng.random()) * width[0] * (1 - 0.6 * j / 13)
                draw.ellipse([bx - br, by - br, bx + br, by + br], fill=foam, outline=ink, width=max(1, int(px_unit)))
            # Spray above and ahead of the crest.
            ns = 4 + int(18 * depth)
            spx = px0 + rng.normal(0.5, 0.9, ns) * rho0 * 2
            spy = py0 - np.abs(rng.normal(1.2, 0.8, ns)) * rho0 * 1.4
            spr = rng.uniform(0.0012, 0.0025 + 0.003 * depth, ns)
            for x, y, b in zip(spx, spy, spr):
                draw.ellipse([(x - b) * big, (y - b) * big, (x + b) * big, (y + b) * big], fill=foam)

    img = np.asarray(_downscale(canvas, size), dtype=np.float32)
    fibre = _aniso_noise(rng, (size, size), max(4, size // 4), 10)
    img = img * (1 + 0.012 * fibre[..., None]) + _grain(rng, size, 2.0)
    return _to_image(img)


STYLES: dict[str, Callable[..., Image.Image]] = {
    "brush_strokes": brush_strokes,
    "mondrian": mondrian,
    "pointillism": pointillism,
    "stained_glass": stained_glass,
    "wave": wave,
}


def paint(name: str, size: int = 512, seed: int = 0) -> Image.Image:
    """Paint the style called ``name``; see :data:`STYLES` for the names."""
    try:
        fn = STYLES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown style {name!r}; valid names are: {', '.join(sorted(STYLES))}") from None
    return fn(size=size, seed=seed)
