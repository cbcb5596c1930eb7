"""How much memory one style-transfer step needs, measured from the autograd graph.

Optimising pixels keeps every activation that the backward pass needs: a forward pass through
VGG19 *saves* tensors (the input of each convolution, the output of each ReLU, the indices of
each max pooling, ...) and frees them only after the backward pass. Their total grows linearly
with the number of pixels, and it is what limits the output size on a GPU.

:func:`saved_tensor_bytes` counts those tensors exactly, with
``torch.autograd.graph.saved_tensors_hooks``, on any device: it records every tensor autograd
saves while a function runs and adds up the bytes of the distinct storages (a ReLU's output and
the next convolution's input are one tensor saved twice, counted once). :func:`step_bytes` turns a
bytes-per-pixel figure into the memory of a whole ``stylize`` step, with the L-BFGS memory and the
network's weights, and :func:`max_side_for_budget` inverts it.

This is a model, not a profiler: it leaves out the allocator's overhead, the transient gradient
buffers of the backward pass (about the size of the largest activation, see
``SavedTensors.largest``) and the framework's workspace (cuDNN may ask for more).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.errors import ConfigError
from ..core.features import BLOCK_SIZES, CHANNELS, LAYER_NAMES, canonical_layer
from ..core.losses import gram_matrix

__all__ = [
    "SavedTensors",
    "lbfgs_bytes",
    "max_side_for_budget",
    "saved_activation_bytes",
    "saved_tensor_bytes",
    "step_bytes",
    "vgg_bytes_per_pixel",
]

#: Bytes of one float32 value.
FLOAT32 = 4
#: Image-sized vectors L-BFGS holds at its peak besides its history (measured, see :func:`lbfgs_bytes`).
LBFGS_WORKING_VECTORS = 8


@dataclass(frozen=True)
class SavedTensors:
    """What autograd kept for the backward pass of one call (see :func:`saved_tensor_bytes`).

    Attributes:
        activations: bytes of the distinct storages saved, leaving out the excluded tensors
            (the network's weights): the memory that grows with the image.
        excluded: bytes of the saved storages that belong to the excluded tensors.
        largest: bytes of the largest single storage counted in ``activations``.
        count: how many tensors were saved, before removing duplicates.
        distinct: how many distinct storages ``activations`` adds up.
    """

    activations: int
    excluded: int
    largest: int
    count: int
    distinct: int


def _storage_key(t: Tensor) -> tuple[str, int]:
    storage = t.untyped_storage()
    return str(t.device), storage.data_ptr()


def saved_tensor_bytes(fn: Callable[[], object], exclude: Iterable[Tensor] = ()) -> SavedTensors:
    """Run ``fn()`` and measure the tensors autograd saves for its backward pass.

    Args:
        fn: builds a graph, e.g. ``lambda: loss(model(x))`` with ``x.requires_grad_(True)``.
            Its return value is kept alive until the counting is done, then dropped.
        exclude: tensors whose storages are not activations (weights, buffers); counted apart.

    Returns:
        A :class:`SavedTensors`. Each distinct storage counts once, with its full size in bytes
        (``untyped_storage().nbytes()``), whatever dtype or view it was saved as.
    """
    excluded_keys = {_storage_key(t) for t in exclude}
    seen: dict[tuple[str, int], int] = {}
    kept: list[Tensor] = []  # hold references so that no storage is freed and its address reused

    def pack(t: Tensor) -> Tensor:
        kept.append(t)
        seen.setdefault(_storage_key(t), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    activations = {k: n for k, n in seen.items() if k not in excluded_keys}
    result = SavedTensors(
        activations=sum(activations.values()),
        excluded=sum(n for k, n in seen.items() if k in excluded_keys),
        largest=max(activations.values(), default=0),
        count=len(kept),
        distinct=len(activations),
    )
    del out, kept
    return result


def saved_activation_bytes(extractor: torch.nn.Module, image: Tensor, gram: bool = True) -> SavedTensors:
    """The tensors one forward pass of a style-transfer loss saves for its backward pass.

    Args:
        extractor: a feature extractor such as :class:`nstlib.core.features.VGGFeatures`, returning
            ``{layer: [1, C, h, w]}``. Its parameters and buffers are excluded from ``activations``.
        image: ``[1, 3, H, W]``; a copy that requires grad is used, as ``stylize`` optimises pixels.
        gram: also take the Gram matrix of every returned layer and a loss on them, as the style
            loss does (the Gram matrices are ``C × C`` and do not grow with the image).

    Returns:
        A :class:`SavedTensors` for ``extractor(image)`` (and the Gram matrices).
    """
    x = image.detach().clone().requires_grad_(True)

    def forward() -> Tensor:
        feats = extractor(x)
        if gram:
            return sum(gram_matrix(f).square().mean() for f in feats.values())  # type: ignore[return-value]
        return sum(f.sum() for f in feats.values())  # type: ignore[return-value]

    fixed = [*extractor.parameters(), *extractor.buffers()]
    return saved_tensor_bytes(forward, exclude=fixed)


def vgg_bytes_per_pixel(last_layer: str = "conv5_1", pooling: str = "max") -> float:
    """Bytes that VGG19 saves for its backward pass, per input pixel, counted from the architecture.

    Walking the network up to ``last_layer`` (float32, 4 bytes a value; int64 indices, 8):

    - the first convolution saves its (normalised) input: 3 values per pixel;
    - every convolution's ReLU output is saved once (by the ReLU; the next convolution or pooling
      saves the same tensor again, which costs nothing more): ``C`` values per cell;
    - a 2×2 max pooling also saves the index of each maximum (``C`` int64 per output cell) and
      its output is the next convolution's input (``C`` values per output cell); an average
      pooling needs no indices.

    Block ``b`` has ``1 / 4**(b-1)`` cells per input pixel. Up to ``conv5_1`` with max pooling
    this gives 1532 bytes per pixel (1292 with average pooling), to which the Gram matrices
    add a constant that does not grow with the image.
    """
    if pooling not in ("max", "avg"):
        raise ConfigError(f"pooling must be 'max' or 'avg', got {pooling!r}")
    depth = LAYER_NAMES.index(canonical_layer(last_layer)) + 1
    total = 3.0 * FLOAT32
    done = 0
    for block, (n_convs, channels) in enumerate(zip(BLOCK_SIZES, CHANNELS)):
        cells = 1.0 / 4**block
        convs = min(n_convs, depth - done)
        total += convs * channels * cells * FLOAT32
        done += convs
        if done >= depth:
            break
        if convs == n_convs:  # a pooling follows this block and feeds the next one
            out_cells = cells / 4
            if pooling == "max":
                total += channels * out_cells * 8  # argmax indices, int64
            total += channels * out_cells * FLOAT32  # the pooled map, the next convolution's input
    return total


def lbfgs_bytes(pixels: float, history: int = 100, channels: int = 3) -> float:
    """Peak bytes of ``torch.optim.LBFGS``'s state for an image of ``pixels`` pixels (float32).

    L-BFGS keeps ``history`` pairs of vectors (steps and gradient changes) the size of the
    image. At its peak, inside the strong-Wolfe line search, it holds eight more: the search
    direction, the flat and previous gradients, the two-loop recursion's vectors, the copy of the
    point it started from and the gradients the search brackets. That count was measured
    (``tests/test_memory.py`` runs it on a large vector and reads the process's peak RSS):
    ``(2 · history + 8) · channels · pixels · 4`` bytes.
    """
    if pixels < 0 or history < 0 or channels < 1:
        raise ConfigError(
            f"lbfgs_bytes needs pixels, history >= 0 and channels >= 1, got {pixels}, {history}, {channels}"
        )
    return (2 * history + LBFGS_WORKING_VECTORS) * channels * pixels * FLOAT32


def step_bytes(pixels: float, activation_bytes_per_pixel: float, weight_bytes: int, history: int = 100) -> float:
    """Model of the memory of one ``stylize`` step with L-BFGS, in bytes.

    ``activation_bytes_per_pixel · pixels`` (the saved activations) + :func:`lbfgs_bytes`
    + the image, its gradient and the content image (``3 × 3 × 4`` bytes per pixel)
    + ``weight_bytes`` (the network). Left out: the targets (a few MB of Gram matrices, and
    the content features, 32 bytes per pixel at ``conv4_2``) and the transient gradients of the
    backward pass (add them to ``activation_bytes_per_pixel``, see :class:`SavedTensors`).
    """
    image_like = 3 * 3 * FLOAT32 * pixels
    return activation_bytes_per_pixel * pixels + lbfgs_bytes(pixels, history) + image_like + weight_bytes


def max_side_for_budget(
    budget_bytes: float,
    activation_bytes_per_pixel: float,
    weight_bytes: int,
    history: int = 100,
    aspect: float = 1.0,
) -> int:
    """The longest side (px) whose :func:`step_bytes` fits in ``budget_bytes``.

    Args:
        budget_bytes: the memory available, e.g. ``16 * 2**30`` for a 16 GB GPU.
        activation_bytes_per_pixel, weight_bytes, history: as in :func:`step_bytes`.
        aspect: shorter side ÷ longer side of the image (1 for a square, 2/3 for 3:2).

    Returns:
        The longer side ``s`` in pixels, 0 if not even the weights fit; the image is taken to
        have ``s · s · aspect`` pixels (the shorter side is not rounded).
    """
    if not 0 < aspect <= 1:
        raise ConfigError(f"aspect is the shorter side over the longer one, in (0, 1]; got {aspect}")
    per_pixel = step_bytes(1, activation_bytes_per_pixel, 0, history)
    free = budget_bytes - weight_bytes
    if free <= 0:
        return 0
    side = int(math.sqrt(free / per_pixel / aspect))

    def fits(s: int) -> bool:
        return step_bytes(s * s * aspect, activation_bytes_per_pixel, weight_bytes, history) <= budget_bytes

    while side > 0 and not fits(side):  # guard against rounding in the square root
        side -= 1
    while fits(side + 1):
        side += 1
    return side
