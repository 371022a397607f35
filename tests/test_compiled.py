"""LightGBM trees compiled to native code for batch scoring: the same predictions, a cache that
is checked before use, and LightGBM as the fallback whenever the compiled trees are not right."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl import AutoML
from automl.batch import score_chunks
from automl.candidates import _compiled
from automl.candidates._base import FitContext
from automl.candidates._lightgbm import LightGBMCandidate

pytestmark = pytest.mark.skipif(not _compiled.available(), reason="lleaves is not installed")


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EASEL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "compiled"


def _fitted(task: str, n_classes: int = 2, seed: int = 0) -> tuple[LightGBMCandidate, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 5))
    X[:, 4] = rng.integers(0, 6, 600)  # a categorical column (codes)
    X[rng.random((600, 5)) < 0.05] = np.nan
    z = X[:, 0] - 0.5 * np.nan_to_num(X[:, 1]) + (X[:, 4] == 2)
    if task == "regression":
        y = z + rng.normal(0, 0.1, 600)
    else:
        y = np.digitize(
            np.nan_to_num(z), np.quantile(np.nan_to_num(z), [0.4, 0.7][: n_classes - 1])
        )
    cand = LightGBMCandidate({"learning_rate": 0.1, "num_leaves": 7, "n_estimators": 40})
    ctx = FitContext(task=task, n_classes=n_classes, deadline=time.monotonic() + 600, threads=1)
    X = X.astype(np.float32)  # (Easel's encoding for trees; compiled trees read float32 rows)
    cand.fit(X, y.astype(float), ctx, categorical=[4])
    return cand, X


def _compile(trees: _compiled.CompiledTrees) -> None:
    trees.start()
    assert trees.proc is not None
    trees.proc.wait(timeout=300)
    assert trees.poll(), trees.failed


@pytest.mark.parametrize(
    ("task", "n_classes"), [("binary", 2), ("multiclass", 3), ("regression", 0)]
)
def test_compiled_trees_give_lightgbm_predictions(
    task: str, n_classes: int, own_cache: Path
) -> None:
    cand, X = _fitted(task, n_classes)
    trees = cand.compiled_trees()
    assert trees is not None and trees.n_trees >= _compiled.MIN_TREES
    want, got = _lightgbm_and_compiled(cand, X, lanes=8)
    assert list(own_cache.glob("*.so")) == [trees.library]
    assert trees.digest.is_file()
    assert not list(own_cache.glob(".job-*"))  # the compiler's input is gone
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_a_damaged_cache_file_falls_back_to_lightgbm(own_cache: Path) -> None:
    cand, X = _fitted("binary")
    want = cand.predict_scores(X)
    trees = cand.compiled_trees()
    assert trees is not None
    _compile(trees)
    data = bytearray(trees.library.read_bytes())
    data[len(data) // 2 :] = b"\0" * (len(data) - len(data) // 2)  # half of it lost
    trees.library.write_bytes(bytes(data))
    cand.score_compiled(trees)
    np.testing.assert_array_equal(cand.predict_scores(X), want)
    assert cand.compiled_ is None
    assert "damaged" in trees.failed
    assert not trees.cached()  # removed, so the next run compiles it again


def test_compiled_trees_of_another_model_are_refused(own_cache: Path) -> None:
    """A cache entry whose code is not this model's (a stale or swapped file) is checked
    against LightGBM's own predictions and refused."""
    first, X = _fitted("binary", seed=0)
    other, _ = _fitted("binary", seed=1)
    other_trees = other.compiled_trees()
    assert other_trees is not None
    _compile(other_trees)
    trees = first.compiled_trees()
    assert trees is not None
    other_trees.library.rename(trees.library)
    other_trees.digest.rename(trees.digest)
    want = first.predict_scores(X)
    first.score_compiled(trees)
    np.testing.assert_array_equal(first.predict_scores(X), want)
    assert first.compiled_ is None
    assert "did not give LightGBM's predictions" in trees.failed


def test_a_compiler_that_fails_leaves_lightgbm_scoring(own_cache: Path) -> None:
    cand, X = _fitted("binary")
    trees = cand.compiled_trees()
    assert trees is not None
    trees.text = "tree\nnot a model\n"  # what the compiler is given
    trees.start()
    assert trees.proc is not None
    trees.proc.wait(timeout=300)
    assert not trees.poll()
    assert trees.failed
    assert not list(own_cache.glob(".job-*")) and not list(own_cache.glob("*.so"))


def test_few_trees_or_few_rows_are_not_compiled() -> None:
    cand = LightGBMCandidate({"learning_rate": 0.3, "num_leaves": 4, "n_estimators": 5})
    X = np.random.default_rng(0).normal(size=(200, 3))
    ctx = FitContext(task="regression", n_classes=0, deadline=time.monotonic() + 600, threads=1)
    cand.fit(X, X[:, 0], ctx)
    assert cand.compiled_trees() is None


def test_batch_scoring_compiles_when_it_pays(tmp_path: Path, own_cache: Path) -> None:
    """A big batch (as ``expected_rows`` says) starts the compile; the rows scored after it is
    ready are scored by it, with the same answers to 1e-9."""
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("xyz"), n)}
    )
    df["y"] = np.where(df.a + (df.c == "y") + rng.normal(0, 0.5, n) > 0.3, "yes", "no")
    model = (
        AutoML(candidates=["lightgbm"], max_trials=1, ensemble=False, seed=0)
        .fit(df, target="y")
        .model_
    )
    cand = model.candidates[model.default_id]
    if cand.compiled_trees() is None:
        pytest.skip("the model has too few trees to compile")
    want, _ = model.answers(df)
    jobs = model.compile_trees(10**9)  # as if the file held a billion rows
    assert len(jobs) == 1
    jobs[0].proc.wait(timeout=300)  # type: ignore[union-attr]
    result = score_chunks(model, [df.drop(columns="y")] * 2, tmp_path / "out.csv")
    assert cand.compiled_ is not None
    out = pd.read_csv(result.output)
    np.testing.assert_allclose(
        out["probability_yes"].to_numpy()[:n], want["probability_yes"], atol=1e-9
    )
    assert (out["prediction"].to_numpy()[:n] == np.asarray(want["prediction"])).all()
    assert model.compile_trees(100) == []  # too few rows to gain from compiled trees


def test_a_big_tables_model_is_compiled_when_the_budget_leaves_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import automl.model as model_module

    rng = np.random.default_rng(1)
    n = 2000
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["y"] = df.a * 2 + np.sin(3 * df.b) + rng.normal(0, 0.2, n)
    automl = AutoML(candidates=["lightgbm"], max_trials=1, ensemble=False, seed=0)
    model = automl.fit(df, target="y").model_
    trees = model.candidates[model.default_id].compiled_trees()
    if trees is None:
        pytest.skip("the model has too few trees to compile")
    assert model.compile_now(600) == 0  # it learned from 1,500 rows: not a big table
    monkeypatch.setattr(model_module, "MIN_ROWS_BIG_TABLE", 1000)
    assert model.compile_now(0.01) == 0  # not enough time left
    assert not trees.cached()
    assert model.compile_now(600) == 1
    assert trees.cached()


def test_a_compile_still_running_when_the_rows_are_scored_finishes_on_its_own(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are not held back by a compile, and the compile is not lost with them."""
    import automl.model as model_module

    rng = np.random.default_rng(2)
    n = 2000
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["y"] = np.where(df.a - df.b + rng.normal(0, 0.5, n) > 0, "yes", "no")
    automl = AutoML(candidates=["lightgbm"], max_trials=1, ensemble=False, seed=0)
    model = automl.fit(df, target="y").model_
    if model.candidates[model.default_id].compiled_trees() is None:
        pytest.skip("the model has too few trees to compile")
    want, _ = model.answers(df)
    started: list[_compiled.CompiledTrees] = []
    compile_trees = model.compile_trees

    def recording(rows: int) -> list[_compiled.CompiledTrees]:
        jobs = compile_trees(rows)
        started.extend(jobs)
        return jobs

    monkeypatch.setattr(model, "compile_trees", recording)
    monkeypatch.setattr(model_module, "COMPILE_WAIT", 0.0)  # the rows do not wait for it
    # a billion rows expected: the compile starts, and the two rows end before it is ready
    rows = df.drop(columns="y").head(2)
    result = score_chunks(model, [rows], tmp_path / "o.csv", expected_rows=10**9)
    assert result.rows == 2 and len(started) == 1
    assert started[0].proc is None  # handed over to finish on its own, not waited for
    for child in _compiled._DETACHED:
        child.wait(timeout=600)
    assert started[0].cached() and not list(own_cache.glob(".job-*"))
    out = pd.read_csv(result.output)
    np.testing.assert_array_equal(out["probability_yes"], want["probability_yes"][:2])


def test_trees_compiled_after_training_are_found_once_the_model_is_loaded(
    tmp_path: Path,
) -> None:
    """The cache key of a trained model's trees is the key of the same model read back from its
    file (a build compiles them; scoring later loads the model)."""
    cand, _ = _fitted("binary")
    cand.save(tmp_path)
    back = LightGBMCandidate.load(tmp_path, cand.params)
    trees, loaded = cand.compiled_trees(), back.compiled_trees()
    assert trees is not None and loaded is not None
    assert trees.key == loaded.key


def test_big_trees_and_many_categories_give_lightgbm_predictions(own_cache: Path) -> None:
    """Trees of 31 leaves (branches at the top, selects at the bottom) and a categorical column
    of 300 categories (ten words of bits in memory), scored on rows with missing, negative,
    fractional and unseen categories and missing numbers."""
    rng = np.random.default_rng(3)
    n = 4000
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 3] = rng.integers(0, 300, n)
    z = X[:, 0] + np.sin(X[:, 1]) + (X[:, 3] % 7 == 2) - (X[:, 3] % 5 == 1)
    y = (z + rng.normal(0, 0.3, n) > 0.5).astype(float)
    X[rng.random((n, 4)) < 0.05] = np.nan
    params = {"learning_rate": 0.1, "num_leaves": 31, "n_estimators": 60}
    params |= {"max_cat_to_onehot": 1, "cat_smooth": 1, "min_data_per_group": 5}
    cand = LightGBMCandidate(params)
    ctx = FitContext(task="binary", n_classes=2, deadline=time.monotonic() + 600, threads=1)
    cand.fit(X, y, ctx, categorical=[3])
    rows = X.copy()
    rows[:5, 3] = [np.nan, -1, 2.5, 299, 10_000]  # missing, negative, fractional, last, unseen
    want, got = _lightgbm_and_compiled(cand, rows, lanes=8)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def _lightgbm_and_compiled(
    cand: LightGBMCandidate, rows: np.ndarray, lanes: int
) -> tuple[np.ndarray, np.ndarray]:
    """``cand``'s scores of ``rows`` (float32) by LightGBM, then by its compiled trees, which
    score tiles of ``lanes`` rows."""
    want = cand.predict_scores(rows)
    trees = cand.compiled_trees()
    assert trees is not None
    _compile(trees)
    cand.score_compiled(trees)
    got = cand.predict_scores(rows)
    scorer = cand.compiled_
    assert scorer is not None and scorer.lanes == lanes, trees.failed
    assert scorer.accepts(rows) is not None  # (scored by the compiled trees)
    assert got.shape == want.shape
    return want, got


def _forest_text(cand: LightGBMCandidate, folder: Path) -> str:
    """The compiler's code for ``cand``'s trees (generated in another process, as the
    compiler's process generates it)."""
    import subprocess
    import sys

    txt = folder / "model.txt"
    txt.write_text(_compiled.compiler_text(cand.model_text()))
    code = (
        "import sys\n"
        "from automl.candidates import _treecode\n"
        "print(_treecode.forest_text(sys.argv[1]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(txt)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_compiler_generates_easels_tree_code(tmp_path: Path) -> None:
    """The compiler's process generates the faster tree code: trees of a few leaves evaluated
    for tiles of 8 rows, every split without a branch; an lleaves whose code generator changed
    fails here, instead of scoring slower unnoticed."""
    cand, _ = _fitted("binary")
    ir = _forest_text(cand, tmp_path)
    assert '@"easel_lanes" = constant i32 8' in ir
    assert "load <8 x float>" in ir and "select <8 x i1>" in ir
    tree = ir[ir.index('@"tree_0"(float* noalias %row)') :]
    assert " br " not in tree[: tree.index("\n}")]  # no branch in a tree


def test_trees_of_many_leaves_are_walked_one_row_at_a_time(tmp_path: Path) -> None:
    """Trees of more than VECTOR_MAX_LEAVES leaves on average would compare too many splits for
    every row: they branch at the top (selects at the bottom), one row at a time, their
    category bits in memory; the predictions are LightGBM's."""
    from automl.candidates import _treecode

    rng = np.random.default_rng(5)
    n = 6000
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 3] = rng.integers(0, 300, n)
    y = X[:, 0] * X[:, 1] + np.sin(3 * X[:, 2]) + (X[:, 3] % 7 == 2) + rng.normal(0, 0.1, n)
    X[rng.random((n, 4)) < 0.05] = np.nan
    params = {"learning_rate": 0.1, "num_leaves": 96, "n_estimators": 25, "min_child_samples": 5}
    params |= {"max_cat_to_onehot": 1, "cat_smooth": 1, "min_data_per_group": 5}
    cand = LightGBMCandidate(params)
    ctx = FitContext(task="regression", n_classes=0, deadline=time.monotonic() + 600, threads=1)
    cand.fit(X, y, ctx, categorical=[3])
    trees = cand.compiled_trees()
    assert trees is not None and trees.leaves > _treecode.VECTOR_MAX_LEAVES * trees.n_trees
    ir = _forest_text(cand, tmp_path)
    assert '@"easel_lanes" = constant i32 1' in ir and "<8 x" not in ir
    assert '@"easel_categories_0" = private unnamed_addr constant' in ir and " br " in ir
    want, got = _lightgbm_and_compiled(cand, X, lanes=1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_tiles_give_lightgbm_predictions_for_awkward_values(
    zero_as_missing: bool, own_cache: Path
) -> None:
    """Tiles of 8 rows, for any number of rows (the last tile part empty), 3 classes; missing
    values as zeros or not; values at a split's threshold and the float32 numbers beside it
    (the float32 threshold is rounded down: the float64 comparison's answer); zeros, values
    within 1e-35 of zero, infinities; categories missing, negative, fractional, huge."""
    rng = np.random.default_rng(11)
    n = 3000
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 3] = rng.integers(0, 40, n)
    X[rng.random(n) < 0.2, 0] = 0.0
    z = X[:, 0] + np.sin(X[:, 1]) - (X[:, 3] % 5 == 1) + (X[:, 2] > 0.3)
    y = np.digitize(z, np.quantile(z, [0.35, 0.7])).astype(float)
    X[rng.random((n, 4)) < 0.05] = np.nan
    params = {"learning_rate": 0.2, "num_leaves": 15, "n_estimators": 30}
    params |= {"zero_as_missing": zero_as_missing, "min_data_per_group": 5, "cat_smooth": 1}
    cand = LightGBMCandidate(params)
    ctx = FitContext(task="multiclass", n_classes=3, deadline=time.monotonic() + 600, threads=1)
    cand.fit(X, y, ctx, categorical=[3])
    dump = cand.fitted_.dump_model()["tree_info"]
    thresholds = [
        float(node["threshold"])
        for tree in dump
        for node in _splits(tree["tree_structure"])
        if node["decision_type"] == "<="
    ]
    rows = [X[:1000]]
    for t in thresholds[:200]:  # each numeric column at a threshold and beside it
        at = np.float32(t)
        for v in (at, np.nextafter(at, np.float32(np.inf)), np.nextafter(at, np.float32(-np.inf))):
            row = X[:1].copy()
            row[0, :3] = v
            rows.append(row)
    odd = np.array(
        [
            [0.0, -0.0, 1e-36, 3],
            [-1e-36, np.inf, -np.inf, -1],
            [np.nan, 1e-30, 0.0, 2.5],
            [5.0, np.nan, np.nan, 1e9],
            [0.1, 0.2, 0.3, -0.5],
        ],
        dtype=np.float32,
    )
    rows.append(odd)
    data = np.vstack(rows)[:-3]  # (not a multiple of 8 rows)
    assert len(data) % 8
    want, got = _lightgbm_and_compiled(cand, data, lanes=8)
    assert got.shape == (len(data), 3)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def _splits(node: dict) -> list[dict]:
    if "split_index" not in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]


def test_float64_rows_are_scored_compiled_only_when_they_are_float32_numbers(
    own_cache: Path,
) -> None:
    """Compiled trees read float32 rows: float64 rows that are float32 numbers score there;
    others (a value float32 would round) are scored by LightGBM, whose answer they could
    change."""
    cand, X = _fitted("binary")
    trees = cand.compiled_trees()
    assert trees is not None
    _compile(trees)
    cand.score_compiled(trees)
    cand.predict_scores(X)
    scorer = cand.compiled_
    assert scorer is not None
    wide = X.astype(np.float64)
    assert scorer.accepts(wide) is not None
    wide[0, 0] = 0.1  # not a float32 number
    assert scorer.accepts(wide) is None
    want = cand.fitted_.predict(wide, num_iteration=cand.n_iterations_)
    np.testing.assert_array_equal(cand.predict_scores(wide), want)
    assert scorer.accepts(X[:, :3]) is None  # (not the model's columns)


def test_a_compile_that_pays_is_waited_for(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows whose scoring by LightGBM would take more than twice the compile wait for it, so
    every chunk, the first included, is scored by the compiled trees (a compile left to the
    background was stopped unfinished when a short batch ended, batch after batch)."""
    import automl.model as model_module

    monkeypatch.setattr(model_module, "COMPILE_WAIT", 1e6)  # (never cut by a busy machine)
    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["y"] = np.where(df.a + np.sin(2 * df.b) + rng.normal(0, 0.5, n) > 0, "yes", "no")
    model = (
        AutoML(candidates=["lightgbm"], max_trials=1, ensemble=False, seed=0)
        .fit(df, target="y")
        .model_
    )
    cand = model.candidates[model.default_id]
    trees = cand.compiled_trees()
    if trees is None:
        pytest.skip("the model has too few trees to compile")
    want, _ = model.answers(df)
    jobs = model.compile_trees(10**9)  # rows whose scoring takes much longer than the compile
    assert len(jobs) == 1 and jobs[0].poll()  # compiled before any row is scored
    result = score_chunks(model, [df.drop(columns="y")], tmp_path / "out.csv")
    assert cand.compiled_ is not None
    out = pd.read_csv(result.output)
    np.testing.assert_allclose(out["probability_yes"], want["probability_yes"], atol=1e-9)


def test_the_compile_estimate_and_the_blocks_follow_the_leaves() -> None:
    """A compile's seconds are estimated from the trees' leaves; trees of many leaves score in
    smaller blocks (515 trees of 31 leaves: 0.58 CPU-s in blocks of 8, 0.70-0.78 in lleaves'
    34), small trees in lleaves' 34, and the compiler's process takes only a sane block size."""
    from automl.candidates import _treecode

    cand, _ = _fitted("binary")  # 40 trees of at most 7 leaves
    trees = cand.compiled_trees()
    assert trees is not None and trees.tiled and trees.block_trees == 34
    leaves = sum(int(n) for n in _compiled._LEAVES.findall(trees.text))
    assert trees.seconds_to_compile == pytest.approx(
        _compiled.COMPILE_SECONDS_PER_LEAF_CALLED * leaves
    )
    wide = _compiled.CompiledTrees(trees.text.replace("num_leaves=", "num_leaves=3"), 40)
    assert wide.leaves > 30 * 40  # ("7" -> "37" leaves)
    assert wide.block_trees == round(_compiled.BLOCK_LEAVES_CALLED / (wide.leaves / 40))
    assert 2 <= wide.block_trees < 34
    huge = _compiled.CompiledTrees(trees.text.replace("num_leaves=", "num_leaves=9"), 40)
    assert not huge.tiled and huge.leaves > _treecode.VECTOR_MAX_LEAVES * 40
    assert [_compiled._block(a) for a in ("8", "2", "34", "1", "35", "-4", "x", "")] == [
        8, 2, 34, 34, 34, 34, 34, 34,
    ]  # fmt: skip


def _small_model(seed: int) -> tuple[pd.DataFrame, object]:
    """A LightGBM model whose scoring time is estimated from its trees (not from the time its
    scoring took in training, which a busy machine stretches)."""
    rng = np.random.default_rng(seed)
    n = 3000
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["y"] = np.where(df.a + np.sin(2 * df.b) + rng.normal(0, 0.5, n) > 0, "yes", "no")
    automl = AutoML(candidates=["lightgbm"], max_trials=1, ensemble=False, seed=0)
    model = automl.fit(df, target="y").model_
    for kept in model.meta.kept.values():
        kept.predict_ms_per_1000_rows = None
    return df, model


def test_a_compile_that_does_not_pay_for_a_batch_is_kept_for_the_next(
    tmp_path: Path, own_cache: Path
) -> None:
    """Rows too few to wait for their trees' compile are scored by LightGBM, and the compile
    goes on after them: the next batch finds the trees compiled (a compile stopped with its
    batch was started again by the next one and stopped again, batch after batch)."""
    import automl.model as model_module

    for child in _compiled._DETACHED:  # (no other test's compile still running: it would wait)
        child.wait(timeout=600)
    df, model = _small_model(6)
    cand = model.candidates[model.default_id]  # type: ignore[attr-defined]
    trees = cand.compiled_trees()
    if trees is None:
        pytest.skip("the model has too few trees to compile")
    want, _ = model.answers(df)  # type: ignore[attr-defined]
    rows = df.drop(columns="y")
    few = model_module.MIN_ROWS_COMPILED  # LightGBM scores them far faster than a compile
    assert few * model_module.TREE_ROW_SECONDS * trees.n_trees < 2 * trees.seconds_to_compile
    score_chunks(model, [rows], tmp_path / "first.csv", expected_rows=few)  # type: ignore[arg-type]
    for child in _compiled._DETACHED:  # (the compile may also have ended within the batch)
        child.wait(timeout=600)
    assert trees.cached()
    assert not list(own_cache.glob(".job-*"))  # the child removed its job file
    cand.compiled_ = None
    score_chunks(model, [rows], tmp_path / "next.csv", expected_rows=few)  # type: ignore[arg-type]
    assert cand.compiled_ is not None  # the next batch was scored by the compiled trees
    out = pd.read_csv(tmp_path / "next.csv")
    np.testing.assert_allclose(out["probability_yes"], want["probability_yes"], atol=1e-9)


def test_one_process_at_a_time_compiles_the_same_trees(tmp_path: Path, own_cache: Path) -> None:
    """Trees another process is compiling (two batches of one model at once) are left to it: no
    compile is started, and one started all the same ends at once, without a library, and
    removes its job file."""
    fcntl = pytest.importorskip("fcntl")
    import subprocess
    import sys

    df, model = _small_model(7)
    trees = model.candidates[model.default_id].compiled_trees()  # type: ignore[attr-defined]
    if trees is None:
        pytest.skip("the model has too few trees to compile")
    own_cache.mkdir(parents=True)
    command = [sys.executable, "-m", "automl.candidates._compiled"]
    job = own_cache / ".job-test.txt"
    with trees.library.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process compiling them
        trees.start()
        assert trees.proc is None and not trees.poll()  # no child started: it waits for theirs
        job.write_text(_compiled.compiler_text(trees.text))
        done = subprocess.run([*command, str(job), str(trees.library)], timeout=600)
        assert done.returncode == 0 and not trees.cached() and not job.exists()
    job.write_text(_compiled.compiler_text(trees.text))  # that process gone: this one compiles
    done = subprocess.run([*command, str(job), str(trees.library)], timeout=600)
    assert done.returncode == 0 and trees.cached() and not job.exists()


def test_compiles_left_to_finish_are_waited_for_once_they_end(tmp_path: Path) -> None:
    """A long-running server hands compiles over batch after batch: those that ended are
    waited for at the next hand-over, none is left a zombie process."""
    import os
    import subprocess
    import sys

    if not hasattr(os, "waitid"):
        pytest.skip("os.waitid is needed to leave an ended child not waited for")
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, ended.pid, os.WEXITED | os.WNOWAIT)  # ended, not waited for: a zombie
    _compiled._DETACHED.append(ended)
    running = _compiled.CompiledTrees("tree\n", 30)
    running.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running.detach()
        assert ended.returncode == 0 and ended not in _compiled._DETACHED  # waited for
        assert running.proc is None
        assert _compiled._DETACHED[-1].poll() is None  # still running, kept
    finally:
        _compiled._DETACHED[-1].kill()
        _compiled._DETACHED[-1].wait()


def test_compiles_for_later_batches_are_one_at_a_time(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch too small to wait for its compile does not start one while another such compile
    runs (an app server's batches of many models would pile them up); a batch that waits for
    its compile starts it all the same."""
    import subprocess
    import sys

    import automl.model as model_module

    _, model = _small_model(6)
    trees = model.candidates[model.default_id].compiled_trees()  # type: ignore[attr-defined]
    if trees is None:
        pytest.skip("the model has too few trees to compile")
    monkeypatch.setattr(model_module, "COMPILE_WAIT", 1e6)  # (never cut by a busy machine)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(_compiled, "_DETACHED", [other])
    try:
        assert model.compile_trees(model_module.MIN_ROWS_COMPILED) == []  # type: ignore[attr-defined]
        jobs = model.compile_trees(10**9)  # type: ignore[attr-defined]
        assert len(jobs) == 1 and jobs[0].poll()  # waited for, compiled
    finally:
        other.kill()
        other.wait()


def test_the_cache_keeps_a_lock_a_compile_holds(tmp_path: Path) -> None:
    """Old lock files are removed from the cache folder, never one a compile holds (a third
    process would then compile the same trees beside it)."""
    import os

    fcntl = pytest.importorskip("fcntl")
    lock = tmp_path / "abc.lock"
    lock.touch()
    os.utime(lock, (time.time() - 7200, time.time() - 7200))
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _compiled._prune(tmp_path)
        assert lock.exists()
    _compiled._prune(tmp_path)
    assert not lock.exists()
