"""Fixtures of the fault battery; the tools themselves are in :mod:`faults.kit`."""

from faults.kit import cli, pair  # noqa: F401  (pytest finds fixtures by name)
