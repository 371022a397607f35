"""benchmarks/trial_cap.py: the first K trials of a longer search, replayed, give the model a
search bounded by K trials gives (so the study measures the product's own fits)."""

from __future__ import annotations

import numpy as np

from benchmarks import trial_cap
from benchmarks.confidence import patched


def test_a_replayed_search_gives_the_model_of_a_search_bounded_by_as_many_trials() -> None:
    from automl.training import search as search_mod
    from benchmarks._common import split
    from benchmarks.datasets import DATASETS

    df, target, task = DATASETS["iris"]()
    df[target] = df[target].astype(str)
    train, test = split(df, target, task, 0)
    test = test.drop(columns=[target])
    # few kept predictions, so that the replay's choice of the best ones is exercised
    with patched(search_mod, "MAX_KEPT_PREDICTIONS", 3):
        cache: dict = {}
        with trial_cap.collecting(cache):
            trial_cap.fit(train, target, task, 0, 9)
        assert len(cache["records"]) == 9 and len(cache["oof"]) > 3  # every trial's kept
        for k in (6,):
            direct = trial_cap.fit(train, target, task, 0, k)
            with trial_cap.replayed(cache, k):
                replay = trial_cap.fit(train, target, task, 0, k)
            assert len(replay.model_.leaderboard) == len(direct.model_.leaderboard)
            np.testing.assert_allclose(
                replay.predict_proba(test).to_numpy(), direct.predict_proba(test).to_numpy()
            )


def test_errors_by_cap_in_the_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    row = trial_cap.run_one("iris", 0, [3, 6])
    assert row["trials"] == 6 and set(row["errors"]) == {"k3", "k6"}
    assert all(0 <= e["log_loss"] < 0.5 for e in row["errors"].values())
    assert "k3" in trial_cap.summary([row], "k6")


def test_a_study_appends_each_row_as_it_comes_and_sums_them_up(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.peers import read_rows
    from benchmarks.stacking import run_study

    def one(table: str, seed: int) -> dict:
        err = 0.1 * (seed + 1)
        return {
            "table": table,
            "seed": seed,
            "errors": {"a": {"rmse": err}, "b": {"rmse": 2 * err}},
        }

    out = tmp_path / "rows.jsonl.gz"
    run_study(["t1", "t2"], [0, 1], one, "a", out)
    assert [(r["table"], r["seed"]) for r in read_rows(out)] == [
        ("t1", 0), ("t1", 1), ("t2", 0), ("t2", 1)
    ]  # fmt: skip
    said = capsys.readouterr().out
    assert "rmse      b             geo/a 2.0000  better 0 worse 4 of 4" in said
