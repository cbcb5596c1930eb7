"""The command line: every flag, every exit status, and nothing lost on bad input."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstlib.cli.gatys import build_parser
from nstlib.cli import main

REPO = Path(__file__).resolve().parents[2]
SEED_FLAGS = [
    "--content_path", "--style_path", "--output_path", "--image_size", "--style_weight",
    "--content_weight", "--tv_weight", "--num_steps", "--learning_rate", "--optimizer", "--init",
    "--preset", "--weights", "--device", "--seed",
]


@pytest.fixture()
def pics(tmp_path):
    rng = np.random.default_rng(0)
    content = tmp_path / "content.png"
    style = tmp_path / "style.jpg"
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)).save(style)
    return content, style


def run(args, **kw):
    """The real interpreter, as a user types it."""
    return subprocess.run([sys.executable, "-m", "nstlib", *map(str, args)], capture_output=True,
                          text=True, cwd=kw.pop("cwd", REPO), timeout=kw.pop("timeout", 300), **kw)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_help_explains_every_seed_flag():
    r = run(["--help"])
    assert r.returncode == 0 and r.stderr == ""
    for flag in SEED_FLAGS + ["--plot", "--history", "--pooling", "--quiet"]:
        assert flag in r.stdout, flag


def test_defaults_are_the_bundled_images():
    args = build_parser().parse_args([])
    assert Path(args.content_path).is_file() and Path(args.style_path[0]).is_file()
    assert args.num_steps == 300 and args.image_size == 512 and args.optimizer == "lbfgs"


def test_success_writes_image_plot_and_history(pics, tmp_path, capsys):
    content, style = pics
    out, plot, hist = tmp_path / "out" / "r.png", tmp_path / "loss.png", tmp_path / "h.json"
    code = main(["--content_path", str(content), "--style_path", str(style), "--output_path", str(out),
                 "--image_size", "32", "--num_steps", "3", "--plot", str(plot), "--history", str(hist),
                 "--device", "cpu", "--preset", "high_content"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    assert Image.open(out).size == (32, 27)
    assert Image.open(plot).format == "PNG"
    data = json.loads(hist.read_text())
    assert len(data["history"]["total"]) == 3 and data["evaluations"] == 3
    assert data["config"]["style_weight"] == 1e5 and data["config"]["content_weight"] == 10
    assert str(out) in captured.out
    # no terminal for a progress bar: the loss is logged every tenth of the run (here every step)
    steps = [line.split(":")[0] for line in captured.out.splitlines() if line.startswith("step ")]
    assert steps == ["step 1/3", "step 2/3", "step 3/3"]


@pytest.mark.parametrize("extra,expected", [([], 10), (["--log_every", "7"], 3), (["--quiet"], 0),
                                            (["--log_every", "0"], 0)])
def test_step_log_without_a_terminal(extra, expected, pics, tmp_path, capsys):
    content, style = pics
    code = main(["--content_path", str(content), "--style_path", str(style), "--output_path",
                 str(tmp_path / "r.png"), "--image_size", "32", "--num_steps", "20", "--optimizer", "adam",
                 "--device", "cpu", *extra])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    logged = [line for line in captured.out.splitlines() if line.startswith("step ")]
    assert len(logged) == expected, logged  # 7, 14 and the last step 20
    if logged:
        assert logged[-1].startswith("step 20/20: loss ")


@pytest.mark.parametrize(
    "flag,value,needle",
    [
        ("--num_steps", "0", "'0'"), ("--num_steps", "-3", "'-3'"), ("--num_steps", "ten", "'ten'"),
        ("--image_size", "0", "'0'"), ("--style_weight", "nan", "'nan'"), ("--content_weight", "-1", "'-1'"),
        ("--tv_weight", "inf", "'inf'"), ("--learning_rate", "0", "'0'"), ("--optimizer", "sgd", "'sgd'"),
        ("--init", "zeros", "'zeros'"), ("--log_every", "-1", "'-1'"), ("--preset", "wild", "'wild'"), ("--weights", "vgg16", "'vgg16'"),
        ("--device", "cuda:7", "cuda:7"), ("--style_layers", "conv9_1", "conv9_1"),
    ],
)
def test_bad_values_exit_2_with_one_line(flag, value, needle, pics, tmp_path, capsys):
    content, style = pics
    with pytest.raises(SystemExit) as exit_info:
        code = main(["--content_path", str(content), "--style_path", str(style), "--num_steps", "1",
                     "--output_path", str(tmp_path / "o.png"), flag, value])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    one_line_error(capsys.readouterr().err, needle)
    assert not (tmp_path / "o.png").exists()


def test_zero_weights_on_both_terms(pics, tmp_path, capsys):
    content, style = pics
    code = main(["--content_path", str(content), "--style_path", str(style), "--content_weight", "0",
                 "--style_weight", "0", "--output_path", str(tmp_path / "o.png")])
    assert code == 2
    one_line_error(capsys.readouterr().err, "both 0")


def test_bad_inputs_exit_2_naming_the_file(pics, tmp_path, capsys):
    content, style = pics
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(content.read_bytes()[:200])
    for bad in (tmp_path / "missing.jpg", tmp_path, empty, text, truncated):
        code = main(["--content_path", str(bad), "--style_path", str(style), "--output_path",
                     str(tmp_path / "o.png"), "--num_steps", "1"])
        assert code == 2, bad
        one_line_error(capsys.readouterr().err, bad.name)


def test_image_too_small_for_conv5_1(pics, tmp_path, capsys):
    content, style = pics
    code = main(["--content_path", str(content), "--style_path", str(style), "--image_size", "8",
                 "--output_path", str(tmp_path / "o.png")])
    assert code == 2
    one_line_error(capsys.readouterr().err, "too small", "16 px")


def test_never_overwrites_an_input(pics, tmp_path, capsys):
    content, style = pics
    before = sha(content), sha(style)
    for out in (content, tmp_path / "." / style.name):
        code = main(["--content_path", str(content), "--style_path", str(style), "--output_path", str(out),
                     "--num_steps", "1", "--image_size", "32"])
        assert code == 2
        one_line_error(capsys.readouterr().err, Path(out).name)
    assert (sha(content), sha(style)) == before
    code = main(["--content_path", str(content), "--style_path", str(style), "--history", str(content),
                 "--output_path", str(tmp_path / "o.png")])
    assert code == 2 and sha(content) == before[0]
    capsys.readouterr()


def test_unwritable_output_folder_refused_before_work(pics, tmp_path, capsys):
    content, style = pics
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["--content_path", str(content), "--style_path", str(style),
                 "--output_path", str(blocker / "out.png"), "--num_steps", "1"])
    assert code == 2
    one_line_error(capsys.readouterr().err, "out.png")
    code = main(["--content_path", str(content), "--style_path", str(style),
                 "--output_path", str(tmp_path / "result.txt"), "--num_steps", "1"])
    assert code == 2
    one_line_error(capsys.readouterr().err, "result.txt")


def test_nonfinite_loss_exits_1_and_saves_best(pics, tmp_path, capsys):
    content, style = pics
    out = tmp_path / "o.png"
    code = main(["--content_path", str(content), "--style_path", str(style), "--output_path", str(out),
                 "--style_weight", "1e300", "--image_size", "32", "--num_steps", "5", "--device", "cpu"])
    assert code == 1
    one_line_error(capsys.readouterr().err, "inf at step 1", str(out))
    assert Image.open(out).size == (32, 27)


def test_ctrl_c_exits_130_and_saves_best_image(pics, tmp_path):
    content, style = pics
    out = tmp_path / "o.png"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nstlib", "--content_path", str(content), "--style_path", str(style),
         "--output_path", str(out), "--image_size", "32", "--num_steps", "100000", "--device", "cpu", "--log_every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    started = proc.stdout.readline()
    assert started.startswith("stylizing"), started
    first = proc.stdout.readline()  # --log_every 1: printed after step 1, so a best image exists
    assert first.startswith("step 1/100000: loss "), first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    one_line_error(err, "interrupted at step", str(out))
    assert Image.open(out).size == (32, 27)


def test_seed_entry_point_takes_the_same_flags(pics, tmp_path):
    content, style = pics
    out = tmp_path / "seed.png"
    r = subprocess.run([sys.executable, "train_pytorch.py", "--content_path", content, "--style_path", style,
                        "--output_path", out, "--image_size", "32", "--num_steps", "2", "--optimizer", "adam",
                        "--device", "cpu"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert Image.open(out).size == (32, 27)
    r = subprocess.run([sys.executable, "train_pytorch.py", "--num_steps", "-1"], capture_output=True,
                       text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2
    one_line_error(r.stderr, "train_pytorch.py", "'-1'")


def test_advanced_flags_reach_stylize(pics, tmp_path, capsys):
    content, style = pics
    out, hist = tmp_path / "adv.png", tmp_path / "adv.json"
    mask = tmp_path / "mask.png"
    halves = np.zeros((27, 32, 3), dtype=np.uint8)
    halves[:, 16:] = (255, 0, 0)  # black left, red right
    Image.fromarray(halves).save(mask)
    code = main(["--content_path", str(content), "--style_path", str(style), str(style), "--output_path", str(out),
                 "--num_steps", "4", "--device", "cpu", "--weights", "random", "--scales", "24,32",
                 "--preserve_color", "luminance", "--style_scale", "0.5", "--photo_weight", "10",
                 "--mask", str(mask), "--region_styles", "0,none", "--history", str(hist), "--lbfgs_history", "5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert Image.open(out).size == (32, 27)
    data = json.loads(hist.read_text())
    cfg = data["config"]
    assert cfg["scales"] == [24, 32] and cfg["preserve_color"] == "luminance" and cfg["style_scale"] == 0.5
    assert cfg["photo_weight"] == 10 and cfg["image_size"] == 32 and cfg["lbfgs_history"] == 5
    assert data["history"]["size"] == [24.0, 24.0, 32.0, 32.0] and len(data["history"]["photo"]) == 4


def test_blend_of_two_styles(pics, tmp_path, capsys):
    content, style = pics
    out = tmp_path / "blend.png"
    code = main(["--content_path", str(content), "--style_path", str(style), str(content), "--output_path", str(out),
                 "--image_size", "32", "--num_steps", "2", "--device", "cpu", "--weights", "random",
                 "--style_blend", "0.7,0.3"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (32, 27)


@pytest.mark.parametrize("extra,needles", [
    (["--style_blend", "1,1,1"], ["3 weights for 1"]),
    (["--style_blend", "1,x"], ["'x'"]),
    (["--scales", "64,32"], ["'64,32'"]),
    (["--style_scale", "20"], ["'20'"]),
    (["--preserve_color", "sepia"], ["'sepia'"]),
    (["--region_styles", "0"], ["--region_styles needs --mask"]),
    (["--region_styles", "zero"], ["'zero'"]),
    (["--photo_weight", "-1"], ["'-1'"]),
])
def test_bad_advanced_values_exit_2(extra, needles, pics, tmp_path, capsys):
    content, style = pics
    with pytest.raises(SystemExit) as exit_info:  # argparse exits; the later checks return 2
        raise SystemExit(main(["--content_path", str(content), "--style_path", str(style), "--output_path",
                               str(tmp_path / "o.png"), "--image_size", "32", "--num_steps", "2",
                               "--device", "cpu", *extra]))
    assert exit_info.value.code == 2
    one_line_error(capsys.readouterr().err, *needles)
    assert not (tmp_path / "o.png").exists()


def test_bad_masks_exit_2_naming_the_file(pics, tmp_path, capsys):
    content, style = pics
    square = tmp_path / "square.png"  # the content is 32×27: a square mask has the wrong shape
    Image.new("RGB", (40, 40), (255, 0, 0)).save(square)
    three = tmp_path / "three.png"
    arr = np.zeros((27, 32, 3), dtype=np.uint8)
    arr[:, 10:20], arr[:, 20:] = (255, 0, 0), (0, 0, 255)
    Image.fromarray(arr).save(three)
    for mask, extra, needles in [(square, [], [str(square)]),
                                 (three, [], [str(three), "3 regions", "#0000ff", "1 --style_path"]),
                                 (three, ["--region_styles", "0,1,none"], ["style index"]),
                                 (three, ["--region_styles", "0,none"], [str(three), "2 --region_styles"])]:
        code = main(["--content_path", str(content), "--style_path", str(style), "--output_path",
                     str(tmp_path / "o.png"), "--image_size", "32", "--num_steps", "2", "--device", "cpu",
                     "--weights", "random", "--mask", str(mask), *extra])
        err = capsys.readouterr().err
        assert code == 2, err
        one_line_error(err, *needles)
    assert not (tmp_path / "o.png").exists()


def test_init_image_warm_start_and_never_overwritten(pics, tmp_path, capsys):
    content, style = pics
    base = ["--content_path", str(content), "--style_path", str(style), "--image_size", "32",
            "--device", "cpu", "--weights", "random", "--history"]
    first, again = tmp_path / "first.png", tmp_path / "again.png"
    assert main([*base, str(tmp_path / "a.json"), "--output_path", str(first), "--num_steps", "8"]) == 0
    before = sha(first)
    assert main([*base, str(tmp_path / "b.json"), "--output_path", str(again), "--num_steps", "1",
                 "--init_image", str(first)]) == 0
    a = json.loads((tmp_path / "a.json").read_text())["history"]["total"]
    b = json.loads((tmp_path / "b.json").read_text())["history"]["total"]
    assert b[0] < a[0]  # it starts where the first run ended, not from the content
    code = main([*base, str(tmp_path / "c.json"), "--output_path", str(first), "--num_steps", "1",
                 "--init_image", str(first)])
    assert code == 2 and sha(first) == before
    capsys.readouterr()
