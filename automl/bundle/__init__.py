"""The export bundle: a model with what a data scientist needs to use and check it outside
Easel, and bringing a bundle back into a workspace as a new model version.

A bundle is one zip file::

    model/                  the model folder as Easel saved it (JSON, model text files)
    predict.py              python predict.py input.csv output.csv (needs only easel installed)
    model.ipynb             the model's hold-out metrics, leaderboard and reasons; with the
                            training rows, the winning configuration retrained in plain code
    requirements.txt        exact versions of the libraries the two need (Easel itself is
                            installed from its source: see the README)
    README.md               what is in the bundle and how to use it
    bundle.json             the model's name and version, where it came from
    data/training.parquet   only when asked for: the rows the model was trained on

>>> from automl.bundle import export_bundle, import_bundle
>>> export_bundle("churn_model", "churn.zip", "churn model")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import platform
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import pandas as pd

from automl import _versions
from automl._version import __version__
from automl.artifact import HOLDOUT_FILE, parquet_safe
from automl.atomic import atomic_path, check_output_file, temp_path
from automl.bundle._notebook import notebook
from automl.bundle._text import DATA_FILE, MODEL_FOLDER, md
from automl.bundle._unpack import MANIFEST, plan, read_manifest, refused, unpack
from automl.errors import DataError, EaselError, ParameterError
from automl.model import Model
from automl.words import rows_text
from automl.workspace.catalog import (
    DatasetRecord,
    ModelRecord,
    Workspace,
    check_name,
    model_reference,
    zip_model_folder,
)

BUNDLE_FORMAT = 1
EASEL = "easel"  # Easel's distribution name: never a line of requirements.txt (see requirements)
IMPORTED = "imported from "  # how the catalog's dataset column names an imported model's source
# what the notebook and predict.py import, besides Easel's own dependencies: a Jupyter kernel
NOTEBOOK_PACKAGES = ("ipykernel",)


def write_bundle(
    folder: str | Path,
    out: IO[bytes],
    title: str,
    data: pd.DataFrame | None = None,
    source: dict[str, Any] | None = None,
) -> None:
    """Write the bundle of the model in ``folder`` to the binary file ``out``.

    ``title`` names the model in the notebook and README ("churn model version 3"); ``data``
    are the rows it was trained on (only when the user asked for them: they leave with the
    bundle); ``source`` is what ``bundle.json`` says of where the model came from (its name,
    version and dataset). The model is loaded first, so a damaged model is never exported."""
    folder = Path(folder)
    model = Model.load(folder)
    meta = model.meta
    if data is not None:
        check_training_rows(model, data)
    has_holdout = (folder / HOLDOUT_FILE).is_file()
    manifest = {
        "format": BUNDLE_FORMAT,
        "title": title,
        **(source or {}),
        "target": meta.target.name,
        "problem_type": meta.problem_type,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "easel": __version__,
        "includes_training_data": data is not None,
    }
    texts = {
        "predict.py": PREDICT_PY if not meta.is_forecast else FORECAST_PY,
        "model.ipynb": notebook(meta, title, data is not None, has_holdout, __version__),
        "requirements.txt": requirements(),
        "README.md": readme(title, meta.target.name, meta.is_forecast, data),
        MANIFEST: json.dumps(manifest, indent=1, default=str) + "\n",
    }
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zip_model_folder(zf, folder, MODEL_FOLDER)
        for name, text in texts.items():
            zf.writestr(name, text)
        if data is not None:  # Parquet is compressed already: stored as it is
            with zf.open(zipfile.ZipInfo(DATA_FILE), "w", force_zip64=True) as fh:
                parquet_safe(data).to_parquet(fh, index=False)


def bundle_bytes(
    folder: str | Path,
    title: str,
    data: pd.DataFrame | None = None,
    source: dict[str, Any] | None = None,
) -> bytes:
    """The bundle as bytes (for a download button)."""
    buf = io.BytesIO()
    write_bundle(folder, buf, title, data, source)
    return buf.getvalue()


def export_bundle(
    folder: str | Path,
    path: str | Path,
    title: str,
    data: pd.DataFrame | None = None,
    source: dict[str, Any] | None = None,
) -> Path:
    """Write the bundle to the file ``path`` (a .zip) through a temporary: a failure leaves
    nothing half-written."""
    target = check_bundle_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        write_bundle(folder, fh, title, data, source)
    return target


def check_bundle_path(path: str | Path, keep: tuple[str | Path, ...] = ()) -> Path:
    """An output path for a bundle: a .zip file that can be written, none of the ``keep``
    files (the inputs), checked before any work."""
    target = Path(path)
    if target.suffix.lower() != ".zip":
        raise ParameterError(
            f"The bundle is a zip file: give --out a name that ends in .zip. Got '{target}'."
        )
    return check_output_file(target, "bundle file (--out)", keep=keep)


def check_training_rows(model: Model, data: pd.DataFrame) -> None:
    """The rows given as the model's training data have what the notebook needs: the target,
    the raw columns, and (without a recipe, which may drop rows) as many rows as the build."""
    name = model.target
    missing = [c for c in [name, *model.input_columns] if c not in set(map(str, data.columns))]
    if missing:
        raise DataError(
            f"These rows are not the ones the model was trained on: they lack the column(s) "
            f"{', '.join(missing[:10])}. Give the data the model was built from."
        )
    total = model.rows.total
    if not model.meta.recipe and not model.is_forecast and len(data) != total:
        raise DataError(
            f"These rows are not the ones the model was trained on: they are "
            f"{rows_text(len(data))}, and the model was built from {rows_text(total)}. The data "
            "changed since the build; export without the training data, or build the model "
            "again."
        )


def requirements() -> str:
    """``requirements.txt``: the exact installed versions of the libraries predict.py and the
    notebook import (those a model loads with) and of the notebook's kernel. Easel itself is not
    named: the project called ``easel`` on PyPI is another one, so the comment at the top says
    how to install Easel from its source."""
    lines = [
        "# The libraries the notebook and predict.py need, at the exact versions installed where",
        f"# this bundle was exported (Python {platform.python_version()}).",
        *(f"# {line}" for line in _install_easel()),
    ]
    for name in _versions.PACKAGES + NOTEBOOK_PACKAGES:
        if name == EASEL:
            continue
        for dist in _versions.DISTRIBUTIONS.get(name, (name,)):
            try:
                lines.append(f"{dist}=={metadata.version(dist)}")
                break
            except metadata.PackageNotFoundError:
                continue
    return "\n".join(lines) + "\n"


def _install_easel() -> list[str]:
    """How to install Easel itself, in lines of the README and of requirements.txt."""
    return [
        f"Easel itself (version {__version__}) is not listed here: the project named '{EASEL}' on",
        "PyPI is a different one, so never `pip install easel`. After these libraries, install",
        f"Easel {__version__} from its source code (the folder with its pyproject.toml):",
        "    pip install /path/to/easel",
        "or from a wheel built there (`pip wheel --no-deps /path/to/easel`):",
        f"    pip install easel-{__version__}-py3-none-any.whl",
    ]


def readme(title: str, target: str, forecast: bool, data: pd.DataFrame | None) -> str:
    use = (
        "python predict.py history.csv forecast.csv [future.csv]   # the next periods, from "
        "newer history (future.csv: the planned values of the future-value columns, if any)"
        if forecast
        else "python predict.py input.csv output.csv   # the rows of input.csv with the answers"
    )
    held = (
        f"- `{DATA_FILE}`: the {rows_text(len(data))} the model was trained on. **They are your "
        "organisation's data: share this bundle only with people who may see them.**\n"
        if data is not None
        else "- No training rows: they were not asked for when the bundle was exported.\n"
    )
    easel = f"""## Installing Easel

The project named `{EASEL}` on PyPI is a different one: never `pip install {EASEL}`. Install
Easel {__version__} (the version that exported this bundle) from its source code, after the
libraries of `requirements.txt`:

```
pip install /path/to/easel       # the folder of Easel's source, with its pyproject.toml
# or build a wheel there once, and install that wheel wherever it is needed:
pip wheel --no-deps /path/to/easel
pip install easel-{__version__}-py3-none-any.whl
```"""
    return f"""# {md(title)}

An Easel model that predicts **{md(target)}**, exported with everything needed to use it and to
check it outside Easel.

## What is here

- `model/`: the model folder, as Easel saved it. `easel_model.json` holds the metadata (the
  columns, the hold-out metrics, every candidate's family and parameters, the preparation) and
  `candidates/` each kept model in its library's own format (LightGBM text, XGBoost JSON,
  coefficients in JSON, arrays in `.npz`). Nothing in it is pickled.
- `predict.py`: scores a CSV file with the model.
- `model.ipynb`: a notebook that loads the model, shows its hold-out metrics and leaderboard and
  explains a few predictions; with the training rows, it also retrains the winning
  configuration in plain LightGBM or scikit-learn code and compares its hold-out metric with
  the model's.
- `requirements.txt`: the exact versions of the libraries these need.
{held}
## Use

```
pip install -r requirements.txt
pip install /path/to/easel     # Easel {__version__} itself, from its source code (below)
{use}
jupyter notebook model.ipynb   # or open it in JupyterLab or VS Code
```

In Python: `import automl; model = automl.load("model"); model.predict(rows)`.

{easel}

## Back into Easel

`automl import-model THIS.zip --name NAME` adds the model to a workspace as a new version of
NAME. Only the model folder is taken; the model is checked before it is recorded.
"""


PREDICT_PY = '''"""Score a CSV file with the Easel model in this bundle.

    python predict.py input.csv output.csv

Needs only Easel (see README.md for how to install it). The output has the input's
columns and the model's answers: prediction (for categories also confidence and one
probability per category). The output may also be a .parquet file.
"""

import sys
from pathlib import Path

import automl
from automl.atomic import os_error_message
from automl.batch import predict_file
from automl.errors import EaselError

MODEL = Path(__file__).resolve().parent / "model"


def main(args):
    if len(args) != 2:
        print("usage: python predict.py input.csv output.csv", file=sys.stderr)
        return 2
    try:
        result = predict_file(automl.load(MODEL), args[0], args[1])
    except EaselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    for message in result.report.messages():
        print(f"warning: {message}", file=sys.stderr)
    print(f"wrote {result.rows:,} predictions to {result.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''

FORECAST_PY = '''"""Forecast the next periods with the Easel time series model in this bundle.

    python predict.py history.csv forecast.csv [future.csv]

history.csv: newer rows of the series, with the training data's columns (give "-" to forecast
from the end of the training data). future.csv: the planned values of the model's future-value
columns for every series and period ahead (needed when it has such columns). Needs only Easel
(see README.md for how to install it).
"""

import sys
from pathlib import Path

import automl
from automl.atomic import os_error_message
from automl.errors import EaselError
from automl.workspace.data import load_data

MODEL = Path(__file__).resolve().parent / "model"


def main(args):
    if len(args) not in (2, 3):
        print("usage: python predict.py history.csv forecast.csv [future.csv]", file=sys.stderr)
        return 2
    try:
        history = None if args[0] == "-" else load_data(args[0])
        future = load_data(args[2]) if len(args) == 3 else None
        out = automl.load(MODEL).forecast(history, future=future)
        out.to_csv(args[1], index=False)
    except EaselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {len(out):,} forecasts to {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


# ---------------------------------------------------------------------- the workspace
def training_rows(ws: Workspace, rec: ModelRecord) -> pd.DataFrame:
    """The rows a workspace model was trained on, as its build read them (raw rows when it
    replays a recipe); readable only when the dataset is readable by ``ws``'s user."""
    from automl.workspace.data import training_input

    ref = rec.dataset
    if ref.startswith(IMPORTED):
        raise DataError(
            f"Model '{rec.name}' version {rec.version} was imported from a bundle, so this "
            "workspace does not have its training data. Export it without the training data "
            "(or, with automl export, give the rows with --data)."
        )
    if rec.owner != ws.user and "/" not in ref:
        ref = f"{rec.owner}/{ref}"  # the owner's name for their own dataset
    gone = DataError(
        f"The training data of model '{rec.name}' version {rec.version} (dataset "
        f"'{ref if rec.dataset_version is None else f'{ref}@{rec.dataset_version}'}') is not "
        "available to you: it was deleted, or belongs to another user who did not share it. "
        "Export it without the training data (or, with automl export, give the rows with "
        "--data)."
    )
    try:
        name, version = ws.resolve_dataset(ref)
        versions = ws.dataset_versions(name)
    except EaselError:
        raise gone from None
    if not versions:
        raise gone
    version = rec.dataset_version or version or _only_version(rec, versions)
    try:
        df, recipe, _ = training_input(ws, name, version)
    except EaselError:
        raise gone from None
    if _recipe_of(ws, rec) and recipe is None:
        raise DataError(
            f"The raw rows model '{rec.name}' version {rec.version} was trained on are gone "
            "(the source of its prepared dataset was deleted), so the notebook could not "
            "replay its preparation. Export without the training data."
        )
    return df


def _only_version(rec: ModelRecord, versions: list[DatasetRecord]) -> int:
    """The dataset version a model recorded before the catalog kept versions (schema 3) was
    built from, when that is certain: the dataset's only version, made before the model."""
    if len(versions) == 1 and versions[0].created_at <= rec.created_at:
        return versions[0].version
    raise DataError(
        f"Model '{rec.name}' version {rec.version} was built before Easel recorded which version "
        f"of dataset '{rec.dataset}' a model learned from, and that dataset has changed since "
        "(it has other versions now), so Easel cannot tell which rows it was trained on. "
        "Export it without the training data (with automl export, you may give the rows with "
        "--data), or build the model again."
    )


def _recipe_of(ws: Workspace, rec: ModelRecord) -> Any:
    from automl.artifact import read_meta

    return read_meta(ws.model_dir(rec)).recipe


@dataclass
class Imported:
    """What :func:`import_bundle` did: the catalog record and the files it left out."""

    record: ModelRecord
    ignored: list[str] = field(default_factory=list)


def import_bundle(ws: Workspace, path: str | Path, name: str | None = None) -> Imported:
    """Bring the model of an export bundle into ``ws`` as a new version of ``name`` (default:
    the name in the bundle). The zip is read as hostile input (see :mod:`automl.bundle._unpack`),
    the model is unpacked into a hidden folder, loaded, checked and tried on a row before the
    catalog records it; on any failure nothing is left behind."""
    src = Path(path)
    shown = src.name
    if not src.is_file():
        raise ParameterError(
            f"There is no bundle file '{src}'. Give the .zip written by automl export (or by "
            "Export on the Models page)."
        )
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise refused(shown, "it is not a zip file, or it is damaged.") from None
    with zf:
        p = plan(zf, shown)
        manifest = read_manifest(zf, p)
        chosen = name if name is not None else _bundle_name(manifest, shown)
        name_, version, final = ws.new_model_path(chosen)
        tmp = temp_path(final)
        try:
            unpack(zf, p, tmp, shown)
            model = _checked(tmp, shown, p.root.rstrip("/") or "the bundle")
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    origin = manifest.get("dataset")
    label = f"{IMPORTED}{shown}" + (
        f" (dataset {origin})" if isinstance(origin, str) and len(origin) <= 100 else ""
    )
    try:
        rec = ws.add_model(name_, version, final, label, model, action="import")
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    return Imported(rec, p.ignored)


def _bundle_name(manifest: dict[str, Any], bundle: str) -> str:
    """The model name the bundle says, when it is one this workspace allows."""
    said = manifest.get("name")
    if not isinstance(said, str) or not said.strip():
        raise ParameterError(
            f"The bundle '{bundle}' does not say the model's name: give one with --name NAME."
        )
    try:
        return check_name(said, "model")
    except ParameterError:
        raise ParameterError(
            f"The bundle '{bundle}' names its model '{said[:64]}', which is not a model name "
            "Easel allows: give one with --name NAME."
        ) from None


_RETRAIN = re.compile(r"\s*Retrain the model\b[^.]*\.")  # the advice of Model.load's errors


def _checked(folder: Path, bundle: str, inside: str) -> Model:
    """The unpacked model, loaded (every file checked) and tried on one typical row. Messages
    name the bundle's own folder (``inside``), never the hidden folder it was unpacked to."""
    try:
        model = Model.load(folder)
    except EaselError as exc:
        text = str(exc).replace(f"'{folder}'", "the bundle").replace(str(folder), inside)
        # a bundle's model is not rebuilt here: the remedy is a new export of the original
        text = _RETRAIN.sub(" Export the bundle again from the workspace it came from.", text)
        raise refused(bundle, text[:1].lower() + text[1:]) from None
    try:
        if model.is_forecast:  # with the last known future values, if it reads any
            plan = model.future_template(1) if model.future_columns else None
            model.forecast(horizon=1, future=plan)
        else:
            row = pd.DataFrame([{f.name: f.value for f in model.input_form()}])
            model.predict(row)
    except Exception as exc:  # any failure on a typical row means a model that cannot serve
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise refused(
            bundle, f"its model does not predict ({detail}); its files do not fit together."
        ) from None
    return model


__all__ = [
    "Imported",
    "bundle_bytes",
    "check_bundle_path",
    "export_bundle",
    "import_bundle",
    "model_reference",
    "training_rows",
    "write_bundle",
]
