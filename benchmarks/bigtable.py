"""A 1,000,000-row binary table for big-table builds, generated (nothing to download).

    python -m benchmarks.bigtable --rows 1000000 --out /tmp/big  # writes train/test Parquet

40 numeric columns (interactions, thresholds, smooth terms, 10 with missing values, missingness
telling in two), 4 categorical columns of 7, 60, 400 and 2,500 levels (the large ones carry level
effects that need many rows per level to learn) and a binary target. The last fifth of the rows
(by position, the rows are already shuffled) is the test set. It imports only numpy and pandas,
so the peers' own environments can make the same table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

LEVELS = (7, 60, 400, 2500)
TEST_SHARE = 0.2


def interactions(rows: int, seed: int = 0) -> pd.DataFrame:
    """The table: ``num_0..num_39``, ``cat_0..cat_3`` and ``target`` ("yes"/"no")."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 40))
    x[:, 20:30] = 0.6 * x[:, 0:10] + 0.8 * x[:, 20:30]  # correlated pairs
    z = (
        0.7 * x[:, 0] * x[:, 1]
        - 0.6 * x[:, 2] * x[:, 3]
        + 0.5 * (x[:, 4] > 0.5) * x[:, 5]
        + 0.8 * np.sin(2.0 * x[:, 6])
        + 0.3 * x[:, 7] ** 2
        + 0.6 * np.tanh(2.0 * x[:, 8] * x[:, 9])
        + x[:, 10:20] @ np.linspace(0.35, -0.35, 10)
        + 0.4 * (x[:, 11] > 0) * (x[:, 12] < 0) * x[:, 13]
    )
    data: dict[str, object] = {}
    # level effects: a fixed one, one that flips with num_0's sign, and two random ones
    effects = [
        np.linspace(-0.6, 0.6, LEVELS[0]),
        rng.normal(0, 0.5, LEVELS[1]),
        rng.normal(0, 0.4, LEVELS[2]),
        rng.normal(0, 0.6, LEVELS[3]),
    ]
    for i, levels in enumerate(LEVELS):
        weights = 1.0 / np.arange(1, levels + 1) ** 0.6  # some levels much more frequent
        codes = rng.choice(levels, size=rows, p=weights / weights.sum())
        effect = effects[i][codes]
        z += effect * np.sign(x[:, 0]) if i == 1 else effect
        names = pd.array([f"{'abcd'[i]}{c:04d}" for c in range(levels)], dtype="str")
        data[f"cat_{i}"] = names[codes]
    missing = rng.random((rows, 10)) < 0.08
    z += 0.5 * missing[:, 0] - 0.4 * missing[:, 1]
    x[:, 30:40][missing] = np.nan
    for i in range(40):
        data[f"num_{i}"] = x[:, i].astype("float64")
    noise = rng.logistic(0.0, 0.9, rows)
    data["target"] = np.where(z + noise > 0.3, "yes", "no")
    return pd.DataFrame(data)


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows (the first four fifths) and test rows (the last fifth)."""
    n_test = int(round(len(df) * TEST_SHARE))
    return df.iloc[: len(df) - n_test].reset_index(drop=True), df.iloc[
        len(df) - n_test :
    ].reset_index(drop=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    train, test = split(interactions(a.rows, a.seed))
    train.to_parquet(a.out / "train.parquet")
    test.to_parquet(a.out / "test.parquet")
    print(f"{len(train):,} training and {len(test):,} test rows in {a.out}")


if __name__ == "__main__":
    main()
