"""Big tables: the search grows its sample, every trial is validated on the same rows, the
refit follows the learning curve and the prediction cost counts in choosing the default.

The tables here are small; the preset's ``max_search_rows`` is lowered so that they are "big"
for the search. Fits are bounded by ``max_trials`` (the budget is never reached).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import automl
from automl import metrics as M
from automl.presets import get_preset
from automl.progress import TrialRecord
from automl.task import TargetInfo
from automl.training.common import Kept
from automl.training.run import FitOptions, FitRun
from automl.training.tabular import cheaper_default, fit_tabular, growing_rows, learning_curve
from tests.conftest import make_table

CAP = 1000  # max_search_rows for these tests


def _run(max_trials: int, **options: object) -> FitRun:
    settings = get_preset("quick")
    settings.update(max_search_rows=CAP, time_budget=3600.0)
    return FitRun(FitOptions(max_trials=max_trials, **options), settings)  # type: ignore[arg-type]


def _tinfo(task: str = "binary") -> TargetInfo:
    return TargetInfo(name="y", task=task, classes=[0, 1] if task != "regression" else [])


def test_growing_rows_validate_on_their_own_rows_and_grow_to_all_the_others():
    y = np.arange(60_000) % 2
    train = np.arange(5, 60_000)
    settings = {"max_search_rows": 10_000}
    order, n_val, stages = growing_rows(train, y, _tinfo(), settings, 0)  # type: ignore[misc]
    assert sorted(order.tolist()) == train.tolist()  # every training row, once
    assert n_val == int(0.05 * len(train))  # 5% of the training rows
    assert stages == sorted(stages) and stages[-1] == len(train) - n_val
    assert all(b <= 4 * a for a, b in zip(stages, stages[1:], strict=False))
    # the validation rows are stratified: both classes as in the table
    assert abs(y[order[:n_val]].mean() - 0.5) < 0.01
    # a table the search samples once does not grow
    assert growing_rows(np.arange(9_000), y, _tinfo(), settings, 0) is None


def test_a_big_table_grows_the_best_configuration_to_all_its_rows():
    df = make_table(6000, seed=3)
    model = fit_tabular(_run(6), df, "churn", None)
    meta = model.meta
    board = meta.leaderboard
    first = [r for r in board if r.source != "growth" and r.candidate != "ensemble"]
    grown = [r for r in board if r.source == "growth"]
    rows = meta.rows
    pool = rows.train - int(np.clip(0.05 * rows.train, 0.2 * CAP, 50_000))
    assert {r.rows for r in first} == {int(0.8 * CAP)}  # the first sample
    assert grown and all(r.candidate == "lightgbm" for r in grown)
    assert max(r.rows or 0 for r in grown) == pool  # the best one learned from all the rows
    best_first = min(
        (r for r in first if r.candidate == "lightgbm"), key=lambda r: -float(r.score or 0)
    )
    assert grown[-1].params == best_first.params  # the best configuration moved on
    # the first sample's trees are small (the defaults of 63 and 127 leaves run with 31)
    from automl.candidates._lightgbm import GROWING_MAX_LEAVES

    boosted = [r.params for r in first if r.candidate == "lightgbm"]
    assert max(p["num_leaves"] for p in boosted) == GROWING_MAX_LEAVES
    assert "growing samples of 800, " in meta.validation
    assert len(board) <= 7  # max_trials, and an ensemble when it helps
    # the refit note says what the learning curve said
    assert "learned from" in meta.refit_note
    # the model predicts, saves and loads with the rows each trial learned from
    got = model.predict_proba(df.drop(columns=["churn"]).head(20))
    assert got.shape == (20, 2) and np.allclose(got.sum(axis=1), 1)


def test_the_anchor_learns_from_all_the_rows_before_the_best_tuned_configuration():
    """A big table's first sample times the anchors (settings known to use many rows well); the
    first anchor learns from all the rows, then the configuration the samples ranked first."""
    from automl.candidates import get_candidate
    from automl.training.search import ANCHOR_MIN_TRIALS

    df = make_table(6000, seed=3)
    model = fit_tabular(_run(ANCHOR_MIN_TRIALS + 2), df, "churn", None)
    board = [r for r in model.meta.leaderboard if r.candidate != "ensemble"]
    anchors = get_candidate("lightgbm").anchor_configs("binary")
    first = [r for r in board if r.rows == int(0.8 * CAP)]
    assert [r.params for r in first if r.source == "anchor"] == anchors  # timed first, in order
    assert [r.source for r in first[:2]] == ["anchor", "anchor"]
    pool = max(r.rows or 0 for r in board)
    on_all = [r for r in board if r.rows == pool]
    assert on_all[0].params == anchors[0] and on_all[0].source == "growth"
    tuned = [r for r in first if r.source != "anchor" and r.candidate == "lightgbm"]
    second = [r for r in board if r.rows not in (int(0.8 * CAP), pool)]
    ranked = second or tuned  # the largest sample before all the rows ranks them
    assert len(on_all) >= 2 and on_all[1].params not in anchors
    assert on_all[1].params == min(ranked, key=lambda r: -float(r.score or 0)).params
    got = model.predict_proba(df.drop(columns=["churn"]).head(20))
    assert got.shape == (20, 2) and np.allclose(got.sum(axis=1), 1)


def test_a_count_of_trials_too_small_for_the_anchors_leaves_them_out():
    from automl.training.search import ANCHOR_MIN_TRIALS

    df = make_table(6000, seed=3)
    model = fit_tabular(_run(ANCHOR_MIN_TRIALS - 1), df, "churn", None)
    assert [r for r in model.meta.leaderboard if r.source == "growth"]
    assert not [r for r in model.meta.leaderboard if r.source == "anchor"]


def test_the_grown_model_is_saved_with_its_rows(tmp_path):
    df = make_table(6000, seed=4, task="regression")
    model = fit_tabular(_run(5, candidates=["lightgbm", "linear"]), df, "spend", None)
    model.save(tmp_path / "m")
    back = automl.load(tmp_path / "m")
    assert [r.rows for r in back.meta.leaderboard] == [r.rows for r in model.meta.leaderboard]
    assert any(r.source == "growth" for r in back.meta.leaderboard)
    rows = df.drop(columns=["spend"]).head(50)
    assert np.array_equal(back.predict(rows), model.predict(rows))


def _rec(i: int, score: float, family: str = "lightgbm", rows: int = 100) -> TrialRecord:
    return TrialRecord(i, family, {"k": i}, score, 1.0, "ok", "search", rows=rows)


def _kept(costs: dict[int, float]) -> Kept:
    kept = Kept()
    for cid, ms in costs.items():
        kept.meta[str(cid)] = {"candidate": "x", "predict_ms_per_1000_rows": ms}
    return kept


@pytest.mark.parametrize(
    ("scores", "costs", "default"),
    [
        # 30 times slower for 0.2% less error: the faster model is the default
        ({1: 0.800, 2: 0.8004}, {1: 10.0, 2: 300.0}, 1),
        # 30 times slower for 5% less error (1.5% is needed): it pays for itself
        ({1: 0.800, 2: 0.810}, {1: 10.0, 2: 300.0}, 2),
        # about as fast: the better one, whatever the gain
        ({1: 0.800, 2: 0.8001}, {1: 10.0, 2: 15.0}, 2),
    ],
)
def test_a_slow_default_must_pay_for_its_prediction_cost(scores, costs, default):
    records = [_rec(i, s) for i, s in scores.items()]
    kept = _kept(costs)
    kept.default_id = max(scores, key=lambda i: scores[i])
    cheaper_default(M.METRICS["roc_auc"], kept, records)
    assert kept.default_id == default
    slow = records[1]
    assert ("not the default" in slow.message) == (default == 1)
    if default == 1:
        assert "30 times slower" in slow.message and "1.5%" in slow.message


def test_the_learning_curve_follows_one_configuration_over_its_samples():
    a = [_rec(1, 0.70, rows=100), _rec(2, 0.72, rows=100)]
    grown = TrialRecord(3, "lightgbm", {"k": 1}, 0.75, 3.0, "ok", "growth", rows=400)
    assert learning_curve([*a, grown], grown) == [(100, 0.70), (400, 0.75)]


def test_a_small_table_searches_as_before():
    df = make_table(1200, seed=5)  # 960 training rows: under the cap
    model = fit_tabular(_run(4), df, "churn", None)
    assert all(r.source != "growth" for r in model.meta.leaderboard)
    assert "80/20 validation split" in model.meta.validation or "cross-validation" in (
        model.meta.validation
    )
    assert model.meta.rows.search == model.meta.rows.train  # all of them, no sample


def test_numbers_are_stored_as_float32_only_where_that_is_exact_enough():
    from automl.training.common import compact_floats

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "measure": rng.normal(size=100),  # 7 significant digits are plenty
            "id_number": np.arange(100, dtype=float) + 2**24 + 1,  # whole numbers float32 breaks
            "count": np.arange(100, dtype=float),  # whole numbers float32 keeps
            "text": ["a"] * 100,
            "gaps": np.r_[np.nan, np.inf, -np.inf, rng.normal(size=97)],
        }
    )
    before = df.copy()
    done = compact_floats(df)
    assert done == ["measure", "count", "gaps"]
    assert df["id_number"].dtype == np.float64 and df["text"].equals(before["text"])
    assert df["measure"].dtype == np.float32 and df["count"].dtype == np.float32
    assert np.allclose(df["measure"], before["measure"], rtol=1e-6, atol=0)
    assert np.isnan(df["gaps"][0]) and df["gaps"][1] == np.inf and df["gaps"][2] == -np.inf
    assert np.array_equal(df["count"], before["count"])


def test_on_growing_samples_the_learning_rate_is_fast_enough_for_all_the_rows():
    import time

    from automl.training.search import GROWING_MIN_RATE, MAX_LEARNING_RATE, Search, _growing_rate

    assert _growing_rate({"learning_rate": 0.01, "num_leaves": 7})["learning_rate"] == (
        GROWING_MIN_RATE
    )
    assert _growing_rate({"learning_rate": 0.2}) == {"learning_rate": 0.2}
    now = time.monotonic()
    s = Search("binary", 2, M.METRICS["roc_auc"], ["lightgbm"], 0, now, lambda: now + 10.0)
    rec = TrialRecord(1, "lightgbm", {"learning_rate": 0.05}, 0.7, 4.0, "ok", "search", rows=1000)
    # 4 s on 1,000 rows predicts about 4 * 64 ** 0.7 = 73 s on 64,000 rows: 10 s are left
    params, note = s._within_time(rec, 64_000)
    assert params["learning_rate"] == pytest.approx(0.2)  # raised 4 times at most
    assert "learning rate raised from 0.05 to 0.2" in note
    fast = TrialRecord(2, "lightgbm", {"learning_rate": 0.05}, 0.7, 0.01, "ok", "search", rows=1000)
    assert s._within_time(fast, 64_000) == (fast.params, "")  # it fits: unchanged
    slow = TrialRecord(3, "lightgbm", {"learning_rate": 0.2}, 0.7, 40.0, "ok", "search", rows=1000)
    assert s._within_time(slow, 64_000)[0]["learning_rate"] == MAX_LEARNING_RATE


def test_a_big_tables_first_sample_searches_trees_of_at_most_growing_max_leaves():
    import optuna

    from automl.candidates._lightgbm import GROWING_MAX_LEAVES
    from automl.candidates._lightgbm import LightGBMCandidate as L

    def leaves(space, rows):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        return [space(study.ask(), "binary", rows)["num_leaves"] for _ in range(40)]

    assert max(leaves(L.suggest_growing, 14_101)) <= GROWING_MAX_LEAVES
    assert max(leaves(L.suggest, 14_101)) > GROWING_MAX_LEAVES  # a table searched once
    clipped = L.growing_config({"num_leaves": 127, "learning_rate": 0.03, "lambda_l2": 3.0})
    assert clipped == {"num_leaves": GROWING_MAX_LEAVES, "learning_rate": 0.03, "lambda_l2": 3.0}
    assert L.growing_config({"num_leaves": 7}) == {"num_leaves": 7}


def test_a_fit_on_all_the_rows_the_deadline_would_cut_to_less_than_half_is_not_started():
    import time

    from automl.training.search import Search

    now = time.monotonic()
    left = {"seconds": 8.0}
    s = Search(
        "binary", 2, M.METRICS["roc_auc"], ["lightgbm"], 0, now, lambda: now + left["seconds"]
    )
    rec = TrialRecord(1, "lightgbm", {"learning_rate": 0.05}, 0.7, 4.0, "ok", "search", rows=1000)
    # about 73 s on 64,000 rows at 0.05; 18 s at 0.2, the rate _within_time raises it to
    params, _ = s._within_time(rec, 64_000)
    assert params["learning_rate"] == pytest.approx(0.2)
    assert s._cut_short(rec, params, 64_000)  # 18 s needed, 8 s left
    left["seconds"] = 30.0
    params, _ = s._within_time(rec, 64_000)  # 0.12: 30 s needed, 30 s left
    assert not s._cut_short(rec, params, 64_000)


def test_on_a_big_table_an_ensemble_averages_only_models_of_the_most_rows():
    from automl.training.tabular import ensemble_pool

    class Grown:
        growing = True

    ranked = [_rec(1, 0.8, rows=900), _rec(2, 0.79, "forest", 100), _rec(3, 0.78, rows=900)]
    assert ensemble_pool(Grown(), ranked) == [1, 3]  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", -1, True, 2.5])
def test_a_damaged_row_count_in_the_leaderboard_is_a_clear_error(tmp_path, bad):
    import json

    from automl.errors import ArtifactError

    df = make_table(1200, seed=6)
    path = fit_tabular(_run(2), df, "churn", None).save(tmp_path / "m")
    meta = json.loads((path / "easel_model.json").read_text())
    meta["leaderboard"][0]["rows"] = bad
    (path / "easel_model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"leaderboard\[0\]\.rows.*Retrain"):
        automl.load(path)


def test_how_seconds_grow_with_rows_is_measured_on_the_table_by_the_probe():
    import time

    from automl.training.search import MIN_ROWS_EXPONENT, ROWS_COST_EXPONENT, Search

    now = time.monotonic()
    s = Search("binary", 2, M.METRICS["roc_auc"], ["lightgbm"], 0, now, lambda: now + 100.0)
    first = TrialRecord(1, "lightgbm", {"k": 1}, 0.7, 2.0, "ok", "search", rows=1000)
    other = TrialRecord(2, "lightgbm", {"k": 2}, 0.69, 3.0, "ok", "search", rows=1000)
    s.records = [first, other]
    # one sample each: the assumed exponent
    assert s._predicted(other, 64_000) == pytest.approx(3.0 * 64**ROWS_COST_EXPONENT)
    assert not s._has_run(first, 4000)
    # the probe: the best configuration on 4 times the rows took 2 times the seconds
    s.records.append(TrialRecord(3, "lightgbm", {"k": 1}, 0.72, 4.0, "ok", "growth", rows=4000))
    assert s._has_run(first, 4000) and not s._has_run(other, 4000)
    assert s._rows_exponent() == pytest.approx(0.5)
    # a configuration with one sample now follows the measured exponent
    assert s._predicted(other, 64_000) == pytest.approx(3.0 * 64**0.5)
    # 4 times the rows in the same seconds does not make the rows free
    s.records[-1] = TrialRecord(3, "lightgbm", {"k": 1}, 0.72, 2.0, "ok", "growth", rows=4000)
    assert s._rows_exponent() == MIN_ROWS_EXPONENT
    # a trial that failed measures nothing
    s.records[-1] = TrialRecord(3, "lightgbm", {"k": 1}, None, 9.0, "failed", "growth", rows=4000)
    assert s._rows_exponent() == ROWS_COST_EXPONENT


def test_fits_on_the_same_sample_bin_its_rows_once():
    import time

    from automl.candidates import FitContext
    from automl.candidates._lightgbm import LightGBMCandidate

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    y = (X[:, 0] + rng.normal(0, 0.5, 3000) > 0).astype(float)
    reuse: dict = {}

    def fit(params: dict, key: tuple) -> LightGBMCandidate:
        ctx = FitContext("binary", 2, time.monotonic() + 600, reuse=reuse, rows_key=key)
        return LightGBMCandidate(params).fit(X[500:], y[500:], ctx, X[:500], y[:500])

    fit({"learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20}, (1, 500, 3000))
    first = reuse["lightgbm"][1]
    # another configuration, another min_child_samples: the same binned rows
    b = fit({"learning_rate": 0.2, "num_leaves": 15, "min_child_samples": 5}, (1, 500, 3000))
    assert reuse["lightgbm"][1] is first
    assert b.predict_scores(X[:10]).shape == (10,)
    fit({"learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20}, (1, 500, 2000))
    assert reuse["lightgbm"][1] is not first  # other rows: built again, the old ones let go


def test_the_probe_runs_unless_the_user_counts_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trial cap for small tables is not a count the user asked for: it must not turn off
    the probe (it did: every build then assumed how seconds grow with rows)."""
    from automl.training import search as search_module
    from automl.training.tabular import make_search, prepare

    df = make_table(6000, seed=3)
    made: list[search_module.Search] = []
    real = search_module.Search.__init__

    def spy(self: search_module.Search, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(search_module.Search, "__init__", spy)
    for count, counted in ((None, False), (4, True)):
        run = _run(count)  # type: ignore[arg-type]
        make_search(run, prepare(run, df, "churn"))
        assert made[-1].max_trials is not None  # a cap either way
        assert made[-1].counted is counted


def test_a_long_budget_moves_on_from_the_first_sample_after_enough_configurations() -> None:
    """The first sample stops after STAGE0_MAX_TRIALS configurations even with most of a long
    budget left (it kept tuning for that sample); then the time goes to the larger samples and
    to the next best configurations on all the rows, as the largest sample ranks them."""
    import time

    from automl.training.search import STAGE0_MAX_TRIALS, Search, SearchData

    now = time.monotonic()
    s = Search("binary", 2, M.METRICS["roc_auc"], ["lightgbm"], 0, now, lambda: now + 10_000.0)
    s.search_start, s.span, s._probed = now - 1000.0, 2000.0, True
    data = SearchData({}, np.zeros(0), [], stage_rows=[1000, 4000, 16_000], n_val=100)

    def trial(i: int, score: float, rows: int, source: str = "search") -> TrialRecord:
        return TrialRecord(i, "lightgbm", {"k": i}, score, 0.5, "ok", source, rows=rows)

    s.records = [trial(i, 0.7 + i / 1000, 1000) for i in range(STAGE0_MAX_TRIALS - 1)]
    assert not s._first_sample_done(data)  # time enough, and not enough configurations yet
    s.records.append(trial(STAGE0_MAX_TRIALS - 1, 0.5, 1000))
    assert s._first_sample_done(data)
    # the next best: the second sample's ranking first, then the first sample's others
    s.records += [trial(3, 0.80, 4000, "growth"), trial(58, 0.79, 4000, "growth")]
    order = [r.params["k"] for r in s._next_best(data, done=[{"k": 58}])]
    assert order[:3] == [3, 57, 56]  # (58 learned from all the rows already)
    assert sorted(order) == [k for k in range(STAGE0_MAX_TRIALS) if k != 58]


def test_a_fit_on_every_row_reads_them_a_batch_at_a_time_and_learns_the_same_model() -> None:
    """A refit of a big table's LightGBM model encodes its rows a batch at a time as LightGBM
    reads them (no dense matrix of every row beside LightGBM's bins); with every row in
    LightGBM's sample (up to 200,000), the model is the one the whole matrix gives."""
    import time

    from automl.candidates import FitContext
    from automl.candidates._lightgbm import LightGBMCandidate, RowBatches

    rng = np.random.default_rng(5)
    n, size = 30_000, 7_000
    X = rng.normal(size=(n, 6)).astype("float32")
    X[rng.random((n, 6)) < 0.05] = np.nan
    X[:, 5] = rng.integers(0, 40, n)  # a categorical column
    y = (np.nan_to_num(X[:, 0]) + (X[:, 5] % 3) + rng.normal(size=n) > 1).astype(float)
    calls: list[tuple[int, int]] = []

    def encode(start: int, stop: int) -> np.ndarray:
        calls.append((start, stop))
        return X[start:stop].copy()

    params = {"learning_rate": 0.2, "num_leaves": 15, "n_estimators": 20}
    ctx = FitContext(task="binary", n_classes=2, deadline=time.monotonic() + 600, threads=1)
    whole = LightGBMCandidate(params).fit(X, y, ctx, categorical=[5])
    rows = RowBatches(n, encode, size)
    batched = LightGBMCandidate(params).fit(rows, y, ctx, categorical=[5])
    assert batched.model_text() == whole.model_text()
    assert max(stop - start for start, stop in calls) <= size  # never every row at once
    starts = [start for start, _ in calls]
    assert all(starts.count(s) <= 2 for s in set(starts))  # its sample, then its bins
    assert len(rows) == n and rows[n - 1].dtype == np.float64
    with pytest.raises(IndexError):
        rows[n]
    # more rows than LightGBM bins from: the edges come from a sample of them, in their order
    picked = np.sort(np.random.default_rng(0).choice(n, 1_000, replace=False))
    np.testing.assert_array_equal(rows.sample(1_000, 0), X[picked])
    few = LightGBMCandidate({**params, "bin_construct_sample_cnt": 2_000})
    got = few.fit(RowBatches(n, encode, size), y, ctx, categorical=[5]).predict_scores(X[:500])
    assert np.corrcoef(got, whole.predict_scores(X[:500]))[0, 1] > 0.98


def test_a_member_of_most_rows_is_refit_only_when_a_learning_curve_says_it_helps(monkeypatch):
    """Without a learning curve (its fit on all the rows had its learning rate raised), a
    member that learned from most rows (REFIT_MOST_ROWS of them) is not refit: adding the
    others is not worth the time and memory of a refit on every row. Here the default learned
    from the first sample (800 of 6,000 rows): refit with the rule's share, not with 10%."""
    import automl.training.tabular as tabular

    monkeypatch.setattr(tabular, "learning_curve", lambda records, rec: [])
    rule, notes = tabular.REFIT_MOST_ROWS, {}
    for share in (rule, 0.1):
        monkeypatch.setattr(tabular, "REFIT_MOST_ROWS", share)
        notes[share] = fit_tabular(_run(6), make_table(6000, seed=3), "churn", None).meta
    assert "learned from 800 rows of 6,000: refit on all rows" in notes[rule].refit_note
    assert notes[rule].refit_on_all_rows
    assert "not refit, no learning curve says the other rows would help" in notes[0.1].refit_note
    assert not notes[0.1].refit_on_all_rows
