"""The dispatch table of ``python -m nstlib`` and the exit-code policy that every command shares."""

from __future__ import annotations

import pytest

from nstlib.cli import args as cli_args
from nstlib.cli import dispatch
from nstlib.cli import video as cli_video
from nstlib.cli.dispatch import COMMANDS, main
from nstlib.core.errors import ConfigError


def test_every_subcommand_is_in_the_table():
    assert set(COMMANDS) == {"train", "fast", "adain", "wct", "models", "video", "mesh", "batch"}


def test_the_first_argument_picks_the_command(monkeypatch):
    calls = []
    monkeypatch.setitem(COMMANDS, "video", lambda argv, prog: calls.append(("video", argv, prog)) or 7)
    monkeypatch.setattr(dispatch.gatys, "main", lambda argv, prog: calls.append(("gatys", argv, prog)) or 3)
    assert main(["video", "--help"], prog="p") == 7
    assert main(["--image_size", "64"], prog="p") == 3
    assert main([], prog="p") == 3
    assert calls == [("video", ["--help"], "p"), ("gatys", ["--image_size", "64"], "p"), ("gatys", [], "p")]


def test_feed_forward_commands_receive_their_name(monkeypatch):
    seen = []
    monkeypatch.setattr(dispatch.feedforward, "main", lambda argv, prog: seen.append(argv) or 0)
    assert main(["fast", "--model", "m"]) == 0 and main(["models"]) == 0
    assert seen == [["fast", "--model", "m"], ["models"]]


def test_bad_input_is_exit_2_but_a_bug_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    clip = tmp_path / "in.mp4"
    clip.write_bytes(b"not a video")
    argv = ["video", "--video_path", str(clip), "--output_path", str(tmp_path / "out.mp4"), "-q", "--device", "cpu"]

    def bad_input(*a, **k):
        raise ConfigError("num_steps must be a positive integer, got 0")

    monkeypatch.setattr(cli_video, "read_video", bad_input)
    assert main(argv, prog="nstlib") == cli_args.EXIT_USAGE
    assert capsys.readouterr().err.strip() == "nstlib video: error: num_steps must be a positive integer, got 0"

    def bug(*a, **k):
        raise ValueError("an internal bug, not the user's input")

    monkeypatch.setattr(cli_video, "read_video", bug)
    with pytest.raises(ValueError, match="internal bug"):
        main(argv, prog="nstlib")


def test_argument_types_name_the_text():
    import argparse

    assert cli_args.positive_int("3") == 3 and cli_args.nonnegative_float("0") == 0.0
    assert cli_args.size_list("128,256") == (128, 256)
    assert cli_args.region_style_list("0,none,1") == (0, None, 1)
    for fn, text, message in [(cli_args.positive_int, "0", "'0' must be a positive integer"),
                              (cli_args.nonnegative_float, "nan", "'nan' must be a finite number >= 0"),
                              (cli_args.size_list, "256,128", "must be increasing sizes"),
                              (cli_args.style_scale, "9", "'9' must be from 0.05 to 8")]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            fn(text)
