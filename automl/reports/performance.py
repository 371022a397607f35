"""The model performance report: how good the model is on rows it never saw, compared with a
model-free guess, with confidence intervals, the charts an analyst needs for the task, what drives
the predictions, the candidates tried, and what data went in.

Everything is computed from the hold-out rows stored in the model artifact (``holdout.parquet``:
the rows, their target and each kept candidate's scores, a sample of 20,000 above that size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn import metrics as skm

from automl import metrics as M
from automl.errors import ParameterError
from automl.preprocess import InputReport
from automl.reports._base import Report, Section, fmt
from automl.reports._bootstrap import bootstrap_values

if TYPE_CHECKING:
    from automl.model import Model

BOOTSTRAP = 200
SHAP_ROWS = 1000
# A big table's model is large: TreeSHAP on LightGBM's 104 trees of 63 leaves (from 750,000
# rows) took 1.34 CPU-ms a row, and explaining 1,000 rows a third of the performance report.
# Such a model explains SHAP_BIG_ROWS rows (the partial dependence curves' rows): 0.4 s.
BIG_TABLE_ROWS = 100_000
SHAP_BIG_ROWS = 300
PDP_ROWS = 300
PDP_POINTS = 20
SCATTER_POINTS = 5000
LOG_ODDS = "log-odds, the model's scale for chances: above 0 raises the chance, below 0 lowers it"
TASK_WORDS = {
    "binary": "2 category",
    "multiclass": "3+ category",
    "regression": "numeric",
    "timeseries": "time series forecast",
}


def _scores(model: Model, hold: pd.DataFrame, cid: int) -> np.ndarray:
    if f"__score_{cid}" in hold.columns:
        return hold[f"__score_{cid}"].to_numpy(dtype=float)
    cols = [c for c in hold.columns if c.startswith(f"__score_{cid}__")]
    cols.sort(key=lambda c: int(c.rsplit("__", 1)[1]))
    return hold[cols].to_numpy(dtype=float)


def _baseline_scores(model: Model, n: int) -> np.ndarray:
    hold = model.holdout
    if model.is_forecast and hold is not None and "__naive__" in hold.columns:
        return hold["__naive__"].to_numpy(dtype=float)  # the naive forecast
    summary = model.meta.train_target_summary
    if model.task == "regression":
        return np.full(n, float(summary.get("mean", 0.0)))
    shares = np.asarray(summary.get("shares") or [1 / len(model.classes)] * len(model.classes))
    if model.task == "binary":
        return np.full(n, float(shares[1]))
    return np.tile(shares, (n, 1))


def _bootstrap(
    task: str, y: np.ndarray, s: np.ndarray, reps: int, seed: int, threshold: float = 0.5
) -> pd.DataFrame:
    values = bootstrap_values(task, y, s, reps, seed, threshold)
    rows = []
    for k, v in M.report(task, y, s, threshold).items():
        lo, hi = np.percentile(values.get(k, [v]), [2.5, 97.5])
        rows.append({"metric": M.METRICS[k].label, "key": k, "value": v, "low": lo, "high": hi})
    return pd.DataFrame(rows)


def performance_report(model: Model, bootstrap: int = BOOTSTRAP, seed: int = 0) -> Report:
    """Build the performance report of ``model`` from its stored hold-out rows."""
    hold = model.holdout
    if hold is None or len(hold) == 0:
        raise ParameterError(
            "This model has no stored hold-out predictions (it was saved by an older Easel), so "
            "its performance report cannot be made. Retrain it to get the report."
        )
    cid = model.default_id
    task = model.task
    y, s = _target_and_scores(model, hold)
    base = _baseline_scores(model, len(y))
    reps = bootstrap if len(y) <= 5000 else max(50, bootstrap // 4)
    thr = _threshold(model)
    table = _bootstrap(task, y, s, reps, seed, thr)
    base_metrics = M.report(task, y, base)
    table["model-free guess"] = [base_metrics.get(k) for k in table["key"]]
    metric = model.metric

    summary = _headline(model, len(y), M.report(task, y, s, thr), y)
    main_row = table[table["key"] == metric]
    if len(main_row):
        r = main_row.iloc[0]
        summary.append(
            f"{r['metric']} (the metric the search optimized): **{fmt(r['value'])}**, 95% "
            f"confidence interval {fmt(r['low'])} to {fmt(r['high'])} (the score on {reps} "
            f"random re-draws of the hold-out rows); a model-free guess scores "
            f"{fmt(r['model-free guess'])}. {INTERVAL_MEANING}"
        )
    sections = [
        Section(
            "Scores on the hold-out rows",
            text=[
                f"{model.meta.holdout_description}. "
                + (
                    f"This report uses a random sample of {len(hold):,} of them."
                    if len(hold) < model.rows.holdout
                    else f"All {len(hold):,} of them are used here."
                ),
                "The model-free guess is "
                + (
                    "the naive forecast: repeating each series' last known value."
                    if model.is_forecast
                    else "always predicting the training rows' average."
                    if task == "regression"
                    else "always the class shares of the training rows (its accuracy is that "
                    "of always answering the most frequent class)."
                ),
                f"The 95% intervals come from {reps} resamples of these hold-out rows. "
                + INTERVAL_MEANING,
            ],
            tables=[
                (
                    "Metrics with 95% bootstrap confidence intervals",
                    table.drop(columns=["key"]).rename(
                        columns={"low": "95% low", "high": "95% high"}
                    ),
                )
            ],
            data={"metrics": table.to_dict("records"), "rows": int(len(y))},
        )
    ]
    if model.is_forecast:
        sections += _forecast_sections(model, hold, y, s)
        sections.append(_forecast_inputs(model))
    if task == "binary":
        sections += _binary(model, y, s)
    elif task == "multiclass":
        sections += _multiclass(model, y, s)
    else:
        sections += _regression(model, hold, y, s)
    sections.append(_impact(model, hold))
    sections.append(_leaderboard(model))
    sections.append(_data_in(model))
    return Report(
        "performance",
        f"Model performance: {model.target} ({TASK_WORDS[model.problem_type]})",
        summary,
        sections,
        notes=[f"Predictor: candidate {cid} ({model.candidate_name(cid)})."],
    )


INTERVAL_MEANING = (
    "The interval shows how much the score moves when the hold-out rows are resampled: it covers "
    "the luck of which rows were held out. It does not cover another sample from the same "
    "population (other customers, another region) or a change over time: on such data the "
    "score can fall outside it."
)


def headline(model: Model) -> list[str]:
    """The report's first lines, shown on the Analyze page too: how often the model is right (or
    how far off) on rows it never saw, beside a model-free guess: always the most frequent class,
    always the training average, or the naive forecast of a series."""
    hold = model.holdout
    if hold is None or len(hold) == 0:  # an older model: its stored metrics, no hold-out rows
        return _headline(model, model.rows.holdout, dict(model.metrics), None)
    y, s = _target_and_scores(model, hold)
    return _headline(model, len(y), M.report(model.task, y, s, _threshold(model)), y)


def _threshold(model: Model) -> float:
    return model.threshold if model.task == "binary" else 0.5


def _target_and_scores(model: Model, hold: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    y = hold["__target__"].to_numpy()
    y = y.astype(float) if model.task == "regression" else y.astype(np.int64)
    return y, _scores(model, hold, model.default_id)


def _headline(model: Model, n: int, metrics: dict[str, float], y: np.ndarray | None) -> list[str]:
    """The wording of :func:`headline`: ``metrics`` of the model on ``n`` hold-out rows, and
    their targets ``y`` to score the model-free guess on (None: no guess to compare)."""
    t = model.target
    if model.is_forecast:
        ts = model.timeseries
        mae = metrics["mae"]
        main = ts.baseline
        out = [
            f"Forecasts **{t}** up to {ts.horizon_text} ahead with a typical error of "
            f"**{fmt(mae)}** (mean absolute error) on the last {ts.horizon_text} of "
            f"{len(ts.series.keys)} series, which it never saw"
            + _against(
                mae, main.holdout_metrics.get("mae"), f"forecasting simply by {main.description}"
            )
        ]
        for b in ts.baselines.values():
            if b is not main and b.holdout_metrics.get("mae"):
                out.append(
                    f"Forecasting by {b.description} would be off by "
                    f"{fmt(b.holdout_metrics['mae'])} on average."
                )
        return out
    base = None if y is None else M.report(model.task, y, _baseline_scores(model, len(y)))
    if model.task == "regression":
        return [
            f"Predicts **{t}** with a typical error of **{fmt(metrics['mae'])}** (mean absolute "
            f"error) on {n:,} rows it never saw"
            + (
                _against(metrics["mae"], base["mae"], "always guessing the training average")
                if base
                else "."
            )
            + (
                f" It explains **{metrics['r2']:.0%}** of the variation (R²)."
                if "r2" in metrics
                else ""
            )
        ]
    line = (
        f"Predicts **{t}** correctly for **{metrics['accuracy']:.0%}** of {n:,} rows it never "
        "saw during training"
    )
    if not base:
        return [line + "."]
    guess = _baseline_scores(model, 1)
    label = str(model.classes[int(M._labels(guess)[0])])
    line += (
        f"; always answering **{label}** (the most frequent answer) would be right for "
        f"**{base['accuracy']:.0%}**"
    )
    if metrics["accuracy"] <= base["accuracy"]:
        line += ": the model is not right more often than that guess"
    return [line + "."]


def _against(mae: float, guess: float | None, how: str) -> str:
    """The end of the headline's sentence: the model-free guess's error and how much smaller the
    model's is (", against 9.8 when always guessing the training average: 58% smaller.")."""
    if not guess:
        return "."
    if mae <= guess:
        return (
            f", against **{fmt(guess)}** when {how}: **{1 - mae / max(guess, 1e-12):.0%} smaller**."
        )
    return f", against only **{fmt(guess)}** when {how}: that simple rule beats this model here."


# ------------------------------------------------------------------------------ binary
def _binary(model: Model, y: np.ndarray, p: np.ndarray) -> list[Section]:
    pos, neg = str(model.classes[1]), str(model.classes[0])
    thr = model.threshold
    pred = (p >= thr).astype(int)
    cm = skm.confusion_matrix(y, pred, labels=[0, 1])
    cm_df = pd.DataFrame(
        cm,
        index=[f"actual {neg}", f"actual {pos}"],
        columns=[f"predicted {neg}", f"predicted {pos}"],
    )
    heat = go.Figure(
        go.Heatmap(
            z=cm,
            x=list(cm_df.columns),
            y=list(cm_df.index),
            text=cm,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    heat.update_yaxes(autorange="reversed")
    tn, fp, fn, tp = (int(v) for v in cm.ravel())
    sections = [
        Section(
            "Right and wrong answers",
            text=[
                f"At the decision threshold {thr:g} (a row is '{pos}' when its probability is at "
                f"least {thr:g}): {tp:,} '{pos}' rows found, {fn:,} missed; {fp:,} rows wrongly "
                f"called '{pos}', {tn:,} correctly called '{neg}'."
            ],
            tables=[("Confusion matrix", cm_df.reset_index(names=""))],
            figures=[("Confusion matrix", heat)],
            data={"confusion_matrix": cm.tolist(), "threshold": thr},
        )
    ]
    fpr, tpr, _ = skm.roc_curve(y, p)
    prec, rec, _ = skm.precision_recall_curve(y, p)
    auc = float(skm.roc_auc_score(y, p)) if len(np.unique(y)) > 1 else 0.5
    ap = float(skm.average_precision_score(y, p))
    roc = go.Figure(go.Scatter(x=fpr, y=tpr, name=f"model (AUC {auc:.3f})"))
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="random guess", line=dict(dash="dash")))
    roc.update_layout(xaxis_title="false positive rate", yaxis_title="true positive rate")
    pr = go.Figure(go.Scatter(x=rec, y=prec, name=f"model (average precision {ap:.3f})"))
    pr.add_trace(go.Scatter(x=[0, 1], y=[y.mean()] * 2, name="model-free", line=dict(dash="dash")))
    pr.update_layout(xaxis_title="recall", yaxis_title="precision")
    grid = np.round(np.linspace(0.02, 0.98, 49), 2)
    rows = []
    real = int(np.sum(y == 1))
    for t in grid:
        yp = (p >= t).astype(int)
        # counted here: scikit-learn's precision, recall and F1 (zero_division=0) from the same
        # integer counts, without its checks of the inputs for each threshold
        tp, called = int(np.sum(yp & (y == 1))), int(yp.sum())
        rows.append(
            {
                "threshold": float(t),
                "precision": tp / called if called else 0.0,
                "recall": tp / real if real else 0.0,
                "F1": 2 * tp / (real + called) if real + called else 0.0,
                "accuracy": float(np.mean(yp == y)),
            }
        )
    vs = pd.DataFrame(rows)
    thr_fig = go.Figure(
        [
            go.Scatter(x=vs["threshold"], y=vs[c], name=c)
            for c in ("precision", "recall", "F1", "accuracy")
        ]
    )
    thr_fig.add_vline(x=thr, line_dash="dot")
    thr_fig.update_layout(xaxis_title="decision threshold", yaxis_title="value")
    sections.append(
        Section(
            "Ranking quality",
            text=[
                f"ROC AUC {auc:.3f}: the chance that a random '{pos}' row gets a higher "
                f"probability than a random '{neg}' row (0.5 = guessing). Average precision "
                f"{ap:.3f} against {y.mean():.3f} for a model-free guess.",
                "Moving the threshold trades precision (how many flagged rows are right) "
                "against recall (how many of the real ones are flagged).",
            ],
            figures=[
                ("ROC curve", roc),
                ("Precision-recall curve", pr),
                ("Metrics vs threshold", thr_fig),
            ],
            data={
                "roc_auc": auc,
                "average_precision": ap,
                "metrics_vs_threshold": vs.to_dict("records"),
            },
        )
    )
    # calibration: quantile bins of predicted probability
    bins = pd.qcut(p, 10, duplicates="drop")
    cal = (
        pd.DataFrame({"p": p, "y": y, "bin": bins})
        .groupby("bin", observed=True)
        .agg(predicted=("p", "mean"), observed=("y", "mean"), rows=("y", "size"))
        .reset_index(drop=True)
    )
    cal_fig = go.Figure(
        go.Scatter(x=cal["predicted"], y=cal["observed"], mode="lines+markers", name="model")
    )
    cal_fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="perfect", line=dict(dash="dash")))
    cal_fig.update_layout(xaxis_title="predicted probability", yaxis_title="observed share")
    order = np.argsort(-p)
    captured = np.cumsum(y[order]) / max(1, y.sum())
    share = np.arange(1, len(y) + 1) / len(y)
    step = max(1, len(y) // 200)
    gain = go.Figure(go.Scatter(x=share[::step], y=captured[::step], name="model"))
    gain.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="random", line=dict(dash="dash")))
    gain.update_layout(
        xaxis_title=f"share of rows, highest '{pos}' probability first",
        yaxis_title=f"share of all '{pos}' rows found",
    )
    decile = max(1, len(y) // 10)
    lift10 = float(y[order][:decile].mean() / max(y.mean(), 1e-12))
    sections.append(
        Section(
            "Calibration and gain",
            text=[
                "Calibration: within each group of rows with similar predicted probability, the "
                "share that really was '" + pos + "'. Close to the diagonal means the "
                "probabilities can be read as chances.",
                f"Gain: the top 10% of rows by predicted probability hold {lift10:.1f}x the "
                f"'{pos}' rate of all rows (lift).",
            ],
            tables=[("Calibration by decile of predicted probability", cal)],
            figures=[("Calibration", cal_fig), ("Cumulative gain", gain)],
            data={"calibration": cal.to_dict("records"), "lift_top_decile": lift10},
        )
    )
    return sections


# --------------------------------------------------------------------------- multiclass
def _multiclass(model: Model, y: np.ndarray, s: np.ndarray) -> list[Section]:
    classes = [str(c) for c in model.classes]
    pred = s.argmax(axis=1)
    k = len(classes)
    cm = skm.confusion_matrix(y, pred, labels=list(range(k)))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    heat = go.Figure(
        go.Heatmap(
            z=norm,
            x=classes,
            y=classes,
            text=np.round(norm, 2),
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
        )
    )
    heat.update_yaxes(autorange="reversed", title="actual")
    heat.update_xaxes(title="predicted")
    p, r, f, sup = skm.precision_recall_fscore_support(
        y, pred, labels=list(range(k)), zero_division=0
    )
    per = pd.DataFrame({"class": classes, "precision": p, "recall": r, "F1": f, "rows": sup})
    worst = per.sort_values("F1").iloc[0]
    return [
        Section(
            "Right and wrong answers per class",
            text=[
                "Each row of the matrix is an actual class; it shows where those rows' "
                "predictions went (shares of the row).",
                f"Hardest class: '{worst['class']}' (F1 {worst['F1']:.2f}, recall "
                f"{worst['recall']:.0%}).",
            ],
            tables=[
                ("Per-class precision, recall and F1", per),
                (
                    "Confusion matrix (counts)",
                    pd.DataFrame(cm, index=classes, columns=classes).reset_index(
                        names="actual \\\\ predicted"
                    ),
                ),
            ],
            figures=[("Normalized confusion matrix", heat)],
            data={"confusion_matrix": cm.tolist(), "per_class": per.to_dict("records")},
        )
    ]


# --------------------------------------------------------------------------- regression
def _regression(model: Model, hold: pd.DataFrame, y: np.ndarray, s: np.ndarray) -> list[Section]:
    resid = y - s
    n = len(y)
    idx = np.random.default_rng(0).permutation(n)[:SCATTER_POINTS]
    lo, hi = float(min(y.min(), s.min())), float(max(y.max(), s.max()))
    pva = go.Figure(go.Scattergl(x=y[idx], y=s[idx], mode="markers", opacity=0.5, name="rows"))
    pva.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], name="perfect", line=dict(dash="dash")))
    pva.update_layout(xaxis_title=f"actual {model.target}", yaxis_title="predicted")
    hist = go.Figure(go.Histogram(x=resid, nbinsx=50))
    hist.update_layout(xaxis_title="actual - predicted", yaxis_title="rows")
    rvp = go.Figure(go.Scattergl(x=s[idx], y=resid[idx], mode="markers", opacity=0.5))
    rvp.add_hline(y=0, line_dash="dash")
    rvp.update_layout(xaxis_title="predicted", yaxis_title="actual - predicted")
    sections = [
        Section(
            "Predicted against actual",
            text=[
                f"Half of the predictions are within {fmt(float(np.median(np.abs(resid))))} of "
                f"the actual value; 90% within {fmt(float(np.quantile(np.abs(resid), 0.9)))}.",
                f"On average the model predicts {fmt(float(-resid.mean()))} "
                + ("too high" if resid.mean() < 0 else "too low")
                + " (bias).",
            ],
            figures=[
                ("Predicted vs actual", pva),
                ("Errors (residuals)", hist),
                ("Errors vs predicted value", rvp),
            ],
            data={
                "median_abs_error": float(np.median(np.abs(resid))),
                "p90_abs_error": float(np.quantile(np.abs(resid), 0.9)),
                "bias": float(resid.mean()),
            },
        )
    ]
    impact = model.column_impact
    if len(impact):
        col = str(impact.iloc[0]["column"])
        if col in hold.columns:
            seg = _segments(hold[col])
            by = (
                pd.DataFrame({"segment": seg, "err": np.abs(resid)})
                .groupby("segment", observed=True, dropna=False)["err"]
                .agg(["mean", "size"])
                .reset_index()
                .rename(columns={"mean": "mean absolute error", "size": "rows"})
            )
            by["segment"] = by["segment"].astype(str)
            fig = go.Figure(go.Bar(x=by["segment"], y=by["mean absolute error"]))
            fig.update_layout(xaxis_title=col, yaxis_title="mean absolute error")
            sections.append(
                Section(
                    f"Error by {col}",
                    text=[
                        f"How large the errors are for different values of {col}, the "
                        "column with the most impact."
                    ],
                    tables=[(f"Mean absolute error by {col}", by)],
                    figures=[(f"Error by {col}", fig)],
                    data={"column": col, "segments": by.to_dict("records")},
                )
            )
    return sections


def _forecast_sections(
    model: Model, hold: pd.DataFrame, y: np.ndarray, s: np.ndarray
) -> list[Section]:
    """Forecast against actual per series, and the error by how far ahead the forecast is."""
    from automl.timeseries import history_frame

    ts = model.timeseries
    target = model.target
    time_col = ts.time_column
    naive = hold["__naive__"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "series": hold["__series__"],
            "time": pd.to_datetime(hold["__time__"]),
            "actual": y,
            "forecast": s,
            "naive": naive,
            "step": hold["__step__"],
        }
    )
    hist = history_frame(model)
    # the series with the most volume first; at most 6 charts
    order = frame.groupby("series")["actual"].apply(lambda v: np.abs(v).sum()).sort_values()
    figs = []
    for key in list(order.index[::-1])[:6]:
        f = frame[frame["series"] == key].sort_values("time")
        h = hist[hist["series"] == key]
        h = h[pd.to_datetime(h[time_col]) < f["time"].min()] if len(h) else h
        fig = go.Figure()
        if len(h):
            fig.add_trace(go.Scatter(x=h[time_col], y=h[target], name="history", mode="lines"))
        fig.add_trace(go.Scatter(x=f["time"], y=f["actual"], name="actual", mode="lines+markers"))
        fig.add_trace(
            go.Scatter(
                x=f["time"],
                y=f["forecast"],
                name="forecast",
                mode="lines+markers",
                line=dict(dash="dash"),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=f["time"],
                y=f["naive"],
                name="naive (last value)",
                mode="lines",
                line=dict(dash="dot"),
                opacity=0.6,
            )
        )
        fig.update_layout(xaxis_title=time_col, yaxis_title=target)
        figs.append((f"Series {key}" if key != "all" else "Forecast vs actual", fig))
    by_step = (
        frame.assign(
            model=np.abs(frame["actual"] - frame["forecast"]),
            naive_err=np.abs(frame["actual"] - frame["naive"]),
        )
        .groupby("step")[["model", "naive_err"]]
        .mean()
        .reset_index()
        .rename(columns={"model": "model MAE", "naive_err": "naive MAE"})
    )
    step_fig = go.Figure()
    step_fig.add_trace(go.Bar(x=by_step["step"], y=by_step["model MAE"], name="model"))
    step_fig.add_trace(go.Bar(x=by_step["step"], y=by_step["naive MAE"], name="naive"))
    step_fig.update_layout(xaxis_title=f"{ts.frequency}s ahead", yaxis_title="mean absolute error")
    base_rows = [
        {
            "forecast": f"model (candidate {model.default_id})",
            **model.metrics,
        }
    ] + [{"forecast": b.description, **b.holdout_metrics} for b in ts.baselines.values()]
    return [
        *_backtest_sections(model, frame),
        Section(
            "Forecast against actual",
            text=[
                f"Each series was forecast {ts.horizon_text} ahead from the "
                "history before the held-out periods, one step at a time (each forecast feeds "
                "the next), exactly as new forecasts are made. WAPE is the total error over the "
                "total actual; MASE is the error relative to a one-step naive forecast (below 1 "
                "beats it).",
            ],
            tables=[("Model against simple forecasts", pd.DataFrame(base_rows))],
            figures=figs,
            data={"baselines": base_rows},
        ),
        Section(
            "Error by forecast step",
            text=["Forecasts further ahead are usually less accurate; this is how much."],
            tables=[("Mean absolute error by step", by_step)],
            figures=[("Error by step", step_fig)],
            data={"by_step": by_step.to_dict("records")},
        ),
    ]


def _backtest_sections(model: Model, hold: pd.DataFrame) -> list[Section]:
    """The backtests: each window's metrics, each series' in each window, and per series a
    chart of the actual values with each window's forecast and range (and the hold-out's)."""
    from automl.timeseries import quantile_name

    ts = model.timeseries
    if not ts.backtests:
        return []
    names = ("mase", "wape", "rmse", "wql")
    windows = pd.DataFrame(
        [
            {"window": f"{b.periods[0]} to {b.periods[-1]}", "trained through": b.trained_through}
            | {k: b.metrics.get(k) for k in names}
            for b in ts.backtests
        ]
    )
    per_series = pd.DataFrame(
        [
            {"window": f"{b.periods[0]} to {b.periods[-1]}", "series": key}
            | {k: m.get(k) for k in names}
            for b in ts.backtests
            for key, m in b.series_metrics.items()
        ]
    )
    keys = list(ts.series.keys)
    low, high = quantile_name(ts.quantiles[0]), quantile_name(ts.quantiles[-1])
    volume = hold.groupby("series")["actual"].apply(lambda v: np.abs(v).sum())
    figs = []
    for key in list(volume.sort_values().index[::-1])[:6]:
        j = keys.index(key)
        fig = go.Figure()
        actual = [
            (t, v)
            for b in ts.backtests
            for t, v in zip(b.periods, b.actual[j], strict=True)
            if v is not None
        ]
        h = hold[hold["series"] == key].sort_values("time")
        fig.add_trace(
            go.Scatter(
                x=[t for t, _ in actual] + list(h["time"].dt.strftime("%Y-%m-%d")),
                y=[v for _, v in actual] + list(h["actual"]),
                name="actual",
                mode="lines",
                line=dict(color="#333333"),
            )
        )
        for i, b in enumerate(ts.backtests):
            colour = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"][i % 5]
            band_x = list(b.periods) + list(b.periods)[::-1]
            band_y = list(b.high[j]) + list(b.low[j])[::-1]
            fig.add_trace(
                go.Scatter(
                    x=band_x,
                    y=band_y,
                    fill="toself",
                    fillcolor=colour,
                    opacity=0.15,
                    line=dict(width=0),
                    name=f"window {i + 1}: {low} to {high}",
                    hoverinfo="skip",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=b.periods,
                    y=b.forecast[j],
                    name=f"window {i + 1} forecast",
                    mode="lines",
                    line=dict(color=colour, dash="dash"),
                )
            )
        if len(h):
            fig.add_trace(
                go.Scatter(
                    x=h["time"].dt.strftime("%Y-%m-%d"),
                    y=h["forecast"],
                    name="hold-out forecast",
                    mode="lines",
                    line=dict(color="#d62728", dash="dash"),
                )
            )
        fig.update_layout(xaxis_title=ts.time_column, yaxis_title=model.target)
        figs.append((f"Backtests of {key}" if key != "all" else "Backtests", fig))
    return [
        Section(
            "Backtests",
            text=[
                f"Before the held-out periods, the model was checked on "
                f"{len(ts.backtests)} earlier windows of {ts.horizon_text}: each time it learned "
                "only from the periods before the window and forecast it step by step, as if "
                "that were today. The model was chosen on the mean over these windows, and the "
                f"spread of their errors gives the range ({low} to {high}). WQL is the weighted "
                "quantile loss: how far the actual values fall from the forecast's quantiles "
                "(0 is perfect)."
            ],
            tables=[("Metrics per window", windows), ("Metrics per series and window", per_series)],
            figures=figs,
            data={
                "windows": windows.to_dict("records"),
                "series": per_series.to_dict("records"),
            },
        )
    ]


def _forecast_inputs(model: Model) -> Section:
    """What a forecast reads besides each series' history (future and past values, holidays,
    how missing periods were filled) and how each series is forecast."""
    from automl.timeseries import inputs_lines, method_words

    ts = model.timeseries
    methods = dict(zip(ts.series.keys, ts.series.methods, strict=True))
    table = pd.DataFrame(
        {"series": list(methods), "forecast by": [method_words(m) for m in methods.values()]}
    )
    return Section(
        "How each series is forecast",
        text=[line[:1].upper() + line[1:] + "." for line in inputs_lines(ts)],
        tables=[("Method per series", table)],
        data={
            "methods": methods,
            "future_columns": list(ts.layout["future_columns"]),
            "past_columns": list(ts.layout["past_columns"]),
            "holidays": ts.layout["holidays"],
            "fill": ts.layout["fill"],
        },
    )


def _segments(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s) and s.nunique() > 10:
        return pd.qcut(s.astype(float), 5, duplicates="drop").astype(str)
    top = s.astype(str).value_counts().index[:10]
    return s.astype(str).where(s.astype(str).isin(top), "other")


# ------------------------------------------------------------------------------ impact
def _impact(model: Model, hold: pd.DataFrame) -> Section:
    features = hold[[c.name for c in model.preprocessor.columns]]
    drawn = features.sample(min(SHAP_ROWS, len(features)), random_state=0)
    rows = drawn.head(_explained_rows(model))
    columns, agg, _ = model.contributions(rows, prepared_rows=True)
    shap = (
        pd.DataFrame({"column": columns, "mean |contribution|": np.abs(agg).mean(axis=0)})
        .sort_values("mean |contribution|", ascending=False)
        .reset_index(drop=True)
    )
    perm = model.column_impact.rename(columns={"impact": "permutation impact (share)"})
    table = shap.merge(perm, on="column", how="left")
    top = table.head(15).iloc[::-1]
    bar = go.Figure(go.Bar(x=top["mean |contribution|"], y=top["column"], orientation="h"))
    unit = "the target's units" if model.task == "regression" else LOG_ODDS
    bar.update_layout(xaxis_title=f"average size of the column's contribution ({unit})")
    figures: list[tuple[str, go.Figure]] = [("Column impact (SHAP)", bar)]
    pdp_data: dict[str, Any] = {}
    pdp_rows = drawn.head(PDP_ROWS)
    for col in table["column"].head(3):
        fig, data = _pdp(model, pdp_rows, str(col))
        if fig is not None:
            figures.append((f"How the prediction changes with {col}", fig))
            pdp_data[str(col)] = data
    method = " and ".join(sorted({type(model.candidates[c]).explained_by for c in model.members()}))
    if len(model.members()) > 1:
        method += ", weighted as in the ensemble"
    return Section(
        "What drives the predictions",
        text=[
            f"Column impact: the average size of each column's contribution to a prediction "
            f"({method}, {len(rows):,} hold-out rows), next to the permutation impact (how much "
            "the hold-out score worsens when the column is shuffled).",
            "The curves show the average prediction when one column is set to each value and "
            "everything else is kept as it is (partial dependence).",
        ]
        + (
            [
                "For a forecast, the model predicts the next period's change from the recent "
                "average, measured in the series' typical change from one period to the next "
                "(so that series of any size share one model): contributions and curves are in "
                "those units."
            ]
            if model.is_forecast
            else []
        ),
        tables=[("Column impact", table)],
        figures=figures,
        data={"impact": table.to_dict("records"), "partial_dependence": pdp_data},
    )


def _explained_rows(model: Model) -> int:
    """How many hold-out rows the column impact explains: SHAP_ROWS, or SHAP_BIG_ROWS for a
    model that learned from more than BIG_TABLE_ROWS rows (its trees are many and large)."""
    return SHAP_BIG_ROWS if model.rows.train > BIG_TABLE_ROWS else SHAP_ROWS


def _pdp(model: Model, rows: pd.DataFrame, col: str) -> tuple[go.Figure | None, dict[str, Any]]:
    info = next(c for c in model.preprocessor.columns if c.name == col)
    s = rows[col]
    if info.type in ("numeric",):
        num = pd.to_numeric(s, errors="coerce").dropna()
        if num.nunique() < 2:
            return None, {}
        grid: list[Any] = list(np.unique(np.quantile(num, np.linspace(0.05, 0.95, PDP_POINTS))))
    elif info.type in ("categorical", "boolean"):
        grid = list(s.dropna().astype(str).value_counts().index[:12])
    else:
        return None, {}
    if len(grid) < 2:
        return None, {}
    # every grid value's copy of the rows scored in one call (the preparation of a call costs
    # more than scoring 300 rows): the same scores, row by row, as one call per value
    probe = pd.concat([rows] * len(grid), ignore_index=True)
    probe[col] = pd.Series(np.repeat(np.asarray(grid, dtype=object), len(rows))).infer_objects()
    sc = np.asarray(model._scores(probe, InputReport()))
    arr = np.asarray([part.mean(axis=0) for part in np.split(sc, len(grid))])
    fig = go.Figure()
    xs = [fmt(float(g)) if isinstance(g, float | np.floating) else str(g) for g in grid]
    kind = go.Scatter if info.type == "numeric" else go.Bar
    xvals: list[Any] = grid if info.type == "numeric" else xs
    if arr.ndim == 1:
        name = "average prediction" if model.task == "regression" else f"P({model.classes[1]})"
        fig.add_trace(kind(x=xvals, y=arr, name=name))
        ys: Any = arr.tolist()
    else:
        for k, c in enumerate(model.classes):
            fig.add_trace(kind(x=xvals, y=arr[:, k], name=f"P({c})"))
        ys = arr.tolist()
    ytitle = (
        "change from the recent average (typical changes)"
        if model.is_forecast
        else ("average prediction")
    )
    fig.update_layout(xaxis_title=col, yaxis_title=ytitle)
    return fig, {"grid": [str(g) for g in grid], "average": ys}


# ------------------------------------------------------------------------- leaderboard
def _leaderboard(model: Model) -> Section:
    board = model.leaderboard.drop(columns=["params"], errors="ignore")
    meta = model.meta
    metric = meta.metric
    vcol = f"validation_{metric}"
    hist = pd.DataFrame([r.to_dict() for r in meta.leaderboard])
    fig = None
    if len(hist) and "score" in hist.columns:
        timed = "finished_at" in hist.columns and bool((hist["finished_at"] > 0).any())
        hist = hist.sort_values("finished_at" if timed else "id")
        better = meta.metric_greater_is_better
        scores = hist["score"].astype(float)
        best = scores.cummax() if better else scores.cummin()
        x = hist["finished_at"] if timed else hist["id"]
        fig = go.Figure(
            go.Scatter(x=x, y=scores, mode="markers", name="candidate", text=hist["candidate"])
        )
        fig.add_trace(go.Scatter(x=x, y=best, name="best so far", line_shape="hv"))
        fig.update_layout(
            xaxis_title="seconds into the search" if timed else "candidate (in the order tried)",
            yaxis_title=M.METRICS[metric].label + " (validation)",
        )
    timings = meta.timings
    return Section(
        "Candidates tried",
        text=[
            f"{len(board)} candidates were trained and scored by {meta.validation}; the best "
            f"{len(meta.kept)} were also scored on the hold-out rows. The build took "
            f"{fmt(float(meta.fit_seconds))} s of a {fmt(float(meta.time_budget))} s "
            "budget.",
        ],
        tables=[
            ("Leaderboard", board),
            (
                "Where the time went (seconds)",
                pd.DataFrame({"phase": list(timings), "seconds": list(timings.values())}),
            ),
        ],
        figures=[("Search history", fig)] if fig is not None else [],
        data={"validation_column": vcol, "timings": timings},
    )


def _data_in(model: Model) -> Section:
    meta = model.meta
    cols = pd.DataFrame([c.to_dict() for c in meta.columns])
    keep = [c for c in ("name", "type", "reason", "missing", "distinct") if c in cols.columns]
    cols = cols[keep]
    used = cols[~cols["type"].isin(["identifier", "constant", "excluded"])]
    dropped = cols[cols["type"].isin(["identifier", "constant", "excluded"])]
    rows = meta.rows.to_dict()
    text = [
        f"{rows['total']:,} rows, {rows['with_target']:,} with a value for {model.target}; "
        f"{rows['search']:,} used by the search, {rows['holdout']:,} held out.",
        f"Final model: {meta.refit_note}.",
    ]
    tables = [("Columns used", used), ("Columns not used, and why", dropped)]
    if model.recipe is not None and len(model.recipe):
        steps = model.recipe.describe()
        text.append(
            f"The data was prepared by a recipe of {len(steps)} steps, replayed on new rows."
        )
        tables.append(("Preparation recipe", pd.DataFrame({"step": steps})))
    data = {"rows": rows, "used": int(len(used)), "dropped": int(len(dropped))}
    return Section("What data went in", text=text, tables=tables, data=data)


def holdout_predictions(model: Model) -> pd.DataFrame:
    """The stored hold-out rows with ``actual`` and ``predicted`` (and class probabilities) of
    the model's predictor, for download and for the predicted-vs-actual flow chart."""
    hold = model.holdout
    if hold is None:
        raise ParameterError("This model has no stored hold-out rows; retrain it.")
    y = hold["__target__"].to_numpy()
    s = _scores(model, hold, model.default_id)
    if model.is_forecast:
        time_col = model.timeseries.time_column
        out = pd.DataFrame(
            {
                "series": hold["__series__"],
                time_col: hold["__time__"],
                "step": hold["__step__"],
                "actual": y,
                "forecast": s,
                "error": y - s,
                "naive forecast": hold["__naive__"],
            }
        )
        return out.sort_values(["series", time_col]).reset_index(drop=True)
    features = hold[[c for c in hold.columns if not c.startswith("__")]].copy()
    if model.task == "regression":
        features["actual"] = y
        features["predicted"] = s
        features["error"] = y - s
        return features
    classes = np.asarray(model.classes, dtype=object)
    proba = np.column_stack([1 - s, s]) if s.ndim == 1 else s
    picked = (s >= model.threshold).astype(int) if s.ndim == 1 else proba.argmax(axis=1)
    features["actual"] = classes[y.astype(np.int64)]
    features["predicted"] = classes[picked]
    for k, c in enumerate(model.classes):
        features[f"probability_{c}"] = proba[:, k]
    return features


def sankey(model: Model) -> go.Figure:
    """Actual classes flowing into predicted classes on the hold-out rows."""
    if model.task == "regression":
        raise ParameterError("The flow chart is for category predictions, not numbers.")
    pred = holdout_predictions(model)
    classes = [str(c) for c in model.classes]
    k = len(classes)
    flows = pd.crosstab(pred["actual"].astype(str), pred["predicted"].astype(str))
    src, dst, val, colours = [], [], [], []
    for i, a in enumerate(classes):
        for j, b in enumerate(classes):
            v = int(flows.loc[a, b]) if a in flows.index and b in flows.columns else 0
            if v:
                src.append(i)
                dst.append(k + j)
                val.append(v)
                colours.append("rgba(42,157,143,0.55)" if a == b else "rgba(231,111,81,0.55)")
    actual = pred["actual"].astype(str).value_counts()
    predicted = pred["predicted"].astype(str).value_counts()
    labels = [f"actual {c}: {int(actual.get(c, 0)):,}" for c in classes] + [
        f"predicted {c}: {int(predicted.get(c, 0)):,}" for c in classes
    ]
    fig = go.Figure(
        go.Sankey(
            node=dict(
                label=labels,
                pad=24,
                thickness=22,
                color="#264653",
                line=dict(color="#1b1b1b", width=0.5),
            ),
            link=dict(source=src, target=dst, value=val, color=colours),
            # large, dark labels without plotly's white halo, readable on a light page
            textfont=dict(size=16, color="#1b1b1b", shadow="none"),
        )
    )
    fig.update_layout(height=340 + 40 * k, margin=dict(l=10, r=10, t=10, b=10), font_size=16)
    return fig
