import sys
sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build

intro = r"""Notebook 03 reconstructed a photo from the *features* of one layer. This one reconstructs a painting from
the *statistics* of its features: the Gram matrices, which record which channels fire together but not where.
Notebook 02 synthesised textures with all five style layers at once; here we take that set of layers apart.
This is the *style* row of Gatys et al. (2016), Fig. 1: texture synthesis from noise, matching the Gram
matrices of

`conv1_1`  →  `conv1_1, conv2_1`  →  …  →  `conv1_1, conv2_1, conv3_1, conv4_1, conv5_1`.

With only the first layer the result is a fine-grained mush of the right colours; every deeper layer adds
larger structures, because its units see larger patches of the image. At the end we change the **weights**
$w_l$ of the layers and watch which scale of structure wins.

You will

1. read the style loss equations, with `nstlib`'s $1/(C H W)$ normalisation, on a tiny exact example,
2. synthesise a texture from growing sets of layers and measure each layer's Gram error,
3. emphasise shallow or deep layers with `Config.style_layer_weights`."""

cells = [
("md", r"""## 1 · The style loss

For layer $l$ with $C_l$ channels on an $H_l \times W_l$ grid, flatten the response to
$F^l \in \mathbb{R}^{C_l \times H_l W_l}$. The **Gram matrix** is the matrix of channel co-activations,
normalised by the number of entries of $F^l$:

$$G^l_{ij} \;=\; \frac{1}{C_l H_l W_l} \sum_{k=1}^{H_l W_l} F^l_{ik} F^l_{jk},
\qquad G^l \in \mathbb{R}^{C_l \times C_l}.$$

The sum over positions $k$ throws away *where* a feature fired; the $1/(C_l H_l W_l)$ keeps $G^l$ from
growing with the image size, so the style image and the result may have different sizes. With $A^l$ the Gram
matrix of the style image, the loss of one layer is the mean squared difference of the two $C_l \times C_l$
matrices, and the style loss is a weighted sum over the chosen layers:

$$E_l \;=\; \frac{1}{C_l^2} \sum_{i,j} \bigl(G^l_{ij}(x) - A^l_{ij}\bigr)^2,
\qquad \mathcal{L}_\text{style}(x) \;=\; \sum_{l} w_l\, E_l .$$

Gatys et al. use the un-normalised Gram matrix and $E_l = \frac{1}{4 C_l^2 (H_l W_l)^2} \sum_{ij} (\cdot)^2$;
ours is $4/C_l^2$ times theirs, a per-layer constant that the layer weights $w_l$ (default 1 each) and the
style weight $\beta$ absorb.

A tiny exact example: two channels on a 2×2 grid, so $C \cdot H \cdot W = 8$."""),
("code", r"""# NBVAL_CHECK_OUTPUT
import torch

F = torch.tensor([[[1.0, 2.0], [3.0, 4.0]],    # channel 0
                  [[1.0, 0.0], [1.0, 0.0]]])   # channel 1: [C=2, H=2, W=2]
G = nstlib.gram_matrix(F)
print("G = F Fᵀ / (C·H·W) =\n", G)
print("by hand: G[0,0] = (1+4+9+16)/8 =", (1 + 4 + 9 + 16) / 8, "  G[0,1] = (1·1 + 3·1)/8 =", (1 + 3) / 8)

shuffled = F.flatten(1)[:, [3, 0, 2, 1]].reshape(2, 2, 2)     # the same values at other positions
tiled = F.repeat(1, 2, 2)                                        # [2, 4, 4]: the pattern four times
print("positions shuffled -> same Gram matrix:", torch.equal(nstlib.gram_matrix(shuffled), G))
print("pattern tiled 2×2  -> same Gram matrix:", torch.equal(nstlib.gram_matrix(tiled), G))

target = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
print("style loss E against A = [[3, 0], [0, 0.5]]:", nstlib.style_loss(F, target).item(),
      "= ((3.75-3)² + 2·0.5² + (0.25-0.5)²) / 4 =", ((3.75 - 3) ** 2 + 2 * 0.5**2 + (0.25 - 0.5) ** 2) / 4)"""),
("md", r"""The Gram matrix cannot tell a shuffled or a repeated pattern from the original: it describes a
*texture*, a statistic of the whole image, not an arrangement.

## 2 · Texture synthesis from growing sets of layers

Each run below starts from the same uniform noise and matches only Gram matrices: `content_weight=0` switches
the content term off, and `content_layers=()` skips computing it. The style image is `mondrian`, whose
rectangles and black bars are far larger than a 3×3 filter: a good test of which layers can reproduce them."""),
("code", r"""p = course.current_preset()
style = nstlib.load_image("../images/style/mondrian.png", p.small)
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")

steps = p.steps(200)
textures = {}
for k in range(1, len(STYLE_LAYERS) + 1):
    layers = STYLE_LAYERS[:k]
    r = nstlib.stylize(style, style, content_weight=0, content_layers=(), style_layers=layers, init="noise",
                       num_steps=steps, device=device, progress=False)
    textures[layers[-1]] = r
    print(f"up to {layers[-1]}: style loss {r.history['style'][0]:9.4g} -> {r.final_loss:8.4g} "
          f"({r.evaluations} steps, {r.seconds:5.1f} s)")"""),
("code", r"""names = [f"conv1_1 … {last}" if last != "conv1_1" else "conv1_1" for last in textures]
fig = course.show_images([style, *[r.image for r in textures.values()]], ["style image", *names], width=2.6,
                         suptitle="Textures synthesised from noise with more and more style layers")
course.export_figure(fig, "04_style_reconstructions")
fig"""),
("md", r"""From left to right the texture grows up. `conv1_1` only knows colours and correlations within 3×3 pixels:
the right palette, no shapes. Adding `conv2_1` and `conv3_1` brings short black bars and colour patches of a few pixels.
With `conv4_1` and `conv5_1`, whose units each see a large part of the image, the bars join into long lines
and the colour fields become rectangles. None of the results copies the painting's *layout*: there is no
content term, and the Gram matrices do not record positions.

**Measuring it.** `nstlib.reconstruct.layer_errors(..., kind="style")` compares each texture's Gram matrices
with the style image's at every layer, as a relative error
$\lVert G^l - A^l \rVert^2 / \lVert A^l \rVert^2$ (0 = identical statistics):"""),
("code", r"""from matplotlib.figure import Figure
import matplotlib.colors as mcolors

from nstlib.reconstruct import layer_errors

errs = layer_errors([r.image for r in textures.values()], style, STYLE_LAYERS, kind="style", device=device)

fig = Figure(figsize=(6.6, 4.8), layout="constrained")
ax = fig.add_subplot()
norm = mcolors.LogNorm(vmin=errs.min().item(), vmax=errs.max().item())
im = ax.imshow(errs.numpy(), cmap="viridis", norm=norm, interpolation="nearest")
for i in range(len(STYLE_LAYERS)):
    for j in range(len(STYLE_LAYERS)):
        dark = norm(errs[i, j].item()) < 0.6
        ax.text(j, i, f"{errs[i, j]:.2g}", ha="center", va="center", color="white" if dark else "black",
                fontsize="small")
ax.set_xticks(range(len(STYLE_LAYERS)), STYLE_LAYERS)
ax.set_yticks(range(len(STYLE_LAYERS)), names)
ax.set(title="Relative Gram error of each texture at each layer",
       xlabel="layer where the Gram matrices are compared", ylabel="texture synthesised from")
fig.colorbar(im, ax=ax, label="relative Gram error (log scale)")
course.export_figure(fig, "04_gram_error_matrix")
fig"""),
("md", r"""Read each **column**: the statistics of a layer are matched well only once that layer is in the loss (on
and below the diagonal); above the diagonal, where the layer was not optimised, its Gram error stays high.
Shallow statistics do not imply deep ones: the network needs the deep layers' Gram matrices to know about
large shapes."""),
("code", r"""# Teaching-critical facts, checked on every run
for r in textures.values():
    assert r.final_loss < 0.1 * r.history["style"][0], "every synthesis should cut its style loss tenfold"
for j in range(1, len(STYLE_LAYERS)):
    assert errs[j, j] < errs[j - 1, j], f"adding {STYLE_LAYERS[j]} should improve its own Gram match"
assert errs[-1, -1] < 0.5 * errs[0, -1], "the conv5_1 statistics need conv5_1 in the loss"
"""),
("md", r"""## 3 · Per-layer weights

`Config.style_layer_weights` sets the $w_l$ of $\mathcal{L}_\text{style} = \sum_l w_l E_l$ (missing layers keep
$w_l = 1$). We synthesise with all five layers three times: with equal weights (the run above), emphasising the
shallow layers, and emphasising the deep ones. The ratio between the extremes is $10^4$, so each emphasis
really dominates."""),
("code", r"""WEIGHTINGS = {
    "equal": None,
    "shallow": {"conv1_1": 10.0, "conv2_1": 10.0, "conv3_1": 1.0, "conv4_1": 0.1, "conv5_1": 0.001},
    "deep": {"conv1_1": 0.001, "conv2_1": 0.1, "conv3_1": 1.0, "conv4_1": 10.0, "conv5_1": 10.0},
}
weighted = {"equal": textures["conv5_1"]}
for name, w in WEIGHTINGS.items():
    if name not in weighted:
        weighted[name] = nstlib.stylize(style, style, content_weight=0, content_layers=(), init="noise",
                                        style_layers=STYLE_LAYERS, style_layer_weights=w, num_steps=steps,
                                        device=device, progress=False)
    print(f"{name:8} weights: style loss {weighted[name].history['style'][0]:9.4g} -> {weighted[name].final_loss:8.4g}")
fig = course.show_images([style, *[r.image for r in weighted.values()]],
                         ["style image", *[f"{n} layer weights" for n in weighted]], width=2.6,
                         suptitle="Five style layers, weighted three ways")
course.export_figure(fig, "04_layer_weight_textures")
fig"""),
("md", r"""The history records each layer's **weighted** contribution $\beta\, w_l E_l$ under `"style/<layer>"`.
Plotted per run, it shows where the optimiser spends its effort: the emphasised layers dominate the total and
are driven down first."""),
("code", r"""fig = Figure(figsize=(13, 3.8), layout="constrained")
axes = fig.subplots(1, 3, sharey=True)
for ax, (name, r) in zip(axes, weighted.items()):
    course.plot_history(r.history, ax=ax, per_layer=True, terms=("style",), title=f"{name} layer weights")
    ax.set_ylabel("weighted loss β·w_l·E_l (log scale)")
fig.suptitle("Per-layer style loss during the synthesis")
course.export_figure(fig, "04_per_layer_loss")
fig"""),
("md", r"""The weighted curves are on different scales by construction. To compare the *results*, measure every
texture with the same unweighted yardstick, the relative Gram error of each layer:"""),
("code", r"""werrs = layer_errors([r.image for r in weighted.values()], style, STYLE_LAYERS, kind="style", device=device)

fig = Figure(figsize=(7.5, 4), layout="constrained")
ax = fig.add_subplot()
width = 0.27
for i, name in enumerate(weighted):
    ax.bar([j + (i - 1) * width for j in range(len(STYLE_LAYERS))], werrs[i].numpy(), width, label=f"{name} weights")
ax.set_xticks(range(len(STYLE_LAYERS)), STYLE_LAYERS)
ax.set_yscale("log")
ax.set(title="Each weighting matches the layers it emphasises", xlabel="layer where the Gram matrices are compared",
       ylabel="relative Gram error (log scale)")
ax.grid(True, axis="y", alpha=0.3)
ax.legend(fontsize="small")
fig"""),
("code", r"""# Teaching-critical facts, checked on every run
i_shallow, i_deep = list(weighted).index("shallow"), list(weighted).index("deep")
assert werrs[i_shallow, 0] < werrs[i_deep, 0], "shallow weights should match conv1_1 better"
assert werrs[i_deep, -1] < werrs[i_shallow, -1], "deep weights should match conv5_1 better"
"""),
("md", r"""With the shallow emphasis the colours and the fine grain are right but the large shapes are weak; with the
deep emphasis the large structures appear but the colours and edges are less faithful, because `conv1_1`,
which is close to the pixels, barely counts. In style transfer the same knob decides whether the result
takes on the style's brush texture or its larger motifs.

### Exercises

**1.** Synthesise a texture of `stained_glass.png` with all five layers. Does the circular rose window
survive? Why or why not?

<details><summary>Solution</summary>

```python
glass = nstlib.load_image("../images/style/stained_glass.png", p.small)
r = nstlib.stylize(glass, glass, content_weight=0, content_layers=(), init="noise", num_steps=steps, progress=False)
course.show_images([glass, r.image], ["style", "texture, five layers"])
```
The panes, their colours and the black leading come back, but not the circle: it is an arrangement of the
whole image, and the Gram matrices are averages over positions. Only the deepest layers see a region large
enough to hint at it, and even they are summed over all positions.
</details>

**2.** Synthesise at *twice* the size of the style image: pass a blank `[1, 3, 2H, 2W]` tensor as the content
(with `content_weight=0` and `init="noise"` it only sets the output size). Why does this work without changing any
weight?

<details><summary>Solution</summary>

```python
h, w = style.shape[-2:]
big = torch.zeros(1, 3, 2 * h, 2 * w)
r = nstlib.stylize(big, style, content_weight=0, content_layers=(), init="noise", num_steps=steps, progress=False)
course.show_images([style, r.image], ["style", "texture at twice the size"])
```
$G^l$ is divided by $H_l W_l$, so a texture and a larger patch of the same texture have the same Gram
matrices: the targets and the loss scale do not depend on the output size. The larger output simply gets
more copies of the motifs, at the same scale.
</details>

**3.** Only `conv5_1`: `style_layers=("conv5_1",)`. What does the texture look like, and why?

<details><summary>Solution</summary>

```python
r = nstlib.stylize(style, style, content_weight=0, content_layers=(), style_layers=("conv5_1",), init="noise",
                   num_steps=steps, progress=False)
course.show_images([style, r.image], ["style", "conv5_1 only"])
```
Large blobs with the right "layout statistics" but wrong, noisy colours and no clean edges: `conv5_1`
responds to large structures, and many pixel patterns give the same deep statistics (the blind spot of
notebook 03). The shallow layers are what pin down colours and edges.
</details>"""),
]
build("/work/main/notebooks/04_style_loss.ipynb", "04 · Style loss: textures from growing sets of layers", intro, cells)
