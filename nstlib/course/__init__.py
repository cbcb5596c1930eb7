"""What only the notebooks use: presets, figures, plots, measurements and the style painter.

- :mod:`~nstlib.course.notebook`: the preset switch, ``setup``, figure export, image grids,
  live previews, loss plots, and re-executing notebooks (``make figures``); its names are
  re-exported here, so a notebook writes ``course.setup()``.
- :mod:`~nstlib.course.visualize` (01, 02), :mod:`~nstlib.course.reconstruct` (03, 04, 05, 11, 14),
  :mod:`~nstlib.course.compare` (06, 07, 10), :mod:`~nstlib.course.explorer` (08, 09, 12),
  :mod:`~nstlib.course.colorlab` (09, 12), :mod:`~nstlib.course.multiscale` (10),
  :mod:`~nstlib.course.regions` (11), :mod:`~nstlib.course.methods` (13, 14, 15),
  :mod:`~nstlib.course.meshplots` (18): each notebook's measurements and figures.
- :mod:`~nstlib.course.paint`: the procedural painter of the bundled style images (00, 14).

The library never imports this package.
"""

from .notebook import (
    COURSE_PRESETS,
    LivePreview,
    Preset,
    current_preset,
    execute_notebooks,
    export_figure,
    figures_dir,
    is_quick,
    plot_history,
    setup,
    show_images,
)

__all__ = [
    "COURSE_PRESETS",
    "LivePreview",
    "Preset",
    "current_preset",
    "execute_notebooks",
    "export_figure",
    "figures_dir",
    "is_quick",
    "plot_history",
    "setup",
    "show_images",
]
