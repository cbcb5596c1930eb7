"""Tiled Gatys (global Gram matrices over overlapping tiles), checkpointing, the seam detector, --tile."""

import json
import math
import sys

import numpy as np

import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from nstlib.core.assets import default_content, default_style
from nstlib.cli import main
from nstlib.core.features import VGGFeatures, receptive_field
from nstlib.core.images import load_image
from nstlib.core.losses import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.scale.tiling import (
    SEAM_THRESHOLD,
    plan_tiles,
    receptive_margin,
    saved_bytes_per_pixel,
    seam_score,
    tiled_loss_and_grad,
)
from nstlib.gatys.tiled import naive_tiles, stylize_tiled
from nstlib.core.config import Config
from nstlib.core.errors import ConfigError
from nstlib.gatys.transfer import stylize

pytestmark = pytest.mark.usefixtures("one_thread")

# Shallow layers, so that 64-px tiles can hold their receptive field: conv3_1 sees 24 px (a
# margin of 13 px from a tile edge, receptive_margin), so an overlap of 32 >= 2 · 13 is exact.
CONTENT = ("conv2_2",)
STYLE = ("conv1_1", "conv2_1", "conv3_1")
SHALLOW = dict(content_layers=CONTENT, style_layers=STYLE, weights="random", device="cpu", tv_weight=1e-3)


def images(h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    content = torch.rand(1, 3, h, w, generator=gen)
    style = torch.rand(1, 3, 80, 72, generator=gen)
    image = (content + 0.1 * torch.randn(content.shape, generator=gen)).clamp(0, 1)
    return image, content, style


def whole_image_loss_and_grad(image, content, style, weights=(1.0, 1e6, 1e-3)):
    """The reference, written out from the losses directly: one pass over the whole image."""
    alpha, beta, gamma = weights
    net = VGGFeatures([*CONTENT, *STYLE], weights="random")
    x = image.clone().requires_grad_(True)
    with torch.no_grad():
        fc, fs = net(content), net(style)
    f = net(x)
    c = sum(content_loss(f[n], fc[n]) for n in CONTENT)
    per_layer = {n: beta * style_loss(f[n], gram_matrix(fs[n])) for n in STYLE}
    t = gamma * tv_loss(x)
    total = alpha * c + sum(per_layer.values()) + t
    total.backward()
    terms = {"total": total.item(), "content": alpha * c.item(), "tv": t.item(),
             **{f"style/{n}": v.item() for n, v in per_layer.items()}}
    return terms, x.grad


def test_receptive_field_by_hand_and_by_gradient():
    assert [receptive_field(n) for n in ("conv1_1", "conv2_1", "conv3_1", "conv4_2", "conv5_1")] == [
        (3, 1), (10, 2), (24, 4), (84, 8), (156, 16)]
    assert receptive_margin(STYLE) == 13 and receptive_margin(["conv5_1", "conv1_1"]) == 85
    # the gradient of one conv3_1 cell reaches exactly 24 pixels of the input along each axis
    net = VGGFeatures(["conv3_1"], weights="random")
    x = torch.rand(1, 3, 48, 48, requires_grad=True)
    net(x)["conv3_1"][0, :, 6, 6].sum().backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    assert (rows.min().item(), rows.max().item()) == (4 * 6 - 10, 4 * 6 + 3 + 10)


@pytest.mark.parametrize("h,w", [(96, 128), (90, 124)])
def test_tiled_loss_and_gradient_equal_the_whole_image(h, w):
    image, content, style = images(h, w)
    terms, grad = tiled_loss_and_grad(image, content, style, tile=64, overlap=32, **SHALLOW)
    ref, ref_grad = whole_image_loss_and_grad(image, content, style)
    for key, value in ref.items():
        assert terms[key] == pytest.approx(value, rel=1e-5), key
    assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5 * ref_grad.abs().max().item())
    plan = plan_tiles(h, w, 64, 32, (*CONTENT, *STYLE))
    assert plan.exact and len(plan) == 6


def test_an_overlap_below_the_receptive_field_is_not_exact():
    """The same check fails when the overlap (24 px) is below twice the margin (26 px)."""
    image, content, style = images(96, 128)
    assert not plan_tiles(96, 128, 64, 24, (*CONTENT, *STYLE)).exact
    _, grad = tiled_loss_and_grad(image, content, style, tile=64, overlap=24, **SHALLOW)
    _, ref_grad = whole_image_loss_and_grad(image, content, style)
    with pytest.raises(AssertionError):
        assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5 * ref_grad.abs().max().item())
    assert (grad - ref_grad).norm() / ref_grad.norm() < 0.05  # but close: the error is at the borders


@pytest.mark.parametrize("tile,overlap", [(64, 32), (64, 8), (48, 16)])
def test_windows_add_up_to_one_and_blend_smoothly(tile, overlap):
    plan = plan_tiles(150, 200, tile, overlap, ["conv1_1", "conv3_1"])
    total = torch.zeros(150, 200)
    for t in plan:
        assert t.top % plan.align == 0 and t.left % plan.align == 0  # pooling grids align
        assert t.bottom - t.top >= min(tile, 150)
        total[t.top:t.bottom, t.left:t.right] += t.weight[0, 0]
        if not plan.exact:  # raised-cosine ramps: no jump larger than a small fraction of 1
            assert t.weight.diff(dim=-1).abs().max() < 0.5 and t.weight.diff(dim=-2).abs().max() < 0.5
    assert_close(total, torch.ones(150, 200))
    if plan.exact:  # zero within the receptive margin of every inner tile edge
        first = next(iter(plan))
        assert first.weight[0, 0, :, -plan.margin:].abs().max() == 0


def test_checkpointing_gives_the_same_gradient_and_keeps_fewer_bytes():
    net = VGGFeatures(["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"], weights="random")
    image = torch.rand(1, 3, 48, 64)
    grads = []
    for checkpoint in (False, True):
        x = image.clone().requires_grad_(True)
        sum(gram_matrix(f).square().sum() for f in net(x, checkpoint=checkpoint).values()).backward()
        grads.append(x.grad)
    assert_close(grads[1], grads[0])
    plain = saved_bytes_per_pixel(weights="random", device="cpu")
    checkpointed = saved_bytes_per_pixel(weights="random", device="cpu", checkpointing=True)
    assert 1400 < plain < 1700  # nstlib.scale.memory counts 1532 B/px for VGG19 to conv5_1, + conv4_2's content loss
    assert checkpointed < 0.55 * plain
    # and through the tiled loss
    image, content, style = images(64, 96)
    _, g0 = tiled_loss_and_grad(image, content, style, tile=64, overlap=32, **SHALLOW)
    _, g1 = tiled_loss_and_grad(image, content, style, tile=64, overlap=32, checkpointing=True, **SHALLOW)
    assert_close(g1, g0)


def test_seam_detector_flags_independent_tiles_and_passes_blended_ones():
    content = load_image(default_content(), 96)[..., :64, :96]
    style = load_image(default_style(), 64)
    kw = dict(content_layers=("conv3_1",), style_layers=STYLE, style_weight=1e7, num_steps=30, device="cpu")
    naive, rows, cols = naive_tiles(content, style, 32, **kw)
    assert (rows, cols) == ([32], [32, 64])
    tiled = stylize_tiled(content, style, tile=48, overlap=16, progress=False, **kw)
    plan = plan_tiles(64, 96, 48, 16, ("conv3_1", *STYLE))
    assert not plan.exact  # blended, not exact: the windows must hide the tile edges
    assert seam_score(naive, rows, cols) > SEAM_THRESHOLD
    assert seam_score(tiled.image, rows, cols) < 1.5
    assert seam_score(tiled.image, *plan.borders()) < 1.5
    # an artificial step of 0.1 along one column is flagged on a smooth image
    smooth = content.clone()
    assert seam_score(smooth, cols=[40]) < 1.5
    smooth[..., 40:] = (smooth[..., 40:] + 0.1).clamp(0, 1)
    assert seam_score(smooth, cols=[40]) > SEAM_THRESHOLD


def test_stylize_tiled_with_scales_runs_coarse_whole_and_fine_in_tiles():
    content = load_image(default_content(), 80)
    style = load_image(default_style(), 64)
    calls = []
    result = stylize_tiled(content, style, None, lambda info: calls.append(info.image.shape), tile=48, overlap=16,
                           scales=(40, 80), num_steps=6, device="cpu", progress=False)
    assert result.image.shape == content.shape and result.evaluations == 6
    assert result.history["size"] == [40.0] * 3 + [80.0] * 3
    assert calls[-1] == content.shape and result.status == "done"
    assert math.isfinite(result.final_loss) and result.config.tile == 48
    # the whole-image result of the same run lands close (the overlap is far below conv5_1's field)
    whole = stylize(content, style, scales=(40, 80), num_steps=6, device="cpu", progress=False)
    assert result.final_loss == pytest.approx(whole.final_loss, rel=0.15)


def test_bad_input_names_the_value():
    image, content, style = images(64, 64)
    with pytest.raises(ValueError, match=r"tile_overlap \(64 px\) must be at most half the tile \(64 px\)"):
        Config(tile=64, tile_overlap=64)
    with pytest.raises(ValueError, match="tile must be None or a side of at least 32 px, got 8"):
        Config(tile=8)
    with pytest.raises(ValueError, match="tile_overlap must be an integer >= 0, got -1"):
        Config(tile=64, tile_overlap=-1)
    with pytest.raises(ValueError, match="tile 24 px is too small for conv5_1: tiles must be at least 32 px"):
        plan_tiles(100, 100, 24, 8, ["conv5_1"])
    with pytest.raises(ValueError, match="overlap"):
        plan_tiles(100, 100, 64, 40, ["conv1_1"])
    bad = content.clone()
    bad[0, 1, 3, 4] = math.nan
    with pytest.raises(ValueError, match="content image has non-finite"):
        tiled_loss_and_grad(image, bad, style, tile=32, overlap=8, **SHALLOW)
    with pytest.raises(ValueError, match="non-finite"):
        stylize_tiled(bad, style, tile=32, overlap=8, num_steps=1, progress=False, **SHALLOW)
    with pytest.raises(ConfigError, match="tile=32 does not combine with photo_weight"):
        stylize_tiled(content, style, tile=32, overlap=8, photo_weight=1.0, progress=False, **SHALLOW)
    with pytest.raises(ValueError, match="border 70"):
        seam_score(image, cols=[70])


def test_cli_tile_flags(tmp_path, capsys):
    rng = np.random.default_rng(0)
    content, style, out = tmp_path / "c.png", tmp_path / "s.png", tmp_path / "out" / "big.png"
    Image.fromarray(rng.integers(0, 255, (48, 72, 3), dtype=np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(style)
    base = ["--content_path", str(content), "--style_path", str(style), "--output_path", str(out),
            "--image_size", "72", "--num_steps", "2", "--device", "cpu", "--quiet"]
    code = main([*base, "--tile", "48", "--tile_overlap", "16", "--checkpointing"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == "" and Image.open(out).size == (72, 48)
    out.unlink()
    code = main([*base, "--tile", "48", "--tile_overlap", "30"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and "tile_overlap (30 px)" in err
    with pytest.raises(SystemExit) as stop:  # argparse's own check: one line, exit status 2
        main([*base, "--tile", "-4"])
    assert stop.value.code == 2 and "--tile: '-4'" in capsys.readouterr().err


def test_tilebench_previews_shrink_the_whole_and_crop_the_centre_at_full_scale(tmp_path):
    from nstlib.bench.tiling import previews

    rows = torch.arange(300, dtype=torch.float32).view(1, 1, 300, 1).expand(1, 3, 300, 400) / 299
    overview, crop = (Image.open(p) for p in previews(rows, str(tmp_path / "big.png"), overview=100, crop=(20, 40)))
    assert overview.size == (100, 75) and crop.size == (40, 20)
    values = np.asarray(crop.convert("L"), dtype=np.float64)[:, 0]
    assert np.allclose(values, np.arange(140, 160) / 299 * 255, atol=1.5)  # rows 140-159, unscaled


def test_tilebench_largest_plans_within_the_budget_and_runs_small(tmp_path, capsys):
    from nstlib.bench.tiling import GIB, largest
    from nstlib.bench.tiling import main as tilebench

    info = largest(None, 1.0, 64, 16, 4, 10, str(tmp_path / "unused.png"), "cpu", False, dry_run=True)

    def used(side):
        return side * side * 2 / 3 * info["host_bytes_per_pixel"] + info["tile_mib"] * 2**20

    assert used(info["side"]) <= GIB < used(info["side"] + 1)
    assert 1500 < info["side"] < 3000  # about 380 B/px with history 10: 2.8 MP in 1 GiB
    runs = {}
    for coarse in ("0", "48"):
        out = tmp_path / f"largest{coarse}.png"
        assert tilebench(["--largest", "--side", "96", "--tile", "64", "--overlap", "16", "--steps", "2",
                          "--coarse", coarse, "--coarse_steps", "12", "--output", str(out), "--device", "cpu"]) == 0
        assert Image.open(out).size == (96, 64)
        runs[coarse] = json.loads(capsys.readouterr().out)
    cold, warm = runs["0"], runs["48"]
    assert cold["coarse"] is None and warm["coarse"]["side"] == 48 and warm["coarse"]["evaluations"] == 12
    assert warm["evaluations"] == 2 and len(warm["losses"]) == 2
    if sys.platform.startswith("linux"):  # the full-size stage's own peak, from a reset VmHWM
        assert 0 <= warm["stage_added_mib"] <= warm["peak_rss_mib"]
        assert warm["model_bytes_per_pixel_no_history"] == pytest.approx(info["host_bytes_per_pixel"] - 2 * 10 * 12)
    overview, crop = (Image.open(p) for p in warm["previews"])
    assert overview.size == (96, 64) and crop.size == (96, 64)  # smaller than 1024 and 768x512: whole
    # the warm start (a 48-px transfer, upsampled) begins the full size far below the content photo
    assert warm["losses"][0] < 0.5 * cold["losses"][0]
    # one L-BFGS pair of the 10 filled: 9 more pairs of two 96x64 RGB float32 vectors
    extra = warm["peak_with_full_history_mib"] - warm["peak_rss_mib"]
    assert extra == pytest.approx(9 * 2 * 3 * 96 * 64 * 4 / 2**20)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="autocast is used on CUDA only")
def test_amp_on_cuda_keeps_the_gram_matrices_in_float32():
    from nstlib.core.features import get_extractor, run_extractor

    config = Config(amp=True, device="cuda", weights="random", content_layers=CONTENT, style_layers=STYLE)
    net = get_extractor(tuple(dict.fromkeys((*CONTENT, *STYLE))), "random", "max", "cuda", 0)
    feats = run_extractor(net, torch.rand(1, 3, 64, 64, device="cuda"), config)
    assert feats["conv1_1"].dtype == torch.float16 and gram_matrix(feats["conv1_1"]).dtype == torch.float32
    image, content, style = images(64, 96)
    _, g_amp = tiled_loss_and_grad(image, content, style, config, tile=64, overlap=32, tv_weight=1e-3)
    _, g32 = tiled_loss_and_grad(image, content, style, config, tile=64, overlap=32, amp=False, tv_weight=1e-3)
    assert (g_amp - g32).norm() / g32.norm() < 0.05


def test_weighted_gram_matrix_by_hand_and_gradcheck():
    gen = torch.Generator().manual_seed(3)
    f = torch.rand(1, 4, 5, 6, generator=gen, dtype=torch.float64)
    w = torch.rand(1, 1, 5, 6, generator=gen, dtype=torch.float64)
    flat = f.reshape(4, 30)
    by_hand = (flat * w.reshape(1, 30)) @ flat.T / (4 * 5 * 6)
    assert_close(gram_matrix(f, w)[0], by_hand)
    assert_close(gram_matrix(f, torch.ones_like(w)), gram_matrix(f))
    x = f.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: gram_matrix(t, w), (x,))
    assert torch.autograd.gradgradcheck(lambda t: gram_matrix(t, w), (x,))
