"""Easel's AutoML engine: from a table to a trustworthy model, from Python or the command line.

>>> import automl
>>> m = automl.AutoML(time_budget=60, seed=0).fit(df, target="churn")  # doctest: +SKIP
>>> m.predict(df); m.leaderboard; m.save("models/churn")  # doctest: +SKIP
>>> model = automl.load("models/churn")  # doctest: +SKIP
"""

from __future__ import annotations

import os

from automl.automl import AutoML
from automl.errors import EaselError, EaselWarning
from automl.model import Model
from automl.training.preview import PreviewResult, preview

__version__ = "0.1.0"


def load(path: str | os.PathLike[str]) -> Model:
    """Load a model saved with ``save`` (or ``automl train --out``)."""
    return Model.load(path)


__all__ = [
    "AutoML",
    "EaselError",
    "EaselWarning",
    "Model",
    "PreviewResult",
    "load",
    "preview",
]
