import sys
sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build

intro = r"""The third term of the style transfer loss,

$$\mathcal{L}(x) = \alpha\,\mathcal{L}_\text{content}(x) + \beta\,\mathcal{L}_\text{style}(x)
+ \gamma\,\mathcal{L}_\text{TV}(x),$$

is not about content or style at all: the **total variation** $\mathcal{L}_\text{TV}$ is a smoothness prior on
the pixels. VGG features are blind to some high-frequency patterns (notebook 03), so the optimiser can leave
speckle and colour noise in the image at no cost; the TV term puts a price on it. Too high a price and the
image turns to mush. This is where two of the "common issues" of style transfer come from:

1. **noisy output** → raise `tv_weight`;
2. **blurry, over-smoothed output** → lower `tv_weight`.

In this notebook you will derive the TV gradient and check it against autograd, see what it does to a
noisy image, and then *measure* how large γ must be before it matters at all, because at the default
γ = 10⁻⁶ it barely does."""

cells = [
("md", r"""## 1 · The formula

`nstlib.tv_loss` is the sum of squared differences between vertically and horizontally neighbouring pixels,
over all channels $c$:

$$\mathcal{L}_\text{TV}(x) \;=\; \sum_{c,i,j} \bigl(x_{c,i+1,j} - x_{c,i,j}\bigr)^2
\;+\; \sum_{c,i,j} \bigl(x_{c,i,j+1} - x_{c,i,j}\bigr)^2 .$$

A flat image scores 0; every jump between neighbours costs its square. Note that it is a **sum**, not a mean:
an image with four times the pixels and the same kind of noise has about four times the TV, while the
content and style losses (means) stay the same. Keep that in mind for section 4.

(The "total variation" of image processing, Rudin, Osher & Fatemi 1992, sums $|\nabla x|$, not its square.
The squared version used in style transfer, following Mahendran & Vedaldi 2015, is smoother to optimise but,
as we will see, blurs edges as readily as it removes noise.)

## 2 · The gradient, by hand and by autograd

A pixel value $x_p$ appears in one difference with each of its (up to four) neighbours $q$. Differentiating
$(x_p - x_q)^2$ gives $2(x_p - x_q)$, so

$$\frac{\partial \mathcal{L}_\text{TV}}{\partial x_p} \;=\; 2 \sum_{q \in \mathcal{N}(p)} (x_p - x_q)
\;=\; -2\,(\Delta x)_p ,$$

minus twice the discrete Laplacian $\Delta$, where border pixels simply have fewer neighbours.
`nstlib.reconstruct.tv_gradient` implements this formula. On a tiny integer image the two must agree exactly:"""),
("code", r"""# NBVAL_CHECK_OUTPUT
import torch

from nstlib.reconstruct import tv_gradient

x = torch.tensor([[0.0, 1.0, 0.0, 0.0],
                  [0.0, 0.0, 2.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0]]).view(1, 1, 3, 4).requires_grad_(True)
tv = nstlib.tv_loss(x)
(auto,) = torch.autograd.grad(tv, x)
hand = tv_gradient(x.detach())
print("TV =", tv.item(), " = 1² + 1² + 1²  +  2² + 2² + 2² + 2²  (every jump, squared)")
print("autograd gradient:", auto[0, 0].int().tolist())
print("hand-derived:     ", hand[0, 0].int().tolist())
print("identical:", torch.equal(auto, hand))"""),
("md", r"""Check two entries by hand. The pixel with value 2 has four neighbours, all 0: $2 \cdot 4 \cdot (2 - 0) = 16$.
The pixel with value 1 sits on the top border, so it has three neighbours, all 0: $2 \cdot 3 \cdot 1 = 6$. Its
right neighbour (value 0) is pulled towards both bright pixels: $2\,[(0 - 1) + (0 - 2) + (0 - 0)] = -6$.

The same check on random images of several shapes, in double precision:"""),
("code", r"""gen = torch.Generator().manual_seed(0)
for shape in [(1, 3, 16, 16), (2, 3, 7, 11), (1, 1, 1, 9)]:
    x = torch.rand(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(nstlib.tv_loss(x), x)
    diff = (auto - tv_gradient(x.detach())).abs().max().item()
    print(f"{str(list(shape)):16} max |autograd - formula| = {diff:.1e}")
    assert diff < 1e-12"""),
("md", r"""### What the gradient does

Gradient descent on the TV alone moves each pixel towards the average of its neighbours:
$x \leftarrow x - \eta\,\nabla\mathcal{L}_\text{TV} = x + 2\eta\,\Delta x$, one explicit step of the **heat
equation**. Heat diffusion removes noise and blurs edges alike: the gradient has no way to tell a speckle
from the edge of an eye. Below: a patch of the photo at the main size `p.size`, the negative gradient
$-\nabla\mathcal{L}_\text{TV}$ of the patch (summed over the colour channels; red pushes a pixel up, blue
down), the same patch with noise and its gradient, and the noisy patch after a few descent steps on the TV
alone. On the clean patch the gradient is not zero: it lights up along the edges, which TV softens just as
it removes noise."""),
("code", r"""from matplotlib.figure import Figure

from nstlib.reconstruct import tv_per_pixel

p = course.current_preset()
photo = nstlib.load_image("../images/content/chelsea.png", p.small)  # for the style transfer runs below
big = nstlib.load_image("../images/content/chelsea.png", p.size)
h, w = big.shape[-2:]
side = min(h, w) // 2
y0, x0 = int(0.15 * h), int(0.2 * w)  # a square patch around the cat's left eye
patch = big[:, :, y0:y0 + side, x0:x0 + side]
noisy = (patch + 0.08 * torch.randn(patch.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
grad = tv_gradient(noisy)

smoothed = noisy.clone()
for _ in range(10):  # plain gradient descent on the TV term alone (stable for a step below 1/8)
    smoothed = smoothed - 0.05 * tv_gradient(smoothed)

fig = Figure(figsize=(16, 3.7), layout="constrained")
axes = fig.subplots(1, 5)
lim = grad.abs().quantile(0.99).item()  # one colour scale for both gradients
panels = [(patch, "a patch of the photo"), (tv_gradient(patch), "−∇ TV of the patch: edges"),
          (noisy, "with noise (σ = 0.08)"), (grad, "−∇ TV of the noisy patch"),
          (smoothed, "after 10 TV descent steps")]
for ax, (img, title) in zip(axes, panels):
    if "∇" in title:
        im = ax.imshow(-img[0].sum(0).numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    else:
        ax.imshow(img[0].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        title += f"\nTV per value {tv_per_pixel(img):.4f}"
    ax.set(title=title, xlabel="x (px)")
axes[0].set_ylabel("y (px)")
fig.colorbar(im, ax=axes[3], shrink=0.8, label="−∂TV/∂x, summed over RGB")
fig.suptitle("The TV gradient points towards the neighbours' average: it removes noise and blurs edges")
course.export_figure(fig, "05_tv_gradient")
fig"""),
("code", r"""# Teaching-critical facts, checked on every run
assert tv_per_pixel(noisy) > 2 * tv_per_pixel(patch), "noise raises the TV"
assert tv_per_pixel(smoothed) < 0.5 * tv_per_pixel(noisy), "TV descent removes most of it"
assert abs(grad.sum().item()) < 1e-3 * grad.abs().sum().item(), "TV only sees differences: the gradient sums to 0"
"""),
("md", r"""## 3 · How big is the TV term at the default?

Run style transfer at the default γ = 10⁻⁶ and look at the three weighted terms at the best step. We use the
`high_content` preset (α = 10, β = 10⁵) rather than the default balance (α = 1, β = 10⁶), so that the cat stays
recognisable and blur is easy to see in section 4; the default balance leads to the same conclusions, with a
larger style term. This run is also the first of the γ sweep."""),
("code", r"""style = nstlib.load_image("../images/style/brush_strokes.png", p.small)
GAMMAS = [1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
steps = p.steps(150)


def terms(result):
    # The weighted loss terms at the best step (the step whose image the Result holds).
    i = result.best_step - 1
    return {k: result.history[k][i] for k in ("content", "style", "tv", "total")}


config = nstlib.Config.preset("high_content", num_steps=steps)
runs = {1e-6: nstlib.stylize(photo, style, config, tv_weight=1e-6, device=device, progress=False)}
t = terms(runs[1e-6])
raw_tv = t["tv"] / 1e-6
print(f"weighted terms at γ = 1e-6: content {t['content']:.3g}, style {t['style']:.3g}, TV {t['tv']:.3g}")
print(f"the TV term is {t['tv'] / t['total']:.1e} of the total loss")
crossover = (t["content"] + t["style"]) / raw_tv
print(f"γ · TV would equal the other two terms at γ ≈ {crossover:.2g} (the unweighted TV is {raw_tv:.4g})")"""),
("md", r"""At this calibration of VGG (each layer's mean response on photos is about 1), the default γ makes the TV term
a vanishing fraction of the loss: **the default `tv_weight` does essentially nothing**. It is a harmless
setting, not a smoothing one. The estimate above says where TV starts to compete: around the γ at which
$\gamma\,\mathcal{L}_\text{TV}$ equals the other two terms. The sweep checks it.

## 4 · A γ sweep: from noisy to blurry

Same content, style and budget; only γ changes, by decades."""),
("code", r"""for gamma in GAMMAS:
    if gamma not in runs:
        runs[gamma] = nstlib.stylize(photo, style, config, tv_weight=gamma, device=device, progress=False)
out_tv = {g: nstlib.tv_loss(r.image).item() for g, r in runs.items()}
visible = min((g for g in GAMMAS if out_tv[g] < 0.8 * out_tv[1e-6]), default=None)
print(f"the output's TV first falls by more than 20% (against the default) at γ = {visible:.0e}" if visible
      else "no γ in the sweep lowered the output's TV by 20%")
for g in GAMMAS:
    t = terms(runs[g])
    print(f"γ = {g:7.0e}: output TV {out_tv[g]:8.4g}   weighted: content {t['content']:8.3g}  "
          f"style {t['style']:8.3g}  γ·TV {t['tv']:8.3g}")

fig = course.show_images([photo, *[runs[g].image for g in GAMMAS]],
                         ["content photo", *[f"γ = {g:.0e}" + (" (default)" if g == 1e-6 else "") for g in GAMMAS]],
                         ncols=4, width=3.0, suptitle="Raising tv_weight: from noisy to blurry")
course.export_figure(fig, "05_tv_sweep")
fig"""),
("code", r"""photo_tv = nstlib.tv_loss(photo).item()
fig = Figure(figsize=(12, 4.2), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
ax1.loglog(GAMMAS, [out_tv[g] for g in GAMMAS], "o-", color="tab:green", label="the result")
ax1.axhline(photo_tv, color="gray", linestyle=":", label="the content photo")
ax1.set(title="Total variation of the result", xlabel="tv_weight γ (log scale)",
        ylabel="TV of the output image (log scale)")
for name, color in (("content", "tab:blue"), ("style", "tab:red"), ("tv", "tab:green")):
    label = "γ · TV" if name == "tv" else ("α · content" if name == "content" else "β · style")
    ax2.loglog(GAMMAS, [terms(runs[g])[name] for g in GAMMAS], "o-", color=color, label=label)
ax2.set(title="Weighted loss terms of the result", xlabel="tv_weight γ (log scale)",
        ylabel="weighted loss at the best step (log scale)")
for ax in (ax1, ax2):
    ax.axvline(1e-6, color="black", linestyle="--", linewidth=1, label="default γ = 1e-6")
    ax.axvline(crossover, color="tab:purple", linestyle="-.", linewidth=1, label=f"estimate γ ≈ {crossover:.1g}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
course.export_figure(fig, "05_tv_vs_gamma")
fig"""),
("code", r"""# Teaching-critical facts, checked on every run
tvs = [out_tv[g] for g in GAMMAS]
from nstlib.reconstruct import is_increasing

assert is_increasing(tvs[::-1], rel_tol=0.2), f"the output's TV should fall as γ grows: {tvs}"
assert tvs[-1] < 0.5 * tvs[0], "a large γ should at least halve the variation"
assert terms(runs[1e-6])["tv"] < 1e-3 * terms(runs[1e-6])["total"], "the default γ is a negligible term"
assert terms(runs[GAMMAS[-1]])["tv"] > terms(runs[GAMMAS[-1]])["content"], "a large γ dominates the content term"
"""),
("md", r"""Reading the two plots together:

* **Below the estimate**, γ·TV is orders of magnitude below the other terms, and the result's TV stays at
  the level of γ = 0: whatever noise the style loss leaves is left alone. Small differences between these
  runs are the wiggle of a finite L-BFGS run, not an effect of γ.
* **From about a decade below the estimate** (the sweep printed where the TV first falls by 20%), the TV of
  the result drops: speckle and colour noise go first, the strokes of the style stay. This is the useful range.
* **Above it**, γ·TV dominates the loss. The optimiser smooths the image at the expense of the style term
  (the red curve rises): the strokes dissolve, the image gets blurry.

**Common issue 1, noisy output → raise `tv_weight`.** At this calibration "raise" means by orders of magnitude,
into the range the sweep measured (up to the estimate printed in section 3), not by a factor of two. **Common issue 2, blurry output → lower
`tv_weight`.** At the default γ = 10⁻⁶ the TV term cannot be the cause; look at β and the number of steps
first. (Both issues are phrased for γ, but they are about the *balance* of the terms: with a larger β the
same γ smooths less.) And because $\mathcal{L}_\text{TV}$ is a sum over pixels, the right γ shrinks as the image grows: about
4× smaller for twice the side length, at the same noise level. Notebook 08 reproduces both issues, and their
fixes, side by side with the other common issues.

### Exercises

**1.** Start from noise (`init="noise"`) instead of the photo, at the default γ and at the estimate above.
Which output is noisier, and why is TV more useful here than with the default `init="content"`?

<details><summary>Solution</summary>

```python
for gamma in (1e-6, crossover):
    r = nstlib.stylize(photo, style, config, init="noise", tv_weight=gamma, progress=False)
    print(f"γ = {gamma:.1g}: output TV {nstlib.tv_loss(r.image).item():.4g}")
    course.show_images([r.image], [f"init noise, γ = {gamma:.1g}"])
```
Uniform noise has a TV per value of about 1/3, far above any photo. The parts of that noise the VGG features
are blind to are never removed by the content and style terms; only the TV term removes them. Starting from the
photo, there is little such noise to begin with.
</details>

**2.** Check the claim that the TV of an image grows with its size: compute `nstlib.tv_loss` of the photo at
`p.small` and at `p.size`, and of uniform noise at both sizes.

<details><summary>Solution</summary>

```python
for size in (p.small, p.size):
    img = nstlib.load_image("../images/content/chelsea.png", size)
    print(size, "px: photo", nstlib.tv_loss(img).item(), " noise", nstlib.tv_loss(torch.rand(img.shape)).item())
```
The noise's TV grows with the number of pixels (about 4× for twice the side). The photo's grows more slowly,
because at a higher resolution neighbouring pixels of a smooth photo are closer in value. Either way γ must be
chosen for the resolution you work at.
</details>

**3.** Derive the gradient of the *absolute* version $\sum |x_{i+1,j} - x_{i,j}| + \dots$ and explain why it
blurs edges less.

<details><summary>Solution</summary>

$\partial |d| / \partial d = \operatorname{sign}(d)$, so each neighbour pulls with the same strength whatever
the size of the jump: $\partial \mathcal{L} / \partial x_p = \sum_{q} \operatorname{sign}(x_p - x_q)$. With
the square, the pull is proportional to the jump, so a strong edge is pulled 2(jump) hard and is the first
thing to be smoothed; with the absolute value a strong edge costs no more to keep per unit of height than
a weak one, so the optimiser removes many small wiggles (noise) before it lowers one large edge.
</details>"""),
]
build("/work/main/notebooks/05_total_variation.ipynb", "05 · Total variation: the smoothness prior", intro, cells)
