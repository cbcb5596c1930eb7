"""Beyond one image in memory and one device: tiles, the memory model, many processes.

- :mod:`~nstlib.scale.memory`: the bytes one style-transfer step needs, per pixel.
- :mod:`~nstlib.scale.tiling`: Gatys in overlapping tiles with global style statistics.
- :mod:`~nstlib.scale.distributed`: what training and batch stylisation need from ``torch.distributed``.

Taught in notebooks 10 (multi-scale and large images) and 17 (scaling up).
"""
