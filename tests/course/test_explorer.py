"""The weight-tuning explorer without a display: slider -> Config, tiny live runs, errors in the status."""

import io

import pytest
import torch
from PIL import Image

pytest.importorskip("ipywidgets")

from nstlib.course.explorer import PNG_SIGNATURE, Explorer, measure, png_bytes, pow10_label, weight_grid_figure
from nstlib.core.losses import tv_loss
from nstlib.core.config import Config
from nstlib.core.errors import ConfigError

FAST = Config(weights="random", device="cpu")  # the explorer's logic does not depend on the weights


@pytest.fixture(scope="module")
def images():
    """A smooth 48×32 'photo' and a striped 'style', deterministic."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 48), indexing="ij")
    content = torch.stack([x, y, 0.5 * (x + y)]).unsqueeze(0)
    stripes = (torch.sin(x * 40 + y * 10) > 0).float()
    style = torch.stack([stripes, 0.2 + 0.6 * (1 - stripes), 0.3 * stripes + 0.5]).unsqueeze(0)
    return content, style


@pytest.fixture()
def explorer(images):
    content, style = images
    return Explorer({"gradient": content}, {"stripes": style}, config=FAST, size=40, steps=3, every=1)


def png_size(data: bytes | memoryview) -> tuple[int, int]:
    data = bytes(data)  # Image.value holds a memoryview once set
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG" and img.mode == "RGB"
        return img.size


def test_png_bytes_round_trip():
    image = torch.zeros(1, 3, 5, 7)
    image[:, 0] = 1.0
    data = png_bytes(image)
    assert png_size(data) == (7, 5)
    assert Image.open(io.BytesIO(data)).getpixel((3, 2)) == (255, 0, 0)
    assert png_size(png_bytes(torch.full((3, 4, 6), 2.0))) == (6, 4)  # [3,H,W], clamped


def test_sliders_map_to_config(explorer):
    explorer.alpha.value, explorer.beta.value, explorer.gamma.value = 10.0, 1e5, 1e-3
    explorer.steps.value, explorer.size.value = 7, 48
    cfg = explorer.config()
    assert (cfg.content_weight, cfg.style_weight, cfg.num_steps, cfg.image_size) == (10.0, 1e5, 7, 48)
    assert cfg.tv_weight == pytest.approx(1e-3)
    assert (cfg.weights, cfg.device, cfg.optimizer) == ("random", "cpu", "lbfgs")  # the rest comes from config
    assert explorer.alpha.__class__.__name__ == "FloatLogSlider"
    assert explorer.gamma.__class__.__name__ == "FloatLogSlider"


def test_sliders_start_from_the_config_and_presets_set_alpha_beta(images):
    content, style = images
    ex = Explorer({"c": content}, {"s": style}, config=Config(content_weight=3.0, style_weight=1e4, tv_weight=1e-2))
    assert (ex.alpha.value, ex.beta.value) == pytest.approx((3.0, 1e4))
    assert ex.gamma.value == pytest.approx(1e-2)
    ex.preset.value = "high_content"
    cfg = ex.config()
    assert (cfg.content_weight, cfg.style_weight) == (10.0, 1e5)
    ex.preset.value = "high_style"
    assert ex.config().style_weight == 1e7 and ex.preset.value == "high_style"
    ex.beta.value = 1e6  # moved by hand: no longer the preset
    assert ex.preset.value == "(custom)" and ex.config().style_weight == 1e6


def test_tiny_run_updates_the_preview_while_running(explorer):
    seen = []  # (status at the time, PNG size) for every preview update
    explorer.preview.observe(lambda ch: seen.append((explorer.status.value, png_size(ch["new"]))), names="value")
    assert bytes(explorer.preview.value) == b"" and explorer.frames == 0
    result = explorer.run()
    assert result is not None and result is explorer.result and explorer.error is None
    assert result.evaluations == 3
    h, w = result.image.shape[-2:]
    assert (w, h) == (40, 27)  # 48×32 resized to a longer side of 40
    assert png_size(explorer.preview.value) == (40, 27)
    assert explorer.frames >= 3
    # updates arrived during the run (status "step k/3" with k < 3), not only at the end
    assert any(status.startswith(("step 1/3", "step 2/3")) for status, _ in seen), seen
    assert all(size == (40, 27) for _, size in seen)
    assert explorer.status.value.startswith("done: 3 steps") and "40×27 px" in explorer.status.value
    assert not explorer.run_button.disabled


def test_button_click_runs(explorer):
    explorer.steps.value = 2
    explorer.run_button.click()
    assert explorer.result is not None and explorer.result.evaluations == 2
    assert bytes(explorer.preview.value).startswith(PNG_SIGNATURE)


def test_bad_value_is_reported_in_the_status_not_raised(explorer):
    explorer.size.value = 16  # 16×11 px: too small for conv5_1
    assert explorer.run() is None
    assert "too small" in explorer.status.value and explorer.status.value.startswith("error:")
    assert isinstance(explorer.error, ConfigError)
    assert not explorer.run_button.disabled and explorer.frames == 0


def test_missing_file_is_reported_in_the_status(images, tmp_path):
    ex = Explorer({"missing": tmp_path / "nope.png"}, {"s": images[1]}, config=FAST, size=32, steps=2)
    assert ex.run() is None
    assert ex.status.value.startswith("error:") and "nope.png" in ex.status.value


def test_default_menus_list_the_course_images():
    ex = Explorer()
    assert ex.content.value == "chelsea" and ex.style.value == "brush_strokes"
    assert {"astronaut", "coffee"} <= set(ex.content.options)
    assert ex.config() == Config().replace(image_size=128, num_steps=50)


def test_displays_as_its_widget(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    ex = Explorer(size=48, steps=2)
    ex._ipython_display_()
    assert shown == [ex.widget]
    assert ex.preview in ex.widget.children[0].children and ex.status in ex.widget.children


def test_measure_is_a_weight_free_ruler(images):
    content, style = images
    m = measure(content, content, style, FAST)
    assert m["content"] == 0.0
    assert m["tv"] == pytest.approx(tv_loss(content).item() / content.numel())
    assert m["style"] > 0
    assert measure(style, style, style, FAST)["style"] == pytest.approx(0.0, abs=1e-9)
    noisy = (content + 0.3 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert measure(noisy, content, style, FAST)["tv"] > 5 * m["tv"]
    with pytest.raises(ValueError, match="shape"):
        measure(content[..., :20], content, style, FAST)


def test_pow10_label():
    assert [pow10_label(v) for v in (1, 10, 1e5, 1e-6, 0.5)] == ["1", "10", "$10^{5}$", "$10^{-6}$", "0.5"]


def test_weight_grid_figure_labels(images):
    content = images[0]
    alphas, betas = (100.0, 10.0, 1.0), (1e5, 1e6, 1e7)
    grid = {(a, b): content * (i + j + 1) / 5 for i, a in enumerate(alphas) for j, b in enumerate(betas)}
    fig = weight_grid_figure(grid, alphas, betas)
    axes = fig.get_axes()
    assert len(axes) == 9
    assert fig.get_supxlabel() == "β (style weight)"
    assert fig.get_supylabel() == "α (content weight)"
    assert [ax.get_title() for ax in axes[:3]] == ["β = $10^{5}$", "β = $10^{6}$", "β = $10^{7}$"]
    assert [axes[k].get_ylabel() for k in (0, 3, 6)] == ["α = $10^{2}$", "α = 10", "α = 1"]
    assert "48×32 px" in fig.get_suptitle()
    assert fig._nstlib_photos  # shown as JPEG in notebooks, like course.show_images
    with pytest.raises(KeyError, match="no image"):
        weight_grid_figure(grid, alphas, (1e5, 1e8))

