"""The golden test: the same data, seed and ``max_trials`` give the same model file and the same
predictions, before and after any rework of the training code.

Each case trains a model bounded by ``max_trials`` (never by the clock: the budget is far larger
than the trials need), saves it, and compares the saved metadata (timings and package versions
left out) and the predictions with the recorded ones in ``tests/golden/``. A recorded file of an
older schema version is read through the model file's own upgrade path, so the golden files stay
valid when the format changes.

The recorded numbers depend on the ML libraries' versions. With other versions than recorded the
comparison still runs (a patch release rarely moves a number, and the test keeps guarding then);
only a difference under other versions skips the test, naming the libraries that changed. To
record anew (only after a change that is *meant* to change models):
``EASEL_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import automl
from tests.conftest import make_table

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("EASEL_UPDATE_GOLDEN") == "1"
LIBRARIES = ("numpy", "pandas", "sklearn", "lightgbm", "xgboost", "optuna", "scipy")
# Keys that measure time or the machine, never the model.
VOLATILE = {
    "created_at",
    "versions",
    "timings",
    "fit_seconds",
    "finished_at",
    "predict_ms_per_1000_rows",
    "fit_seconds_final",
    # the budget only bounds the clock (each trial's time share is a part of it); the models
    # are bounded by max_trials, so the recorded ones hold for any budget that is never reached
    "time_budget",
}
RTOL = 1e-6
# Far more than the trials need, so that even on a machine many times slower than usual no trial
# reaches its time share (15% of the search time) and the models depend on max_trials alone.
BUDGET = 3600


def _library_versions() -> dict[str, str]:
    import importlib

    return {name: str(importlib.import_module(name).__version__) for name in LIBRARIES}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _compare(got: Any, want: Any, where: str = "meta") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: expected an object, got {got!r}"
        assert sorted(got) == sorted(want), f"{where}: keys differ: {sorted(got)} vs {sorted(want)}"
        for k in want:
            _compare(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list), f"{where}: expected a list, got {got!r}"
        assert len(got) == len(want), f"{where}: {len(got)} items instead of {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _compare(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool) and isinstance(got, int | float):
        if math.isnan(want):
            assert math.isnan(got), f"{where}: {got} instead of NaN"
        else:
            assert math.isclose(got, want, rel_tol=RTOL, abs_tol=1e-9), f"{where}: {got} != {want}"
    elif (
        isinstance(want, str) and isinstance(got, str) and got != want
        and _number(want) and _number(got)
    ):  # fmt: skip
        # a regression's prediction as text: LightGBM's sums in another order (one thread
        # instead of two) move its last digit
        assert math.isclose(float(got), float(want), rel_tol=1e-12), f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _series_df() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    rows = []
    for store, level in (("north", 50.0), ("south", 80.0)):
        season = 10 * np.sin(2 * np.pi * np.arange(len(days)) / 7)
        values = level + season + np.arange(len(days)) * 0.1 + rng.normal(0, 2, len(days))
        for d, v in zip(days, values, strict=True):
            rows.append({"day": d.strftime("%Y-%m-%d"), "store": store, "size": level, "units": v})
    return pd.DataFrame(rows)


def _big_regression() -> pd.DataFrame:
    # more than cv_max_rows search rows: one validation split, kept trial models, a refit
    return make_table(13_000, 5, "regression").drop(columns=["notes"])


def _recipe() -> Any:
    from automl.prep.recipe import Recipe

    return Recipe.from_dict(
        {
            "steps": [
                {"kind": "formula", "new_name": "income_per_age", "expression": "income / age"},
                {"kind": "fill_missing", "column": "income", "strategy": "median"},
            ]
        }
    )


CASES: dict[str, dict[str, Any]] = {
    "binary": {
        "data": lambda: make_table(400, 0, "binary"),
        "target": "churn",
        "params": {"max_trials": 12},
    },
    "multiclass": {
        "data": lambda: make_table(450, 1, "multiclass"),
        "target": "segment",
        "params": {"max_trials": 8},
    },
    "regression_recipe": {
        "data": lambda: make_table(400, 2, "regression"),
        "target": "spend",
        "params": {"max_trials": 8},
        "recipe": _recipe,
    },
    "regression_split": {
        "data": _big_regression,
        "target": "spend",
        "params": {"max_trials": 6},
    },
    "timeseries": {
        "data": _series_df,
        "target": "units",
        "params": {
            "max_trials": 6,
            "task": "timeseries",
            "time_column": "day",
            "series_columns": ["store"],
            "horizon": 7,
        },
    },
}


def _predictions(model: Any, df: pd.DataFrame, target: str) -> dict[str, Any]:
    if model.is_forecast:
        fc = model.forecast()
        return {"forecast": fc.astype({c: str for c in fc.columns[:2]}).to_dict("list")}
    rows = df.drop(columns=[target]).head(40)
    out: dict[str, Any] = {"predict": [str(v) for v in model.predict(rows)]}
    if model.task != "regression":
        out["proba"] = model.predict_proba(rows).to_numpy().round(9).tolist()
    else:
        out["values"] = np.asarray(model.predict(rows), dtype=float).round(9).tolist()
    ex = model.explain(rows.head(5), top=3)
    out["explain"] = {
        "column": ex["column"].tolist(),
        "contribution": ex["contribution"].round(9).tolist(),
    }
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, tmp_path: Path) -> None:
    spec = CASES[case]
    df = spec["data"]()
    recipe = spec["recipe"]() if "recipe" in spec else None
    fit = automl.AutoML(time_budget=BUDGET, seed=0, **spec["params"]).fit(
        df, target=spec["target"], recipe=recipe
    )
    path = fit.save(tmp_path / "model")
    saved = json.loads((path / "easel_model.json").read_text(encoding="utf-8"))
    model = automl.load(path)
    got = {
        "libraries": _library_versions(),
        "meta": _strip(saved),
        "predictions": _predictions(model, df, spec["target"]),
    }
    golden_file = GOLDEN / f"{case}.json"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden_file.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return
    want = json.loads(golden_file.read_text(encoding="utf-8"))
    try:
        _compare(got["meta"], _upgrade(want["meta"]))
        _compare(got["predictions"], want["predictions"], "predictions")
    except AssertionError as difference:
        changed = {
            name: f"{want['libraries'].get(name)} -> {version}"
            for name, version in got["libraries"].items()
            if want["libraries"].get(name) != version
        }
        if not changed:
            raise
        # the libraries' own numbers may have moved: only then is a difference not a failure
        first = str(difference).splitlines()[0]
        pytest.skip(
            f"differs ({first}) with other library versions than recorded ({changed}): "
            "record anew with EASEL_UPDATE_GOLDEN=1 on a commit known to be right"
        )


def _upgrade(meta: dict[str, Any]) -> dict[str, Any]:
    """A recorded metadata of an older schema version, as this Easel writes it today."""
    from automl.artifact import upgrade

    return _strip(upgrade(meta))
