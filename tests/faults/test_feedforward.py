"""Faults of the feed-forward commands (``train``, ``fast``, ``adain``, ``wct``, ``models``; issue 21,
items 7 to 9): extreme aspect ratios, broken checkpoints and model folders, resumes that do not fit
their checkpoint, models whose output is not finite, and the message of a non-finite training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from faults.kit import snapshot
from nstlib.core.errors import ConfigError
from nstlib.feedforward.adain import Decoder
from nstlib.feedforward.fast import MIN_SIDE, TransformerNet
from nstlib.feedforward.training import CHECKPOINT_FORMAT, read_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

#: a training run of a second or two: 32 px crops, one crop per step, a 4-channel network, random VGG
TINY = ("--crop", "32", "--batch_size", "1", "--width", "4", "--device", "cpu", "--weights", "random", "-q")


def tiny_model(path, kind: str = "fast", broken: bool = False):
    """A small untrained checkpoint of ``kind`` at ``path`` (NaN weights if ``broken``); returns the path."""
    torch.manual_seed(0)
    if kind == "fast":
        net = TransformerNet(width=4, n_residual=1)
        arch, state = net.arch, net.state_dict()
    elif kind == "adain":
        net = Decoder("relu4_1", 0.125)
        arch, state = {"level": "relu4_1", "width": 0.125}, net.state_dict()
    else:
        net = torch.nn.ModuleDict({"relu1_1": Decoder("relu1_1", 0.25)})
        arch, state = {"relu1_1": {"level": "relu1_1", "width": 0.25}}, net.state_dict()
    if broken:
        state = {k: v * float("nan") if v.is_floating_point() else v for k, v in state.items()}
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "kind": kind, "arch": arch, "meta": {"weights": "random"},
                           "state_dict": state, "step": 0})
    return path


def image(path, height: int, width: int):
    """A noise image of ``width`` × ``height`` px at ``path``."""
    rng = np.random.default_rng(height * 1000 + width)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def stylise(cli, kind: str, model, content, *extra):
    """``python -m nstlib KIND`` on ``content`` into out.png (a style image for adain and wct)."""
    style = ("--style_path", image("style_in.png", 24, 24)) if kind != "fast" else ()
    return cli(kind, "--model", model, "--content_path", content, *style, "--output_path", "out.png",
               "--device", "cpu", *extra)


# --------------------------------------------------------------------------------------------
# item 7: extreme aspect ratios


@pytest.mark.parametrize("side", range(1, 9))
def test_the_fast_network_names_a_side_too_small_instead_of_a_padding_error(side):
    net = TransformerNet(width=4, n_residual=1)
    x = torch.rand(1, 3, side, 12)
    if side < MIN_SIDE:
        with pytest.raises(ConfigError, match=f"12×{side} px is too small"):
            net.stylize(x)
    else:
        assert net.stylize(x).shape == x.shape


def test_fast_on_an_extreme_aspect_ratio_names_the_image_and_its_size(cli, tmp_path):
    model = tiny_model(tmp_path / "m.pt")
    thin = image(tmp_path / "thin.png", 2, 300)  # 300×2: a 30000×10 photo at any --image_size
    result = stylise(cli, "fast", model, thin, "--image_size", "300")
    assert result.code == 2
    result.one_line("thin.png", "300×2 px", f"at least {MIN_SIDE} px")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("kind", ["adain", "wct"])
def test_adain_and_wct_stylise_an_extreme_aspect_ratio(kind, cli, tmp_path):
    """Their padding falls back to edge replication where reflection cannot: no failure to fix."""
    model = tiny_model(tmp_path / "m.pt", kind)
    result = stylise(cli, kind, model, image(tmp_path / "thin.png", 2, 300), "--image_size", "300")
    assert result.code == 0, result.err
    assert Image.open(tmp_path / "out.png").size == (300, 2)


# --------------------------------------------------------------------------------------------
# item 7: checkpoints without (or with an unknown) kind or architecture; a bad file among the models


def _edit(entries: dict, change: str) -> dict:
    key, _, value = change.partition("=")
    out = dict(entries)
    if value:
        out[key] = {"{}": {"foo": 1}}.get(value, value)
    else:
        del out[key]
    return out


CHANGES = ["kind", "arch", "state_dict", "kind=bogus", "arch={}", "arch=text"]


@pytest.mark.parametrize("change", CHANGES)
def test_a_checkpoint_without_a_usable_kind_or_arch_is_named_in_one_line(change, cli, tmp_path):
    good = read_checkpoint(tiny_model(tmp_path / "good.pt"))
    torch.save(_edit(good, change), tmp_path / "odd.pt")
    result = stylise(cli, "fast", tmp_path / "odd.pt", image(tmp_path / "c.png", 20, 24))
    assert result.code == 2
    result.one_line("odd.pt", change.partition("=")[0] if change != "kind=bogus" else "bogus")


def test_models_lists_the_good_ones_and_names_each_unreadable_file(cli, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_model(folder / "good.pt")
    (folder / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save(_edit(read_checkpoint(folder / "good.pt"), "kind"), folder / "nokind.pt")
    monkeypatch.setenv("NSTLIB_MODELS", str(folder))
    result = cli("models")
    assert result.code == 0 and result.err == "", result.err
    heads = [ln for ln in result.out.splitlines() if not ln.startswith(" ")]  # one line per model
    assert len(heads) == 3
    assert heads[0].startswith("good: fast")
    assert heads[1].startswith("junk: unreadable: ") and "junk.pt" in heads[1]
    assert heads[2].startswith("nokind: unreadable: ") and "'kind'" in heads[2]


# --------------------------------------------------------------------------------------------
# items 7 and 8: resuming a checkpoint with fewer iterations or other settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step fast checkpoint ``m.pt`` (style a.png) in a folder, and the training command without
    ``--checkpoint``, ``--style_path`` and ``--iterations``."""
    from nstlib.cli import main

    root = tmp_path_factory.mktemp("trained")
    photos = root / "photos"
    photos.mkdir()
    for i in range(2):
        image(photos / f"{i}.png", 40, 48 + i)
    image(root / "a.png", 36, 36)
    image(root / "b.png", 36, 37)
    args = ["train", "fast", "--data", str(photos), *TINY]
    assert main([*args, "--checkpoint", str(root / "m.pt"), "--style_path", str(root / "a.png"),
                 "--iterations", "2"]) == 0
    return root, args


def test_resume_with_fewer_iterations_than_done_says_how_many_are_done(trained, cli):
    root, args = trained
    before = snapshot(root)
    result = cli(*args, "--checkpoint", root / "m.pt", "--style_path", root / "a.png", "--iterations", "1",
                 "--resume")
    assert result.code == 2 and result.out == ""
    result.one_line("m.pt", "2 steps done", "at least 2")
    assert snapshot(root) == before


@pytest.mark.parametrize("flag, value, needles", [
    ("--style_path", "b.png", ["styles", "a.png", "b.png"]),
    ("--crop", "48", ["crop 32", "crop 48"]),
    ("--batch_size", "2", ["batch_size 1", "batch_size 2"]),
    ("--style_weight", "5", ["style_weight 20000.0", "style_weight 5.0"]),
])
def test_resume_with_another_setting_is_refused_naming_both_values(flag, value, needles, trained, cli):
    root, args = trained
    before = snapshot(root)
    style = [] if flag == "--style_path" else ["--style_path", root / "a.png"]
    value = root / value if flag == "--style_path" else value
    result = cli(*args, "--checkpoint", root / "m.pt", *style, flag, value, "--iterations", "3", "--resume")
    assert result.code == 2 and result.out == ""
    result.one_line("m.pt", *needles)
    assert snapshot(root) == before


def test_resume_with_the_same_settings_continues(trained, cli, tmp_path):
    root, args = trained
    copy = tmp_path / "copy.pt"
    copy.write_bytes((root / "m.pt").read_bytes())
    result = cli(*args, "--checkpoint", copy, "--style_path", root / "a.png", "--iterations", "3", "--resume")
    assert result.code == 0, result.err
    assert read_checkpoint(copy)["step"] == 3


# --------------------------------------------------------------------------------------------
# item 8: a model whose output is not finite


@pytest.mark.parametrize("kind", ["fast", "adain", "wct"])
def test_a_model_with_non_finite_weights_writes_nothing_and_exits_1(kind, cli, tmp_path):
    model = tiny_model(tmp_path / "nan.pt", kind, broken=True)
    result = stylise(cli, kind, model, image(tmp_path / "c.png", 20, 24))
    assert result.code == 1
    result.one_line("nan.pt", "not finite", "nothing was written")
    assert not (tmp_path / "out.png").exists()


# --------------------------------------------------------------------------------------------
# item 9: the message after a non-finite training step is true whether a checkpoint was written or not


def test_a_non_finite_first_step_says_no_checkpoint_was_written(trained, cli, tmp_path):
    root, args = trained
    result = cli(*args, "--checkpoint", tmp_path / "n.pt", "--style_path", root / "a.png", "--iterations", "3",
                 "--style_weight", "1e308")
    assert result.code == 1
    line = result.one_line("step 1", "no checkpoint had been written")
    assert "holds" not in line and "last good weights" not in line
    assert not (tmp_path / "n.pt").exists()


def test_a_later_non_finite_step_names_the_step_the_checkpoint_holds(trained, cli, tmp_path):
    root, args = trained
    result = cli(*args, "--checkpoint", tmp_path / "n.pt", "--style_path", root / "a.png", "--iterations", "3",
                 "--learning_rate", "1e30", "--checkpoint_every", "1")
    assert result.code == 1
    line = result.one_line("step 2", "n.pt holds step 1")
    assert "no checkpoint" not in line
    assert read_checkpoint(tmp_path / "n.pt")["step"] == 1
