import numpy as np
import pandas as pd
import pytest

from automl.errors import ParameterError, TargetError
from automl.task import MAX_CLASSES, detect_task


def frame(y, n_features=1):  # type: ignore[no-untyped-def]
    return pd.DataFrame({"x": np.arange(len(y)), "y": y})


def test_binary_from_strings_and_positive_label():
    df, info = detect_task(frame(["no", "yes"] * 20), "y")
    assert info.task == "binary" and info.positive_label == "yes"
    assert info.classes == ["no", "yes"]


def test_binary_minority_free_labels_pick_last_sorted():
    _, info = detect_task(frame(["cat", "dog"] * 20), "y")
    assert info.positive_label == "dog"


def test_explicit_positive_label():
    _, info = detect_task(frame(["no", "yes"] * 20), "y", positive_label="no")
    assert info.classes == ["yes", "no"]
    with pytest.raises(ParameterError, match="positive_label"):
        detect_task(frame(["no", "yes"] * 20), "y", positive_label="maybe")


def test_multiclass_from_text_and_small_integers():
    assert detect_task(frame(["a", "b", "c"] * 10), "y")[1].task == "multiclass"
    assert detect_task(frame([1, 2, 3, 4, 5] * 10), "y")[1].task == "multiclass"


def test_regression_from_floats_and_many_integers():
    rng = np.random.default_rng(0)
    assert detect_task(frame(rng.normal(size=50)), "y")[1].task == "regression"
    assert detect_task(frame(rng.integers(0, 1000, 60)), "y")[1].task == "regression"


def test_override_task():
    _, info = detect_task(frame([1, 2, 3, 4, 5] * 10), "y", task="regression")
    assert info.task == "regression" and info.detected_task == "multiclass"
    with pytest.raises(TargetError, match="cannot be predicted as a number"):
        detect_task(frame(["a", "b", "c"] * 10), "y", task="regression")
    with pytest.raises(ParameterError, match="'task' parameter"):
        detect_task(frame(["a", "b"] * 10), "y", task="clustering")


def test_missing_target_rows_dropped_and_counted():
    y = ["a", "b", None, "a", "b"] * 10
    df, info = detect_task(frame(y), "y")
    assert info.rows_dropped_missing_target == 10 and len(df) == 40


def test_target_errors():
    with pytest.raises(TargetError, match="not in the data.*Did you mean 'y'"):
        detect_task(frame(["a", "b"] * 20), "Y")
    with pytest.raises(TargetError, match="Every value"):
        detect_task(frame([None] * 30), "y")
    with pytest.raises(TargetError, match="single value"):
        detect_task(frame(["a"] * 30), "y")
    with pytest.raises(TargetError, match="'c' \\(2 rows\\)"):
        detect_task(frame(["a", "b"] * 20 + ["c", "c"]), "y")
    with pytest.raises(TargetError, match=f"at most {MAX_CLASSES}"):
        detect_task(frame([f"k{i}" for i in range(150)] * 5), "y")
    with pytest.raises(TargetError, match="holds dates"):
        detect_task(frame(pd.date_range("2020-01-01", periods=30)), "y")
    with pytest.raises(TargetError, match="at least 20"):
        detect_task(frame(["a", "b"] * 5), "y")
