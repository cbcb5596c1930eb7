"""``python -m nstlib``: see :mod:`nstlib.cli.main`."""

from .cli.main import main

raise SystemExit(main())
