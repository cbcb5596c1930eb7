"""The fixed evaluator: one judge for every method's output, whatever it was trained to minimise.

:func:`evaluate` scores an image by the plain Gatys losses on the bundled (caffe) VGG19 with the
default layers (content ``conv4_2``, style ``conv1_1`` … ``conv5_1``), unweighted, so that the
numbers compare methods rather than their own objectives. Notebooks 14 and 15 and the video
benchmark use it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from .errors import ConfigError
from .features import get_extractor
from .losses import content_loss, gram_matrix

__all__ = ["evaluate"]


def evaluate(image: Tensor, content: Tensor, style: Tensor, weights: str = "caffe",
             device: str | torch.device = "cpu") -> dict[str, float]:
    """The fixed evaluator: unweighted Gatys content and style losses of ``image``.

    Args:
        image, content: ``[1, 3, H, W]`` in [0, 1], the same size.
        style: ``[1, 3, h, w]`` in [0, 1].

    Returns:
        ``{"content": MSE at conv4_2, "style": Σ over conv1_1…conv5_1 of the Gram MSE}``.
    """
    if image.shape != content.shape:
        raise ConfigError(f"evaluate: image {tuple(image.shape)} and content {tuple(content.shape)} differ in shape")
    layers = tuple(dict.fromkeys((*DEFAULT_CONTENT_LAYERS, *DEFAULT_STYLE_LAYERS)))
    net = get_extractor(layers, weights, "max", str(device), 0)
    with torch.no_grad():
        fi, fc, fs = (net(x.to(device)) for x in (image, content, style))
        c = sum(float(content_loss(fi[n], fc[n])) for n in DEFAULT_CONTENT_LAYERS)
        s = sum(float(torch.nn.functional.mse_loss(gram_matrix(fi[n]), gram_matrix(fs[n])))
                for n in DEFAULT_STYLE_LAYERS)
    return {"content": c, "style": s}
