"""Item 8 (SIGTERM) and 7 (Ctrl-C during start-up) of issue 21, with real processes and real signals.

SIGTERM is what ``timeout``, Slurm, Colab and torchrun send: it is handled like Ctrl-C (the best
result kept) and exits 143; Ctrl-C exits 130. At start-up (torch still importing) either one
ends the program with one line. During the final write both wait until the output is whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

import nstlib.cli.gatys as gatys_cli
from faults.kit import QUICK, leftovers

CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "nstlib", *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(proc: subprocess.Popen, prefix: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"no line starting {prefix!r}: {proc.stderr.read()}")


def _stderr_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_starting_ends_with_one_line(sig, pair, tmp_path):
    content, style = pair
    proc = _start(["--content_path", content, "--style_path", style, "--output_path", "o.png", *QUICK], tmp_path)
    time.sleep(0.8)  # python is up; torch and the commands are still importing (about 3 s)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == CODES[sig], err
    assert "interrupted" in _stderr_line(err)
    assert not (tmp_path / "o.png").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_keeps_the_best_image(sig, pair, tmp_path):
    content, style = pair
    proc = _start(["--content_path", content, "--style_path", style, "--output_path", "o.png", "--image_size", "48",
                   "--num_steps", "5000", "--log_every", "1", "--device", "cpu", "--history", "h.json"], tmp_path)
    _wait_for(proc, "step 2/")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == CODES[sig], err
    line = _stderr_line(err)
    assert "interrupted at step" in line and "o.png" in line
    assert Image.open(tmp_path / "o.png").size == (48, 40)
    assert (tmp_path / "h.json").is_file() and leftovers(tmp_path) == []


def test_sigterm_mid_training_writes_the_checkpoint(pair, tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):
        (data / f"{i}.png").write_bytes(pair[0].read_bytes())
    proc = _start(["train", "fast", "--data", data, "--style_path", pair[1], "--checkpoint", "ck.pt",
                   "--iterations", "100000", "--crop", "32", "--batch_size", "1", "--width", "4",
                   "--log_every", "1", "--device", "cpu"], tmp_path)
    _wait_for(proc, "step 2/")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "--resume" in _stderr_line(err)
    assert (tmp_path / "ck.pt").is_file() and leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_final_write_waits_for_the_whole_file(sig, cli, pair, tmp_path, monkeypatch):
    content, style = pair
    real = gatys_cli.save_image

    def save_and_be_interrupted(image, path):
        os.kill(os.getpid(), sig)  # held until every output is written
        return real(image, path)

    monkeypatch.setattr(gatys_cli, "save_image", save_and_be_interrupted)
    result = cli("--content_path", content, "--style_path", style, *QUICK, "--output_path", "o.png",
                 "--history", "h.json")
    assert result.code == CODES[sig], result.err
    result.one_line("interrupted while saving", "o.png")
    assert Image.open(tmp_path / "o.png").size == (32, 27) and (tmp_path / "h.json").is_file()


def test_sigterm_mid_video_keeps_the_finished_frames(tmp_path):
    pytest.importorskip("av")
    from nstlib.core.assets import video_clip

    proc = _start(["video", "--video_path", video_clip(), "--method", "gatys", "--num_steps", "30",
                   "--image_size", "32", "--max_frames", "60", "--output_path", "o.mp4", "--frames_dir", "frames",
                   "--device", "cpu", "-q"], tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / "frames" / "000001.png").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "run the same command again" in _stderr_line(err)
    assert len(list((tmp_path / "frames").glob("0*.png"))) >= 2
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []
