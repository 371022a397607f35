"""The model commands of the ``automl`` command line: ``models list``, ``models stages`` and
``models promote`` (a version's stage: draft, staging, production, archived), and ``drift``
(how far rows moved from the rows a model learned from).

The ``models`` commands act on the workspace's catalog as ``--user`` (required in team mode);
changing a stage needs the permission to build, and only the model's owner or an admin may do it.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from automl.errors import ParameterError
from automl.team_cli import MODEL_HELP, model_folder, user_workspace


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def _version(text: str) -> int:
    """A model version number (argparse type): 1, 2, 3..."""
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        shown = text if len(text) <= 24 else f"{text[:20]}..."
        raise argparse.ArgumentTypeError(f"a version is a number like 1, 2 or 3, not '{shown}'")
    return int(text)


def cmd_models_list(args: argparse.Namespace) -> int:
    ws = user_workspace(args, "predict")
    recs = ws.list_models() + ws.shared_models()
    if not recs:
        print("no models yet: build one with 'automl train' or on the Build page")
        return 0
    width = max(len(ws.key(r)) for r in recs)
    print(f"{'name':<{width}}  version  {'stage':<10}  {'built':<16}  predicts")
    for r in recs:
        print(
            f"{ws.key(r):<{width}}  {r.version:>7}  {r.stage:<10}  {_when(r.created_at)}  "
            f"{r.target}"
        )
    return 0


def cmd_models_stages(args: argparse.Namespace) -> int:
    ws = user_workspace(args, "predict")
    versions = ws.model_versions(args.name)
    if not versions:
        ws.get_model(args.name)  # the clear "no such model" error
    for r in versions:
        print(f"version {r.version:<5} {r.stage:<10} built {_when(r.created_at)}")
    history = ws.stage_history(args.name)
    if history:
        print("history (newest first):")
    for h in history:
        who = h["user"] or "(personal mode)"
        print(f"  {_when(h['at'])}  {who:<16} version {h['version']}: {h['detail']}")
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    ws = user_workspace(args, "build")
    change = ws.set_stage(args.name, args.version, args.stage)
    print(f"{args.name} version {change.version} is now {change.stage} (was {change.before})")
    if change.archived is not None:
        print(f"version {change.archived}, in production until now, is archived")
    return 0


def drift_lines(report: Any) -> list[str]:
    """A drift report as printed by ``automl drift`` and ``automl predict``."""
    lines = [f"drift: {report.summary()}"]
    for c in report.columns[:10]:
        extra = []
        if c.out_of_range_share:
            extra.append(f"{c.out_of_range_share:.1%} outside the training range")
        if c.unseen_share:
            extra.append(f"{c.unseen_share:.1%} new categories")
        if c.missing_share != c.train_missing_share:
            extra.append(f"missing {c.missing_share:.1%} (training {c.train_missing_share:.1%})")
        note = f"  ({'; '.join(extra)})" if extra else ""
        lines.append(f"  {c.name:<28} {c.level:<7} change score {c.psi:.3f}{note}")
    return lines


def cmd_drift(args: argparse.Namespace) -> int:
    import automl
    from automl.batch import drift_file

    if args.chunk_rows < 1:
        raise ParameterError(
            f"--chunk-rows must be a positive number of rows. Got {args.chunk_rows}."
        )
    model = automl.load(model_folder(args))
    data = args.data
    if data.startswith("dataset:"):  # a catalog dataset is a Parquet file: read it in chunks
        ws = user_workspace(args, "import")
        name, version = ws.resolve_dataset(data[len("dataset:") :])
        data = str(ws.dataset_file(ws.get_dataset(name, version)))
    report = drift_file(model, data, args.chunk_rows)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print("\n".join(drift_lines(report)))
    return 0


def add_model_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    from automl.workspace.catalog import STAGES

    mo = sub.add_parser("models", help="the workspace's models: versions and their stages")
    msub = mo.add_subparsers(dest="models_command", required=True)
    ml = msub.add_parser("list", parents=[common], help="every model version and its stage")
    ml.set_defaults(func=cmd_models_list)
    ms = msub.add_parser(
        "stages", parents=[common], help="one model's versions, stages and who changed them"
    )
    ms.add_argument("name", help="model name (OWNER/NAME for one shared with you)")
    ms.set_defaults(func=cmd_models_stages)
    mp = msub.add_parser(
        "promote",
        parents=[common],
        help="move a version to staging, production or archived (the version in production "
        "until then is archived; roll back by promoting it again)",
    )
    mp.add_argument("name", help="model name (an admin may give OWNER/NAME)")
    mp.add_argument("version", type=_version, help="the version number")
    mp.add_argument("--stage", required=True, choices=[s for s in STAGES if s != "draft"])
    mp.set_defaults(func=cmd_models_promote)

    dr = sub.add_parser(
        "drift",
        parents=[common],
        help="how far rows moved from the rows a model learned from (none, some, severe)",
    )
    dr.add_argument("model", help=MODEL_HELP)
    dr.add_argument("data", help="file with rows to check, or dataset:NAME[@VERSION]")
    dr.add_argument("--json", action="store_true", help="print the report as JSON")
    dr.add_argument("--chunk-rows", type=int, default=200_000, help="rows read at a time")
    dr.set_defaults(func=cmd_drift)
