"""Gatys et al.'s style transfer by optimisation: :func:`stylize` and its :class:`Result`.

- :mod:`~nstlib.gatys.transfer`: ``stylize``, a composition of stages (load and check, colour
  before, the scales, colour after) over the core's driver; ``Result``, ``StylizeInterrupted``.
- :mod:`~nstlib.gatys.tiled`: ``stylize_tiled`` for outputs larger than memory, and the naive
  baseline that stylises each tile on its own.
- :mod:`~nstlib.gatys.plots`: ``plot_history``, the loss curves of a run.

``stylize`` composes the core (features, losses, the driver) with the controls (colour, masks,
photorealism) and, for outputs larger than memory, :mod:`nstlib.scale.tiling`; so it sits
above them, and the feed-forward, video and 3D methods build on it.

Taught in notebooks 06 (end to end), 07 (optimisers), 08 (weight tuning), 10 (multi-scale) and
17 (tiles).
"""
