"""Light imports: the error classes and the connectors load no machine-learning library, and the
public names of ``automl`` still resolve (loaded on first use)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("lightgbm", "xgboost", "optuna", "sklearn", "scipy", "sqlalchemy", "boto3", "sqlglot")
PUBLIC = [
    "AutoML",
    "EaselError",
    "EaselWarning",
    "Model",
    "PreviewResult",
    "__version__",
    "load",
    "preview",
]


def _loaded_after(statement: str) -> list[str]:
    """Heavy top-level packages in ``sys.modules`` after ``statement``, in a fresh interpreter."""
    code = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import automl.errors",
        "import connectors",
        "import automl",
        "from automl.errors import EaselError, DataError",
        "from connectors import open_source, read_file, REGISTRY",
        "import automl.cli; automl.cli.build_parser()",  # automl --help, automl automations list
        "from automl.automations import AutomationStore",
    ],
)
def test_light_imports_load_no_ml_library(statement: str) -> None:
    assert _loaded_after(statement) == []


def test_opening_a_file_source_loads_no_database_or_ml_library(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    statement = f"from connectors import open_source\nopen_source({str(path)!r}).read()"
    assert _loaded_after(statement) == []


def test_public_names_resolve_and_are_listed() -> None:
    import automl

    for name in PUBLIC:
        assert name in dir(automl), name
        assert getattr(automl, name) is not None, name
    from automl.automl import AutoML
    from automl.errors import EaselError
    from automl.model import Model

    assert automl.AutoML is AutoML and automl.Model is Model and automl.EaselError is EaselError
    assert isinstance(automl.__version__, str)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        automl.nope  # noqa: B018
