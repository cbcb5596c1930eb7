"""``make bench``: nstlib's Gatys step measured side by side with two references, in one run.

For each image size it times, on the same machine, weights and layers:

- ``bare``: one forward + backward pass through the same truncated VGG19, with a trivial loss.
  This is the floor that any implementation pays per step.
- ``nstlib``: a step of :func:`nstlib.stylize` (L-BFGS, all loss terms, history, best image).
- ``tutorial``: a straightforward implementation in the style of the PyTorch tutorial
  (``nn.Sequential`` with loss modules inserted after the tapped layers, contiguous tensors,
  out-of-place ReLU, ``Tensor.view`` Gram matrices, the tutorial's repeated ``LBFGS.step``).

The three are timed in one process, interleaved in rounds, so that any background load slows
them alike; the ratios are computed within the run. Each (method, size) then runs a few steps in
its own subprocess so that its peak memory (max RSS on the CPU, ``torch.cuda.max_memory_allocated``
on CUDA) is its own.

It then compares coarse-to-fine optimisation with single-scale optimisation at the largest size
(:func:`nstlib.course.multiscale.compare`: same images, weights and evaluation budget), and reports the
speed-up and the loss each reaches at the target size.

    python -m nstlib.bench.gatys [--sizes 128 256] [--steps 10] [--rounds 3] [--multiscale_steps 100]
                           [--json outputs/bench.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.assets import default_content, default_style
from ..core.config import Config
from ..core.devices import resolve_device
from ..core.features import LAYER_NAMES, VGGFeatures, get_extractor
from ..core.images import load_image
from ..core.losses import content_loss, gram_matrix, style_loss
from ..core.tables import format_table
from ..course.multiscale import compare, default_scales
from ..gatys.transfer import stylize
from ..scale.memory import saved_tensor_bytes

METHODS = ("bare", "nstlib", "tutorial")


def default_pair(size: int) -> tuple[Tensor, Tensor]:
    """The default content and style images at ``size`` px, ``[1, 3, H, W]`` each."""
    return load_image(default_content(), size), load_image(default_style(), size)


def _bare(size: int, steps: int, device: torch.device) -> list[float]:
    cfg = Config()
    layers = tuple(dict.fromkeys((*cfg.content_layers, *cfg.style_layers)))
    net = get_extractor(layers, cfg.weights, cfg.pooling, str(device))
    content, _ = default_pair(size)
    x = content.to(device).contiguous().requires_grad_(True)
    times = []
    for _ in range(steps + 2):
        t = time.perf_counter()
        x.grad = None
        sum(f.sum() for f in net(x).values()).backward()
        _sync(device)
        times.append(time.perf_counter() - t)
    return times[2:]


def _nstlib(size: int, steps: int, device: torch.device) -> list[float]:
    content, style = default_pair(size)
    stylize(content, style, num_steps=2, progress=False, device=str(device))  # warm-up, loads weights
    result = stylize(content, style, num_steps=steps + 2, progress=False, device=str(device))
    seconds = result.history["seconds"]
    return [b - a for a, b in zip(seconds[1:], seconds[2:])]


# --- the tutorial-style baseline -------------------------------------------------------------


class _Normalization(nn.Module):
    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)

    def forward(self, img: Tensor) -> Tensor:
        return (img - self.mean) / self.std


class _ContentLoss(nn.Module):
    def __init__(self, target: Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, x: Tensor) -> Tensor:
        self.loss = F.mse_loss(x, self.target)
        return x


def _tutorial_gram(x: Tensor) -> Tensor:
    b, c, h, w = x.size()
    features = x.view(b * c, h * w)
    return torch.mm(features, features.t()).div(b * c * h * w)


class _StyleLoss(nn.Module):
    def __init__(self, target_feature: Tensor) -> None:
        super().__init__()
        self.target = _tutorial_gram(target_feature).detach()
        self.loss = torch.zeros(())

    def forward(self, x: Tensor) -> Tensor:
        self.loss = F.mse_loss(_tutorial_gram(x), self.target)
        return x


def _tutorial_model(style: Tensor, content: Tensor, device: torch.device):
    """The same calibrated Caffe VGG19 weights, rebuilt the tutorial's way."""
    cfg = Config()
    ours = VGGFeatures(LAYER_NAMES, device=device)
    ours.to(memory_format=torch.contiguous_format)
    mean, std = ours.mean.flatten(), ours.std.flatten()

    class BGR(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x.flip(1)

    model = nn.Sequential(_Normalization(mean, std), BGR()).to(device)
    content_losses, style_losses = [], []
    last = max(LAYER_NAMES.index(n) for n in (*cfg.content_layers, *cfg.style_layers))
    for i, name in enumerate(LAYER_NAMES[: last + 1]):
        model.add_module(name, ours.convs[i])
        model.add_module(f"relu_{name}", nn.ReLU(inplace=False))
        if name in cfg.content_layers:
            loss = _ContentLoss(model(content).detach())
            model.add_module(f"content_loss_{name}", loss)
            content_losses.append(loss)
        if name in cfg.style_layers:
            loss = _StyleLoss(model(style).detach())
            model.add_module(f"style_loss_{name}", loss)
            style_losses.append(loss)
        if i + 1 < len(LAYER_NAMES) and LAYER_NAMES[i + 1][4] != name[4]:
            model.add_module(f"pool_{name}", nn.MaxPool2d(2, 2))
    return model, content_losses, style_losses


def _tutorial(size: int, steps: int, device: torch.device) -> list[float]:
    cfg = Config()
    content, style = (t.to(device) for t in default_pair(size))
    # the tutorial needs both images at one size (its Gram matrices are not size-normalised alike)
    style = F.interpolate(style, size=content.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        model, content_losses, style_losses = _tutorial_model(style, content, device)
    model.eval().requires_grad_(False)
    x = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([x])
    stamps: list[float] = []

    def closure() -> Tensor:
        with torch.no_grad():
            x.clamp_(0, 1)
        optimizer.zero_grad()
        model(x)
        style_score = sum(sl.loss for sl in style_losses) * cfg.style_weight
        content_score = sum(cl.loss for cl in content_losses) * cfg.content_weight
        loss = style_score + content_score
        loss.backward()
        _sync(device)
        stamps.append(time.perf_counter())
        return loss

    while len(stamps) < steps + 2:
        optimizer.step(closure)
    return [b - a for a, b in zip(stamps[1:], stamps[2:])][:steps]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_METHODS = {"bare": _bare, "nstlib": _nstlib, "tutorial": _tutorial}


def saved_mib(method: str, size: int, device: torch.device) -> float:
    """MiB of tensors autograd saves for the backward pass of one loss evaluation.

    Unlike the process's peak RSS, this separates the methods: it counts the activations each
    one keeps (weights and targets excluded), via :func:`nstlib.scale.memory.saved_tensor_bytes`.
    """
    cfg = Config()
    content, style = (t.to(device) for t in default_pair(size))
    x = content.clone().requires_grad_(True)
    if method == "tutorial":
        style = F.interpolate(style, size=content.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            model, c_losses, s_losses = _tutorial_model(style, content, device)
        model.requires_grad_(False)
        fixed = [*model.parameters(), *(m.target for m in (*c_losses, *s_losses))]

        def forward() -> Tensor:
            model(x)
            return sum(m.loss for m in (*c_losses, *s_losses))  # type: ignore[return-value]
    else:
        layers = tuple(dict.fromkeys((*cfg.content_layers, *cfg.style_layers)))
        net = get_extractor(layers, cfg.weights, cfg.pooling, str(device))
        with torch.no_grad():
            c_feats, s_feats = net(content), net(style)
        targets = {n: gram_matrix(s_feats[n]) for n in cfg.style_layers}
        fixed = [*net.parameters(), *net.buffers(), *c_feats.values(), *targets.values()]

        def forward() -> Tensor:
            feats = net(x)
            if method == "bare":
                return sum(f.sum() for f in feats.values())  # type: ignore[return-value]
            return (sum(content_loss(feats[n], c_feats[n]) for n in cfg.content_layers)
                    + sum(style_loss(feats[n], targets[n]) for n in cfg.style_layers))

    return saved_tensor_bytes(forward, exclude=fixed).activations / 2**20


def peak_memory(method: str, size: int, steps: int, device: str = "auto") -> dict:
    """Run a few steps of one method in this process; return its peak memory in MiB."""
    dev = resolve_device(device)
    return measure_peak(lambda: _METHODS[method](size, steps, dev), dev)


def measure_peak(fn, dev: torch.device) -> dict:
    """Run ``fn()``; return this process's peak memory in MiB (``peak_mib``) and what it counts
    (``peak_kind``): ``torch.cuda.max_memory_allocated`` on CUDA, else the process's max RSS,
    which includes everything the process did before. Run it in a fresh process."""
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    fn()
    if dev.type == "cuda":
        return {"peak_mib": torch.cuda.max_memory_allocated(dev) / 2**20, "peak_kind": "cuda max_memory_allocated"}
    return {"peak_mib": peak_rss_mib(), "peak_kind": "process max RSS"}


def peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: ``VmHWM`` from ``/proc/self/status`` where there is
    one (it belongs to this program: ``ru_maxrss`` also keeps a forking parent's peak across
    ``exec``), else ``ru_maxrss``."""
    hwm = _status_mib("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 * (1 / 1024 if sys.platform == "darwin" else 1)


def _status_mib(key: str) -> float | None:
    """The ``key`` line (in kB) of ``/proc/self/status`` in MiB, or None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mib() -> float | None:
    """This process's resident memory now, MiB (``VmRSS``), or None where ``/proc`` has no status."""
    return _status_mib("VmRSS")


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux: ``5`` into ``/proc/self/clear_refs``), so that
    :func:`peak_rss_mib` measures one stage of a run. False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run(sizes: list[int], steps: int, device: str, rounds: int = 3) -> dict:
    """Time the methods interleaved in rounds (so that background load hits them alike), then
    measure each one's peak memory in a fresh subprocess, and compute the ratios."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rows = []
    for size in sizes:
        times: dict[str, list[float]] = {m: [] for m in METHODS}
        for _ in range(rounds):
            for method in METHODS:
                times[method] += _METHODS[method](size, steps, dev)
        for method in METHODS:
            out = subprocess.run(
                [sys.executable, "-m", "nstlib.bench.gatys", "--memory", method, str(size), "--device", device],
                capture_output=True, text=True, check=True,
            )
            memory = json.loads(out.stdout.strip().splitlines()[-1])
            memory["saved_mib"] = saved_mib(method, size, dev)
            rows.append({
                "method": method, "size": size, "steps": len(times[method]), "device": str(dev),
                "seconds_per_step": statistics.median(times[method]), "fastest_step": min(times[method]),
                **memory,
            })
    by = {(r["method"], r["size"]): r for r in rows}
    for r in rows:
        bare = by[("bare", r["size"])]["seconds_per_step"]
        r["ratio_to_bare"] = r["seconds_per_step"] / bare
        r["ratio_to_nstlib"] = r["seconds_per_step"] / by[("nstlib", r["size"])]["seconds_per_step"]
    return {
        "machine": machine(),
        "steps": steps,
        "rounds": rounds,
        "rows": rows,
    }


def machine() -> dict:
    """What a report was measured on: platform, processor, torch threads and version, the GPU."""
    return {
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpus": torch.get_num_threads(), "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_json(report: dict, path: str | Path) -> Path:
    """Write ``report`` as indented JSON to ``path`` (making its folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    return path


def multiscale(size: int, steps: int, device: str) -> dict:
    """Single scale against coarse to fine (``size // 2``, ``size``) on the default images."""
    content, style = default_pair(size)
    cmp = compare(content, style, default_scales(size, 2), Config(num_steps=steps, device=device))
    return {
        "size": size, "scales": list(cmp.scales), "evaluations": steps,
        "single_seconds": cmp.single.seconds, "multi_seconds": cmp.multi.seconds,
        "single_loss": cmp.single.final_loss, "multi_loss": cmp.multi.final_loss,
        "speedup": cmp.speedup, "loss_ratio": cmp.loss_ratio, "time_to_quality": cmp.time_to_quality,
    }


def format_multiscale(m: dict) -> str:
    """The multi-scale comparison as a Markdown table."""
    scales = ", ".join(map(str, m["scales"]))
    return "\n".join([
        f"| {m['size']} px, {m['evaluations']} evaluations | seconds | final loss at {m['size']} px |",
        "|---|---:|---:|",
        f"| single scale | {m['single_seconds']:.1f} | {m['single_loss']:.4g} |",
        f"| scales {scales} | {m['multi_seconds']:.1f} | {m['multi_loss']:.4g} |",
        f"| ratio | {m['speedup']:.2f}× faster | {m['loss_ratio']:.2f}× |",
        "",
        f"Single scale needs {m['time_to_quality']:.2f}× the multi-scale run's time to reach the "
        "multi-scale final loss (inf: it never does within the budget).",
    ])


def report_table(report: dict) -> str:
    """The report as a Markdown table."""
    lines = format_table(
        ["size", "method", "s / step", "× bare fwd+bwd", "× nstlib", "saved for backward (MiB)", "peak memory (MiB)"],
        [[r["size"], r["method"], f"{r['seconds_per_step']:.3f}", f"{r['ratio_to_bare']:.2f}",
          f"{r['ratio_to_nstlib']:.2f}", f"{r['saved_mib']:.1f}", f"{r['peak_mib']:.0f}"] for r in report["rows"]],
        left=0,
    ).splitlines()
    m = report["machine"]
    lines.append("")
    lines.append(
        f"{m['processor']}, {m['cpus']} threads, torch {m['torch']}, device {report['rows'][0]['device']}, "
        f"median of {report['rounds']} interleaved rounds of {report['steps']} steps; 'saved for backward' "
        f"counts the activations autograd keeps in one loss evaluation (weights and targets excluded); "
        f"peak memory is {report['rows'][0]['peak_kind']} of each method's own process."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nstlib.bench.gatys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method and round")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default="outputs/bench.json", help="where to write the results")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of steps per method")
    parser.add_argument("--multiscale_steps", type=int, default=100,
                        help="evaluations for the multi-scale comparison at the largest size (0: skip it)")
    parser.add_argument("--memory", nargs=2, metavar=("METHOD", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory:
        print(json.dumps(peak_memory(args.memory[0], int(args.memory[1]), 3, args.device)))
        return 0
    report = run(args.sizes, args.steps, args.device, args.rounds)
    print(report_table(report))
    if args.multiscale_steps:
        report["multiscale"] = multiscale(max(args.sizes), args.multiscale_steps, args.device)
        print()
        print(format_multiscale(report["multiscale"]))
    print(f"\nwrote {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
