"""Texture-space style transfer: the pyramid, filling unseen texels, a tiny optimisation, the metric, the CLI."""

from __future__ import annotations

import math

import pytest
import torch

import nstlib.mesh.texture as texture_module
from nstlib.gatys.transfer import StylizeInterrupted, stylize
from nstlib.mesh.meshes import torus
from nstlib.cli.mesh import main, outputs_for
from nstlib.mesh.render import RenderError, render
from nstlib.mesh.texture import (TextureConfig, _upsample, adain_backproject, consistency, fill_unseen, held_out_cameras,
                            random_views, stylize_texture, turntable)

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(texture_size=32, render_size=32, views=2, pyramid=2, supersample=1, weights="random", device="cpu")


@pytest.fixture(scope="module")
def small_torus():
    return torus(24, 12)


def style_image() -> torch.Generator:
    g = torch.Generator().manual_seed(3)
    stripes = torch.sin(torch.arange(48.0) / 2)[None, :].expand(48, 48)
    return torch.stack([0.5 + 0.4 * stripes, 0.5 - 0.4 * stripes, torch.rand(48, 48, generator=g)])[None]


def test_periodic_upsampling_commutes_with_a_circular_shift():
    level = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    up = _upsample(level, 32, (True, True))
    shifted = _upsample(level.roll(1, -1), 32, (True, True))
    torch.testing.assert_close(shifted, up.roll(4, -1))  # no border: the wrap is seamless
    clamped = _upsample(level.roll(1, -1), 32, (False, False))
    assert not torch.allclose(clamped, up.roll(4, -1), atol=1e-3)


def test_fill_unseen_keeps_seen_texels_and_extends_them():
    texture = torch.zeros(1, 3, 16, 16)
    texture[..., 4, 4] = torch.tensor([0.2, 0.4, 0.6])
    seen = torch.zeros(16, 16, dtype=torch.bool)
    seen[4, 4] = True
    filled = fill_unseen(texture, seen)
    torch.testing.assert_close(filled, torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1).expand(1, 3, 16, 16))
    half = torch.zeros(16, 16, dtype=torch.bool)
    half[:, :8] = True
    texture = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    out = fill_unseen(texture, half)
    torch.testing.assert_close(out[..., :8], texture[..., :8])
    # the first unseen column is the mean of its three seen neighbours in the last seen column
    expected = (texture[..., :-2, 7] + texture[..., 1:-1, 7] + texture[..., 2:, 7]) / 3
    torch.testing.assert_close(out[..., 1:-1, 8], expected)
    assert float(out.min()) >= float(texture[..., :8].min()) and float(out.max()) <= float(texture[..., :8].max())


def test_random_views_follow_the_config_and_the_seed():
    config = TextureConfig(elevation=(10.0, 20.0), distance=(2.0, 2.5))
    cams, lights = random_views(16, torch.Generator().manual_seed(0), config)
    again, _ = random_views(16, torch.Generator().manual_seed(0), config)
    assert [c.eye for c in cams] == [c.eye for c in again]
    for cam in cams:
        eye = torch.tensor(cam.eye)
        assert 2.0 - 1e-6 <= float(eye.norm()) <= 2.5 + 1e-6
        elevation = float(torch.rad2deg(torch.asin(eye[1] / eye.norm())))
        assert 10 - 1e-4 <= elevation <= 20 + 1e-4
        # the light is on the camera's side of the object
        assert float(torch.tensor(lights[cams.index(cam)]) @ (eye / eye.norm())) > 0


def test_texture_optimisation_lowers_the_style_loss(small_torus):
    result = stylize_texture(small_torus, style_image(), TextureConfig(num_steps=12, learning_rate=0.05, **TINY),
                             progress=False)
    style = result.history["style"]
    assert result.status == "done" and len(style) == 12
    assert sum(style[-3:]) / 3 < 0.7 * style[0]
    assert result.texture.shape == (1, 3, 32, 32) and 0 <= float(result.texture.min()) <= float(result.texture.max()) <= 1
    assert 0.3 < result.coverage <= 1.0
    again = stylize_texture(small_torus, style_image(), TextureConfig(num_steps=12, learning_rate=0.05, **TINY),
                            progress=False)
    torch.testing.assert_close(again.texture, result.texture)  # seeded: views, lights, backgrounds


def test_ctrl_c_and_non_finite_losses_return_the_last_good_texture(small_torus):
    def stop(step, values, texture):
        if step == 3:
            raise KeyboardInterrupt

    result = stylize_texture(small_torus, style_image(), TextureConfig(num_steps=10, **TINY), progress=False, callback=stop)
    assert result.status == "interrupted" and len(result.history["total"]) == 3
    broken = style_image()
    broken[..., 0, 0] = float("nan")
    result = stylize_texture(small_torus, broken, TextureConfig(num_steps=5, **TINY), progress=False)
    assert result.status == "nonfinite" and torch.isfinite(result.texture).all()
    torch.testing.assert_close(result.texture, torch.full((1, 3, 32, 32), 0.5))


def test_consistency_is_near_zero_for_a_texture_and_large_for_independent_views(small_torus):
    cams = held_out_cameras(4, offset=0.0)
    texture = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    texture = torch.nn.functional.interpolate(texture, size=64, mode="bilinear")
    views = render(small_torus, texture, cams, 64, supersample=1, mip=False, mode="nearest").image
    noise = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    pairs = [(0, 1), (1, 2)]  # 90 degrees apart
    ours, theirs = consistency(small_torus, views, cams, pairs), consistency(small_torus, noise, cams, pairs)
    assert min(ours.pixels) > 200
    assert ours.mean < 0.01 * theirs.mean


def test_adain_backprojection_gives_a_texture_and_views(small_torus):
    from nstlib.feedforward.adain import AdaIN, Decoder

    model = AdaIN(Decoder(width=0.25), weights="random").eval()
    cams = held_out_cameras(2)
    texture, views, seen = adain_backproject(small_torus, cams, style_image(), model, texture_size=32, size=32)
    assert texture.shape == (1, 3, 32, 32) and views.shape == (2, 3, 32, 32)
    assert torch.isfinite(texture).all() and 0 < float(seen.float().mean()) < 1
    # a seen texel holds the mean of the stylised pixels that landed on it, so it is within their range
    assert float(texture[..., seen].min()) >= float(views.min()) - 1e-6
    assert float(texture[..., seen].max()) <= float(views.max()) + 1e-6


def test_turntable_frames():
    frames = turntable(torus(16, 8), torch.full((1, 3, 8, 8), 0.5), frames=3, size=32)
    assert frames.shape == (3, 3, 32, 32)


@pytest.mark.parametrize("changes, message", [
    (dict(distance=(0.0, 1.0)), "distance"),
    (dict(elevation=(-95.0, 0.0)), "elevation"),
    (dict(texture_size=100, pyramid=4), "divisible"),
])
def test_bad_settings_are_named(changes, message):
    with pytest.raises(RenderError, match=message):
        TextureConfig(**changes)


CLI_QUICK = ["--num_steps", "2", "--views", "1", "--render_size", "32", "--texture_size", "32", "--frames", "2",
             "--weights", "random", "--device", "cpu", "-q"]


def run(argv):
    return main([str(a) for a in argv], prog="nstlib")


def test_cli_adain_method(tmp_path, capsys):
    style = tmp_path / "style.png"
    from nstlib.core.images import save_image

    save_image(style_image(), style)
    out = tmp_path / "pot.obj"
    assert run(["--mesh", "vase", "--method", "adain", "--style_path", style, "--output", out, *CLI_QUICK]) == 0
    assert all(p.exists() for p in outputs_for(out).values())
    assert "AdaIN on 8 views" in capsys.readouterr().out


def test_cli_writes_glb_obj_png_and_a_turntable(tmp_path, capsys):
    trimesh = pytest.importorskip("trimesh")
    style = tmp_path / "style.png"
    from nstlib.core.images import save_image

    save_image(style_image(), style)
    out = tmp_path / "out" / "torus.glb"
    assert run(["--mesh", "torus", "--style_path", style, "--output", out, *CLI_QUICK]) == 0
    files = outputs_for(out)
    assert all(p.exists() and p.stat().st_size > 0 for p in files.values())
    loaded = trimesh.load(files["glb"], force="mesh")
    assert len(loaded.faces) == torus().faces.shape[0] and loaded.visual.uv is not None
    assert "saved" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--mesh", "{tmp}/broken.obj"], "broken.obj"),
    (["--mesh", "{tmp}/points.obj"], "no faces"),
    (["--mesh", "{tmp}/points.obj", "--output", "{tmp}/points.obj"], "is the input"),
    (["--distance", "0"], "distance"),
    (["--output", "{tmp}/out.png"], ".glb or .obj"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "broken.obj").write_bytes(b"\xff\xfe garbage")
    (tmp_path / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "out.glb")]
    assert run([*argv, *CLI_QUICK]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("stop", ["nonfinite", "interrupt"])
def test_texture_and_gatys_stop_the_same_way_on_a_loss_that_breaks(small_torus, monkeypatch, stop):
    """Both run on core.optimize.drive: a non-finite loss or Ctrl-C raised inside the loss at the
    third evaluation stops both after two, with the same status and the same one-line message (the
    texture keeps the last good state where Gatys keeps the best)."""
    def breaking(loss):
        calls = []

        def broken(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                if stop == "interrupt":
                    raise KeyboardInterrupt
                return loss(*args, **kwargs) * math.nan
            return loss(*args, **kwargs)
        return broken

    monkeypatch.setattr(texture_module, "_masked_style_loss", breaking(texture_module._masked_style_loss))
    textured = stylize_texture(small_torus, style_image(), TextureConfig(num_steps=6, **TINY), progress=False)

    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    content = torch.stack([x, y, 0.5 * (x + y)]).unsqueeze(0)
    options = dict(num_steps=6, optimizer="adam", weights="random", device="cpu", progress=False,
                   extra_losses={"zero": breaking(lambda image: 0.0 * image.sum())})
    if stop == "interrupt":
        with pytest.raises(StylizeInterrupted) as caught:
            stylize(content, style_image(), **options)
        gatys = caught.value.result
    else:
        with pytest.warns(RuntimeWarning):
            gatys = stylize(content, style_image(), **options)

    assert textured.status == gatys.status == {"nonfinite": "nonfinite", "interrupt": "interrupted"}[stop]
    assert len(textured.history["total"]) == gatys.evaluations == 2
    assert textured.message == gatys.message.replace("the best image", "the last good image")
    assert textured.message.startswith("the loss became nan at step 3; stopped and kept the last good image (step 2)"
                                       if stop == "nonfinite" else "interrupted at step 2; kept the last good image (step 2)")
    assert torch.isfinite(textured.texture).all() and torch.isfinite(gatys.image).all()
