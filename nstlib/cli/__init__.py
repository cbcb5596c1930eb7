"""The command line, ``python -m nstlib``: one module per command.

- :mod:`~nstlib.cli.dispatch`: ``python -m nstlib``, the dispatch table from the first argument to a command.
- :mod:`~nstlib.cli.args`: what every command shares: exit codes, the parser, argument types.
- :mod:`~nstlib.cli.gatys`: the default command, Gatys' optimisation of one image.
- :mod:`~nstlib.cli.feedforward`: ``train``, ``fast``, ``adain``, ``wct``, ``models``.
- :mod:`~nstlib.cli.video`, :mod:`~nstlib.cli.mesh`, :mod:`~nstlib.cli.batch`: ``video``, ``mesh``, ``batch``.

The README's command-line section and notebook 00 show it.
"""

from .dispatch import main

__all__ = ["main"]
