"""Training on several processes (``torchrun``, gloo on this CPU) gives the one-process result.

Each launch starts two workers with ``torchrun`` on a free local port; the one-process runs use
the same command in this process. The models are tiny (32 px crops, random VGG weights)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nstlib.scale import distributed
from processes import free_port, torchrun
from nstlib.cli import main
from nstlib.feedforward.training import CropDataset, read_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[2]


def wct_args(data: Path, ckpt: Path, iterations: int, *extra: str) -> list[str]:
    return ["train", "wct", "--data", str(data), "--levels", "relu1_1,relu2_1", "--width", "0.25",
            "--crop", "32", "--batch_size", "4", "--device", "cpu", "--weights", "random",
            "--checkpoint", str(ckpt), "--iterations", str(iterations), *extra]


def assert_same_training(a: Path, b: Path) -> None:
    """Two checkpoints hold the same weights, Adam state and loss history (up to float rounding)."""
    one, two = read_checkpoint(a), read_checkpoint(b)
    assert one["step"] == two["step"]
    torch.testing.assert_close(one["state_dict"], two["state_dict"])
    torch.testing.assert_close(one["optimizer"]["state"], two["optimizer"]["state"])
    torch.testing.assert_close(one["history"]["total"], two["history"]["total"], rtol=1e-5, atol=0)


# --------------------------------------------------------------------------------------------
# the helpers, without processes


def test_shard_rows_and_device_follow_the_launcher(monkeypatch):
    assert not distributed.launched() and distributed.world_size() == 1 and distributed.is_main()
    assert distributed.shard("abcde") == list("abcde") and distributed.batch_rows(3) == range(3)
    assert distributed.all_mean(torch.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
    assert distributed.gather({"done": 1}) == [{"done": 1}]
    assert not distributed.init()  # no torchrun: nothing to join
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.launched() and distributed.world_size() == 3 and not distributed.is_main()
    assert distributed.shard(list(range(7))) == [1, 4]  # rank r takes r::world, in order
    assert distributed.batch_rows(6) == range(2, 4)
    with pytest.raises(distributed.DistributedError, match="batch size 4 .* 3 processes"):
        distributed.batch_rows(4)
    assert distributed.local_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert distributed.local_device(torch.device("cpu")) == torch.device("cpu")


def test_backend_follows_the_device_not_only_the_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: True)
    assert distributed.backend("auto") == distributed.backend(None) == distributed.backend("cuda:1") == "nccl"
    # --device cpu on a machine with a GPU (one-GPU Colab): gloo, not nccl
    assert distributed.backend("cpu") == distributed.backend(torch.device("cpu")) == distributed.backend("mps") == "gloo"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert distributed.backend("auto") == "gloo"


def test_a_ranks_rows_are_the_rows_of_the_whole_batch(pics):
    from nstlib.feedforward.fast import FastTask

    data, _ = pics
    crops = CropDataset(data, crop=32, seed=3)
    whole = crops.batch(5, 4)
    torch.testing.assert_close(torch.cat([crops.batch(5, 4, range(0, 2)), crops.batch(5, 4, range(2, 4))]), whole,
                               rtol=0, atol=0)
    task = FastTask(crops, [whole[:1]] * 3, width=4, n_residual=1, batch_size=4, weights="random", device="cpu")
    full, part = task.sample(2), task.sample(2, rows=range(2, 4))
    assert set(part) == set(full)
    for key in full:
        assert torch.equal(part[key], full[key][2:4]), key


# --------------------------------------------------------------------------------------------
# two gloo processes against one


def test_two_processes_train_like_one_and_resume_on_one(pics, tmp_path):
    """WCT's decoders (no normalisation layers): after 3 Adam steps, the weights and the optimiser
    state of 2 processes × 2 crops equal those of 1 process × 4 crops; resumed by 1 process for 2
    more steps, they equal 5 uninterrupted steps."""
    data, _ = pics
    two, one, straight = tmp_path / "two.pt", tmp_path / "one.pt", tmp_path / "straight.pt"
    proc = torchrun(wct_args(data, two, 3, "--log_every", "1"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warning from torchrun or gloo, no progress bar without a terminal
    lines = proc.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("training")] == [
        f"training wct on 3 images from {data}, 32 px crops, batch 4, 3 steps on 2 processes"]
    assert sum(ln.startswith("step ") for ln in lines) == 3 and sum(ln.startswith("saved") for ln in lines) == 1
    assert main(wct_args(data, one, 3, "-q")) == 0
    assert_same_training(one, two)
    assert main(wct_args(data, two, 5, "--resume", "-q")) == 0
    assert main(wct_args(data, straight, 5, "-q")) == 0
    assert_same_training(straight, two)
    assert len(read_checkpoint(two)["commands"]) == 2


def test_one_process_resumed_on_two(pics, tmp_path):
    """1 process for 3 steps, then 2 processes to 5: the same as 5 uninterrupted steps."""
    data, _ = pics
    straight, ckpt = tmp_path / "straight.pt", tmp_path / "ckpt.pt"
    assert main(wct_args(data, straight, 5, "-q")) == 0
    assert main(wct_args(data, ckpt, 3, "-q")) == 0
    proc = torchrun(wct_args(data, ckpt, 5, "--resume", "-q"))
    assert proc.returncode == 0, proc.stderr
    assert_same_training(straight, ckpt)


def test_fast_network_on_two_processes(pics, tmp_path):
    """After one step the fast network's weights equal the one-process ones, except the convolution
    biases that feed an instance norm: the norm subtracts them again, so their true gradient is 0 and
    Adam's first step moves them by ±lr on the sign of rounding noise (harmless: the output does not
    depend on them). Resumed on one process, the losses follow the one-process run."""
    data, style = pics
    args = ["train", "fast", "--data", str(data), "--style_path", str(style), "--crop", "32", "--batch_size", "4",
            "--width", "4", "--device", "cpu", "--weights", "random", "-q"]
    two, one, one_1 = tmp_path / "two.pt", tmp_path / "one.pt", tmp_path / "one_1.pt"
    proc = torchrun([*args, "--checkpoint", str(two), "--iterations", "1"])
    assert proc.returncode == 0, proc.stderr
    assert main([*args, "--checkpoint", str(one_1), "--iterations", "1"]) == 0
    w1, w2 = read_checkpoint(one_1)["state_dict"], read_checkpoint(two)["state_dict"]
    cancelled = {k for k in w1 if k.endswith("conv.bias") and not k.startswith("out.")}
    cancelled |= {f"res_norm.{i}.bias" for i in range(1, 10, 2)}  # a constant shift that the next norms remove
    torch.testing.assert_close({k: v for k, v in w2.items() if k not in cancelled},
                               {k: v for k, v in w1.items() if k not in cancelled})
    assert main([*args, "--checkpoint", str(one), "--iterations", "3"]) == 0
    assert main([*args, "--checkpoint", str(two), "--iterations", "3", "--resume"]) == 0
    torch.testing.assert_close(read_checkpoint(two)["history"]["total"], read_checkpoint(one)["history"]["total"],
                               rtol=1e-4, atol=0)


def test_dataloader_workers_prepare_the_same_batches(pics, tmp_path):
    """--num_workers 2: the batches come from two worker processes, in the same order: the same weights."""
    data, _ = pics
    here, workers = tmp_path / "here.pt", tmp_path / "workers.pt"
    assert main(wct_args(data, here, 3, "-q")) == 0
    assert main(wct_args(data, workers, 3, "-q", "--num_workers", "2")) == 0
    one, two = read_checkpoint(here), read_checkpoint(workers)
    torch.testing.assert_close(one["state_dict"], two["state_dict"], rtol=0, atol=0)
    assert two["train_config"]["num_workers"] == 2


def _workers(launcher: int) -> dict[int, int]:
    """{rank: pid} of the worker processes that torchrun ``launcher`` started (from /proc)."""
    out = {}
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        ranks = [int(e[5:]) for e in env if e.startswith(b"RANK=")]
        if ranks:
            out[ranks[0]] = int(child)
    return out


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_a_dead_process_leaves_the_last_step_saved_and_the_run_resumes(pics, tmp_path):
    """kill -9 of rank 1 mid-run: rank 0 saves its last finished step, and one process resumes from it
    to the same weights as an uninterrupted run."""
    import signal
    import time

    data, _ = pics
    ckpt, straight = tmp_path / "dying.pt", tmp_path / "straight.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "nstlib",
           *wct_args(data, ckpt, 100_000, "--checkpoint_every", "5", "-q")]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert ckpt.exists(), "no checkpoint was written"
        os.kill(_workers(proc.pid)[1], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    # Either rank 0 notices the dead peer at its next gradient exchange and says so, or torchrun,
    # which also watches its workers, sends it SIGTERM first (a race that load decides): then it
    # stops as on Ctrl-C. Both write the last finished step.
    assert ("another process failed after step" in err and f"saved {ckpt}" in err) or "interrupted" in err, err
    saved = read_checkpoint(ckpt)
    steps = saved["step"]
    assert steps >= 5 and len(saved["history"]["total"]) == steps
    assert main(wct_args(data, ckpt, steps + 2, "--resume", "-q")) == 0
    assert main(wct_args(data, straight, steps + 2, "-q")) == 0
    assert_same_training(straight, ckpt)
