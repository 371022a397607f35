"""Easel's AutoML engine: from a table to a trustworthy model, from Python or the command line.

>>> import automl
>>> m = automl.AutoML(time_budget=60, seed=0).fit(df, target="churn")  # doctest: +SKIP
>>> m.predict(df); m.leaderboard; m.save("models/churn")  # doctest: +SKIP
>>> model = automl.load("models/churn")  # doctest: +SKIP

The public names are loaded on first use (a module ``__getattr__``, as scikit-learn does), so
``import automl.errors`` or ``import connectors`` loads no machine-learning library.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.automl import AutoML
    from automl.errors import EaselError, EaselWarning
    from automl.model import Model
    from automl.training.preview import PreviewResult, preview

from automl._version import __version__

# public name -> the module that defines it (imported on first access)
_LAZY = {
    "AutoML": "automl.automl",
    "EaselError": "automl.errors",
    "EaselWarning": "automl.errors",
    "Model": "automl.model",
    "PreviewResult": "automl.training.preview",
    "preview": "automl.training.preview",
}


def load(path: str | os.PathLike[str]) -> Model:
    """Load a model saved with ``save`` (or ``automl train --out``)."""
    from automl.model import Model

    return Model.load(path)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'automl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AutoML",
    "EaselError",
    "EaselWarning",
    "Model",
    "PreviewResult",
    "__version__",
    "load",
    "preview",
]
