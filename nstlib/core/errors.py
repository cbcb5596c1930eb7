"""The one error base class of nstlib: bad input, named in one line.

Every error that a user's input can cause (a value out of range, an unreadable image, a
missing file, a model of the wrong kind) is an :class:`NstlibError`. The command line turns
exactly these into one line on stderr and exit status 2; any other exception is a bug and
keeps its traceback. ``NstlibError`` is a ``ValueError``, so code written against the earlier
per-module errors (``except ValueError``) keeps working.
"""

from __future__ import annotations

__all__ = ["ConfigError", "NstlibError"]


class NstlibError(ValueError):
    """Bad input to nstlib: the message names the value or file at fault, in one line."""


class ConfigError(NstlibError):
    """An invalid setting (a configuration field, a device, an option). The message names the field and the value."""
