"""Benchmarks, measured side by side in one run (``make bench``, ``bench-tiling``, ``bench-video``, ``bench-3d``).

- :mod:`~nstlib.bench.gatys`: one Gatys step against two references; peak memory; multi-scale.
- :mod:`~nstlib.bench.tiling`: memory against output size, whole image against tiles.
- :mod:`~nstlib.bench.video`: the video methods' flicker, style and seconds per frame.
- :mod:`~nstlib.bench.mesh`: 3D consistency, held-out style and time.

Nothing in the library imports this package; notebooks 10 and 17 show its results.
"""
