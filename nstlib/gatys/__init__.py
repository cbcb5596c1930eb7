"""Gatys et al.'s style transfer by optimisation: :class:`Config`, :func:`stylize` and its :class:`Result`.

``stylize`` composes the core (features, losses) with the controls (colour, masks,
photorealism) and, for outputs larger than memory, :mod:`nstlib.scale.tiling`; so it sits
above them, and the feed-forward, video and 3D methods build on it.

Taught in notebooks 06 (end to end), 07 (optimisers), 08 (weight tuning) and 10 (multi-scale).
"""
