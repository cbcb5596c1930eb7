"""One process against two (torchrun, gloo, one thread each) on this machine: training and batch.

    python scripts/bench_distributed.py [--steps 12] [--frames 24] [--size 256] [--rounds 2]

Training: ``train fast`` at the shipped model's settings (128 px crops, global batch 4, the bundled
photos and VGG19), seconds per step as the median of each run's steps after the first. Batch:
``batch --method fast`` on the first frames of the course clip at ``--size`` px, wall time of the
whole command (start-up included). The two set-ups alternate in rounds, so that background load hits both alike; the table
gives the median over rounds. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], procs: int) -> float:
    """Run ``python -m nstlib ARGS`` on ``procs`` processes; returns the wall time in seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    launcher = [sys.executable, "-m", "nstlib"] if procs == 1 else [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}", "--master_addr", "127.0.0.1",
        "--master_port", str(_port()), "-m", "nstlib"]
    t = time.perf_counter()
    subprocess.run([*launcher, *args], check=True, env=env, cwd=REPO, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    import torch

    from nstlib.feedforward.training import read_checkpoint
    from nstlib.video.io import read_video, write_frames

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    rows: dict[str, dict[int, list[float]]] = {"train": {1: [], 2: []}, "batch": {1: [], 2: []}}
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "frames"
        clip = read_video(REPO / "nstlib/data/images/video/bigbuckbunny_3s.mp4", max_frames=a.frames)
        write_frames(clip.frames, frames)
        for r in range(a.rounds):
            for procs in (1, 2):
                ckpt = Path(tmp) / f"fast_{r}_{procs}.pt"
                _run(["train", "fast", "--crop", "128", "--batch_size", "4", "--iterations", str(a.steps),
                      "--checkpoint", str(ckpt), "--device", "cpu", "-q"], procs)
                rows["train"][procs].append(statistics.median(read_checkpoint(ckpt)["history"]["seconds"][1:]))
                out = Path(tmp) / f"out_{r}_{procs}"
                rows["batch"][procs].append(_run(["batch", "--input_dir", str(frames), "--output_dir", str(out),
                                                  "--method", "fast", "--image_size", str(a.size), "--device", "cpu",
                                                  "-q"], procs))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, one thread per process, {a.rounds} rounds")
    print("| task | 1 process | 2 processes (gloo) | speed-up |\n|---|---:|---:|---:|")
    for task, unit in (("train", f"s / step (fast, 128 px, batch 4, median of {a.steps - 1} steps)"),
                       ("batch", f"s for {a.frames} frames at {a.size} px (fast), whole command")):
        one, two = (statistics.median(rows[task][n]) for n in (1, 2))
        print(f"| {unit} | {one:.3f} | {two:.3f} | {one / two:.2f}× |")


if __name__ == "__main__":
    main()
