import sys
sys.path.insert(0, "/work/main/scripts")
from nbtemplate import build

intro = r"""Gatys et al. optimised with **L-BFGS**, and so does notebook 06. Most deep-learning code reaches for **Adam**
instead, and the seed's `CONFIG` even carries Adam's `learning_rate: 0.01`. Folklore says "L-BFGS converges better
for style transfer". Here we test that claim on this machine, with a fair race:

* the same content and style images, the same loss, the same weights;
* the same budget, counted in **loss evaluations** (one forward and one backward pass through VGG each), the
  unit that costs time, whatever the optimiser;
* the loss plotted against evaluations *and* against the measured wall time.

Then we change where the optimisation starts: from the content photo, from noise, from the style image."""

cells = [
("md", r"""## 1 · Two optimisers on pixels

**Adam** keeps running averages of each pixel's gradient $g$ and squared gradient,

$$m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t,\qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2,\qquad
x_{t+1} = x_t - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},$$

($\hat m, \hat v$ are bias-corrected). The ratio $\hat m / \sqrt{\hat v}$ is about ±1 when the gradient keeps its sign,
so **each pixel moves by about $\eta$ per step, whatever the size of the gradient**. The learning rate $\eta$ is a
distance in pixel units (pixels live in [0, 1]).

**L-BFGS** is a quasi-Newton method: it builds an estimate $H_k$ of the inverse Hessian from the last $m$ pairs of
position and gradient differences $(s_i, y_i) = (x_{i+1} - x_i,\ g_{i+1} - g_i)$ and steps

$$x_{k+1} = x_k - H_k\, g_k .$$

It has no learning rate: the curvature estimate sets the step length (`stylize` runs it with unit steps and no
line search, so one iteration is exactly one evaluation). The next cell checks Adam's "moves by $\eta$" on
gradients of wildly different sizes; it is deterministic, so its output is the same in every preset."""),
("code", r"""# NBVAL_CHECK_OUTPUT
import torch

gen = torch.Generator().manual_seed(0)
for scale in (1e-4, 1.0, 1e4):
    x = torch.zeros(10_000, requires_grad=True)
    adam = torch.optim.Adam([x], lr=0.01)
    x.grad = scale * torch.randn(10_000, generator=gen)
    adam.step()
    moved = x.detach().abs()
    print(f"gradients of size ~{scale:g}: first Adam step moved the pixels by {moved.median():.4f} (median), "
          f"{moved.max():.4f} (max)")"""),
("md", r"""So with the seed's $\eta = 0.01$, a pixel can travel at most about $0.01 \times N$ in $N$ steps, and it needs to
travel a good fraction of the [0, 1] range to change colour. A larger $\eta$ gets there sooner but then
jitters by $\pm\eta$ around the minimum. That is why we try three learning rates: 0.01 (the seed's), 0.03 and 0.1."""),
("md", r"""## 2 · The race

Many runs, so we use the preset's *grid* size `p.small` (128 px at `medium`). Every run gets the same budget of
`p.steps(150)` evaluations. A short warm-up run first loads the weights and lets PyTorch pick its kernels, so
that the first timed run is not charged for them."""),
("code", r"""from nstlib import compare

p = course.current_preset()
CONFIG = {"image_size": 512, "style_weight": 1e6, "content_weight": 1, "tv_weight": 1e-6,
          "num_steps": 300, "learning_rate": 0.01}
base = nstlib.Config.from_dict(CONFIG).replace(image_size=p.small, num_steps=p.steps(150))

content = nstlib.load_image("../images/content/chelsea.png", base.image_size)
style = nstlib.load_image("../images/style/stained_glass.png", base.image_size)
nstlib.stylize(content, style, base, num_steps=2, progress=False)  # warm-up, not timed
print(f"content {tuple(content.shape)}, style {tuple(style.shape)}; budget: {base.num_steps} evaluations per run")"""),
("code", r"""optimizer_runs = {
    "L-BFGS": {"optimizer": "lbfgs"},
    "Adam, lr 0.01 (seed)": {"optimizer": "adam", "learning_rate": 0.01},
    "Adam, lr 0.03": {"optimizer": "adam", "learning_rate": 0.03},
    "Adam, lr 0.1": {"optimizer": "adam", "learning_rate": 0.1},
}


def report(name, r):
    print(f"{name:<22} {r.evaluations} evaluations in {r.seconds:6.1f} s, final total loss {r.final_loss:.4g}")


results = compare.run_variants(content, style, base, optimizer_runs, on_done=report)"""),
("md", r"""Left: the loss against the number of evaluations (the budget). Right: the same runs against the measured wall
time. Each curve is the lowest total loss reached so far, i.e. the loss of the image `stylize` would return if
stopped there; the y axis is logarithmic."""),
("code", r"""from matplotlib.figure import Figure

run_styles = {
    "L-BFGS": dict(color="black", linewidth=2.2),
    "Adam, lr 0.01 (seed)": dict(color="tab:red"),
    "Adam, lr 0.03": dict(color="tab:orange"),
    "Adam, lr 0.1": dict(color="tab:purple"),
}
fig = Figure(figsize=(12, 4.4), layout="constrained")
ax_step, ax_time = fig.subplots(1, 2, sharey=True)
compare.plot_runs(results, ax_step, x="step", styles=run_styles, title="Against the budget (loss evaluations)")
compare.plot_runs(results, ax_time, x="seconds", styles=run_styles, title="Against measured wall time")
ax_time.set_ylabel("")
fig.suptitle(f"L-BFGS against Adam at {base.image_size} px: same images, same loss, {base.num_steps} evaluations each")
course.export_figure(fig, "07_lbfgs_vs_adam")
fig"""),
("md", r"""The numbers behind the curves. *× L-BFGS* is a run's final total loss divided by L-BFGS's (above 1 means worse
than L-BFGS); the last column is the first evaluation at which a run got down to L-BFGS's final loss. The
sentences under the table are assembled from these measurements, not written in advance."""),
("code", r"""import textwrap

rows = compare.summarize(results, "L-BFGS")
print(compare.format_table(rows, "L-BFGS"))
print()
print(textwrap.fill(compare.conclusion(results, "L-BFGS"), width=110))"""),
("md", r"""Why is L-BFGS's curve flat in places? The curves show the lowest loss *so far*. `stylize` runs L-BFGS with unit
steps and no line search (a line search would spend extra evaluations per iteration), so a step taken on a
poor curvature estimate, typically one of the first, can *raise* the loss, and the optimiser then has to come
back down. The next cell measures, for every run, the largest rise from one evaluation to the next (a factor
above 1 means the loss went up) and where the loss was highest."""),
("code", r"""for name, r in results.items():
    h = r.history["total"]
    rise = max(later / now for now, later in zip(h, h[1:]))
    peak = max(range(len(h)), key=h.__getitem__)
    print(f"{name:<22} largest rise from one evaluation to the next: {rise:7.3g}×; "
          f"highest loss {h[peak]:.4g} at evaluation {peak + 1}")"""),
("code", r"""names = list(results)
fig = course.show_images([content, style] + [results[n].image for n in names],
                         ["content", "style"] + [f"{n}\nloss {results[n].final_loss:.3g}" for n in names],
                         ncols=3, width=2.8, suptitle=f"The images after {base.num_steps} evaluations")
course.export_figure(fig, "07_optimizer_results")
fig"""),
("md", r"""## 3 · Where to start: content, noise or style

The optimiser's starting image matters as much as the optimiser. `init="content"` starts from the photo (content
loss 0), `"noise"` from uniform noise (Gatys' original choice), `"style"` from the style image stretched to the
photo's shape. All three runs use L-BFGS and the same budget; the first is the L-BFGS run above."""),
("code", r"""init_results = {"init: content": results["L-BFGS"]}
init_results |= compare.run_variants(content, style, base,
                                     {"init: noise": {"init": "noise"}, "init: style": {"init": "style"}},
                                     on_done=report)
init_styles = {"init: content": dict(color="black", linewidth=2.2), "init: noise": dict(color="tab:gray"),
               "init: style": dict(color="tab:cyan")}
fig = Figure(figsize=(12, 4.4), layout="constrained")
ax_step, ax_time = fig.subplots(1, 2, sharey=True)
compare.plot_runs(init_results, ax_step, x="step", styles=init_styles, title="Against the budget (loss evaluations)")
compare.plot_runs(init_results, ax_time, x="seconds", styles=init_styles, title="Against measured wall time")
ax_time.set_ylabel("")
fig.suptitle(f"L-BFGS from three starting images at {base.image_size} px, {base.num_steps} evaluations each")
course.export_figure(fig, "07_initialisations")
fig"""),
("code", r"""init_rows = compare.summarize(init_results, "init: content")
print(compare.format_table(init_rows, "init: content"))
starts = {n: r.history["content"][0] for n, r in init_results.items()}
print("\nweighted content loss at the start: " + ", ".join(f"{n} {v:.3g}" for n, v in starts.items()))"""),
("code", r"""starts_img = [compare.start_image(r.config, content, style) for r in init_results.values()]
finals = [r.image for r in init_results.values()]
titles = [f"start: {n[6:]}" for n in init_results] + [f"{n}\nloss {r.final_loss:.3g}" for n, r in init_results.items()]
fig = course.show_images(starts_img + finals, titles, ncols=3, width=2.8,
                         suptitle="Top: the three starting images. Bottom: after the same budget")
course.export_figure(fig, "07_init_results")
fig"""),
("md", r"""## 4 · What must be true, in every preset"""),
("code", r"""# Teaching-critical facts, checked on every run
all_runs = {**results, **init_results}
for name, r in all_runs.items():
    assert len(r.history["total"]) == len(r.history["seconds"]) == r.evaluations == base.num_steps, name
    assert r.final_loss < r.history["total"][0], f"{name}: the loss must fall"
    assert all(b > a for a, b in zip(r.history["seconds"], r.history["seconds"][1:])), name
    assert r.image.shape == content.shape, name
# every run started from the same photo except the other inits, so the optimisers share their first loss
assert len({round(results[n].history["total"][0], 3) for n in optimizer_runs}) == 1
assert starts["init: content"] == 0 < starts["init: style"] and 0 < starts["init: noise"]
assert rows[0].name == "L-BFGS" and rows[0].ratio == 1"""),
("md", r"""## 5 · Conclusion

The table and the sentences printed under it in section 2 give this run's answer, with its numbers: whether
L-BFGS ended lower than every Adam run after the same number of evaluations, by what factor, and how early it
got down to the best Adam run's final loss. Check them against the left figure. The right figure answers the
practical question, *better per second*: an L-BFGS iteration adds only a few vector operations on the image to
the VGG forward and backward pass, so per evaluation the two optimisers should cost about the same, and a lead
in evaluations should be a lead in time; the printed time per step (`s / step`) lets you verify that on your
machine (on a shared or busy computer, wall times are noisy).

Some things the figures show that the numbers alone do not:

* **The learning rate is Adam's weak point.** The right $\eta$ depends on the image size, the weights and the
  budget; L-BFGS has no such knob. Compare how differently the three Adam curves fall.
* **Early on, the ranking can differ from the end.** Look whether and where the curves cross: a large $\eta$
  tends to fall fast at first and then jitter, a small one to keep falling slowly.
* **The starting image matters.** Starting from the photo begins with zero content loss and keeps its structure;
  starting from noise (Gatys' choice) has to recover the content first, which costs part of the budget, and
  tends to give a more texture-like image. Compare the final losses in the second table and the pictures.

A loss ratio is not a picture: look at the images too. Two results whose losses differ by a factor of two can
look alike, and a lower loss does not always look better."""),
("md", r"""## Exercises

**1.** Give Adam (lr 0.03) three times the budget. Does it catch up with L-BFGS's final loss, and after how many
evaluations?

<details><summary>Solution</summary>

```python
long = nstlib.stylize(content, style, base, optimizer="adam", learning_rate=0.03,
                      num_steps=3 * base.num_steps, progress=False)
print(compare.steps_to_reach(long.history, results["L-BFGS"].final_loss))  # None if it never does
```
</details>

**2.** L-BFGS's memory (`lbfgs_history`, default 100 pairs) costs two vectors the size of the image per pair.
How much of the advantage survives with only 5 pairs?

<details><summary>Solution</summary>

```python
short_memory = compare.run_variants(content, style, base, {"L-BFGS, m=5": {"lbfgs_history": 5}})
print(compare.format_table(compare.summarize({**results, **short_memory}, "L-BFGS"), "L-BFGS"))
```
</details>

**3.** Does the comparison change at the main size `p.size`? (At `medium` that is 4× the pixels: expect the
runs to take about 3× longer.)

<details><summary>Solution</summary>

```python
big = compare.run_variants(nstlib.load_image("../images/content/chelsea.png", p.size),
                           nstlib.load_image("../images/style/stained_glass.png", p.size), base,
                           {"L-BFGS": {}, "Adam, lr 0.03": {"optimizer": "adam", "learning_rate": 0.03}})
print(compare.conclusion(big, "L-BFGS"))
```
</details>

**Next: 08 · weight tuning** turns the other knobs: α, β and γ."""),
]
build("/work/main/notebooks/07_optimizers.ipynb", "07 · Optimisers: L-BFGS against Adam", intro, cells)
