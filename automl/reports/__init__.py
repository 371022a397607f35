"""Reports an analyst reads before trusting a model: the data exploration report and the model
performance report, each as JSON (``to_dict``) and as one self-contained HTML file (``to_html``).

>>> from automl.reports import data_report, performance_report
>>> performance_report(model).to_html("churn-performance.html")  # doctest: +SKIP
"""

from __future__ import annotations

from automl.reports._base import Report, Section
from automl.reports.data import data_report
from automl.reports.performance import performance_report

__all__ = ["Report", "Section", "data_report", "performance_report"]
