"""``python -m nstlib``: see :mod:`nstlib.cli.dispatch`."""

from .cli import main

raise SystemExit(main())
