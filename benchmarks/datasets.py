"""Public datasets that ship inside installed packages (no downloads at run time).

Each loader returns (frame, target column, task). scikit-learn and plotly are runtime dependencies;
statsmodels comes with the `bench` extra.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

Loader = Callable[[], tuple[pd.DataFrame, str, str]]


def _sklearn(name: str, task: str) -> Loader:
    def load() -> tuple[pd.DataFrame, str, str]:
        from sklearn import datasets

        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        return frame, "target", task

    return load


def _fair() -> tuple[pd.DataFrame, str, str]:
    import statsmodels.api as sm

    df = sm.datasets.fair.load_pandas().data
    df["had_affair"] = (df.pop("affairs") > 0).map({True: "yes", False: "no"})
    df["occupation"] = df["occupation"].astype(int).astype(str)
    return df, "had_affair", "binary"


def _anes96() -> tuple[pd.DataFrame, str, str]:
    import statsmodels.api as sm

    df = sm.datasets.anes96.load_pandas().data.drop(columns=["logpopul"])
    df["vote"] = df["vote"].map({0.0: "Clinton", 1.0: "Dole"})
    return df, "PID", "multiclass"


def _randhie() -> tuple[pd.DataFrame, str, str]:
    import statsmodels.api as sm

    return sm.datasets.randhie.load_pandas().data, "mdvis", "regression"


def _gapminder() -> tuple[pd.DataFrame, str, str]:
    import plotly.data

    df = plotly.data.gapminder().drop(columns=["iso_alpha", "iso_num"])
    return df, "lifeExp", "regression"


def _tips() -> tuple[pd.DataFrame, str, str]:
    import plotly.data

    return plotly.data.tips(), "tip", "regression"


DATASETS: dict[str, Loader] = {
    "breast_cancer": _sklearn("breast_cancer", "binary"),
    "fair": _fair,
    "wine": _sklearn("wine", "multiclass"),
    "digits": _sklearn("digits", "multiclass"),
    "anes96": _anes96,
    "diabetes": _sklearn("diabetes", "regression"),
    "gapminder": _gapminder,
    "tips": _tips,
    "randhie": _randhie,
}
