"""The notebook's last part: the winning configuration retrained in plain code.

The learner is LightGBM's own ``lgb.train`` or a scikit-learn estimator, with the parameters the
model file records and the settings Easel's family adds to them; the rows are those of the
build (Easel's reading of the target, the same ``train_test_split`` with the model's seed), and
the columns go through the model's own fitted preparation, which the model file stores.
"""

from __future__ import annotations

import math
from typing import Any

from automl.artifact import HOLDOUT_FILE, KeptCandidate, ModelMeta
from automl.bundle._text import DATA_FILE, MODEL_FOLDER, label, literal, md
from automl.candidates import FitContext
from automl.candidates._forest import _ESTIMATORS, MAX_TREES
from automl.candidates._lightgbm import LightGBMCandidate
from automl.candidates._linear import MAX_PAIR_INPUTS
from automl.errors import ArtifactError
from automl.words import plural

# families whose fit the notebook writes in plain code, the first preferred in an ensemble
PLAIN = ("lightgbm", "linear", "forest")


def retrain_choice(meta: ModelMeta) -> tuple[int | None, str]:
    """The kept candidate the notebook retrains, and why that one (in words)."""
    default = meta.default_candidate
    info = meta.kept[default]
    if info.candidate in PLAIN:
        return default, f"The model's default is candidate {default}, {_family(info)}."
    plain = [cid for cid, k in meta.kept.items() if k.candidate in PLAIN]
    if info.is_ensemble:
        weights = {int(k): w for k, w in (info.members or {}).items()}
        members = sorted(
            (m for m in weights if m in plain),
            key=lambda m: (PLAIN.index(meta.kept[m].candidate), -weights[m]),
        )
        if members:
            m = members[0]
            return m, (
                f"The model's default is candidate {default}, an ensemble (a weighted average) "
                f"of candidates {', '.join(map(str, weights))}. This notebook retrains one of "
                f"its members, candidate {m}, {_family(meta.kept[m])} (weight {weights[m]:.0%}), "
                "and compares with that member's own hold-out metric."
            )
    if plain:
        sign = -1.0 if meta.metric_greater_is_better else 1.0
        m = min(
            plain,
            key=lambda c: (
                PLAIN.index(meta.kept[c].candidate),
                sign * float(meta.kept[c].holdout_metrics.get(meta.metric, 0.0)),
            ),
        )
        return m, (
            f"The model's default is candidate {default} ({md(info.candidate)}), a family this "
            f"notebook does not write in plain code, so it retrains the kept candidate {m}, "
            f"{_family(meta.kept[m])}, and compares with its own hold-out metric."
        )
    return None, (
        f"The model's default is candidate {default} ({md(info.candidate)}) and none of its "
        "kept candidates is a LightGBM, linear or forest model, the families this notebook "
        "writes in plain code, so the retraining is left out."
    )


def _family(info: KeptCandidate) -> str:
    return {
        "lightgbm": "a LightGBM model",
        "linear": "a regularized linear model",
        "forest": "a forest of decision trees",
    }.get(info.candidate, md(info.candidate))


def retrain_cells(meta: ModelMeta, has_data: bool, has_holdout: bool) -> list[tuple[str, str]]:
    if not has_data:
        return [
            (
                "markdown",
                "## Retraining\n\nExport the model again with its training data (`automl export "
                "MODEL --out FILE --include-data`, or the checkbox on the Models page) to "
                "retrain the winning configuration in plain code here.",
            )
        ]
    if meta.is_forecast:
        return [
            (
                "markdown",
                "## Retraining\n\nThe plain-code retraining is written for models that predict "
                f"rows; a forecast model's series features are Easel's own. `{DATA_FILE}` holds "
                "the training rows.",
            )
        ]
    cid, why = retrain_choice(meta)
    if cid is None:
        return [("markdown", f"## Retraining\n\n{why}")]
    return _cells(meta, cid, why, has_holdout)


def _cells(meta: ModelMeta, cid: int, why: str, has_holdout: bool) -> list[tuple[str, str]]:
    info = meta.kept[cid]
    rows = meta.rows
    classes = bool(meta.target.classes)
    seed = int(meta.seed or 0)
    learner, fit_code = _fit_code(meta, info, seed)
    encoding = "transform_linear" if info.candidate == "linear" else "transform_tree"
    metric, score_code, prelude = _metric_code(meta, info)
    sample = ""
    if rows.search < rows.train:
        sample = (
            "# the search learned from a sample of the training rows, taken the same way\n"
            f"train_idx, _ = train_test_split(train_idx, train_size={rows.search}, "
            f"random_state=SEED, stratify={'y[train_idx]' if classes else 'None'})\n"
        )
    recipe = ""
    if meta.recipe:
        recipe = (
            "# the model's preparation recipe, replayed on the raw rows as the build did\n"
            "from automl.prep.recipe import Recipe\n\n"
            "recipe = Recipe.from_dict(model.meta.recipe)\nrecipe.target = TARGET\n"
            "data = recipe.fit_apply(data).rename(columns=str)\n"
        )
    if classes:
        target_code = (
            "# labels as class numbers, in the model's order of classes\n"
            "index = {label: i for i, label in enumerate(model.classes)}\n"
            "y = np.array([index[v] for v in rows[TARGET].tolist()], dtype=np.int64)"
        )
    else:
        target_code = "y = rows[TARGET].to_numpy(dtype=np.float64)"
    trained_on = f"Easel trained this candidate on: {md(info.trained_on)}" + (
        " (its hold-out metric comes from the same configuration trained without the "
        "hold-out rows, before that refit)."
        if "all rows" in info.trained_on
        else "."
    )
    check = ""
    if has_holdout:
        check = (
            f'\nstored = pd.read_parquet("{MODEL_FOLDER}/{HOLDOUT_FILE}", columns=["__target__"])\n'
            "if len(stored) == len(hold_idx):  # Easel stores every hold-out row up to 20,000\n"
            '    same = np.allclose(stored["__target__"], y[hold_idx])\n'
            '    print(f"the hold-out rows\' targets are those Easel held out: {same}")'
        )
    steps = (
        "The cells below rebuild it step by step:\n\n"
        f"1. the rows with a target, read as Easel reads them ({rows.with_target:,} in the "
        "build);\n"
        "2. the same hold-out split: scikit-learn's `train_test_split` with the model's seed "
        f"({seed}), {plural(rows.holdout, 'row')} held out"
        + (", stratified by the target" if classes else "")
        + f", and the {rows.search:,} rows the search learned from;\n"
        "3. the same column preparation: Easel's fitted preparation, stored in the model file, "
        + (
            "turns the columns into the linear model's inputs (numbers centred and scaled with "
            "missing-value flags, categories one column per value, dates as their parts, text "
            "as term weights);\n"
            if info.candidate == "linear"
            else "turns the columns into the trees' inputs (numbers as they are, categories as "
            "codes of its learned list, dates as their parts, text as counts and term "
            "weights);\n"
        )
        + f"4. {learner} with the recorded parameters;\n"
        f"5. its hold-out **{md(label(metric))}**, compared with Easel's."
    )
    return [
        (
            "markdown",
            f"## Retraining the winning configuration in plain code\n\n{why} {trained_on}\n\n"
            f"{steps}",
        ),
        (
            "code",
            "from sklearn.model_selection import train_test_split\n\n"
            "from automl.task import detect_task\n\n"
            f"TARGET = {literal(meta.target.name)}\n"
            f"SEED = {seed}\n"
            f'data = pd.read_parquet("{DATA_FILE}")\n'
            f"{recipe}"
            "# the rows with a target value; labels read as Easel reads them\n"
            f"rows, _ = detect_task(data, TARGET, task={literal(meta.task)}, "
            f"positive_label={literal(meta.target.positive_label)})\n"
            f"{target_code}\n"
            f'print(f"{{len(rows):,}} rows with a target (the build had {rows.with_target:,})")',
        ),
        (
            "code",
            "train_idx, hold_idx = train_test_split(\n"
            f"    np.arange(len(rows)), test_size={rows.holdout}, random_state=SEED, "
            f"stratify={'y' if classes else 'None'}\n)\n"
            f"{sample}"
            'print(f"{len(train_idx):,} training rows, {len(hold_idx):,} hold-out rows")'
            f"{check}",
        ),
        (
            "code",
            "features = rows.drop(columns=[TARGET])\n"
            f"X_train = model.preprocessor.{encoding}(features.iloc[train_idx])\n"
            f"X_hold = model.preprocessor.{encoding}(features.iloc[hold_idx])\n"
            + (
                "names, sources, categorical = model.preprocessor.tree_features()\n"
                if encoding == "transform_tree"
                else ""
            )
            + 'print(f"{X_train.shape[1]} inputs")',
        ),
        ("code", fit_code),
        (
            "code",
            f"{prelude}\n"
            "y_hold = y[hold_idx]\n"
            f"retrained = {score_code}\n"
            f"easel = model.kept[{cid}].holdout_metrics[{literal(metric)}]\n"
            f"print(f\"hold-out {metric}: retrained {{retrained:.6f}}, Easel's model "
            f'{{easel:.6f}} (difference {{retrained - easel:+.6f}})")',
        ),
    ]


def _fit_code(meta: ModelMeta, info: KeptCandidate, seed: int) -> tuple[str, str]:
    """(the learner in words, the code that fits it on X_train and scores X_hold as p_hold)."""
    task = meta.task
    params = info.params
    if info.candidate == "lightgbm":
        rounds = int(params.get("n_estimators", 100))
        ctx = FitContext(task, max(len(meta.target.classes or []), 1), math.inf, seed)
        recorded = {k: v for k, v in params.items() if k != "n_estimators"}
        # the parameters exactly as Easel's LightGBM family passes them to lgb.train
        settings = LightGBMCandidate(recorded)._lgb_params(ctx, meta.rows.search)
        return f"LightGBM's `lgb.train` ({rounds} rounds)", (
            "import lightgbm as lgb\n\n"
            f"# candidate's recorded parameters, with the settings Easel's fit adds\n"
            f"params = {_pretty(settings)}\n"
            "booster = lgb.train(\n"
            "    params,\n"
            "    lgb.Dataset(X_train, label=y[train_idx], categorical_feature=categorical),\n"
            f"    num_boost_round={rounds},\n"
            ")\n"
            "p_hold = booster.predict(X_hold)"
        )
    if info.candidate == "linear" and task == "regression":
        return "scikit-learn's `Ridge` (on the standardized target)", (
            "from sklearn.linear_model import Ridge\n\n"
            "mean, std = y[train_idx].mean(), y[train_idx].std() or 1.0\n"
            f"learner = Ridge(alpha={literal(float(params['alpha']))})\n"
            "learner.fit(X_train, (y[train_idx] - mean) / std)\n"
            "p_hold = learner.predict(X_hold) * std + mean"
        )
    proba = "[:, 1]" if task == "binary" else ""
    if info.candidate == "linear":
        pairs = ""
        if params.get("pairs"):
            pairs = (
                "from sklearn.preprocessing import PolynomialFeatures\n\n"
                f"if X_train.shape[1] <= {MAX_PAIR_INPUTS}:  # the inputs and products of two\n"
                "    products = PolynomialFeatures(2, include_bias=False).fit(X_train)\n"
                "    X_train, X_hold = products.transform(X_train), products.transform(X_hold)\n"
            )
        return "scikit-learn's `LogisticRegression`", pairs + (
            "from sklearn.linear_model import LogisticRegression\n\n"
            f"learner = LogisticRegression(C={literal(float(params['C']))}, "
            f"class_weight={literal(params.get('class_weight'))}, max_iter=300)\n"
            "learner.fit(X_train, y[train_idx])\n"
            f"p_hold = learner.predict_proba(X_hold){proba}"
        )
    if info.candidate == "forest":
        regression = task == "regression"
        cls = _ESTIMATORS[(str(params.get("kind", "extra")), regression)].__name__
        trees = int(min(params.get("n_estimators", MAX_TREES), MAX_TREES))
        predict = "predict(X_hold)" if regression else f"predict_proba(X_hold){proba}"
        return f"scikit-learn's `{cls}` ({trees} trees)", (
            f"from sklearn.ensemble import {cls}\n\n"
            f"learner = {cls}(\n"
            f"    n_estimators={trees},\n"
            f"    max_features={literal(float(params.get('max_features', 0.7)))},\n"
            f"    min_samples_leaf={int(params.get('min_samples_leaf', 1))},\n"
            "    n_jobs=2,\n"
            "    random_state=SEED,\n"
            ")\n"
            "learner.fit(X_train, y[train_idx])\n"
            f"p_hold = learner.{predict}"
        )
    raise ArtifactError(f"No plain code for the family '{info.candidate}'.")  # retrain_choice


def _pretty(params: dict[str, Any]) -> str:
    inner = "".join(f"    {literal(k)}: {literal(v)},\n" for k, v in params.items())
    return "{\n" + inner + "}"


def _metric_code(meta: ModelMeta, info: KeptCandidate) -> tuple[str, str, str]:
    """The metric to compare (the optimized one when the hold-out reports it), the code that
    computes it from ``y_hold`` and ``p_hold``, and the lines before it."""
    reported = info.holdout_metrics
    metric = meta.metric if meta.metric in reported else next(iter(reported), meta.metric)
    binary = meta.task == "binary"
    threshold = info.threshold
    labels = "(p_hold >= threshold).astype(int)" if binary else "p_hold.argmax(axis=1)"
    codes = {
        "roc_auc": "metrics.roc_auc_score(y_hold, p_hold)"
        if binary
        else 'metrics.roc_auc_score(y_hold, p_hold, multi_class="ovr", '
        "labels=list(range(p_hold.shape[1])))",
        "log_loss": "metrics.log_loss(y_hold, np.column_stack([1 - p, p]), labels=[0, 1])"
        if binary
        else "metrics.log_loss(y_hold, p / p.sum(axis=1, keepdims=True), "
        "labels=list(range(p.shape[1])))",
        "accuracy": f"metrics.accuracy_score(y_hold, {labels})",
        "balanced_accuracy": f"metrics.balanced_accuracy_score(y_hold, {labels})",
        "f1": f"metrics.f1_score(y_hold, {labels}, zero_division=0)",
        "precision": f"metrics.precision_score(y_hold, {labels}, zero_division=0)",
        "recall": f"metrics.recall_score(y_hold, {labels}, zero_division=0)",
        "f1_macro": f'metrics.f1_score(y_hold, {labels}, average="macro", zero_division=0)',
        "rmse": "np.sqrt(metrics.mean_squared_error(y_hold, p_hold))",
        "mae": "metrics.mean_absolute_error(y_hold, p_hold)",
        "r2": "metrics.r2_score(y_hold, p_hold)",
        "mape": "np.mean(np.abs((y_hold - p_hold) / np.maximum(np.abs(y_hold), 1e-7)))",
    }
    if metric not in codes:
        raise ArtifactError(
            f"The model's metric '{md(metric)}' is not one Easel knows; the model file is "
            "damaged. Retrain the model."
        )
    prelude = "from sklearn import metrics\n"
    if binary and metric in ("accuracy", "balanced_accuracy", "f1", "precision", "recall"):
        prelude += (
            f"threshold = {literal(threshold if threshold is not None else 0.5)}  "
            "# the decision threshold Easel tuned\n"
        )
    if metric == "log_loss":  # probabilities kept off 0 and 1, as Easel's log loss does
        prelude += "p = np.clip(p_hold, 1e-7, 1 - 1e-7)\n"
    return metric, codes[metric], prelude
