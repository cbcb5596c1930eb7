"""Warping, occlusion tests and the synthetic clip with exact ground truth."""

from __future__ import annotations

import math
import re
import sys

import pytest
import torch

from nstlib.video.flow import (FlowError, clip_flows, consistency_occlusions, end_point_error, estimate_flow,
                         motion_boundaries, occlusion_precision, occlusion_recall, out_of_frame, synthetic_clip,
                         warp)

pytestmark = pytest.mark.usefixtures("one_thread")

# the `video` extra; `make test` installs it
PACKAGE = {"dis": "cv2", "farneback": "cv2", "tvl1": "skimage.registration"}


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
    from nstlib.video.flow import warping_error

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
    from nstlib.core.losses import temporal_loss

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


# --------------------------------------------------------------------------------------------
# Estimated flows, scored on a photo clip with exact ground truth


@pytest.fixture(scope="module")
def photo_clip():
    """A pan over a photo (coffee) with a textured object (the cat's eye) crossing it: 6 frames of 96×128."""
    from nstlib.core.assets import images_dir
    from nstlib.core.images import load_image

    background = load_image(images_dir() / "content" / "coffee.png", size=200)
    cat = load_image(images_dir() / "content" / "chelsea.png", size=160)
    return synthetic_clip(background, cat[:, :, 10:42, 50:90], num_frames=6, size=(96, 128))


@pytest.fixture(scope="module")
def estimated(photo_clip):
    """``estimated(method)``: the clip's ClipFlows, computed once per method."""
    done = {}

    def get(method):
        pytest.importorskip(PACKAGE[method])
        if method not in done:
            done[method] = clip_flows(photo_clip.frames, method)
        return done[method]
    return get


# measured on this clip: background EPE dis 0.09, tvl1 0.15, farneback 0.57 px; object 0.16, 0.40, 5.1
@pytest.mark.parametrize("method, background_epe, object_epe",
                         [("dis", 0.25, 0.5), ("tvl1", 0.35, 1.0), ("farneback", 1.0, None)])
def test_estimated_flows_match_the_truth(photo_clip, estimated, method, background_epe, object_epe):
    clip, flows = photo_clip, estimated(method)
    visible = 1 - clip.occlusions[1:]
    background, obj = visible * (1 - clip.objects[1:]), visible * clip.objects[1:]
    true_b = clip.backward[1:]
    zero = end_point_error(torch.zeros_like(true_b), true_b, background)
    assert zero == pytest.approx(math.hypot(3, 1))  # the camera step: what the flow must recover
    epe = end_point_error(flows.backward[1:], true_b, background)
    # a flipped sign (6.3 px) or swapped x and y (2.8 px) is far above these
    assert epe < background_epe, epe
    if object_epe is not None:
        assert end_point_error(flows.backward[1:], true_b, obj) < object_epe
    # the forward flow of frame t-1, on background that stays visible in frame t
    stays = (1 - clip.objects[:-1]) * (1 - warp(clip.objects[1:], clip.forward[:-1], mode="nearest"))
    stays = stays * (1 - out_of_frame(clip.forward[:-1]))
    assert end_point_error(flows.forward[:-1], clip.forward[:-1], stays) < background_epe
    assert flows.backward[0].eq(0).all() and flows.forward[-1].eq(0).all() and flows.occlusions[0].eq(1).all()
    assert flows.method == method and flows.seconds > 0 and flows.backward.dtype == torch.float32


def test_estimate_flow_gives_the_backward_flow_that_warps_the_previous_frame(photo_clip):
    pytest.importorskip("cv2")
    frames, visible = photo_clip.frames, photo_clip.occlusions[1:] == 0
    flow = estimate_flow(frames[1:], frames[:-1])  # one batch of five pairs
    assert flow.shape == (5, 2, 96, 128) and flow.dtype == torch.float32
    assert end_point_error(flow, photo_clip.backward[1:], visible.float()) < 0.25
    error = (warp(frames[:-1], flow) - frames[1:]).abs().mean(1, keepdim=True)[visible].mean()
    unmoved = (frames[:-1] - frames[1:]).abs().mean(1, keepdim=True)[visible].mean()
    assert error < 0.15 * unmoved, (float(error), float(unmoved))  # measured 0.008 vs 0.12


def test_occlusions_from_estimated_flows_find_the_true_ones(photo_clip, estimated):
    found, truth = estimated("dis").occlusions[1:], photo_clip.occlusions[1:]
    # measured 0.97 and 0.47: the motion-boundary test also marks the object's leading edge
    assert occlusion_recall(found, truth) >= 0.9
    assert occlusion_precision(found, truth) >= 0.3


def test_clip_flows_cache(photo_clip, tmp_path):
    pytest.importorskip("cv2")
    frames = photo_clip.frames[:3]
    first = clip_flows(frames, cache_dir=tmp_path)
    [path] = tmp_path.iterdir()
    assert re.fullmatch(r"flow-dis-[0-9a-f]{16}\.pt", path.name) and first.seconds > 0
    again = clip_flows(frames, cache_dir=tmp_path)
    assert again.seconds == 0 and again.method == "dis"
    for name in ("backward", "forward"):  # stored as float16
        torch.testing.assert_close(getattr(again, name), getattr(first, name), rtol=1e-3, atol=1e-4)
    assert torch.equal(again.occlusions, first.occlusions)
    clip_flows(photo_clip.frames[1:4], cache_dir=tmp_path)  # another clip, another file
    assert len(list(tmp_path.iterdir())) == 2
    path.write_bytes(b"not a torch file")
    redone = clip_flows(frames, cache_dir=tmp_path)
    assert redone.seconds > 0 and torch.equal(redone.occlusions, first.occlusions)
    assert clip_flows(frames, cache_dir=tmp_path).seconds == 0  # overwritten with a good file
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".pt", ".pt"]  # no temporary file left


def test_flow_errors_name_the_method_and_the_fix(monkeypatch):
    with pytest.raises(FlowError, match="'raft'.*'dis'"):
        estimate_flow(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), method="raft")
    with pytest.raises(ValueError, match="'raft'"):  # a FlowError is a ValueError
        clip_flows(torch.zeros(2, 3, 8, 8), method="raft")
    with pytest.raises(FlowError, match=r"\[T, 3, H, W\], got \(2, 8, 8\)"):
        clip_flows(torch.zeros(2, 8, 8))
    with pytest.raises(FlowError, match="one shape"):
        estimate_flow(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if OpenCV were not installed
    with pytest.raises(FlowError, match=r"opencv-python-headless: pip install \"nstlib\[video\]\""):
        estimate_flow(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_end_point_error_and_occlusion_scores_by_hand():
    flow = torch.zeros(1, 2, 2, 3)
    flow[:, 0], flow[:, 1] = 3.0, 4.0
    assert end_point_error(flow, torch.zeros_like(flow)) == pytest.approx(5.0)
    flow[0, :, 0, 0] = 0.0  # one pixel exact, five off by 5
    assert end_point_error(flow, torch.zeros_like(flow)) == pytest.approx(25 / 6)
    mask = torch.zeros(1, 1, 2, 3)
    mask[0, 0, 0, :2] = 1
    assert end_point_error(flow, torch.zeros_like(flow), mask) == pytest.approx(2.5)
    assert math.isnan(end_point_error(flow, flow, torch.zeros(1, 1, 2, 3)))
    with pytest.raises(ValueError, match="differ in shape"):
        end_point_error(flow, torch.zeros(2, 2, 2, 3))
    truth = torch.tensor([1.0, 1, 1, 0, 0]).view(1, 1, 1, 5)
    marked = torch.tensor([1.0, 0, 0, 1, 0]).view(1, 1, 1, 5)
    assert occlusion_recall(marked, truth) == pytest.approx(1 / 3)
    assert occlusion_precision(marked, truth) == pytest.approx(1 / 2)
    assert math.isnan(occlusion_precision(torch.zeros_like(truth), truth))
