"""Region masks and guided Gram matrices against hand-made masks, naive loops and gradcheck.

All images are tiny (at most 64 px) so that the file runs in a second or two.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.autograd import gradcheck

from nstlib.core.losses import gram_matrix, style_loss
from nstlib.controls.masks import (
    MaskError,
    downsample_mask,
    guided_gram_matrix,
    guided_style_loss,
    load_mask,
    mask_to_rgb,
    masks_for_layers,
    masks_from_tensor,
    region_content_weights,
    style_targets_for_regions,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
BLACK = (0, 0, 0)


def quadrants(h: int, w: int, colors) -> np.ndarray:
    """An ``[h, w, 3]`` uint8 image: top-left, top-right, bottom-left, bottom-right colours."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = colors[0]
    a[: h // 2, w // 2 :] = colors[1]
    a[h // 2 :, : w // 2] = colors[2]
    a[h // 2 :, w // 2 :] = colors[3]
    return a


def quadrant_masks(h: int, w: int) -> torch.Tensor:
    """``[4, h, w]`` one-hot masks of the four quadrants, in the order of :func:`quadrants`."""
    m = torch.zeros(4, h, w)
    m[0, : h // 2, : w // 2] = 1
    m[1, : h // 2, w // 2 :] = 1
    m[2, h // 2 :, : w // 2] = 1
    m[3, h // 2 :, w // 2 :] = 1
    return m


def naive_guided_gram(f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """G[i, j] = Σ_p m(p)² f_i(p) f_j(p) / (C · Σ_p m(p)²) for f [C, H, W], m [H, W]; float64."""
    c, h, w = f.shape
    g = torch.zeros(c, c, dtype=torch.float64)
    mass = 0.0
    for y in range(h):
        for x in range(w):
            mass += float(m[y, x]) ** 2
    for i in range(c):
        for j in range(c):
            for y in range(h):
                for x in range(w):
                    g[i, j] += float(m[y, x]) ** 2 * float(f[i, y, x]) * float(f[j, y, x])
    return g / (c * mass)


# --------------------------------------------------------------------------------------------
# load_mask
# --------------------------------------------------------------------------------------------


def test_load_mask_four_colours_one_hot_sorted(tmp_path):
    path = tmp_path / "four.png"
    Image.fromarray(quadrants(24, 32, [RED, GREEN, BLUE, WHITE])).save(path)
    masks, colors = load_mask(path, (48, 64))  # upscaled 2× with NEAREST
    assert masks.shape == (4, 48, 64) and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(masks.sum(0), torch.ones(48, 64))
    # Detected colours are sorted by RGB value: blue < green < red < white.
    assert colors == [BLUE, GREEN, RED, WHITE]
    q = quadrant_masks(48, 64)  # red, green, blue, white quadrants
    assert torch.equal(masks, q[[2, 1, 0, 3]])


def test_load_mask_regions_follow_given_colors(tmp_path):
    path = tmp_path / "four.png"
    Image.fromarray(quadrants(24, 32, [RED, GREEN, BLUE, WHITE])).save(path)
    masks, colors = load_mask(path, (24, 32), colors=["#ffffff", (255, 0, 0), "#0f0", [0, 0, 255]])
    assert colors == [WHITE, RED, GREEN, BLUE]
    assert torch.equal(masks, quadrant_masks(24, 32)[[3, 0, 1, 2]])
    # mask_to_rgb redraws the file exactly.
    redrawn = (mask_to_rgb(masks, colors)[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(redrawn, quadrants(24, 32, [RED, GREEN, BLUE, WHITE]))


def test_nearest_resize_keeps_only_listed_colours(tmp_path):
    # 1-px stripes of three colours: any blending resize would create new colours here.
    rng = np.random.default_rng(0)
    palette = np.array([RED, GREEN, BLUE], np.uint8)
    labels = rng.integers(0, 3, size=(48, 64))
    path = tmp_path / "noise.png"
    Image.fromarray(palette[labels]).save(path)
    for size_hw in [(30, 40), (36, 48), (63, 84)]:  # down, down, up; same 4:3 aspect
        masks, colors = load_mask(path, size_hw, colors=[RED, GREEN, BLUE], edge_px=0, tolerance=0)
        assert set(masks.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(masks.sum(0), torch.ones(size_hw))
        h, w = size_hw
        expected = np.asarray(Image.fromarray(labels.astype(np.uint8)).resize((w, h), Image.NEAREST))
        assert torch.equal(masks.argmax(0), torch.from_numpy(expected.astype(np.int64)))


def test_unknown_colour_names_file_colour_and_count(tmp_path):
    path = tmp_path / "unknown.png"
    Image.fromarray(quadrants(24, 32, [RED, GREEN, BLUE, WHITE])).save(path)
    with pytest.raises(MaskError) as info:
        load_mask(path, (24, 32), colors=[RED, BLUE, WHITE])
    message = str(info.value)
    assert "unknown.png" in message and "#00ff00" in message
    # The green quadrant has 12·16 = 192 pixels; 3 px of its edge count as antialiasing.
    assert "192 of 768 pixels" in message
    with pytest.raises(MaskError, match="192 pixels in all"):
        load_mask(path, (24, 32), colors=[RED, BLUE, WHITE], edge_px=0)


def test_wrong_aspect_ratio_names_both_sizes(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(quadrants(48, 64, [RED, GREEN, BLUE, WHITE])).save(path)
    with pytest.raises(MaskError, match=r"wide\.png.*wrong size.*64x48.*48x48"):
        load_mask(path, (48, 48))
    # One pixel of rounding on the shorter side is not an aspect-ratio error (60x41 -> 64x43).
    Image.fromarray(quadrants(41, 60, [RED, GREEN, BLUE, WHITE])).save(tmp_path / "round.png")
    masks, _ = load_mask(tmp_path / "round.png", (43, 64))
    assert masks.shape == (4, 43, 64)


def test_jpeg_mask_snaps_to_given_colours(tmp_path):
    h, w = 48, 64
    path = tmp_path / "mask.jpg"
    Image.fromarray(quadrants(h, w, [RED, GREEN, BLUE, WHITE])).save(path, quality=75)  # 4:2:0 chroma
    decoded = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert len(np.unique(decoded.reshape(-1, 3), axis=0)) > 4  # JPEG really did add colours
    masks, colors = load_mask(path, (h, w), colors=[RED, GREEN, BLUE, WHITE])
    assert colors == [RED, GREEN, BLUE, WHITE]
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(masks.sum(0), torch.ones(h, w))
    expected = quadrant_masks(h, w)
    inner = torch.ones(h, w, dtype=torch.bool)  # away from the two borders, every pixel is right
    inner[h // 2 - 2 : h // 2 + 2] = False
    inner[:, w // 2 - 2 : w // 2 + 2] = False
    assert torch.equal(masks[:, inner], expected[:, inner])
    assert (masks.argmax(0) == expected.argmax(0)).float().mean() > 0.99
    # Without colors, the JPEG edge colours are too rare to be regions: a hint, not 200 regions.
    with pytest.raises(MaskError, match=r"mask\.jpg.*antialiasing or as JPEG.*colors="):
        load_mask(path, (h, w))


def test_load_mask_bad_inputs(tmp_path):
    with pytest.raises(MaskError, match="missing.png.*does not exist"):
        load_mask(tmp_path / "missing.png", (8, 8))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(MaskError, match="text.png"):
        load_mask(tmp_path / "text.png", (8, 8))
    Image.fromarray(quadrants(8, 8, [RED, GREEN, BLUE, WHITE])).save(tmp_path / "ok.png")
    with pytest.raises(MaskError, match="'#ggg000'"):
        load_mask(tmp_path / "ok.png", (8, 8), colors=["#ggg000"])
    with pytest.raises(MaskError, match="twice: #ff0000"):
        load_mask(tmp_path / "ok.png", (8, 8), colors=[RED, "#FF0000"])
    with pytest.raises(MaskError, match="size_hw"):
        load_mask(tmp_path / "ok.png", (8, 0))


# --------------------------------------------------------------------------------------------
# masks_from_tensor and downsample_mask
# --------------------------------------------------------------------------------------------


def test_masks_from_tensor_errors_name_shapes_and_values():
    with pytest.raises(MaskError, match=r"\(3, 10, 12\).*10x14"):
        masks_from_tensor(torch.zeros(3, 10, 12), (10, 14))
    with pytest.raises(MaskError, match=r"\(10, 12\).*\(10, 14\)"):
        masks_from_tensor(torch.zeros(10, 12), (10, 14))
    with pytest.raises(MaskError, match="from -0.5 to 1"):
        masks_from_tensor(torch.tensor([[[1.0, -0.5]]]), (1, 2))
    with pytest.raises(MaskError, match="to 2"):
        masks_from_tensor(torch.tensor([[0.0, 2.0]]), (1, 2))
    with pytest.raises(MaskError, match="NaN"):
        masks_from_tensor(torch.tensor([[[float("nan"), 0.0]]]), (1, 2))
    with pytest.raises(MaskError, match="shape"):
        masks_from_tensor(torch.zeros(1, 2, 3, 4), (3, 4))


def test_masks_from_tensor_single_region_and_normalisation():
    region = torch.tensor([[True, False], [False, True]])
    out = masks_from_tensor(region, (2, 2))
    assert torch.equal(out, torch.stack([region.float(), 1 - region.float()]))
    soft = torch.tensor([[[0.5, 0.2, 0.0]], [[0.5, 0.6, 0.0]]])  # pixel 3 is in no region
    out = masks_from_tensor(soft, (1, 3))
    torch.testing.assert_close(out, torch.tensor([[[0.5, 0.25, 0.0]], [[0.5, 0.75, 0.0]]]))


def test_downsample_mask_shapes_values_and_partition():
    torch.manual_seed(0)
    labels = torch.randint(0, 3, (48, 64))
    labels[:24, :32] = 0  # a big solid block as well as noise
    mask = torch.nn.functional.one_hot(labels, 3).permute(2, 0, 1).float()  # [3, 48, 64]
    for d in (1, 2, 4, 8, 16):
        small = downsample_mask(mask, (48 // d, 64 // d))
        assert small.shape == (3, 48 // d, 64 // d)
        assert small.min() >= 0 and small.max() <= 1
        torch.testing.assert_close(small.sum(0), torch.ones(48 // d, 64 // d))
        # Area averaging: each cell is the mean of its d×d block.
        torch.testing.assert_close(small, torch.nn.functional.avg_pool2d(mask[None], d)[0])
    assert torch.equal(downsample_mask(mask, (48, 64)), mask)
    # Hand-sized: a 2×2 block [[1, 0], [1, 1]] averages to 0.75.
    tiny = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    assert downsample_mask(tiny, (1, 1)).item() == 0.75
    # Layer sizes floor like VGG's 2×2 poolings: a 38×50 image gives conv5_1 at 2×3.
    layers = ["conv1_1", "relu2_1", "conv3_1", "conv4_1", "conv5_1"]
    per_layer = masks_for_layers(torch.ones(2, 38, 50), layers)
    shapes = {k: tuple(v.shape[-2:]) for k, v in per_layer.items()}
    assert list(shapes.values()) == [(38, 50), (19, 25), (9, 12), (4, 6), (2, 3)]
    assert list(shapes) == layers


# --------------------------------------------------------------------------------------------
# Guided Gram matrices and loss
# --------------------------------------------------------------------------------------------


def test_all_ones_region_equals_gram_matrix():
    torch.manual_seed(0)
    f = torch.randn(2, 8, 6, 7)
    for features in (f, f.contiguous(memory_format=torch.channels_last)):
        g = guided_gram_matrix(features, torch.ones(1, 6, 7))
        assert g.shape == (2, 1, 8, 8)
        torch.testing.assert_close(g[:, 0], gram_matrix(features), rtol=1e-6, atol=1e-7)
    # The normalisation by Σ m² makes a constant mask of any level give the same matrix.
    half = guided_gram_matrix(f, torch.full((1, 6, 7), 0.5))
    torch.testing.assert_close(half, guided_gram_matrix(f, torch.ones(1, 6, 7)))


def test_guided_gram_matches_naive_loop_two_regions():
    torch.manual_seed(1)
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    m0 = torch.rand(4, 5, dtype=torch.float64)
    mask = torch.stack([m0, 1 - m0])  # soft, two regions
    g = guided_gram_matrix(f, mask)
    assert g.shape == (2, 2, 3, 3)
    for b in range(2):
        for r in range(2):
            torch.testing.assert_close(g[b, r], naive_guided_gram(f[b], mask[r]), rtol=1e-12, atol=1e-12)
    # A per-image mask [B, R, H, W] is used image by image.
    g2 = guided_gram_matrix(f, torch.stack([mask, mask.flip(0)]))
    torch.testing.assert_close(g2[1, 0], naive_guided_gram(f[1], mask[1]))
    with pytest.raises(MaskError, match=r"\(2, 3, 5\).*\(2, 3, 4, 5\).*downsample"):
        guided_gram_matrix(f, mask[:, :3])


def test_empty_region_gives_zero_gram_and_zero_loss():
    torch.manual_seed(2)
    f = torch.randn(1, 4, 5, 6, requires_grad=True)
    mask = torch.stack([torch.zeros(5, 6), torch.ones(5, 6)])
    g = guided_gram_matrix(f, mask)
    assert torch.equal(g[:, 0], torch.zeros(1, 4, 4)) and torch.isfinite(g).all()
    target = torch.zeros(1, 2, 4, 4)
    target[:, 1] = gram_matrix(f.detach())
    loss = guided_style_loss(f, target, mask)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(f.grad).all() and torch.equal(f.grad, torch.zeros_like(f))


def test_guided_style_loss_matches_style_loss_for_one_full_region():
    torch.manual_seed(3)
    f, target = torch.randn(1, 5, 6, 4), torch.randn(1, 5, 5)
    loss = guided_style_loss(f, target[:, None], torch.ones(1, 6, 4))
    torch.testing.assert_close(loss, style_loss(f, target))


def test_guided_style_loss_gradcheck_float64():
    torch.manual_seed(4)
    f = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    m0 = torch.rand(4, 5, dtype=torch.float64)
    mask = torch.stack([m0, 1 - m0])
    target = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    assert gradcheck(lambda x: guided_style_loss(x, target, mask, [1.0, 0.5]), (f,))


def test_gradient_is_exactly_zero_outside_styled_regions():
    torch.manual_seed(5)
    f = torch.randn(1, 4, 6, 8, requires_grad=True)
    mask = torch.zeros(3, 6, 8)
    mask[0, :, :3] = 1.0  # styled
    mask[1, :, 3:5] = 1.0  # weight 0: kept unstylised
    mask[2, :, 5:] = 1.0  # target None: kept unstylised
    targets = [torch.randn(1, 4, 4), torch.randn(1, 4, 4), None]
    loss = guided_style_loss(f, targets, mask, region_weights=[2.0, 0.0, 1.0])
    loss.backward()
    assert torch.equal(f.grad[..., 3:], torch.zeros(1, 4, 6, 5))
    assert (f.grad[..., :3] != 0).float().mean() > 0.9
    # The unstylised regions do not enter the value either.
    expected = 2.0 * style_loss(f[..., :3], targets[0])
    torch.testing.assert_close(loss, expected)
    # Nothing styled at all: a constant zero.
    assert guided_style_loss(f, targets, mask, [0.0, 0.0, 0.0]).item() == 0.0


def test_guided_style_loss_argument_errors():
    f = torch.randn(1, 2, 3, 3)
    mask = torch.ones(2, 3, 3) / 2
    with pytest.raises(MaskError, match=r"\(1, 3, 2, 2\).*2 mask region"):
        guided_style_loss(f, torch.zeros(1, 3, 2, 2), mask)
    with pytest.raises(MaskError, match="region_weights has 3"):
        guided_style_loss(f, torch.zeros(1, 2, 2, 2), mask, [1.0, 1.0, 1.0])
    with pytest.raises(MaskError, match="-1"):
        guided_style_loss(f, torch.zeros(1, 2, 2, 2), mask, [1.0, -1.0])


# --------------------------------------------------------------------------------------------
# Targets and helpers
# --------------------------------------------------------------------------------------------


def test_style_targets_for_regions():
    torch.manual_seed(6)
    style_a = {"conv1_1": torch.rand(1, 3, 8, 10), "conv2_1": torch.rand(1, 5, 4, 5)}
    style_b = {"conv1_1": torch.rand(1, 3, 6, 6), "conv2_1": torch.rand(1, 5, 3, 3)}
    left = torch.zeros(8, 10)
    left[:, :5] = 1.0  # region 1 uses only the left half of style A
    layers = ["conv1_1", "conv2_1"]
    targets = style_targets_for_regions([style_a, style_a, style_b], [None, left, None], layers)
    for layer, c in (("conv1_1", 3), ("conv2_1", 5)):
        t = targets[layer]
        assert t.shape == (1, 3, c, c) and not t.requires_grad
        torch.testing.assert_close(t[:, 0], gram_matrix(style_a[layer]))
        torch.testing.assert_close(t[:, 2], gram_matrix(style_b[layer]))
    # The left half of style A, as a plain Gram matrix of the cropped features.
    torch.testing.assert_close(targets["conv1_1"][:, 1], gram_matrix(style_a["conv1_1"][..., :5]))
    # At conv2_1 the mask is downsampled to 4×5: columns 0–1 inside, column 2 half, 3–4 outside.
    half = downsample_mask(left[None], (4, 5))
    assert half[0, 0].tolist() == [1.0, 1.0, 0.5, 0.0, 0.0]
    torch.testing.assert_close(targets["conv2_1"][:, 1], guided_gram_matrix(style_a["conv2_1"], half)[:, 0])
    with pytest.raises(MaskError, match="region 1 is empty"):
        style_targets_for_regions([style_a, style_a], [None, torch.zeros(8, 10)], ["conv1_1"])
    with pytest.raises(MaskError, match="region 0 have no layer 'conv3_1'"):
        style_targets_for_regions([style_a], [None], ["conv3_1"])
    with pytest.raises(MaskError, match="2 entries.*1"):
        style_targets_for_regions([style_a], [None, None], ["conv1_1"])


def test_region_content_weights_and_mask_to_rgb():
    mask = torch.tensor([[[1.0, 0.0, 0.5]], [[0.0, 1.0, 0.5]]])  # [2, 1, 3]
    w = region_content_weights(mask, [1.0, 10.0])
    assert w.shape == (1, 1, 1, 3)
    assert w.flatten().tolist() == [1.0, 10.0, 5.5]
    rgb = mask_to_rgb(mask, ["#ff0000", (0, 0, 255)])
    assert rgb.shape == (1, 3, 1, 3)
    assert rgb[0, :, 0, 2].tolist() == [0.5, 0.0, 0.5]
    with pytest.raises(MaskError, match="1 colour"):
        mask_to_rgb(mask, ["#ff0000"])
