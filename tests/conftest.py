"""Shared fixtures: small generated tables with the mix of types real data has."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_table(n: int = 400, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n).astype(float)
    income = rng.lognormal(10, 0.5, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    city = rng.choice([f"city_{i}" for i in range(12)], n)
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    words = np.array(["great", "slow", "price", "support", "love", "cancel", "refund", "fast"])
    notes = [" ".join(rng.choice(words, 5)) for _ in range(n)]
    z = 0.04 * (age - 45) + (plan == "pro") * 1.2 - (plan == "basic") * 0.8
    z = z + np.array(["cancel" in t for t in notes]) * 1.0 + rng.normal(0, 0.7, n)
    df = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "age": age,
            "income": income,
            "plan": plan,
            "city": city,
            "signup": signup.strftime("%Y-%m-%d"),
            "member": rng.choice(["yes", "no"], n),
            "notes": notes,
            "country": "US",
        }
    )
    df.loc[rng.random(n) < 0.1, "income"] = np.nan
    df.loc[rng.random(n) < 0.05, "plan"] = None
    if task == "binary":
        df["churn"] = np.where(z > np.quantile(z, 0.7), "yes", "no")
    elif task == "multiclass":
        df["segment"] = pd.cut(
            z, [-np.inf, -0.5, 0.7, np.inf], labels=["low", "mid", "high"]
        ).astype(str)
    else:
        df["spend"] = 100 + 30 * z + rng.normal(0, 5, n)
    return df


@pytest.fixture(scope="session")
def binary_df() -> pd.DataFrame:
    return make_table(400, 0, "binary")


@pytest.fixture(scope="session")
def multiclass_df() -> pd.DataFrame:
    return make_table(450, 1, "multiclass")


@pytest.fixture(scope="session")
def regression_df() -> pd.DataFrame:
    return make_table(400, 2, "regression")


@pytest.fixture(scope="session")
def binary_model(binary_df: pd.DataFrame):  # type: ignore[no-untyped-def]
    import automl

    return automl.AutoML(time_budget=8, seed=0).fit(binary_df, target="churn")
