"""Warping, occlusion tests and the synthetic clip with exact ground truth."""

from __future__ import annotations

import pytest
import torch

from nstlib.flow import consistency_occlusions, motion_boundaries, out_of_frame, synthetic_clip, warp

pytestmark = pytest.mark.usefixtures("one_thread")


def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 140, 180, generator=g), torch.rand(1, 3, 24, 30, generator=g)


def test_warp_identity_and_integer_shift():
    img = torch.rand(2, 3, 10, 12, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(warp(img, torch.zeros(2, 2, 10, 12)), img)
    flow = torch.zeros(2, 2, 10, 12)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # out[y, x] = img[y - 1, x + 2]
    out = warp(img, flow)
    torch.testing.assert_close(out[:, :, 1:, :-2], img[:, :, :-1, 2:])
    inside = 1 - out_of_frame(flow)
    assert inside[0, 0, 1:, :-2].all() and not inside[0, 0, 0, :].any() and not inside[0, 0, :, -2:].any()


def test_warp_is_differentiable_in_the_image_and_the_flow():
    g = torch.Generator().manual_seed(2)
    img = torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    flow = (torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda i, f: warp(i, f), (img, flow))


def test_synthetic_clip_true_flow_warps_exactly_outside_occlusions():
    background, sprite = images()
    clip = synthetic_clip(background, sprite, num_frames=6, size=(64, 96))
    assert clip.frames.shape == (6, 3, 64, 96) and clip.occlusions[0].eq(1).all()
    for t in range(1, 6):
        warped = warp(clip.frames[t - 1:t], clip.backward[t:t + 1], mode="nearest")
        visible = clip.occlusions[t:t + 1] == 0
        err = (warped - clip.frames[t:t + 1]).abs().amax(1, keepdim=True)
        assert err[visible].max() < 1e-6
        assert visible.float().mean() > 0.8  # the pan and the object hide only a strip each frame
        assert err[~visible].mean() > 0.05  # where it is occluded, the warp shows something else
    # object pixels move by camera - sprite step, background by the camera step
    t = 3
    obj = clip.objects[t, 0].bool()
    assert clip.backward[t, 0][obj].eq(3 - (-5)).all() and clip.backward[t, 0][~obj].eq(3).all()


def test_consistency_check_finds_the_true_occlusions():
    background, sprite = images()
    clip = synthetic_clip(background, sprite, num_frames=5, size=(64, 96))
    found = torch.cat([consistency_occlusions(clip.backward[t:t + 1], clip.forward[t - 1:t]) for t in range(1, 5)])
    truth = clip.occlusions[1:]
    recall = float((found * truth).sum() / truth.sum())
    precision = float((found * truth).sum() / found.sum())
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)


def test_motion_boundaries_outline_the_object():
    background, sprite = images()
    clip = synthetic_clip(background, sprite, num_frames=3, size=(64, 96))
    edges = motion_boundaries(clip.backward[1:2])[0, 0].bool()
    obj = clip.objects[1, 0].bool()
    assert edges.any() and edges.sum() < 0.2 * obj.sum() + 200
    inner = obj.clone()
    inner[1:-1, 1:-1] = obj[:-2, 1:-1] & obj[2:, 1:-1] & obj[1:-1, :-2] & obj[1:-1, 2:] & obj[1:-1, 1:-1]
    assert not (edges & inner).any()  # nothing inside the object or the background, only at its edge


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="flow is"):
        warp(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="differ in size"):
        warp(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 5, 4))
    with pytest.raises(ValueError, match="too small"):
        synthetic_clip(torch.zeros(1, 3, 50, 50), torch.zeros(1, 3, 8, 8), size=(64, 96))


def test_warping_error_is_zero_for_motion_and_grows_with_flicker():
    from nstlib.flow import warping_error

    background, sprite = images()
    clip = synthetic_clip(background, sprite, num_frames=5, size=(64, 96))
    err = warping_error(clip.frames, clip.backward, clip.occlusions)
    assert err.shape == (4,) and float(err.max()) < 1e-10
    g = torch.Generator().manual_seed(3)
    flicker = (clip.frames + 0.1 * torch.randn(clip.frames.shape, generator=g)).clamp(0, 1)
    noisy = warping_error(flicker, clip.backward, clip.occlusions)
    # two independent noises of std 0.1 (slightly less after clamping): about 2 * 0.01 per channel
    assert ((noisy > 0.012) & (noisy < 0.022)).all(), noisy
    with pytest.raises(ValueError, match="T >= 2"):
        warping_error(clip.frames[:1], clip.backward[:1], clip.occlusions[:1])


def test_temporal_loss_by_hand_and_only_where_trusted():
    from nstlib.losses import temporal_loss

    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, 2, 3, 4, generator=g, dtype=torch.float64)
    c = (torch.rand(1, 1, 3, 4, generator=g) > 0.5).double()
    ref = sum(float(c[0, 0, i, j]) * float(x.detach()[0, k, i, j] - w[0, k, i, j]) ** 2
              for k in range(2) for i in range(3) for j in range(4)) / 24
    assert float(temporal_loss(x, w, c).detach()) == pytest.approx(ref)
    temporal_loss(x, w, c).backward()
    assert (x.grad * (1 - c)).abs().max() == 0  # occluded pixels are free
    assert torch.autograd.gradcheck(lambda a: temporal_loss(a, w, c), (x.detach().requires_grad_(),))
    with pytest.raises(ValueError, match="weights"):
        temporal_loss(x, w, c[:, :, :2])
