"""What-if speed: how long the Predict page's What if takes to show a changed forecast.

    python -m benchmarks.forecast_whatif [--max-trials 4] [--repeats 20]

Trains (bounded by ``--max-trials``) a forecast of the bundled store sales sample (6 stores,
731 days, the promotion as a future-value column, 14 days ahead), then, ``--repeats`` times:
changes the promotion of one store for days 3 to 5 (``automl.timeseries.change_plan``) and
forecasts that store with the changed plan and with the plan before (what the page does: two
forecasts of one series, no retraining). Prints the median and the slowest time, and, for
scale, one forecast of all 6 stores.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

import automl
from automl.timeseries import change_plan

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "store_sales.csv"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-trials", type=int, default=4)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    sales = pd.read_csv(SAMPLE)
    started = time.perf_counter()
    model = (
        automl.AutoML(
            task="timeseries",
            time_column="date",
            series_columns=["store"],
            max_trials=args.max_trials,
            time_budget=600,
        )
        .fit(sales, "units_sold")
        .model_
    )
    seconds = time.perf_counter() - started
    print(f"trained in {seconds:.1f} s; future values: {', '.join(model.future_columns)}")
    plan = model.future_template()
    store = model.timeseries.series.keys[0]
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        changed = change_plan(model, plan, store, "promotion", (3, 5), value="yes")
        before = model.forecast(series=[store], future=plan)
        after = model.forecast(series=[store], future=changed)
        times.append(time.perf_counter() - t)
    moved = float((after["prediction"] - before["prediction"]).sum())
    t = time.perf_counter()
    model.forecast(future=plan)
    every = time.perf_counter() - t
    print(
        f"what-if of one store ({args.repeats} times): median {statistics.median(times) * 1000:.0f}"
        f" ms, slowest {max(times) * 1000:.0f} ms; the forecast moved by {moved:+.0f} units; "
        f"a forecast of all 6 stores: {every * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
