"""``python -m nstlib``: the dispatch table from the first argument to a command's module.

Each command is one module of this package with a ``main(argv, prog) -> exit status``; the
shared parser, argument types and exit codes are in :mod:`nstlib.cli.args`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from ..core.signals import EXIT_TERMINATED, terminate_as_interrupt
from . import batch, feedforward, gatys, mesh, video
from .args import EXIT_INTERRUPTED

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
    SIGTERM is handled like Ctrl-C (the best result kept), but exits 143 instead of 130.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS[argv.pop(0)] if argv and argv[0] in COMMANDS else gatys.main
    with terminate_as_interrupt() as seen:  # SIGTERM keeps the best result as Ctrl-C does
        code = command(argv, prog)
    return EXIT_TERMINATED if seen.terminated and code == EXIT_INTERRUPTED else code
