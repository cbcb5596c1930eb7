"""What every command of ``python -m nstlib`` shares: exit codes, the parser, argument types, reporting.

Exit status, for every command: 0 on success; 1 if a loss became NaN/inf (the best result so far
is saved) or an output could not be written where asked (it is saved under another name in the
working folder, see :func:`deliver`); 2 for a bad argument or input (one line naming the value or
file at fault, nothing started); 130 on Ctrl-C and 143 on SIGTERM (the best result so far is
saved; :mod:`nstlib.core.signals`).

The argument types raise ``argparse.ArgumentTypeError`` with a message that quotes the text,
so a typo is reported in one line that names the flag and the value.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import NstlibError
from ..core.files import check_distinct, probe_output, rescue_path
from ..core.signals import held_signals

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NONFINITE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Delivery",
    "HelpFormatter",
    "Parser",
    "add_run_options",
    "check_outputs",
    "deliver",
    "fail",
    "float_list",
    "layer_list",
    "nonnegative_float",
    "nonnegative_int",
    "positive_float",
    "positive_int",
    "region_style_list",
    "reporting",
    "run_subcommand",
    "size_list",
    "style_scale",
]

EXIT_OK, EXIT_NONFINITE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: A finished run whose output could not be written where asked (it was rescued, or is named lost).
EXIT_FAILED = 1


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, but not the uninformative ``(default: None)`` / ``(default: False)``."""

    def _get_help_string(self, action: argparse.Action) -> str:  # type: ignore[override]
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action) or ""


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer >= 0")
    return value


def positive_int(text: str) -> int:
    value = nonnegative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def positive_float(text: str) -> float:
    value = nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def layer_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def float_list(text: str) -> tuple[float, ...]:
    values = tuple(nonnegative_float(part.strip()) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers")
    return values


def size_list(text: str) -> tuple[int, ...]:
    values = tuple(positive_int(part.strip()) for part in text.split(",") if part.strip())
    if not values or any(b <= a for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"{text!r} must be increasing sizes in pixels, e.g. 128,256,512")
    return values


def region_style_list(text: str) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if part == "none":
            out.append(None)
        elif part.isdigit():
            out.append(int(part))
        else:
            raise argparse.ArgumentTypeError(
                f"{text!r}: each entry is a style index (0 for the first --style_path) or none")
    return tuple(out)


def style_scale(text: str) -> float:
    value = positive_float(text)
    if not 0.05 <= value <= 8:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 0.05 to 8")
    return value


def reporting(quiet: bool, log_every: int | None, total: int) -> tuple[bool, int]:
    """(show a progress bar?, print a log line every N steps (0: never)) for a run of ``total`` steps.

    A terminal gets the bar; without one (Colab's ``!`` cells, a log file) a line every tenth.
    """
    progress = not quiet and sys.stderr.isatty()
    if quiet:
        return False, 0
    if log_every is None:
        log_every = 0 if progress else max(1, total // 10)
    return progress, log_every


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--seed`` and ``-q/--quiet``, as every subcommand (video, mesh) has them."""
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_subcommand(name: str, build: Callable[[str], argparse.ArgumentParser],
                   run: Callable[[argparse.Namespace, str], int], argv: Sequence[str], prog: str) -> int:
    """Parse ``argv`` with ``build(prog)`` and ``run`` it; Ctrl-C before ``run`` handles it exits 130."""
    try:
        args = build(prog).parse_args(list(argv))
        return run(args, prog)
    except KeyboardInterrupt:
        print(f"{prog} {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def fail(prog: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def check_outputs(outputs: Mapping[str, Path | None]) -> None:
    """Before any work: no two outputs (by flag) are one file, and each one's folder takes new files.

    Each output has already been checked against the inputs (:func:`~nstlib.core.images.check_writable_path`);
    this adds the checks between outputs and a real write probe of every folder
    (:func:`~nstlib.core.files.probe_output`). Raises :class:`~nstlib.core.files.OutputError`.
    """
    check_distinct(outputs)
    for path in outputs.values():
        if path is not None:
            probe_output(path)


@dataclass
class Delivery:
    """What :func:`deliver` wrote: the paths, one line per output not written where asked, and
    whether Ctrl-C or SIGTERM came while writing (acted on now that everything is written)."""

    written: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    interrupted: bool = False


def deliver(saves: Sequence[tuple[Path, Callable[[Path], object]]]) -> Delivery:
    """Write each output with its writer, holding Ctrl-C and SIGTERM until all are written.

    ``saves`` pairs each target path with a function that writes the result there (atomically).
    When one fails (a full disk, a folder made read-only during the run, a file system error)
    the result is written to :func:`~nstlib.core.files.rescue_path` in the working folder
    instead, and the problem is named; the command then exits :data:`EXIT_FAILED`.
    """
    done = Delivery()
    with held_signals() as seen:
        for target, write in saves:
            try:
                write(target)
                done.written.append(target)
                continue
            except (OSError, NstlibError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            rescue = rescue_path(target)
            try:
                write(rescue)
            except (OSError, NstlibError) as exc:
                done.problems.append(f"cannot write {target} ({reason}) nor {rescue.resolve()} ({exc}); "
                                     "this output is lost")
            else:
                done.written.append(rescue)
                done.problems.append(f"cannot write {target} ({reason}); saved it to {rescue.resolve()} instead")
    done.interrupted = bool(seen.received)
    return done
