"""The real console script, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_table

AUTOML = str(Path(sys.executable).parent / "automl")


# generous: a busy machine makes a new process (imports, reports) many times slower than an idle one
def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [AUTOML, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    res.stderr = " ".join(res.stderr.split(" ")).replace("\n", " ")  # messages wrap at 100 columns
    return res


@pytest.fixture(scope="module")
def data_csv(binary_df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "customers.csv"
    binary_df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(saved_binary_model: Path, data_csv: Path) -> Path:
    # The model the other commands read is the session's binary model (tests/conftest.py: bounded
    # by max_trials, trained through the API on the rows of data_csv, no reports: no test here
    # reads them), copied because `automl use` changes it. test_train_prints_metrics_and_progress
    # runs `automl train` itself.
    return Path(shutil.copytree(saved_binary_model, data_csv.parent / "model"))


def test_train_prints_metrics_and_progress(data_csv: Path, tmp_path: Path):
    # bounded by --max-trials, with a budget it never reaches: the same trials on any machine
    out = tmp_path / "model"
    res = run(
        "train", str(data_csv), "--target", "churn", "--max-trials", "2", "--time-budget", "600",
        "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    trials = json.loads((out / "easel_model.json").read_text())["leaderboard"]
    assert len([t for t in trials if t["source"] != "ensemble"]) == 2
    assert "hold-out metrics" in res.stdout
    assert "checking the target" in res.stderr  # progress on stderr
    assert (out / "easel_model.json").exists()


def test_help_for_every_command():
    for cmd in ["train", "predict", "info", "use", "preview"]:
        res = run(cmd, "--help")
        assert res.returncode == 0 and "usage: automl" in res.stdout


def test_info_shows_task_metrics_columns_and_leaderboard(trained: Path):
    res = run("info", str(trained))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "task: binary" in out and "roc_auc" in out and "leaderboard:" in out
    assert "customer_id" in out and "identifier" in out  # ignored, with the reason
    assert "country" in out and "constant" in out
    info = json.loads(run("info", str(trained), "--json").stdout)
    assert info["task"] == "binary" and info["schema_version"] == 2


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_writes_inputs_plus_predictions(trained: Path, data_csv: Path, suffix: str):
    rows = pd.read_csv(data_csv).drop(columns=["churn"]).head(50)
    src = data_csv.parent / f"new_rows{suffix}"
    rows.to_csv(src, index=False) if suffix == ".csv" else rows.to_parquet(src)
    out = data_csv.parent / f"scored{suffix}"
    res = run("predict", str(trained), str(src), "--out", str(out), "--chunk-rows", "16")
    assert res.returncode == 0, res.stderr
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(scored) == 50
    assert list(scored.columns[: rows.shape[1]]) == list(rows.columns)
    for col in ["prediction", "confidence", "probability_no", "probability_yes"]:
        assert col in scored.columns
    assert set(scored["prediction"]) <= {"yes", "no"}


def test_predict_with_reasons(trained: Path, data_csv: Path):
    rows = pd.read_csv(data_csv).drop(columns=["churn"]).head(30)
    src = data_csv.parent / "why_rows.csv"
    rows.to_csv(src, index=False)
    out = data_csv.parent / "why.csv"
    res = run("predict", str(trained), str(src), "--out", str(out), "--reasons", "2")
    assert res.returncode == 0, res.stderr
    scored = pd.read_csv(out)
    assert scored["reasons"].str.count(";").eq(1).all()
    assert (
        run("predict", str(trained), str(src), "--out", str(out), "--reasons", "-1").returncode == 2
    )


def test_predict_missing_column_is_a_user_error(trained: Path, data_csv: Path):
    src = data_csv.parent / "bad_rows.csv"
    pd.read_csv(data_csv).drop(columns=["churn", "age"]).head(5).to_csv(src, index=False)
    out = data_csv.parent / "never.csv"
    res = run("predict", str(trained), str(src), "--out", str(out))
    assert res.returncode == 2
    assert "missing 1 column(s)" in res.stderr and "age" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists() and not list(data_csv.parent.glob(".never.csv*"))


def test_use_makes_another_candidate_the_default(trained: Path, tmp_path: Path):
    # the model file itself (what `automl info --json` prints, see test_artifact.py)
    info = json.loads((trained / "easel_model.json").read_text())
    other = next(k for k in info["kept"] if int(k) != info["default_candidate"])
    res = run("use", str(trained), other)
    assert res.returncode == 0, res.stderr
    saved = json.loads((trained / "easel_model.json").read_text())
    assert saved["default_candidate"] == int(other)
    res = run("use", str(trained), "9999")
    assert res.returncode == 2 and "no candidate 9999 on the leaderboard" in res.stderr
    not_kept = next(r["id"] for r in info["leaderboard"] if str(r["id"]) not in info["kept"])
    res = run("use", str(trained), str(not_kept))
    assert res.returncode == 2 and "Kept candidates" in res.stderr


def test_preview(data_csv: Path):
    res = run("preview", str(data_csv), "--target", "churn", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["task"] == "binary" and out["column_impact"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"a,b,c\n", "no rows"),
        (b"\x00\x01\x02\xff\xfe" * 200, "text"),
    ],
)
def test_unreadable_input_is_a_user_error(tmp_path: Path, content: bytes, expected: str):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    res = run("train", str(path), "--target", "y", "--out", str(tmp_path / "m"))
    assert res.returncode == 2, res.stderr
    assert expected in res.stderr.lower() and "Traceback" not in res.stderr
    assert not (tmp_path / "m").exists()


def test_truncated_parquet(tmp_path: Path):
    path = tmp_path / "data.parquet"
    make_table(100).to_parquet(path)
    path.write_bytes(path.read_bytes()[:300])
    res = run("train", str(path), "--target", "churn", "--out", str(tmp_path / "m"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "data.parquet" in res.stderr


def test_target_errors_exit_2(data_csv: Path, tmp_path: Path):
    res = run("train", str(data_csv), "--target", "nope", "--out", str(tmp_path / "m"))
    assert res.returncode == 2 and "'nope' is not in the data" in res.stderr
    few = tmp_path / "few.csv"
    pd.DataFrame({"x": range(10), "y": [0, 1] * 5}).to_csv(few, index=False)
    res = run("train", str(few), "--target", "y", "--out", str(tmp_path / "m"))
    assert res.returncode == 2 and "at least 20" in res.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_interrupted_training_leaves_nothing(data_csv: Path, tmp_path: Path, how: str):
    out = tmp_path / "m"
    proc = subprocess.Popen(
        [
            AUTOML,
            "train",
            str(data_csv),
            "--target",
            "churn",
            "--time-budget",
            "30",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell may start background jobs with SIGINT ignored; a user's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 200  # generous, for a busy machine
    while time.monotonic() < deadline and "trial" not in proc.stderr.readline():
        pass  # wait until the search runs
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_bad_chunk_rows(trained: Path, data_csv: Path, tmp_path: Path):
    res = run(
        "predict",
        str(trained),
        str(data_csv),
        "--out",
        str(tmp_path / "o.csv"),
        "--chunk-rows",
        "0",
    )
    assert res.returncode == 2 and "--chunk-rows must be a positive" in res.stderr
