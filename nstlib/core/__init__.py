"""The core of neural style transfer: what every method builds on.

- :mod:`~nstlib.core.errors`: :class:`NstlibError`, the one base class of every error bad input causes.
- :mod:`~nstlib.core.assets`: the bundled photos, styles, clip and mesh, by name (package data).
- :mod:`~nstlib.core.images`: files and URLs in, tensors ``[1, 3, H, W]`` in ``[0, 1]`` out, atomic saves.
- :mod:`~nstlib.core.devices`: ``resolve_device`` (cuda, then mps, then cpu; one GPU per torchrun process).
- :mod:`~nstlib.core.features`: VGG19 feature extraction (the original caffe weights), its
  calibration and receptive fields.
- :mod:`~nstlib.core.losses`: the content, style (Gram) and total-variation losses, as pure functions.
- :mod:`~nstlib.core.config`: :class:`Config`, the validated settings of one optimisation, and its presets.
- :mod:`~nstlib.core.optimize`: the one optimisation driver (L-BFGS or Adam, best or last image,
  history, progress, non-finite stop, Ctrl-C) and the stop policy training shares.
- :mod:`~nstlib.core.metrics`: the fixed judge that scores every method's output alike.
- :mod:`~nstlib.core.tables`: the one table renderer (Markdown or text).

Taught in notebooks 00 (tour), 01 (VGG features), 02 (Gram matrices), 03 (content loss),
04 (style loss), 05 (total variation) and 06-07 (the driver). Nothing here imports from the rest
of nstlib.
"""
