"""3D style transfer: one texture that carries the style from every view (the ``3d`` extra).

- :mod:`~nstlib.mesh.render`: a small differentiable rasteriser in PyTorch.
- :mod:`~nstlib.mesh.meshes`: procedural meshes with clean UVs, loading, unwrapping, export.
- :mod:`~nstlib.mesh.texture`: texture-space Gatys and its baselines.

Taught in notebook 18 (3D style transfer).
"""
