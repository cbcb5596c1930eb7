"""``python -m nstlib``: see :mod:`nstlib.cli.dispatch`.

Ctrl-C or SIGTERM while torch and the commands are still being imported (a few seconds) stops
the program with one line and exit status 130 or 143, instead of a traceback or a silent kill.
"""

import sys

from .core.signals import EXIT_TERMINATED, Terminated, terminate_as_interrupt

with terminate_as_interrupt():
    try:
        from .cli import main
    except KeyboardInterrupt as stop:
        print("python -m nstlib: interrupted while starting; nothing was done", file=sys.stderr)
        raise SystemExit(EXIT_TERMINATED if isinstance(stop, Terminated) else 130) from None

raise SystemExit(main())
