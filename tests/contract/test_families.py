"""One contract, every registered model family (like scikit-learn's ``parametrize_with_checks``).

Parametrized over :data:`automl.candidates.REGISTRY`, so a family that registers is checked here
with no edit: binary, multiclass and regression on a small generated matrix; the deadline; score
shapes and probabilities; a save/load round trip that gives identical scores from files that are
JSON, text or pickle-free ``.npz``; contributions that add up to the raw score (log-odds for two
classes, softmax logits for several, the value for numbers). Family-specific behaviour stays in
``tests/test_<family>.py``.
"""

from __future__ import annotations

import functools
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from automl.candidates import ENCODINGS, REGISTRY, Candidate, FitContext, register
from automl.errors import ParameterError

FAMILIES = sorted(REGISTRY)
TASKS = ["binary", "multiclass", "regression"]
N_CLASSES = {"binary": 2, "multiclass": 3, "regression": 1}
FAR = 120.0  # seconds: a deadline no fit here comes near
NEAR = 0.25  # seconds: a deadline a fit without it would pass
MARGIN = 60.0  # seconds past the deadline a fit may take to stop: catches a fit that ignores
# its deadline (hangs), never a slow machine (the rounds check below is what tests the rule)
REQUESTED_ROUNDS = 2000  # rounds/trees asked of iterative families in the deadline check
CATEGORY = 5  # the column holding category codes in the tree encoding


def matrix(task: str, encoding: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features as the preprocessor gives them to ``encoding`` (tree: missing values and a
    category-code column; linear: dense, centred numbers) and a target for ``task``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, CATEGORY] = rng.integers(0, 4, n)
    signal = X[:, 0] + 0.5 * X[:, 1] - 0.7 * (X[:, CATEGORY] == 2) + rng.normal(0, 0.5, n)
    if encoding == "tree":
        X[rng.random(n) < 0.1, 0] = np.nan
    else:
        X[:, CATEGORY] -= X[:, CATEGORY].mean()
    if task == "regression":
        y = 10 + 3 * signal
    elif task == "binary":
        y = (signal > 0.3).astype(np.int64)
    else:
        y = np.digitize(signal, np.quantile(signal, [0.33, 0.66])).astype(np.int64)
    return X.astype(np.float32 if encoding == "tree" else np.float64), y


def _categorical(cls: type[Candidate]) -> list[int] | None:
    return [CATEGORY] if cls.encoding == "tree" else None


def _ctx(task: str, seconds: float) -> FitContext:
    return FitContext(task, N_CLASSES[task], time.monotonic() + seconds, seed=0, threads=1)


@functools.cache
def fitted(name: str, task: str) -> tuple[Candidate, np.ndarray]:
    """A fit of the family's first default configuration (with validation rows, as in the
    search), and rows to score; cached across the checks of one session."""
    cls = REGISTRY[name]
    X, y = matrix(task, cls.encoding, 360)
    params = cls.default_configs(task, 240)[0]
    cand = cls(params).fit(
        X[:240], y[:240], _ctx(task, FAR), X[240:300], y[240:300], _categorical(cls)
    )
    return cand, X[300:]


def _check_scores(scores: np.ndarray, task: str, rows: int) -> None:
    assert np.all(np.isfinite(scores))
    if task == "multiclass":
        assert scores.shape == (rows, N_CLASSES[task])
        assert np.all((scores >= 0) & (scores <= 1))
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    else:
        assert scores.shape == (rows,)
        if task == "binary":
            assert np.all((scores >= 0) & (scores <= 1))


# ---------------------------------------------------------------------- declarations
@pytest.mark.parametrize("name", FAMILIES)
def test_declarations_and_search_space(name: str) -> None:
    cls = REGISTRY[name]
    assert cls.name == name and cls.encoding in ENCODINGS
    for task in TASKS:
        configs = cls.default_configs(task, 500)
        assert configs and all(isinstance(c, dict) for c in configs)
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        params = cls.suggest(trial, task, 500)
        assert isinstance(params, dict) and params
        json.dumps(params)  # parameters are stored in the model's metadata as JSON


# ---------------------------------------------------------------------- fit and predict
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", FAMILIES)
def test_predict_scores_shape_and_probabilities(name: str, task: str) -> None:
    cand, X = fitted(name, task)
    _check_scores(np.asarray(cand.predict_scores(X)), task, len(X))
    imp = np.asarray(cand.importances(X.shape[1]))
    assert imp.shape == (X.shape[1],) and np.all(imp >= 0)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", FAMILIES)
def test_fit_respects_a_near_deadline(name: str, task: str) -> None:
    """A deadline already near still gives a usable model, soon after the deadline; a family
    that counts rounds (``n_iterations_``) stops before the rounds asked for, and
    ``fixed_iterations()`` reproduces the stopped fit without a deadline (the refit relies on it).
    No speed is asserted: only that the fit stops, with a generous margin."""
    cls = REGISTRY[name]
    X, y = matrix(task, cls.encoding, 3000, seed=1)
    params = {**cls.default_configs(task, len(y))[0], "n_estimators": REQUESTED_ROUNDS}
    t0 = time.monotonic()
    cand = cls(params).fit(X, y, _ctx(task, NEAR), categorical=_categorical(cls))
    assert time.monotonic() - t0 < NEAR + MARGIN
    _check_scores(np.asarray(cand.predict_scores(X[:50])), task, 50)
    if cand.n_iterations_ is not None:
        assert 1 <= cand.n_iterations_ < REQUESTED_ROUNDS
        again = cls(cand.fixed_iterations()).fit(
            X, y, _ctx(task, FAR), categorical=_categorical(cls)
        )
        assert again.n_iterations_ == cand.n_iterations_


# ---------------------------------------------------------------------- save and load
def _check_no_pickle(directory: Path) -> None:
    """Every saved file is JSON, plain text, or an .npz whose arrays load without pickle."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert files, "save() wrote nothing"
    for path in files:
        suffix = path.suffix.lower()
        assert suffix not in (".pkl", ".pickle", ".joblib"), path.name
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    data[key]  # an object array would need pickle: ValueError
        elif suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            path.read_text(encoding="utf-8")  # text formats only (e.g. LightGBM's model.txt)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", FAMILIES)
def test_save_load_round_trip_runs_no_pickle(
    name: str, task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cand, X = fitted(name, task)
    cand.save(tmp_path)
    _check_no_pickle(tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("loading a model must not unpickle anything")

    for attr in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, attr, refuse)
    loaded = type(cand).load(tmp_path, cand.params)
    monkeypatch.undo()
    np.testing.assert_array_equal(loaded.predict_scores(X), cand.predict_scores(X))


# ---------------------------------------------------------------------- contributions
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", FAMILIES)
def test_contributions_add_up_to_the_raw_score(name: str, task: str) -> None:
    cand, X = fitted(name, task)
    contrib = np.asarray(cand.contributions(X))
    outputs = N_CLASSES[task] if task == "multiclass" else 1
    assert contrib.shape == (len(X), X.shape[1] + 1, outputs)
    assert np.all(np.isfinite(contrib))
    raw = contrib.sum(axis=1)  # features plus the base value
    scores = np.asarray(cand.predict_scores(X), dtype=np.float64)
    if task == "regression":
        np.testing.assert_allclose(raw[:, 0], scores, rtol=1e-5, atol=1e-4)
    elif task == "binary":
        np.testing.assert_allclose(1 / (1 + np.exp(-raw[:, 0])), scores, rtol=1e-4, atol=1e-6)
    else:
        soft = np.exp(raw - raw.max(axis=1, keepdims=True))
        np.testing.assert_allclose(soft / soft.sum(axis=1, keepdims=True), scores, atol=1e-5)


# ---------------------------------------------------------------------- the registry
def _family(**attrs: Any) -> type[Candidate]:
    """A copy of the linear family with some class attributes changed."""
    base = REGISTRY["linear"]
    return type("Custom", (base,), {"name": "custom", **attrs})


def test_register_accepts_a_new_family_once() -> None:
    custom = _family()
    try:
        assert register(custom) is custom and REGISTRY["custom"] is custom
        assert register(custom) is custom  # the same class again: harmless
        with pytest.raises(ParameterError, match="'custom' is already registered"):
            register(_family())
    finally:
        REGISTRY.pop("custom", None)


@pytest.mark.parametrize(
    "attrs, match",
    [
        ({"name": "Bad Name"}, "'name' parameter of the model family Custom"),
        ({"encoding": "dense"}, "'encoding' .* must be one of 'tree', 'linear'. Got 'dense'"),
        ({"label": ""}, "'label'"),
        ({"max_rows": 0}, "'max_rows' .* positive whole number or None. Got 0"),
        ({"max_rows": 2.5}, "'max_rows'"),
        ({"cheap": "yes"}, "'cheap' .* True or False"),
        ({"name": "linear"}, "'linear' is already registered"),
    ],
)
def test_register_rejects_a_broken_family(attrs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        register(_family(**attrs))
    assert "custom" not in REGISTRY


def test_register_names_missing_methods() -> None:
    class Half(Candidate):
        name = "half"
        label = "Half a family"
        encoding = "tree"
        explained_by = "nothing"

        @classmethod
        def default_configs(cls, task: str, n_rows: int) -> list[dict[str, Any]]:
            return [{}]

    with pytest.raises(ParameterError, match="must implement .*contributions.*fit.*load"):
        register(Half)
    with pytest.raises(ParameterError, match="subclass of Candidate"):
        register(dict)  # type: ignore[type-var]


def test_presets_name_only_registered_families() -> None:
    from automl.presets import PRESETS

    for name, preset in PRESETS.items():
        assert set(preset["families"]) <= set(REGISTRY), name
        assert set(preset["tuning_share"]) <= set(REGISTRY), name


def test_a_registered_family_is_searched_saved_and_loaded_with_no_other_edit(
    tmp_path: Path,
) -> None:
    """One module and one registration: a family no preset names is searched when asked for
    (its tuning share defaults), saved, and loaded by name."""
    import automl
    from tests.conftest import make_table

    custom = register(_family())
    try:
        df = make_table(200, 3, "binary")
        model = automl.AutoML(time_budget=600, seed=0, candidates=["custom"], max_trials=3)
        fitted = model.fit(df, "churn").model_
        assert set(fitted.leaderboard["candidate"].str.split().str[0]) <= {"custom", "ensemble"}
        rows = df.drop(columns=["churn"]).head(20)
        again = automl.load(fitted.save(tmp_path / "m"))
        assert all(type(again.candidates[c]) is custom for c in again.members())
        np.testing.assert_allclose(again.predict_proba(rows), fitted.predict_proba(rows))
    finally:
        REGISTRY.pop("custom", None)
