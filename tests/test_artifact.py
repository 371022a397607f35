"""The model file format: schema versions, the upgrade from version 1, the typed metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import automl
from automl.artifact import (
    META_FILE,
    SCHEMA_VERSION,
    ModelMeta,
    check_version,
    read_meta,
    upgrade,
)
from automl.errors import ArtifactError

LATE_KEYS = ("column_impact", "timings", "fit_seconds", "holdout_rows_kept", "train_target_summary")


@pytest.fixture(scope="module")
def saved(saved_binary_model: Path) -> Path:
    # the session's saved binary model: tests that change the file work on a copy (_copy)
    return saved_binary_model


def _file(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    (path / META_FILE).write_text(json.dumps(data), encoding="utf-8")


def _copy(saved: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(saved, tmp_path / "copy"))


def test_the_file_declares_schema_9_and_round_trips(saved: Path) -> None:
    data = _file(saved)
    assert SCHEMA_VERSION == 9 and data["schema_version"] == 9
    assert data["problem_type"] == "binary"
    meta = ModelMeta.from_dict(data)
    assert meta.to_dict() == {k: v for k, v in data.items() if k != "preprocessing"}
    assert list(meta.to_dict()) == [k for k in data if k != "preprocessing"]  # same key order


def test_a_version_1_file_is_upgraded_on_load(
    saved: Path, tmp_path: Path, binary_df: pd.DataFrame
) -> None:
    path = _copy(saved, tmp_path)
    data = _file(path)
    rows = binary_df.drop(columns=["churn"]).head(5)
    want = automl.load(saved).predict_proba(rows)
    data["schema_version"] = 1
    del data["problem_type"]  # version 1 wrote it only for time series
    for key in LATE_KEYS:  # early version-1 files had none of these
        del data[key]
    _write(path, data)
    m = automl.load(path)
    assert m.meta.schema_version == 9 and m.problem_type == "binary"
    assert m.column_impact.empty and m.meta.fit_seconds == 0 and m.meta.timings == {}
    got = m.predict_proba(rows)
    pd.testing.assert_frame_equal(got, want)
    up = upgrade(data)
    assert up["schema_version"] == 9 and up["problem_type"] == "binary"
    assert data["schema_version"] == 1  # the input is not changed
    m.save(path)  # saving writes today's version
    assert _file(path)["schema_version"] == 9


def test_a_version_4_leaderboard_ran_on_this_computer(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    data = _file(path)
    assert all(r["worker"] == "" for r in data["leaderboard"])  # built without a cluster
    data["schema_version"] = 4
    for r in data["leaderboard"]:
        del r["worker"]
    _write(path, data)
    m = automl.load(path)
    assert [r.worker for r in m.meta.leaderboard] == [""] * len(data["leaderboard"])
    data["schema_version"] = 5
    data["leaderboard"][0]["worker"] = 12
    _write(path, data)
    with pytest.raises(ArtifactError, match=r"leaderboard\[0\]\.worker"):
        automl.load(path)


def test_upgrade_leaves_a_current_file_alone(saved: Path) -> None:
    data = _file(saved)
    assert upgrade(data) == data


@pytest.mark.parametrize("version", [10, 99])
def test_a_newer_schema_is_refused_clearly(saved: Path, tmp_path: Path, version: int) -> None:
    path = _copy(saved, tmp_path)
    _write(path, {**_file(path), "schema_version": version})
    with pytest.raises(ArtifactError, match=rf"newer Easel \(schema {version}\).*Upgrade Easel"):
        automl.load(path)
    with pytest.raises(ArtifactError, match="newer Easel"):
        read_meta(path)


@pytest.mark.parametrize("version", [None, "2", 0, -1, True, 1.5])
def test_a_garbage_schema_version_is_a_clear_error(version: Any) -> None:
    with pytest.raises(ArtifactError, match="schema version|no valid schema version"):
        check_version(version)


def test_cli_info_on_a_newer_model_exits_2_without_traceback(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    _write(path, {**_file(path), "schema_version": SCHEMA_VERSION + 1})
    res = subprocess.run(
        [sys.executable, "-m", "automl", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2
    err = " ".join(res.stderr.split())
    assert f"newer Easel (schema {SCHEMA_VERSION + 1})" in err and "Traceback" not in err


def test_cli_info_json_is_the_saved_metadata(saved: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "automl", "info", str(saved), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    data = _file(saved)
    del data["preprocessing"]
    assert json.loads(res.stdout) == json.loads(json.dumps(data, default=str))


def test_from_dict_accepts_a_dict_without_the_late_keys(saved: Path) -> None:
    data = {k: v for k, v in _file(saved).items() if k not in LATE_KEYS}
    meta = ModelMeta.from_dict(data)
    assert meta.column_impact == [] and meta.timings == {} and meta.train_target_summary == {}
    assert meta.fit_seconds == 0 and meta.holdout_rows_kept == 0


def test_unknown_fields_and_damaged_parts_are_clear_errors(saved: Path, tmp_path: Path) -> None:
    data = _file(saved)
    with pytest.raises(ArtifactError, match="does not know.*surprise"):
        ModelMeta.from_dict({**data, "surprise": 1})
    kept = dict(data["kept"])
    first = next(iter(kept))
    kept[first] = {**kept[first], "extra": 1}
    with pytest.raises(ArtifactError, match=rf"kept\.{first}.*extra"):
        ModelMeta.from_dict({**data, "kept": kept})
    with pytest.raises(ArtifactError, match="'rows' should be an object"):
        ModelMeta.from_dict({**data, "rows": [1, 2]})
    with pytest.raises(ArtifactError, match="lacks metric"):
        ModelMeta.from_dict({k: v for k, v in data.items() if k != "metric"})
    path = _copy(saved, tmp_path)
    _write(path, {**data, "default_candidate": 12345})
    with pytest.raises(ArtifactError, match="default candidate 12345"):
        automl.load(path)


def test_model_accepts_a_plain_dict_and_reads_typed_fields(binary_model: automl.AutoML) -> None:
    m = binary_model.model_
    assert isinstance(m.meta, ModelMeta)
    copy = type(m)(m.meta.to_dict(), m.preprocessor, m.candidates)
    assert copy.meta == m.meta
    assert m.rows.holdout == 80 and m.metric == m.meta.metric
    assert m.candidate_name() == m.kept[m.default_id].candidate
    with pytest.raises(automl.errors.ParameterError, match="not a time series model"):
        _ = m.timeseries


def test_public_scores_contributions_and_input_form(
    binary_model: automl.AutoML, binary_df: pd.DataFrame
) -> None:
    m = binary_model.model_
    rows = binary_df.drop(columns=["churn"]).head(4)
    proba = m.predict_proba(rows)
    pd.testing.assert_series_equal(
        pd.Series(m.scores(rows), index=rows.index), proba[m.classes[1]], check_names=False
    )
    columns, values, _ = m.contributions(rows)
    assert values.shape == (4, len(columns))
    form = {f.name: f for f in m.input_form()}
    assert set(form) == {c.name for c in m.preprocessor.columns}
    assert form["signup"].kind == "date" and len(form["signup"].value) == 10
    assert form["plan"].kind == "choice" and form["plan"].value in form["plan"].options
    assert form["member"].options == ["yes", "no"]
    typical = pd.DataFrame([{f.name: f.value for f in form.values()}])
    assert len(m.predict(typical)) == 1
