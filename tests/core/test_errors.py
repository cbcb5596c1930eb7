"""One error base class: every nstlib error is an ``NstlibError`` (and so still a ``ValueError``)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import nstlib
from nstlib.core.errors import ConfigError, NstlibError


def _error_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(nstlib.__path__, "nstlib."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_error_class_of_the_package_is_an_nstlib_error():
    classes = _error_classes()
    assert len(classes) >= 15  # ConfigError, ImageError, FeatureError, MaskError, TrainError, VideoError, ...
    # Ctrl-C and the optimiser's internal signals are not errors of the user's input
    exempt = {"nstlib.gatys.transfer.StylizeInterrupted", "nstlib.core.optimize._BudgetSpent",
              "nstlib.core.optimize.NonFiniteLoss"}  # (caught by core.optimize.Ending)
    wrong = sorted(name for name, cls in classes.items() if name not in exempt and not issubclass(cls, NstlibError))
    assert wrong == []
    assert issubclass(NstlibError, ValueError) and issubclass(ConfigError, NstlibError)


def test_the_top_level_names_keep_their_classes():
    assert nstlib.ConfigError is ConfigError
    assert issubclass(nstlib.ImageError, NstlibError)
