"""The trained feed-forward models: loading checkpoints, exporting small ones, the shipped ones.

A checkpoint (written by :func:`nstlib.feedforward.training.train`) records the model's ``kind``
(``"fast"``, ``"adain"`` or ``"wct"``), the constructor arguments (``arch``), what it was
trained on (``meta``: style names, layers, weights of the loss) and the command that made it.
:func:`load_model` rebuilds the model from that alone, so a checkpoint needs no code beside it.

The project ships small models that its own training code produced, in
``nstlib/data/models/`` (each at most 10 MB: float16 weights, no optimiser state). Their names
are listed by :func:`pretrained_models`; ``images/SOURCES.md`` records the command that
trained each one. ``NSTLIB_MODELS`` points at another folder of models (your own).
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..core.devices import resolve_device
from ..core.errors import NstlibError
from .adain import AdaIN, Decoder
from .fast import TransformerNet
from .training import CHECKPOINT_FORMAT, TrainError, read_checkpoint, save_checkpoint
from .wct import WCT

__all__ = ["KINDS", "NonFiniteOutput", "check_output", "load_model", "export_model", "pretrained_models",
           "resolve_model", "model_info"]

KINDS = ("fast", "adain", "wct")


def pretrained_dir() -> Path:
    """``nstlib/data/models``: the models that ship with the package (or ``$NSTLIB_MODELS``)."""
    env = os.environ.get("NSTLIB_MODELS")
    # A package installed in a folder (wheel, editable, Colab) is a pathlib.Path here.
    return Path(env) if env else Path(os.fspath(importlib.resources.files("nstlib").joinpath("data", "models")))


def pretrained_models() -> dict[str, Path]:
    """The shipped models by name (the file name without ``.pt``)."""
    return {p.stem: p for p in sorted(pretrained_dir().glob("*.pt"))}


def resolve_model(source: str | os.PathLike) -> Path:
    """A shipped model's name, or a path to a checkpoint; a clear error for neither."""
    shipped = pretrained_models()
    if isinstance(source, str) and source in shipped:
        return shipped[source]
    path = Path(source)
    if path.is_file():
        return path
    names = ", ".join(shipped) or "none"
    raise TrainError(f"model {os.fspath(source)!r}: no such file, and not a shipped model (shipped: {names})")


class NonFiniteOutput(NstlibError):
    """A model's output holds NaN or infinite values (its weights are broken); the message names the model."""


def check_output(image: Tensor, model: nn.Module) -> Tensor:
    """``image`` if every value is finite, else :class:`NonFiniteOutput` naming ``model`` (its ``source``)."""
    if not bool(torch.isfinite(image).all()):
        name = getattr(model, "source", type(model).__name__)
        raise NonFiniteOutput(f"model {name}: its output is not finite (NaN or inf; are its weights broken?)")
    return image


def _read_model(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path`` with its ``kind``, ``arch`` and ``state_dict`` checked (a TrainError
    naming the file and the key otherwise)."""
    data = read_checkpoint(path)
    kind = data.get("kind")
    if kind not in KINDS:
        what = "no 'kind' entry" if kind is None else f"an unknown kind {kind!r}"
        raise TrainError(f"model {path}: {what} (known: {', '.join(KINDS)}); not a model this version can load")
    for key in ("arch", "state_dict", "meta"):
        if not isinstance(data.get(key, {} if key == "meta" else None), Mapping):
            what = "no" if key not in data else f"a broken ({type(data[key]).__name__})"
            raise TrainError(f"model {path}: {what} {key!r} entry; not a model this version can load")
    return data


def model_info(source: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's description without its weights: kind, arch, meta, step, command, size."""
    path = resolve_model(source)
    data = _read_model(path)
    return {"path": str(path), "kind": data["kind"], "arch": data["arch"], "meta": data.get("meta", {}),
            "step": data.get("step"), "command": data.get("train_config", {}).get("command", ""),
            "commands": data.get("commands") or [data.get("train_config", {}).get("command", "")],
            "megabytes": path.stat().st_size / 2**20,
            "history": data.get("history", {})}


def _build(kind: str, arch: dict[str, Any], meta: dict[str, Any], device: torch.device) -> nn.Module:
    if kind == "fast":
        return TransformerNet(**arch)
    if kind == "adain":
        return AdaIN(Decoder(**arch), weights=meta.get("weights", "caffe"), device=device)
    if kind == "wct":
        return WCT({level: Decoder(**a) for level, a in arch.items()}, weights=meta.get("weights", "caffe"),
                   device=device)
    raise TrainError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")


def _trained_part(kind: str, model: nn.Module) -> nn.Module:
    """The part of the model that the checkpoint's state dict holds."""
    if kind == "adain":
        return model.decoder
    if kind == "wct":
        return model.decoders
    return model


def load_model(source: str | os.PathLike, device: str | torch.device = "auto", kind: str | None = None) -> nn.Module:
    """Rebuild a trained model from a checkpoint or a shipped model's name.

    Returns a :class:`nstlib.feedforward.fast.TransformerNet`, :class:`nstlib.feedforward.adain.AdaIN` or
    :class:`nstlib.feedforward.wct.WCT` in eval mode, in float32 on ``device``. ``kind`` checks that the
    checkpoint holds that kind of model (a clear error otherwise).
    """
    path = resolve_model(source)
    data = _read_model(path)
    if kind is not None and data["kind"] != kind:
        raise TrainError(f"model {path} is a {data['kind']} model, not a {kind} model")
    device = resolve_device(device)
    try:
        model = _build(data["kind"], data["arch"], data.get("meta", {}), device)
    except (TypeError, NstlibError) as exc:  # arch keys or values the constructor refuses
        raise TrainError(f"model {path}: its arch {data['arch']} does not describe a {data['kind']} model "
                         f"({str(exc).splitlines()[0]})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    try:
        _trained_part(data["kind"], model).load_state_dict(state)
    except RuntimeError as exc:
        raise TrainError(f"model {path}: its weights do not fit its architecture ({exc})") from None
    model.to(device).eval()
    model.meta = data.get("meta", {})  # type: ignore[attr-defined]
    model.source = str(path)  # type: ignore[attr-defined]
    model.commands = list(data.get("commands") or [])  # type: ignore[attr-defined]
    return model


def export_model(checkpoint: str | os.PathLike, dest: str | os.PathLike, half: bool = True) -> Path:
    """Write a small copy of ``checkpoint`` for sharing: no optimiser state, float16 weights.

    The loss history and the command that trained the model are kept.
    """
    data = read_checkpoint(checkpoint)
    if Path(dest).resolve() == Path(checkpoint).resolve():
        raise TrainError(f"export {dest}: that is the checkpoint itself; give another path")
    slim = {k: v for k, v in data.items() if k not in ("optimizer", "torch_rng")}
    if half:
        slim["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    slim["format"] = CHECKPOINT_FORMAT
    return save_checkpoint(dest, slim)
