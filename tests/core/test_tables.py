"""The one table renderer: Markdown and fixed-width text, numbers right-aligned, names left."""

from __future__ import annotations

import pytest

from nstlib.core.tables import format_table

HEADER = ["method", "s / image", "note"]
ROWS = [["gatys", 12.5, "slow"], ["fast", "0.031", "one pass"]]


def test_markdown_right_aligns_numeric_columns_only():
    assert format_table(HEADER, ROWS) == (
        "| method | s / image | note |\n"
        "|---|---:|---|\n"
        "| gatys | 12.5 | slow |\n"
        "| fast | 0.031 | one pass |"
    )


def test_text_columns_line_up():
    text = format_table(HEADER, ROWS, markdown=False)
    assert text.splitlines() == [
        "method  s / image  note    ",
        "------  ---------  --------",
        "gatys        12.5  slow    ",
        "fast        0.031  one pass",
    ]


def test_the_first_columns_stay_left_even_when_numeric_and_rows_must_fit():
    assert format_table(["size", "x"], [[128, 1], [256, 2]], left=1).splitlines()[1] == "|---|---:|"
    assert format_table(["size", "x"], [[128, 1]], left=0).splitlines()[1] == "|---:|---:|"
    assert format_table(["a", "b"], []).splitlines() == ["| a | b |", "|---|---|"]
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        format_table(["a", "b"], [[1]])
