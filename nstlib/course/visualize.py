"""Looking inside VGG19 and its Gram matrices: the helpers of notebooks 01 and 02.

Feature maps (notebook 01):

- :func:`top_channels`, :func:`mean_responses`, :func:`feature_grid`: the most active channels of
  each layer, drawn as a grid of heatmaps.
- :data:`PREPROCESSINGS`, :func:`network_input`, :func:`features_of_network_input`: feed the
  network a *wrongly* preprocessed image, bypassing :meth:`VGGFeatures.normalize`, to see what
  the right preprocessing is worth.
- :func:`feature_correlations`, :func:`layer_bars`: compare two sets of responses, layer by layer.
- :func:`torchvision_weights_file`: where torchvision's VGG19 weights are cached, if they are.

Gram matrices (notebook 02):

- :func:`patch_shuffle`, :func:`crop_to_multiple`: cut an image into square patches and shuffle them.
- :func:`patch_shuffle_sweep`, :func:`plot_patch_sweep`: how much the Gram matrices change with
  the patch size.
- :func:`shuffle_positions`: permute the spatial positions of a feature map.
- :func:`relative_difference`, :func:`mean_pairwise_cosine`: compare Gram matrices.
- :func:`gram_heatmaps`: one heatmap per Gram matrix, with colourbars.
- :func:`plot_curves`: several loss curves on one log axis (e.g. one run per style image).

Plots are drawn on new ``matplotlib.figure.Figure`` objects (no pyplot state).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..core.features import VGGFeatures, layer_resolution_divisor, receptive_field
from ..core.losses import gram_matrix
from .notebook import to_hwc

__all__ = [
    "PREPROCESSINGS",
    "crop_to_multiple",
    "feature_correlations",
    "feature_grid",
    "features_of_network_input",
    "gram_heatmaps",
    "layer_bars",
    "mean_pairwise_cosine",
    "mean_responses",
    "network_input",
    "patch_shuffle",
    "patch_shuffle_sweep",
    "plot_curves",
    "plot_patch_sweep",
    "relative_difference",
    "shuffle_positions",
    "top_channels",
    "torchvision_weights_file",
]

_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

#: Ways to turn an RGB image in [0, 1] into the network's input, right and wrong (for Caffe weights).
PREPROCESSINGS: dict[str, str] = {
    "caffe": "BGR, 0–255, minus the mean pixel (what the Caffe weights were trained on)",
    "rgb_255": "RGB, 0–255, minus the mean pixel: right scale, channels in the wrong order",
    "imagenet": "RGB, (x − mean) / std: torchvision's convention, about 1/58 of the scale",
    "rgb_01": "RGB in [0, 1] as loaded: no conversion at all",
}


def _chw(features: Tensor) -> Tensor:
    if features.dim() == 4:
        if features.shape[0] != 1:
            raise ValueError(f"expected one feature map [1, C, H, W], got a batch of {features.shape[0]}")
        features = features[0]
    if features.dim() != 3:
        raise ValueError(f"expected a feature map [1, C, H, W] or [C, H, W], got {tuple(features.shape)}")
    return features


# --------------------------------------------------------------------------------------------
# Feature maps


def top_channels(features: Tensor, k: int = 4) -> list[int]:
    """The indices of the ``k`` channels with the largest mean activation, most active first.

    ``features`` is ``[1, C, H, W]`` or ``[C, H, W]``; ties go to the lower index.
    """
    f = _chw(features).detach().float()
    if not 1 <= k <= f.shape[0]:
        raise ValueError(f"k must be between 1 and the number of channels ({f.shape[0]}), got {k}")
    means = f.mean(dim=(1, 2)).cpu()
    order = sorted(range(len(means)), key=lambda i: (-float(means[i]), i))
    return order[:k]


def mean_responses(features: Mapping[str, Tensor]) -> dict[str, float]:
    """The mean activation of each layer of a ``VGGFeatures`` output, as floats."""
    return {name: float(f.detach().float().mean()) for name, f in features.items()}


def feature_correlations(features: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> dict[str, float]:
    """Pearson correlation, per layer, between two sets of feature maps of the same shapes.

    1 means the same pattern up to scale and offset; 0 means unrelated. A layer whose maps are
    constant in either set gets NaN.
    """
    out = {}
    for name, f in features.items():
        a = f.detach().double().flatten()
        b = reference[name].detach().double().flatten()
        if a.shape != b.shape:
            raise ValueError(f"{name}: shapes differ, {tuple(f.shape)} vs {tuple(reference[name].shape)}")
        a, b = a - a.mean(), b - b.mean()
        denom = float(a.norm() * b.norm())
        out[name] = float(a @ b) / denom if denom > 0 else float("nan")
    return out


def feature_grid(
    features: Mapping[str, Tensor],
    k: int = 4,
    *,
    image: Tensor | None = None,
    channels: Mapping[str, Sequence[int]] | None = None,
    title: str | None = None,
    width: float = 1.6,
) -> Figure:
    """One row per layer: the ``k`` most active channels, each a heatmap with its own colour scale.

    Args:
        features: ``{layer: [1, C, H, W]}``, e.g. a :class:`VGGFeatures` output.
        k: channels per row.
        image: the input image ``[1, 3, H, W]``; drawn in the first column of every row if given.
        channels: the channels to draw per layer (default: :func:`top_channels`); pass the
            channels chosen for one network to compare another on the same ones.
        title: the figure's title.
        width: size of one panel, inches.

    Each row is labelled with the layer, its feature map's size and its fraction of the input's
    resolution; each panel with the channel index and its mean activation.
    """
    names = list(features)
    if not names:
        raise ValueError("feature_grid needs at least one layer")
    extra = 1 if image is not None else 0
    first = _chw(features[names[0]])
    aspect = first.shape[1] / first.shape[2]
    fig = Figure(figsize=(width * (k + extra), width * aspect * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), k + extra, squeeze=False)
    for row, name in zip(axes, names):
        f = _chw(features[name]).detach().float().cpu()
        chosen = list(channels[name]) if channels is not None else top_channels(f, k)
        if len(chosen) != k:
            raise ValueError(f"{name}: {len(chosen)} channels given for k={k}")
        c, h, w = f.shape
        try:
            label = f"{name}\n{w}×{h}, 1/{layer_resolution_divisor(name)}"
        except ValueError:
            label = f"{name}\n{w}×{h}"
        if image is not None:
            row[0].imshow(to_hwc(image))
            row[0].set_title("input", fontsize="small")
        for ax, ch in zip(row[extra:], chosen):
            ax.imshow(f[ch].numpy(), cmap="viridis", interpolation="nearest")
            ax.set_title(f"ch {ch}, mean {float(f[ch].mean()):.2g}", fontsize="x-small")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(label, fontsize="small")
    if title:
        fig.suptitle(title)
    fig._nstlib_photos = True  # dense pictures: shown as JPEG in notebooks, like course.show_images
    return fig


def network_input(image: Tensor, how: str = "caffe") -> Tensor:
    """Turn an RGB image ``[B, 3, H, W]`` in [0, 1] into a network input, by one of :data:`PREPROCESSINGS`.

    ``"caffe"`` is what ``VGGFeatures(weights="caffe").normalize`` does; the others are common
    mistakes, for demonstrations.
    """
    if how not in PREPROCESSINGS:
        raise ValueError(f"unknown preprocessing {how!r}: use one of {', '.join(PREPROCESSINGS)}")
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"expected an RGB batch [B, 3, H, W], got {tuple(image.shape)}")
    if how == "rgb_01":
        return image.clone()
    if how == "imagenet":
        mean = image.new_tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        std = image.new_tensor(_IMAGENET_STD).view(1, 3, 1, 1)
        return (image - mean) / std
    x = image * 255.0 - image.new_tensor(_CAFFE_MEAN_RGB).view(1, 3, 1, 1)
    return x.flip(1) if how == "caffe" else x


def features_of_network_input(vgg: VGGFeatures, x: Tensor) -> dict[str, Tensor]:
    """Run ``vgg``'s convolutions on ``x`` *as given*, skipping its input normalisation.

    ``x`` is in the network's own input space (for Caffe weights, BGR 0–255 minus the mean).
    ``features_of_network_input(vgg, vgg.normalize(img))`` equals ``vgg(img)``. It works by
    undoing :meth:`VGGFeatures.normalize` before calling the network, so the forward pass is the
    network's own.
    """
    rgb = x.flip(1) if vgg.bgr else x
    return vgg(rgb * vgg.std + vgg.mean)


def layer_bars(
    values: Mapping[str, Mapping[str, float]],
    *,
    log: bool = True,
    ylabel: str = "mean activation",
    title: str = "",
    reference: float | None = None,
) -> Figure:
    """Grouped bar chart: one group per layer, one bar per series ``{series: {layer: value}}``.

    ``log`` puts the y axis on a log scale (values must then be positive); ``reference`` draws
    a dashed horizontal line (e.g. 1 for ratios).
    """
    series = list(values)
    if not series:
        raise ValueError("layer_bars needs at least one series")
    layers = list(values[series[0]])
    fig = Figure(figsize=(max(6.0, 1.2 * len(layers) + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(layers))]
        ax.bar(xs, [values[name][layer] for layer in layers], width=width, label=name)
    ax.set_xticks(range(len(layers)), layers)
    ax.set_xlabel("VGG19 layer")
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    if log:
        ax.set_yscale("log")
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", linewidth=1)
    ax.set_title(title)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def torchvision_weights_file() -> Path:
    """Where torchvision keeps VGG19's ``IMAGENET1K_V1`` weights: a file in the torch hub cache.

    torchvision downloads the file there on first use; when it exists,
    ``VGGFeatures(..., weights="torchvision")`` loads it without the network. Check
    ``.is_file()`` before relying on it.
    """
    from torchvision.models import VGG19_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(VGG19_Weights.IMAGENET1K_V1.url)


# --------------------------------------------------------------------------------------------
# Gram matrices


def crop_to_multiple(image: Tensor, multiple: int) -> Tensor:
    """Crop ``[..., H, W]`` (centred) so that H and W are multiples of ``multiple``."""
    if multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple}")
    h, w = image.shape[-2:]
    nh, nw = h - h % multiple, w - w % multiple
    if nh == 0 or nw == 0:
        raise ValueError(f"a {w}×{h} image has no {multiple}×{multiple} patch")
    top, left = (h - nh) // 2, (w - nw) // 2
    return image[..., top : top + nh, left : left + nw]


def patch_shuffle(image: Tensor, patch: int, seed: int = 0) -> Tensor:
    """Cut ``image`` ``[B, C, H, W]`` into ``patch``×``patch`` tiles and put them back in a random order.

    H and W must be multiples of ``patch`` (see :func:`crop_to_multiple`). Every tile keeps its
    content; only where it sits changes. The same permutation is used for every image of the
    batch; ``seed`` makes it reproducible. ``patch`` = 1 permutes single pixels.
    """
    if image.dim() != 4:
        raise ValueError(f"patch_shuffle expects [B, C, H, W], got {tuple(image.shape)}")
    b, c, h, w = image.shape
    if patch < 1 or h % patch or w % patch:
        raise ValueError(
            f"patch {patch} does not tile a {w}×{h} image; crop it first with crop_to_multiple(image, {patch})"
        )
    gh, gw = h // patch, w // patch
    # [B, C, gh, p, gw, p] -> [B, C, gh·gw, p, p]
    tiles = image.reshape(b, c, gh, patch, gw, patch).permute(0, 1, 2, 4, 3, 5).reshape(b, c, gh * gw, patch, patch)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(gh * gw, generator=gen).to(image.device)
    tiles = tiles[:, :, perm]
    return tiles.reshape(b, c, gh, gw, patch, patch).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)


def shuffle_positions(features: Tensor, seed: int = 0) -> Tensor:
    """Permute the H·W spatial positions of ``[B, C, H, W]`` features (the same way for every channel)."""
    if features.dim() != 4:
        raise ValueError(f"shuffle_positions expects [B, C, H, W], got {tuple(features.shape)}")
    b, c, h, w = features.shape
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(h * w, generator=gen).to(features.device)
    return features.reshape(b, c, h * w)[:, :, perm].reshape(b, c, h, w)


def patch_shuffle_sweep(
    vgg: VGGFeatures, image: Tensor, patch_sizes: Sequence[int], seed: int = 0
) -> dict[str, list[float]]:
    """For each layer of ``vgg``: the relative change of its Gram matrix when ``image`` is patch-shuffled.

    ``image`` ``[1, 3, H, W]`` must be tiled by every patch size (see :func:`crop_to_multiple`).
    Returns ``{layer: [relative_difference(G(shuffled), G(image)) for each patch size]}``.
    """
    with torch.no_grad():
        reference = {name: gram_matrix(f) for name, f in vgg(image).items()}
        out: dict[str, list[float]] = {name: [] for name in reference}
        for patch in patch_sizes:
            feats = vgg(patch_shuffle(image, patch, seed))
            for name, f in feats.items():
                out[name].append(relative_difference(gram_matrix(f), reference[name]))
    return out


def plot_patch_sweep(
    patch_sizes: Sequence[int],
    differences: Mapping[str, Sequence[float]],
    *,
    baselines: Mapping[str, float] | None = None,
    title: str = "",
) -> Figure:
    """Relative Gram difference against patch size, one line per layer (log–log).

    Legend entries give each layer's :func:`~nstlib.core.features.receptive_field`. ``baselines`` (``{layer: value}``,
    e.g. the distance to the nearest *other* image) are drawn as dotted lines in the same colours.
    """
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for index, (name, values) in enumerate(differences.items()):
        color = f"C{index}"
        try:
            label = f"{name} (sees {receptive_field(name)[0]} px)"
        except ValueError:
            label = name
        ax.plot(patch_sizes, values, marker="o", color=color, label=label)
        if baselines and name in baselines:
            ax.axhline(baselines[name], color=color, linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(patch_sizes), [str(s) for s in patch_sizes])
    ax.invert_xaxis()
    ax.set_xlabel("patch size (px), smaller to the right")
    ax.set_ylabel("‖G(shuffled) − G(original)‖ / ‖G(original)‖")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small", title="layer" + (" (dotted: nearest other image)" if baselines else ""),
              title_fontsize="small")
    return fig


def relative_difference(a: Tensor, b: Tensor) -> float:
    """``‖a − b‖ / ‖b‖`` (Frobenius norms, computed in float64); 0 when equal."""
    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    norm = float(b.norm())
    diff = float((a - b).norm())
    if norm == 0:
        return 0.0 if diff == 0 else float("inf")
    return diff / norm


def mean_pairwise_cosine(grams: Sequence[Tensor]) -> float:
    """Mean cosine similarity between every pair of Gram matrices (flattened).

    Near 1: the matrices all look alike, so they cannot tell the images apart.
    """
    if len(grams) < 2:
        raise ValueError("mean_pairwise_cosine needs at least two Gram matrices")
    flat = [g.detach().double().flatten() for g in grams]
    sims = [float(torch.nn.functional.cosine_similarity(a, b, dim=0)) for a, b in itertools.combinations(flat, 2)]
    return sum(sims) / len(sims)


def gram_heatmaps(
    grams: Mapping[str, Tensor],
    *,
    channels: int | None = None,
    title: str | None = None,
    width: float = 3.2,
    gamma: float = 0.5,
) -> Figure:
    """One heatmap per Gram matrix ``{label: [C, C] or [1, C, C]}``, each with its own colourbar.

    ``channels`` keeps the top-left ``channels × channels`` block (the first channels), so that
    large layers stay readable. A few diagonal entries usually dwarf the rest, so the colours
    follow ``G ** gamma`` (default: a square-root scale; ``gamma=1`` is linear). The colourbar
    still reads in units of G.
    """
    from matplotlib.colors import Normalize, PowerNorm

    labels = list(grams)
    if not labels:
        raise ValueError("gram_heatmaps needs at least one Gram matrix")
    fig = Figure(figsize=(width * len(labels) + 0.3, width + 0.7), layout="constrained")
    axes = fig.subplots(1, len(labels), squeeze=False)[0]
    for ax, label in zip(axes, labels):
        g = grams[label].detach().float().cpu()
        if g.dim() == 3:
            g = g[0]
        if g.dim() != 2 or g.shape[0] != g.shape[1]:
            raise ValueError(f"{label}: expected a square Gram matrix, got {tuple(g.shape)}")
        n = g.shape[0] if channels is None else min(channels, g.shape[0])
        block = g[:n, :n].numpy()
        norm = Normalize() if gamma == 1 else PowerNorm(gamma, vmin=min(0.0, float(block.min())))
        im = ax.imshow(block, cmap="magma", interpolation="nearest", norm=norm)
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("channel j")
        ax.set_ylabel("channel i")
        scale = "" if gamma == 1 else (" (√ colour scale)" if gamma == 0.5 else f" (colours ∝ G^{gamma:g})")
        fig.colorbar(im, ax=ax, shrink=0.8, label="G[i, j]" + scale)
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "loss evaluation (forward + backward pass)",
    ylabel: str = "loss (log scale)",
) -> Figure:
    """Several curves ``{label: values}`` on one log-scale axes, one colour each, x from 1."""
    if not curves:
        raise ValueError("plot_curves needs at least one curve")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for label, values in curves.items():
        ax.plot(range(1, len(values) + 1), list(values), label=label)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    return fig
