"""The core of neural style transfer: what every method builds on.

- :mod:`~nstlib.core.assets`: the course's bundled images (``NSTLIB_IMAGES`` overrides).
- :mod:`~nstlib.core.images`: files and URLs in, tensors ``[1, 3, H, W]`` in ``[0, 1]`` out, atomic saves.
- :mod:`~nstlib.core.features`: VGG19 feature extraction (the original caffe weights) and its calibration.
- :mod:`~nstlib.core.losses`: the content, style (Gram) and total-variation losses, as pure functions.

Taught in notebooks 00 (tour), 01 (VGG features), 02 (Gram matrices), 03 (content loss),
04 (style loss) and 05 (total variation). Nothing here imports from the rest of nstlib.
"""
