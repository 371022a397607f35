"""Run AutoGluon-TimeSeries on one collection of benchmarks/forecast_peers.py.

Run by that script in benchmarks/.venv-autogluon-ts (AutoGluon-TimeSeries needs torch and pandas
below 3, so it cannot share the project's venv): ``python _autogluon_ts_peer.py IN.parquet
OUT.json``. IN has ``unique_id, ds, y`` (the training part of one collection); ``IN.plan.json``
gives its frequency, season, horizon and time limit. OUT gets ``seconds`` (the wall time of
``fit``), ``best`` (the model AutoGluon picked), ``models`` (the ones it trained), ``excluded``
and ``rows``: ``unique_id, step, point, p10, p50, p90`` per series and step (``point`` is
AutoGluon's ``mean`` column, the one it scores MASE on).

The preset is ``medium_quality`` with the given time limit, on the CPU. Its pretrained models
(Chronos-2 and Toto-2 in that preset) would download their weights at run time: they are
excluded, and the Hugging Face hub is set offline so that nothing else downloads either.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pandas as pd  # noqa: E402
from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor  # noqa: E402

# AutoGluon 1.6.3's pretrained models, whose weights come from the Hugging Face hub at run time.
# Its medium_quality preset ("light" hyperparameters) has Chronos2 (chronos-2-small) and Toto2
# (Toto-2.0-4m) beside SeasonalNaive, ETS, Theta, RecursiveTabular and DirectTabular, which are
# what remains, plus its weighted ensemble.
PRETRAINED = ["Chronos", "Chronos2", "Toto", "Toto2"]


def main() -> None:
    src, dst, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
    train = pd.read_parquet(src)
    with open(src + ".plan.json", encoding="utf-8") as fh:
        plan = json.load(fh)
    data = TimeSeriesDataFrame.from_data_frame(train, id_column="unique_id", timestamp_column="ds")
    predictor = TimeSeriesPredictor(
        prediction_length=plan["horizon"],
        eval_metric="MASE",
        eval_metric_seasonal_period=plan["season"],
        quantile_levels=[0.1, 0.5, 0.9],
        freq=plan["freq"],
        target="y",
        path=workdir,
        verbosity=1,
    )
    t = time.perf_counter()
    predictor.fit(
        data,
        presets="medium_quality",
        time_limit=plan["time_limit"],
        excluded_model_types=PRETRAINED,
        random_seed=plan["seed"],
    )
    seconds = time.perf_counter() - t
    fc = predictor.predict(data).reset_index()
    fc["step"] = fc.groupby("item_id").cumcount() + 1
    rows = pd.DataFrame(
        {
            "unique_id": fc["item_id"].astype(str),
            "step": fc["step"],
            "point": fc["mean"],
            "p10": fc["0.1"],
            "p50": fc["0.5"],
            "p90": fc["0.9"],
        }
    )
    board = predictor.leaderboard()
    out = {
        "seconds": seconds,
        "best": predictor.model_best,
        "models": [str(m) for m in board["model"]],
        "excluded": PRETRAINED,
        "rows": rows.to_dict(orient="list"),
    }
    with open(dst, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    print(f"AutoGluon-TS {seconds:.1f} s, best {out['best']}, models {out['models']}", flush=True)


if __name__ == "__main__":
    main()
