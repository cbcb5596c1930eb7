"""nstlib: neural style transfer, from Gram matrices to feed-forward networks.

The pipeline, one module per concept::

    images.load_image -> features.VGGFeatures -> losses -> transfer.stylize -> images.save_image

and the feed-forward models (fast, adain, wct; trained by ``training.train``), loaded with
``load_model(name_or_checkpoint)``.
"""

from .core.features import LAYER_NAMES, VGGFeatures
from .core.images import ImageError, load_image, save_image
from .core.losses import content_loss, gram_matrix, style_loss, tv_loss
from .feedforward.models import load_model
from .gatys.transfer import PRESETS, Config, ConfigError, Result, StylizeInterrupted, stylize

__version__ = "0.1.0"

__all__ = [
    "LAYER_NAMES",
    "PRESETS",
    "Config",
    "ConfigError",
    "ImageError",
    "Result",
    "StylizeInterrupted",
    "VGGFeatures",
    "content_loss",
    "gram_matrix",
    "load_image",
    "load_model",
    "save_image",
    "stylize",
    "style_loss",
    "tv_loss",
]
