"""SIGTERM handled like Ctrl-C, and signals held back while a result is being written.

``timeout``, Slurm, Colab's "interrupt" and torchrun stop a process with SIGTERM, whose default
action kills it at once: nothing saved, temporary files left behind. Inside
:func:`terminate_as_interrupt` SIGTERM raises :class:`Terminated`, a ``KeyboardInterrupt``, so
every path that keeps the best result on Ctrl-C keeps it on SIGTERM too; the command line then
exits 143 (128 + 15) instead of 130. Inside :func:`held_signals` (the final write of an output)
Ctrl-C and SIGTERM are recorded and delivered only after the block, so a finished result is
never lost to a late key press.

Both only act in the main thread (Python delivers signals there); elsewhere they do nothing.
Nothing here imports torch, so ``python -m nstlib`` installs them before its slow imports.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["EXIT_TERMINATED", "Signals", "Terminated", "held_signals", "raise_held", "terminate_as_interrupt"]

#: The exit status of a run stopped by SIGTERM (the shell's 128 + 15).
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise ``KeyboardInterrupt`` (and caught by the same code)."""


@dataclass
class Signals:
    """The signals seen inside a block: ``received`` in arrival order (``signal.SIGINT`` / ``SIGTERM``)."""

    received: list[int] = field(default_factory=list)

    @property
    def terminated(self) -> bool:
        return signal.SIGTERM in self.received


#: The record of the innermost :func:`terminate_as_interrupt` block, which held signals join.
_outer: list[Signals] = []


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[Signals]:
    """Within the block, SIGTERM raises :class:`Terminated`; the yielded record says whether it came."""
    seen = Signals()
    if not _in_main_thread():
        yield seen
        return

    def handler(signum: int, frame: object) -> None:  # noqa: ARG001 - the signal handler signature
        seen.received.append(signum)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    _outer.append(seen)
    try:
        yield seen
    finally:
        _outer.remove(seen)
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def held_signals() -> Iterator[Signals]:
    """Record Ctrl-C and SIGTERM inside the block instead of acting on them (see :func:`raise_held`)."""
    seen = Signals()
    if not _in_main_thread():
        yield seen
        return

    def record(signum: int, frame: object) -> None:  # noqa: ARG001
        seen.received.append(signum)
        if _outer:
            _outer[-1].received.append(signum)

    previous = {s: signal.signal(s, record) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield seen
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def raise_held(seen: Signals) -> None:
    """Act on signals :func:`held_signals` recorded: :class:`Terminated` for SIGTERM, else KeyboardInterrupt."""
    if seen.terminated:
        raise Terminated
    if seen.received:
        raise KeyboardInterrupt
