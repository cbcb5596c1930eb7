import sys

sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build  # noqa: E402

INTRO = r"""
Notebook 01 showed that each VGG19 layer turns an image into `C` feature maps of `H × W` positions. Style transfer
does not compare those maps directly. It compares their **Gram matrices**: for every pair of channels, how much
they fire *together*, summed over all positions. This notebook:

1. computes a Gram matrix by hand, from `[C, H, W]` to `[C, C]`, and checks it against `nstlib.gram_matrix`;
2. looks at the Gram matrices of the course's five style images;
3. proves that a Gram matrix ignores *where* features are: exactly for a feature map whose positions are shuffled,
   and nearly for an image whose patches are shuffled (and explains the "nearly");
4. synthesises textures from noise using nothing but Gram matrices (Gatys, Ecker & Bethge, 2015).
"""

CELLS = [
    ("md", r"""
## 1 · From `[C, H, W]` to `[C, C]`

Flatten a layer's feature maps $F$ (`[C, H, W]`) to a $C \times HW$ matrix: one row per channel, one column per
position. The Gram matrix is the matrix of inner products of the rows,

$$G_{ij} = \frac{1}{C\,H\,W} \sum_{p=1}^{HW} F_{ip}\,F_{jp}, \qquad G = \frac{F F^\top}{C H W}.$$

$G_{ii}$ is the energy of channel $i$, how strongly it fires overall. $G_{ij}$ is large when channels $i$ and $j$
fire **at the same positions**, and 0 when they never do. The sum over $p$ is what throws the positions away.
(nstlib divides by $C H W$, as the PyTorch tutorial does, so that $G$ does not grow with the image. Gatys et al.
keep the plain sum and put the normalisation in the loss instead.)

**A hand-sized example.** Three channels on a 2×2 image:

$$F_1 = \begin{pmatrix}1 & 0\\ 2 & 1\end{pmatrix},\quad
  F_2 = \begin{pmatrix}0 & 3\\ 1 & 0\end{pmatrix},\quad
  F_3 = \begin{pmatrix}0 & 0\\ 0 & 2\end{pmatrix}
\quad\Longrightarrow\quad
F = \begin{pmatrix}1 & 0 & 2 & 1\\ 0 & 3 & 1 & 0\\ 0 & 0 & 0 & 2\end{pmatrix}\ (C \times HW = 3 \times 4).$$

The inner products of the rows, one by one:

| | by hand | |
|---|---|---|
| $F_1 \cdot F_1$ | $1·1 + 0·0 + 2·2 + 1·1$ | $= 6$ |
| $F_1 \cdot F_2$ | $1·0 + 0·3 + 2·1 + 1·0$ | $= 2$ |
| $F_1 \cdot F_3$ | $1·0 + 0·0 + 2·0 + 1·2$ | $= 2$ |
| $F_2 \cdot F_2$ | $0·0 + 3·3 + 1·1 + 0·0$ | $= 10$ |
| $F_2 \cdot F_3$ | $0·0 + 3·0 + 1·0 + 0·2$ | $= 0$ |
| $F_3 \cdot F_3$ | $0·0 + 0·0 + 0·0 + 2·2$ | $= 4$ |

so, with $C H W = 3 · 2 · 2 = 12$,

$$F F^\top = \begin{pmatrix}6 & 2 & 2\\ 2 & 10 & 0\\ 2 & 0 & 4\end{pmatrix}, \qquad
G = \frac{F F^\top}{12} = \begin{pmatrix}0.5000 & 0.1667 & 0.1667\\ 0.1667 & 0.8333 & 0\\ 0.1667 & 0 & 0.3333\end{pmatrix}.$$

Channels 2 and 3 never fire at the same position, so $G_{23} = 0$. Channel 2 is the strongest, so $G_{22}$ is
the largest entry. Now the same with `nstlib.gram_matrix`:
"""),
    ("code", r"""
# NBVAL_CHECK_OUTPUT
import torch

F = torch.tensor([[[1.0, 0.0], [2.0, 1.0]],
                  [[0.0, 3.0], [1.0, 0.0]],
                  [[0.0, 0.0], [0.0, 2.0]]])  # [C, H, W] = [3, 2, 2]
G = nstlib.gram_matrix(F)  # [C, C]
flat = F.reshape(3, 4)


def show(name, m, fmt):
    print(name)
    for row in m.tolist():
        print("   " + "  ".join(format(v, fmt) for v in row))


show("F as C × HW:", flat, "4.0f")
show("F Fᵀ:", flat @ flat.T, "4.0f")
show(f"G = nstlib.gram_matrix(F), shape {tuple(G.shape)}:", G, "7.4f")
assert torch.equal(flat @ flat.T, torch.tensor([[6.0, 2.0, 2.0], [2.0, 10.0, 0.0], [2.0, 0.0, 4.0]]))
assert torch.allclose(G, (flat @ flat.T) / 12)
assert torch.equal(G, G.T) and G[1, 2] == 0
"""),
    ("md", r"""
The sum over positions makes the matrix blind to *where* things happen. Move the pixels around, the same way in
every channel (here: swap the two rows of the image, then the two columns), and $G$ does not change, exactly:
"""),
    ("code", r"""
# NBVAL_CHECK_OUTPUT
moved = F.flip(1).flip(2)  # the 2×2 image turned upside down and mirrored
show("channel 1 after moving the pixels:", moved[0], "4.0f")
print("same Gram matrix, bit for bit:", torch.equal(nstlib.gram_matrix(moved), G))
assert torch.equal(nstlib.gram_matrix(moved), G) and not torch.equal(moved, F)
"""),
    ("md", r"""
## 2 · The Gram matrices of the style images

On a real layer, $C$ is 64 to 512, so $G$ has 4,096 to 262,144 entries, however large the image. We compute the
Gram matrices of the five style images at the five style layers, and draw those of **conv2_1** (128 × 128) and the
first 64 channels of **conv3_1**. Each heatmap has its own colour scale, a square-root one: a few large entries
would otherwise leave everything else black.
"""),
    ("code", r"""
from nstlib import visualize
from nstlib.assets import style_images

p = course.current_preset()
layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
vgg = nstlib.VGGFeatures(layers, device=device)
styles = {path.stem: nstlib.load_image(path, p.size).to(device) for path in style_images()}
with torch.no_grad():
    grams = {name: {n: nstlib.gram_matrix(f)[0] for n, f in vgg(img).items()} for name, img in styles.items()}
for n, g in grams["wave"].items():
    print(f"{n}: Gram matrix {tuple(g.shape)}, {g.numel():>7,} entries")
course.show_images(list(styles.values()), list(styles), suptitle="The style images", width=2.6)
"""),
    ("code", r"""
fig = visualize.gram_heatmaps({name: g["conv2_1"] for name, g in grams.items()}, width=2.9,
                              title="Gram matrices at conv2_1 (128 channels): G[i, j] = co-activation of channels i and j")
course.export_figure(fig, "02_gram_conv2_1")
fig
"""),
    ("code", r"""
fig = visualize.gram_heatmaps({name: g["conv3_1"] for name, g in grams.items()}, channels=64, width=2.9,
                              title="Gram matrices at conv3_1, first 64 of 256 channels")
course.export_figure(fig, "02_gram_conv3_1")
fig
"""),
    ("md", r"""
How to read them:

* The **diagonal** is the energy of each channel, and it stands out as a bright line. An off-diagonal entry can
  never exceed the geometric mean of the two diagonal entries, $G_{ij} \le \sqrt{G_{ii} G_{jj}}$ (Cauchy–Schwarz).
* A **dark row and column** is a channel that hardly fires on this image, a feature the style lacks. A **bright
  cross** is a channel that fires strongly, together with many others.
* Each style has its own pattern of bright and dark rows, a fingerprint of which features it uses and which occur
  together. Note the colourbars too: the pointillist dots give the smallest entries, the Mondrian the largest.

How different are the five styles in these terms? The relative difference $\lVert G_a - G_b\rVert / \lVert G_b\rVert$
between each style and the *nearest other* style is the yardstick for the next section:
"""),
    ("code", r"""
def distance(a, b, n):
    # relative difference of style a's Gram matrix from style b's, at layer n
    return visualize.relative_difference(grams[a][n], grams[b][n])


nearest_other = {name: {n: min(distance(o, name, n) for o in grams if o != name) for n in layers} for name in grams}
print(f"{'style':<14}" + "".join(f"{n:>9}" for n in layers) + "   nearest at conv3_1")
for name, d in nearest_other.items():
    closest = min((o for o in grams if o != name), key=lambda o: distance(o, name, "conv3_1"))
    print(f"{name:<14}" + "".join(f"{v:>9.2f}" for v in d.values()) + f"   {closest}")
"""),
    ("md", r"""
## 3 · The Gram matrix ignores where features are

### Exactly: shuffling the positions of a feature map

`visualize.shuffle_positions` permutes the $H \cdot W$ positions of a feature map, the same way in every channel.
That permutes the columns of $F$ and leaves $F F^\top$ unchanged. The maps become noise, but the Gram matrix is
the same:
"""),
    ("code", r"""
with torch.no_grad():
    f = vgg(styles["wave"])["conv3_1"]
shuffled = visualize.shuffle_positions(f, seed=0)
ch = visualize.top_channels(f, 2)
fig = visualize.feature_grid({"conv3_1": f, "conv3_1 shuffled": shuffled}, 2, channels={"conv3_1": ch, "conv3_1 shuffled": ch},
                             title="Two channels of conv3_1 on the wave, before and after shuffling the positions")
fig
"""),
    ("code", r"""
diff32 = visualize.relative_difference(nstlib.gram_matrix(shuffled), nstlib.gram_matrix(f))
diff64 = visualize.relative_difference(nstlib.gram_matrix(shuffled.double()), nstlib.gram_matrix(f.double()))
print(f"feature maps changed at {(shuffled != f).float().mean():.0%} of their entries")
print(f"relative change of the Gram matrix: {diff32:.1e} in float32, {diff64:.1e} in float64")
assert not torch.equal(shuffled, f)
assert diff32 < 1e-6 and diff64 < 1e-12
"""),
    ("md", r"""
Mathematically the two Gram matrices are identical. On a computer they differ in the last bits: the shuffle changes
the *order* in which the $H W$ products are added, and floating-point addition rounds differently in a different
order. The change is of the size of the rounding error, about $10^{-7}$ in float32 and $10^{-16}$ in float64. The
hand-sized example above, whose sums of small integers are exact, came out identical bit for bit.

### Nearly: shuffling patches of the image

What we really want to know is whether the Gram matrix of an *image* survives a rearrangement of the image.
`visualize.patch_shuffle` cuts the image into square patches and puts them back in a random order:
"""),
    ("code", r"""
image = styles["wave"]
n_px = image.shape[-1]
patch_sizes = [n_px // 2, n_px // 4, n_px // 8, n_px // 16]
shuffles = [visualize.patch_shuffle(image, s, seed=0) for s in patch_sizes]
fig = course.show_images([image, *shuffles], ["original", *[f"{s}×{s} px patches" for s in patch_sizes]], width=2.5,
                         suptitle="The wave, cut into patches and shuffled")
course.export_figure(fig, "02_patch_shuffles")
fig
"""),
    ("md", r"""
For each of the three most structured styles and each patch size, the relative change of each layer's Gram
matrix. The dotted lines give, per layer, the distance to the nearest *other* style image from section 2:
"""),
    ("code", r"""
sweeps = {}
for name in ("wave", "brush_strokes", "stained_glass"):
    img = visualize.crop_to_multiple(styles[name], patch_sizes[-1])
    sweeps[name] = visualize.patch_shuffle_sweep(vgg, img, patch_sizes, seed=0)
    print(f"{name}:")
    for n, values in sweeps[name].items():
        print(f"  {n}: " + "  ".join(f"{s:>3} px {v:5.3f}" for s, v in zip(patch_sizes, values))
              + f"   (nearest other style {nearest_other[name][n]:.2f})")
fig = visualize.plot_patch_sweep(patch_sizes, sweeps["wave"], baselines=nearest_other["wave"],
                                 title="Shuffling the wave's patches: relative change of each layer's Gram matrix")
course.export_figure(fig, "02_patch_sweep")
fig
"""),
    ("md", r"""
With large patches the Gram matrices barely move. Swapping the four quarters of the image around changes conv1_1
and conv2_1 by one or two per cent and conv5_1 by about a fifth, in every case far less than the distance to any
other style. Then the change grows steadily as the patches shrink, and it is larger the deeper the layer. The
smallest patches change the deep layers as much as switching to another painting.

**Why only nearly?** The feature-map shuffle was exact because every position moved *with everything it depends
on*. An image patch does not carry the neighbourhood its features depend on:

* **Seams.** A feature at a position is computed from a square of the input, its receptive field (3 px at conv1_1,
  24 px at conv3_1, 156 px at conv5_1). Near the border of a patch that square now straddles two unrelated
  patches, so it sees edges and colour jumps that were never in the painting. Those new features add to the Gram
  matrix. The affected fraction of positions is roughly receptive field ÷ patch size, which is why small patches
  and deep layers suffer most. When the patches are smaller than the receptive field, *every* position sees
  seams.
* **The image border.** VGG pads each layer with zeros, so positions near the border respond differently. Shuffling
  moves border patches inside and interior patches to the border.

In the limit of patches much larger than the receptive field, the seams are a negligible fraction and the Gram
matrix is invariant. That is the sense in which style, as Gatys et al. measure it, is a statistic of *local*
features that ignores the global arrangement.
"""),
    ("code", r"""
# Teaching-critical facts, checked on every run
for name, sweep in sweeps.items():
    for n, values in sweep.items():
        assert values[0] < nearest_other[name][n], (name, n)  # big patches: still this style, not another
        assert values[-1] > values[0], (name, n)  # smaller patches change it more
    assert sweep["conv1_1"][0] < 0.15, name  # shallow layers, big patches: nearly unchanged
"""),
    ("md", r"""
## 4 · Texture synthesis from noise

If the Gram matrices capture a style while ignoring the arrangement, then matching *only* them should produce new
images of the same texture with a different arrangement. That is Gatys, Ecker & Bethge's *Texture Synthesis Using
Convolutional Neural Networks* (NeurIPS 2015), the step just before style transfer. Start from noise, and minimise
the style loss alone:

$$\min_x \sum_{l} \frac{1}{C_l^2}\,\big\lVert G^l(x) - G^l(\text{style})\big\rVert^2 .$$

With `stylize` that is `content_weight=0` (no content term) and `init="noise"`. The content argument only sets
the output's size, so we pass a noise canvas of the size we want. (The 2015 paper used average pooling and
slightly different layers. We keep the course's defaults.)
"""),
    ("code", r"""
texture_styles = ["brush_strokes", "stained_glass", "wave"]
side = p.small
canvas = torch.rand(1, 3, side, side)  # only its size matters: init="noise" draws the start from the seed
textures, targets = {}, {}
for name in texture_styles:
    targets[name] = nstlib.load_image(f"../images/style/{name}.png", side)
    textures[name] = nstlib.stylize(canvas, targets[name], content_weight=0, init="noise",
                                    num_steps=p.steps(150), progress=False, device=device)
    h = textures[name].history["style"]
    print(f"{name:<14} {textures[name].evaluations} loss evaluations, {textures[name].seconds:5.1f} s: "
          f"style loss {h[0]:9.4g} → {min(h):7.4g} ({h[0] / min(h):.0f}× lower)")
"""),
    ("code", r"""
fig = course.show_images([*targets.values(), *(r.image for r in textures.values())],
                         [f"style: {n}" for n in texture_styles] + [f"texture from noise: {n}" for n in texture_styles],
                         ncols=3, width=2.8, suptitle="Texture synthesis: matching only the Gram matrices, starting from noise")
course.export_figure(fig, "02_textures")
fig
"""),
    ("code", r"""
fig = visualize.plot_curves({name: r.history["style"] for name, r in textures.items()},
                           ylabel="style loss, weighted (log scale)",
                           title="Texture synthesis: the style loss (the only term) during L-BFGS")
course.export_figure(fig, "02_texture_losses")
fig
"""),
    ("md", r"""
Each texture has the colours, stroke sizes and local shapes of its model but none of its layout: no cypress, no
single big wave, no window tracery in the middle. New swirls, tiles and crests sit in new places. The loss falls by
a large factor, fastest in the first tens of steps. Measured against the style image, the texture is far away
pixel for pixel yet close in Gram matrices, much closer than the starting noise:
"""),
    ("code", r"""
noise = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))  # the start, as init="noise" draws it
for name, r in textures.items():
    with torch.no_grad():
        g_style = {n: nstlib.gram_matrix(v) for n, v in vgg(targets[name].to(device)).items()}
        g_tex = {n: nstlib.gram_matrix(v) for n, v in vgg(r.image.to(device)).items()}
        g_noise = {n: nstlib.gram_matrix(v) for n, v in vgg(noise.to(device)).items()}
    pixels = visualize.relative_difference(r.image, targets[name])
    gram_tex = sum(visualize.relative_difference(g_tex[n], g_style[n]) for n in layers) / len(layers)
    gram_noise = sum(visualize.relative_difference(g_noise[n], g_style[n]) for n in layers) / len(layers)
    print(f"{name:<14} pixels differ by {pixels:.0%}; Gram matrices by {gram_tex:.0%} (the noise's: {gram_noise:.0%})")
    assert gram_tex < 0.5 * gram_noise, name
"""),
    ("code", r"""
# Teaching-critical facts, checked on every run
for name, r in textures.items():
    h = r.history["style"]
    assert r.image.shape == (1, 3, side, side)
    assert r.history["content"][0] == 0 and max(r.history["content"]) == 0  # no content term at all
    assert min(h) < h[0] / 10, (name, h[0], min(h))  # the style loss fell by a large factor (10× at the very least)
"""),
    ("md", r"""
## Summary

* The Gram matrix of a layer, $G = F F^\top / (C H W)$, turns `[C, H, W]` feature maps into a `[C, C]` table of
  channel co-activations, the same size for any image.
* It ignores location *exactly* for permutations of the feature map's positions (up to floating-point rounding),
  and *approximately* for shuffled image patches. Seams create new local features, more so for small patches and
  deep layers with large receptive fields.
* Matching Gram matrices alone, from noise, synthesises a new texture with the statistics of the style image and
  none of its layout. Style transfer (notebook 04 onwards) adds a content term to decide the layout.

## Exercises

**1.** Compute a Gram matrix with `torch.einsum` and check it against `nstlib.gram_matrix` on a real feature map.

<details><summary>Solution</summary>

```python
f = vgg(styles["mondrian"])["conv2_1"][0]  # [C, H, W]
mine = torch.einsum("chw,dhw->cd", f, f) / f.numel()
assert torch.allclose(mine, nstlib.gram_matrix(f), rtol=1e-4)
```
</details>

**2.** Synthesise a texture from the shallow layers only (`style_layers=("conv1_1", "conv2_1")`) and compare it with
the one above. What is missing?

<details><summary>Solution</summary>

```python
r = nstlib.stylize(canvas, targets["wave"], content_weight=0, init="noise", num_steps=p.steps(150),
                   style_layers=("conv1_1", "conv2_1"))
course.show_images([textures["wave"].image, r.image], ["conv1_1 … conv5_1", "conv1_1, conv2_1 only"])
```
With receptive fields of 3 and 10 px, the shallow layers only constrain colours and fine grain: the result is a
colourful noise without strokes or crests. The large structures come from the deep layers.
</details>

**3.** Gatys et al. (2015) replaced max pooling with average pooling for texture synthesis. Try `pooling="avg"`.

<details><summary>Solution</summary>

```python
r = nstlib.stylize(canvas, targets["stained_glass"], content_weight=0, init="noise",
                   num_steps=p.steps(150), pooling="avg")
course.show_images([textures["stained_glass"].image, r.image], ["max pooling", "average pooling"])
```
Average pooling passes gradients to all four pixels of each window instead of one, which tends to give smoother
textures with fewer speckles.
</details>

**Next: 03 · content loss** reconstructs a photo from one layer's feature maps, where location is everything.
"""),
]

build("/work/main/notebooks/02_gram_matrices.ipynb", "02 · Gram matrices", INTRO, CELLS)
print("written")
