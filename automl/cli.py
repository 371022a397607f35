"""The ``automl`` command line: a thin front door onto the same public API as Python.

User errors exit with status 2 and one paragraph on stderr, never a traceback; an interrupt
(Ctrl-C, SIGTERM) exits with 130 and a pipe closed by the reader (``| head``) with 141, quietly.
Output paths are checked before any work starts, and every file is written through a temporary
(:mod:`automl.atomic`), so a failure or an interrupt leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sqlite3
import sys
import textwrap
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from automl.atomic import (
    atomic_path,
    check_output_file,
    check_output_folder,
    os_error_message,
    sweep_stale,
    write_files,
)
from automl.team_cli import MODEL_HELP

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
CLUSTER_HELP = (
    "run on a Dask cluster: a scheduler's address (tcp://HOST:8786), or local:N to start N "
    "worker processes on this computer (needs pip install 'easel[cluster]'; see "
    "docs/scale-out.md)"
)


def _err(message: str) -> None:
    print(textwrap.fill(f"error: {message}", width=100), file=sys.stderr)


class _Progress:
    """Progress lines on stderr, at most a few per second."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, event: Any) -> None:
        now = time.monotonic()
        if self.quiet or (event.phase == "search" and now - self.last < 0.5):
            return
        self.last = now
        best = "" if event.best_score is None else f" (best so far {event.best_score:.4f})"
        pct = f"{event.fraction:4.0%}"
        print(f"[{event.elapsed:6.1f}s {pct}] {event.message}{best}", file=sys.stderr, flush=True)


def _workspace(args: argparse.Namespace, need: str = "predict") -> Any:
    """The workspace as seen by ``--user``, checked for the permission ``need``."""
    from automl.team_cli import user_workspace

    return user_workspace(args, need)


def _workspace_model(args: argparse.Namespace, need: str = "predict") -> Any:
    from automl.team_cli import workspace_model

    return workspace_model(args, need)


def _model_folder(args: argparse.Namespace, need: str = "predict") -> str:
    from automl.team_cli import model_folder

    return model_folder(args, need)


def _read(path: str, args: argparse.Namespace | None = None) -> pd.DataFrame:
    """A DATA argument: a file, a database URL with --table/--query, s3://..., or dataset:NAME."""
    from automl.workspace.data import DATASET_PREFIX, load_data

    if path.startswith(DATASET_PREFIX):
        return load_data(path, _workspace(args) if args is not None else None)
    return load_data(path, **_source_options(args))


def _source_options(args: argparse.Namespace | None) -> dict[str, Any]:
    """The source options given on the command line, as :func:`read_source` takes them (the
    password is read from --password-env there, never typed)."""
    if args is None:
        return {}
    keys = ("table", "query", "sheet", "limit", "endpoint_url", "password_env")
    flags = ("anonymous", "server_credentials")
    return {
        k: getattr(args, k, None)
        for k in keys + flags
        if getattr(args, k, None) not in (None, False)
    }


def _column_types(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise _usage(f"--column-type takes COLUMN=TYPE, got '{pair}'.")
        col, kind = pair.rsplit("=", 1)
        out[col] = kind
    return out


def _usage(message: str) -> Exception:
    from automl.errors import ParameterError

    return ParameterError(message)


# ---------------------------------------------------------------------- commands
def fit_budget(args: argparse.Namespace, started: float) -> float | None:
    """The fit's time budget: the command's (``--time-budget``, or the preset's), less the time
    already spent reading the data and the time kept for writing the model and its reports."""
    import math

    from automl.errors import ParameterError
    from automl.presets import get_preset
    from automl.training.run import build_fit_budget

    if args.time_budget is None:
        try:
            total = float(get_preset(args.preset)["time_budget"])
        except ParameterError:
            return None  # AutoML reports the unknown preset
    elif not isinstance(args.time_budget, float) or not math.isfinite(args.time_budget):
        return args.time_budget  # AutoML reports what is wrong with it
    else:
        total = args.time_budget
    return build_fit_budget(total, time.monotonic() - started, not args.no_reports)


def _whole_budget(args: argparse.Namespace) -> float | None:
    """The whole command's seconds (``--time-budget``, else the preset's), once the fit took it."""
    from automl.presets import get_preset

    if args.time_budget is not None:
        return float(args.time_budget)
    return float(get_preset(args.preset)["time_budget"])


def cmd_train(args: argparse.Namespace) -> int:
    started = time.monotonic()
    _check_model_folder(args.out)  # before training, which can take long
    _cluster_address(args)
    if args.dask_training_rows is not None:
        if args.cluster is None:
            raise _usage(
                "--dask-training-rows says when the final model trains on a cluster: give "
                "--cluster too (e.g. --cluster local:2), or leave it out."
            )
        if args.dask_training_rows < 1:
            raise _usage(
                f"--dask-training-rows must be a positive number of rows. Got "
                f"{args.dask_training_rows}."
            )
    recipe = _load_recipe(args.recipe)
    if args.data.startswith("dataset:") and recipe is None:
        # the data service decides what a dataset trains on, as for a build in the app: a
        # prepared dataset trains on its raw source with its recipe, so the model takes raw rows
        from automl.workspace.data import dataset_ref, resolve, training_input

        ws = _workspace(args, "build")
        rec = resolve(ws, args.data)
        df, recipe, note = training_input(ws, ws.key(rec), rec.version)
        if not args.quiet:  # the version read: the rows to give automl export --data later
            print(f"training on {note or f'dataset {dataset_ref(rec, ws)}'}", file=sys.stderr)
    else:
        df = _read(args.data, args)
    from automl.training.common import compact_floats

    if recipe is None:  # (a recipe's formulas see the numbers as they were read)
        compact_floats(df)  # the command's own frame: half the memory for its numbers
    progress = _Progress(args.quiet)
    with _cluster(args) as cluster:  # (started here: its start counts in the budget)
        model = _fit(args, started, df, recipe, progress, cluster)
    if not args.quiet:
        print("writing the model and its reports", file=sys.stderr)
    _check_model_folder(args.out)  # again: the folder may have changed during training
    sweep_stale(Path(args.out).parent, of=Path(args.out).name)  # left by a killed save
    out = model.save(args.out, reports=not args.no_reports, data=df)
    m = model.model_
    print(f"saved model to {out}", file=sys.stderr)
    total = _whole_budget(args)
    if total is not None and m.compile_now(total - (time.monotonic() - started)):
        # the budget's last seconds make later batch scoring of a big table's model faster
        print("compiled the model's trees for fast batch scoring on this computer", file=sys.stderr)
    print(_summary(m))
    return 0


def _fit(
    args: argparse.Namespace,
    started: float,
    df: pd.DataFrame,
    recipe: Any,
    progress: Any,
    cluster: Any,
) -> Any:
    import automl

    return automl.AutoML(
        time_budget=fit_budget(args, started),
        max_trials=args.max_trials,
        preset=args.preset,
        seed=args.seed,
        task=args.task,
        metric=args.metric,
        column_types=_column_types(args.column_type),
        exclude_columns=args.exclude,
        positive_label=args.positive_label,
        progress=progress,
        ensemble=not args.no_ensemble,
        time_column=args.time_column,
        series_columns=_names(args.series),
        horizon=args.horizon,
        aggregate=args.aggregate,
        quantiles=_quantiles(args.quantiles),
        backtests=args.backtests,
        cluster=cluster,
        dask_training_rows=args.dask_training_rows,
        future_columns=_future_columns(args.future_columns),
        holidays=args.holidays,
        fill=args.fill,
    ).fit(df, target=args.target, recipe=recipe)


def _cluster_address(args: argparse.Namespace) -> Any:
    """``--cluster`` checked (before any work), or None."""
    if getattr(args, "cluster", None) is None:
        return None
    from automl.cluster import parse_address

    return parse_address(args.cluster)


@contextlib.contextmanager
def _cluster(args: argparse.Namespace) -> Any:
    """The Dask cluster of ``--cluster`` for the block (None without it: Dask is not imported);
    a local one's worker processes stop at its end."""
    address = _cluster_address(args)
    if address is None:
        yield None
        return
    from automl.cluster import connect

    if not getattr(args, "quiet", False):
        print(f"connecting to the cluster {address.text}", file=sys.stderr)
    with connect(address) as cluster:
        if not getattr(args, "quiet", False):
            print(f"{len(cluster.workers())} worker(s) ready", file=sys.stderr, flush=True)
        yield cluster


def _check_model_folder(path: str) -> None:
    """A model is a new folder, or replaces a model folder; refuse anything else up front."""
    from automl.artifact import META_FILE

    out = check_output_folder(path, "model folder (--out)")
    with contextlib.suppress(OSError):  # an unreadable folder is reported when saving
        if out.is_dir() and not (out / META_FILE).exists() and any(out.iterdir()):
            raise _usage(
                f"The model folder (--out) '{out}' exists and is not an Easel model; Easel will "
                "not overwrite it. Choose a new folder name, or an earlier model's folder to "
                "replace that model."
            )


def _quantiles(text: str | None) -> list[float] | None:
    """``--quantiles 0.1,0.5,0.9`` as numbers (a clear error for anything else)."""
    if text is None:
        return None
    from automl.timeseries import parse_quantiles

    return parse_quantiles(text)


def _future_columns(text: str | None) -> list[str] | None:
    """``--future-columns COL,...`` as names; ``none`` for none; absent: the detected ones."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise _usage(
            "--future-columns needs column names separated by commas (e.g. price,promotion), "
            "or none for no future-value columns."
        )
    return names


def _names(values: list[str] | None) -> list[str] | None:
    """Repeatable, comma-separated column names."""
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _load_recipe(path: str | None) -> Any:
    if path is None:
        return None
    from automl.prep.recipe import Recipe

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _usage(
            f"The recipe file '{path}' is not a text (JSON) file. Give the recipe saved by the "
            "Prepare page."
        ) from None
    return Recipe.from_json(text)


def cmd_predict(args: argparse.Namespace) -> int:
    import automl
    from automl.batch import DEFAULT_CHUNK_ROWS, output_format, predict_file

    if getattr(args, "cluster", None) is not None:
        return _predict_on_cluster(args)
    if args.endpoint_url or args.anonymous:
        raise _usage(
            "--endpoint-url and --anonymous are for reading s3:// data on a cluster: give "
            "--cluster too (e.g. --cluster local:2), or leave them out for a file on this computer."
        )
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise _usage(f"--chunk-rows must be a positive number of rows. Got {args.chunk_rows}.")
    if args.reasons < 0:
        raise _usage(f"--reasons must be 0 or more. Got {args.reasons}.")
    output_format(args.out)
    check_output_file(args.out, "output file (--out)", keep=(args.data,))
    drift_json = Path(f"{args.out}.drift.json")  # the drift report, beside the predictions
    check_output_file(drift_json, "drift report file (beside --out)", keep=(args.data,))
    model = automl.load(_model_folder(args))
    if model.is_forecast:
        raise _usage(
            "This model forecasts a time series; rows are not scored one by one. Use "
            f"'automl forecast {args.model} --out FILE' (optionally with --history DATA)."
        )
    quiet = args.quiet

    def progress(rows: int) -> None:
        if not quiet:
            print(f"scored {rows:,} rows", file=sys.stderr, flush=True)

    data = args.data
    if data.startswith("dataset:"):  # a catalog dataset is a Parquet file: score it in chunks
        ws = _workspace(args, "import")
        name, version = ws.resolve_dataset(data[len("dataset:") :])
        data = str(ws.dataset_file(ws.get_dataset(name, version)))
    # the model's and the libraries' objects, made once, are left out of every garbage
    # collection while the rows are scored (about a twentieth of the command's CPU, measured)
    gc.freeze()
    rows = args.chunk_rows or DEFAULT_CHUNK_ROWS
    result = predict_file(model, data, args.out, rows, progress, reasons=args.reasons)
    return _predicted(result, drift_json)


def _predict_on_cluster(args: argparse.Namespace) -> int:
    """``automl predict --cluster``: DATA read with dask.dataframe and scored partition by
    partition on the workers; OUT a folder of Parquet parts (ending in /) or one file."""
    import automl
    from automl.cluster.scoring import check_output, input_parts, predict_on_cluster

    _cluster_address(args)
    if args.reasons < 0:
        raise _usage(f"--reasons must be 0 or more. Got {args.reasons}.")
    check_output(args.out, args.data)
    drift_json = Path(f"{args.out.rstrip('/' + os.sep)}.drift.json")
    check_output_file(drift_json, "drift report file (beside --out)", keep=(args.data,))
    folder = _model_folder(args)
    model = automl.load(folder)
    if model.is_forecast:
        raise _usage(
            "This model forecasts a time series; rows are not scored one by one. Use "
            f"'automl forecast {args.model} --out FILE' (optionally with --history DATA)."
        )
    data = args.data
    storage: dict[str, Any] = {}
    if data.startswith("dataset:"):  # on an S3 store the workers read its object themselves
        ws = _workspace(args, "import")
        name, version = ws.resolve_dataset(data[len("dataset:") :])
        data = ws.store.address(ws.get_dataset(name, version).path)
        if ws.store.endpoint:
            storage["endpoint_url"] = ws.store.endpoint
    if args.endpoint_url:
        storage["endpoint_url"] = args.endpoint_url
    if args.anonymous:
        storage["anon"] = True
    input_parts(data, storage)  # what to read, checked before the cluster starts
    quiet = args.quiet

    def progress(rows: int) -> None:
        if not quiet:
            print(f"scored {rows:,} rows", file=sys.stderr, flush=True)

    with _cluster(args) as cluster:
        result = predict_on_cluster(
            cluster, model, folder, data, args.out, progress, args.reasons, storage=storage
        )
    return _predicted(result, drift_json)


def _predicted(result: Any, drift_json: Path) -> int:
    """What a batch prediction wrote and noticed; its drift report written beside it."""
    for msg in result.report.messages():
        print(f"warning: {msg}", file=sys.stderr)
    print(f"wrote {result.rows:,} predictions to {result.output} in {result.seconds:.1f} s")
    if result.drift is None:
        drift_json.unlink(missing_ok=True)  # an earlier run's report would not be about these
        print(f"drift not measured: {result.drift_note}", file=sys.stderr)
        return 0
    from automl.models_cli import drift_lines

    with atomic_path(drift_json) as tmp:
        tmp.write_text(json.dumps(result.drift.to_dict(), indent=1), encoding="utf-8")
    print("\n".join(drift_lines(result.drift)[:1]))
    print(f"wrote the drift report to {drift_json}")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    import automl

    path = Path(args.out)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise _usage(f"--out must end in .csv or .parquet. Got '{args.out}'.")
    check_output_file(path, "output file (--out)", keep=(args.history or "", args.future or ""))
    _cluster_address(args)  # checked before any work
    folder = _model_folder(args)
    model = automl.load(folder)
    if not model.is_forecast:
        raise _usage(
            f"'{args.model}' is not a time series model; score rows with "
            f"'automl predict {args.model} DATA --out FILE'."
        )
    history = _forecast_input(args.history, args)
    if args.future_template:
        if not model.future_columns:
            raise _usage("This model uses no future values: there is no table to fill in.")
        if args.future:
            raise _usage("Give either --future-template (to write the table) or --future.")
        if args.cluster is not None:
            raise _usage(
                "--cluster forecasts on a cluster; writing the table of future values "
                "(--future-template) needs none. Leave --cluster out."
            )
        table = model.future_template(args.horizon, _names(args.series), history)
        _write_table(table, path)
        same = [f"--history {args.history}"] if args.history else []  # the forecast it is for
        same += [f"--horizon {args.horizon}"] if args.horizon is not None else []
        same += [f"--series {s}" for s in args.series or []]
        print(
            f"wrote the future values to fill in ({len(table):,} rows, each at its last known "
            f"value) to {path}; edit them, then: automl forecast {args.model} --future {path} "
            + "".join(f"{w} " for w in same)
            + "--out FILE"
        )
        return 0
    future = _forecast_input(args.future, args)
    if future is None and model.future_columns:
        raise _usage(
            f"This model forecasts with the future values of {', '.join(model.future_columns)}: "
            f"give them with --future FILE (CSV or Parquet with the columns "
            f"{', '.join([*model.timeseries.id_columns, model.timeseries.time_column])} and "
            f"{', '.join(model.future_columns)}, one row per series and "
            f"{model.timeseries.frequency} ahead). 'automl forecast {args.model} "
            "--future-template --out plan.csv' writes that table with the last known values, "
            "to edit."
        )
    if future is not None and not model.future_columns:
        print("warning: this model uses no future values; --future is not used", file=sys.stderr)
    if getattr(args, "cluster", None) is None:
        out = model.forecast(history, args.horizon, _names(args.series), future)
    else:  # the series shared out to the workers (the same table)
        from automl.cluster.forecasting import forecast_on_cluster

        with _cluster(args) as cluster:
            out = forecast_on_cluster(
                cluster, model, folder, history, args.horizon, _names(args.series), future
            )
    _write_table(out, path)
    print(f"wrote {len(out):,} forecasts to {path}")
    return 0


def _write_table(table: Any, path: Path) -> None:
    """``table`` to a .csv or .parquet file, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)


def _forecast_input(source: str | None, args: argparse.Namespace) -> Any:
    """``--history`` or ``--future``: a file or dataset:NAME (None when not given)."""
    if not source:
        return None
    if source.startswith("dataset:"):
        from automl.workspace.data import load_data

        return load_data(source, _workspace(args))
    return _read(source, args)


def cmd_holidays(args: argparse.Namespace) -> int:
    """The countries of the holiday calendar, or one country's regions."""
    from automl.covariates import check_holidays, country_names, supported_countries

    names = country_names()
    spec = check_holidays(args.country)
    if spec is not None:
        regions = supported_countries()[spec[0]]
        print(
            f"{spec[0]} ({names.get(spec[0], spec[0])}): "
            + (
                f"{len(regions)} regions (use --holidays {spec[0]}:REGION)"
                if regions
                else "no regions"
            )
        )
        for r in regions:
            print(f"  {r}")
        return 0
    for code in sorted(supported_countries()):
        print(f"{code}  {names.get(code, '')}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import automl

    m = automl.load(_model_folder(args))
    if args.json:
        info = m.meta.to_dict()  # the saved metadata, without the fitted preparation
        print(json.dumps(info, indent=1, default=str))
    else:
        print(_summary(m, full=True))
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    import automl
    from automl.reports import save_model

    found = _workspace_model(args, "build")
    folder = args.model if found is None else str(found[0].model_dir(found[1]))
    if found is not None and found[1].owner != found[0].user:
        raise _usage(
            f"Model {found[0].key(found[1])} belongs to {found[1].owner}: only they can change "
            "which candidate makes its predictions."
        )
    m = automl.load(folder)
    m.set_default(args.candidate)
    if found is not None:  # the workspace's folder, or a new key on its S3 store
        found[0].rewrite_model(found[1], lambda new: save_model(m, new))
    else:
        sweep_stale(Path(folder).parent, of=Path(folder).name)  # left by a killed save
        save_model(m, folder)
    print(f"candidate {args.candidate} ({m.candidate_name(args.candidate)}) now predicts")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    import automl

    df = _read(args.data, args)
    res = automl.preview(df, args.target, task=args.task, metric=args.metric)
    if args.json:
        print(json.dumps(res.to_dict(), indent=1, default=str))
        return 0
    print(f"task: {res.task}; rows used: {res.rows_used:,}; {res.seconds:.1f} s")
    print(
        f"estimated {res.metric_label}: {res.estimated_score:.4f} "
        f"(baseline {res.baseline_score:.4f})"
    )
    print("column impact:")
    for _, row in res.column_impact.head(15).iterrows():
        print(f"  {row['column']:<30} {row['impact']:6.1%}")
    for note in res.notes:
        print(f"note: {note}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from automl.task import MIN_ROWS
    from automl.words import plural, rows_text
    from automl.workspace.data import import_dataset

    rec = import_dataset(
        _workspace(args, "import"), args.source, args.name, **_source_options(args)
    )
    print(
        f"imported {rec.name} version {rec.version}: {rows_text(rec.rows)} x "
        f"{plural(rec.columns, 'column')} from {rec.source}"
    )
    if rec.rows < MIN_ROWS:
        print(
            f"warning: only {rows_text(rec.rows)}; a model needs at least {MIN_ROWS} rows with a "
            "target value, so build on it only after joining it to a larger table.",
            file=sys.stderr,
        )
    return 0


def cmd_datasets_list(args: argparse.Namespace) -> int:
    ws = _workspace(args, "import")
    recs = ws.list_datasets() + ws.shared_datasets()
    if not recs:
        print("no datasets yet: import one with 'automl import FILE --name NAME'")
        return 0
    table = pd.DataFrame(
        {
            "name": [ws.key(r) for r in recs],
            "version": [r.version for r in recs],
            "rows": [f"{r.rows:,}" for r in recs],
            "columns": [r.columns for r in recs],
            "created": [
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)) for r in recs
            ],
            "source": [r.source for r in recs],
        }
    )
    print(table.to_string(index=False))
    return 0


def cmd_datasets_show(args: argparse.Namespace) -> int:
    from automl.workspace import lineage
    from automl.workspace.data import resolve

    ws = _workspace(args, "import")
    rec = resolve(ws, args.name)
    name, version = ws.key(rec), rec.version
    versions = [v.version for v in ws.dataset_versions(name)]
    print(f"dataset: {name}   version: {rec.version} (versions: {', '.join(map(str, versions))})")
    print(f"rows: {rec.rows:,}   columns: {rec.columns}")
    print(f"source: {rec.source}")
    print(f"created: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(rec.created_at))}")
    print(f"made by: {lineage.describe(rec.lineage)}")
    for change in rec.lineage.get("changes") or []:
        print(f"  {change}")
    print("schema:")
    for col, dtype in rec.schema.items():
        print(f"  {col:<32} {dtype}")
    preview = ws.preview_dataset(name, version, args.rows)
    print(f"first {len(preview)} rows:")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(preview.to_string(index=False, max_colwidth=30))
    return 0


def cmd_datasets_delete(args: argparse.Namespace) -> int:
    ws = _workspace(args, "import")
    name, version = ws.resolve_dataset(args.name)
    version = args.version if args.version is not None else version
    n = ws.delete_dataset(name, version)
    what = f"version {version} of {name}" if version is not None else f"{name} ({n} versions)"
    print(f"deleted {what}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from automl.bundle import check_bundle_path, export_bundle, training_rows

    check_bundle_path(args.out, keep=(args.data or "", args.model))  # before any work
    if args.data and not args.include_data:
        raise _usage(
            "--data gives the training rows to put in the bundle: add --include-data (the "
            "rows leave with the bundle only when you ask for it)."
        )
    found = _workspace_model(args, "predict")
    data = None
    ws = None
    if found is None:  # a model folder
        folder = Path(args.model)
        title, source = folder.name, {"name": folder.name}
        if args.include_data and not args.data:
            raise _usage(
                "--include-data needs the rows the model was trained on: give them with --data "
                "(the data given to automl train), or export a workspace model (model:NAME), "
                "whose training data Easel knows."
            )
    else:
        ws, rec = found
        folder = ws.model_dir(rec)
        title = f"{ws.key(rec)} version {rec.version}"
        source = {"name": rec.name, "version": rec.version, "dataset": rec.dataset_ref}
        if args.include_data and not args.data:
            data = training_rows(_workspace(args, "import"), rec)
    if args.include_data and args.data:
        data = _read(args.data, args)
    out = export_bundle(folder, args.out, title, data, source)
    if ws is not None:
        ws.audit(
            "export",
            f"model {title}",
            "with the training data" if data is not None else "without the training data",
        )
    with_data = "" if data is None else f", with the {len(data):,} training rows"
    print(f"wrote the bundle of {title} to {out}{with_data}")
    return 0


def cmd_import_model(args: argparse.Namespace) -> int:
    from automl.bundle import import_bundle

    done = import_bundle(_workspace(args, "build"), args.bundle, args.name)
    rec = done.record
    print(f"imported model {rec.name} version {rec.version} from {args.bundle}")
    if done.ignored:
        print(
            f"left out {len(done.ignored)} file(s) that are not part of a model folder "
            "(predict.py, the notebook, the data, reports): the model folder is all Easel takes"
        )
    return 0


def cmd_join(args: argparse.Namespace) -> int:
    from automl.prep.join import JoinSpec
    from automl.workspace.data import join_datasets

    spec = JoinSpec.on(args.on, args.how)
    rec, pv = join_datasets(_workspace(args, "import"), args.left, args.right, spec, args.name)
    print(
        f"{spec.how} join: {pv.left_rows:,} left rows x {pv.right_rows:,} right rows -> "
        f"{pv.rows:,} rows ({pv.left_matched:,} left and {pv.right_matched:,} right rows matched)"
    )
    for w in pv.warnings:
        print(f"warning: {w}")
    for n in pv.notes:
        print(f"note: {n}")
    print(f"saved {rec.name} version {rec.version}: {rec.rows:,} rows x {rec.columns} columns")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from automl.workspace.data import clean_dataset, dataset_ref, find_issues, resolve

    ws = _workspace(args, "import")
    rec = resolve(ws, args.dataset)
    findings = find_issues(ws.read(rec), args.target)
    print(f"{rec.name} version {rec.version}: {rec.rows:,} rows x {rec.columns} columns")
    if not findings:
        print("nothing to clean: no missing values, far outliers or duplicate rows found")
        return 0
    print(f"found {len(findings)} issue(s):")
    for f in findings:
        print(f"  {f.id:<28} {f.count:>8,} ({f.share:6.1%})  proposed: {f.action:<11} {f.detail}")
    if not args.auto:
        print(
            "nothing changed: add --auto to apply the proposed fixes "
            "(--fix ID=ACTION to change one)"
        )
        return 0
    if not args.name:
        raise _usage("--auto saves a new dataset: give its name with --name.")
    decisions: dict[str, str] = {}
    values: dict[str, Any] = {}
    for item in args.fix:
        fid, sep, action = item.rpartition("=")
        if not sep:
            raise _usage(f"--fix takes ID=ACTION (e.g. missing:age=mean), got '{item}'.")
        if action.startswith("constant:"):
            action, values[fid] = "constant", action.split(":", 1)[1]
        decisions[fid] = action
    # the same function and the same saved recipe as the Prepare page, so a model trained on the
    # result takes raw rows of the source and replays the fixes
    done = clean_dataset(ws, dataset_ref(rec, ws), args.name, args.target, decisions, values)
    print("applied:")
    for line in done.summary():
        print(f"  {line}")
    new = done.record
    print(f"saved {new.name} version {new.version}: {new.rows:,} rows x {new.columns} columns")
    print(f"a model trained on dataset:{new.name} takes raw rows of {dataset_ref(rec, ws)}")
    return 0


def _contents(s: Any) -> str:
    def n(count: int, what: str) -> str:
        return f"{count} {what}{'' if count == 1 else 's'}"

    return (
        f"{n(s.datasets, 'dataset version')}, {n(s.models, 'model version')} and "
        f"{n(s.jobs, 'build')} ({n(s.files, 'file')}, {s.bytes / 1e6:,.1f} MB)"
    )


def cmd_workspace_backup(args: argparse.Namespace) -> int:
    from automl.workspace.backup import backup_workspace

    s = backup_workspace(_workspace(args), args.out)
    for note in s.notes:
        print(note, file=sys.stderr)
    print(f"backed up {_contents(s)} to {s.path}")
    return 0


def cmd_workspace_restore(args: argparse.Namespace) -> int:
    from automl.workspace.backup import default_root, restore_workspace

    s = restore_workspace(args.file, default_root(args.workspace), force=args.force)
    print(f"restored {_contents(s)} into {s.path}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from automl.reports import data_report

    _check_report_files(args, keep=(args.data,))
    df = _read(args.data, args)
    return _write_report(data_report(df, args.target), args)


def _check_report_files(args: argparse.Namespace, keep: tuple[str, ...] = ()) -> None:
    """The report's files can be written: checked before the report is made."""
    check_output_file(args.out, "report file (--out)", keep=keep)
    if args.json:
        check_output_file(args.json, "report file (--json)", keep=keep)
        if Path(args.json).resolve() == Path(args.out).resolve():
            raise _usage(
                f"--out and --json name the same file '{args.out}'. Give each its own name, "
                "e.g. report.html and report.json."
            )


def _write_report(rep: Any, args: argparse.Namespace) -> int:
    """HTML (and optionally JSON) to the requested files, both or neither; the summary on
    stdout."""
    files = {Path(args.out): rep.to_html()}
    if args.json:
        files[Path(args.json)] = rep.to_json()
    for p in files:
        p.parent.mkdir(parents=True, exist_ok=True)
    write_files(files)
    for line in rep.summary:
        print(line.replace("**", ""))
    print(f"wrote {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import automl
    from automl.reports import performance_report

    _check_report_files(args)
    return _write_report(performance_report(automl.load(_model_folder(args))), args)


def _summary(m: Any, full: bool = False) -> str:
    meta = m.meta
    lines = [
        f"target: {m.target}   task: {m.problem_type} ({meta.target.reason})",
        f"metric optimized: {meta.metric}   validation: {meta.validation}",
        f"hold-out: {meta.holdout_description}",
        "hold-out metrics of the default candidate:",
    ]
    lines += [f"  {k:<18} {v:.4f}" for k, v in m.metrics.items()]
    lines.append(f"final model: {meta.refit_note}")
    if m.classes:
        lines.append(f"classes: {', '.join(map(str, m.classes))}")
    if m.task == "binary":
        lines.append(f"decision threshold: P({m.classes[1]}) >= {m.threshold:.4g}")
    if m.is_forecast:
        lines += _forecast_lines(m.timeseries, full)
    if full:
        used = [c for c in meta.columns if c.type not in ("identifier", "constant", "excluded")]
        ignored = [c for c in meta.columns if c not in used]
        lines.append(f"columns used ({len(used)}):")
        lines += [f"  {c.name:<28} {c.type:<12} {c.reason}" for c in used]
        lines.append(f"columns ignored ({len(ignored)}):")
        lines += [f"  {c.name:<28} {c.type:<12} {c.reason}" for c in ignored]
        impact = m.column_impact.head(10)
        if len(impact):
            lines.append("column impact (hold-out, permutation):")
            lines += [f"  {r.column:<28} {r.impact:6.1%}" for r in impact.itertuples()]
        for w in meta.warnings:
            lines.append(f"warning: {w}")
        lines.append(
            f"built in {meta.fit_seconds:.1f} s (budget {meta.time_budget:g} s, "
            f"preset {meta.preset}, seed {meta.seed})"
        )
    board = m.leaderboard.drop(columns=["params"])
    if (
        "worker" in board and not board["worker"].astype(bool).any()
    ):  # built on this computer: no cluster workers
        board = board.drop(columns=["worker"])
    lines.append("leaderboard:")
    lines.append(board.to_string(index=False, max_rows=40 if full else 10))
    return "\n".join(lines)


def _forecast_lines(ts: Any, full: bool) -> list[str]:
    """A forecast model's quantiles and its backtests: each window's metrics (and, in full,
    each series' in each window)."""
    from automl.timeseries import inputs_lines, quantile_name

    lines = [f"quantiles: {', '.join(quantile_name(q) for q in ts.quantiles)}"]
    lines += inputs_lines(ts)
    if not ts.backtests:
        return lines + ["backtests: none (a model made before Easel kept backtests)"]
    lines.append(f"backtests ({len(ts.backtests)} windows of {ts.horizon_text}):")
    names = ("mase", "wape", "rmse", "wql")
    for b in ts.backtests:
        cells = "  ".join(f"{k} {b.metrics[k]:.4f}" for k in names if k in b.metrics)
        lines.append(f"  {b.periods[0]} to {b.periods[-1]}: {cells}")
        if full:
            for key, sm in b.series_metrics.items():
                cells = "  ".join(f"{k} {sm[k]:.4f}" for k in names if k in sm)
                lines.append(f"    {key:<26} {cells}")
    return lines


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from automl.training.run import DASK_TRAINING_ROWS, MIN_TIME_BUDGET

    p = argparse.ArgumentParser(
        prog="automl", description="Easel AutoML: train, inspect and use models from tables."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workspace",
        default=None,
        help="workspace folder (default: $EASEL_WORKSPACE or ./workspace)",
    )
    common.add_argument(
        "--catalog",
        default=None,
        metavar="URL",
        help="the workspace catalog on PostgreSQL, shared by several servers: "
        "postgresql://USER@HOST:PORT/DB, its password in $PGPASSWORD (default: $EASEL_CATALOG, "
        "else catalog.sqlite in the workspace folder)",
    )
    common.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="keep datasets and models on S3, shared by several servers: s3://BUCKET/PREFIX, "
        "keys from the AWS settings, an S3-compatible server in $EASEL_STORE_ENDPOINT_URL "
        "(default: $EASEL_STORE, else the workspace folder)",
    )
    common.add_argument(
        "--user",
        default=None,
        metavar="NAME",
        help="whose work this is (required once the workspace has users); OWNER/NAME names "
        "a dataset another user shared with you",
    )
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--table", default=None, help="database table (schema.table allowed)")
    source.add_argument("--query", default=None, help="one read-only SELECT query")
    source.add_argument("--sheet", default=None, help="Excel sheet name")
    source.add_argument("--limit", type=int, default=None, help="read at most this many rows")
    source.add_argument(
        "--password-env",
        default=None,
        metavar="VAR",
        help="read the database password from this environment variable (never type it here)",
    )
    source.add_argument(
        "--endpoint-url", default=None, help="S3-compatible endpoint (e.g. http://host:9000)"
    )
    source.add_argument(
        "--aws-settings",
        dest="server_credentials",
        action="store_true",
        help="read object storage with this machine's AWS settings (AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, an instance role)",
    )
    source.add_argument(
        "--anonymous", action="store_true", help="read a public bucket without any keys"
    )
    sub = p.add_subparsers(dest="command", required=True)
    data_help = (
        "data: a file (CSV/TSV, Parquet, JSON, Excel), a database URL with --table/--query, "
        "an s3:// URI, or dataset:NAME[@VERSION] from the workspace"
    )

    im = sub.add_parser(
        "import", parents=[common, source], help="import a source as a dataset in the workspace"
    )
    im.add_argument("source", help="a file path, a SQLAlchemy URL, or an s3:// URI")
    im.add_argument("--name", required=True, help="dataset name (re-importing adds a version)")
    im.set_defaults(func=cmd_import)

    ds = sub.add_parser("datasets", help="list, show or delete datasets in the workspace")
    dsub = ds.add_subparsers(dest="action", required=True)
    dl = dsub.add_parser("list", parents=[common], help="every dataset, newest version")
    dl.set_defaults(func=cmd_datasets_list)
    dsh = dsub.add_parser("show", parents=[common], help="version, counts, schema and preview")
    dsh.add_argument("name", help="NAME or NAME@VERSION")
    dsh.add_argument("--rows", type=int, default=10, help="preview rows")
    dsh.set_defaults(func=cmd_datasets_show)
    dd = dsub.add_parser("delete", parents=[common], help="delete a dataset (all versions)")
    dd.add_argument("name", help="NAME or NAME@VERSION")
    dd.add_argument("--version", type=_version, default=None, help="delete only this version")
    dd.set_defaults(func=cmd_datasets_delete)

    wsp = sub.add_parser("workspace", help="back up or restore a whole workspace")
    wsub = wsp.add_subparsers(dest="action", required=True)
    wb = wsub.add_parser(
        "backup",
        parents=[common],
        help="write the catalog, datasets, models and predictions to one .tar.gz file (safe "
        "while the app and builds run)",
    )
    wb.add_argument("--out", required=True, metavar="FILE", help="the backup file to write")
    wb.set_defaults(func=cmd_workspace_backup)
    wr = wsub.add_parser(
        "restore",
        parents=[common],
        help="restore a backup into --workspace (a new or empty folder), checking it first",
    )
    wr.add_argument("file", help="a backup written by 'automl workspace backup'")
    wr.add_argument(
        "--force",
        action="store_true",
        help="replace a workspace that already has datasets, models or builds",
    )
    wr.set_defaults(func=cmd_workspace_restore)

    j = sub.add_parser("join", parents=[common], help="join two datasets into a new one")
    j.add_argument("left", help="left dataset: NAME or NAME@VERSION")
    j.add_argument("right", help="right dataset: NAME or NAME@VERSION")
    j.add_argument(
        "--on",
        required=True,
        metavar="KEY[,KEY]",
        help="key columns; LEFT=RIGHT when the names differ (e.g. cust_id=customer_id)",
    )
    j.add_argument("--how", choices=["inner", "left", "right", "outer"], default="inner")
    j.add_argument("--name", required=True, help="name of the joined dataset")
    j.set_defaults(func=cmd_join)

    pf = sub.add_parser(
        "profile", parents=[common, source], help="data exploration report (HTML) of a table"
    )
    pf.add_argument("data", help=data_help)
    pf.add_argument("--target", default=None, help="the column you will predict (optional)")
    pf.add_argument("--out", required=True, help="HTML file to write")
    pf.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    pf.set_defaults(func=cmd_profile)

    rp = sub.add_parser(
        "report", parents=[common], help="performance report (HTML) of a trained model"
    )
    rp.add_argument("model", help=MODEL_HELP)
    rp.add_argument("--out", required=True, help="HTML file to write")
    rp.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    rp.set_defaults(func=cmd_report)

    c = sub.add_parser(
        "clean", parents=[common], help="find and fix missing values, outliers, duplicates"
    )
    c.add_argument("dataset", help="dataset: NAME or NAME@VERSION")
    c.add_argument("--auto", action="store_true", help="apply the proposed fixes")
    c.add_argument("--name", default=None, help="name of the cleaned dataset (with --auto)")
    c.add_argument("--target", default=None, help="target column: never filled in")
    c.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="ID=ACTION",
        help="change one fix, e.g. missing:age=mean, outliers:income=keep, "
        "missing:city=constant:unknown",
    )
    c.set_defaults(func=cmd_clean)

    t = sub.add_parser("train", parents=[common, source], help="train a model on data")
    t.add_argument("data", help=data_help)
    t.add_argument("--target", required=True, help="the column to predict")
    t.add_argument("--out", required=True, help="directory to write the model to")
    t.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help=f"seconds for the whole command: reading the data, training, writing the model and "
        f"its reports (at least {MIN_TIME_BUDGET:g}; default: the preset's)",
    )
    t.add_argument(
        "--max-trials",
        type=int,
        default=None,
        help="stop the search after this many trials (the same data, seed and max trials give "
        "the same model on any machine)",
    )
    t.add_argument("--preset", default="quick", help="quick (default) or standard")
    t.add_argument(
        "--task", choices=["binary", "multiclass", "regression", "timeseries"], default=None
    )
    t.add_argument(
        "--time-column", default=None, help="time series: the column with dates or times"
    )
    t.add_argument(
        "--series",
        action="append",
        default=None,
        metavar="COLUMN",
        help="time series: column(s) that tell the series apart, e.g. store (repeatable)",
    )
    t.add_argument("--horizon", type=int, default=None, help="time series: periods to forecast")
    t.add_argument(
        "--quantiles",
        default=None,
        metavar="Q,Q,...",
        help="time series: the forecast's quantiles, each between 0 and 1 (default 0.1,0.5,0.9: "
        "columns p10, p50, p90)",
    )
    t.add_argument(
        "--backtests",
        type=int,
        default=None,
        metavar="N",
        help="time series: rolling windows before the held-out periods on which the forecast is "
        "checked and the model chosen (default 3, fewer when the history is short)",
    )
    t.add_argument(
        "--future-columns",
        default=None,
        metavar="COL,...",
        help="time series: columns whose future values are known ahead (a plan: price, "
        "promotion ...), used at their own period; forecasts then need them (automl forecast "
        "--future). Default: every column that changes over time and holds numbers, yes/no "
        "values or categories; none for none (the others are used as past values only)",
    )
    t.add_argument(
        "--holidays",
        default=None,
        metavar="COUNTRY[:REGION]",
        help="time series: public holidays as features, e.g. US or US:CA (automl holidays "
        "lists the codes)",
    )
    t.add_argument(
        "--fill",
        choices=["skip", "zero", "interpolate"],
        default=None,
        help="time series: periods without a target value (gaps, empty values): skip them "
        "(default), take them as 0 (sales not recorded), or interpolate",
    )
    t.add_argument(
        "--no-ensemble", action="store_true", help="do not average the best trials (one model)"
    )
    t.add_argument(
        "--aggregate",
        choices=["sum", "mean"],
        default=None,
        help="time series: combine several rows in one period by adding up or averaging",
    )
    t.add_argument("--metric", default=None, help="metric to optimize (e.g. roc_auc, f1, mae)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--exclude", nargs="*", default=[], metavar="COLUMN", help="columns to leave out"
    )
    t.add_argument(
        "--column-type",
        action="append",
        default=[],
        metavar="COLUMN=TYPE",
        help="override a detected column type (numeric, categorical, boolean, datetime, text, ...)",
    )
    t.add_argument("--positive-label", default=None, help="the positive class of a binary target")
    t.add_argument(
        "--recipe",
        default=None,
        metavar="FILE",
        help="preparation recipe (JSON) applied before training and replayed at prediction",
    )
    t.add_argument("--quiet", action="store_true", help="no progress on stderr")
    t.add_argument("--cluster", default=None, metavar="ADDRESS", help=CLUSTER_HELP)
    t.add_argument(
        "--dask-training-rows",
        type=int,
        default=None,
        metavar="N",
        help="with --cluster: a table of more than N rows searches on a sample and trains its "
        "final LightGBM model on every row on the cluster's workers (LightGBM's Dask training; "
        f"default {DASK_TRAINING_ROWS:,}: below it one computer does the whole build well)",
    )
    t.add_argument(
        "--no-reports",
        action="store_true",
        help="skip writing the data and performance reports into the model folder",
    )
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", parents=[common], help="score a file with a trained model")
    pr.add_argument("model", help=MODEL_HELP)
    pr.add_argument("data", help="file with the rows to score, or dataset:NAME[@VERSION]")
    pr.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    pr.add_argument("--chunk-rows", type=int, help="rows scored at a time (default: 50,000)")
    pr.add_argument(
        "--reasons",
        type=int,
        default=0,
        metavar="N",
        help="add a 'reasons' column with each row's N most influential columns",
    )
    pr.add_argument("--quiet", action="store_true")
    pr.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help=CLUSTER_HELP + "; DATA may then be a folder of parts or an s3:// prefix, and OUT a "
        "folder (ending in /) of Parquet parts",
    )
    pr.add_argument(
        "--endpoint-url",
        default=None,
        help="with --cluster and s3:// data: an S3-compatible endpoint (e.g. http://host:9000); "
        "the workers read with their own AWS settings",
    )
    pr.add_argument(
        "--anonymous", action="store_true", help="with --cluster: read a public bucket without keys"
    )
    pr.set_defaults(func=cmd_predict)
    pr.epilog = (
        "Also writes OUT.drift.json: how far the rows moved from the rows the model learned "
        "from (see automl drift)."
    )

    fc = sub.add_parser("forecast", parents=[common], help="forecast with a time series model")
    fc.add_argument("model", help=MODEL_HELP)
    fc.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    fc.add_argument(
        "--history",
        default=None,
        help="newer history to forecast from (file or dataset:NAME); default: the training data",
    )
    fc.add_argument(
        "--future",
        default=None,
        metavar="FILE",
        help="the future values of the model's future-value columns (file or dataset:NAME): "
        "the series ID columns, the time column and those columns, one row per series and "
        "period ahead; needed when the model has such columns (automl info lists them)",
    )
    fc.add_argument(
        "--future-template",
        action="store_true",
        help="write to --out the table of future values the forecast needs, each at its last "
        "known value, to edit and give back with --future (instead of forecasting)",
    )
    fc.add_argument("--horizon", type=int, default=None, help="periods ahead (default: as built)")
    fc.add_argument("--series", action="append", default=None, help="only these series")
    fc.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help=CLUSTER_HELP + "; the series are shared out to the workers, each forecasting its "
        "share with the same model (the same table as without it)",
    )
    fc.set_defaults(func=cmd_forecast)

    ho = sub.add_parser(
        "holidays", help="the country codes of the holiday calendar (time series --holidays)"
    )
    ho.add_argument("country", nargs="?", default=None, help="list this country's regions")
    ho.set_defaults(func=cmd_holidays)

    ex = sub.add_parser(
        "export",
        parents=[common, source],
        help="write a model's bundle for data scientists (zip): the model folder, predict.py, "
        "a notebook, requirements.txt",
    )
    ex.add_argument("model", help=MODEL_HELP)
    ex.add_argument("--out", required=True, metavar="FILE", help="the bundle to write (.zip)")
    ex.add_argument(
        "--include-data",
        action="store_true",
        help="also put the training rows in the bundle, so its notebook can retrain the model "
        "(they leave with the bundle: only when you ask)",
    )
    ex.add_argument(
        "--data",
        default=None,
        help="with --include-data: the rows the model was trained on (needed for a model "
        "folder; a workspace model's own training data is used by default)",
    )
    ex.set_defaults(func=cmd_export)

    imp = sub.add_parser(
        "import-model",
        parents=[common],
        help="add the model of an export bundle to the workspace as a new version",
    )
    imp.add_argument("bundle", help="a bundle written by automl export (.zip)")
    imp.add_argument(
        "--name", default=None, help="the model's name here (default: the name in the bundle)"
    )
    imp.set_defaults(func=cmd_import_model)

    i = sub.add_parser(
        "info",
        parents=[common],
        help="show a model: task, hold-out metrics, columns, leaderboard",
    )
    i.add_argument("model", help=MODEL_HELP)
    i.add_argument("--json", action="store_true", help="print the metadata as JSON")
    i.set_defaults(func=cmd_info)

    u = sub.add_parser(
        "use", parents=[common], help="make a kept leaderboard candidate the model's default"
    )
    u.add_argument("model", help=MODEL_HELP)
    u.add_argument("candidate", type=int, help="candidate id from the leaderboard")
    u.set_defaults(func=cmd_use)

    v = sub.add_parser(
        "preview", parents=[common, source], help="estimated score and column impact in seconds"
    )
    v.add_argument("data", help=data_help)
    v.add_argument("--target", required=True)
    v.add_argument("--task", choices=["binary", "multiclass", "regression"], default=None)
    v.add_argument("--metric", default=None)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_preview)
    from automl.automations.commands import add_automation_commands
    from automl.models_cli import add_model_commands
    from automl.serve.commands import add_serve_commands
    from automl.team_cli import add_team_commands

    add_model_commands(sub, common)
    add_team_commands(sub, common)
    add_serve_commands(sub, common)
    add_automation_commands(sub, common, _workspace)
    return p


def _version(text: str) -> int:
    """A dataset version number (argparse type): 1, 2, 3..."""
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        shown = text if len(text) <= 24 else f"{text[:20]}..."
        raise argparse.ArgumentTypeError(f"a version is a number like 1, 2 or 3, not '{shown}'")
    return int(text)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _use_catalog(url: str | None) -> None:
    """``--catalog URL``: the catalog for this command and the processes it starts (builds,
    services), as $EASEL_CATALOG. A password typed on a command line shows in the process list
    and the shell's history, so it is refused there."""
    if url is None:
        return
    import sqlalchemy as sa

    from automl.errors import ParameterError
    from automl.workspace.db import CATALOG_ENV, check_catalog_url

    url = check_catalog_url(url, "--catalog")
    if sa.engine.make_url(url).password is not None:
        raise ParameterError(
            "Leave the password out of --catalog (a command line is visible to other users of "
            f"this computer): put it in $PGPASSWORD, or give the whole address in ${CATALOG_ENV}."
        )
    os.environ[CATALOG_ENV] = url


def _use_store(url: str | None) -> None:
    """``--store URL``: the store for this command and the processes it starts, as
    $EASEL_STORE (checked first: keys in the address are refused)."""
    if url is None:
        return
    from automl.workspace.store import STORE_ENV, check_store_url

    check_store_url(url, "--store")
    os.environ[STORE_ENV] = url.strip()


def _catalog_message(args: argparse.Namespace, exc: sqlite3.DatabaseError) -> str:
    from automl.workspace.catalog import ENV_VAR

    root = getattr(args, "workspace", None) or os.environ.get(ENV_VAR) or "workspace"
    catalog = Path(root) / "catalog.sqlite"
    if "locked" in str(exc):
        return (
            f"The workspace catalog '{catalog}' stayed busy (another Easel process is writing to "
            "it). Try again in a moment."
        )
    return (
        f"The workspace catalog '{catalog}' cannot be read: it is damaged or is not an Easel "
        "catalog. Use another workspace folder (--workspace), or restore the file from a backup."
    )


def _silence_closed_pipe() -> None:
    """The reader of our output left (``automl ... | head``): send what is still buffered, and
    anything printed later, nowhere, so that Python's exit prints no error about it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    from automl.errors import EaselError, EaselWarning
    from automl.memory import return_freed_memory

    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # --help or a usage error printed: a closed pipe shows here
            sys.stdout.flush()
            raise
        if args.command != "predict":
            # batch scoring holds about one chunk at a time and frees the same sizes chunk
            # after chunk: kept for the next chunk, that memory is not faulted in again (600,000
            # rows of the interactions table: 3.5 instead of 3.9 s, 1.1 instead of 1.7
            # CPU-seconds in the system, peak RSS 1.65 instead of 1.5 GB)
            return_freed_memory()
        warnings.simplefilter("ignore", EaselWarning)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            _use_catalog(getattr(args, "catalog", None))
            _use_store(getattr(args, "store", None))
            code = int(args.func(args))
            sys.stdout.flush()  # a closed pipe shows here, not at exit
            return code
        except EaselError as exc:
            _err(str(exc))
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            _err("interrupted; nothing was written.")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            raise
        except OSError as exc:  # a path or disk problem: name the user's path, never a temporary
            _err(os_error_message(exc))
            return EXIT_USER_ERROR
        except sqlite3.DatabaseError as exc:
            _err(_catalog_message(args, exc))
            return EXIT_USER_ERROR
    except BrokenPipeError:
        _silence_closed_pipe()
        return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
