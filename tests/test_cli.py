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

from automl.cli import main
from tests.conftest import make_table
from tests.test_atomic import killed_writer

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
    assert "Checking the target" in res.stderr  # progress on stderr
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
    assert info["task"] == "binary" and info["schema_version"] == 9


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
    assert "missing 1 column" in res.stderr and "(s)" not in res.stderr and "age" in res.stderr
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


def test_use_on_a_workspace_model_changes_its_own_folder(trained: Path, tmp_path: Path):
    import automl
    from automl.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    name, version, path = ws.new_model_path("churn")
    shutil.copytree(trained, path)
    rec = ws.add_model(name, version, path, "customers", automl.load(path))
    info = json.loads((path / "easel_model.json").read_text())
    other = next(k for k in info["kept"] if int(k) != info["default_candidate"])
    res = run("use", "model:churn", other, "--workspace", str(ws.root))
    assert res.returncode == 0, res.stderr
    assert ws.get_model("churn").path == rec.path  # the folder, changed in place
    saved = json.loads((path / "easel_model.json").read_text())
    assert saved["default_candidate"] == int(other)


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
    while time.monotonic() < deadline and "Tried model" not in proc.stderr.readline():
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


# ---------------------------------------------------------------------- paths, pipes, leftovers
def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command in this process: (exit status, stdout, stderr as one line)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, " ".join(out.err.split())


def fill(arg: str, values: dict[str, str]) -> str:
    """``FILE/s.csv`` -> the test's file, then ``/s.csv``."""
    head, sep, rest = arg.partition("/")
    return values.get(head, head) + sep + rest


OUT_CASES = {
    # argv (FILE: a regular file of the user's; DIR: an empty folder), the path the message names
    "predict --out under a file": (["predict", "MODEL", "DATA", "--out", "FILE/s.csv"], "notes"),
    "predict --out a folder": (["predict", "MODEL", "DATA", "--out", "DIR"], "scored.csv"),
    "profile --out under a file": (["profile", "DATA", "--out", "FILE/r.html"], "notes"),
    "profile --out a folder": (["profile", "DATA", "--out", "DIR"], "scored.csv"),
    "profile --json under a file": (
        ["profile", "DATA", "--out", "TMP/r.html", "--json", "FILE/r.json"],
        "notes",
    ),
    "report --out a folder": (["report", "MODEL", "--out", "DIR"], "scored.csv"),
    "train --out a file": (
        ["train", "DATA", "--target", "churn", "--max-trials", "2", "--out", "FILE"],
        "notes",
    ),
    "train --out under a file": (
        ["train", "DATA", "--target", "churn", "--max-trials", "2", "--out", "FILE/model"],
        "notes",
    ),
    "forecast --out under a file": (["forecast", "MODEL", "--out", "FILE/f.csv"], "notes"),
    "predict --out deep under a file": (
        ["predict", "MODEL", "DATA", "--out", "FILE/deeper/s.csv"],
        "notes",
    ),
    "--workspace under a file": (
        ["import", "DATA", "--name", "x", "--workspace", "FILE/ws"],
        "notes",
    ),
}


@pytest.mark.parametrize("case", sorted(OUT_CASES))
def test_unusable_paths_are_refused_naming_the_path(
    trained: Path, data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
):
    argv, named = OUT_CASES[case]
    a_file = tmp_path / "notes"
    a_file.write_text("my notes")
    a_dir = tmp_path / "scored.csv"
    a_dir.mkdir()
    values = {"MODEL": str(trained), "DATA": str(data_csv), "FILE": str(a_file)}
    values |= {"DIR": str(a_dir), "TMP": str(tmp_path)}
    code, _, err = cli(capsys, *[fill(a, values) for a in argv])
    assert code == 2, err
    assert named in err and ".tmp" not in err and ("Choose" in err or "Give" in err), err
    assert "checking the target" not in err  # refused before any training
    assert a_file.read_text() == "my notes" and list(a_dir.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "scored.csv"]  # nothing else


def test_train_refuses_a_folder_that_is_not_a_model_before_training(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"not a model")
    argv = ["train", str(data_csv), "--target", "churn", "--max-trials", "2", "--out", str(out)]
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "photos" in err and "not an Easel model" in err
    assert "checking the target" not in err  # refused before training started
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]
    assert [p.name for p in out.iterdir()] == ["cat.jpg"]


def test_outputs_never_replace_the_input(
    trained: Path, data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    src = tmp_path / "rows.csv"
    pd.read_csv(data_csv).head(20).to_csv(src, index=False)
    before = src.read_bytes()
    for argv in (
        ["predict", str(trained), str(src), "--out", str(src)],
        ["profile", str(src), "--out", str(src)],
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "rows.csv" in err and "replace your data" in err
        assert src.read_bytes() == before


def test_an_interrupted_report_writes_neither_file(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
):
    from automl.reports._base import Report

    def interrupted(self: Report) -> str:  # Ctrl-C while the JSON is being made
        raise KeyboardInterrupt

    monkeypatch.setattr(Report, "to_json", interrupted)
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    code, _, err = cli(capsys, "profile", str(data_csv), "--out", str(html), "--json", str(js))
    assert code == 130 and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_temporaries_are_removed_by_the_next_write(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "report.html"
    killed = killed_writer(out)  # kill -9 while writing the report
    hours_ago = time.time() - 7 * 3600
    earlier = tmp_path / ".report.html.tmp-1a2b3c4d"  # an earlier Easel's, untouched for hours
    earlier.write_text("half")
    os.utime(earlier, (hours_ago, hours_ago))
    running = tmp_path / f".report.html.tmp-{os.getpid()}-{killed.name.split('-')[2]}-0badc0de"
    running.write_text("a writer still at work")  # this process is alive: kept
    fresh = tmp_path / ".report.html.tmp-5e6f7a8b"  # no process id, recent: may be at work
    fresh.write_text("half")
    others = tmp_path / ".notes.txt.tmp-1a2b3c4d"  # another file's, old: not this write's
    others.write_text("half")
    os.utime(others, (hours_ago, hours_ago))
    code, _, err = cli(capsys, "profile", str(data_csv), "--out", str(out))
    assert code == 0, err
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"report.html", running.name, fresh.name, others.name}


def test_dataset_versions_that_cannot_exist_are_user_errors(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    w = str(tmp_path / "ws")
    assert cli(capsys, "import", str(data_csv), "--name", "cust", "--workspace", w)[0] == 0
    for ref in ("cust@999999999999999999999999", "cust@" + "9" * 5000, "cust@\u00b2"):
        for argv in (
            ["datasets", "show", ref],
            ["datasets", "delete", ref],
            ["train", f"dataset:{ref}", "--target", "churn", "--out", str(tmp_path / "m")],
        ):
            code, _, err = cli(capsys, *argv, "--workspace", w)
            assert code == 2 and "cust" in err and len(err) < 400, err
    with pytest.raises(SystemExit) as stop:  # argparse: a usage error, status 2
        main(["datasets", "delete", "cust", "--version", "9" * 30, "--workspace", w])
    assert stop.value.code == 2 and "a version is a number" in capsys.readouterr().err
    assert cli(capsys, "datasets", "show", "cust@1", "--workspace", w)[0] == 0


@pytest.mark.parametrize(
    "argv",
    [["datasets", "list"], ["preview", "DATA", "--target", "churn"]],
    ids=["datasets list", "preview"],
)
def test_a_closed_pipe_ends_the_command_quietly(data_csv: Path, tmp_path: Path, argv: list[str]):
    # `automl ... | head -2`: the reader leaves before the output is written
    argv = [str(data_csv) if a == "DATA" else a for a in argv]
    env = {**os.environ, "EASEL_WORKSPACE": str(tmp_path / "ws")}
    proc = subprocess.Popen(
        [AUTOML, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=240) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err


def test_a_recipe_file_that_is_not_text_is_a_user_error(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    recipe = tmp_path / "recipe.json"
    recipe.write_bytes(b"\xff\xfe\x00\x01 not text")
    out = str(tmp_path / "m")
    argv = ["train", str(data_csv), "--target", "churn", "--recipe", str(recipe), "--out", out]
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "recipe.json" in err and "not a text" in err


def test_every_model_command_takes_a_workspace_model(
    trained: Path, data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    import automl
    from automl.workspace import Workspace
    from automl.workspace.users import Team

    ws = Workspace(tmp_path / "ws")
    for _ in range(2):
        name, version, path = ws.new_model_path("churn")
        shutil.copytree(trained, path)
        ws.add_model(name, version, path, "customers", automl.load(path))
    w = ["--workspace", str(ws.root)]
    rows = tmp_path / "rows.csv"
    pd.read_csv(data_csv).drop(columns=["churn"]).head(20).to_csv(rows, index=False)
    code, out, err = cli(capsys, "info", "model:churn", *w)
    assert code == 0 and "task: binary" in out, err
    assert "using model churn version 2 (its newest version: none is in production)" in err
    ws.set_stage("churn", 1, "production")
    said = "using model churn version 1 (its production version)"
    for argv in (
        ["info", "model:churn", "--json"],
        ["predict", "model:churn", str(rows), "--out", str(tmp_path / "p.csv")],
        ["drift", "model:churn", str(rows)],
        ["report", "model:churn", "--out", str(tmp_path / "r.html")],
        ["export", "model:churn", "--out", str(tmp_path / "b.zip")],  # as serve and automations
    ):
        code, out, err = cli(capsys, *argv, *w)
        assert code == 0 and said in err, (argv, err)
    assert json.loads(zipfile.ZipFile(tmp_path / "b.zip").read("bundle.json"))["version"] == 1
    code, out, err = cli(capsys, "info", "model:churn:2", *w)
    assert code == 0 and "using model churn version 2 (the version asked for)" in err
    code, _, err = cli(capsys, "info", "model:nothing", *w)
    assert code == 2 and "no model named 'nothing'" in err
    Team(ws).add("ann", "admin", "a long password 1")  # takes over the personal work
    Team(ws).add("vic", "viewer", "a long password 2")
    code, _, err = cli(capsys, "info", "model:ann/churn", *w)
    assert code == 2 and "--user NAME" in err
    code, _, err = cli(capsys, "info", "model:ann/churn", "--user", "vic", *w)
    assert code == 2 and "no model named" in err  # not shared with vic: as if it did not exist
    ws.as_user("ann").share("model", "churn", "vic")
    assert cli(capsys, "info", "model:ann/churn", "--user", "vic", *w)[0] == 0
    code, _, err = cli(capsys, "use", "model:ann/churn", "1", "--user", "vic", *w)
    assert code == 2 and "vic is a viewer" in err  # changing a model needs the right to build
