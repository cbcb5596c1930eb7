import sys
sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build

intro = r"""Notebooks 01–05 took the algorithm apart: VGG features, Gram matrices, the content loss, the style loss,
total variation. This one puts it back together and runs it, one step at a time:

1. start from the seed's `CONFIG` dict and fit it to the course preset,
2. load and resize the two images,
3. build the VGG19 feature extractor for the content and style layers,
4. compute the targets once (content features, style Gram matrices),
5. write down the loss,
6. set up the optimiser and take a few steps by hand,
7. hand over to `nstlib.stylize` and watch it with a live preview, then read the loss curves.

By the end you will know every line of what `stylize` does."""

cells = [
("md", r"""## 0 · The configuration

The course started from a script whose settings lived in one dict, `CONFIG`. `nstlib.Config.from_dict` reads it
as it is and fills in the rest with the defaults: L-BFGS, starting from the content photo, the original (Caffe)
VGG19 weights, Gatys' layers. Nothing in the next cell depends on the preset, so its output is the same
everywhere."""),
("code", r"""# NBVAL_CHECK_OUTPUT
CONFIG = {"image_size": 512, "style_weight": 1e6, "content_weight": 1, "tv_weight": 1e-6,
          "num_steps": 300, "learning_rate": 0.01}
seed_config = nstlib.Config.from_dict(CONFIG)

print(f"optimizer: {seed_config.optimizer}, init: {seed_config.init}, weights: {seed_config.weights}")
print(f"content layers: {', '.join(seed_config.content_layers)}")
print(f"style layers:   {', '.join(seed_config.style_layers)}")
print(f"α = {seed_config.content_weight:g}, β = {seed_config.style_weight:g}, γ = {seed_config.tv_weight:g}")"""),
("md", r"""The seed's 512 px and 300 steps are meant for a GPU. `Config` is frozen, so `.replace(...)` makes a copy
with the image size and the step budget of the current preset (`medium`: 256 px and 200 steps;
`quick`: 64 px and 40 steps). The `learning_rate` stays in the config but L-BFGS does not use it
(notebook 07 puts it to work with Adam)."""),
("code", r"""p = course.current_preset()
config = seed_config.replace(image_size=p.size, num_steps=p.steps(200))
print(f"preset {p.name}: images at {config.image_size} px, {config.num_steps} loss evaluations")"""),
("md", r"""## 1 · Load and resize the images

`load_image` returns an RGB tensor `[1, 3, H, W]` in [0, 1] whose longer side is `image_size`. The style image
need not have the content's shape: its Gram matrices (step 3) do not depend on the image size."""),
("code", r"""import torch

content = nstlib.load_image("../images/content/astronaut.png", config.image_size).to(device)
style = nstlib.load_image("../images/style/brush_strokes.png", config.image_size).to(device)
print(f"content {tuple(content.shape)}, style {tuple(style.shape)}, values in [{content.min():.2f}, {content.max():.2f}]")
fig = course.show_images([content, style], ["content: astronaut", "style: brush_strokes"], width=2.6,
                         suptitle="Step 1 · the inputs, longer side = image_size")
fig"""),
("md", r"""## 2 · The feature extractor

One frozen VGG19, truncated after the deepest layer we need (`conv5_1`), returns a dict of feature maps, one per
requested layer. Its weights never change: only the image's pixels will be optimised."""),
("code", r"""layers = list(dict.fromkeys([*config.content_layers, *config.style_layers]))
vgg = nstlib.VGGFeatures(layers, weights=config.weights, pooling=config.pooling, device=device)
n_params = sum(w.numel() for w in vgg.parameters())
print(f"VGG19 kept up to convolution {vgg.depth} of 16 ({layers[-1]}): {n_params / 1e6:.1f} M frozen parameters")
print(f"requires_grad on the weights: {any(w.requires_grad for w in vgg.parameters())}")"""),
("md", r"""## 3 · The targets, computed once

The content target is the photo's feature map at `conv4_2`; the style targets are the style image's Gram matrices
at the five style layers,

$$G^l_{ij} = \frac{1}{C_l H_l W_l} \sum_{p} F^l_{ip} F^l_{jp},$$

where $F^l$ is layer $l$'s feature map flattened to $C_l \times H_l W_l$. Both are constants of the optimisation,
so we compute them once, under `torch.no_grad()`: no graph is kept for them, which saves memory, and no
gradient can flow into them."""),
("code", r"""with torch.no_grad():
    content_feats = vgg(content)
    style_feats = vgg(style)
content_targets = {n: content_feats[n] for n in config.content_layers}
style_targets = {n: nstlib.gram_matrix(style_feats[n]) for n in config.style_layers}
for n, t in content_targets.items():
    print(f"content target {n}: feature map {tuple(t.shape)} (1/8 of the image's resolution)")"""),
("md", r"""A Gram matrix is $C_l \times C_l$ whatever the size of the image, which is why the style image may have any
size: these shapes are the same at 64 px and at 512 px."""),
("code", r"""# NBVAL_CHECK_OUTPUT
for n, g in style_targets.items():
    print(f"style target {n}: Gram matrix {tuple(g.shape)}, {g[0].numel():>7,} numbers")"""),
("md", r"""## 4 · The loss

For an image $x$, with content photo $c$ and style image $s$:

$$\mathcal{L}_\text{content}(x) = \frac{1}{C H W} \sum_{i,p} \big(F^{\text{conv4\_2}}_{ip}(x) - F^{\text{conv4\_2}}_{ip}(c)\big)^2$$

$$\mathcal{L}_\text{style}(x) = \sum_{l \in \text{style layers}} \frac{1}{C_l^2} \sum_{i,j} \big(G^l_{ij}(x) - G^l_{ij}(s)\big)^2$$

$$\mathcal{L}_\text{TV}(x) = \sum_{i,j} (x_{i+1,j} - x_{i,j})^2 + (x_{i,j+1} - x_{i,j})^2$$

$$\boxed{\mathcal{L}(x) = \alpha\,\mathcal{L}_\text{content}(x) + \beta\,\mathcal{L}_\text{style}(x) + \gamma\,\mathcal{L}_\text{TV}(x)}
\qquad \alpha = 1,\ \beta = 10^6,\ \gamma = 10^{-6}$$

In code that is three library calls and the weights. We evaluate it at the starting image, the photo itself:"""),
("code", r"""alpha, beta, gamma = config.content_weight, config.style_weight, config.tv_weight


def loss_terms(x):
    # The weighted loss terms of an image x [1, 3, H, W]: one forward pass through VGG.
    feats = vgg(x)
    c = sum(nstlib.content_loss(feats[n], t) for n, t in content_targets.items())
    s = sum(nstlib.style_loss(feats[n], g) for n, g in style_targets.items())
    return {"content": alpha * c, "style": beta * s, "tv": gamma * nstlib.tv_loss(x)}


with torch.no_grad():
    start_terms = {k: v.item() for k, v in loss_terms(content).items()}
start_total = sum(start_terms.values())
for k, v in start_terms.items():
    print(f"{k:>8}: {v:10.4g}")
print(f"{'total':>8}: {start_total:10.4g}")"""),
("md", r"""At the start the content term is exactly 0 (the image *is* the photo) and the style term is everything: the
optimisation will trade some content for a lot of style."""),
("md", r"""## 5 · The optimiser, by hand

The unknowns are the pixels: a tensor `x` with `requires_grad=True`, initialised from the content photo. L-BFGS
needs a *closure*, a function that re-evaluates the loss and its gradient, because it may evaluate several times
per iteration: its strong-Wolfe line search tries step lengths until the loss has fallen enough. An iteration
can therefore cost several evaluations, which is why `num_steps` counts **loss evaluations** (forward +
backward passes), not iterations, and `stylize` stops as soon as the budget is spent. Before each evaluation
the pixels are clamped to [0, 1].

Here are the first few steps, written out:"""),
("code", r"""n_manual = p.steps(15)
x = content.clone().requires_grad_(True)  # init = "content"
optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=n_manual, max_eval=n_manual, tolerance_grad=0.0,
                              tolerance_change=0.0, history_size=config.lbfgs_history,
                              line_search_fn="strong_wolfe")
manual_losses = []


def closure():
    optimizer.zero_grad()
    with torch.no_grad():
        x.clamp_(0.0, 1.0)  # keep a valid image
    total = sum(loss_terms(x).values())  # forward pass
    total.backward()  # backward pass: d loss / d pixels
    manual_losses.append(total.item())
    return total


optimizer.step(closure)  # one call runs iterations until about n_manual evaluations are spent
manual_losses = manual_losses[:n_manual]
print(f"{len(manual_losses)} evaluations by hand: total loss " + " → ".join(f"{v:.3g}" for v in manual_losses))"""),
("md", r"""## 6 · The whole run with `stylize`

`nstlib.stylize` does exactly steps 2–5 (plus bookkeeping: a history of every loss term, the best image seen,
Ctrl-C and NaN handling). Its `callback` is called after every evaluation with the current image. We pass two:
`course.LivePreview`, which redraws one picture in place while the run goes on, and `compare.Snapshots`, which
keeps copies of the image at a few chosen steps, dense early on, where things change fastest."""),
("code", r"""from nstlib import compare

preview = course.LivePreview(every=max(1, config.num_steps // 20))
snapshots = compare.Snapshots(compare.snapshot_steps(config.num_steps, 6))
result = nstlib.stylize(content, style, config, callback=compare.chain(preview, snapshots))
print(f"{result.message}; {result.seconds:.1f} s ({result.seconds / result.evaluations:.3f} s per evaluation)")
print(f"total loss {result.history['total'][0]:.4g} → {result.final_loss:.4g} (best image at step {result.best_step})")"""),
("md", r"""The first evaluations of `stylize` are the ones we just did by hand, number for number:"""),
("code", r"""import math

for k, (mine, theirs) in enumerate(zip(manual_losses, result.history["total"]), start=1):
    print(f"step {k:>2}: by hand {mine:.6g}   stylize {theirs:.6g}")
assert all(math.isclose(a, b, rel_tol=1e-3) for a, b in zip(manual_losses, result.history["total"]))"""),
("md", r"""## 7 · Reading the loss curves

`result.history` holds every weighted term at every evaluation. The dashed lines split the style term into its
five layers. The content term starts at 0 (off the log scale) and rises as the style moves in, while the style
term falls by orders of magnitude; the total (black) is what L-BFGS minimises."""),
("code", r"""fig = course.plot_history(result.history, per_layer=True,
                          title="Each weighted loss term during the Gatys optimisation (L-BFGS)")
course.export_figure(fig, "06_loss_terms")
fig"""),
("md", r"""## 8 · How the image evolves

The snapshots, from the photo at step 1 to the last step. Most of the style arrives in the first tens of
evaluations; the rest refines it."""),
("code", r"""fig = course.show_images(snapshots.ordered(), snapshots.titles(), width=2.2,
                         suptitle="The image during the optimisation (step = loss evaluation)")
course.export_figure(fig, "06_snapshots")
fig"""),
("code", r"""fig = course.show_images([content, style, result.image],
                         ["content", "style", f"result: {result.evaluations} L-BFGS steps, {result.seconds:.0f} s"],
                         suptitle="Gatys et al. end to end: content + style → result")
course.export_figure(fig, "06_result")
fig"""),
("md", r"""## 9 · What must be true"""),
("code", r"""# Teaching-critical facts, checked on every run
hist = result.history
assert result.image.shape == content.shape and result.image.device.type == "cpu"
assert 0 <= result.image.min() and result.image.max() <= 1
assert len(hist["total"]) == result.evaluations == config.num_steps
assert hist["content"][0] == 0 and start_terms["content"] == 0  # we start from the photo
assert math.isclose(hist["total"][0], start_total, rel_tol=1e-4)  # evaluation 1 = the loss of section 4
assert result.final_loss < 0.5 * hist["total"][0], "the total loss should at least halve"
assert hist["style"][result.best_step - 1] < hist["style"][0]
assert sorted(snapshots.images) == snapshots.steps and snapshots.steps[-1] == config.num_steps
assert all(s.shape == content.shape for s in snapshots.ordered())"""),
("md", r"""## Exercises

**1.** Start from noise instead of the photo (`init="noise"`). How does the content curve look now, and how
does the result differ?

<details><summary>Solution</summary>

```python
r = nstlib.stylize(content, style, config.replace(init="noise"))
course.show_images([result.image, r.image], ["init: content", "init: noise"])
course.plot_history(r.history)
```
The content term now starts high and falls instead of rising from 0. With the same budget the result typically
keeps less of the photo's detail and looks more like a texture: part of the budget goes into recovering the
content.
Notebook 07 measures this.
</details>

**2.** Which style layer contributes most to the style loss at the start, and which at the end?

<details><summary>Solution</summary>

```python
for key in [k for k in result.history if k.startswith("style/")]:
    h = result.history[key]
    print(f"{key:<14} start {h[0]:10.4g}  end {h[-1]:10.4g}  share at end {h[-1] / result.history['style'][-1]:.0%}")
```
</details>

**3.** The seed wrote its result to `output_path`. Save yours, at the full resolution it was computed at.

<details><summary>Solution</summary>

```python
nstlib.save_image(result.image, "astronaut_brush_strokes.png")
```
</details>

**Next: 07 · optimisers** asks whether L-BFGS deserves its place, by racing it against Adam."""),
]
build("/work/main/notebooks/06_gatys_end_to_end.ipynb", "06 · Gatys et al. end to end", intro, cells)
