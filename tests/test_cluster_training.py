"""A big table's final LightGBM model trained on the cluster with LightGBM's own Dask interface.

One local cluster of 2 worker processes for the module (``local:2``); the row threshold is
lowered (``dask_training_rows``) so that a table of a few hundred rows is "big"; fits are bounded
by ``max_trials``. A lost worker is a worker process killed for real (SIGKILL, by a worker plugin
when LightGBM's training task starts on it).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import automl
from automl.cli import main
from automl.cluster import Cluster, connect
from automl.errors import ArtifactError, ParameterError
from tests.conftest import make_table

ROWS = 600  # with a target; above THRESHOLD, so the final fit runs on the cluster
THRESHOLD = 300


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with connect("local:2") as running:
        yield running


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table(ROWS, 0, "binary")


@pytest.fixture(scope="module")
def on_cluster(table: pd.DataFrame, cluster: Cluster) -> automl.AutoML:
    return automl.AutoML(
        time_budget=600, seed=0, max_trials=2, candidates=["lightgbm"], cluster=cluster,
        dask_training_rows=THRESHOLD,
    ).fit(table, "churn")  # fmt: skip


def test_the_final_lightgbm_trains_on_the_cluster_and_predicts_without_it(
    on_cluster: automl.AutoML, table: pd.DataFrame, tmp_path: Path
) -> None:
    meta = on_cluster.model_.meta
    fit = meta.cluster_fit
    assert fit is not None and fit.workers == 2 and fit.rows == ROWS
    assert meta.rows.search == THRESHOLD == fit.search_rows  # the search ran on a sample
    assert "sample of 300 of the 480 training rows" in meta.validation
    members = sorted(on_cluster.model_.meta.kept[meta.default_candidate].members or {})
    default = [int(m) for m in members] or [meta.default_candidate]
    assert fit.candidates == default and meta.refit_on_all_rows
    for cid in default:
        assert meta.kept[cid].trained_on == "all 600 rows, on 2 cluster workers (LightGBM's " \
            "Dask training)"  # fmt: skip
    assert "trained on all 600 rows on the cluster" in meta.refit_note
    # saved as the usual LightGBM booster: loaded and scored here, no cluster involved
    loaded = automl.load(on_cluster.save(tmp_path / "model"))
    assert loaded.meta.cluster_fit == fit
    rows = table.drop(columns=["churn"])
    there = loaded.predict_proba(rows)["yes"].to_numpy()
    here = automl.AutoML(time_budget=600, seed=0, max_trials=2, candidates=["lightgbm"]).fit(
        table, "churn"
    )
    local = here.predict_proba(rows)["yes"].to_numpy()
    assert here.model_.meta.cluster_fit is None
    # close to a fit on one computer (not identical: the search saw a sample, and the trees
    # were grown from histograms summed over the workers)
    assert np.corrcoef(there, local)[0, 1] > 0.95
    assert ((there > 0.5) == (local > 0.5)).mean() > 0.9


@pytest.mark.parametrize(("task", "target"), [("regression", "spend"), ("multiclass", "segment")])
def test_numbers_and_3_categories_train_on_the_cluster_too(
    task: str, target: str, cluster: Cluster, tmp_path: Path
) -> None:
    df = make_table(ROWS, 1, task)
    fit = automl.AutoML(
        time_budget=600, seed=0, max_trials=2, candidates=["lightgbm"], cluster=cluster,
        dask_training_rows=THRESHOLD, ensemble=False,
    ).fit(df, target)  # fmt: skip
    meta = fit.model_.meta
    assert meta.task == task and meta.cluster_fit is not None
    assert meta.cluster_fit.candidates == [meta.default_candidate]
    rows = df.drop(columns=[target])
    loaded = automl.load(fit.save(tmp_path / "model"))
    if task == "regression":
        got = loaded.predict(rows)
        assert np.corrcoef(got, df[target])[0, 1] > 0.5  # it learned the numbers
    else:
        proba = loaded.predict_proba(rows)
        assert proba.shape == (ROWS, 3) and np.allclose(proba.sum(axis=1), 1.0)
        assert (loaded.predict(rows) == df[target]).mean() > 0.5


def test_an_ensembles_other_families_stay_on_the_sample(
    table: pd.DataFrame, cluster: Cluster
) -> None:
    fit = automl.AutoML(
        time_budget=600, seed=0, max_trials=4, candidates=["linear", "lightgbm"],
        cluster=cluster, dask_training_rows=THRESHOLD,
    ).fit(table, "churn")  # fmt: skip
    meta = fit.model_.meta
    assert meta.cluster_fit is not None
    default = meta.kept[meta.default_candidate]
    members = [int(m) for m in default.members] if default.members else [meta.default_candidate]
    lgbm = [m for m in members if meta.kept[m].candidate == "lightgbm"]
    assert meta.cluster_fit.candidates == lgbm
    for m in members:
        if m not in lgbm:
            assert meta.kept[m].trained_on != "all rows"
            assert f"model {m} ({meta.kept[m].candidate}): trained on the 300 search rows" in (
                meta.refit_note
            )


def test_a_small_table_on_the_cluster_trains_as_before(
    table: pd.DataFrame, cluster: Cluster
) -> None:
    fit = automl.AutoML(
        time_budget=600, seed=0, max_trials=2, candidates=["lightgbm"], cluster=cluster
    ).fit(table, "churn")  # the default threshold: 5,000,000 rows
    assert fit.model_.meta.cluster_fit is None and fit.model_.meta.rows.search == 480


def test_the_threshold_needs_a_cluster_and_a_count(tmp_path: Path, capsys: Any) -> None:
    with pytest.raises(ParameterError, match="no cluster was given"):
        automl.AutoML(dask_training_rows=10).fit(make_table(50), "churn")
    with pytest.raises(ParameterError, match="must be a positive integer"):
        automl.AutoML(dask_training_rows=0, cluster="local:1").fit(make_table(50), "churn")
    code = main(["train", str(tmp_path / "d.csv"), "--target", "churn", "--out",
                 str(tmp_path / "m"), "--dask-training-rows", "10"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "give --cluster too" in err and "Traceback" not in err


def test_cli_train_on_local_2_states_the_cluster_fit(
    tmp_path: Path, table: pd.DataFrame, capsys: Any
) -> None:
    table.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "model"
    code = main(["train", str(tmp_path / "d.csv"), "--target", "churn", "--out", str(out),
                 "--max-trials", "2", "--no-reports", "--cluster", "local:2",
                 "--dask-training-rows", str(THRESHOLD), "--quiet"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[LightGBM]" not in captured.out + captured.err  # the workers' network lines
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cluster_fit"]["workers"] == 2 and info["cluster_fit"]["rows"] == ROWS
    assert main(["predict", str(out), str(tmp_path / "d.csv"), "--out",
                 str(tmp_path / "p.csv"), "--quiet"]) == 0  # fmt: skip
    assert len(pd.read_csv(tmp_path / "p.csv")) == ROWS


def test_a_damaged_cluster_fit_is_refused(on_cluster: automl.AutoML, tmp_path: Path) -> None:
    path = on_cluster.save(tmp_path / "model")
    meta_file = Path(path) / "easel_model.json"
    good = json.loads(meta_file.read_text())
    assert good["schema_version"] == 9
    for bad in ({**good["cluster_fit"], "workers": "two"},
                {**good["cluster_fit"], "candidates": [99]},
                {**good["cluster_fit"], "extra": 1}):  # fmt: skip
        meta_file.write_text(json.dumps({**good, "cluster_fit": bad}))
        with pytest.raises(ArtifactError, match="cluster"):
            automl.load(path)


class KillOnTraining:
    """A worker plugin: the worker that starts LightGBM's Dask training is killed (SIGKILL)."""

    idempotent = False

    def setup(self, worker: Any) -> None:
        self.worker = worker

    def teardown(self, worker: Any) -> None:
        pass

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing" and "_train_part" in str(key):
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_lost_during_the_training_keeps_the_search_model(
    table: pd.DataFrame, cluster: Cluster
) -> None:
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin = type("KillOnTraining2", (KillOnTraining, WorkerPlugin), {})()
    cluster.client.register_plugin(plugin, name="kill-training")
    try:
        fit = automl.AutoML(
            time_budget=60, seed=0, max_trials=2, candidates=["lightgbm"], cluster=cluster,
            dask_training_rows=THRESHOLD, ensemble=False,
        ).fit(table, "churn")  # fmt: skip
    finally:
        cluster.client.unregister_worker_plugin("kill-training")
    meta = fit.model_.meta
    assert meta.cluster_fit is not None and meta.cluster_fit.candidates == []
    assert not meta.refit_on_all_rows
    assert "a worker stopped during the training" in meta.refit_note
    assert "trained on the 300 search rows" in meta.refit_note
    assert meta.default.trained_on != "all rows"
    assert len(fit.predict(table.drop(columns=["churn"]))) == ROWS
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny started a new one
