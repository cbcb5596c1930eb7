"""The command line, ``python -m nstlib``: one module per command.

- :mod:`~nstlib.cli.main`: ``python -m nstlib`` (Gatys) and the dispatch to the subcommands.
- :mod:`~nstlib.cli.feedforward`: ``train``, ``fast``, ``adain``, ``wct``, ``models``.
- :mod:`~nstlib.cli.video`, :mod:`~nstlib.cli.mesh`, :mod:`~nstlib.cli.batch`: ``video``, ``mesh``, ``batch``.

The README's command-line section and notebook 00 show it.
"""

from .main import main

__all__ = ["main"]
