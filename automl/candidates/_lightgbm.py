"""LightGBM gradient-boosted trees: native categories, early stopping, a per-fit deadline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna

from automl.candidates import _compiled
from automl.candidates._base import Candidate, FitContext, RoundClock
from automl.candidates._lightgbm_text import checked_model_text

MAX_ROUNDS = 3000
EARLY_STOP_ROUNDS = 50
# A big table's first sample (about 1.5% of a million rows) searches trees of at most this many
# leaves, LightGBM's own default and the anchors' size: there, trees of 63-212 leaves took 2-5 s
# a trial against about 1 s, and ranked below smaller trees (synthetic table at 120 s: four such
# trials took 13.7 of the first sample's 25.6 s; best validation ROC AUC 0.856 against 0.868 at
# 14 leaves). The anchors learn from all the rows with 31 leaves whatever the sample ranks.
GROWING_MAX_LEAVES = 31
BATCH_ROWS = 50_000  # rows encoded at a time when a fit reads batches (RowBatches)
BIN_SAMPLE_ROWS = 200_000  # LightGBM's bin_construct_sample_cnt: the rows its bins come from
_OBJECTIVE = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}


def deadline_callback(deadline: float) -> Any:
    """Stop boosting when the next round would likely finish after ``deadline``."""
    clock = RoundClock(deadline)

    def _callback(env: lgb.callback.CallbackEnv) -> None:
        if clock.next_round_late(env.iteration - env.begin_iteration + 1):
            best = env.iteration
            raise lgb.callback.EarlyStopException(best, env.evaluation_result_list or [])

    _callback.order = 5  # type: ignore[attr-defined]
    return _callback


class RowBatches(lgb.Sequence):
    """Rows LightGBM reads a batch at a time, each batch encoded when it is read: LightGBM bins
    them without a dense matrix of every row (1,000,000 x 50: 200 MB of float32 beside the
    190 MB of bins). The bins' edges come from a dense sample of the rows (``sample``, as
    LightGBM samples a matrix; its own sampling of a sequence holds each sampled row as an
    array of its own: refits of the interactions table peaked 97 MB above the search that
    way, 11 MB with the dense sample), then every batch is binned; with all the rows in the
    sample (up to 200,000) the model is the matrix's."""

    def __init__(self, n_rows: int, encode: Callable[[int, int], np.ndarray], size: int) -> None:
        self.n_rows = n_rows
        self.encode = encode
        self.batch_size = size
        self._start = -1
        self._rows: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n_rows

    def _batch(self, start: int) -> np.ndarray:
        if start != self._start or self._rows is None:
            self._rows = self.encode(start, min(start + self.batch_size, self.n_rows))
            self._start = start
        return self._rows

    def sample(self, count: int, seed: int) -> np.ndarray:
        """``count`` rows at random (every row when there are no more), in their order, as one
        dense matrix; each batch is encoded once for it."""
        picked = np.arange(self.n_rows)
        if self.n_rows > count:
            picked = np.sort(np.random.default_rng(seed).choice(self.n_rows, count, replace=False))
        parts = []
        for start in range(0, self.n_rows, self.batch_size):
            inside = picked[(picked >= start) & (picked < start + self.batch_size)] - start
            if len(inside):
                parts.append(self._batch(start)[inside])
        return np.concatenate(parts)

    def __getitem__(self, idx: Any) -> np.ndarray:
        if isinstance(idx, slice):
            start, stop, _ = idx.indices(self.n_rows)
            if start % self.batch_size == 0 and stop - start <= self.batch_size:
                rows = self._batch(start)
                return rows[: stop - start]
            return self.encode(start, stop)
        i = int(idx)
        if not 0 <= i < self.n_rows:
            raise IndexError(i)
        rows = self._batch(i - i % self.batch_size)
        return np.asarray(rows[i % self.batch_size], dtype=np.float64)  # (its sample: doubles)


class LightGBMCandidate(Candidate):
    name = "lightgbm"
    label = "LightGBM (gradient-boosted trees)"
    encoding = "tree"
    explained_by = "contributions read exactly from the trees (SHAP values)"
    grows = True
    patience = EARLY_STOP_ROUNDS

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.text_: str | None = None
        self.compiled_: Any = None  # the trees compiled to native code, once checked
        self.compiling_: _compiled.CompiledTrees | None = None

    @classmethod
    def default_configs(cls, task: str, n_rows: int) -> list[dict[str, Any]]:
        small = n_rows < 2000
        base = {
            "feature_fraction": 1.0,
            "bagging_fraction": 1.0,
            "lambda_l1": 1e-8,
            "lambda_l2": 1e-8,
            "cat_smooth": 10.0,
        }
        configs = [
            {"learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20},
            {
                "learning_rate": 0.05,
                "num_leaves": 15 if small else 63,
                "min_child_samples": 10 if small else 30,
                "feature_fraction": 0.8,
                "bagging_fraction": 0.8,
                "lambda_l2": 1.0,
            },
            {
                "learning_rate": 0.03,
                "num_leaves": 7 if small else 127,
                "min_child_samples": 5 if small else 50,
                "feature_fraction": 0.6,
                "bagging_fraction": 0.9,
                "lambda_l1": 0.1,
                "lambda_l2": 3.0,
            },
        ]
        return [{**base, **c} for c in configs]

    @classmethod
    def anchor_configs(cls, task: str) -> list[dict[str, Any]]:
        # Large steps, LightGBM's leaves, splits that send at most 4 levels of a column one way
        # (its 32 chase noise in a column of hundreds of levels), random thresholds (extremely
        # randomized trees); then best thresholds. On the 1,000,000-row interactions table, all
        # 712,500 training rows, 2 cores, test ROC AUC: 0.8366 in 25.5 s with 372 trees (at a
        # rate of 0.2: 0.8377 in 44 s with 802, twice the scoring cost) and 0.834 in 32 s; 0.793
        # with 32 levels a split; where the configuration the first sample of 11,132 rows ranked
        # first got 0.79-0.83 from run to run.
        base = {
            "learning_rate": 0.2,
            "num_leaves": 31,
            "min_child_samples": 20,
            "feature_fraction": 1.0,
            "bagging_fraction": 1.0,
            "lambda_l1": 1e-8,
            "lambda_l2": 1e-8,
            "cat_smooth": 10.0,
            "max_cat_threshold": 4,
        }
        return [{**base, "learning_rate": 0.3, "extra_trees": True}, base]

    @classmethod
    def suggest(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        return cls._space(trial, n_rows, int(np.clip(n_rows // 8, 8, 512)))

    @classmethod
    def suggest_growing(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        return cls._space(trial, n_rows, GROWING_MAX_LEAVES)

    @classmethod
    def growing_config(cls, params: dict[str, Any]) -> dict[str, Any]:
        leaves = params.get("num_leaves")
        if isinstance(leaves, int) and leaves > GROWING_MAX_LEAVES:
            return {**params, "num_leaves": GROWING_MAX_LEAVES}
        return params

    @classmethod
    def _space(cls, trial: optuna.Trial, n_rows: int, max_leaves: int) -> dict[str, Any]:
        max_child = int(np.clip(n_rows // 10, 3, 300))
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, max_leaves, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 2, max_child, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
            "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
        }

    def _lgb_params(self, ctx: FitContext, n_rows: int) -> dict[str, Any]:
        p = {k: v for k, v in self.params.items() if k != "n_estimators"}
        out: dict[str, Any] = {
            "objective": _OBJECTIVE[ctx.task],
            "verbosity": -1,
            "num_threads": ctx.threads,
            "seed": ctx.seed,
            "deterministic": True,
            "force_row_wise": True,
            "min_data_per_group": int(np.clip(n_rows // 50, 5, 100)),
            "max_cat_to_onehot": 8,
        }
        if ctx.task == "multiclass":
            out["num_class"] = ctx.n_classes
        if p.get("bagging_fraction", 1.0) < 1.0:
            out["bagging_freq"] = 1
        out.update(p)
        return out

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        ctx: FitContext,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        categorical: list[int] | None = None,
    ) -> LightGBMCandidate:
        params = self._lgb_params(ctx, len(y))
        cats = categorical or []
        callbacks = [deadline_callback(ctx.deadline)]
        rounds = int(self.params.get("n_estimators", MAX_ROUNDS))
        train, valid = self._datasets(ctx, params, X, y, X_val, y_val, cats)
        valid_sets = None if valid is None else [valid]
        if valid is not None:
            callbacks.append(lgb.early_stopping(EARLY_STOP_ROUNDS, verbose=False))
        booster = lgb.train(
            params, train, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
        )
        best = booster.best_iteration or booster.current_iteration()
        booster.free_dataset()  # predictions need only the trees; the search may keep this model
        self.fitted_ = booster
        self.n_iterations_ = max(int(best), 1)
        self.text_ = self.compiled_ = self.compiling_ = None
        return self

    @classmethod
    def batched_rows(cls, n_rows: int, encode: Callable[[int, int], np.ndarray]) -> Any:
        return RowBatches(n_rows, encode, BATCH_ROWS)

    @staticmethod
    def _datasets(
        ctx: FitContext,
        params: dict[str, Any],
        X: Any,
        y: np.ndarray,
        X_val: Any,
        y_val: np.ndarray | None,
        cats: list[int],
    ) -> tuple[lgb.Dataset, lgb.Dataset | None]:
        """LightGBM's binned training and validation rows: built once for all the fits on the
        same rows of a search on growing samples (``ctx.reuse``), where building them took a
        quarter of a trial on the first sample; else built for this fit."""
        has_val = X_val is not None and y_val is not None
        if isinstance(X, RowBatches) and not has_val:  # bins from a sample, then every batch
            count = int(params.get("bin_construct_sample_cnt", BIN_SAMPLE_ROWS))
            edges = lgb.Dataset(X.sample(count, ctx.seed), categorical_feature=cats, params=params)
            train = lgb.Dataset(
                X, label=y, categorical_feature=cats, reference=edges, free_raw_data=True
            )
            return train, None
        if ctx.reuse is None or ctx.rows_key is None or not has_val:
            train = lgb.Dataset(X, label=y, categorical_feature=cats, free_raw_data=True)
            valid = (
                lgb.Dataset(X_val, label=y_val, categorical_feature=cats, reference=train)
                if has_val
                else None
            )
            return train, valid
        key = (ctx.rows_key, tuple(cats), params.get("min_data_per_group"))
        kept = ctx.reuse.get("lightgbm")
        if kept is None or kept[0] != key:
            # the bins do not depend on the configuration; with the features' pre-filter off
            # they do not depend on min_child_samples either, so every configuration can use them
            dataset_params = {"verbosity": -1, "feature_pre_filter": False}
            train = lgb.Dataset(
                X, label=y, categorical_feature=cats, params=dataset_params, free_raw_data=False
            )
            valid = lgb.Dataset(
                X_val,
                label=y_val,
                categorical_feature=cats,
                reference=train,
                params=dataset_params,
                free_raw_data=False,
            )
            kept = (key, train, valid)
            ctx.reuse["lightgbm"] = kept  # (the previous sample's datasets are let go)
        return kept[1], kept[2]

    def predict_scores(self, X: Any) -> np.ndarray:
        if self.compiling_ is not None and self.compiling_.poll():
            self._take_compiled(X)
        if self.compiled_ is not None:
            rows = self.compiled_.accepts(X)
            if rows is not None:
                return self.compiled_.predict(rows, n_jobs=_compiled.threads())
        return np.asarray(self.fitted_.predict(X, num_iteration=self.n_iterations_))

    def model_text(self) -> str:
        """The trees as the checked model text: the text a model read from its file has (so
        compiled trees made when a model is trained are found when it is loaded)."""
        if self.text_ is None:
            raw = self.fitted_.model_to_string(num_iteration=self.n_iterations_)
            self.text_ = checked_model_text(Path("model.txt"), raw).text
        return self.text_

    def compiled_trees(self) -> _compiled.CompiledTrees | None:
        """This model's trees compiled to native code (in the cache or to be compiled), or None
        when the compiler is not installed or the trees are too few to gain from it."""
        n_trees = int(self.n_iterations_ or 0) * max(1, self.fitted_.num_model_per_iteration())
        if not _compiled.MIN_TREES <= n_trees <= _compiled.MAX_TREES or not _compiled.available():
            return None
        return _compiled.CompiledTrees(self.model_text(), n_trees)

    def score_compiled(self, trees: _compiled.CompiledTrees) -> None:
        """Score with ``trees`` from the next call of :meth:`predict_scores` on which they are
        ready (compiled and giving LightGBM's own predictions on that call's first rows)."""
        self.compiling_ = trees

    def _take_compiled(self, X: Any) -> None:
        trees, self.compiling_ = self.compiling_, None
        if trees is None:  # another thread took it
            return
        check = np.asarray(X[: _compiled.CHECK_ROWS], dtype=np.float32)  # (as compiled trees read)
        expected = self.fitted_.predict(check, num_iteration=self.n_iterations_)
        self.compiled_ = trees.load(np.asarray(check), expected)

    def contributions(self, X: Any) -> np.ndarray:
        """SHAP values from LightGBM's TreeSHAP (``pred_contrib``)."""
        raw = np.asarray(
            self.fitted_.predict(X, num_iteration=self.n_iterations_, pred_contrib=True)
        )
        n_out = max(1, int(self.fitted_.num_model_per_iteration()))
        return raw.reshape(raw.shape[0], n_out, -1).transpose(0, 2, 1)

    def importances(self, n_features: int) -> np.ndarray:
        imp = self.fitted_.feature_importance("gain", iteration=self.n_iterations_)
        return np.asarray(imp, dtype=float)

    def fixed_iterations(self) -> dict[str, Any]:
        return {**self.params, "n_estimators": int(self.n_iterations_ or MAX_ROUNDS)}

    def save(self, directory: Path) -> None:
        self.fitted_.save_model(str(directory / "model.txt"), num_iteration=self.n_iterations_)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> LightGBMCandidate:
        """LightGBM reads only text rebuilt from checked values (see ``_lightgbm_text``)."""
        checked = checked_model_text(directory / "model.txt")
        obj = cls(params)
        obj.fitted_ = lgb.Booster(model_str=checked.text)
        obj.text_ = checked.text
        obj.n_iterations_ = obj.fitted_.current_iteration()
        obj.file_shape_ = (checked.task, checked.n_outputs, checked.n_features)
        return obj
