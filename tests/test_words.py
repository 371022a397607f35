"""Words an analyst reads: counts with the right plural, values as people write them, progress
and notes without programmer shorthand."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import automl
from automl.coltypes import infer_column
from automl.errors import TargetError
from automl.progress import ProgressEvent
from automl.task import detect_task
from automl.words import plural, rows_text, show_value
from tests.conftest import make_table


def test_plural_and_values() -> None:
    assert rows_text(1) == "1 row" and rows_text(0) == "0 rows" and rows_text(2500) == "2,500 rows"
    assert plural(1, "series", "series") == "1 series" and plural(3, "column") == "3 columns"
    assert show_value(np.float64(5.0)) == "5" and show_value(np.int64(12)) == "12"
    assert show_value(0.125) == "0.125" and show_value(np.float64(1234.5)) == "1,234"
    assert show_value("yes") == "'yes'" and show_value(None) == "missing"
    assert show_value(np.datetime64("2024-01-31")) == "2024-01-31"
    assert show_value(pd.Timestamp("2024-01-31")) == "2024-01-31"
    assert show_value(np.bool_(True)) == "true" and show_value("x" * 50).endswith("...'")


def test_messages_show_values_not_python_reprs() -> None:
    reason = infer_column("rate", pd.Series([5.0] * 30, dtype="float64")).reason
    assert reason == "every value is 5"
    df = pd.DataFrame({"x": range(30), "y": np.float64(2.5)})
    with pytest.raises(TargetError) as err:
        detect_task(df, "y")
    assert "(2.5)" in str(err.value) and "np." not in str(err.value)
    few = pd.DataFrame({"x": range(30), "y": [np.nan] * 29 + [1.0]})
    few.loc[0, "y"] = 2.0
    with pytest.raises(TargetError, match="Only 2 rows have a value"):
        detect_task(few, "y")


def test_progress_and_preview_notes_in_plain_words() -> None:
    df = make_table(200, 4)
    events: list[ProgressEvent] = []
    automl.AutoML(time_budget=600, seed=0, max_trials=2, progress=events.append).fit(df, "churn")
    messages = [e.message for e in events]
    tried = [m for m in messages if m.startswith("Tried model")]
    assert len(tried) == 2
    assert all(re.fullmatch(r"Tried model \d \(.+\): ROC AUC \d\.\d{4}", m) for m in tried), tried
    assert not [m for m in messages if "=" in m or "fold(s)" in m or m[:1].islower()]
    notes = " ".join(automl.preview(df, "churn").notes)
    assert "early stopping" not in notes and "slightly optimistic" in notes
