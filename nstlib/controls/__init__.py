"""The controls that :func:`nstlib.stylize` composes: colour, regions, photorealism.

- :mod:`~nstlib.controls.color`: colour preservation, luminance-only transfer and histogram
  matching (Gatys, Bethge, Hertzmann & Shechtman 2016).
- :mod:`~nstlib.controls.masks`: a style per region with guided Gram matrices (Gatys et al. 2017).
- :mod:`~nstlib.controls.photoreal`: the matting-Laplacian photorealism term (Luan et al. 2017).

Taught in notebooks 09 (colour), 11 (spatial control and blending) and 12 (photorealism).
"""
