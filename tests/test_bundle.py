"""The export bundle: automl export (predict.py, the notebook, requirements, the training rows
only when asked) and automl import-model (a bundle back as a model version, hostile zips
refused with nothing left behind)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

import automl
from automl.bundle import _unpack, import_bundle
from automl.cli import main
from automl.errors import ArtifactError, EaselError
from automl.workspace.catalog import Workspace

ROOT = Path(__file__).resolve().parents[1]


def churn_rows(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "calls": rng.poisson(3, n),
        }
    )
    df["churn"] = np.where(df["calls"] + rng.normal(0, 1, n) > 3.5, "yes", "no")
    return df


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with a dataset and a small LightGBM model built from it."""
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    df = churn_rows()
    ws.add_dataset("churn", df, "test")
    model = automl.AutoML(max_trials=2, seed=0, candidates=["lightgbm"]).fit(df, "churn")
    name, version, path = ws.new_model_path("churn model")
    model.save(path)
    ws.add_model(name, version, path, "churn@1", model.model_)
    return ws


@pytest.fixture(scope="module")
def bundle(ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "churn.zip"
    args = ["export", "model:churn model", "--out", str(out), "--include-data"]
    assert main([*args, "--workspace", str(ws.root)]) == 0
    return out


def unzip(path: Path, into: Path) -> Path:
    with zipfile.ZipFile(path) as zf:
        zf.extractall(into)
    return into


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# ---------------------------------------------------------------------- export
def test_bundle_holds_the_model_predict_notebook_requirements_and_asked_for_data(
    bundle: Path,
) -> None:
    names = zipfile.ZipFile(bundle).namelist()
    for name in (
        "model/easel_model.json",
        "model/holdout.parquet",
        "predict.py",
        "model.ipynb",
        "requirements.txt",
        "README.md",
        "bundle.json",
        "data/training.parquet",
    ):
        assert name in names
    assert any(re.fullmatch(r"model/candidates/\d+/model\.txt", n) for n in names)
    text = zipfile.ZipFile(bundle).read("requirements.txt").decode()
    from importlib import metadata

    for dist in ("lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow"):
        assert f"{dist}=={metadata.version(dist)}" in text.splitlines()
    # the project named "easel" on PyPI is another one: Easel is installed from its source
    assert not re.search(r"^\s*easel\b", text, re.M | re.I)
    assert f"Easel itself (version {automl.__version__})" in text
    assert "pip wheel --no-deps" in text and "never `pip install easel`" in text
    readme = zipfile.ZipFile(bundle).read("README.md").decode()
    assert "never `pip install easel`" in readme
    assert f"easel-{automl.__version__}-py3-none-any.whl" in readme
    nbformat.validate(nbformat.reads(zipfile.ZipFile(bundle).read("model.ipynb").decode(), 4))


def test_training_rows_leave_only_when_asked(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "plain.zip"
    args = ["export", "model:churn model:1", "--out", str(out), "--workspace", str(ws.root)]
    assert main(args) == 0
    names = zipfile.ZipFile(out).namelist()
    assert not [n for n in names if n.startswith("data/")]
    assert json.loads(zipfile.ZipFile(out).read("bundle.json"))["includes_training_data"] is False
    nb = json.loads(zipfile.ZipFile(out).read("model.ipynb"))
    code = "".join(c["source"] for c in nb["cells"] if c["cell_type"] == "code")
    assert "training.parquet" not in code and "lgb.train" not in code


def kernel_dir(tmp_path: Path) -> Path:
    """A Jupyter kernel spec that runs this very interpreter (whatever 'python' is on PATH)."""
    spec = tmp_path / "kernels" / "easel-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "easel test", "language": "python"})
    )
    return tmp_path


def test_notebook_runs_and_reproduces_the_holdout_metric(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient import NotebookClient

    folder = unzip(bundle, tmp_path / "bundle")
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir(tmp_path)))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    nb = nbformat.read(folder / "model.ipynb", as_version=4)
    NotebookClient(
        nb, kernel_name="easel-test", timeout=120, resources={"metadata": {"path": str(folder)}}
    ).execute()
    out = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "the hold-out rows' targets are those Easel held out: True" in out
    found = re.search(r"hold-out roc_auc: retrained ([\d.]+), Easel's model ([\d.]+)", out)
    assert found, out
    assert abs(float(found[1]) - float(found[2])) < 0.01
    markdown = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "LightGBM" in markdown


def run_code_cells(folder: Path) -> dict[str, Any]:
    """The notebook's code cells run in this process (no kernel): their variables."""
    nb = json.loads((folder / "model.ipynb").read_text())
    scope: dict[str, Any] = {}
    here = Path.cwd()
    os.chdir(folder)
    try:
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec(compile(cell["source"], "model.ipynb", "exec"), scope)  # noqa: S102
    finally:
        os.chdir(here)
    return scope


@pytest.mark.parametrize(
    ("family", "task"),
    [("linear", "regression"), ("forest", "multiclass"), ("ensemble", "binary")],
)
def test_retraining_in_plain_code_matches_other_families_and_tasks(
    family: str, task: str, tmp_path: Path
) -> None:
    from tests.conftest import make_table

    df = make_table(150, 1, task)
    target = "churn" if "churn" in df.columns else df.columns[-1]
    kinds = None if family == "ensemble" else [family]
    if family == "ensemble":
        kinds = ["lightgbm", "linear"]
    model = automl.AutoML(max_trials=2, seed=0, candidates=kinds).fit(df, target)
    model.save(tmp_path / "m")
    out = tmp_path / "b.zip"
    args = ["export", str(tmp_path / "m"), "--out", str(out), "--include-data"]
    csv = tmp_path / "train.parquet"
    df.to_parquet(csv)
    assert main([*args, "--data", str(csv)]) == 0
    scope = run_code_cells(unzip(out, tmp_path / "bundle"))
    assert abs(scope["retrained"] - scope["easel"]) < 0.02 * max(1.0, abs(scope["easel"]))
    if family == "ensemble":
        nb = (tmp_path / "bundle" / "model.ipynb").read_text()
        assert model.model_.meta.default.is_ensemble
        assert "an ensemble" in nb and "lgb.train" in nb


def test_predict_py_scores_a_csv_with_only_the_bundle(bundle: Path, tmp_path: Path) -> None:
    folder = unzip(bundle, tmp_path / "bundle")
    churn_rows(20, seed=3).drop(columns=["churn"]).to_csv(tmp_path / "in.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(
        [sys.executable, str(folder / "predict.py"), "in.csv", "out.csv"],
        cwd=tmp_path,  # not the bundle's folder: predict.py finds its model itself
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    assert len(scored) == 20 and set(scored["prediction"]) <= {"yes", "no"}


def test_predict_py_says_what_is_wrong_in_one_line(bundle: Path, tmp_path: Path) -> None:
    folder = unzip(bundle, tmp_path / "bundle")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(
        [sys.executable, str(folder / "predict.py"), "missing.csv", "out.csv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_export_refusals_are_clear(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = ["--workspace", str(ws.root)]
    code, said = cli(capsys, "export", "model:churn model", "--out", str(tmp_path / "b.txt"), *w)
    assert code == 2 and "ends in .zip" in said
    folder = ws.model_dir(ws.get_model("churn model"))
    code, said = cli(
        capsys, "export", str(folder), "--out", str(tmp_path / "b.zip"), "--include-data"
    )
    assert code == 2 and "--data" in said
    other = churn_rows(100, seed=5)
    other.to_csv(tmp_path / "other.csv", index=False)
    code, said = cli(
        capsys, "export", str(folder), "--out", str(tmp_path / "b.zip"), "--include-data",
        "--data", str(tmp_path / "other.csv"),
    )  # fmt: skip
    assert code == 2 and "not the ones the model was trained on" in said
    assert not (tmp_path / "b.zip").exists()
    code, said = cli(capsys, "export", "model:nothing", "--out", str(tmp_path / "b.zip"), *w)
    assert code == 2 and "no model named 'nothing'" in said


def test_team_mode_export_checks_the_user(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from automl.workspace.users import Team

    team_ws = Workspace(tmp_path / "team")
    team_ws.add_dataset("churn", churn_rows(), "test")
    name, version, path = team_ws.new_model_path("churn model")
    shutil.copytree(ws.model_dir(ws.get_model("churn model", 1)), path)
    team_ws.add_model(name, version, path, "churn@1", automl.load(path))
    Team(team_ws).add("ann", "admin", "a long password 1")  # takes over the personal work
    Team(team_ws).add("vic", "viewer", "a long password 2")
    w = ["--workspace", str(team_ws.root)]
    out = str(tmp_path / "b.zip")
    code, said = cli(capsys, "export", "model:ann/churn model", "--out", out, *w)
    assert code == 2 and "--user" in said
    code, said = cli(capsys, "export", "model:ann/churn model", "--out", out, "--user", "vic", *w)
    assert code == 2 and "no model named" in said  # not shared with vic: as if it did not exist
    team_ws.as_user("ann").share("model", "churn model", "vic")
    args = ["export", "model:ann/churn model", "--out", out, "--user", "vic", *w]
    assert cli(capsys, *args)[0] == 0
    code, said = cli(capsys, *args, "--include-data")
    assert code == 2 and "vic is a viewer" in said  # the rows need the right to read data
    assert cli(capsys, *args[:-4], "--user", "ann", *w, "--include-data")[0] == 0
    assert "data/training.parquet" in zipfile.ZipFile(out).namelist()
    exports = [e for e in Team(team_ws).audit_log() if e["action"] == "export"]
    assert [(e["user"], e["detail"]) for e in exports] == [
        ("vic", "without the training data"),
        ("ann", "with the training data"),
    ] or sorted(e["user"] for e in exports) == ["ann", "vic"]


def test_training_rows_are_the_dataset_version_the_build_read(tmp_path: Path) -> None:
    import signal

    from automl.builds import run_job
    from automl.bundle import training_rows

    ws = Workspace(tmp_path / "ws")
    first = churn_rows(120, seed=1)
    ws.add_dataset("calls", first, "test")
    job = ws.create_job(
        "train",
        {
            "model_name": "calls model",
            "dataset": "calls",
            "target": "churn",
            "settings": {"max_trials": 2, "seed": 0, "candidates": ["lightgbm"]},
        },
    )
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert run_job(str(ws.root), job) == 0, ws.get_job(job)["error"]
    finally:
        signal.signal(signal.SIGTERM, handler)
    rec = ws.get_model("calls model")
    assert (rec.dataset, rec.dataset_version, rec.dataset_ref) == ("calls", 1, "calls@1")
    ws.add_dataset("calls", churn_rows(120, seed=2), "test")  # as many rows, other values
    pd.testing.assert_frame_equal(training_rows(ws, rec), first)
    # a model recorded before the catalog kept the version: its rows are certain only while
    # the dataset has one version
    name, version, path = ws.new_model_path("older model")
    shutil.copytree(ws.model_dir(rec), path)
    old = ws.add_model(name, version, path, "calls", automl.load(path))
    assert old.dataset_version is None
    with pytest.raises(EaselError, match="cannot tell which rows it was trained on"):
        training_rows(ws, old)
    ws.delete_dataset("calls", 2)
    pd.testing.assert_frame_equal(training_rows(ws, old), first)


# ---------------------------------------------------------------------- import
def test_import_brings_the_model_back_as_a_new_version(
    ws: Workspace, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = cli(capsys, "import-model", str(bundle), "--workspace", str(ws.root))
    assert code == 0, said
    rec = ws.get_model("churn model")
    assert rec.version == 2 and rec.dataset.startswith("imported from churn.zip")
    folder = ws.model_dir(rec)
    assert sorted(p.name for p in folder.iterdir()) == [
        "candidates",
        "easel_model.json",
        "holdout.parquet",
    ]
    rows = churn_rows(10, seed=4)
    first = automl.load(ws.model_dir(ws.get_model("churn model", 1))).predict(rows)
    assert list(automl.load(folder).predict(rows)) == list(first)
    code, said = cli(
        capsys, "import-model", str(bundle), "--name", "copy", "--workspace", str(ws.root)
    )
    assert code == 0 and ws.get_model("copy").version == 1
    ws.delete_model("churn model", 2)
    ws.delete_model("copy", 1)


def rebundle(bundle: Path, out: Path, change: dict[str, bytes | None], **extra: Any) -> Path:
    """A copy of ``bundle`` with files replaced (None: removed) or added."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in change:
                continue
            dst.writestr(info, src.read(info))
        for name, data in change.items():
            if data is not None:
                dst.writestr(zipfile.ZipInfo(name, **extra), data)
    return out


def model_text(bundle: Path) -> str:
    return next(n for n in zipfile.ZipFile(bundle).namelist() if n.endswith("model.txt"))


def symlink_zip(bundle: Path, out: Path) -> Path:
    rebundle(bundle, out, {})
    with zipfile.ZipFile(out, "a") as zf:
        info = zipfile.ZipInfo("model/candidates/9/model.txt")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return out


HOSTILE = {
    "traversal": (lambda b, o: rebundle(b, o, {"model/../../evil.json": b"{}"}), "outside"),
    "absolute": (lambda b, o: rebundle(b, o, {"/tmp/evil.json": b"{}"}), "absolute"),
    "drive": (lambda b, o: rebundle(b, o, {"C:/evil.json": b"{}"}), "absolute"),
    "backslash": (lambda b, o: rebundle(b, o, {"model\\..\\..\\evil": b"x"}), "outside"),
    "symlink": (symlink_zip, "is a link"),
    "pickle file": (lambda b, o: rebundle(b, o, {"model/candidates/1/m.pkl": b"x"}), "pickle"),
    "joblib file": (lambda b, o: rebundle(b, o, {"extra/model.joblib": b"x"}), "pickle"),
    "pickle inside": (
        lambda b, o: rebundle(b, o, {model_text(b): b"\x80\x04\x95" + b"\x00" * 20}),
        "pickle",
    ),
    "object array": (
        lambda b, o: rebundle(b, o, {"model/candidates/1/forest.npz": object_npz()}),
        "Python objects",
    ),
    "no model": (lambda b, o: rebundle(b, o, {"model/easel_model.json": None}), "holds no model"),
    "missing files": (lambda b, o: rebundle(b, o, {model_text(b): None}), "missing"),
    "damaged model": (
        lambda b, o: rebundle(b, o, {model_text(b): b"tree\nversion=v4\nnum_class=1\n"}),
        "damaged",
    ),
    "damaged metadata": (
        lambda b, o: rebundle(b, o, {"model/easel_model.json": b'{"schema_version": 3'}),
        "damaged",
    ),
    "not a zip": (lambda b, o: (o.write_bytes(b"PK\x03\x04 not really"), o)[1], "not a zip"),
}


def object_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, rows=np.array([{"a": 1}, None], dtype=object))
    return buf.getvalue()


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_bundles_are_refused_and_leave_nothing(
    case: str, ws: Workspace, bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, words = HOSTILE[case]
    bad = make(bundle, tmp_path / "bad.zip")
    before = sorted(p.name for p in (ws.root / "models").iterdir())
    code, said = cli(capsys, "import-model", str(bad), "--name", "bad", "--workspace", str(ws.root))
    assert code == 2, said
    assert said.startswith("error: ") and "Traceback" not in said
    assert words in said, said
    assert str(ws.root) not in said  # never the hidden folder it unpacked into
    flat = " ".join(said.split())
    assert "Retrain" not in flat  # the remedy for a damaged bundle is a new export, not a build
    if case.startswith(("damaged", "missing")):
        assert "Export the bundle again from the workspace it came from." in flat
    assert sorted(p.name for p in (ws.root / "models").iterdir()) == before
    assert not (tmp_path.parent / "evil.json").exists() and not Path("/tmp/evil.json").exists()
    with pytest.raises(EaselError):
        ws.get_model("bad")


def test_zip_bombs_are_refused_by_size_and_file_count(
    ws: Workspace, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = rebundle(bundle, tmp_path / "big.zip", {model_text(bundle): b"0" * 50_000})
    monkeypatch.setattr(_unpack, "MAX_MODEL_BYTES", 40_000)
    with pytest.raises(ArtifactError, match="more than a model can have"):
        import_bundle(ws, big, "bomb")
    model_bytes = sum(
        i.file_size for i in zipfile.ZipFile(bundle).infolist() if i.filename.startswith("model/")
    )
    monkeypatch.setattr(_unpack, "MAX_MODEL_BYTES", model_bytes + 1_000)
    arrays = rebundle(
        bundle,
        tmp_path / "arrays.zip",
        {"extra/x.npy": b"\x93NUMPY" + b"0" * (model_bytes + 2_000)},
    )
    with pytest.raises(ArtifactError, match="larger than a model's files can be"):
        import_bundle(ws, arrays, "bomb")  # a file left in the zip is never unpacked whole
    monkeypatch.setattr(_unpack, "MAX_MODEL_BYTES", 2 * 1024**3)
    many = rebundle(bundle, tmp_path / "many.zip", {f"extra/{i}.txt": b"" for i in range(30)})
    monkeypatch.setattr(_unpack, "MAX_ENTRIES", 25)
    with pytest.raises(ArtifactError, match="files, more than a bundle can have"):
        import_bundle(ws, many, "bomb")
    assert not [p for p in (ws.root / "models").iterdir() if p.name.startswith(".")]


def test_declared_sizes_that_lie_are_caught_while_unpacking(
    ws: Workspace, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip may declare small files and hold large ones: unpacking counts what it writes."""
    big = rebundle(bundle, tmp_path / "big.zip", {model_text(bundle): b"0" * 50_000})
    monkeypatch.setattr(_unpack, "MAX_MODEL_BYTES", 40_000)
    real_plan = _unpack.plan

    def lying_plan(zf: zipfile.ZipFile, name: str) -> _unpack.Plan:
        monkeypatch.setattr(_unpack, "MAX_MODEL_BYTES", 10**9)
        try:
            return real_plan(zf, name)
        finally:
            monkeypatch.setattr(_unpack, "MAX_MODEL_BYTES", 40_000)

    import automl.bundle as bundle_mod

    monkeypatch.setattr(bundle_mod, "plan", lying_plan)
    with pytest.raises(ArtifactError, match="more than a model can have"):
        import_bundle(ws, big, "bomb")
    assert not [p for p in (ws.root / "models").iterdir() if p.name.startswith(".")]


def test_only_known_model_files_are_taken(ws: Workspace, bundle: Path, tmp_path: Path) -> None:
    odd = rebundle(
        bundle,
        tmp_path / "odd.zip",
        {
            "model/run_me.py": b"raise SystemExit('ran')",
            "model/reports/performance.html": b"<script>alert(1)</script>",
            "model/candidates/1/notes.md": b"hello",
        },
    )
    done = import_bundle(ws, odd, "odd")
    folder = ws.model_dir(done.record)
    taken = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert not [t for t in taken if t.endswith((".py", ".html", ".md"))]
    assert "model/run_me.py" in done.ignored and "predict.py" in done.ignored
    ws.delete_model("odd", done.record.version)


def test_the_catalogs_own_model_zip_imports_too(ws: Workspace, tmp_path: Path) -> None:
    data = ws.export_model("churn model", 1)
    path = tmp_path / "plain.zip"
    path.write_bytes(data)
    done = import_bundle(ws, path, "from plain zip")
    assert done.record.version == 1
    ws.delete_model("from plain zip", 1)


def test_retraining_a_linear_model_on_products_of_pairs(tmp_path: Path) -> None:
    from tests.test_linear import _products_table

    df = _products_table(1400, 0)  # (products from 1,000 search rows)
    model = automl.AutoML(max_trials=3, seed=0, candidates=["linear"]).fit(df, "choice")
    assert model.model_.kept[model.model_.default_id].params.get("pairs") is True
    model.save(tmp_path / "m")
    out = tmp_path / "b.zip"
    df.to_parquet(tmp_path / "train.parquet")
    args = ["export", str(tmp_path / "m"), "--out", str(out), "--include-data"]
    assert main([*args, "--data", str(tmp_path / "train.parquet")]) == 0
    scope = run_code_cells(unzip(out, tmp_path / "bundle"))
    assert abs(scope["retrained"] - scope["easel"]) < 0.02 * max(1.0, abs(scope["easel"]))
    assert "PolynomialFeatures" in (tmp_path / "bundle" / "model.ipynb").read_text()
