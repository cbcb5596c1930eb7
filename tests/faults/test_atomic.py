"""Items 1 and 4 of issue 21: every output is written whole or not at all, through a name nobody can plant.

Each writer of the library is run twice against a target that already holds old bytes: once
with the final sync-and-rename failing as on a full disk (the old bytes must stay and no
temporary file may remain), once normally (the target is replaced, still nothing left over). A
writer that wrote in place, or through its own temporary file, fails the first half.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nstlib.core.files as files
from faults.kit import leftovers
from nstlib.core.files import OutputError, atomic_file, check_distinct, open_temp, probe_output, write_text
from nstlib.core.images import save_image
from nstlib.feedforward.training import save_checkpoint

NSTLIB = Path(files.__file__).resolve().parents[1]


def _frames(t: int = 3) -> torch.Tensor:
    return torch.rand(t, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def _figure(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    files.save_figure(fig, path, dpi=50)
    plt.close(fig)


def _video(path: Path) -> None:
    from nstlib.video.io import write_video

    write_video(_frames(), path, fps=5)


def _gif(path: Path) -> None:
    from nstlib.video.io import write_gif

    write_gif(_frames(), path, fps=5, size=16)


def _mesh(path: Path) -> None:
    from nstlib.mesh.meshes import save_textured, torus

    save_textured(torus(12, 8), torch.rand(1, 3, 8, 8), path)


WRITERS = {
    "image.png": lambda p: save_image(torch.rand(1, 3, 8, 8), p),
    "image.jpg": lambda p: save_image(torch.rand(1, 3, 8, 8), p),
    "checkpoint.pt": lambda p: save_checkpoint(p, {"step": 1, "weights": torch.zeros(3)}),
    "notes.json": lambda p: write_text(p, '{"a": 1}'),
    "plot.png": _figure,
    "plot.svg": _figure,
    "clip.mp4": _video,
    "clip.gif": _gif,
    "mesh.glb": _mesh,
    "mesh.obj": _mesh,
}


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_failed_final_write_keeps_the_old_file_and_leaves_nothing(name, tmp_path, monkeypatch):
    pytest.importorskip("av") if name.endswith(".mp4") else None
    pytest.importorskip("trimesh") if name.startswith("mesh") else None
    target = tmp_path / name
    target.write_bytes(b"old bytes")
    siblings = {target.with_suffix(s) for s in (".mtl", ".png")} if name == "mesh.obj" else set()
    for sibling in siblings:
        sibling.write_bytes(b"old sibling")
    monkeypatch.setattr(files, "_commit", _full_disk)
    with pytest.raises(Exception):
        WRITERS[name](target)
    assert target.read_bytes() == b"old bytes"
    assert all(s.read_bytes() == b"old sibling" for s in siblings)
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    WRITERS[name](target)
    assert target.read_bytes() != b"old bytes" and target.stat().st_size > 0
    assert all(s.read_bytes() != b"old sibling" for s in siblings)
    assert leftovers(tmp_path) == []


def test_the_library_renames_files_only_through_core_files():
    """A second ``os.replace`` would be a second, unchecked way of writing outputs."""
    found = [f"{p.relative_to(NSTLIB)}:{n}" for p in sorted(NSTLIB.rglob("*.py")) if p.name != "files.py"
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"os\.(replace|rename)\(|getpid\(\)", line)]
    assert found == []


# ---------------------------------------------------------------------------------------------
# Item 1: links planted where the temporary file would go


def test_a_link_planted_at_the_old_predictable_names_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    out = tmp_path / "shared" / "model.pt"
    out.parent.mkdir()
    for name in (f".{out.name}.{os.getpid()}.tmp", f".{out.stem}.{os.getpid()}.tmp{out.suffix}"):
        (out.parent / name).symlink_to(victim)
    save_checkpoint(out, {"step": 3})
    assert victim.read_text() == "someone else's file"
    assert torch.load(out, weights_only=True) == {"step": 3}


def test_a_link_planted_at_the_random_name_is_refused_not_followed(tmp_path, monkeypatch):
    """Were the random name guessed, ``O_EXCL`` refuses the planted link and another name is drawn."""
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    tokens = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(tokens))
    (tmp_path / ".out.png.aaaaaaaaaaaa.tmp").symlink_to(victim)
    (tmp_path / ".out.png.aaaaaaaaaaaa.tmp").unlink()  # a dangling link is refused as well as a live one
    (tmp_path / ".out.png.aaaaaaaaaaaa.tmp").symlink_to(tmp_path / "nowhere")
    tmp, handle = open_temp(tmp_path, "out.png")
    handle.close()
    assert tmp.name == ".out.png.bbbbbbbbbbbb.tmp"
    assert victim.read_text() == "someone else's file" and not (tmp_path / "nowhere").exists()


def test_a_link_at_the_target_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("keep")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    write_text(link, "new")
    assert victim.read_text() == "keep" and not link.is_symlink() and link.read_text() == "new"


def test_temporary_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_an_exception_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target) as handle:
            handle.write(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Concurrent writers and readers


def test_six_concurrent_writers_leave_one_whole_image_and_a_reader_never_sees_half(tmp_path):
    target = tmp_path / "out.png"
    images = [torch.full((1, 3, 64, 64), i / 6) for i in range(6)]
    save_image(images[0], target)
    stop, seen, bad = threading.Event(), set(), []

    def read() -> None:
        while not stop.is_set():
            try:
                with Image.open(target) as img:
                    seen.add(int(np.asarray(img)[0, 0, 0]))
            except Exception as exc:  # a partial file would fail to decode
                bad.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=lambda im=im: [save_image(im, target) for _ in range(5)]) for im in images]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert bad == []
    final = int(np.asarray(Image.open(target))[0, 0, 0])
    assert final in {round(i / 6 * 255) for i in range(6)}
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# The checks before any work


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    a = tmp_path / "a.png"
    a.write_bytes(b"x")
    os.link(a, tmp_path / "b.png")
    with pytest.raises(OutputError, match="--plot .* same file as --output_path"):
        check_distinct({"--output_path": a, "--history": None, "--plot": tmp_path / "b.png"})
    with pytest.raises(OutputError, match="same file"):
        check_distinct({"--output_path": a, "--plot": tmp_path / "sub" / ".." / "a.png"})
    check_distinct({"--output_path": a, "--plot": tmp_path / "c.png"})


def test_the_probe_finds_a_folder_that_takes_no_files_and_a_read_only_file(tmp_path, monkeypatch):
    ro = tmp_path / "ro.png"
    ro.write_bytes(b"x")
    ro.chmod(0o444)
    with pytest.raises(OutputError, match="read-only"):
        probe_output(ro)
    probe_output(tmp_path / "new" / "deeper" / "x.png")  # created on save: the nearest folder is probed

    def refuse(folder, name, suffix=".tmp"):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files, "open_temp", refuse)
    with pytest.raises(OutputError, match=f"folder '{tmp_path}' does not take new files .Read-only file system"):
        probe_output(tmp_path / "x.png")
