"""Presets are data: each is a dictionary of settings with a comment per setting."""

from __future__ import annotations

from typing import Any

from automl.errors import ParameterError

PRESETS: dict[str, dict[str, Any]] = {
    # A fast first model: a minute, light cross-validation, the search on at most 50k rows.
    "quick": {
        "time_budget": 60.0,  # seconds for the whole fit, everything included
        "cv_folds": 3,  # folds when the search rows fit under cv_max_rows
        "cv_max_rows": 10_000,  # above this, one 80/20 validation split instead of folds
        # small tables: more folds, so that picking the best of many trials is less of a lottery
        "small_rows": 2_000,
        "small_cv_folds": 5,
        # tiny tables: at most one trial per 4 search rows (never fewer than 30); past that, more
        # tuning mostly picks configurations that fit the validation noise (measured: the test
        # error grew from 25 to 800 trials on searches of 146 and 265 rows)
        "trials_per_row": 0.25,
        "min_trials": 30,
        "max_search_rows": 50_000,  # the search uses a stratified sample of at most this many rows
        # model families searched (k-NN only on tables of at most 10,000 search rows)
        "families": ["lightgbm", "xgboost", "linear", "forest", "knn"],
        # trials per family in each search cycle (forests and k-NN only run their default
        # configurations: tuning them rarely pays at this budget)
        "tuning_share": {"lightgbm": 3, "xgboost": 1, "linear": 1, "forest": 0, "knn": 0},
        "keep_top": 3,  # candidates kept in the artifact (plus the best of each family)
    },
    # More time, more folds and more rows in the search: the better model when you can wait.
    "standard": {
        "time_budget": 300.0,
        "cv_folds": 5,
        "cv_max_rows": 20_000,
        "small_rows": 2_000,
        "small_cv_folds": 5,
        "trials_per_row": 0.25,
        "min_trials": 30,
        "max_search_rows": 200_000,
        "families": ["lightgbm", "xgboost", "linear", "forest", "knn"],
        "tuning_share": {"lightgbm": 4, "xgboost": 2, "linear": 1, "forest": 1, "knn": 1},
        "keep_top": 5,
    },
}
ALIASES = {"fast": "quick", "default": "quick", "best": "standard"}


def get_preset(name: str) -> dict[str, Any]:
    """Settings of preset ``name`` (aliases accepted); unknown names list the valid ones."""
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        raise ParameterError(
            f"The 'preset' parameter of AutoML must be one of {', '.join(PRESETS)}. "
            f"Got {name!r} instead."
        )
    return dict(PRESETS[key])
