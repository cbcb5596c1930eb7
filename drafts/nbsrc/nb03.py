import sys
sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build

intro = r"""Gatys et al. (2016) start their paper with an experiment that explains the whole method (Fig. 1, the
*content* row): take a photograph, compute the features of **one** VGG19 layer, and then search for an image
whose features at that layer are the same, starting from random noise. Nothing else constrains the search.

* From `conv1_2` the photograph comes back almost pixel for pixel.
* From `conv5_2` the cat is still there, its eyes and ears where they belong, but the colours and the fine
  texture are lost to a noisy, painterly soup.

Deep layers keep the **layout** (what is where, roughly) and drop the **pixels**. That is exactly the freedom
style transfer needs: match a deep layer of the photo for content, and let the style decide the rest.

In this notebook you will

1. read the content loss equation and see how large each layer's feature map is,
2. reconstruct the photo from each of five layers (`conv1_2` … `conv5_2`),
3. measure how far each reconstruction is from the photo, in pixels and in features."""

cells = [
("md", r"""## 1 · The content loss

Write $F^l(x) \in \mathbb{R}^{C_l \times H_l W_l}$ for the (rectified) response of layer $l$ to an image $x$:
$C_l$ channels, each a map of $H_l \times W_l$ positions, flattened. With $P^l = F^l(p)$ the response to the
photo $p$, the content loss is the mean squared difference of the two responses:

$$\mathcal{L}_\text{content}(x, p; l) \;=\; \frac{1}{C_l H_l W_l} \sum_{i=1}^{C_l} \sum_{k=1}^{H_l W_l}
\bigl(F^l_{ik}(x) - P^l_{ik}\bigr)^2 .$$

Gatys et al. write $\tfrac12 \sum$ instead of the mean; the two differ by a constant factor that the weight
$\alpha$ absorbs. The gradient with respect to the features is simply
$\partial \mathcal{L} / \partial F^l_{ik} = \tfrac{2}{C_l H_l W_l}(F^l_{ik} - P^l_{ik})$; autograd carries it back
through the network to the pixels of $x$, and the optimiser changes the pixels.

`nstlib.content_loss(features, target)` is that mean. A photo compared with itself scores 0; an unrelated
image scores far higher:"""),
("code", r"""import torch

p = course.current_preset()
photo = nstlib.load_image("../images/content/chelsea.png", p.small)
noise = torch.rand(photo.shape, generator=torch.Generator().manual_seed(0))
vgg = nstlib.VGGFeatures(["conv4_2"], device=device)
with torch.no_grad():
    f_photo, f_noise = vgg(photo.to(device))["conv4_2"], vgg(noise.to(device))["conv4_2"]
print(f"photo {tuple(photo.shape)}; conv4_2 features {tuple(f_photo.shape)}")
print(f"content loss, photo vs itself: {nstlib.content_loss(f_photo, f_photo).item():.3g}")
print(f"content loss, noise vs photo:  {nstlib.content_loss(f_noise, f_photo).item():.3g}")"""),
("md", r"""Each block of VGG19 ends with a 2×2 pooling, so a layer of block $b$ sees the image at $1/2^{b-1}$ of its
resolution, with more channels. The table below is for a 224×224 input (the size VGG was trained at); it only
depends on the architecture, so it is the same on every machine:"""),
("code", r"""# NBVAL_CHECK_OUTPUT
import torch

LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
shapes_net = nstlib.VGGFeatures(LAYERS, weights="random")  # shapes only: any weights will do
with torch.no_grad():
    shapes = {name: tuple(f.shape[1:]) for name, f in shapes_net(torch.zeros(1, 3, 224, 224)).items()}
pixels = 3 * 224 * 224
print(f"{'layer':8} {'[C, H, W]':>16} {'positions':>10} {'numbers':>10} {'numbers / pixel values':>23}")
for name, (c, h, w) in shapes.items():
    print(f"{name:8} {str([c, h, w]):>16} {h * w:>10} {c * h * w:>10} {c * h * w / pixels:>23.2f}")"""),
("md", r"""Two things to notice. The number of **positions** shrinks 256-fold from `conv1_2` to `conv5_2`: a deep
feature says *that* something is in a 16×16-pixel region, not exactly where. And a deep layer still holds
about as many numbers as the image has pixel values, but they are the outputs of a many-to-one function
(ReLUs clip, pooling keeps only maxima): many different images produce the same deep response.

## 2 · Reconstructing the photo from one layer

Each run below optimises a noise image so that its features at one layer match the photo's. `style_weight=0`
switches the style term off and `style_layers=()` skips computing it; `init="noise"` starts from uniform noise
(seeded, so every layer starts from the same image). The grid size `p.small` keeps the five runs short."""),
("code", r"""from nstlib.reconstruct import layer_errors, mse, psnr

steps = p.steps(250)
results = {}
for layer in LAYERS:
    results[layer] = nstlib.stylize(photo, photo, content_layers=(layer,), style_layers=(), style_weight=0,
                                    tv_weight=0, init="noise", num_steps=steps, device=device, progress=False)
    h = results[layer].history["content"]
    print(f"{layer}: content loss {h[0]:8.3g} -> {results[layer].final_loss:8.3g} "
          f"in {results[layer].evaluations} steps, {results[layer].seconds:5.1f} s")"""),
("code", r"""recons = [results[layer].image for layer in LAYERS]
fig = course.show_images([photo, *recons], ["photo", *[f"from {layer}" for layer in LAYERS]], width=2.6,
                         suptitle="Content reconstructions from noise: deep layers keep the layout, not the pixels")
course.export_figure(fig, "03_content_reconstructions")
fig"""),
("md", r"""Read the row from left to right. `conv1_2` and `conv2_2` give the photo back. From `conv3_2` on, the
reconstruction keeps every edge and shape, but fine pixel noise that the layer does not "see" survives from the
starting image. From `conv5_2` only the arrangement is left: eyes, nose and ears in the right places, colours
and textures re-invented.

## 3 · Measuring it

**In pixels.** The mean squared error against the photo, and the *peak signal-to-noise ratio*
$\text{PSNR} = 10 \log_{10} (1 / \text{MSE})$ in decibels (pixels in [0, 1]; higher is closer; above ~35 dB
differences are invisible). The dotted line is the starting noise image."""),
("code", r"""noise_start = noise  # the same seed-0 uniform noise that every run started from
errors = [mse(img, photo) for img in recons]
psnrs = [psnr(img, photo) for img in recons]
for layer, e, q in zip(LAYERS, errors, psnrs):
    print(f"{layer}: MSE {e:.5f}  PSNR {q:5.1f} dB")
print(f"start (noise): MSE {mse(noise_start, photo):.5f}  PSNR {psnr(noise_start, photo):5.1f} dB")

from matplotlib.figure import Figure

fig = Figure(figsize=(10, 3.6), layout="constrained")
ax1, ax2 = fig.subplots(1, 2)
ax1.plot(LAYERS, errors, "o-", color="tab:red")
ax1.axhline(mse(noise_start, photo), color="gray", linestyle=":", label="the starting noise")
ax1.set_yscale("log")
ax1.set(title="Pixel error grows with depth", xlabel="layer the photo is reconstructed from",
        ylabel="MSE against the photo (log scale)")
ax1.legend(fontsize="small")
ax2.plot(LAYERS, psnrs, "o-", color="tab:blue")
ax2.axhline(psnr(noise_start, photo), color="gray", linestyle=":", label="the starting noise")
ax2.set(title="…so pixel fidelity (PSNR) falls", xlabel="layer the photo is reconstructed from",
        ylabel="PSNR against the photo (dB)")
ax2.legend(fontsize="small")
for ax in (ax1, ax2):
    ax.grid(True, alpha=0.3)
course.export_figure(fig, "03_pixel_error_vs_depth")
fig"""),
("md", r"""**In features.** Now compare every reconstruction with the photo at *every* layer. Each entry is a relative
error, $\lVert F^l(x) - P^l \rVert^2 / \lVert P^l \rVert^2$ (0 = identical features, 1 = as far as an all-zero
response), computed by `nstlib.reconstruct.layer_errors`."""),
("code", r"""errs = layer_errors(recons, photo, LAYERS, device=device)  # [reconstruction, layer measured]

import matplotlib.colors as mcolors

fig = Figure(figsize=(6.4, 4.8), layout="constrained")
ax = fig.add_subplot()
norm = mcolors.LogNorm(vmin=errs.min().item(), vmax=errs.max().item())
im = ax.imshow(errs.numpy(), cmap="viridis", norm=norm, interpolation="nearest")
for i in range(len(LAYERS)):
    for j in range(len(LAYERS)):
        dark = norm(errs[i, j].item()) < 0.6  # white text on the dark end of the colour map
        ax.text(j, i, f"{errs[i, j]:.2g}", ha="center", va="center", color="white" if dark else "black",
                fontsize="small")
ax.set_xticks(range(len(LAYERS)), LAYERS)
ax.set_yticks(range(len(LAYERS)), [f"from {layer}" for layer in LAYERS])
ax.set(title="Relative feature error of each reconstruction at each layer",
       xlabel="layer where the features are compared", ylabel="reconstruction")
fig.colorbar(im, ax=ax, label="relative feature error (log scale)")
course.export_figure(fig, "03_feature_error_matrix")
fig"""),
("md", r"""The matrix is nearly triangular. Below the diagonal (a deep reconstruction measured at a *shallower*
layer) the errors are large: matching `conv5_2` does not make the `conv1_2` features, which are nearly the
pixels, match. On and above the diagonal they are small: what a shallow layer pins down, deeper layers agree
with. Information only flows one way through the network.

Finally the loss curves: every run drives its own content loss down by orders of magnitude, so the pixel
differences above are not a failure of the optimiser; the deep layers simply do not ask for the pixels."""),
("code", r"""fig = Figure(figsize=(7, 4), layout="constrained")
ax = fig.add_subplot()
for layer in LAYERS:
    h = results[layer].history["content"]
    ax.plot(range(1, len(h) + 1), [v / h[0] for v in h], label=layer)
ax.set_yscale("log")
ax.set(title="Content loss relative to its start, per reconstruction layer",
       xlabel="loss evaluation (forward + backward pass)", ylabel="content loss / initial content loss (log scale)")
ax.grid(True, alpha=0.3)
ax.legend(fontsize="small")
fig"""),
("code", r"""# Teaching-critical facts, checked on every run
from nstlib.reconstruct import is_increasing

for layer in LAYERS:
    h = results[layer].history["content"]
    assert results[layer].final_loss < 0.1 * h[0], f"{layer}: the content loss should fall at least tenfold"
assert is_increasing(errors, rel_tol=0.1), f"pixel error should grow with depth: {errors}"
assert errors[-1] > 2 * errors[0], "conv5_2 should be much further from the photo than conv1_2"
assert errs[-1, 0] > 3 * errs[-1, -1], "the conv5_2 reconstruction matches conv5_2, not conv1_2"
assert errs[0].max() < errs[-1, 0], "the conv1_2 reconstruction matches every layer better"
"""),
("md", r"""## 4 · Why this matters for style transfer

* Deep layers are **invariant** to a lot: exact positions (pooling), small shifts of colour and texture,
  and anything the network learned to ignore. The pixel noise left in the deep reconstructions lives in that
  "blind spot": changing it does not change the features, so the content loss has no reason to remove it.
* Style transfer needs exactly that blind spot. Matching `conv4_2` (`nstlib`'s default content layer, as in
  the paper) fixes the arrangement of the scene and leaves the colours and strokes free for the style loss.
  Matching `conv1_2` would pin every pixel and leave the style nothing to change.
* The price is visible here too: the deeper the content layer, the less of the photo survives. Notebook 08
  shows the trade-off between the content weight α and the style weight β.

### Exercises

**1.** Reconstruct from `conv4_2` twice, from two different noise seeds (`seed=1`, `seed=2`). Are the two
images close in pixels? Are they close in `conv4_2` features?

<details><summary>Solution</summary>

```python
runs = [nstlib.stylize(photo, photo, content_layers=("conv4_2",), style_layers=(), style_weight=0, init="noise",
                       seed=s, num_steps=steps, progress=False) for s in (1, 2)]
a, b = runs[0].image, runs[1].image
print(f"pixels: PSNR between the two = {psnr(a, b):.1f} dB")
print("conv4_2 relative error of b against a:", layer_errors([b], a, ["conv4_2"])[0, 0].item())
course.show_images([a, b], ["seed 1", "seed 2"])
```
The two images differ visibly in their fine noise (a low PSNR) yet their `conv4_2` features nearly agree:
many images share one deep response, and the starting point decides which one you get.
</details>

**2.** Gatys et al. report that *average* pooling gives smoother reconstructions than max pooling. Try
`pooling="avg"` for the `conv5_2` reconstruction and compare the PSNR.

<details><summary>Solution</summary>

```python
avg = nstlib.stylize(photo, photo, content_layers=("conv5_2",), style_layers=(), style_weight=0, init="noise",
                     pooling="avg", num_steps=steps, progress=False)
print(f"max pooling {psnr(results['conv5_2'].image, photo):.1f} dB, average pooling {psnr(avg.image, photo):.1f} dB")
course.show_images([results["conv5_2"].image, avg.image], ["conv5_2, max pooling", "conv5_2, average pooling"])
```
Average pooling passes a gradient to all four pixels of every 2×2 window instead of only the maximum, so the
optimiser can correct every pixel; the result is usually smoother. (The calibration of the network was
measured with max pooling, so the loss values are on a slightly different scale.)
</details>

**3.** Why not use two content layers, `content_layers=("conv2_2", "conv4_2")`, in style transfer?

<details><summary>Solution</summary>

The `conv2_2` term would pin the pixels almost exactly (section 2), so the style loss could only change what
`conv2_2` does not see, which is very little: the result would look like the photo with a faint tint. A
single deep layer is the usual choice; a shallow one can be added with a small weight when the content must
stay crisp.
</details>"""),
]
build("/work/main/notebooks/03_content_loss.ipynb", "03 · Content loss: what one layer remembers", intro, cells)
