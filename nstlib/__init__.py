"""nstlib: neural style transfer, from Gram matrices to feed-forward networks.

The pipeline, one module per concept::

    images.load_image -> features.VGGFeatures -> losses -> transfer.stylize -> images.save_image

and the feed-forward models (fast, adain, wct; trained by ``training.train``), loaded with
``load_model(name_or_checkpoint)``.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.features import LAYER_NAMES, VGGFeatures
    from .core.images import ImageError, load_image, save_image
    from .core.losses import content_loss, gram_matrix, style_loss, tv_loss
    from .feedforward.models import load_model
    from .gatys.transfer import PRESETS, Config, ConfigError, Result, StylizeInterrupted, stylize

#: Where each name of the top-level API lives. They are loaded on first use (SPEC 1's lazy
#: loading), so ``import nstlib`` does not import torch: ``python -m nstlib`` can install its
#: Ctrl-C and SIGTERM handling before the slow imports (nstlib.cli.dispatch).
_LAZY = {
    "LAYER_NAMES": "core.features", "VGGFeatures": "core.features",
    "ImageError": "core.images", "load_image": "core.images", "save_image": "core.images",
    "content_loss": "core.losses", "gram_matrix": "core.losses", "style_loss": "core.losses",
    "tv_loss": "core.losses", "load_model": "feedforward.models",
    "PRESETS": "gatys.transfer", "Config": "gatys.transfer", "ConfigError": "gatys.transfer",
    "Result": "gatys.transfer", "StylizeInterrupted": "gatys.transfer", "stylize": "gatys.transfer",
}


def __getattr__(name: str) -> Any:
    """``nstlib.stylize`` and friends: import the module that defines ``name`` on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nstlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
