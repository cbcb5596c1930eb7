"""Video stylisation: Ruder's temporal method against per-frame Gatys, long-term weights, resuming."""

from __future__ import annotations

import pytest
import torch

from nstlib.video.flow import synthetic_clip, warp
from nstlib.video.io import VideoError
from nstlib.video.transfer import (
    FrameStore,
    long_term_targets,
    stylize_video,
    trusted_weights,
    video_metrics,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def textured_clip(num_frames: int = 6, size=(64, 64)):
    g = torch.Generator().manual_seed(0)
    # smooth texture (a random field blurred) so that the style has something to work on
    bg = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 160, 200, generator=g), 5, 1, 2)
    sprite = torch.rand(1, 3, 20, 20, generator=g) * 0.3 + 0.6
    return synthetic_clip(bg, sprite, num_frames=num_frames, size=size)


def style_image():
    g = torch.Generator().manual_seed(3)
    stripes = (torch.arange(64).float() / 6).sin().view(1, 1, 1, 64).expand(1, 3, 64, 64).clone()
    return (0.5 + 0.4 * stripes * torch.tensor([1.0, -0.5, 0.3]).view(1, 3, 1, 1)
            + 0.05 * torch.rand(1, 3, 64, 64, generator=g)).clamp(0, 1)


def test_trusted_weights_find_the_true_occlusions():
    clip = textured_clip(4)
    for t in range(1, 4):
        c = trusted_weights(clip.backward[t:t + 1], clip.forward[t - 1:t])
        occluded = clip.occlusions[t:t + 1] > 0.5
        assert (c[occluded] == 0).all()  # every true occlusion is distrusted
        assert c[~occluded].mean() > 0.8  # and most visible pixels are kept


def test_between_gives_exact_flows_across_several_frames():
    clip = textured_clip(6)
    flow = clip.between(5, 2)
    background = clip.objects[5, 0] == 0
    assert (flow[0, 0][background] == 9).all() and (flow[0, 1][background] == 3).all()  # 3 frames of (3, 1)
    visible = trusted_weights(flow, clip.between(2, 5))[0, 0] > 0
    warped = warp(clip.frames[2:3], flow)[0]
    torch.testing.assert_close(warped[:, visible], clip.frames[5][:, visible], atol=1e-5, rtol=0)
    assert visible.float().mean() > 0.5


def test_long_term_targets_reach_behind_the_object_and_count_each_pixel_once():
    clip = textured_clip(6)

    def pair(t, s):
        there = clip.between(t, s)
        return there, trusted_weights(there, clip.between(s, t))

    frames = [f[None] for f in clip.frames]
    targets = long_term_targets(frames, pair, t=5, offsets=(1, 2, 4))
    assert len(targets) == 3
    total = torch.zeros(1, 1, 64, 64)
    for warped, weights in targets:
        assert set(weights.unique().tolist()) <= {0.0, 1.0}
        total += weights
        # where trusted, the warp of frame t−j reproduces frame t exactly
        ok = weights[0, 0] > 0
        torch.testing.assert_close(warped[0][:, ok], clip.frames[5][:, ok], atol=1e-5, rtol=0)
    assert total.max() <= 1.0  # each pixel counted once, the closest frame first
    short = targets[0][1]
    # pixels that the object hid in frame 4 are taken from frames 3 or 1
    assert (total - short).sum() > 10


def test_ruder_flickers_less_than_per_frame_gatys_with_the_same_steps():
    clip, style = textured_clip(6), style_image()
    common = dict(num_steps=20, image_size=64, progress=False, seed=0)
    per_frame = stylize_video(clip.frames, style, "gatys", **common)
    temporal = stylize_video(clip.frames, style, "ruder", flows=clip, **common)
    assert per_frame.frames.shape == temporal.frames.shape == clip.frames.shape
    m_pf = video_metrics(per_frame.frames, clip.backward, clip.occlusions, style, clip.frames)
    m_t = video_metrics(temporal.frames, clip.backward, clip.occlusions, style, clip.frames)
    assert m_t["e_warp"] < m_pf["e_warp"] / 2, (m_t["e_warp"], m_pf["e_warp"])
    assert m_t["style"] < 1.5 * m_pf["style"]  # not stable by giving up the style
    assert all("temporal" in l for l in temporal.losses[1:]) and "temporal" not in temporal.losses[0]


def test_multi_pass_runs_both_directions_and_keeps_the_shape():
    clip, style = textured_clip(3, (32, 32)), style_image()
    one = stylize_video(clip.frames, style, "ruder", flows=clip, num_steps=6, progress=False)
    two = stylize_video(clip.frames, style, "ruder", flows=clip, num_steps=6, passes=2, progress=False)
    assert two.frames.shape == one.frames.shape and two.stylised == 6
    assert not torch.equal(one.frames, two.frames)


class Doubler(torch.nn.Module):
    """A stand-in feed-forward model: stylize = a per-pixel colour change, and a call counter."""

    def __init__(self, fail_at: int | None = None):
        super().__init__()
        self.calls, self.fail_at = 0, fail_at

    def stylize(self, content, style=None):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt
        return (content * torch.tensor([1.0, 0.5, 0.2]).view(1, 3, 1, 1)).clamp(0, 1)


def test_colour_transform_does_not_flicker_and_resume_skips_finished_frames(tmp_path):
    clip = textured_clip(5)
    folder = tmp_path / "frames"
    first = stylize_video(clip.frames, None, "fast", model=Doubler(fail_at=2), batch_size=2, frames_dir=folder,
                          progress=False)
    assert first.status == "interrupted" and first.stylised == 2 and len(first.frames) == 2
    assert sorted(p.name for p in folder.glob("*.png")) == ["000000.png", "000001.png"]
    net = Doubler()
    again = stylize_video(clip.frames, None, "fast", model=net, batch_size=2, frames_dir=folder, progress=False)
    assert again.status == "done" and again.resumed == 2 and again.stylised == 3 and net.calls == 2
    # a per-pixel colour transform moves with the flow: no flicker (8-bit PNG rounding aside)
    m = video_metrics(again.frames, clip.backward, clip.occlusions)
    assert m["e_warp"] < 1e-5


def test_frame_store_refuses_other_settings_and_foreign_frames(tmp_path):
    store = FrameStore(tmp_path / "a", {"method": "ruder", "temporal_weight": 1000.0}, ["f0", "f1"])
    store.save(0, torch.rand(1, 3, 8, 8))
    # the same settings and a longer clip with the same beginning: resume
    assert FrameStore(tmp_path / "a", {"method": "ruder", "temporal_weight": 1000.0}, ["f0", "f1", "f2"]).has(0)
    with pytest.raises(VideoError, match="input frame 1 differs"):
        FrameStore(tmp_path / "a", {"method": "ruder", "temporal_weight": 1000.0}, ["f0", "g1"])
    with pytest.raises(VideoError, match="temporal_weight 1000.0 → 10.0"):
        FrameStore(tmp_path / "a", {"method": "ruder", "temporal_weight": 10.0})
    (tmp_path / "b").mkdir()
    from nstlib.core.images import save_image

    save_image(torch.rand(1, 3, 8, 8), tmp_path / "b" / "0001.png")
    with pytest.raises(VideoError, match="did not make"):
        FrameStore(tmp_path / "b", {"method": "gatys"})


def test_bad_arguments_are_named():
    from nstlib.core.errors import ConfigError

    frames = torch.rand(2, 3, 32, 32)
    with pytest.raises(ConfigError, match="unknown video method 'flicker'"):
        stylize_video(frames, frames[:1], "flicker")
    with pytest.raises(ConfigError, match="needs a style image"):
        stylize_video(frames, None, "gatys")
    with pytest.raises(ConfigError, match="multi-pass"):
        stylize_video(frames, frames[:1], "gatys", passes=2)
    with pytest.raises(ConfigError, match="long_term"):
        stylize_video(frames, frames[:1], "ruder", long_term=(0,))


def test_warp_of_the_previous_result_is_the_ruder_initialisation(monkeypatch):
    clip, style = textured_clip(2, (32, 32)), style_image()
    seen = []

    import nstlib.video.transfer as video_transfer

    original = video_transfer.stylize

    def spy(content, style, config=None, callback=None, **kw):
        seen.append(kw.get("init_image"))
        return original(content, style, config, callback, **kw)

    monkeypatch.setattr(video_transfer, "stylize", spy)
    out = stylize_video(clip.frames, style, "ruder", flows=clip, num_steps=4, progress=False)
    assert seen[0] is None
    torch.testing.assert_close(seen[1], warp(out.frames[:1], clip.backward[1:2]))


def test_long_range_error_is_zero_for_the_clip_and_two_sigma_squared_for_noise():
    from nstlib.video.transfer import flow_pairs, long_range_error

    clip = textured_clip(6)
    pair = flow_pairs(clip.frames, clip)
    for gap in (1, 2, 4):
        assert long_range_error(clip.frames, pair, gap) < 1e-10
    sigma = 0.03
    noisy = clip.frames + sigma * torch.randn(clip.frames.shape, generator=torch.Generator().manual_seed(0))
    assert long_range_error(noisy, pair, 2) == pytest.approx(2 * sigma ** 2, rel=0.1)
    # consecutive pairs in both directions come from the clip's own flows
    torch.testing.assert_close(pair(3, 2)[0], clip.backward[3:4])
    torch.testing.assert_close(pair(2, 3)[0], clip.forward[2:3])
    with pytest.raises(ValueError, match="gap 6"):
        long_range_error(clip.frames, pair, 6)


def test_video_metrics_judge_style_on_any_device_name():
    clip = textured_clip(3, (32, 32))
    m = video_metrics(clip.frames, clip.backward, clip.occlusions, style_image(), clip.frames, device="auto")
    assert m["content"] == 0 and m["style"] > 0 and len(m["e_warp_per_frame"]) == 2


def test_ruder_records_where_its_flows_came_from(tmp_path):
    """Estimated flows are recorded by method, given ones as "given", so neither resumes the other."""
    import json

    from nstlib.video.transfer import SETTINGS_FILE

    clip, style = textured_clip(2, (32, 32)), style_image()
    kw = dict(num_steps=2, progress=False, content_layers=("conv2_1",), style_layers=("conv1_1",))
    stylize_video(clip.frames, style, "ruder", flow_method="dis", frames_dir=tmp_path / "est", **kw)
    stylize_video(clip.frames, style, "ruder", flows=clip, frames_dir=tmp_path / "given", **kw)
    recorded = {name: json.loads((tmp_path / name / SETTINGS_FILE).read_text())["settings"]["flow_method"]
                for name in ("est", "given")}
    assert recorded == {"est": "dis", "given": "given"}
