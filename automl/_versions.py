"""Versions of Easel and the packages a model depends on (recorded in every artifact)."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("easel", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "optuna", "scipy")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
