"""Saved-activation counting against sizes computed by hand on tiny networks."""

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from nstlib.core.features import VGGFeatures
from nstlib.scale.memory import (
    SavedTensors,
    lbfgs_bytes,
    max_side_for_budget,
    saved_activation_bytes,
    saved_tensor_bytes,
    step_bytes,
    vgg_bytes_per_pixel,
)


def tiny_stack():
    """conv(3→4) → ReLU (in place) → 2×2 max pool → conv(4→4) → ReLU (in place), no grads on weights."""
    torch.manual_seed(0)
    conv1, conv2 = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1)
    for conv in (conv1, conv2):
        conv.requires_grad_(False)

    def run(x):
        y = F.relu(conv1(x), inplace=True)
        z = F.max_pool2d(y, 2)
        w = F.relu(conv2(z), inplace=True)
        return w.pow(2).mean()

    return run, [conv1.weight, conv1.bias, conv2.weight, conv2.bias]


def test_tiny_stack_by_hand():
    run, weights = tiny_stack()
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    got = saved_tensor_bytes(lambda: run(x), exclude=weights)
    # conv1 saves its input x: 3·8·8 floats = 768 B (and its weight, excluded: 4·3·3·3·4 = 432 B)
    # ReLU 1 saves its output: 4·8·8·4 = 1024 B; max pool saves that same tensor (not counted again)
    #   and its argmax indices: 4·4·4 int64 = 512 B
    # conv2 saves its input z: 4·4·4·4 = 256 B (weight excluded: 4·4·3·3·4 = 576 B)
    # ReLU 2 saves its output: 256 B; pow saves that same tensor again
    assert got.activations == 768 + 1024 + 512 + 256 + 256
    assert got.excluded == 432 + 576  # conv biases are not needed for the backward pass
    assert got.largest == 1024
    assert got.distinct == 5
    assert got.count == 9  # x, W1, relu1 out (twice), indices, z, W2, relu2 out (twice)


def test_nothing_saved_without_grad():
    run, weights = tiny_stack()
    x = torch.rand(1, 3, 8, 8)  # no requires_grad: autograd records nothing
    assert saved_tensor_bytes(lambda: run(x), exclude=weights) == SavedTensors(0, 0, 0, 0, 0)


def test_without_exclude_weights_count_as_activations():
    run, weights = tiny_stack()
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    got = saved_tensor_bytes(lambda: run(x))
    assert got.activations == 2816 + 432 + 576 and got.excluded == 0


def test_vgg_first_layer_by_hand():
    vgg = VGGFeatures(["conv1_1"], weights="random")
    image = torch.rand(1, 3, 16, 20)
    got = saved_activation_bytes(vgg, image, gram=False)
    # the normalised input copy (3 channels) saved by conv1_1, and conv1_1's 64-channel output
    assert got.activations == (3 + 64) * 16 * 20 * 4
    assert got.largest == 64 * 16 * 20 * 4
    assert not image.requires_grad  # the caller's tensor is left alone


def test_vgg_activations_are_linear_in_pixels():
    vgg = VGGFeatures(["conv1_1", "conv2_1", "conv3_1"], weights="random")
    small = saved_activation_bytes(vgg, torch.rand(1, 3, 16, 16), gram=False).activations
    large = saved_activation_bytes(vgg, torch.rand(1, 3, 32, 32), gram=False).activations
    assert large == 4 * small  # sides divisible by 4: every saved map has exactly 4× the cells
    # the Gram matrices add a fixed amount that does not grow with the image
    small_g = saved_activation_bytes(vgg, torch.rand(1, 3, 16, 16)).activations
    large_g = saved_activation_bytes(vgg, torch.rand(1, 3, 32, 32)).activations
    fixed = small_g - small
    assert fixed == (64 * 64 + 128 * 128 + 256 * 256) * 4  # one C×C Gram matrix per layer
    assert large_g - large == fixed


def test_lbfgs_and_step_model():
    assert lbfgs_bytes(10, history=2) == (2 * 2 + 8) * 3 * 10 * 4
    assert lbfgs_bytes(10, history=0, channels=1) == 8 * 10 * 4
    assert step_bytes(10, 100.0, 1000, history=2) == 100 * 10 + 1440 + 36 * 10 + 1000
    with pytest.raises(ValueError):
        lbfgs_bytes(-1)


_LBFGS_PEAK = """
import sys, torch
def status(key):
    return int(open("/proc/self/status").read().split(key + ":")[1].split()[0]) * 1024
n, history = 4_000_000, int(sys.argv[1])
x = torch.zeros(n, requires_grad=True)
target, w = torch.randn(n, generator=torch.Generator().manual_seed(0)), torch.linspace(0.5, 1.5, n)
def closure():
    opt.zero_grad()
    loss = (w * (x - target) ** 2).sum()
    loss.backward()
    return loss
opt = torch.optim.LBFGS([x], max_iter=30, max_eval=30, history_size=history, line_search_fn="strong_wolfe",
                        tolerance_grad=0, tolerance_change=0)
base = status("VmRSS"); open("/proc/self/clear_refs", "w").write("5")
closure()
alone = status("VmHWM") - base  # the objective's own peak (its temporaries and x.grad)
x.grad = None; base = status("VmRSS"); open("/proc/self/clear_refs", "w").write("5")
opt.step(closure)
pairs = len(opt.state[x]["old_dirs"])
print(pairs, (status("VmHWM") - base - alone) / (4 * n))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads and resets the peak RSS in /proc")
@pytest.mark.parametrize("history", [3, 10])
def test_lbfgs_bytes_covers_the_measured_peak_of_torch_lbfgs(history):
    # a 4M-element parameter (16 MB per vector), 30 evaluations with the strong-Wolfe line search;
    # a fixed mmap threshold makes glibc hand every freed vector back, so the peak RSS counts live ones
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", _LBFGS_PEAK, str(history)], capture_output=True, text=True,
                         check=True, env=env)
    pairs, vectors = out.stdout.split()
    assert int(pairs) == history  # the history filled up
    model = lbfgs_bytes(4_000_000, history, channels=1) / (4 * 4_000_000)
    assert model - 0.5 <= float(vectors) <= model  # measured 13.94 and 27.94 vectors for 3 and 10 pairs


@pytest.mark.parametrize("aspect", [1.0, 2 / 3, 0.5])
def test_max_side_is_the_largest_that_fits(aspect):
    budget, per_px, weights = 2**30, 1500.0, 80 * 2**20
    side = max_side_for_budget(budget, per_px, weights, aspect=aspect)
    fits = lambda s: step_bytes(s * s * aspect, per_px, weights) <= budget  # noqa: E731
    assert side > 0 and fits(side) and not fits(side + 1)
    assert max_side_for_budget(weights - 1, per_px, weights) == 0
    with pytest.raises(ValueError):
        max_side_for_budget(budget, per_px, weights, aspect=1.5)


def test_vgg_bytes_per_pixel_by_hand():
    # block 1: 3 (input) + 64 + 64 values; pool 1: 64/4 int64 indices + 64/4 values; block 2: 2·128/4 ...
    by_hand = (3 + 64 + 64) * 4 + (64 / 4) * (8 + 4) + 2 * 128 / 4 * 4 + (128 / 16) * (8 + 4) \
        + 4 * 256 / 16 * 4 + (256 / 64) * (8 + 4) + 4 * 512 / 64 * 4 + (512 / 256) * (8 + 4) + 512 / 256 * 4
    assert by_hand == 1532
    assert vgg_bytes_per_pixel("conv5_1") == 1532
    assert vgg_bytes_per_pixel("conv5_1", "avg") == 1532 - (64 / 4 + 128 / 16 + 256 / 64 + 512 / 256) * 8
    assert vgg_bytes_per_pixel("conv1_1") == (3 + 64) * 4
    assert vgg_bytes_per_pixel("conv2_1") == (3 + 64 + 64) * 4 + 64 / 4 * 12 + 128 / 4 * 4
    with pytest.raises(ValueError):
        vgg_bytes_per_pixel(pooling="min")


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("last", ["conv2_1", "conv3_2", "conv5_1"])
def test_vgg_bytes_per_pixel_matches_the_measurement(pooling, last):
    vgg = VGGFeatures([last], weights="random", pooling=pooling)
    got = saved_activation_bytes(vgg, torch.rand(1, 3, 32, 48), gram=False)  # sides divisible by 16
    assert got.activations == vgg_bytes_per_pixel(last, pooling) * 32 * 48
