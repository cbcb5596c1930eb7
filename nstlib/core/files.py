"""Files written whole or not at all, never through a name someone else can plant, never over an input.

Every file nstlib writes (images, checkpoints, manifests, videos, meshes, plots, caches) goes
through :func:`atomic_file` or :func:`atomic_path`: the bytes go to a new file in the target's
folder whose name is unpredictable (``.<name>.<random>.tmp``) and which is created exclusively
(``O_CREAT | O_EXCL``: a symlink or file planted at that name makes the open fail instead of being
followed), then the file is flushed, synced and renamed over the target. A reader sees the old
file or the new one, never half of one; a crash leaves the old file and at most a hidden
temporary file; a symlink at the *target* is replaced, never written through.

The command line checks its whole plan before any work starts (:func:`check_distinct`: no two
outputs are the same file; :func:`probe_output`: the folder really takes a new file, which
``os.access`` cannot tell for root or an immutable folder) and, when the final write still
fails, keeps the result under another name in the working folder (:func:`rescue_path`).

Taught in notebook 06 (what the command line keeps).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Union

from .errors import NstlibError

__all__ = [
    "OutputError",
    "atomic_file",
    "atomic_path",
    "check_distinct",
    "open_temp",
    "probe_output",
    "rescue_path",
    "same_file",
    "save_figure",
    "write_bytes",
    "write_text",
]

PathLike = Union[str, "os.PathLike[str]"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


class OutputError(NstlibError):
    """An output that cannot be written, or that would overwrite an input or another output."""


def open_temp(folder: Path, name: str, suffix: str = ".tmp") -> tuple[Path, IO[bytes]]:
    """A new, exclusively created hidden file ``folder/.<name>.<random><suffix>``, open for binary writing.

    The name has 48 random bits, so nobody can plant a link there in advance; ``O_EXCL`` makes
    the open fail rather than follow one that is there anyway. The file honours the umask (0666
    before it), so the renamed output gets the usual permissions.
    """
    while True:
        tmp = folder / f".{name[:100]}.{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "wb")


def _commit(tmp: Path, target: Path, handle: IO[bytes] | None = None) -> None:
    """Flush and sync ``tmp`` (through ``handle`` if open, else by reopening) and rename it to ``target``."""
    if handle is not None:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
    else:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_file(path: PathLike) -> Iterator[IO[bytes]]:
    """Write ``path`` whole or not at all: yields a binary handle to a fresh temporary file beside it.

    On leaving the block without an exception the file is synced and renamed over ``path``; on
    an exception (Ctrl-C included) it is removed and ``path`` is untouched. The folder is created.
    """
    target = Path(os.fspath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, handle = open_temp(target.parent, target.name)
    try:
        with handle:
            yield handle
            _commit(tmp, target, handle)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Like :func:`atomic_file`, for writers that want a file *name* (PyAV, trimesh, Pillow's GIF).

    Yields the name of an exclusively created, empty temporary file beside ``path`` with the same
    suffix (writers pick the format from it); the writer may truncate and refill it.
    """
    target = Path(os.fspath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, handle = open_temp(target.parent, target.stem, f".tmp{target.suffix}")
    handle.close()
    try:
        yield tmp
        _commit(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: PathLike, data: bytes) -> Path:
    """``Path.write_bytes``, atomically (:func:`atomic_file`). Returns ``path``."""
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(os.fspath(path))


def write_text(path: PathLike, text: str) -> Path:
    """``Path.write_text`` in UTF-8, atomically (:func:`atomic_file`). Returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file: the same resolved path, or (both existing) one inode (hard links)."""
    pa, pb = Path(os.fspath(a)).expanduser(), Path(os.fspath(b)).expanduser()
    try:
        if pa.resolve() == pb.resolve():
            return True
        return pa.exists() and pb.exists() and os.path.samefile(pa, pb)
    except (OSError, RuntimeError):  # a symlink loop or an unreadable path: not provably the same
        return False


def check_distinct(outputs: Mapping[str, PathLike | None]) -> None:
    """Refuse two outputs (by label, e.g. ``"--plot"``) that are the same file; ``None`` entries are skipped.

    Raises :class:`OutputError` naming both labels and the path, before any work starts.
    """
    given = [(label, path) for label, path in outputs.items() if path is not None]
    for i, (label, path) in enumerate(given):
        for other, other_path in given[:i]:
            if same_file(path, other_path):
                raise OutputError(f"{label} '{path}' is the same file as {other} '{other_path}'; "
                                  "give each output its own name")


def probe_output(path: PathLike) -> None:
    """Check that ``path`` can be written: not a read-only file, and its folder takes new files.

    An existing file without write permission is refused (the rename would replace it anyway,
    silently). For the folder (the nearest existing one), an exclusive temporary file is created
    and removed, so read-only mounts, immutable folders and missing permissions show up for root
    too. Raises :class:`OutputError` naming the file or folder.
    """
    target = Path(os.fspath(path)).expanduser()
    if target.is_file() and not target.stat().st_mode & 0o222:
        raise OutputError(f"refusing to replace '{path}': it is read-only; make it writable or choose another name")
    folder = Path(os.fspath(path)).expanduser().resolve().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        tmp, handle = open_temp(folder, "probe")
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': folder '{folder}' does not take new files "
                          f"({exc.strerror or exc})") from None
    handle.close()
    tmp.unlink(missing_ok=True)


def rescue_path(path: PathLike, folder: PathLike = ".") -> Path:
    """A new name in ``folder`` (the working folder) for a result that could not be written to ``path``.

    ``<stem>.rescued<suffix>``, then ``<stem>.rescued-2<suffix>``, …: never an existing file.
    """
    target = Path(os.fspath(path))
    base = Path(os.fspath(folder))
    candidate = base / f"{target.stem}.rescued{target.suffix}"
    n = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = base / f"{target.stem}.rescued-{n}{target.suffix}"
        n += 1
    return candidate


def save_figure(figure, path: PathLike, dpi: int = 300) -> Path:
    """``figure.savefig`` (any matplotlib figure) atomically, the format from ``path``'s suffix (PNG if none)."""
    fmt = Path(os.fspath(path)).suffix.lstrip(".").lower() or "png"
    with atomic_file(path) as handle:
        figure.savefig(handle, format=fmt, dpi=dpi)
    return Path(os.fspath(path))
