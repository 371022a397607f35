"""Forecasting against statistical peers and AutoGluon-TimeSeries on series shipped in packages.

    python -m benchmarks.forecast_peers [--budget 60] [--collections housing,economics,...]
                                        [--peers statsforecast,autogluon-ts]
    bash benchmarks/setup_peers.sh statsforecast   # once, for AutoETS and AutoARIMA
    bash benchmarks/setup_peers.sh autogluon-ts    # once, for AutoGluon-TimeSeries

Collections (70 series in all, each series' last horizon held out):
- housing: plotnine's txhousing, monthly home sales of 46 Texas cities, 2000-2015 (12 ahead);
- economics: plotnine's economics (pce, pop, psavert, uempmed, unemploy) and statsmodels' elnino
  sea temperatures, monthly (12 ahead);
- macro: statsmodels' macrodata (12 US quarterly series, 1959-2009) and danish_data (5 Danish
  quarterly series, 1974-1987), quarterly (8 ahead);
- co2: statsmodels' co2, weekly Mauna Loa CO2, 1958-2001 (13 ahead).
Missing values inside a series are interpolated for every contender (the same series for all).

Contenders: Easel (one model per collection, ``--budget`` seconds, its P10/P50/P90), seasonal
naive (the last season repeated; its quantiles are the forecast itself), and statsforecast's
AutoETS and AutoARIMA (P10/P90 from their 80% interval) run in benchmarks/.venv-statsforecast
(skipped, and said so, when it is missing; AutoARIMA only where the season is at most
``--arima-season``), and AutoGluon-TimeSeries (``medium_quality``, the same ``--budget`` as its
time limit, one predictor per collection, without its pretrained models, which would download
weights) run in benchmarks/.venv-autogluon-ts (skipped when missing; a collection it fails on is
reported with the reason and left out of its scores). Scores per collection and overall: mean
MASE (each series' MAE over the mean absolute seasonal difference of its training part) and mean
weighted quantile loss over 0.1, 0.5, 0.9 (per series, then the mean), and fit seconds. MASE
uses each contender's point forecast: P50, or AutoGluon's ``mean`` column (the one it scores
MASE on).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SF_PYTHON = HERE / ".venv-statsforecast" / "bin" / "python"
AG_PYTHON = HERE / ".venv-autogluon-ts" / "bin" / "python"
PEERS = ("statsforecast", "autogluon-ts")
QUANTILES = (0.1, 0.5, 0.9)
# collection -> (frequency for statsforecast, season, horizon)
PLAN = {
    "housing": ("MS", 12, 12),
    "economics": ("MS", 12, 12),
    "macro": ("QS", 4, 8),
    "co2": ("W-SAT", 52, 13),
}


def collections() -> dict[str, pd.DataFrame]:
    """Each collection as long rows: unique_id, ds, y (gaps interpolated)."""
    import plotnine.data as pdata
    import statsmodels.api as sm

    out: dict[str, pd.DataFrame] = {}
    tx = pdata.txhousing.copy()
    tx["ds"] = pd.to_datetime(dict(year=tx["year"], month=tx["month"], day=1))
    tx = tx.rename(columns={"city": "unique_id", "sales": "y"})
    out["housing"] = tx[["unique_id", "ds", "y"]]
    eco = pdata.economics.melt(id_vars="date", var_name="unique_id", value_name="y")
    eco = eco.rename(columns={"date": "ds"})
    nino = sm.datasets.elnino.load_pandas().data.melt(id_vars="YEAR", var_name="m", value_name="y")
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    nino["ds"] = pd.to_datetime(
        dict(year=nino["YEAR"].astype(int), month=nino["m"].map(months.index) + 1, day=1)
    )
    nino["unique_id"] = "elnino"
    out["economics"] = pd.concat([eco, nino[["unique_id", "ds", "y"]]], ignore_index=True)
    macro = sm.datasets.macrodata.load_pandas().data
    macro["ds"] = pd.PeriodIndex.from_fields(
        year=macro["year"].astype(int), quarter=macro["quarter"].astype(int), freq="Q"
    ).to_timestamp()
    macro = macro.drop(columns=["year", "quarter"]).melt(id_vars="ds", var_name="unique_id")
    dan = sm.datasets.danish_data.load_pandas().data.reset_index()
    dan = dan.rename(columns={"period": "ds"}).melt(id_vars="ds", var_name="unique_id")
    dan["unique_id"] = "danish_" + dan["unique_id"]
    out["macro"] = pd.concat([macro, dan], ignore_index=True).rename(columns={"value": "y"})
    co2 = sm.datasets.co2.load_pandas().data.reset_index()
    co2 = co2.rename(columns={"index": "ds", "co2": "y"})
    co2["unique_id"] = "co2"
    out["co2"] = co2[["unique_id", "ds", "y"]]
    for name, df in out.items():
        df = df.sort_values(["unique_id", "ds"]).reset_index(drop=True)
        df["y"] = df.groupby("unique_id")["y"].transform(
            lambda s: s.interpolate(limit_direction="both")
        )
        df["unique_id"] = df["unique_id"].astype(str)
        out[name] = df.dropna(subset=["y"])
    return out


def split(df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rank = df.groupby("unique_id").cumcount(ascending=False)
    return df[rank >= h].reset_index(drop=True), df[rank < h].reset_index(drop=True)


def scores(
    train: pd.DataFrame, test: pd.DataFrame, fc: pd.DataFrame, season: int
) -> tuple[float, float]:
    """Mean MASE and mean weighted quantile loss over the series (fc: unique_id, step, p10,
    p50, p90, and optionally point, the point forecast MASE uses instead of p50)."""
    test = test.copy()
    test["step"] = test.groupby("unique_id").cumcount() + 1
    both = test.merge(fc, on=["unique_id", "step"], how="left")
    mase, wql = [], []
    for key, g in both.groupby("unique_id"):
        hist = train.loc[train["unique_id"] == key, "y"].to_numpy()
        m = season if len(hist) > season else 1
        scale = float(np.mean(np.abs(hist[m:] - hist[:-m])))
        a, p = g["y"].to_numpy(), g["point" if "point" in g else "p50"].to_numpy()
        mase.append(float(np.mean(np.abs(a - p))) / (scale if scale > 0 else 1.0))
        total = float(np.sum(np.abs(a)))
        losses = []
        for q, col in zip(QUANTILES, ("p10", "p50", "p90"), strict=True):
            d = a - g[col].to_numpy()
            losses.append(2 * float(np.sum(np.maximum(q * d, (q - 1) * d))) / max(total, 1e-12))
        wql.append(float(np.mean(losses)))
    return float(np.mean(mase)), float(np.mean(wql))


def seasonal_naive(train: pd.DataFrame, h: int, season: int) -> pd.DataFrame:
    rows = []
    for key, g in train.groupby("unique_id"):
        y = g["y"].to_numpy()
        last = y[-season:] if len(y) >= season else y[-1:]
        for step in range(1, h + 1):
            v = float(last[(step - 1) % len(last)])
            rows.append((key, step, v, v, v))
    return pd.DataFrame(rows, columns=["unique_id", "step", "p10", "p50", "p90"])


def easel(train: pd.DataFrame, h: int, budget: float, seed: int) -> tuple[pd.DataFrame, float]:
    from automl import AutoML  # imported before the clock starts, as the peers' runners do

    t = time.perf_counter()
    model = (
        AutoML(
            task="timeseries",
            time_column="ds",
            series_columns=["unique_id"],
            horizon=h,
            time_budget=budget,
            seed=seed,
        )  # fmt: skip
        .fit(train, "y")
        .model_
    )
    seconds = time.perf_counter() - t
    fc = model.forecast()
    fc["unique_id"] = fc["unique_id"].astype(str)
    methods = dict(zip(model.timeseries.series.keys, model.timeseries.series.methods, strict=True))
    counts = pd.Series(list(methods.values())).value_counts().to_dict()
    print(f"    Easel's methods per series: {counts}", flush=True)
    return fc[["unique_id", "step", "p10", "p50", "p90"]], seconds


def statsforecast(
    trains: dict[str, pd.DataFrame], names: list[str], arima_season: int
) -> dict[tuple[str, str], tuple[pd.DataFrame, float]]:
    """(collection, model) -> forecasts and fit seconds, from the statsforecast venv."""
    if not SF_PYTHON.exists():
        print(f"statsforecast skipped: {SF_PYTHON} is missing (bash benchmarks/setup_peers.sh "
              "statsforecast)")  # fmt: skip
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "train.parquet", Path(tmp) / "out.parquet"
        pd.concat([trains[n].assign(collection=n) for n in names]).to_parquet(src, index=False)
        plan = {
            n: {"freq": PLAN[n][0], "season": PLAN[n][1], "horizon": PLAN[n][2],
                "arima": PLAN[n][1] <= arima_season}
            for n in names
        }  # fmt: skip
        for n in names:
            if not plan[n]["arima"]:
                print(f"{n}: AutoARIMA not run (season {PLAN[n][1]} > --arima-season)")
        Path(str(src) + ".plan.json").write_text(json.dumps(plan), encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([str(SF_PYTHON), str(HERE / "_statsforecast_peer.py"), str(src), str(dst)],
                       check=True, env=env)  # fmt: skip
        out = pd.read_parquet(dst)
    return {
        (c, m): (g.drop(columns=["collection", "model"]), float(g["seconds"].iloc[0]))
        for (c, m), g in out.groupby(["collection", "model"])
    }


def autogluon_ts(
    train: pd.DataFrame, name: str, budget: float, seed: int
) -> tuple[pd.DataFrame, float] | str:
    """AutoGluon-TimeSeries' forecasts and fit seconds on one collection, from its venv; or why
    it gave none."""
    freq, season, h = PLAN[name]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "train.parquet", Path(tmp) / "out.json"
        train.to_parquet(src, index=False)
        plan = {"freq": freq, "season": season, "horizon": h, "time_limit": budget, "seed": seed}
        Path(str(src) + ".plan.json").write_text(json.dumps(plan), encoding="utf-8")
        cmd = [str(AG_PYTHON), str(HERE / "_autogluon_ts_peer.py"), str(src), str(dst),
               str(Path(tmp) / "predictor")]  # fmt: skip
        # generous: its time limit plus torch's import and the forecast; a hang is a failure
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=budget * 5 + 300)
        except subprocess.TimeoutExpired:
            return f"no answer within {budget * 5 + 300:g} s"
        # its own short log (verbosity 1): models skipped for time, data resampled, failures
        for line in (done.stdout + done.stderr).splitlines()[-40:]:
            if line.strip():
                print(f"    {line.rstrip()}", flush=True)
        if done.returncode != 0:
            last = [ln for ln in done.stderr.splitlines() if ln.strip()][-1:] or ["(no message)"]
            return f"failed (exit {done.returncode}): {last[0]}"
        out = json.loads(dst.read_text(encoding="utf-8"))
    return pd.DataFrame(out["rows"]), float(out["seconds"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--collections", default=",".join(PLAN))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--arima-season", type=int, default=12,
        help="run AutoARIMA only on collections whose season is at most this (its seasonal "
        "search grows with the season: at 12 it took 282 s for 46 series on a busy machine)",
    )  # fmt: skip
    p.add_argument("--peers", default=",".join(PEERS), help="comma-separated: " + ", ".join(PEERS))
    p.add_argument("--out", help="also write the table as JSON lines here, row by row")
    args = p.parse_args()
    names = [n for n in args.collections.split(",") if n]
    peers = [x for x in args.peers.split(",") if x]
    if unknown := sorted(set(peers) - set(PEERS)):
        p.error(f"unknown peer {', '.join(unknown)}: choose among {', '.join(PEERS)}")
    if "autogluon-ts" in peers and not AG_PYTHON.exists():
        print(f"AutoGluon-TimeSeries skipped: {AG_PYTHON} is missing (bash "
              "benchmarks/setup_peers.sh autogluon-ts)")  # fmt: skip
        peers.remove("autogluon-ts")
    data = collections()
    trains, tests = {}, {}
    for n in names:
        trains[n], tests[n] = split(data[n], PLAN[n][2])
    print(f"load {os.getloadavg()}; {sum(d['unique_id'].nunique() for d in trains.values())} "
          f"series in {len(names)} collections")  # fmt: skip
    results: list[dict[str, object]] = []
    for n in names:
        sf = statsforecast(trains, [n], args.arima_season) if "statsforecast" in peers else {}
        _, season, h = PLAN[n]
        series = trains[n]["unique_id"].nunique()
        entries = {"seasonal naive": (seasonal_naive(trains[n], h, season), 0.0)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(f"{n}: Easel at {args.budget:g} s on {series} series", flush=True)
            entries["Easel"] = easel(trains[n], h, args.budget, args.seed)
        for m in ("AutoETS", "AutoARIMA"):
            if (n, m) in sf:
                entries[m] = sf[(n, m)]
        if "autogluon-ts" in peers:
            print(f"{n}: AutoGluon-TimeSeries at {args.budget:g} s", flush=True)
            ag = autogluon_ts(trains[n], n, args.budget, args.seed)
            if isinstance(ag, str):
                print(f"  AutoGluon-TS on {n}: {ag}", flush=True)
                if args.out:
                    failed = {"collection": n, "series": series, "who": "AutoGluon-TS", "error": ag}
                    with open(args.out, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(failed) + "\n")
            else:
                entries["AutoGluon-TS"] = ag
        for who, (fc, seconds) in entries.items():
            mase, wql = scores(trains[n], tests[n], fc, season)
            row = {"collection": n, "series": series, "who": who, "mase": mase, "wql": wql,
                   "seconds": seconds}  # fmt: skip
            results.append(row)
            print(f"  {who}: MASE {mase:.3f}, wQL {wql:.4f}, {seconds:.1f} s", flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
    table = pd.DataFrame(results)
    print(table.round(3).to_string(index=False))
    weights = table.groupby("who").apply(
        lambda g: pd.Series(
            {
                "mean MASE": np.average(g["mase"], weights=g["series"]),
                "mean wQL": np.average(g["wql"], weights=g["series"]),
                "fit seconds": g["seconds"].sum(),
                "series": g["series"].sum(),
            }
        ),
        include_groups=False,
    )
    print("\nover every series (each series counts once):")
    print(weights.round(3).to_string())
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
