"""``python -m nstlib``: see :mod:`nstlib.cli`."""

from .cli import main

raise SystemExit(main())
