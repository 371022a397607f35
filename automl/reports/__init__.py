"""Reports an analyst reads before trusting a model: the data exploration report and the model
performance report, each as JSON (``to_dict``) and as one self-contained HTML file (``to_html``).

>>> from automl.reports import data_report, performance_report
>>> performance_report(model).to_html("churn-performance.html")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from automl.atomic import write_files
from automl.model import Model
from automl.reports._base import Report, Section, safe_figure
from automl.reports.data import data_report
from automl.reports.performance import performance_report

REPORTS_FOLDER = "reports"


def write_reports(model: Model, folder: Path, data: pd.DataFrame | None = None) -> None:
    """The performance report (``performance.html`` and ``.json``) and, given the training
    rows as ``data``, their data report (``data.html`` and ``.json``), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    perf = performance_report(model)
    perf.to_html(folder / "performance.html")
    write_files({folder / "performance.json": perf.to_json()})
    if data is not None:
        rep = data_report(data, model.target)
        rep.to_html(folder / "data.html")
        write_files({folder / "data.json": rep.to_json()})


def save_model(
    model: Model,
    path: str | os.PathLike[str],
    reports: bool = False,
    data: pd.DataFrame | None = None,
) -> Path:
    """Save ``model`` (atomically, see :meth:`Model.save`) with its reports in ``reports/``.

    ``reports=True`` writes the performance report and, given the training rows as ``data``,
    the data report. Re-saving a model that had reports (after ``set_default``, say) refreshes
    its performance report and keeps its data report (the data did not change)."""
    target = Path(path)
    old = target / REPORTS_FOLDER
    refresh = reports or (old / "performance.html").exists()

    def extras(folder: Path) -> None:
        new = folder / REPORTS_FOLDER
        if refresh:
            write_reports(model, new, data)
        if old.is_dir():
            for f in old.glob("data.*"):
                if not (new / f.name).exists():
                    new.mkdir(exist_ok=True)
                    shutil.copy2(f, new / f.name)

    return model.save(target, extras)


__all__ = [
    "Report",
    "Section",
    "data_report",
    "performance_report",
    "safe_figure",
    "save_model",
    "write_reports",
]
