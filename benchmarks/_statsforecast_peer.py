"""Run statsforecast's AutoETS and AutoARIMA on the series of benchmarks/forecast_peers.py.

Run by that script in benchmarks/.venv-statsforecast (statsforecast pins pandas below 3, so it
cannot share the project's venv): ``python _statsforecast_peer.py IN.parquet OUT.parquet``. IN
has ``collection, unique_id, ds, y`` (the training part); ``IN.plan.json`` gives each
collection's frequency, season, horizon and whether to run AutoARIMA. OUT has ``collection,
unique_id, step, model, p10, p50, p90, seconds`` (the fit seconds of that collection and model).
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoARIMA, AutoETS


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    data = pd.read_parquet(src)
    with open(src + ".plan.json", encoding="utf-8") as fh:
        plan = json.load(fh)
    out = []
    # compile numba's code first, so that no collection's seconds include it
    warm = pd.DataFrame(
        {"unique_id": "w", "ds": pd.date_range("2000-01-01", periods=48, freq="MS"),
         "y": [float(i % 12 + i) for i in range(48)]}
    )  # fmt: skip
    for model in (AutoETS(season_length=12), AutoARIMA(season_length=12)):
        StatsForecast(models=[model], freq="MS", n_jobs=1).forecast(df=warm, h=3, level=[80])
    for name, p in plan.items():
        part = data[data["collection"] == name][["unique_id", "ds", "y"]]
        models = [("AutoETS", AutoETS(season_length=p["season"]))]
        if p["arima"]:
            models.append(("AutoARIMA", AutoARIMA(season_length=p["season"])))
        for label, model in models:
            t = time.perf_counter()
            sf = StatsForecast(models=[model], freq=p["freq"], n_jobs=1)
            fc = sf.forecast(df=part, h=p["horizon"], level=[80])
            seconds = time.perf_counter() - t
            fc = fc.reset_index() if "unique_id" not in fc.columns else fc
            fc["step"] = fc.groupby("unique_id").cumcount() + 1
            col = [c for c in fc.columns if c not in ("unique_id", "ds", "step")]
            mean = next(c for c in col if "-lo-" not in c and "-hi-" not in c)
            out.append(
                pd.DataFrame(
                    {
                        "collection": name,
                        "unique_id": fc["unique_id"].astype(str),
                        "step": fc["step"],
                        "model": label,
                        "p10": fc[f"{mean}-lo-80"],
                        "p50": fc[mean],
                        "p90": fc[f"{mean}-hi-80"],
                        "seconds": seconds,
                    }
                )
            )
            print(f"{name}: {label} {seconds:.1f} s", flush=True)
    pd.concat(out, ignore_index=True).to_parquet(dst, index=False)


if __name__ == "__main__":
    main()
