"""VGG19 feature extraction: layer names, weight sources, normalisation, calibration."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from nstlib.core.features import (
    LAYER_NAMES,
    FeatureError,
    VGGFeatures,
    _caffe_state,
    calibration_factors,
    calibration_images,
    layer_resolution_divisor,
    receptive_field,
)

CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


def test_layer_names_follow_the_paper():
    assert len(LAYER_NAMES) == 16
    assert LAYER_NAMES[:3] == ("conv1_1", "conv1_2", "conv2_1")
    assert LAYER_NAMES[-1] == "conv5_4"
    assert [n for n in LAYER_NAMES if n.endswith("_1")] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    assert [layer_resolution_divisor(n) for n in ("conv1_2", "conv2_1", "conv3_4", "conv4_2", "relu5_1")] == [1, 2, 4, 8, 16]


def test_layers_map_to_modules_of_the_right_shape_and_resolution():
    net = VGGFeatures(LAYER_NAMES, weights="random")
    channels = [net.convs[i].out_channels for i in range(16)]
    assert channels == [64] * 2 + [128] * 2 + [256] * 4 + [512] * 8
    out = net(torch.rand(1, 3, 32, 48))
    for name in LAYER_NAMES:
        d = layer_resolution_divisor(name)
        assert out[name].shape[-2:] == (32 // d, 48 // d), name
        assert out[name].min() >= 0, f"{name} should be rectified"
        assert out[name].is_contiguous(memory_format=torch.channels_last)


def test_truncated_after_last_layer_and_frozen():
    net = VGGFeatures(["conv2_1", "relu1_1"], weights="random")
    assert len(net.convs) == 3
    assert all(not p.requires_grad for p in net.parameters())
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    out = net(x)
    assert set(out) == {"conv2_1", "relu1_1"}
    out["conv2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_relu_alias_is_the_rectified_conv_output():
    net = VGGFeatures(["conv3_1", "relu3_1"], weights="random")
    out = net(torch.rand(1, 3, 20, 20))
    assert torch.equal(out["conv3_1"], out["relu3_1"])


def test_caffe_rgb_input_equals_manual_bgr_mean_path():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 24, 24)
    net = VGGFeatures(["conv1_1", "conv2_1"], weights="caffe", calibrate=False)
    out = net(x)
    state = _caffe_state()
    manual = x[:, [2, 1, 0]] * 255.0 - CAFFE_MEAN_BGR  # BGR, 0-255, minus the mean pixel
    h = F.relu(F.conv2d(manual, *state["conv1_1"], padding=1))
    torch.testing.assert_close(out["conv1_1"], h, rtol=1e-5, atol=1e-3)
    h = F.relu(F.conv2d(h, *state["conv1_2"], padding=1))
    h = F.relu(F.conv2d(F.max_pool2d(h, 2), *state["conv2_1"], padding=1))
    torch.testing.assert_close(out["conv2_1"], h, rtol=1e-4, atol=1e-2)


def test_calibration_divides_each_layer_by_its_factor():
    x = torch.rand(1, 3, 32, 32)
    raw = VGGFeatures(["conv1_1", "conv3_1", "conv4_2"], calibrate=False)(x)
    net = VGGFeatures(["conv1_1", "conv3_1", "conv4_2"])
    for name in ("conv1_1", "conv3_1", "conv4_2"):
        torch.testing.assert_close(net(x)[name], raw[name] / net.calibration[name], rtol=1e-4, atol=1e-4)


def test_stored_caffe_factors_give_unit_mean_responses_on_photos():
    factors = calibration_factors("caffe", _caffe_state())
    # the measured orders of magnitude of raw Caffe activations
    assert 10 < factors["conv1_1"] < 50 and 100 < factors["conv4_2"] < 1000
    net = VGGFeatures(["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"])
    photos = calibration_images(256)
    means = {n: 0.0 for n in net.layers}
    with torch.no_grad():
        for img in photos:
            for n, f in net(img).items():
                means[n] += f.mean().item() / len(photos)
    for n, m in means.items():
        assert 0.95 < m < 1.05, (n, m)


def test_torchvision_weights_from_a_local_state_dict(tmp_path):
    torch.manual_seed(0)
    model = torchvision.models.vgg19(weights=None)
    path = tmp_path / "vgg19.pth"
    torch.save(model.state_dict(), path)
    net = VGGFeatures(["conv4_2"], weights=str(path), calibrate=False)
    x = torch.rand(1, 3, 40, 40)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model.features[:23]((x - mean) / std)  # index 22 is the ReLU after conv4_2
    torch.testing.assert_close(net(x)["conv4_2"], expected, rtol=1e-4, atol=1e-5)


def test_a_state_dict_of_the_wrong_model_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(FeatureError, match="features.0.weight"):
        VGGFeatures(["conv1_1"], weights=str(path))
    with pytest.raises(FeatureError, match="does not exist"):
        VGGFeatures(["conv1_1"], weights=str(tmp_path / "missing.pth"))


def test_bad_names_and_sizes_give_clear_errors():
    with pytest.raises(FeatureError, match="conv6_1"):
        VGGFeatures(["conv6_1"], weights="random")
    with pytest.raises(FeatureError, match="pooling"):
        VGGFeatures(["conv1_1"], weights="random", pooling="median")
    with pytest.raises(FeatureError, match="unknown weights"):
        VGGFeatures(["conv1_1"], weights="vgg16")
    net = VGGFeatures(["conv5_1"], weights="random")
    assert net.min_side == 16
    with pytest.raises(FeatureError, match="too small for conv5_1.*16 px"):
        net(torch.rand(1, 3, 12, 40))
    assert net(torch.rand(1, 3, 16, 16))["conv5_1"].shape == (1, 512, 1, 1)


def test_average_pooling_changes_deep_features_only():
    x = torch.rand(1, 3, 32, 32)
    a = VGGFeatures(["conv1_2", "conv3_1"], weights="random", pooling="max")(x)
    b = VGGFeatures(["conv1_2", "conv3_1"], weights="random", pooling="avg")(x)
    assert torch.equal(a["conv1_2"], b["conv1_2"])
    assert not torch.allclose(a["conv3_1"], b["conv3_1"])


def test_receptive_fields():
    expected = {"conv1_1": 3, "conv1_2": 5, "conv2_1": 10, "conv2_2": 14, "conv3_1": 24, "conv3_4": 48,
                "conv4_1": 68, "conv4_2": 84, "conv5_1": 156, "relu5_1": 156, "conv5_4": 252}
    assert {name: receptive_field(name)[0] for name in expected} == expected
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        receptive_field("pool1")


def test_receptive_field_matches_the_network():
    """Changing one input pixel changes conv2_1 exactly within its receptive field."""
    vgg = VGGFeatures(["conv2_1"], weights="random")
    x = torch.rand(1, 3, 32, 32)
    y = x.clone()
    y[0, :, 15, 15] += 1.0  # conv2_1 is at 1/2 resolution: position (7, 7) covers pixels 14–15
    changed = (vgg(y)["conv2_1"] - vgg(x)["conv2_1"]).abs().sum(dim=1)[0] > 0
    rows = changed.any(dim=1).nonzero().flatten()
    span = int(rows.max() - rows.min() + 1)  # positions that see the pixel
    # positions p see pixels [2p - 4, 2p + 5] (10 px): the pixel 15 is seen by p = 5..9
    assert receptive_field("conv2_1") == (10, 2) and span == 5
