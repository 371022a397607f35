"""Versions of Easel and the packages a model depends on (recorded in every artifact)."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = (
    "easel",
    "lightgbm",
    "xgboost",
    "scikit-learn",
    "pandas",
    "numpy",
    "pyarrow",
    "optuna",
    "scipy",
)
# distributions that install the same module under another name
DISTRIBUTIONS = {"xgboost": ("xgboost", "xgboost-cpu")}


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        out[name] = "not installed"
        for dist in DISTRIBUTIONS.get(name, (name,)):
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out
