"""Shared fixtures: small generated tables with the mix of types real data has, and a real
PostgreSQL server."""

from __future__ import annotations

import os

# OpenMP threads (LightGBM, XGBoost) sleep while they wait instead of spinning. The suite runs on
# two xdist workers, and spinning threads of one worker starve the other's: measured on 2 cores,
# two concurrent copies of test_reports' model fixture took 481 and 513 s with spinning and 22 and
# 24 s with sleeping threads. Results do not change (only how idle threads wait); set before any
# test imports LightGBM, and inherited by the CLI and build processes the tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Trees compiled for fast scoring go to a folder of this run, never to the user's own cache (an
# earlier run's compiled copy of an identical model would change which code path a test takes).
# The process that made the folder removes it when it ends (xdist's workers inherit it).
if "EASEL_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["EASEL_CACHE_DIR"] = tempfile.mkdtemp(prefix="easel-test-cache-")
    atexit.register(shutil.rmtree, os.environ["EASEL_CACHE_DIR"], True)

# The app's background runner of automations (a process every minute) stays off in tests: a test
# runs automations itself, with its own clock.
os.environ["EASEL_AUTOMATIONS_EVERY"] = "0"

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pg_server import PgServer, running_postgres

ROOT_TESTS = Path(__file__).resolve().parent


ALL_CORES: set[int] = set()  # the cores the suite was started with (an xdist worker keeps to one)


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker keeps to a core of its own when there are as many workers as cores (the
    processes it starts too): LightGBM then learns on one thread per worker instead of two
    threads of each worker taking turns on both cores. Measured on 2 cores, test_golden,
    test_engine, test_timeseries, test_cli, test_ensemble and test_growing on 2 workers: 86.7 s
    instead of 103.7 s. The app's tests use every core (:func:`every_core`).
    EASEL_TEST_PIN=0 leaves the workers free."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if os.environ.get("EASEL_TEST_PIN", "1") == "0" or not worker.startswith("gw"):
        return
    if not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")) == len(cores) > 1:
        ALL_CORES.update(cores)
        os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})


@pytest.fixture(scope="module")
def every_core() -> Iterator[None]:
    """The module's processes (the app's server, Chromium) may run on every core, not only on
    the worker's own: on one core with the test, test_browser took 124 s instead of 115 s and
    test_browser_team 69 s instead of 58 s."""
    if not ALL_CORES:
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CORES)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


def make_table(n: int = 400, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n).astype(float)
    income = rng.lognormal(10, 0.5, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    city = rng.choice([f"city_{i}" for i in range(12)], n)
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    words = np.array(["great", "slow", "price", "support", "love", "cancel", "refund", "fast"])
    notes = [" ".join(rng.choice(words, 5)) for _ in range(n)]
    z = 0.04 * (age - 45) + (plan == "pro") * 1.2 - (plan == "basic") * 0.8
    z = z + np.array(["cancel" in t for t in notes]) * 1.0 + rng.normal(0, 0.7, n)
    df = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "age": age,
            "income": income,
            "plan": plan,
            "city": city,
            "signup": signup.strftime("%Y-%m-%d"),
            "member": rng.choice(["yes", "no"], n),
            "notes": notes,
            "country": "US",
        }
    )
    df.loc[rng.random(n) < 0.1, "income"] = np.nan
    df.loc[rng.random(n) < 0.05, "plan"] = None
    if task == "binary":
        df["churn"] = np.where(z > np.quantile(z, 0.7), "yes", "no")
    elif task == "multiclass":
        df["segment"] = pd.cut(
            z, [-np.inf, -0.5, 0.7, np.inf], labels=["low", "mid", "high"]
        ).astype(str)
    else:
        df["spend"] = 100 + 30 * z + rng.normal(0, 5, n)
    return df


# Tests that need a service beside Python: selected out by ``make test-fast`` (a test elsewhere
# that needs Chromium is marked ``browser`` itself).
SERVICE_MODULES = {
    "test_browser.py": "browser",  # a Streamlit server driven by Debian's Chromium
    "test_browser_edges.py": "browser",
    "test_s3.py": "s3",  # a local S3-compatible server (moto)
    "test_store.py": "s3",  # the workspace's files on that server
}


# Modules that take 20-70 s on 2 cores, besides the app's (15-90 s): they go out to the workers
# first, so that the suite ends with short modules on both workers.
LONG_MODULES = [
    "test_cluster.py",
    "test_cli.py",
    "test_golden.py",
    "test_store.py",
    "test_cluster_training.py",
    "test_cluster_forecast.py",
    "test_build_queue.py",
    "test_compiled.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the browser and S3 modules, and every test that uses the PostgreSQL server. Then
    the order in which xdist hands out the modules (``--no-loadscope-reorder``; by default it
    hands out modules with many tests first, and the app's few long ones came last, on both
    workers at once): the app's modules alternate with LONG_MODULES, then the others. An app
    module (a server and a browser on every core) beside another took longer than beside a
    module whose work keeps to its worker's core (the app's modules 403 s against 364 s)."""
    app = ROOT_TESTS / "app"
    app_modules = sorted({Path(i.path).name for i in items if app in Path(i.path).parents})
    order: list[str] = []
    for k in range(max(len(app_modules), len(LONG_MODULES))):
        order += app_modules[k : k + 1] + LONG_MODULES[k : k + 1]

    def rank(item: pytest.Item) -> int:
        name = Path(item.path).name
        return order.index(name) if name in order else len(order)

    items.sort(key=rank)
    for item in items:
        marker = SERVICE_MODULES.get(item.path.name)
        if item.path.name.startswith("test_browser"):
            marker = "browser"
        if marker:
            item.add_marker(marker)
        if "pg" in getattr(item, "fixturenames", ()):
            item.add_marker("postgres")


@pytest.fixture(scope="session")
def binary_df() -> pd.DataFrame:
    return make_table(400, 0, "binary")


@pytest.fixture(scope="session")
def multiclass_df() -> pd.DataFrame:
    return make_table(450, 1, "multiclass")


@pytest.fixture(scope="session")
def regression_df() -> pd.DataFrame:
    return make_table(400, 2, "regression")


# Session models: each is trained once per pytest process (once per xdist worker) and shared by
# the modules that only read a fitted model. A test that changes one works on a saved copy.
@pytest.fixture(scope="session")
def binary_model(binary_df: pd.DataFrame):  # type: ignore[no-untyped-def]
    import automl

    # bounded by max_trials, never by the clock: 8 trials run every family's default first
    return automl.AutoML(time_budget=600, seed=0, max_trials=8).fit(binary_df, target="churn")


@pytest.fixture(scope="session")
def saved_binary_model(binary_model, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """``binary_model`` saved once (no reports); copy the folder before changing it."""
    path: Path = binary_model.save(tmp_path_factory.mktemp("binary_model") / "model")
    return path


@pytest.fixture(scope="session")
def multiclass_model(multiclass_df: pd.DataFrame):  # type: ignore[no-untyped-def]
    import automl

    # every family's first default configuration, then one more (the same-seed test fits it again)
    return automl.AutoML(time_budget=600, seed=0, max_trials=6).fit(multiclass_df, "segment")


@pytest.fixture(scope="session")
def regression_model(regression_df: pd.DataFrame):  # type: ignore[no-untyped-def]
    import automl

    # two families: what the regression tests read (metrics, reports) does not depend on them
    fit = automl.AutoML(time_budget=600, seed=0, candidates=["lightgbm", "linear"], max_trials=4)
    return fit.fit(regression_df, "spend")


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """A real PostgreSQL server for the session, with a ``customers`` table (1,234 rows) and a
    ``sales.orders`` table (300 rows: numeric, date and uuid columns)."""
    import sqlalchemy as sa

    from tests.connectors.test_sql import frame

    with running_postgres() as server:
        engine = sa.create_engine(server.url())
        with engine.begin() as conn:
            frame().to_sql("customers", conn, index=False)
            conn.execute(sa.text("CREATE SCHEMA sales"))
            conn.execute(
                sa.text(
                    "CREATE TABLE sales.orders (id serial primary key, amount numeric(10,2), "
                    "placed date, ref uuid)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO sales.orders (amount, placed, ref) SELECT g * 1.5, "
                    "DATE '2024-01-01' + g, gen_random_uuid() FROM generate_series(1, 300) g"
                )
            )
        engine.dispose()
        yield server
