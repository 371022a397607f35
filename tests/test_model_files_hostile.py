"""Damaged, cut or hand-edited model files: one clear ArtifactError, never a crash or traceback.

DESIGN.md: "every file is validated before a native library reads it, so a damaged file is an
error, never a crash". Cases that could crash the process (LightGBM, XGBoost) run in child
processes, so a native crash fails its test instead of killing pytest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl.batch import predict_file
from automl.errors import ArtifactError, EaselError, ParameterError, SchemaError
from automl.model import Model
from benchmarks.model_files_fuzz import Case, make_cases, run_cases
from tests.conftest import make_table

FAMILIES = ["lightgbm", "xgboost", "linear", "forest", "knn"]
# child processes import the same automl as the tests, and the tests' helpers
_PATHS = (Path(automl.__file__).parents[1], Path(__file__).parents[1])
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(map(str, _PATHS))}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A saved 2-category model that keeps every family (category columns included), and a
    CSV of rows to predict."""
    folder = tmp_path_factory.mktemp("hostile")
    df = make_table(300, 1, "binary")
    model = automl.AutoML(time_budget=600, seed=0, max_trials=5, candidates=FAMILIES)
    path = model.fit(df, "churn").model_.save(folder / "model")
    rows = folder / "rows.csv"
    df.drop(columns=["churn"]).head(40).to_csv(rows, index=False)
    return path, rows


def _kept(folder: Path, family: str) -> int:
    meta = json.loads((folder / "easel_model.json").read_text())
    return next(int(k) for k, v in meta["kept"].items() if v["candidate"] == family)


def _copy(saved: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved[0], tmp_path / "model"))


def _line(key: str, change: Callable[[list[str]], list[str]], nth: int = 0) -> Callable[[str], str]:
    """A mutation of LightGBM's text: the values of the ``nth`` line ``key=...`` changed."""

    def mutate(text: str) -> str:
        spots = list(re.finditer(rf"(?m)^{key}=(.*)$", text))
        spot = spots[nth]
        values = change(spot.group(1).split(" "))
        return text[: spot.start()] + f"{key}={' '.join(values)}" + text[spot.end() :]

    return mutate


def _first(value: str) -> Callable[[list[str]], list[str]]:
    return lambda values: [value, *values[1:]]


LIGHTGBM_DAMAGE: dict[str, Callable[[str], str]] = {
    "cut at 10%": lambda t: t[: len(t) // 10],
    "cut at half": lambda t: t[: len(t) // 2],
    "cut at 90%": lambda t: t[: len(t) * 9 // 10],
    "cut after the trees": lambda t: t[: t.index("end of trees")],
    "left branch out of range": _line("left_child", _first("9999")),
    "right leaf out of range": _line("right_child", _first("-9999")),
    "branch loops to the root": _line("left_child", lambda v: [*v[:-1], "0"]),
    "split input out of range": _line("split_feature", _first("100000")),
    "one leaf more than listed": _line("num_leaves", lambda v: [str(int(v[0]) + 1)]),
    "threshold not a number": _line("threshold", _first("abc")),
    "leaf value overflows": _line("leaf_value", _first("1e999")),
    "unknown split kind": _line("decision_type", _first("99")),
    "category list out of range": _line("cat_boundaries", _first("7")),
    "class count changed": _line("num_class", _first("3")),
    "trees per round changed": _line("num_tree_per_iteration", _first("2")),
    "an input name dropped": _line("feature_names", lambda v: v[:-1]),
    "fewer inputs": _line("max_feature_idx", _first("1")),
    "objective for 7 classes": _line("objective", lambda v: ["multiclass", "num_class:7"]),
    "a tree dropped": lambda t: re.sub(r"(?s)Tree=1\n.*?\n\n\n", "", t, count=1),
    "huge leaf count": _line("num_leaves", _first("2000000000")),
}


def _json_change(change: Callable[[dict], None]) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data)

    return mutate


def _tree(data: dict, i: int = 0) -> dict:
    return data["learner"]["gradient_booster"]["model"]["trees"][i]


def _set(key: str, index: int, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        _tree(data)[key][index] = value

    return change


XGBOOST_DAMAGE: dict[str, Callable[[str], str]] = {
    "cut at half": lambda t: t[: len(t) // 2],
    "cut near the end": lambda t: t[:-20],
    "left branch out of range": _json_change(_set("left_children", 0, 1_000_000)),
    "branch loops to the root": _json_change(_set("left_children", 0, 0)),
    "one branch only": _json_change(_set("right_children", 0, -1)),
    "split input out of range": _json_change(_set("split_indices", 0, 1_000_000)),
    "parent out of range": _json_change(_set("parents", 1, 1_000_000)),
    "list cut short": _json_change(lambda d: _tree(d)["base_weights"].pop()),
    "node count changed": _json_change(
        lambda d: _tree(d)["tree_param"].__setitem__("num_nodes", "100000")
    ),
    "input count changed": _json_change(
        lambda d: d["learner"]["learner_model_param"].__setitem__("num_feature", "100000")
    ),
    "tree class out of range": _json_change(
        lambda d: d["learner"]["gradient_booster"]["model"]["tree_info"].__setitem__(0, 5)
    ),
    "a tree dropped": _json_change(
        lambda d: d["learner"]["gradient_booster"]["model"]["trees"].pop()
    ),
    "class count changed": _json_change(
        lambda d: d["learner"]["learner_model_param"].__setitem__("num_class", "4")
    ),
    "not JSON": lambda t: "{" + t,
}


def _cases(folder: Path, family: str, damage: dict[str, Callable[[str], str]]) -> list[Case]:
    cid = _kept(folder, family)
    name = "model.txt" if family == "lightgbm" else "model.json"
    text = (folder / "candidates" / str(cid) / name).read_text()
    cases = []
    for kind, mutate in damage.items():
        damaged = mutate(text)
        assert damaged != text, kind  # the mutation applies to this model
        cases.append(Case(len(cases), f"candidates/{cid}/{name}", cid, damaged, kind))
    return cases


@pytest.fixture(scope="module")
def outcomes(saved: tuple[Path, Path]) -> tuple[list[Case], dict[int, tuple[str, str]]]:
    """Every damaged native file below, and a fixed sample of the random damage of
    benchmarks/model_files_fuzz.py (which runs hundreds), each loaded, predicted and explained
    in worker processes: [cases], {case id: (outcome, detail)}."""
    cases = _cases(saved[0], "lightgbm", LIGHTGBM_DAMAGE)
    cases += _cases(saved[0], "xgboost", XGBOOST_DAMAGE)
    for case in make_cases(saved[0], 25, seed=7):
        cases.append(Case(len(cases), case.file, case.candidate, case.data, "random " + case.kind))
    for i, case in enumerate(cases):
        case.id = i
    return cases, run_cases(saved[0], saved[1], cases, ENV)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_damaged_native_model_files_are_errors_in_plain_words(
    outcomes: tuple[list[Case], dict[int, tuple[str, str]]], family: str
) -> None:
    """Each damage: an ArtifactError that names the file, never a crash, a hang, another
    exception or a native stack trace (XGBoost's own messages carry one)."""
    cases, results = outcomes
    name = "model.txt" if family == "lightgbm" else "model.json"
    mine = [c for c in cases if c.file.endswith(name) and not c.kind.startswith("random")]
    assert len(mine) == len(LIGHTGBM_DAMAGE if family == "lightgbm" else XGBOOST_DAMAGE)
    for case in mine:
        outcome, detail = results[case.id]
        assert outcome == "error", (case.kind, outcome, detail)
        assert name in detail and "damaged" in detail, (case.kind, detail)
        assert "Stack trace" not in detail and "dmlc" not in detail, (case.kind, detail)


def test_random_damage_never_kills_the_process(
    outcomes: tuple[list[Case], dict[int, tuple[str, str]]],
) -> None:
    cases, results = outcomes
    sample = [c for c in cases if c.kind.startswith("random")]
    assert len(sample) == 50
    bad = {c.kind: results[c.id] for c in sample if results[c.id][0] not in ("error", "ok")}
    assert not bad


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, "-m", "automl", *args],
        capture_output=True,
        text=True,
        errors="replace",  # a native crash may print bytes of the damaged file
        timeout=240,
        env=ENV,
        check=False,
    )
    res.stderr = res.stderr.replace("\n", " ")
    return res


def test_cli_exits_2_on_a_cut_or_corrupt_lightgbm_file(
    saved: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = _copy(saved, tmp_path)
    txt = folder / "candidates" / str(_kept(folder, "lightgbm")) / "model.txt"
    original = txt.read_text()
    txt.write_text(original[: len(original) // 2])
    res = _cli("info", str(folder))
    assert res.returncode == 2, res.stderr
    assert "model.txt" in res.stderr and "cut short" in res.stderr, res.stderr
    txt.write_text(_line("left_child", _first("9999"))(original))
    res = _cli("predict", str(folder), str(saved[1]), "--out", str(tmp_path / "p.csv"))
    assert res.returncode == 2, res.stderr
    assert "model.txt" in res.stderr and "does not exist" in res.stderr, res.stderr
    assert not (tmp_path / "p.csv").exists()


# ------------------------------------------------------------------------ the other families
def _npz_change(
    name: str, change: Callable[[dict[str, np.ndarray]], None]
) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        change(arrays)
        np.savez_compressed(path, **arrays)

    return apply


def _forest(change: Callable[[dict[str, np.ndarray]], None]) -> tuple[str, Callable[[Path], None]]:
    return "forest", _npz_change("forest.npz", change)


def _knn(change: Callable[[dict[str, np.ndarray]], None]) -> tuple[str, Callable[[Path], None]]:
    return "knn", _npz_change("knn.npz", change)


def _linear(change: Callable[[dict], None]) -> tuple[str, Callable[[Path], None]]:
    def apply(path: Path) -> None:
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return "linear", apply


def _add_object_array(a: dict[str, np.ndarray]) -> None:
    a["rows"] = np.array([{"x": 1}] * len(a["rows"]), dtype=object)


def _loop(a: dict[str, np.ndarray]) -> None:
    inner = np.nonzero(a["left"] != np.arange(len(a["left"])))[0]
    a["left"][inner[1]] = inner[0]


ARRAY_DAMAGE = {
    "forest: split input out of range": _forest(lambda a: a["feature"].__setitem__(0, 10_000)),
    "forest: branch out of range": _forest(lambda a: a["left"].__setitem__(0, 10**8)),
    "forest: branch loops back": _forest(_loop),
    "forest: huge depth": _forest(lambda a: a["depth"].__setitem__(0, 10**9)),
    "forest: fewer inputs": _forest(lambda a: a.__setitem__("importance", a["importance"][:2])),
    "forest: leaf values for 3 classes": _forest(
        lambda a: a.__setitem__("value", np.hstack([a["value"], a["value"][:, :1]]))
    ),
    "forest: an array missing": _forest(lambda a: a.pop("roots")),
    "forest: threshold not numbers": _forest(
        lambda a: a.__setitem__("threshold", a["threshold"].astype(str))
    ),
    "knn: rows one input short": _knn(lambda a: a.__setitem__("rows", a["rows"][:, 1:])),
    "knn: an answer out of range": _knn(lambda a: a["target"].__setitem__(0, 7)),
    "knn: object array": _knn(_add_object_array),
    "knn: unknown task": _knn(lambda a: a.__setitem__("task", np.asarray(["banana"]))),
    "knn: an extra array": _knn(lambda a: a.__setitem__("extra", np.zeros(3))),
    "linear: one coefficient short": _linear(
        lambda d: d.__setitem__("coef", [r[:-1] for r in d["coef"]])
    ),
    "linear: coefficients as text": _linear(
        lambda d: d.__setitem__("coef", [[str(x) for x in r] for r in d["coef"]])
    ),
    "linear: rows of different lengths": _linear(
        lambda d: d.__setitem__("coef", [*d["coef"], [1.0]])
    ),
    "linear: intercepts for 3 classes": _linear(
        lambda d: d.__setitem__("intercept", [0.0, 0.0, 0.0])
    ),
    "linear: not JSON": ("linear", lambda p: p.write_text('{"task": "binary", "coef": [[1,')),
    "linear: empty": ("linear", lambda p: p.write_text("")),
}
_FILES = {"forest": "forest.npz", "knn": "knn.npz", "linear": "linear.json"}


@pytest.mark.parametrize("kind", list(ARRAY_DAMAGE))
def test_damaged_arrays_are_refused_at_load(
    saved: tuple[Path, Path], tmp_path: Path, kind: str
) -> None:
    """Shapes, indices and types are checked when the model loads, not found at predict."""
    family, damage = ARRAY_DAMAGE[kind]
    folder = _copy(saved, tmp_path)
    cid = _kept(folder, family)
    damage(folder / "candidates" / str(cid) / _FILES[family])
    with pytest.raises(ArtifactError, match=rf"{_FILES[family]}.*damaged|candidate {cid}"):
        model = automl.load(folder)
        model.set_default(cid).predict(pd.read_csv(saved[1]))


def test_npz_files_are_read_without_pickle() -> None:
    sources = "".join(
        (Path(automl.__file__).parent / "candidates" / f).read_text()
        for f in ("_forest.py", "_knn.py", "_files.py")
    )
    assert "allow_pickle=True" not in sources
    assert sources.count("np.load(") == sources.count("np.load(path, allow_pickle=False)")


# ------------------------------------------------------------------------ the metadata
def _meta_change(change: Callable[[dict], None]) -> Callable[[dict], None]:
    return change


def _ensemble_of_a_missing_candidate(meta: dict) -> None:
    first = next(iter(meta["kept"].values()))
    meta["kept"]["99"] = {**first, "candidate": "ensemble", "members": {"12345": 1.0}}
    meta["default_candidate"] = 99


def _kept_value(key: str, value: object) -> Callable[[dict], None]:
    def change(meta: dict) -> None:
        meta["kept"][str(meta["default_candidate"])][key] = value

    return change


META_DAMAGE: dict[str, Callable[[dict], None]] = {
    "no target": lambda m: m.pop("target"),
    "target without a name": lambda m: m["target"].__setitem__("name", ""),
    "default not kept": lambda m: m.__setitem__("default_candidate", 12345),
    "default not a number": lambda m: m.__setitem__("default_candidate", "abc"),
    "ensemble of a missing candidate": _ensemble_of_a_missing_candidate,
    "threshold as text": _kept_value("threshold", "abc"),
    "threshold above 1": _kept_value("threshold", 7),
    "unknown family": _kept_value("candidate", "banana"),
    "unknown task": lambda m: m.__setitem__("task", "banana"),
    "3 classes for 2 categories": lambda m: m["target"].__setitem__("classes", ["a", "b", "c"]),
    "kept id not a number": lambda m: m["kept"].__setitem__("abc", m["kept"].pop(
        str(m["default_candidate"])
    )),
    "no preprocessing": lambda m: m.pop("preprocessing"),
    "preprocessing without params": lambda m: m["preprocessing"].pop("params"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(META_DAMAGE))
def test_inconsistent_metadata_is_refused_at_load(
    saved: tuple[Path, Path], tmp_path: Path, kind: str
) -> None:
    folder = _copy(saved, tmp_path)
    meta_file = folder / "easel_model.json"
    meta = json.loads(meta_file.read_text())
    META_DAMAGE[kind](meta)
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="damaged|incomplete|does not have") as err:
        model = automl.load(folder)
        model.predict(pd.read_csv(saved[1]))
        model.explain(pd.read_csv(saved[1]).head(2))
    assert "Error" not in str(err.value) and "'str' object" not in str(err.value)


# ------------------------------------------------------------------------ predicting
@pytest.fixture(scope="module")
def loaded(saved: tuple[Path, Path]) -> tuple[Model, pd.DataFrame]:
    return automl.load(saved[0]), pd.read_csv(saved[1])


def test_duplicate_column_names_are_a_schema_error(loaded: tuple[Model, pd.DataFrame]) -> None:
    model, rows = loaded
    doubled = pd.concat([rows, rows[["age"]]], axis=1)
    with pytest.raises(SchemaError, match="several columns named 'age'"):
        model.predict(doubled)
    with pytest.raises(SchemaError, match="several columns named 'age'"):
        model.explain(doubled)


def test_set_default_takes_a_candidate_id_or_says_what_it_needs(
    loaded: tuple[Model, pd.DataFrame], saved: tuple[Path, Path]
) -> None:
    model = automl.load(saved[0])
    with pytest.raises(ParameterError, match="'candidate_id' parameter of set_default") as err:
        model.set_default("abc")  # type: ignore[arg-type]
    assert isinstance(err.value, EaselError)
    with pytest.raises(ParameterError, match="not a kept candidate"):
        model.candidate_name(12345)
    linear = _kept(saved[0], "linear")
    assert model.set_default(str(linear)).default_id == linear  # as typed on a command line


def test_answer_columns_never_overwrite_the_rows_columns(
    loaded: tuple[Model, pd.DataFrame], tmp_path: Path
) -> None:
    model, rows = loaded
    rows = rows.assign(prediction="mine", confidence=-1.0, probability_yes="keep")
    table, report = model.predict_table(rows, reasons=2)
    assert (table["prediction"] == "mine").all() and (table["confidence"] == -1.0).all()
    assert (table["probability_yes"] == "keep").all()
    assert set(table["prediction_2"]) <= {"yes", "no"}
    assert table["probability_yes_2"].between(0, 1).all() and "reasons_2" in table
    message = " ".join(report.messages())
    assert (
        "'prediction', 'confidence', 'probability_yes'" in message and "'prediction_2'" in message
    )
    # a file: the same names, and the result says which columns were added
    src = tmp_path / "in.csv"
    rows.to_csv(src, index=False)
    result = predict_file(model, src, tmp_path / "out.csv", chunk_rows=15)
    out = pd.read_csv(tmp_path / "out.csv")
    assert (out["prediction"] == "mine").all() and set(out["prediction_2"]) <= {"yes", "no"}
    assert result.added_columns == ["prediction_2", "confidence_2", "probability_no_2",
                                    "probability_yes_2"]  # fmt: skip
    assert any("'prediction_2'" in m for m in result.report.messages())
    clean, report = model.predict_table(rows.drop(columns=["prediction", "confidence",
                                                           "probability_yes"]))  # fmt: skip
    assert "prediction" in clean and not report.renamed_outputs


def test_cli_predict_warns_when_answer_columns_are_renamed(
    saved: tuple[Path, Path], tmp_path: Path
) -> None:
    src = tmp_path / "in.csv"
    pd.read_csv(saved[1]).assign(prediction="mine").to_csv(src, index=False)
    res = _cli("predict", str(saved[0]), str(src), "--out", str(tmp_path / "out.csv"))
    assert res.returncode == 0, res.stderr
    assert "warning: The rows already have column(s) named 'prediction'" in res.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert (out["prediction"] == "mine").all() and "prediction_2" in out


# ------------------------------------------------------------------------ saving
_KILLED_SAVE = """
import sys, time
import automl
model = automl.load(sys.argv[1])
model.save(sys.argv[2], extras=lambda folder: time.sleep(600))  # killed while writing
"""


def test_save_removes_what_killed_saves_left_behind(
    saved: tuple[Path, Path], tmp_path: Path
) -> None:
    """kill -9 during a save leaves its temporary folder; the next save of that model removes
    it, and only what a dead save left (never another save's live folder, nor other files)."""
    target = tmp_path / "m"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVE, str(saved[0]), str(target)], env=ENV
    )
    try:
        deadline = time.monotonic() + 240
        while not list(tmp_path.glob(".m.tmp-*/holdout.parquet")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the save ended before it could be killed"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    (killed,) = tmp_path.glob(".m.tmp-*")
    host = killed.name.split("-")[1]
    old_style = tmp_path / ".m.tmp-0123abcd"  # an earlier Easel's name, without the writer
    fresh_old_style = tmp_path / ".m.old-89abcdef"
    live = tmp_path / f".m.tmp-{host}-1-fedcba98"  # pid 1 is alive
    other_model = tmp_path / ".m2.tmp-0123abcd"
    not_ours = tmp_path / ".m.tmp-notes"
    for folder in (old_style, fresh_old_style, live, other_model, not_ours):
        (folder / "candidates").mkdir(parents=True)
    two_minutes_ago = time.time() - 120
    for folder in (old_style, other_model, not_ours):
        os.utime(folder, (two_minutes_ago, two_minutes_ago))
    automl.load(saved[0]).save(target)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["m", fresh_old_style.name, live.name, other_model.name, not_ours.name])
    assert automl.load(target).task == "binary"
