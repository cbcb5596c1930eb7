"""The helpers of notebooks 01 and 02: feature grids, preprocessing, patch shuffles, Gram plots."""

import math

import pytest
import torch
from matplotlib.figure import Figure

from pathlib import Path

from nstlib import VGGFeatures, gram_matrix
from nstlib.course.visualize import (
    PREPROCESSINGS,
    crop_to_multiple,
    feature_correlations,
    feature_grid,
    features_of_network_input,
    gram_heatmaps,
    layer_bars,
    mean_pairwise_cosine,
    mean_responses,
    network_input,
    patch_shuffle,
    patch_shuffle_sweep,
    plot_curves,
    plot_patch_sweep,
    relative_difference,
    shuffle_positions,
    top_channels,
    torchvision_weights_file,
)


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(0)
    return torch.rand(1, 3, 32, 48)


@pytest.fixture(scope="module")
def caffe():
    return VGGFeatures(["conv1_1", "conv2_1"], weights="caffe", calibrate=False)


# --- feature maps -----------------------------------------------------------------------------


def test_top_channels_orders_by_mean_and_breaks_ties_by_index():
    f = torch.zeros(1, 5, 2, 2)
    f[0, 3] = 4.0
    f[0, 1] = 2.0
    f[0, 4] = 2.0
    assert top_channels(f, 3) == [3, 1, 4]
    assert top_channels(f[0], 1) == [3]
    with pytest.raises(ValueError, match="between 1 and"):
        top_channels(f, 6)
    with pytest.raises(ValueError, match="one feature map"):
        top_channels(torch.zeros(2, 5, 2, 2))


def test_mean_responses_and_correlations():
    a = {"x": torch.tensor([[[[1.0, 2.0, 3.0]]]])}
    b = {"x": torch.tensor([[[[10.0, 20.0, 30.0]]]])}
    c = {"x": torch.tensor([[[[3.0, 2.0, 1.0]]]])}
    assert mean_responses(a) == {"x": 2.0}
    assert feature_correlations(b, a)["x"] == pytest.approx(1.0)
    assert feature_correlations(c, a)["x"] == pytest.approx(-1.0)
    assert math.isnan(feature_correlations({"x": torch.ones(1, 1, 1, 3)}, a)["x"])


def test_network_input_caffe_is_what_vggfeatures_does(image, caffe):
    torch.testing.assert_close(network_input(image, "caffe"), caffe.normalize(image), rtol=0, atol=1e-4)
    # the wrong ones: no flip, another scale, nothing at all
    torch.testing.assert_close(network_input(image, "rgb_255"), caffe.normalize(image).flip(1), rtol=0, atol=1e-4)
    assert torch.equal(network_input(image, "rgb_01"), image)
    imagenet = VGGFeatures(["conv1_1"], weights="random")  # torchvision's normalisation
    torch.testing.assert_close(network_input(image, "imagenet"), imagenet.normalize(image))
    assert set(PREPROCESSINGS) == {"caffe", "rgb_255", "imagenet", "rgb_01"}
    with pytest.raises(ValueError, match="unknown preprocessing"):
        network_input(image, "bgr")


def test_features_of_network_input_skips_normalisation(image, caffe):
    expected = caffe(image)
    got = features_of_network_input(caffe, caffe.normalize(image))
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-3)
    # feeding [0, 1] RGB straight in gives much weaker responses
    wrong = features_of_network_input(caffe, image)
    assert wrong["conv2_1"].mean() < 0.2 * expected["conv2_1"].mean()


def test_feature_grid_draws_one_row_per_layer(image, caffe):
    feats = caffe(image)
    fig = feature_grid(feats, 3, image=image, title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 4
    assert "conv2_1" in fig.axes[4].get_ylabel() and "1/2" in fig.axes[4].get_ylabel()
    assert "24×16" in fig.axes[4].get_ylabel()
    assert fig._nstlib_photos  # a picture grid: course.setup shows it as JPEG
    chosen = {"conv1_1": [0, 1, 2], "conv2_1": [5, 6, 7]}
    fig = feature_grid(feats, 3, channels=chosen)
    assert fig.axes[3].get_title().startswith("ch 5,")
    with pytest.raises(ValueError, match="channels given"):
        feature_grid(feats, 2, channels=chosen)


def test_layer_bars_log_axis():
    fig = layer_bars({"raw": {"a": 10.0, "b": 300.0}, "calibrated": {"a": 0.5, "b": 0.7}}, reference=1.0, title="x")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert len(ax.patches) == 4


def test_torchvision_weights_file_is_in_the_torch_hub_cache():
    path = torchvision_weights_file()
    assert path.name == "vgg19-dcbb9e9d.pth"
    assert path.parent == Path(torch.hub.get_dir()) / "checkpoints"


# --- patches and positions --------------------------------------------------------------------


def test_crop_to_multiple_centres():
    x = torch.arange(7 * 10.0).view(1, 1, 7, 10)
    y = crop_to_multiple(x, 4)
    assert y.shape == (1, 1, 4, 8)
    assert torch.equal(y, x[..., 1:5, 1:9])
    with pytest.raises(ValueError, match="no 8×8 patch"):
        crop_to_multiple(x, 8)


def test_patch_shuffle_moves_whole_patches():
    x = torch.arange(2 * 3 * 8 * 12.0).view(2, 3, 8, 12)
    y = patch_shuffle(x, 4, seed=1)
    assert y.shape == x.shape and not torch.equal(x, y)
    # the same pixels, and every 4×4 tile of y is a tile of x (in every channel and image alike)
    assert torch.equal(y.flatten().sort().values, x.flatten().sort().values)
    tiles_x = {tuple(x[:, :, i : i + 4, j : j + 4].flatten().tolist()) for i in range(0, 8, 4) for j in range(0, 12, 4)}
    tiles_y = {tuple(y[:, :, i : i + 4, j : j + 4].flatten().tolist()) for i in range(0, 8, 4) for j in range(0, 12, 4)}
    assert tiles_x == tiles_y
    assert torch.equal(patch_shuffle(x, 4, seed=1), y)  # reproducible
    assert not torch.equal(patch_shuffle(x, 4, seed=2), y)


def test_patch_shuffle_edge_cases():
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(patch_shuffle(x, 6), x)  # one tile: nothing moves
    y = patch_shuffle(x, 1, seed=3)  # single pixels: a pixel permutation, shared by the channels
    assert torch.equal(y.flatten(2).sort(dim=2).values, x.flatten(2).sort(dim=2).values)
    with pytest.raises(ValueError, match="crop_to_multiple"):
        patch_shuffle(x, 4)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        patch_shuffle(x[0], 2)


def test_gram_of_shuffled_positions_is_unchanged():
    torch.manual_seed(4)
    f = torch.rand(1, 16, 9, 7, dtype=torch.float64)
    g = shuffle_positions(f, seed=5)
    assert not torch.equal(f, g)
    assert torch.equal(f.flatten(2).sort(dim=2).values, g.flatten(2).sort(dim=2).values)
    assert relative_difference(gram_matrix(g), gram_matrix(f)) < 1e-14
    with pytest.raises(ValueError):
        shuffle_positions(f[0])


def test_relative_difference_and_cosine():
    a = torch.tensor([3.0, 4.0])
    assert relative_difference(a, a) == 0.0
    assert relative_difference(torch.tensor([3.0, 5.0]), a) == pytest.approx(1 / 5)
    assert relative_difference(torch.zeros(2), torch.zeros(2)) == 0.0
    assert relative_difference(torch.ones(2), torch.zeros(2)) == math.inf
    eye = torch.eye(2)
    assert mean_pairwise_cosine([eye, 2 * eye]) == pytest.approx(1.0)
    assert mean_pairwise_cosine([eye, torch.tensor([[0.0, 1.0], [1.0, 0.0]])]) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        mean_pairwise_cosine([eye])


def test_gram_heatmaps_have_colourbars_and_labels():
    torch.manual_seed(6)
    grams = {"a": gram_matrix(torch.rand(1, 10, 4, 4)), "b": gram_matrix(torch.rand(10, 4, 4))}
    fig = gram_heatmaps(grams, channels=6, title="t")
    image_axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(image_axes) == 2 and len(fig.axes) == 4  # two heatmaps, two colourbars
    assert image_axes[0].get_images()[0].get_array().shape == (6, 6)
    assert image_axes[0].get_xlabel() == "channel j" and image_axes[0].get_title() == "a"
    assert "√" in fig.axes[2].get_ylabel() or "√" in fig.axes[1].get_ylabel()  # the colourbar says the scale
    linear = gram_heatmaps(grams, gamma=1)
    assert all("√" not in ax.get_ylabel() for ax in linear.axes)
    with pytest.raises(ValueError, match="square"):
        gram_heatmaps({"x": torch.rand(3, 4)})


def test_patch_shuffle_sweep_and_plot(image):
    vgg = VGGFeatures(["conv1_1", "conv2_1"], weights="random")
    x = image[..., :32, :32]
    sweep = patch_shuffle_sweep(vgg, x, [32, 8, 2])
    assert list(sweep) == ["conv1_1", "conv2_1"] and all(len(v) == 3 for v in sweep.values())
    assert sweep["conv1_1"][0] < 1e-6  # one patch: nothing moved
    assert sweep["conv2_1"][2] > sweep["conv2_1"][1] > 0
    fig = plot_patch_sweep([32, 8, 2], {k: [max(v, 1e-9) for v in vs] for k, vs in sweep.items()},
                           baselines={"conv1_1": 0.5})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert "sees 3 px" in ax.get_legend().get_texts()[0].get_text()


def test_plot_curves_one_colour_per_curve():
    fig = plot_curves({"a": [10.0, 1.0, 0.1], "b": [5.0, 4.0]}, title="t")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert ax.get_yscale() == "log" and len(lines) == 2
    assert lines[0].get_color() != lines[1].get_color()
    assert list(lines[0].get_xdata()) == [1, 2, 3]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError):
        plot_curves({})
