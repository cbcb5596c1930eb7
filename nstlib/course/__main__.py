"""``python -m nstlib.course figures``: see :func:`nstlib.course.notebook.main`."""

from .notebook import main

raise SystemExit(main())
