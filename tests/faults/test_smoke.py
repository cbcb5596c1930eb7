"""The battery's tools themselves: a good run keeps its promise, so the checks can pass."""

from faults.kit import QUICK, leftovers, snapshot


def test_a_good_run_keeps_inputs_and_leaves_no_temporary_file(cli, pair, tmp_path):
    content, style = pair
    before = snapshot(tmp_path)
    result = cli("--content_path", content, "--style_path", style, "--output_path", "out.png", *QUICK)
    assert result.code == 0, result.err
    assert result.err == ""
    after = snapshot(tmp_path)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {"out.png"}
    assert leftovers(tmp_path) == []
