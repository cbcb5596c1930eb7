"""The feed-forward subcommands: ``python -m nstlib train|fast|adain|wct|models``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nstlib.cli import main
from nstlib.feedforward.training import read_checkpoint

REPO = Path(__file__).resolve().parents[2]


def one_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


TINY = ["--crop", "32", "--batch_size", "1", "--width", "4", "--device", "cpu"]


def test_train_fast_then_stylize_from_the_shell(pics, tmp_path):
    data, style = pics
    ckpt, small, plot = tmp_path / "m.pt", tmp_path / "small.pt", tmp_path / "loss.png"
    proc = subprocess.run([sys.executable, "-m", "nstlib", "train", "fast", "--data", str(data), "--style_path",
                           str(style), "--checkpoint", str(ckpt), "--iterations", "4", "--export", str(small),
                           "--plot", str(plot), *TINY], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing but the progress bar belongs on stderr, and there is no terminal
    assert "step 4/4" in proc.stdout and "saved" in proc.stdout
    saved = read_checkpoint(ckpt)
    assert saved["step"] == 4 and saved["meta"]["styles"] == ["style.png"]
    assert "train fast" in saved["train_config"]["command"]
    assert plot.stat().st_size > 0 and small.stat().st_size < ckpt.stat().st_size
    out = tmp_path / "out.png"
    proc = subprocess.run([sys.executable, "-m", "nstlib", "fast", "--model", str(small), "--content_path",
                           str(data / "0.png"), "--output_path", str(out), "--image_size", "40", "--device", "cpu"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (40, 34)


def test_resume_needs_the_flag_and_continues(pics, tmp_path, capsys):
    data, style = pics
    ckpt = tmp_path / "m.pt"
    base = ["train", "fast", "--data", str(data), "--style_path", str(style), "--checkpoint", str(ckpt), *TINY]
    assert main([*base, "--iterations", "2", "-q"]) == 0
    assert main([*base, "--iterations", "3", "-q"]) == 2
    one_line(capsys.readouterr().err, "m.pt", "--resume")
    assert main([*base, "--iterations", "3", "--resume", "-q"]) == 0
    history = read_checkpoint(ckpt)["history"]["total"]
    assert len(history) == 3


@pytest.mark.parametrize("args, needles", [
    (["train", "fast", "--data", "{empty}", "--checkpoint", "{tmp}/a.pt"], ["no image files", "empty"]),
    (["train", "fast", "--style_path", "{tmp}/nope.png", "--checkpoint", "{tmp}/a.pt"], ["nope.png"]),
    (["train", "fast", "--width", "2.5", "--checkpoint", "{tmp}/a.pt"], ["--width"]),
    (["train", "wct", "--levels", "relu9_1", "--checkpoint", "{tmp}/a.pt"], ["relu9_1"]),
    (["train", "fast", "--iterations", "0", "--checkpoint", "{tmp}/a.pt"], ["--iterations"]),
    (["train", "fast", "--checkpoint", "{tmp}/a.txt"], ["a.txt"]),
    (["fast", "--model", "{tmp}/missing.pt"], ["missing.pt"]),
    (["adain", "--model", "x", "--alpha", "1.5"], ["--alpha"]),
])
def test_bad_arguments_exit_2_with_one_line(args, needles, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    fill = {"tmp": str(tmp_path), "empty": str(tmp_path / "empty")}
    assert status([a.format(**fill) for a in args]) == 2
    one_line(capsys.readouterr().err, *needles)


def status(argv) -> int:
    """The exit status, whether main returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_wrong_model_kind_and_style_index(pics, tmp_path, capsys):
    data, style = pics
    ckpt = tmp_path / "m.pt"
    assert main(["train", "fast", "--data", str(data), "--style_path", str(style), "--checkpoint", str(ckpt),
                 "--iterations", "1", "-q", *TINY]) == 0
    content = data / "0.png"
    assert main(["fast", "--model", str(ckpt), "--content_path", str(content), "--style", "1",
                 "--output_path", str(tmp_path / "o.png"), "--device", "cpu"]) == 2
    one_line(capsys.readouterr().err, "style index 1")
    assert main(["adain", "--model", str(ckpt), "--content_path", str(content), "--style_path", str(style),
                 "--output_path", str(tmp_path / "o.png"), "--device", "cpu"]) == 2
    one_line(capsys.readouterr().err, "fast model")
    assert main(["fast", "--model", str(ckpt), "--content_path", str(content), "--output_path", str(content),
                 "--device", "cpu"]) == 2
    one_line(capsys.readouterr().err, "0.png")


def test_train_and_run_adain_and_wct(pics, tmp_path, capsys):
    data, style = pics
    tiny = ["--crop", "32", "--batch_size", "1", "--device", "cpu", "--weights", "random", "-q"]
    content = data / "1.png"
    adain, wct = tmp_path / "adain.pt", tmp_path / "wct.pt"
    assert main(["train", "adain", "--data", str(data), "--style_data", str(data), "--width", "0.125",
                 "--checkpoint", str(adain), "--iterations", "2", *tiny]) == 0
    assert main(["train", "wct", "--data", str(data), "--levels", "relu1_1,relu2_1", "--width", "0.25",
                 "--checkpoint", str(wct), "--iterations", "2", *tiny]) == 0
    assert read_checkpoint(wct)["meta"]["levels"] == ["relu1_1", "relu2_1"]
    capsys.readouterr()
    out = tmp_path / "a.png"
    assert main(["adain", "--model", str(adain), "--content_path", str(content), "--style_path", str(style),
                 str(data / "2.png"), "--style_blend", "0.7,0.3", "--alpha", "0.8", "--preserve_color",
                 "--image_size", "36", "--output_path", str(out), "--device", "cpu"]) == 0
    assert Image.open(out).size == (36, 31)
    assert main(["wct", "--model", str(wct), "--content_path", str(content), "--style_path", str(style),
                 "--levels", "relu2_1", "--image_size", "36", "--output_path", str(out), "--device", "cpu"]) == 0
    assert main(["adain", "--model", str(adain), "--content_path", str(content), "--style_path", str(style),
                 "--style_blend", "0.7,0.3", "--output_path", str(out), "--device", "cpu"]) == 2
    one_line(capsys.readouterr().err, "adain")
    assert main(["wct", "--model", str(wct), "--content_path", str(content), "--style_path", str(style),
                 "--levels", "relu3_1", "--output_path", str(out), "--device", "cpu"]) == 2
    one_line(capsys.readouterr().err, "relu3_1")


def test_models_lists_each_model_with_its_commands(pics, tmp_path, capsys, monkeypatch):
    data, style = pics
    folder = tmp_path / "models"
    monkeypatch.setenv("NSTLIB_MODELS", str(folder))
    folder.mkdir()
    assert main(["models"]) == 0
    assert "no models ship" in capsys.readouterr().out
    assert main(["train", "fast", "--data", str(data), "--style_path", str(style), "--checkpoint",
                 str(tmp_path / "full.pt"), "--export", str(folder / "mine.pt"), "--iterations", "1", "-q", *TINY]) == 0
    capsys.readouterr()
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("mine: fast, style.png; 1 steps")
    assert out[1].startswith("    trained by: python -m nstlib train fast --data")
    # a shipped name works wherever a checkpoint path does
    assert main(["fast", "--model", "mine", "--content_path", str(data / "0.png"), "--output_path",
                 str(tmp_path / "o.png"), "--image_size", "32", "--device", "cpu"]) == 0
