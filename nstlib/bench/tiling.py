"""``make bench-tiling``: memory against output size, whole image against tiles, in one run.

For each output size (longer side) and each way of running the same Gatys step (the whole image;
the whole image with activation checkpointing; tiles; tiles with checkpointing) it prints:

- the bytes autograd keeps for one backward pass on the device (:func:`nstlib.scale.tiling.saved_bytes`:
  the whole image, or the largest tile, since only one tile's activations exist at a time);
- the peak memory of a few steps in a fresh process: ``torch.cuda.max_memory_allocated`` on CUDA,
  else the process's max RSS, and its increase over the process after loading the network;
- the seconds per loss evaluation.

Then the loss reached with tiles against the whole image at a size where both fit (same images,
weights and evaluation budget), the bytes per pixel measured with and without checkpointing, and
what they predict: the largest whole-image output on a 16 GiB and an 80 GiB GPU, and the largest
tiled output that a host's RAM holds (the image, its gradient and the L-BFGS history stay there).

    python -m nstlib.bench.tiling [--sizes 384 512] [--tile 256] [--overlap 64] [--steps 2]
                               [--compare_size 256] [--compare_steps 40] [--json outputs/tile_bench.json]
    python -m nstlib.bench.tiling --largest [--budget_gib 20] [--side N] [--steps 2] [--coarse 1024]
                               [--coarse_steps 60] [--dry_run]   # the biggest output here
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

from ..core.assets import default_content, default_style
from ..core.config import Config
from ..core.devices import resolve_device
from ..core.features import CHANNELS, get_extractor, layer_resolution_divisor
from ..core.images import load_image, max_pixels_for, save_image
from ..core.tables import format_table
from ..course.multiscale import default_scales
from ..gatys.tiled import stylize_tiled
from ..gatys.transfer import stylize
from ..scale.memory import max_side_for_budget, step_bytes
from ..scale.tiling import plan_tiles, saved_bytes, saved_bytes_per_pixel, tiled_loss_and_grad
from .gatys import default_pair, machine, measure_peak, peak_rss_mib, reset_peak_rss, rss_mib, write_json

MODES = ("whole", "whole+checkpointing", "tiled", "tiled+checkpointing")
GIB = 2**30


def mode_config(mode: str, tile: int, overlap: int, **changes):
    """The :class:`~nstlib.gatys.transfer.Config` of one way of running (``MODES``)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    extra = {"checkpointing": mode.endswith("checkpointing")}
    if mode.startswith("tiled"):
        extra.update(tile=tile, tile_overlap=overlap)
    return Config(**{**extra, **changes})


def _child(mode: str, size: int, tile: int, overlap: int, steps: int, device: str) -> dict:
    """A few steps of one mode in this (fresh) process: its peak memory and seconds per evaluation."""
    dev = resolve_device(device)
    config = mode_config(mode, tile, overlap, num_steps=steps, device=str(dev))
    content, style = default_pair(size)
    get_extractor(tuple(dict.fromkeys((*config.content_layers, *config.style_layers))),
                  config.weights, config.pooling, str(dev), config.seed)
    base = peak_rss_mib()
    out: dict = {}

    def go() -> None:
        result = stylize(content, style, config, progress=False)
        seconds = result.history["seconds"]
        out["seconds_per_eval"] = (seconds[-1] - seconds[0]) / max(1, len(seconds) - 1)

    peak = measure_peak(go, dev)
    return {**peak, **out, "base_mib": base if dev.type != "cuda" else 0.0}


def memory_rows(sizes: list[int], tile: int, overlap: int, steps: int, device: str) -> list[dict]:
    """One row per (size, mode): saved bytes on the device, peak memory (own process), s / eval."""
    dev = resolve_device(device)
    rows = []
    for size in sizes:
        h, w = default_pair(size)[0].shape[-2:]
        for mode in MODES:
            config = mode_config(mode, tile, overlap, device=str(dev))
            layers = (*config.content_layers, *config.style_layers)
            tiles = 1
            th, tw = h, w
            if config.tile and max(h, w) > config.tile:
                plan = plan_tiles(h, w, tile, overlap, layers)
                tiles, (th, tw) = len(plan), plan.largest
            out = subprocess.run(
                [sys.executable, "-m", "nstlib.bench.tiling", "--child", mode, str(size), "--tile", str(tile),
                 "--overlap", str(overlap), "--steps", str(steps), "--device", device],
                capture_output=True, text=True, check=True,
            )
            child = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"size": size, "height": h, "width": w, "mode": mode, "tiles": tiles,
                         "saved_mib": saved_bytes(config, th, tw) / 2**20, **child})
    return rows


def compare_losses(size: int, tile: int, overlap: int, steps: int, device: str) -> dict:
    """The whole image against tiles at ``size`` px: final losses after the same evaluations, the
    whole-image loss of the tiled output, and the tiled loss at the whole run's output."""
    content, style = default_pair(size)
    config = Config(num_steps=steps, device=device)
    whole = stylize(content, style, config, progress=False)
    tiled = stylize(content, style, config.replace(tile=tile, tile_overlap=overlap), progress=False)
    # judge the tiled output by the whole-image loss: the first evaluation of a run started from it
    judged = stylize(content, style, config.replace(num_steps=1), progress=False, init_image=tiled.image)
    # and the two objectives at one image (the whole run's output): how close the tiled loss is
    at_whole, _ = tiled_loss_and_grad(whole.image, content, style, config, tile=tile, overlap=overlap)
    plan = plan_tiles(*content.shape[-2:], tile, overlap, (*config.content_layers, *config.style_layers))
    return {"size": size, "tile": tile, "overlap": overlap, "tiles": len(plan), "exact": plan.exact,
            "evaluations": steps, "whole_loss": whole.final_loss, "tiled_loss": tiled.final_loss,
            "tiled_whole_loss": judged.history["total"][0], "objective_ratio": at_whole["total"] / whole.final_loss,
            "ratio": judged.history["total"][0] / whole.final_loss, "whole_seconds": whole.seconds,
            "tiled_seconds": tiled.seconds}


def _weight_bytes(config) -> int:
    layers = tuple(dict.fromkeys((*config.content_layers, *config.style_layers)))
    net = get_extractor(layers, config.weights, config.pooling, str(resolve_device(config.device)), config.seed)
    return sum(p.numel() * p.element_size() for p in net.parameters())


def host_bytes_per_pixel(config, cover: float = 1.0) -> float:
    """Bytes per output pixel that a tiled run keeps in host memory besides L-BFGS and the three
    image-sized tensors of :func:`nstlib.scale.memory.step_bytes`: the best image so far, the previous
    scale's result and its upsampled copy, the returned image, and the content features of every
    tile (``cover`` = total tile area ÷ image area), float32."""
    content = sum(CHANNELS[int(n[4]) - 1] / layer_resolution_divisor(n) ** 2 * 4 for n in config.content_layers)
    return 4 * 12 + content * cover


def estimates(tile: int, overlap: int, device: str, aspect: float = 2 / 3) -> dict:
    """Bytes per pixel measured with and without checkpointing, and the largest outputs they predict."""
    out: dict = {"aspect": aspect, "tile": tile, "overlap": overlap, "whole_gpu": [], "tiled_host": []}
    base = mode_config("whole", tile, overlap, device=device)
    weights = _weight_bytes(base)
    out["weight_mib"] = weights / 2**20
    for checkpointing in (False, True):
        config = base.replace(checkpointing=checkpointing)
        bpp = saved_bytes_per_pixel(config)
        out[f"bytes_per_pixel{'_checkpointing' if checkpointing else ''}"] = bpp
        for history in (100, 10):
            for gb in (16, 80):
                side = max_side_for_budget(gb * GIB, bpp, weights, history, aspect)
                out["whole_gpu"].append({"gpu_gb": gb, "checkpointing": checkpointing, "history": history,
                                         "side": side, "megapixels": side * side * aspect / 1e6})
        if checkpointing:
            continue
        # tiled: the device holds one tile; the host holds the image, its gradient, L-BFGS and the cache
        big = 8192
        plan = plan_tiles(int(big * aspect), big, tile, overlap, (*config.content_layers, *config.style_layers))
        cover = sum((t.bottom - t.top) * (t.right - t.left) for t in plan) / (plan.height * plan.width)
        tile_bytes = saved_bytes(config, tile, tile) + weights
        out["tile_mib"] = tile_bytes / 2**20
        out["tile_mib_checkpointing"] = (saved_bytes(config.replace(checkpointing=True), tile, tile) + weights) / 2**20
        for history in (100, 10):
            for gb in (24, 80):
                side = max_side_for_budget(gb * GIB, host_bytes_per_pixel(config, cover), tile_bytes, history, aspect)
                out["tiled_host"].append({"host_gb": gb, "checkpointing": checkpointing, "history": history,
                                          "side": side, "megapixels": side * side * aspect / 1e6})
    return out


def format_report(report: dict) -> str:
    """The whole report as Markdown tables."""
    lines = format_table(
        ["output (px)", "mode", "tiles", "saved for backward, device (MiB)", "peak memory (MiB)",
         "over the loaded process (MiB)", "s / evaluation"],
        [[f"{r['width']}×{r['height']}", r["mode"], r["tiles"], f"{r['saved_mib']:.1f}", f"{r['peak_mib']:.0f}",
          f"{r['peak_mib'] - r['base_mib']:.0f}", f"{r['seconds_per_eval']:.2f}"] for r in report["rows"]],
        left=1,
    ).splitlines()
    m = report["machine"]
    lines += ["", f"{m['processor']}, {m['cpus']} threads, torch {m['torch']}, device {m['device']}; "
              f"tiles of {report['tile']} px overlapping by {report['overlap']} px; peak memory is "
              f"{report['rows'][0]['peak_kind']} of each run's own process."]
    c = report.get("compare")
    if c:
        lines += [
            "",
            f"| {c['size']} px, {c['evaluations']} evaluations | loss the run reports | whole-image loss of its output | seconds |",
            "|---|---:|---:|---:|",
            f"| whole image | {c['whole_loss']:.4g} | {c['whole_loss']:.4g} | {c['whole_seconds']:.1f} |",
            f"| {c['tiles']} tiles of {c['tile']} px, overlap {c['overlap']} ({'exact' if c['exact'] else 'blended'}) "
            f"| {c['tiled_loss']:.4g} | {c['tiled_whole_loss']:.4g} | {c['tiled_seconds']:.1f} |",
            f"| tiled ÷ whole | | {c['ratio']:.3f} | {c['tiled_seconds'] / c['whole_seconds']:.2f} |",
            "",
            f"At one image (the whole run's output), the tiled loss is {c['objective_ratio']:.4f}× the "
            "whole-image loss. L-BFGS amplifies float-rounding differences between the two ways of "
            "summing (its line search), so the two runs part ways after a few steps even when tiling "
            "is exact; compare the losses they reach, not their images.",
        ]
    e = report.get("estimates")
    if e:
        lines += [
            "",
            f"Measured: {e['bytes_per_pixel']:.0f} B/px saved for the backward pass, "
            f"{e['bytes_per_pixel_checkpointing']:.0f} B/px with checkpointing "
            f"({e['bytes_per_pixel'] / e['bytes_per_pixel_checkpointing']:.2f}× less); VGG19 weights "
            f"{e['weight_mib']:.0f} MiB; one {e['tile']}-px tile needs {e['tile_mib']:.0f} MiB "
            f"({e['tile_mib_checkpointing']:.0f} MiB with checkpointing). Largest output, longer side at "
            f"{e['aspect']:.3g} aspect (nstlib.scale.memory.max_side_for_budget; transient gradients not counted):",
            "",
        ]
        lines += format_table(
            ["where", "checkpointing", "L-BFGS history", "longest side (px)", "megapixels"],
            [[f"whole image, {g['gpu_gb']} GiB GPU", "yes" if g["checkpointing"] else "no", g["history"],
              g["side"], f"{g['megapixels']:.1f}"] for g in e["whole_gpu"]]
            + [[f"tiled, any GPU (one tile on it), {g['host_gb']} GiB host RAM", "–", g["history"], g["side"],
                f"{g['megapixels']:.1f}"] for g in e["tiled_host"]],
            left=0,
        ).splitlines()
    return "\n".join(lines)


def _available_ram() -> int:
    """Bytes of RAM available to this process (``MemAvailable``), or total physical RAM."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return info.get("MemAvailable", info["MemTotal"])
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def previews(image: torch.Tensor, output: str, overview: int = 1024, crop: tuple[int, int] = (512, 768)) -> list[str]:
    """Two small views of a huge ``[1, 3, H, W]`` result beside ``output``: ``<stem>_overview.jpg``
    (the whole image, longer side ``overview`` px, area-averaged) and ``<stem>_crop.jpg`` (its centre,
    ``crop`` = (height, width) px at 1:1, where the brush strokes show). Returns the paths."""
    from pathlib import Path


    h, w = image.shape[-2:]
    scale = overview / max(h, w)
    small = image
    if scale < 1:
        small = torch.nn.functional.interpolate(image, size=(max(1, round(h * scale)), max(1, round(w * scale))),
                                                mode="area")
    ch, cw = min(crop[0], h), min(crop[1], w)
    top, left = (h - ch) // 2, (w - cw) // 2
    stem = Path(output).with_suffix("")
    paths = [f"{stem}_overview.jpg", f"{stem}_crop.jpg"]
    save_image(small, paths[0])
    save_image(image[..., top:top + ch, left:left + cw], paths[1])
    return paths


def largest(side: int | None, budget_gib: float | None, tile: int, overlap: int, steps: int, history: int,
            output: str, device: str, progress: bool, dry_run: bool = False, *,
            coarse: int = 1024, coarse_steps: int = 60) -> dict:
    """Make the largest tiled output that ``budget_gib`` GiB of host RAM holds (default: 85 % of the RAM
    available now), or one of ``side`` px, from the default images; checkpointing on.

    The run is coarse to fine in two stages: a whole-image multi-scale transfer at ``coarse`` px
    (``coarse_steps`` evaluations), upsampled as the start of ``steps`` tiled evaluations at the full
    size. ``coarse=0`` starts from the content at full size instead. Besides the plan, the result
    reports the seconds of each stage, the losses of the full-size evaluations, the peak RSS and
    that peak plus the L-BFGS pairs the run did not fill (``history`` pairs of two image-sized
    float32 vectors), which is what a long run at this size would reach.
    """
    config = Config(tile=tile, tile_overlap=overlap, checkpointing=True, lbfgs_history=history,
                    num_steps=steps, device=device)
    budget = budget_gib * GIB if budget_gib else 0.85 * _available_ram()
    tile_bytes = saved_bytes(config, tile, tile) + _weight_bytes(config)
    aspect = 2 / 3  # the default content photo, chelsea.png, is 3:2
    if side is None:
        side = max_side_for_budget(budget, host_bytes_per_pixel(config, 1.3), tile_bytes, history, aspect)
    planned = {"side": side, "budget_gib": budget / GIB, "tile_mib": tile_bytes / 2**20,
               "host_bytes_per_pixel": step_bytes(1, host_bytes_per_pixel(config, 1.3), 0, history)}
    if dry_run:
        return planned
    content = load_image(default_content(), side, max_pixels=max_pixels_for(side))
    style = load_image(default_style(), min(side, 1024))
    info: dict = {**planned, "coarse": None}
    start = time.perf_counter()
    init = None
    if 0 < coarse < side:
        scales = default_scales(coarse, levels=3, smallest=64)
        first = stylize(load_image(default_content(), coarse), style, config.replace(
            tile=None, checkpointing=False, lbfgs_history=100, image_size=coarse, num_steps=coarse_steps,
            scales=scales if len(scales) > 1 and coarse_steps >= len(scales) else None), progress=progress)
        init = first.image
        info["coarse"] = {"side": coarse, "evaluations": first.evaluations, "final_loss": first.final_loss,
                          "seconds": time.perf_counter() - start}
    before = rss_mib()
    measured = before is not None and reset_peak_rss()
    middle = time.perf_counter()
    result = stylize_tiled(content, style, config.replace(image_size=side), tile=tile, overlap=overlap,
                           progress=progress, init_image=init)
    seconds = time.perf_counter() - middle
    save_image(result.image, output)
    h, w = result.image.shape[-2:]
    peak = peak_rss_mib()
    shown = previews(result.image, output)
    unfilled = max(0, history - max(0, result.evaluations - 1))
    if measured:  # what the full-size stage added, per pixel, against the model without L-BFGS pairs
        info["stage_added_mib"] = peak - before
        info["stage_bytes_per_pixel"] = (peak - before) * 2**20 / (h * w)
        info["model_bytes_per_pixel_no_history"] = step_bytes(1, host_bytes_per_pixel(config, 1.3), 0, 0)
    return {**info, "width": w, "height": h, "megapixels": h * w / 1e6,
            "evaluations": result.evaluations, "seconds": seconds,
            "seconds_per_evaluation": seconds / max(1, result.evaluations),
            "losses": [float(v) for v in result.history["total"]], "final_loss": result.final_loss,
            "total_seconds": time.perf_counter() - start, "peak_rss_mib": peak,
            "peak_with_full_history_mib": peak + unfilled * 2 * 3 * h * w * 4 / 2**20, "output": output,
            "previews": shown}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nstlib.bench.tiling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 512], help="output sizes (longer side, px)")
    parser.add_argument("--tile", type=int, default=None, help="tile side, px (default 256; 512 with --largest)")
    parser.add_argument("--overlap", type=int, default=64, help="tile overlap, px")
    parser.add_argument("--steps", type=int, default=None,
                        help="evaluations per memory run (default 2), or at the full size of --largest (default 2)")
    parser.add_argument("--compare_size", type=int, default=256, help="size of the loss comparison (0: skip)")
    parser.add_argument("--compare_tile", type=int, default=192)
    parser.add_argument("--compare_overlap", type=int, default=64)
    parser.add_argument("--compare_steps", type=int, default=40)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default="outputs/tile_bench.json", help="where to write the results")
    parser.add_argument("--largest", action="store_true",
                        help="make the largest tiled output this machine's RAM holds (hours on a CPU)")
    parser.add_argument("--side", type=int, default=None, help="with --largest: this size instead (a smoke test)")
    parser.add_argument("--budget_gib", type=float, default=None,
                        help="with --largest: host RAM to plan for, GiB (default: 85 %% of what is available)")
    parser.add_argument("--history", type=int, default=10, help="with --largest: L-BFGS history")
    parser.add_argument("--coarse", type=int, default=1024,
                        help="with --largest: side of the whole-image warm start, px (0: none)")
    parser.add_argument("--coarse_steps", type=int, default=60, help="with --largest: evaluations of the warm start")
    parser.add_argument("--output", default="outputs/largest.png", help="with --largest: the image written")
    parser.add_argument("--dry_run", action="store_true", help="with --largest: only print the size it would make")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tile is None:
        args.tile = 512 if args.largest else 256
    if args.steps is None:
        args.steps = 2
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]), args.tile, args.overlap, args.steps, args.device)))
        return 0
    if args.largest:
        info = largest(args.side, args.budget_gib, args.tile, args.overlap, args.steps, args.history,
                       args.output, args.device, sys.stderr.isatty(), args.dry_run,
                       coarse=args.coarse, coarse_steps=args.coarse_steps)
        print(json.dumps(info, indent=1))
        return 0

    start = time.perf_counter()
    report: dict = {
        "machine": {**machine(), "device": str(resolve_device(args.device))},
        "tile": args.tile, "overlap": args.overlap,
        "rows": memory_rows(args.sizes, args.tile, args.overlap, args.steps, args.device),
    }
    if args.compare_size:
        report["compare"] = compare_losses(args.compare_size, args.compare_tile, args.compare_overlap,
                                           args.compare_steps, args.device)
    report["estimates"] = estimates(args.tile, args.overlap, args.device)
    report["seconds"] = time.perf_counter() - start
    print(format_report(report))
    print(f"\n{report['seconds']:.0f} s in all; wrote {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
