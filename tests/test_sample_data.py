"""The bundled sample datasets are present, documented and reproducible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent.parent / "sample_data"
EXPECTED = {
    "customer_churn.csv": ("churned", {"yes", "no"}, 5000),
    "support_tickets.csv": ("priority", {"low", "medium", "high"}, 4000),
    "house_prices.csv": ("sale_price", None, 3000),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_matches_its_documentation(name: str) -> None:
    target, classes, rows = EXPECTED[name]
    df = pd.read_csv(HERE / name)
    assert len(df) == rows and target in df.columns
    if classes is None:
        assert (df[target] > 0).all()
    else:
        assert set(df[target]) == classes
    assert df.isna().any().any()
    readme = (HERE / "README.md").read_text()
    assert name in readme and target in readme
    for col in df.columns:
        assert col in readme, f"{col} of {name} is not documented"


def test_generator_reproduces_the_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(HERE / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in EXPECTED:
        assert (tmp_path / name).read_bytes() == (HERE / name).read_bytes()
