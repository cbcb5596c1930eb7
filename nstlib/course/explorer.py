"""Weight tuning: an interactive α/β/γ explorer for notebooks, a labelled weight grid, a loss ruler.

:class:`Explorer` puts ``ipywidgets`` controls in front of :func:`nstlib.stylize`: log sliders for
α (``content_weight``), β (``style_weight``) and γ (``tv_weight``), sliders for the steps and the
image size, content/style dropdowns, a preset menu, a Run button, a preview image that is
refreshed *while* the optimisation runs (through ``stylize``'s callback) and a status line.
It works in JupyterLab, Jupyter Notebook and Colab (ipywidgets 7 or 8, nothing to enable); it is
built from plain objects, so it can be constructed, run and inspected without any display (tests,
headless notebook runs)::

    explorer = Explorer(size=128, steps=50)
    explorer              # shows the controls in a notebook
    explorer.run()        # what the Run button does; never raises, errors go to the status line

:func:`measure` is a weight-independent ruler (unweighted content and style losses, total
variation per value) for comparing runs made with different weights, and
:func:`weight_grid_figure` draws an α × β grid of results with labelled rows and columns.
"""

from __future__ import annotations

import io
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Union

import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..core import assets
from ..core.config import PRESETS, Config
from ..core.devices import resolve_device
from ..core.features import get_extractor
from ..core.images import load_image, resize, to_pil
from ..core.losses import content_loss, gram_matrix, total_style_loss, tv_loss
from ..core.optimize import StepInfo
from ..gatys.transfer import Result, StylizeInterrupted, stylize
from .notebook import to_hwc

__all__ = ["Explorer", "PNG_SIGNATURE", "measure", "png_bytes", "weight_grid_figure"]

#: The first eight bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: An image source for the explorer's menus: a file path or an RGB tensor ``[1, 3, H, W]`` in [0, 1].
ImageSource = Union[str, os.PathLike, Tensor]

_CUSTOM = "(custom)"


def png_bytes(image: Tensor) -> bytes:
    """Encode ``[1, 3, H, W]`` or ``[3, H, W]`` (values in [0, 1], clamped) as an 8-bit RGB PNG."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# A ruler that does not depend on the weights


def measure(image: Tensor, content: Tensor, style: Tensor, config: Config | None = None) -> dict[str, float]:
    """Unweighted loss terms of ``image``, so that runs with different α, β, γ can be compared.

    Args:
        image: the result ``[1, 3, H, W]`` in [0, 1].
        content: the content photo, ``[1, 3, H, W]`` of the same size as ``image``.
        style: the style image ``[1, 3, H', W']`` (any size: Gram matrices are size-normalised).
        config: the layers, weights and device to measure with (default: ``Config()``'s).

    Returns:
        ``{"content": Σ content_loss, "style": Σ_l style_loss_l, "tv": tv_loss / numel}``:
        the content and style terms *before* α and β multiply them, and the total variation per
        value (the mean squared difference between neighbouring pixels, summed over both
        directions), which, unlike ``tv_loss``, does not grow with the image size.
    """
    config = config or Config()
    if image.shape != content.shape:
        raise ValueError(f"measure: image {tuple(image.shape)} and content {tuple(content.shape)} differ in shape")
    device = resolve_device(config.device)
    layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
    extractor = get_extractor(layers, config.weights, config.pooling, str(device), config.seed)
    with torch.no_grad():
        feats = extractor(image.to(device))
        c_feats = extractor(content.to(device))
        s_feats = extractor(style.to(device))
        c = sum(float(content_loss(feats[n], c_feats[n])) for n in config.content_layers)
        targets = {n: gram_matrix(s_feats[n]) for n in config.style_layers}
        s = float(total_style_loss(feats, targets, config.style_layer_weights)[0]) if targets else 0.0
    return {"content": float(c), "style": s, "tv": float(tv_loss(image)) / image.numel()}


# --------------------------------------------------------------------------------------------
# The α × β grid


def pow10_label(value: float) -> str:
    """``1e5`` -> ``"$10^{5}$"``, ``1`` -> ``"1"``, ``10`` -> ``"10"``; other values as ``%g``."""
    if value > 0:
        exponent = math.log10(value)
        if abs(exponent - round(exponent)) < 1e-9:
            e = round(exponent)
            return {0: "1", 1: "10"}.get(e, f"$10^{{{e}}}$")
    return f"{value:g}"


def weight_grid_figure(
    images: Mapping[tuple[float, float], Tensor],
    alphas: Sequence[float],
    betas: Sequence[float],
    *,
    title: str = "Content weight α against style weight β",
    width: float = 2.3,
    show_ratio: bool = True,
) -> Figure:
    """A grid of results: one row per α (``alphas[0]`` on top), one column per β.

    Args:
        images: ``{(α, β): image [1, 3, H, W]}`` for every pair of ``alphas`` × ``betas``.
        alphas, betas: the row and column values, in display order.
        title: the figure's title.
        width: inches per panel.
        show_ratio: print β/α in a corner of each panel (what the result mostly depends on).

    Returns:
        A constrained-layout figure; its x label is "β (style weight)", its y label
        "α (content weight)".
    """
    missing = [(a, b) for a in alphas for b in betas if (a, b) not in images]
    if missing:
        raise KeyError(f"weight_grid_figure: no image for (α, β) = {missing[0]}")
    first = to_hwc(images[alphas[0], betas[0]])
    aspect = first.shape[0] / first.shape[1]
    fig = Figure(figsize=(width * len(betas) + 0.8, width * aspect * len(alphas) + 1.0), layout="constrained")
    axes = fig.subplots(len(alphas), len(betas), squeeze=False)
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            ax = axes[i, j]
            ax.imshow(to_hwc(images[a, b]))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"β = {pow10_label(b)}", fontsize="medium")
            if j == 0:
                ax.set_ylabel(f"α = {pow10_label(a)}", fontsize="medium")
            if show_ratio:
                ax.text(0.03, 0.04, f"β/α = {pow10_label(b / a)}", transform=ax.transAxes, fontsize="small",
                        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", alpha=0.8, linewidth=0))
    h, w = first.shape[:2]
    fig.supxlabel("β (style weight)")
    fig.supylabel("α (content weight)")
    fig.suptitle(f"{title} ({w}×{h} px each)")
    fig._nstlib_photos = True  # dense pictures: shown as JPEG in notebooks, like course.show_images
    return fig


# --------------------------------------------------------------------------------------------
# The interactive explorer


class Explorer:
    """Sliders for α, β, γ, steps and size, image menus, a Run button and a live preview.

    Attributes (all ``ipywidgets``): ``alpha``, ``beta``, ``gamma`` (``FloatLogSlider``),
    ``steps``, ``size`` (``IntSlider``), ``content``, ``style``, ``preset`` (``Dropdown``),
    ``run_button`` (``Button``), ``preview`` (``Image``, PNG bytes), ``status`` (``Label``);
    ``widget`` is the whole layout. After a run, ``result`` holds the :class:`Result`, ``frames``
    counts preview refreshes and ``error`` holds the exception of a failed run (else None).

    The run happens in the kernel's thread: the preview and status are pushed to the page while
    it runs, but moving a slider takes effect at the next run. Interrupt the kernel to stop a run
    early; the best image so far is kept.
    """

    def __init__(
        self,
        contents: Mapping[str, ImageSource] | None = None,
        styles: Mapping[str, ImageSource] | None = None,
        *,
        config: Config | None = None,
        size: int = 128,
        steps: int = 50,
        every: int = 5,
        preview_width: int = 320,
    ) -> None:
        """Build the controls.

        Args:
            contents, styles: menu name -> file path or tensor ``[1, 3, H, W]`` (default: the
                course's ``nstlib/data/images/content`` and ``nstlib/data/images/style``). Tensors are resized so that
                their longer side is the size slider's value.
            config: the other settings (optimiser, layers, device, …); its α, β, γ start the
                sliders.
            size: the size slider's start, px (longer side).
            steps: the steps slider's start (loss evaluations).
            every: refresh the preview every ``every`` steps (and at the end).
            preview_width: the preview's width on the page, px (the image is scaled to it).
        """
        import ipywidgets as w


        self.base_config = config or Config()
        self.every = max(1, int(every))
        self.contents: dict[str, ImageSource] = dict(contents) if contents is not None else {
            p.stem: p for p in assets.content_images()}
        self.styles: dict[str, ImageSource] = dict(styles) if styles is not None else {
            p.stem: p for p in assets.style_images()}
        if not self.contents or not self.styles:
            raise ValueError("Explorer needs at least one content and one style image")
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.frames = 0
        self._cache: dict[tuple[str, str, int], Tensor] = {}

        cfg = self.base_config
        style = {"description_width": "110px"}
        wide = w.Layout(width="380px")
        log = dict(base=10, step=0.25, readout_format=".3g", continuous_update=False, style=style, layout=wide)
        self.alpha = w.FloatLogSlider(value=max(cfg.content_weight, 1e-3), min=-3, max=4,
                                      description="α content", **log)
        self.beta = w.FloatLogSlider(value=max(cfg.style_weight, 1e2), min=2, max=10, description="β style", **log)
        self.gamma = w.FloatLogSlider(value=max(cfg.tv_weight, 1e-8), min=-8, max=3, description="γ total var.", **log)
        self.steps = w.IntSlider(value=steps, min=1, max=1000, description="steps", continuous_update=False,
                                 style=style, layout=wide)
        self.size = w.IntSlider(value=size, min=16, max=1024, step=16, description="size (px)",
                                continuous_update=False, style=style, layout=wide)
        self.content = w.Dropdown(options=list(self.contents), value=_pick(self.contents, "chelsea"),
                                  description="content", style=style, layout=wide)
        self.style = w.Dropdown(options=list(self.styles), value=_pick(self.styles, "brush_strokes"),
                                description="style", style=style, layout=wide)
        self.preset = w.Dropdown(options=[_CUSTOM, *PRESETS], value=_CUSTOM, description="preset (α, β)",
                                 style=style, layout=wide)
        self.run_button = w.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="stylise with these settings")
        self.status = w.Label(value="ready: choose the weights and press Run")
        self.preview = w.Image(format="png", layout=w.Layout(width=f"{preview_width}px"))
        self._applying_preset = False
        self.preset.observe(self._on_preset, names="value")
        for slider in (self.alpha, self.beta):
            slider.observe(self._on_weight, names="value")
        self.run_button.on_click(self.run)
        controls = w.VBox([self.content, self.style, self.preset, self.alpha, self.beta, self.gamma,
                           self.steps, self.size, self.run_button])
        self.widget = w.VBox([w.HBox([controls, self.preview]), self.status])

    # -- display -------------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        """Show the controls (``explorer`` at the end of a cell, or ``display(explorer)``).

        Delegating to ``display(self.widget)`` works with ipywidgets 8 (JupyterLab) and with the
        ipywidgets 7 that Colab ships, whose widgets have no ``_repr_mimebundle_``.
        """
        from IPython.display import display

        display(self.widget)

    # -- settings ------------------------------------------------------------------------------

    def config(self) -> Config:
        """The :class:`Config` of the current slider values (raises ``ConfigError`` if invalid)."""
        return self.base_config.replace(
            content_weight=float(self.alpha.value),
            style_weight=float(self.beta.value),
            tv_weight=float(self.gamma.value),
            num_steps=int(self.steps.value),
            image_size=int(self.size.value),
        )

    def _on_preset(self, change: Mapping[str, Any]) -> None:
        """A preset chosen in the menu sets the α and β sliders."""
        values = PRESETS.get(change["new"])
        if values:
            self._applying_preset = True
            try:
                self.alpha.value = values["content_weight"]
                self.beta.value = values["style_weight"]
            finally:
                self._applying_preset = False

    def _on_weight(self, change: Mapping[str, Any]) -> None:
        """Moving α or β away from the chosen preset sets the menu back to "(custom)"."""
        values = PRESETS.get(self.preset.value)
        if values and not self._applying_preset and (
                self.alpha.value, self.beta.value) != (values["content_weight"], values["style_weight"]):
            self.preset.value = _CUSTOM

    def _image(self, kind: str, name: str, size: int) -> Tensor:
        """The chosen image, ``[1, 3, H, W]`` with longer side ``size``, loaded once per size."""
        key = (kind, name, size)
        if key not in self._cache:
            source = (self.contents if kind == "content" else self.styles)[name]
            self._cache[key] = resize(source.detach().float(), size) if isinstance(source, Tensor) \
                else load_image(source, size)
        return self._cache[key]

    # -- running -------------------------------------------------------------------------------

    def _show(self, image: Tensor) -> None:
        self.preview.value = png_bytes(image)
        self.frames += 1

    def _on_step(self, info: StepInfo) -> None:
        """The ``stylize`` callback: the status every step, the preview every ``every`` steps."""
        if info.step % self.every == 0 or info.step == 1:
            self._show(info.image)
        self.status.value = (f"step {info.step}/{info.num_steps} · total loss {info.losses['total']:.4g} · "
                             f"{info.seconds:.1f} s")

    def run(self, *_: Any) -> Result | None:
        """Stylise with the current settings (the Run button's handler).

        Never raises: a bad setting or image is reported in the status line (and kept in
        ``error``) and None is returned. Otherwise the preview ends on the best image and the
        :class:`Result` is returned and kept in ``result``.
        """
        self.error = None
        self.run_button.disabled = True
        self.status.value = "starting…"
        start = time.perf_counter()
        try:
            config = self.config()
            content = self._image("content", self.content.value, config.image_size)
            style = self._image("style", self.style.value, config.image_size)
            with warnings.catch_warnings():  # a NaN loss is reported below, not on stderr
                warnings.simplefilter("ignore", RuntimeWarning)
                result = stylize(content, style, config, callback=self._on_step, progress=False)
        except StylizeInterrupted as exc:
            result = exc.result
        except Exception as exc:  # a widget callback must not raise: the page would show nothing
            self.error = exc
            self.status.value = f"error: {exc}"
            return None
        finally:
            self.run_button.disabled = False
        self.result = result
        self._show(result.image)
        h, w = result.image.shape[-2:]
        if result.status == "done":
            self.status.value = (f"done: {result.evaluations} steps in {time.perf_counter() - start:.1f} s, "
                                 f"{w}×{h} px · best total loss {result.final_loss:.4g} (step {result.best_step})")
        else:
            self.status.value = f"{result.status}: {result.message}"
        return result


def _pick(options: Mapping[str, Any], preferred: str) -> str:
    return preferred if preferred in options else next(iter(options))
