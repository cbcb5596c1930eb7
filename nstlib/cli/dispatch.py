"""``python -m nstlib``: the dispatch table from the first argument to a command's module.

Each command is one module of this package with a ``main(argv, prog) -> exit status``; the
shared parser, argument types and exit codes are in :mod:`nstlib.cli.args`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from . import batch, feedforward, gatys, mesh, video

__all__ = ["COMMANDS", "main"]

Command = Callable[[Sequence[str], str], int]


def _feedforward(name: str) -> Command:
    """The feed-forward commands share one module, which reads the command's name first."""
    return lambda argv, prog: feedforward.main([name, *argv], prog)


#: The subcommands, by the first argument; anything else is the Gatys command's flags.
COMMANDS: dict[str, Command] = {
    **{name: _feedforward(name) for name in feedforward.SUBCOMMANDS},  # train, fast, adain, wct, models
    "video": video.main,
    "mesh": mesh.main,
    "batch": batch.main,
}


def main(argv: Sequence[str] | None = None, prog: str = "python -m nstlib") -> int:
    """Run the command line; returns the exit status (see :mod:`nstlib.cli.args`).

    ``train``, ``fast``, ``adain``, ``wct`` and ``models`` as the first argument run the
    feed-forward commands (:mod:`nstlib.cli.feedforward`), ``video`` the video one
    (:mod:`nstlib.cli.video`), ``mesh`` the 3D one (:mod:`nstlib.cli.mesh`), ``batch`` a folder of
    images (:mod:`nstlib.cli.batch`); anything else is Gatys' optimisation (:mod:`nstlib.cli.gatys`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:], prog)
    return gatys.main(argv, prog)
