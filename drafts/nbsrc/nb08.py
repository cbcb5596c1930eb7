import sys
sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build

intro = r"""Gatys' loss has three knobs:

$$\mathcal{L}(x) = \alpha\,\mathcal{L}_\text{content}(x) + \beta\,\mathcal{L}_\text{style}(x) + \gamma\,\mathcal{L}_\text{TV}(x)$$

α (`content_weight`) pulls the image towards the photo's deep features, β (`style_weight`) towards the style's
Gram matrices, γ (`tv_weight`) towards smoothness. This notebook turns them:

1. an **α × β grid**, and the seed's three **presets**;
2. the seed's **five common issues**, each reproduced and fixed, with a number that shows the fix worked;
3. an **interactive explorer** (sliders, a Run button and a live preview) to try your own settings.

Every run here is made at the small grid size (`p.small`: 128 px at `medium`) with the same number of L-BFGS
steps, so the comparisons are fair; the whole notebook takes three to four minutes on a laptop CPU."""

cells = [
("md", r"""## 1 · Only the ratios matter (mostly)

Multiplying the whole loss by a constant $c$ changes neither its minima nor, for L-BFGS, its path: the gradient
grows by $c$ while L-BFGS's curvature estimate grows by $c$ too, so the two cancel in the step
$-H\,\nabla\mathcal{L}$, and the line search's conditions compare the loss with itself.
So $(\alpha, \beta, \gamma)$ and $(c\alpha, c\beta, c\gamma)$ give the same image, and what you are really choosing
is two ratios: **β/α** (style against content) and **γ/α** (smoothness against content).

One more thing to keep in mind: the content and style losses are *means* (the Gram matrix is normalised by
$C\cdot H\cdot W$), but $\mathcal{L}_\text{TV}$ is a *sum* over pixels. A γ that is right at 128 px is
too strong at 512 px: retune γ when you change the image size.

The setup below loads one pair of images at the grid size and defines `run()`, which stylises with some settings
and remembers the result, so that identical settings are computed only once, and `ruler()`, which measures a result
**without the weights**: the unweighted content loss, the unweighted style loss and the total variation per value
(`nstlib.explorer.measure`). Weighted losses cannot be compared across different weights; these can."""),
("code", r"""import numpy as np
from matplotlib.figure import Figure

from nstlib.explorer import measure, pow10_label, weight_grid_figure

p = course.current_preset()
STEPS = p.steps(80)  # L-BFGS steps (loss evaluations) per run
content = nstlib.load_image("../images/content/chelsea.png", p.small)
style = nstlib.load_image("../images/style/brush_strokes.png", p.small)
base = nstlib.Config(image_size=p.small, num_steps=STEPS, device=device)

runs: dict[nstlib.Config, nstlib.Result] = {}  # settings -> result: identical settings run once


def run(config: nstlib.Config = base, **changes) -> nstlib.Result:
    cfg = config.replace(**changes)
    if cfg not in runs:
        runs[cfg] = nstlib.stylize(content, style, cfg, progress=False)
    return runs[cfg]


def ruler(result: nstlib.Result) -> dict[str, float]:
    return measure(result.image, content, style, base)


PHOTO_TV = measure(content, content, style, base)["tv"]  # the photo's own total variation per value
print(f"content {content.shape[-1]}×{content.shape[-2]} px, {STEPS} L-BFGS steps per run; "
      f"the photo's TV per value is {PHOTO_TV:.4f}")"""),
("md", r"""The seed names three settings. In Gatys' notation they differ only in the ratio β/α:"""),
("code", r"""# NBVAL_CHECK_OUTPUT
print(f"{'preset':<14}{'α content':>10}{'β style':>10}{'β/α':>8}")
for name, w in nstlib.PRESETS.items():
    a, b = w["content_weight"], w["style_weight"]
    print(f"{name:<14}{a:>10g}{b:>10g}{b / a:>8g}")"""),
("md", r"""## 2 · The α × β grid

Nine runs: α ∈ {100, 10, 1} (rows, top to bottom) and β ∈ {10⁵, 10⁶, 10⁷} (columns). β/α grows from 10³ in the
top-left corner to 10⁷ in the bottom-right one, and the cells on each diagonal from bottom-left to top-right share
one ratio. All three presets are cells of this grid."""),
("code", r"""ALPHAS = (100.0, 10.0, 1.0)  # rows, top to bottom
BETAS = (1e5, 1e6, 1e7)  # columns, left to right
grid = {(a, b): run(content_weight=a, style_weight=b) for a in ALPHAS for b in BETAS}
print(f"{len(grid)} runs × {STEPS} steps in {sum(r.seconds for r in grid.values()):.0f} s")"""),
("code", r"""fig = weight_grid_figure({k: r.image for k, r in grid.items()}, ALPHAS, BETAS,
                         title=f"Chelsea in brush strokes, {STEPS} L-BFGS steps")
course.export_figure(fig, "08_weight_grid")
fig"""),
("md", r"""Read it along the diagonals: cells with the same β/α are practically the same image, as section 1 predicted,
and moving towards the bottom-right trades the cat for brush strokes. The ruler says the same in numbers:"""),
("code", r"""measured = {k: ruler(r) for k, r in grid.items()}
print(f"{'α':>5} {'β':>7} {'β/α':>7}   {'content loss':>12} {'style loss':>10}")
for (a, b), m in measured.items():
    print(f"{a:>5g} {b:>7.0e} {b / a:>7.0e}   {m['content']:>12.3g} {m['style']:>10.3g}")"""),
("code", r"""# Teaching-critical facts, checked on every run
low, high = measured[100.0, 1e5], measured[1.0, 1e7]  # β/α = 10³ and 10⁷
assert low["content"] < 0.5 * high["content"], "a low β/α keeps the photo's content"
assert measured[100.0, 1e7]["style"] < measured[100.0, 1e5]["style"], "at a fixed α, a higher β matches the style better"
same_ratio = [((1.0, 1e5), (10.0, 1e6), (100.0, 1e7)), ((1.0, 1e6), (10.0, 1e7)), ((10.0, 1e5), (100.0, 1e6))]
for cells in same_ratio:  # only β/α matters: equal ratios give equal losses, to rounding
    for key in ("content", "style"):
        values = [measured[c][key] for c in cells]
        assert max(values) < 1.15 * min(values), f"equal β/α but different {key} losses: {values}"
for r in grid.values():
    assert r.image.shape == content.shape and r.final_loss < r.history["total"][0]"""),
("md", r"""## 3 · The seed's presets

`nstlib.Config.preset(name)` gives the seed's three settings; all other fields keep their defaults (or your
overrides). `run()` finds each of them among the grid's results, so no new optimisation is needed."""),
("code", r"""before = len(runs)
presets = {name: run(nstlib.Config.preset(name, image_size=p.small, num_steps=STEPS, device=device))
           for name in ("high_style", "balanced", "high_content")}
print(f"new runs needed: {len(runs) - before}")
preset_measures = {name: ruler(r) for name, r in presets.items()}
for name, m in preset_measures.items():
    print(f"{name:<13} content loss {m['content']:6.3g}   style loss {m['style']:.3g}")"""),
("code", r"""titles = [f"{name}: α = {pow10_label(r.config.content_weight)}, β = {pow10_label(r.config.style_weight)}"
          for name, r in presets.items()]
fig = course.show_images([r.image for r in presets.values()], titles, width=3.0,
                         suptitle="The seed's presets, from most style to most content")
course.export_figure(fig, "08_presets")
fig"""),
("code", r"""assert preset_measures["high_content"]["content"] < min(preset_measures["balanced"]["content"],
                                                        preset_measures["high_style"]["content"])
assert presets["balanced"] is grid[1.0, 1e6] and presets["high_content"] is grid[10.0, 1e5]"""),
("md", r"""With these calibrated VGG features, `balanced` (β/α = 10⁶) already gives the style the upper hand; `high_content`
(β/α = 10⁴) is the one that keeps the cat at this size and budget. Which preset is "balanced" depends on the
network's calibration and the loss normalisation, so treat the names as directions, not as promises.

## 4 · Five common issues, reproduced and fixed

The seed lists five symptoms and their cures. Each pair below changes **one** setting, starting from the
`high_content` preset (α = 10, β = 10⁵, γ = 10⁻⁶), and prints a measurement, so that the fix shows in a number and
not only to the eye. The gallery at the end shows all five pairs.

### Issue 1 · Noisy, grainy output → raise `tv_weight`

*Problem:* speckles of high-frequency colour, clearest when the optimisation starts from noise. VGG barely sees
single-pixel noise, so neither the content nor the style loss removes it. *Fix:* **raise γ** (`tv_weight`), which
penalises differences between neighbouring pixels. *Measure:* total variation per value, relative to the photo's
($\text{TV}(x)/\text{TV}(x_c)$; 1 means as smooth as the photo)."""),
("code", r"""B = presets["high_content"].config  # the starting point of every pair
GAMMA_GOOD = 0.3  # a tv_weight that suits this image size (see section 1)
GAMMA_BLUR = 100.0  # far too much

grainy, degrained = run(B, init="noise"), run(B, init="noise", tv_weight=GAMMA_GOOD)
tv_grainy, tv_degrained = (ruler(r)["tv"] / PHOTO_TV for r in (grainy, degrained))
print(f"TV relative to the photo: problem (γ = {B.tv_weight:g}) {tv_grainy:.2f} → fix (γ = {GAMMA_GOOD:g}) {tv_degrained:.2f}")
assert tv_degrained < 0.5 * tv_grainy, "raising γ removes most of the grain"
"""),
("md", r"""### Issue 2 · Blurry, washed-out output → lower `tv_weight`

*Problem:* the opposite: γ so large that smoothness wins over everything, and edges and colours fade to flat
patches. *Fix:* **lower γ**. *Measure:* the same TV ratio, now far *below* 1."""),
("code", r"""blurry, sharp = run(B, tv_weight=GAMMA_BLUR), run(B, tv_weight=GAMMA_GOOD)
tv_blurry, tv_sharp = (ruler(r)["tv"] / PHOTO_TV for r in (blurry, sharp))
print(f"TV relative to the photo: problem (γ = {GAMMA_BLUR:g}) {tv_blurry:.2f} → fix (γ = {GAMMA_GOOD:g}) {tv_sharp:.2f}")
assert tv_blurry < 0.5 and tv_sharp > 2 * tv_blurry, "lowering γ brings the detail back"
"""),
("md", r"""### Issue 3 · Content lost, the subject unrecognisable → raise α (or use `high_content`)

*Problem:* β/α so high that the style's statistics win and the cat dissolves (`high_style`). *Fix:* **raise the
content weight**, or lower β: the `high_content` preset. *Measure:* the unweighted content loss (how far the
image's `conv4_2` features are from the photo's)."""),
("code", r"""lost, kept = presets["high_style"], presets["high_content"]
c_lost, c_kept = ruler(lost)["content"], ruler(kept)["content"]
print(f"content loss: problem (high_style) {c_lost:.3g} → fix (high_content) {c_kept:.3g}")
assert c_kept < 0.8 * c_lost, "more content weight keeps the subject"
"""),
("md", r"""### Issue 4 · Style too weak → raise β (or run more steps)

*Problem:* β/α so low (here α = 100, β = 10⁵) that the result is the photo with a faint tint. *Fix:* **raise the
style weight** (here to β = 10⁷), or give the optimiser more steps (exercise 1). *Measure:* the unweighted style
loss (how far the image's Gram matrices are from the style's)."""),
("code", r"""weak, strong = grid[100.0, 1e5], grid[100.0, 1e7]
s_weak, s_strong = ruler(weak)["style"], ruler(strong)["style"]
print(f"style loss: problem (β = 1e5) {s_weak:.3g} → fix (β = 1e7) {s_strong:.3g}")
assert s_strong < 0.8 * s_weak, "more style weight matches the style better"
"""),
("md", r"""### Issue 5 · Slow or stuck optimisation → use L-BFGS and start from the content

*Problem:* Adam with a tiny learning rate (0.001) moves each pixel by about 0.001 per step, and starting from noise
it has to build the whole picture that way: after the budget the loss has hardly moved. *Fix:* **L-BFGS** (the
default), which takes curvature-scaled steps, **starting from the content photo** (`init="content"`, the
default). *Measure:* the total loss, with the same α, β, γ for both, after the same number of steps."""),
("code", r"""stuck = run(B, optimizer="adam", learning_rate=1e-3, init="noise")
moving = run(B)  # L-BFGS from the content photo
for label, r in (("problem (Adam, lr 0.001, noise)", stuck), ("fix (L-BFGS, content)", moving)):
    print(f"{label:<32} total loss {r.history['total'][0]:9.4g} → {r.final_loss:9.4g} in {r.evaluations} steps")
assert moving.final_loss < 0.5 * stuck.final_loss, "L-BFGS from the content gets much further"
"""),
("code", r"""fig = Figure(figsize=(7, 3.6), layout="constrained")
ax = fig.add_subplot()
for r, label, color in ((stuck, "Adam, lr 0.001, from noise", "tab:red"),
                        (moving, "L-BFGS, from the content photo", "tab:blue")):
    steps = np.arange(1, r.evaluations + 1)
    ax.plot(steps, r.history["total"], color=color, alpha=0.3, linewidth=1)
    ax.plot(steps, np.minimum.accumulate(r.history["total"]), color=color, label=f"{label}: lowest so far")
ax.set_yscale("log")
ax.set_xlabel("loss evaluation (forward + backward pass)")
ax.set_ylabel("total loss (α = 10, β = 10⁵), log scale")
ax.set_title("Issue 5: a tiny Adam step from noise is stuck; L-BFGS from the photo is not")
ax.grid(True, alpha=0.3)
ax.legend()
course.export_figure(fig, "08_stuck_optimiser")
fig"""),
("md", r"""The faint lines are every evaluation: L-BFGS's line search tries some steps that it then rejects, which is
why its raw curve has spikes. The image it returns is the best one seen (the solid line)."""),
("md", r"""### The gallery

Problem on the left, fix on the right, with the measurement in each title."""),
("code", r"""gallery = [
    ("1 noisy", grainy, f"γ = {B.tv_weight:g}, from noise", degrained, f"γ = {GAMMA_GOOD:g}",
     "TV/photo", tv_grainy, tv_degrained),
    ("2 blurry", blurry, f"γ = {GAMMA_BLUR:g}", sharp, f"γ = {GAMMA_GOOD:g}", "TV/photo", tv_blurry, tv_sharp),
    ("3 content lost", lost, "high_style", kept, "high_content", "content loss", c_lost, c_kept),
    ("4 style weak", weak, "α = 100, β = 1e5", strong, "α = 100, β = 1e7", "style loss", s_weak, s_strong),
    ("5 stuck", stuck, "Adam lr 0.001, noise", moving, "L-BFGS, content", "total loss",
     stuck.final_loss, moving.final_loss),
]
images, titles = [], []
for issue, bad, bad_label, good, good_label, metric, v_bad, v_good in gallery:
    images += [bad.image, good.image]
    titles += [f"{issue}: {bad_label}\n{metric} {v_bad:.3g}", f"fix: {good_label}\n{metric} {v_good:.3g}"]
fig = course.show_images(images, titles, ncols=2, width=2.8,
                         suptitle="Five common issues: problem → fix")
course.export_figure(fig, "08_issues_gallery")
fig"""),
("code", r"""print(f"{'issue':<16}{'measure':<14}{'problem':>9}{'fix':>9}")
for issue, *_, metric, v_bad, v_good in gallery:
    print(f"{issue:<16}{metric:<14}{v_bad:>9.3g}{v_good:>9.3g}")
print(f"\n{len(runs)} optimisations in {sum(r.seconds for r in runs.values()):.0f} s")"""),
("md", r"""## 5 · An interactive explorer

`nstlib.explorer.Explorer` puts sliders in front of `stylize`: log sliders for α, β and γ (a slider on the
exponent, since the useful values span many decades), sliders for the steps and the size, the images, a preset
menu and a Run button. The preview is refreshed *while* the optimisation runs: `stylize` calls the explorer back
after every loss evaluation, and every few steps the explorer encodes the current image as a PNG and assigns it to
an `ipywidgets.Image`, which the page redraws. It works in JupyterLab, Jupyter Notebook and Colab.

While a run is going the kernel is busy: slider moves take effect at the next run, and *Interrupt* stops the run
and keeps the best image so far."""),
("code", r"""from nstlib.explorer import Explorer

explorer = Explorer(config=nstlib.Config(device=device), size=p.small, steps=p.steps(80), every=5)
explorer"""),
("md", r"""Press **Run** above. Here the notebook presses it itself for one small run, as `make test` has no one to click."""),
("code", r"""explorer.preset.value = "high_content"
explorer.steps.value = p.steps(20)
explorer.run_button.click()  # the same as a click on the page: runs explorer.run()
print(explorer.status.value)"""),
("code", r"""import io

from PIL import Image

from nstlib.explorer import PNG_SIGNATURE

png = bytes(explorer.preview.value)
height, width = explorer.result.image.shape[-2:]
assert explorer.error is None and explorer.status.value.startswith("done")
assert png.startswith(PNG_SIGNATURE) and Image.open(io.BytesIO(png)).size == (width, height)
assert explorer.frames >= 2, "the preview was refreshed during the run, not only at the end"
assert explorer.config().content_weight == 10.0 and explorer.config().style_weight == 1e5"""),
("code", r"""course.show_images([explorer.result.image], [f"explorer: {explorer.content.value} × {explorer.style.value}"],
                   suptitle="The explorer's last result")"""),
("md", r"""A bad setting does not raise inside the widget (where the error would vanish into the browser's log): it is
reported in the status line. A 16-pixel image is too small for `conv5_1`:"""),
("code", r"""explorer.size.value = 16
assert explorer.run() is None
print(explorer.status.value)
explorer.size.value = p.small"""),
("md", r"""## Exercises

**1.** Issue 4 says "raise β *or run more steps*". Check the second cure: run the weak-style setting (α = 100,
β = 10⁵) with three times the steps and measure its style loss.

<details><summary>Solution</summary>

```python
longer = run(content_weight=100.0, style_weight=1e5, num_steps=3 * STEPS)
print(f"style loss: {STEPS} steps {ruler(grid[100.0, 1e5])['style']:.3g}, "
      f"{3 * STEPS} steps {ruler(longer)['style']:.3g}")
```
Compare the gain with that of β = 10⁷ above. At β/α = 10³ the minimum of the loss itself stays close to the photo,
so more steps alone cannot bring in as much style as a higher β.
</details>

**2.** Section 1 warned that $\mathcal{L}_\text{TV}$ is a sum over pixels. Repeat the fix of issue 1 at twice
the size: is γ = 0.3 still right?

<details><summary>Solution</summary>

```python
big_content = nstlib.load_image("../images/content/chelsea.png", 2 * p.small)
big_style = nstlib.load_image("../images/style/brush_strokes.png", 2 * p.small)
for gamma in (GAMMA_GOOD, GAMMA_GOOD / 4):
    r = nstlib.stylize(big_content, big_style, B.replace(init="noise", tv_weight=gamma), progress=False)
    ratio = measure(r.image, big_content, big_style, base)["tv"] / measure(big_content, big_content, big_style, base)["tv"]
    print(f"γ = {gamma:g}: TV relative to the photo {ratio:.2f}")
```
With four times as many pixel pairs, the same γ weighs more against the content and style losses (which are
means), so the result is smoother. To keep the balance, divide γ roughly by the growth in pixel count.
</details>

**3.** Use the explorer to stylise the rocket with the Mondrian style; find a γ that removes the grain without
blurring the edges.

<details><summary>Solution</summary>

```python
explorer.content.value, explorer.style.value = "rocket", "mondrian"
explorer.preset.value = "balanced"
explorer.gamma.value = 0.3
explorer.run()
```
Then move γ by factors of 10 either way and press Run, watching the preview: too little leaves speckles in
the flat colour fields, too much rounds the black lines.
</details>

## What next

You now know what each weight does, how to diagnose the five common issues, and how to check a fix with a
number. The explorer is a good place to build intuition for a new pair of images before a long run."""),
]
build("/work/main/notebooks/08_weight_tuning.ipynb", "08 · Weight tuning: α, β, γ, common issues and an explorer",
      intro, cells)
