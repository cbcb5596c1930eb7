"""The seed's entry point, kept for its users: ``python train_pytorch.py --content_path ...``.

It takes the same flags as ``python -m nstlib`` and runs the same code (see ``nstlib/cli/gatys.py``).
"""

from nstlib.cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python train_pytorch.py"))
