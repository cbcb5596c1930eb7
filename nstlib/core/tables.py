"""One table renderer for every report: Markdown for notebooks and the docs, fixed-width text for a terminal.

The methods' comparison (notebook 15), the video methods (16), the optimiser runs (07) and the
benchmarks build their rows and call :func:`format_table`; nothing else draws a table.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table"]


def _numeric(cell: object) -> bool:
    return isinstance(cell, (int, float)) or str(cell)[:1].isdigit()


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]], *, left: int = 1,
                 markdown: bool = True) -> str:
    """The rows under the header as one string.

    Args:
        header: the column titles.
        rows: one sequence of cells per row, as many as ``header``; cells are shown with ``str``.
        left: the first ``left`` columns are left-aligned (names); any other column whose cells
            all look numeric (numbers, or text starting with a digit) is right-aligned.
        markdown: a Markdown table (``| a | b |`` with ``---:`` for right-aligned columns), or
            fixed-width text columns separated by two spaces, with a dashed rule under the header.

    Raises:
        ValueError: a row whose length differs from the header's.
    """
    cells = [[str(c) for c in row] for row in rows]
    for i, row in enumerate(cells):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells for {len(header)} columns")
    right = [i >= left and bool(rows) and all(_numeric(r[i]) for r in rows) for i in range(len(header))]
    if markdown:
        rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
        return "\n".join(["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(r) + " |" for r in cells)])
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])
