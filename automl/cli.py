"""The ``automl`` command line: a thin front door onto the same public API as Python.

User errors exit with status 2 and one paragraph on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


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


def _read(path: str) -> pd.DataFrame:
    from connectors import read_file

    return read_file(path)


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
def cmd_train(args: argparse.Namespace) -> int:
    import automl

    df = _read(args.data)
    progress = _Progress(args.quiet)
    model = automl.AutoML(
        time_budget=args.time_budget,
        preset=args.preset,
        seed=args.seed,
        task=args.task,
        metric=args.metric,
        column_types=_column_types(args.column_type),
        exclude_columns=args.exclude,
        positive_label=args.positive_label,
        progress=progress,
    ).fit(df, target=args.target)
    out = model.save(args.out)
    m = model.model_
    print(f"saved model to {out}", file=sys.stderr)
    print(_summary(m))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import automl
    from automl.batch import predict_file

    if args.chunk_rows < 1:
        raise _usage(f"--chunk-rows must be a positive number of rows. Got {args.chunk_rows}.")
    model = automl.load(args.model)
    quiet = args.quiet

    def progress(rows: int) -> None:
        if not quiet:
            print(f"scored {rows:,} rows", file=sys.stderr, flush=True)

    result = predict_file(model, args.data, args.out, args.chunk_rows, progress)
    for msg in result.report.messages():
        print(f"warning: {msg}", file=sys.stderr)
    print(f"wrote {result.rows:,} predictions to {result.output} in {result.seconds:.1f} s")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import automl

    m = automl.load(args.model)
    if args.json:
        info = {k: v for k, v in m.meta.items() if k != "preprocessing"}
        print(json.dumps(info, indent=1, default=str))
    else:
        print(_summary(m, full=True))
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    import automl

    m = automl.load(args.model)
    m.set_default(args.candidate)
    m.save(args.model)
    print(
        f"candidate {args.candidate} "
        f"({m.meta['kept'][str(args.candidate)]['candidate']}) now predicts"
    )
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    import automl

    df = _read(args.data)
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


def _summary(m: Any, full: bool = False) -> str:
    meta = m.meta
    lines = [
        f"target: {m.target}   task: {m.task} ({meta['target']['reason']})",
        f"metric optimized: {meta['metric']}   validation: {meta['validation']}",
        f"hold-out: {meta['holdout_description']}",
        "hold-out metrics of the default candidate:",
    ]
    lines += [f"  {k:<18} {v:.4f}" for k, v in m.metrics.items()]
    lines.append(f"final model: {meta['refit_note']}")
    if m.classes:
        lines.append(f"classes: {', '.join(map(str, m.classes))}")
    if full:
        used = [
            c for c in meta["columns"] if c["type"] not in ("identifier", "constant", "excluded")
        ]
        ignored = [c for c in meta["columns"] if c not in used]
        lines.append(f"columns used ({len(used)}):")
        lines += [f"  {c['name']:<28} {c['type']:<12} {c['reason']}" for c in used]
        lines.append(f"columns ignored ({len(ignored)}):")
        lines += [f"  {c['name']:<28} {c['type']:<12} {c['reason']}" for c in ignored]
        impact = m.column_impact.head(10)
        if len(impact):
            lines.append("column impact (hold-out, permutation):")
            lines += [f"  {r.column:<28} {r.impact:6.1%}" for r in impact.itertuples()]
        for w in meta.get("warnings", []):
            lines.append(f"warning: {w}")
        lines.append(
            f"built in {meta.get('fit_seconds', 0):.1f} s (budget {meta['time_budget']:g} s, "
            f"preset {meta['preset']}, seed {meta['seed']})"
        )
    board = m.leaderboard.drop(columns=["params"])
    lines.append("leaderboard:")
    lines.append(board.to_string(index=False, max_rows=40 if full else 10))
    return "\n".join(lines)


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="automl", description="Easel AutoML: train, inspect and use models from tables."
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a data file")
    t.add_argument("data", help="CSV/TSV, Parquet, JSON or Excel file")
    t.add_argument("--target", required=True, help="the column to predict")
    t.add_argument("--out", required=True, help="directory to write the model to")
    t.add_argument("--time-budget", type=float, default=None, help="seconds for the whole build")
    t.add_argument("--preset", default="quick", help="quick (default) or standard")
    t.add_argument("--task", choices=["binary", "multiclass", "regression"], default=None)
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
    t.add_argument("--quiet", action="store_true", help="no progress on stderr")
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", help="score a file with a trained model")
    pr.add_argument("model", help="model directory")
    pr.add_argument("data", help="file with the rows to score")
    pr.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    pr.add_argument("--chunk-rows", type=int, default=200_000, help="rows scored at a time")
    pr.add_argument("--quiet", action="store_true")
    pr.set_defaults(func=cmd_predict)

    i = sub.add_parser("info", help="show a model: task, hold-out metrics, columns, leaderboard")
    i.add_argument("model")
    i.add_argument("--json", action="store_true", help="print the metadata as JSON")
    i.set_defaults(func=cmd_info)

    u = sub.add_parser("use", help="make a kept leaderboard candidate the model's default")
    u.add_argument("model")
    u.add_argument("candidate", type=int, help="candidate id from the leaderboard")
    u.set_defaults(func=cmd_use)

    v = sub.add_parser("preview", help="estimated score and column impact in seconds")
    v.add_argument("data")
    v.add_argument("--target", required=True)
    v.add_argument("--task", choices=["binary", "multiclass", "regression"], default=None)
    v.add_argument("--metric", default=None)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_preview)
    return p


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from automl.errors import EaselError, EaselWarning

    args = build_parser().parse_args(argv)
    warnings.simplefilter("ignore", EaselWarning)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.func(args))
    except EaselError as exc:
        _err(str(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _err("interrupted; nothing was written.")
        return EXIT_INTERRUPTED
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        _err(f"{exc.strerror}: '{Path(exc.filename or '').name}'. Check the path and permissions.")
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
