"""Scale-out on Dask: the switch, a local cluster's lifecycle, and the search's trials on workers.

One local cluster of 2 worker processes is started for the module (``local:2``); fits on it are
bounded by ``max_trials`` on small tables. A lost worker is a worker process killed for real
(SIGKILL, by a worker plugin when a chosen trial starts), never a stand-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

import automl
from automl.cli import main
from automl.cluster import Cluster, connect, parse_address
from automl.errors import ClusterError, ParameterError
from tests.conftest import make_table

ROOT = Path(__file__).resolve().parents[1]
SAME = ["id", "candidate", "validation_roc_auc", "status", "source", "rows", "params"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with connect("local:2") as running:
        yield running


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table(400, 0, "binary")


def _workers() -> set[int]:
    """This process's Dask worker processes (children started by multiprocessing's spawn)."""
    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if any("spawn_main" in part for part in p.cmdline()):
                found.add(p.pid)
        except psutil.Error:
            continue
    return found


# ---------------------------------------------------------------------- the switch
@pytest.mark.parametrize(
    "text",
    ["local:0", "local:65", "local:two", "local", "local:-1", "", "http://host:8786", "host"],
)
def test_a_bad_address_is_refused_in_words(text: str) -> None:
    with pytest.raises(ParameterError) as e:
        parse_address(text)
    assert "local:" in str(e.value)  # every message says what to write instead


def test_s3_options_without_cluster_are_refused(tmp_path: Path, capsys: Any) -> None:
    """--endpoint-url and --anonymous only apply with --cluster (they were silently ignored)."""
    for extra in (["--endpoint-url", "http://minio:9000"], ["--anonymous"]):
        code = main(["predict", str(tmp_path / "m"), "rows.csv", "--out", "o.csv", *extra])
        err = " ".join(capsys.readouterr().err.split())
        assert code == 2 and "give --cluster too" in err and "Traceback" not in err


def test_an_address_that_is_not_text_says_so() -> None:
    with pytest.raises(ParameterError, match=r"^The cluster address must be text\. Give .*local:2"):
        parse_address(3)


def test_addresses_that_are_taken() -> None:
    assert parse_address(" local:2 ").local_workers == 2
    assert parse_address("scheduler.example.com:8786").text == "tcp://scheduler.example.com:8786"
    assert parse_address("tls://10.0.0.5:8786").local_workers is None
    assert parse_address("localhost:8786").text == "tcp://localhost:8786"


def test_the_cli_refuses_a_bad_local_cluster_before_reading(tmp_path: Path, capsys: Any) -> None:
    code = main(["train", str(tmp_path / "missing.csv"), "--target", "y", "--out",
                 str(tmp_path / "m"), "--cluster", "local:0"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "from 1 to 64" in err and "missing.csv" not in err
    assert "Traceback" not in err


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClusterError, match=r"No Dask scheduler answered at 'tcp://127\.0\.0\.1"):
        connect(f"127.0.0.1:{port}", timeout=1)


def test_an_address_with_a_password_is_never_shown(capsys: Any) -> None:
    with pytest.raises(ParameterError) as e:
        parse_address("tcp://admin:hunter2@scheduler:8786")
    assert "hunter2" not in str(e.value) and "admin" not in str(e.value)
    assert "tcp://***@scheduler:8786" in str(e.value)
    code = main(["train", "x.csv", "--target", "y", "--out", "m", "--cluster", "me:pw1234@host:1"])
    err = capsys.readouterr().err
    assert code == 2 and "pw1234" not in err and "***@host:1" in err


def test_a_server_that_is_not_a_scheduler_is_a_clear_error() -> None:
    """A web server at the address (its reply read as a message size of exabytes) is a
    ClusterError in words, not a MemoryError."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        with pytest.raises(ClusterError, match=r"Something answered at 'tcp://127\.0\.0\.1:"):
            connect(f"127.0.0.1:{port}", timeout=2)
    finally:
        server.close()


def test_without_cluster_dask_is_never_imported(tmp_path: Path) -> None:
    from tests.test_timeseries import daily_sales

    make_table(120, 3, "binary").to_csv(tmp_path / "d.csv", index=False)
    daily_sales(days=60, stores=2).to_csv(tmp_path / "s.csv", index=False)
    code = textwrap.dedent(
        f"""
        import sys
        from automl.cli import main
        d, m = {str(tmp_path / "d.csv")!r}, {str(tmp_path / "m")!r}
        assert main(["train", d, "--target", "churn", "--out", m, "--max-trials", "2",
                     "--no-reports", "--quiet"]) == 0
        assert main(["predict", m, d, "--out", {str(tmp_path / "p.csv")!r}, "--quiet"]) == 0
        assert main(["info", m, "--json"]) == 0
        s, f = {str(tmp_path / "s.csv")!r}, {str(tmp_path / "f")!r}
        assert main(["train", s, "--target", "sales", "--time-column", "date", "--series",
                     "store", "--horizon", "7", "--future-columns", "none", "--out", f,
                     "--max-trials", "2", "--no-reports", "--quiet"]) == 0
        assert main(["forecast", f, "--out", {str(tmp_path / "fc.csv")!r}]) == 0
        print(sorted(n for n in sys.modules if n.split(".")[0] in ("dask", "distributed")))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_cli_train_on_local_2_leaves_no_worker_behind(
    tmp_path: Path, table: pd.DataFrame, capsys: Any, cluster: Cluster
) -> None:
    table.to_csv(tmp_path / "d.csv", index=False)
    before = _workers()
    out = tmp_path / "model"
    code = main(["train", str(tmp_path / "d.csv"), "--target", "churn", "--out", str(out),
                 "--max-trials", "3", "--no-reports", "--cluster", "local:2"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 worker(s) ready" in captured.err
    assert _workers() == before  # the command's own 2 worker processes are gone
    assert main(["info", str(out), "--json"]) == 0
    board = json.loads(capsys.readouterr().out)["leaderboard"]
    trials = [r for r in board if r["candidate"] != "ensemble"]
    assert len(trials) == 3 and all(r["worker"].startswith("tcp://") for r in trials)
    assert main(["info", str(out)]) == 0
    assert "worker" in capsys.readouterr().out  # the text leaderboard names them too


# ---------------------------------------------------------------------- distributed search
def test_the_defaults_give_the_same_leaderboard_here_and_on_the_cluster(
    table: pd.DataFrame, cluster: Cluster
) -> None:
    # 6 trials: every default configuration of the quick preset, in the same order
    here = automl.AutoML(time_budget=600, seed=0, max_trials=6).fit(table, "churn")
    there = automl.AutoML(time_budget=600, seed=0, max_trials=6, cluster=cluster).fit(
        table, "churn"
    )
    a, b = here.leaderboard, there.leaderboard
    pd.testing.assert_frame_equal(a[SAME], b[SAME])
    assert (a["worker"] == "").all()
    trials = b[b["candidate"].isin(["linear", "knn", "lightgbm", "xgboost", "forest"])]
    assert set(trials["worker"]) <= set(cluster.workers()) and len(set(trials["worker"])) == 2
    rows = table.drop(columns=["churn"])
    pd.testing.assert_frame_equal(here.predict_proba(rows), there.predict_proba(rows))


def test_tuned_trials_are_the_same_from_run_to_run_on_the_cluster(
    table: pd.DataFrame, cluster: Cluster
) -> None:
    # beyond the defaults, each tuned configuration is chosen knowing every result but those
    # still running: the same for the same number of workers
    fits = [
        automl.AutoML(
            time_budget=600,
            seed=3,
            max_trials=8,
            candidates=["lightgbm", "linear"],
            cluster=cluster.address,
        ).fit(table, "churn")  # fmt: skip
        for _ in range(2)
    ]
    a, b = (f.leaderboard for f in fits)
    assert (a["source"] == "search").sum() == 3  # after the 5 defaults
    pd.testing.assert_frame_equal(a[SAME], b[SAME])


class KillOnTrial:
    """A worker plugin: the worker that starts trial ``number`` is killed (SIGKILL) at once."""

    idempotent = False

    def __init__(self, number: int) -> None:
        self.prefix = f"easel-trial-{number}-"

    def setup(self, worker: Any) -> None:
        self.worker = worker

    def teardown(self, worker: Any) -> None:
        pass

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish == "executing" and str(key).startswith(self.prefix):
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_lost_mid_trial_fails_that_trial_and_the_build_goes_on(
    table: pd.DataFrame, cluster: Cluster
) -> None:
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin = type("KillOnTrial2", (KillOnTrial, WorkerPlugin), {})(2)
    cluster.client.register_plugin(plugin, name="kill-trial-2")
    try:
        fit = automl.AutoML(
            time_budget=600, seed=0, max_trials=4, candidates=["linear", "lightgbm"],
            cluster=cluster,
        ).fit(table, "churn")  # fmt: skip
    finally:
        cluster.client.unregister_worker_plugin("kill-trial-2")
    board = fit.leaderboard.set_index("id")
    lost = board.loc[2]
    assert lost["status"] == "failed" and "stopped" in lost["message"]
    assert lost["worker"].startswith("tcp://")
    done = board[(board.index != 2) & (board["source"] != "ensemble")]
    assert len(done) == 3 and (done["status"] == "ok").all()
    assert fit.model_.default_id != 2
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny started a new one


def test_app_builds_run_on_the_cluster_of_easel_dask_scheduler(
    tmp_path: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl.builds import run_job
    from automl.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.add_dataset("customers", make_table(200, 5, "binary"), "generated")
    job = ws.create_job(
        "train",
        {
            "model_name": "churn",
            "dataset": "customers",
            "target": "churn",
            "settings": {"max_trials": 2, "seed": 0, "candidates": ["lightgbm"]},
        },
    )
    monkeypatch.setenv("EASEL_DASK_SCHEDULER", cluster.address)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert run_job(str(ws.root), job) == 0, ws.get_job(job)["error"]
    finally:
        signal.signal(signal.SIGTERM, handler)
    model = automl.load(ws.root / ws.get_model("churn").path)
    assert all(r.worker in cluster.workers() for r in model.meta.leaderboard[:2])

    monkeypatch.setenv("EASEL_DASK_SCHEDULER", "local:x")
    again = ws.create_job("train", {**ws.get_job(job)["params"], "model_name": "other"})
    try:
        assert run_job(str(ws.root), again) == 1
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert "local:N" in ws.get_job(again)["error"]


# ---------------------------------------------------------------------- distributed scoring
@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fit = automl.AutoML(time_budget=600, seed=0, max_trials=2, candidates=["lightgbm", "linear"])
    path: Path = fit.fit(make_table(400, 0, "binary"), "churn").save(
        tmp_path_factory.mktemp("scorer") / "model"
    )
    return path


def _rows(n: int = 3000, seed: int = 7) -> pd.DataFrame:
    df = make_table(n, seed, "binary").drop(columns=["churn"])
    df.loc[df.index % 97 == 0, "plan"] = "enterprise"  # unseen in training: drift to count
    df["age"] = df["age"] + 20  # older customers than the model learned from
    return df


def _local(model: Path, data: Path, tmp: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    out = tmp / "local.csv"
    assert main(["predict", str(model), str(data), "--out", str(out), "--quiet"]) == 0
    drift = json.loads(Path(f"{out}.drift.json").read_text())
    return pd.read_csv(out), drift


ANSWERS = ["prediction", "probability_no", "probability_yes"]


def test_predict_on_the_cluster_equals_local_scoring(
    scorer: Path, cluster: Cluster, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import automl.cluster.scoring as scoring

    monkeypatch.setattr(scoring, "PARTITION_BYTES", 40_000)  # several partitions per file
    data = tmp_path / "rows.csv"
    _rows().to_csv(data, index=False)
    want, want_drift = _local(scorer, data, tmp_path)
    capsys.readouterr()
    out = tmp_path / "scored.csv"
    code = main(["predict", str(scorer), str(data), "--out", str(out),
                 "--cluster", cluster.address])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    got = pd.read_csv(out)
    answers = [c for c in want.columns if c not in _rows(1).columns]
    assert answers and len(got) == len(want) == 3000
    pd.testing.assert_frame_equal(got[answers], want[answers])
    pd.testing.assert_frame_equal(got.drop(columns=answers), want.drop(columns=answers))
    drift = json.loads(Path(f"{out}.drift.json").read_text())
    assert drift == want_drift and drift["verdict"] != "none"

    parts = tmp_path / "parts/"
    code = main(["predict", str(scorer), str(data), "--out", f"{parts}/",
                 "--cluster", cluster.address, "--quiet"])  # fmt: skip
    assert code == 0
    files = sorted(parts.iterdir())
    assert len(files) > 1 and all(f.name.startswith("part-") for f in files)
    pd.testing.assert_frame_equal(pd.read_parquet(parts)[answers], want[answers])
    assert json.loads(Path(f"{parts}.drift.json").read_text()) == want_drift


def test_the_workers_copies_of_the_model_go_with_them(
    scorer: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker writes the model it is sent to a folder of its own: that folder goes when
    the workers stop (it stayed in the temporary folder, one copy of the model per worker and
    per run)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the workers' temporary folder
    data = tmp_path / "rows.csv"
    _rows(500).to_csv(data, index=False)
    code = main(["predict", str(scorer), str(data), "--out", str(tmp_path / "o.csv"),
                 "--cluster", "local:1", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "o.csv")) == 500
    assert list(scratch.rglob("easel-model-*")) == []


def test_a_folder_of_parquet_parts_scores_in_input_order(
    scorer: Path, cluster: Cluster, tmp_path: Path
) -> None:
    rows = _rows(2400, 11)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):  # names sort as the rows' order; the marker files are left out
        rows.iloc[600 * i : 600 * (i + 1)].to_parquet(folder / f"part-{i}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    whole = tmp_path / "whole.parquet"
    rows.to_parquet(whole, index=False)
    out = tmp_path / "out.parquet"
    assert main(["predict", str(scorer), str(whole), "--out", str(tmp_path / "l.parquet"),
                 "--quiet"]) == 0  # fmt: skip
    assert main(["predict", str(scorer), str(folder), "--out", str(out), "--quiet",
                 "--cluster", cluster.address]) == 0  # fmt: skip
    want, got = pd.read_parquet(tmp_path / "l.parquet"), pd.read_parquet(out)
    pd.testing.assert_frame_equal(got, want)


def test_scoring_inputs_and_outputs_that_cannot_be_used_are_refused(
    scorer: Path, cluster: Cluster, tmp_path: Path, capsys: Any
) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _rows(10).to_csv(mixed / "a.csv", index=False)
    _rows(10).to_parquet(mixed / "b.parquet", index=False)
    parts = tmp_path / "parts"
    parts.mkdir()
    _rows(10).to_parquet(parts / "part-00000.parquet", index=False)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    cases = [
        (str(mixed), str(tmp_path / "o.csv"), "mixes files of several kinds"),
        (str(tmp_path / "nowhere"), str(tmp_path / "o.csv"), "does not exist"),
        (str(mixed / "a.csv"), f"{taken}/", "holds files Easel did not write"),
        # an output inside the data's folder would be scored as data by the next run
        (str(parts), f"{parts}/scored/", "is inside the folder of the data to score"),
        (str(parts), str(parts / "scored.parquet"), "is inside the folder of the data to score"),
        # the data inside the output folder would be deleted with the folder it replaces
        (str(parts / "part-00000.parquet"), f"{parts}/", "holds the data to score"),
    ]
    for data, out, message in cases:
        code = main(["predict", str(scorer), data, "--out", out, "--cluster", cluster.address])
        err = " ".join(capsys.readouterr().err.split())
        assert code == 2 and message in err and "Traceback" not in err, err
        assert "worker(s) ready" not in err  # refused before the cluster was asked
    assert (taken / "notes.txt").read_text() == "mine" and not (tmp_path / "o.csv").exists()
    assert [p.name for p in parts.iterdir()] == ["part-00000.parquet"]


def test_s3_sources_that_cannot_be_listed_are_refused_without_their_keys(
    scorer: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys written into the s3:// address, and no keys at all, are refused in words before
    the cluster starts (both were tracebacks, the first showing the keys)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    end = ["--out", str(tmp_path / "o.csv"), "--cluster", "local:1", "--endpoint-url",
           "http://127.0.0.1:1"]  # fmt: skip
    cases = [
        ("s3://AKIAKEY:SeCrEt123@lake/nightly/", "holds keys or a user name before the bucket"),
        ("s3://lake/nightly/", "no keys were found"),
    ]
    for data, message in cases:
        code = main(["predict", str(scorer), data, *end])
        err = " ".join(capsys.readouterr().err.split())
        assert code == 2 and message in err and "Traceback" not in err, err
        assert "SeCrEt123" not in err and "AKIAKEY" not in err
        assert "worker(s) ready" not in err


def test_an_s3_prefix_scores_on_local_workers(
    scorer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # the workers read with their own AWS settings: the ones this process gives its children
    for name, value in (("AWS_ACCESS_KEY_ID", "AKIAEASELTEST0000000"),
                        ("AWS_SECRET_ACCESS_KEY", "easel-test-secret"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(name, value)
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="lake")
        rows = _rows(900, 5)
        for i in range(3):
            body = rows.iloc[300 * i : 300 * (i + 1)].to_csv(index=False).encode()
            s3.put_object(Bucket="lake", Key=f"nightly/part-{i}.csv", Body=body)
        s3.put_object(Bucket="lake", Key="nightly/_SUCCESS", Body=b"")
        rows.to_csv(tmp_path / "rows.csv", index=False)
        want, _ = _local(scorer, tmp_path / "rows.csv", tmp_path)
        out = tmp_path / "s3.csv"
        code = main(["predict", str(scorer), "s3://lake/nightly/", "--out", str(out), "--quiet",
                     "--endpoint-url", endpoint, "--cluster", "local:2"])  # fmt: skip
        assert code == 0
    finally:
        server.stop()
    got = pd.read_csv(out)
    pd.testing.assert_frame_equal(got, want)


def test_a_local_cluster_is_at_most_two_workers_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """local:N started N worker processes whatever the computer: local:64 on 2 cores."""
    import automl.cluster._connect as connect_module

    monkeypatch.setattr(connect_module, "local_cores", lambda: 2)
    assert parse_address("local:4").local_workers == 4
    with pytest.raises(ParameterError) as e:
        parse_address("local:5")
    assert "2 processor core(s)" in str(e.value) and "local:2" in str(e.value)


def test_each_scored_part_is_brought_back_from_its_worker_once(
    scorer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll shorter than the fetch of a result (a big part on a busy link) must not fetch it
    again: each new ask made the worker send the part again, its memory growing with the parts.
    One worker, so that every transfer it makes is a part sent here."""
    import automl.cluster.scoring as scoring

    folder = tmp_path / "in"
    folder.mkdir()
    rows = _rows(4000, 3)
    for i in range(4):
        rows.iloc[1000 * i : 1000 * (i + 1)].to_parquet(folder / f"p-{i}.parquet", index=False)
    monkeypatch.setattr(scoring, "POLL_SECONDS", 0.0005)  # far shorter than any fetch
    with connect("local:1") as one:
        result = scoring.predict_on_cluster(
            one, automl.load(scorer), scorer, str(folder), f"{tmp_path / 'out'}/"
        )
        sent = one.client.run(lambda dask_worker: dask_worker.transfer_outgoing_count_total)
    assert result.rows == 4000 and len(list((tmp_path / "out").iterdir())) == 4
    assert list(sent.values()) == [4]  # one transfer per part


def test_a_big_parquet_file_is_cut_at_its_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Parquet file larger than a partition's size is scored row group by row group (dask's
    own size, 256 MB, made a worker hold a whole 500,000-row file at once), in order."""
    import automl.cluster.scoring as scoring

    rows = _rows(2000, 5)
    data = tmp_path / "big.parquet"
    rows.to_parquet(data, index=False, row_group_size=500)
    monkeypatch.setattr(scoring, "PARTITION_BYTES", 10_000)  # less than a row group's values
    frames = scoring._frames([str(data)], ".parquet", {})
    assert len(frames) == 4
    got = pd.concat([f.compute(scheduler="sync") for f in frames], ignore_index=True)
    pd.testing.assert_frame_equal(got, rows.reset_index(drop=True), check_dtype=False)


async def _after_released() -> None:
    """Nothing: run on the client's loop after the releases queued before it."""


def test_scored_parts_are_released_on_the_workers_as_they_are_written(
    scorer: Path, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This computer holds no scored part once it is written (nor the model's files when done),
    even before Python's garbage collector runs: the timed-out waits left the parts' futures in
    reference cycles, so their workers kept them, piling up with the parts scored."""
    import gc

    import automl.cluster.scoring as scoring

    folder = tmp_path / "in"
    folder.mkdir()
    rows = _rows(4000, 4)
    for i in range(8):
        rows.iloc[500 * i : 500 * (i + 1)].to_parquet(folder / f"p-{i}.parquet", index=False)
    model = automl.load(scorer)
    monkeypatch.setattr(scoring, "POLL_SECONDS", 0.0005)  # the waits time out, as on big parts
    gc.collect()
    gc.disable()  # (so that what the collector would free late is seen)
    try:
        result = scoring.predict_on_cluster(cluster, model, scorer, str(folder), f"{tmp_path}/o/")
        cluster.client.sync(_after_released)  # (a release is counted on the client's loop)
        held = [k for k in cluster.client.refcount if "score_partition" in str(k)]
        files = [k for k in cluster.client.refcount if "_ModelFiles" in str(k)]
    finally:
        gc.enable()
    assert result.rows == 4000 and held == [] and files == []
