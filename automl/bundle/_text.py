"""What the bundle's generated files share: their names, and values from the model written
as data (a Python literal in code, escaped text in Markdown), never as code or markup."""

from __future__ import annotations

import math
import re
from typing import Any

from automl.errors import ArtifactError
from automl.metrics import METRICS

MODEL_FOLDER = "model"
DATA_FILE = "data/training.parquet"


def md(text: Any) -> str:
    """User text (a column, target or model name) safe in Markdown: no markup, no HTML."""
    out = re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", str(text))
    return out.replace("<", "&lt;").replace("\n", " ")


def literal(value: Any) -> str:
    """``value`` as Python source that evaluates to it (JSON-like data only)."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise ArtifactError(
        f"The model file holds a value the notebook cannot write ({type(value).__name__}); "
        "it is damaged. Retrain the model."
    )


def label(metric: str) -> str:
    """A metric's name in words (ROC AUC), or its key when Easel does not know it."""
    return METRICS[metric].label if metric in METRICS else metric
