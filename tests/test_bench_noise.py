"""The peer benchmark's noise check: per-row values reproduce the scores, and the paired bootstrap
calls a difference 'beyond noise' only when the test rows support it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks._common import row_values, score
from benchmarks.peers import print_noise


def test_row_values_reproduce_each_score() -> None:
    rng = np.random.default_rng(0)
    y = pd.Series(rng.normal(size=200))
    pred = y.to_numpy() + rng.normal(size=200)
    v = np.asarray(row_values("regression", y, pred, None)["row_values"])
    assert np.sqrt(v.mean()) == pytest.approx(score("regression", y, pred, None), rel=1e-5)

    classes = pd.Series(rng.choice(["a", "b", "c"], size=300))
    proba = pd.DataFrame(rng.dirichlet([1, 1, 1], size=300), columns=["a", "b", "c"])
    v = np.asarray(row_values("multiclass", classes, None, proba)["row_values"])  # type: ignore[arg-type]
    assert v.mean() == pytest.approx(score("multiclass", classes, None, proba), rel=1e-5)  # type: ignore[arg-type]

    two = pd.Series(rng.choice([0, 1], size=300))
    p1 = rng.random(300)
    proba2 = pd.DataFrame({0: 1 - p1, 1: p1})
    out = row_values("binary", two, None, proba2)  # type: ignore[arg-type]
    assert out["row_truth"] == two.tolist() and np.allclose(out["row_values"], p1, rtol=1e-5)


def _row(fw: str, errors: np.ndarray) -> dict[str, object]:
    return {
        "dataset": "d",
        "seed": 0,
        "framework": fw,
        "task": "regression",
        "score": float(np.sqrt(np.mean(errors))),
        "row_values": errors.tolist(),
    }


def test_noise_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    base = rng.chisquare(1, size=400)
    print_noise([_row("easel", base * 1.5), _row("lightgbm", base)])
    assert "worse beyond noise" in capsys.readouterr().out
    print_noise([_row("easel", base * 0.5), _row("lightgbm", base)])
    assert "better beyond noise" in capsys.readouterr().out
    noisy = base * rng.uniform(0.5, 1.5, size=400)
    ratio = np.mean(noisy) / np.mean(base)
    print_noise([_row("easel", noisy / ratio * 1.01), _row("lightgbm", base)])  # 1% worse
    assert "within noise" in capsys.readouterr().out


def test_the_geometric_mean_interval_resamples_whole_tables() -> None:
    from benchmarks.peers import _geo_interval

    same = {"a": [1.0, 1.0], "b": [1.0], "c": [1.0]}
    assert _geo_interval(same) == (1.0, 1.0)
    spread = {"a": [1.0, 1.2], "b": [2.0, 2.2], "c": [1.1, 1.0], "d": [1.5, 1.4]}
    lo, hi = _geo_interval(spread)
    geo = float(np.exp(np.mean(np.log([v for vs in spread.values() for v in vs]))))
    assert 1.0 <= lo < geo < hi <= 2.2
    assert np.isnan(_geo_interval({"only": [1.3, 1.1]})[0])  # one table: no interval


def test_the_suites_split_the_tables_once() -> None:
    from benchmarks.datasets import CONFIRM, DATASETS, SUITES

    assert set(SUITES["dev"]) | set(SUITES["confirm"]) == set(DATASETS)
    assert not set(SUITES["dev"]) & set(SUITES["confirm"])
    assert len(CONFIRM) * 3 >= len(DATASETS) and len(DATASETS) >= 30


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz"])
def test_results_files_read_back_what_was_appended(tmp_path, name: str) -> None:
    """A results file, plain or gzip-compressed, gives back its rows in order after appends
    (each append of a .gz file is a gzip member of its own: --resume goes on writing it)."""
    from benchmarks.peers import append_row, read_rows

    path = tmp_path / name
    rows = [{"dataset": "wine", "framework": f, "seed": 0, "losses": [0.1, 0.2]} for f in "abc"]
    for row in rows:
        append_row(path, row)
    assert read_rows(path) == rows

    damaged = tmp_path / ("bad" + name)
    damaged.write_bytes(path.read_bytes()[:-7] if name.endswith(".gz") else b'{"dataset": ')
    with pytest.raises(SystemExit, match="not a readable results file"):
        read_rows(damaged)
