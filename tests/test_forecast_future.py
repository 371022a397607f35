"""Future values: columns that change over time, known ahead (a plan), used at their own period;
the others only as past values; forecasts take the future values and check them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import automl
from automl.errors import DataError, ParameterError
from automl.timeseries import Layout, describe, to_series, training_rows

KW = dict(task="timeseries", time_column="day", series_columns=["store"], horizon=7)
FIT = dict(max_trials=3, time_budget=600)


def priced_sales(days: int = 160, seed: int = 0) -> pd.DataFrame:
    """Two stores' daily sales that respond to the price (6 units more per unit of price cut),
    with a promotion flag, a note (free text) and the store's size (constant)."""
    rng = np.random.default_rng(seed)
    when = pd.date_range("2023-01-01", periods=days, freq="D")
    parts = []
    for store, level in (("A", 100.0), ("B", 60.0)):
        price = 10.0 + rng.choice([0.0, -2.0, -4.0], size=days, p=[0.6, 0.2, 0.2])
        season = 8 * np.sin(2 * np.pi * np.arange(days) / 7)
        sales = level + season - 6 * (price - 10) + rng.normal(0, 2, days)
        parts.append(
            pd.DataFrame(
                {
                    "day": when.strftime("%Y-%m-%d"),
                    "store": store,
                    "size": level,
                    "price": price,
                    "promo": rng.choice(["yes", "no"], size=days),
                    "note": [f"shift {i} by {rng.integers(99)} people" for i in range(days)],
                    "sales": sales,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def priced() -> automl.Model:
    return automl.AutoML(**KW, **FIT).fit(priced_sales(), "sales").model_


def test_changing_columns_are_detected_as_candidates_by_kind() -> None:
    desc = describe(priced_sales(), "sales", "day", ["store"])
    assert desc["future_candidates"] == {"price": "numeric", "promo": "boolean"}
    assert desc["static_columns"] == ["size"]
    assert "note" in desc["ignored_columns"] and "free text" in desc["ignored_columns"]["note"]


def test_a_planned_price_cut_moves_the_forecast(priced: automl.Model) -> None:
    assert priced.future_columns == ["price", "promo"]
    plan = priced.future_template()
    assert len(plan) == 14 and list(plan.columns) == ["store", "day", "price", "promo"]
    assert set(plan["promo"]) <= {"yes", "no"}  # as people write them
    before = priced.forecast(future=plan)
    cut = plan.copy()
    weeks = cut["store"].eq("A") & cut["day"].astype(str).between("2023-06-12", "2023-06-14")
    cut.loc[weeks, "price"] = cut.loc[weeks, "price"] - 4
    after = priced.forecast(future=cut)
    moved = after["prediction"] - before["prediction"]
    assert moved[weeks].mean() > 10  # 4 units cheaper: about 24 more sold
    assert moved[~weeks].abs().max() < moved[weeks].mean() / 2  # other days barely move


def test_a_forecast_without_its_future_values_says_what_it_needs(priced: automl.Model) -> None:
    needs = r"future values of price, promo.*columns store, day, price, promo"
    with pytest.raises(DataError, match=needs):
        priced.forecast()


def _plan(model: automl.Model) -> pd.DataFrame:
    return model.future_template().astype({"day": str})


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.drop(columns=["price"]), r"missing 1 column: price"),
        (lambda p: p[p["store"] == "A"], r"miss 7 periods: series B has none"),
        (lambda p: p.drop(index=[2, 3]), r"miss 2 periods: series A: 2023-06-12, 2023-06-13"),
        (
            lambda p: pd.concat([p, p.assign(store="C")]),
            r"1 series the model does not know: C",
        ),
        (lambda p: pd.concat([p, p.iloc[[4]]]), r"2 rows for series A in the day of 2023-06-14"),
        # every other day: the wrong spacing
        (lambda p: p.iloc[::2], r"miss 7 periods: series A: 2023-06-11, 2023-06-13"),
        (
            lambda p: p.assign(price=p["price"].astype(object).where(p.index != 5, "cheap")),
            r"'price' must be finite numbers.*'cheap' \(row 6\)",
        ),
        (
            lambda p: p.assign(price=p["price"].astype(object).where(p.index != 3, "1e400")),
            r"'price' must be finite numbers.*'1e400' \(row 4\)",
        ),
        (
            lambda p: p.assign(price=p["price"].where(p.index != 8)),
            r"'price' has no future value for series B in the day of 2023-06-11 \(row 9\)",
        ),
        (lambda p: p.assign(day="someday"), r"cannot be read as a date"),
        # dates a time cannot hold (it failed inside pandas)
        (
            lambda p: pd.concat([p, p.iloc[[0]].assign(day="9999-12-31")]),
            r"1 date outside the years 1678 to 2261.*'9999-12-31' in row 15",
        ),
        (lambda p: p.assign(day="1500-01-01"), r"14 dates outside the years 1678 to 2261"),
    ],
)
def test_damaged_future_values_are_named(
    priced: automl.Model, damage: object, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        priced.forecast(future=damage(_plan(priced)))  # type: ignore[operator]


@pytest.mark.parametrize("column", ["store", "day", "price"])
def test_what_if_on_an_uploaded_plan_without_a_column_says_which(
    priced: automl.Model, column: str
) -> None:
    """The What if tab changes the analyst's uploaded plan: one without a needed column is
    named in words (it failed with a KeyError, shown as 'something went wrong')."""
    from automl.timeseries import change_plan

    plan = _plan(priced).drop(columns=[column])
    with pytest.raises(DataError, match=f"missing 1 column: {column}"):
        change_plan(priced, plan, "A", "price", (1, 3), percent=-10)


def _set(part: str, key: str, value: object) -> object:
    return lambda ts: ts[part].__setitem__(key, value)


@pytest.mark.parametrize(
    "damage",
    [
        lambda ts: ts["series"]["covariate_tails"]["price"].__setitem__(0, [1.0]),  # ragged
        lambda ts: ts["series"]["covariate_tails"].pop("price"),
        lambda ts: ts["series"]["covariate_tails"]["price"].__setitem__(0, ["x"] * 7),
        _set("layout", "past_lag", True),
        _set("layout", "past_lag", -1),
        _set("layout", "holidays", {"country": "ZZ", "region": None}),
        _set("layout", "holidays", {"country": "US", "region": "ZZ"}),
        _set("layout", "future_columns", ["price", "price"]),
        lambda ts: ts["layout"].update(
            future_columns=["price", "promo", "store"],
            kinds={"price": "numeric", "promo": "boolean", "store": "categorical"},
        ),
        lambda ts: ts["layout"].update(
            past_columns=["note"], kinds={"price": "numeric", "promo": "boolean", "note": "numeric"}
        ),
        # words the Predict page shows in its labels: never markup
        lambda ts: ts.update(frequency="![x](http://evil.example/a.png)"),
        lambda ts: ts.update(horizon_text="<b>7</b> days"),
    ],
)
def test_damaged_future_value_columns_in_the_model_file_are_refused_on_load(
    priced: automl.Model, tmp_path: Path, damage: object
) -> None:
    """Each of these failed only when forecasting (a KeyError, a ValueError, the holidays
    package's NotImplementedError), after automl info had shown the model as fine."""
    import json

    from automl.errors import ArtifactError

    path = priced.save(tmp_path / "m")
    meta_file = path / "easel_model.json"
    data = json.loads(meta_file.read_text(encoding="utf-8"))
    damage(data["timeseries"])  # type: ignore[operator]
    meta_file.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ArtifactError, match="damaged.*Retrain the model"):
        automl.load(path)


def test_future_values_of_later_periods_and_other_known_series_are_left_aside(
    priced: automl.Model,
) -> None:
    plan = _plan(priced)
    longer = priced.future_template(horizon=10).astype({"day": str})
    a = priced.forecast(future=plan, series=["A"])
    b = priced.forecast(future=longer, series=["A"])
    assert np.allclose(a["prediction"], b["prediction"])


def leaky(days: int = 160) -> pd.DataFrame:
    df = priced_sales(days).drop(columns=["note", "promo", "price"])
    df["copy"] = df["sales"]  # the target itself: known only once it happened
    return df


def test_a_column_equal_to_the_target_is_never_read_at_its_own_period() -> None:
    m = automl.AutoML(**KW, **FIT, future_columns=[]).fit(leaky(), "sales").model_
    layout = Layout.from_dict(m.timeseries.layout)
    assert layout.future_columns == [] and layout.past_columns == ["copy"]
    assert m.future_columns == []
    # each row's past value is the target 7 days before, never its own
    sd = to_series(leaky(), "sales", "day", ["store"])
    X, _, y, per, pos = training_rows(sd, layout)
    feature = X["copy: 7 days before"].to_numpy()
    for j in range(2):
        rows = np.flatnonzero(pos == j)
        at = {int(p): v for p, v in zip(per[rows], y[rows], strict=True)}
        known = [(p, v) for p, v in zip(per[rows], feature[rows], strict=True) if p - 7 in at]
        assert known and all(np.isclose(v, at[int(p) - 7]) for p, v in known)
    # and the forecast is no better than an honest one (a leak would make it nearly perfect)
    assert m.metrics["mase"] > 0.3
    m.forecast()  # no future values needed


def test_a_confirmed_future_column_uses_only_the_values_given() -> None:
    m = automl.AutoML(**KW, **FIT, future_columns=["copy"]).fit(leaky(), "sales").model_
    assert m.future_columns == ["copy"]
    plan = m.future_template()
    low = m.forecast(future=plan.assign(copy=60.0))
    high = m.forecast(future=plan.assign(copy=100.0))
    assert (high["prediction"] - low["prediction"]).mean() > 10  # it follows the given values


def test_future_columns_must_be_candidates() -> None:
    with pytest.raises(ParameterError, match=r"'size' cannot be a future-value column: it does"):
        automl.AutoML(**KW, **FIT, future_columns=["size"]).fit(priced_sales(), "sales")
    with pytest.raises(ParameterError, match=r"'note' cannot be.*free text.*price, promo"):
        automl.AutoML(**KW, **FIT, future_columns=["note"]).fit(priced_sales(), "sales")
    with pytest.raises(ParameterError, match=r"'nothing' cannot be.*not a column"):
        automl.AutoML(**KW, **FIT, future_columns=["nothing"]).fit(priced_sales(), "sales")


# ------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def cli_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from automl.cli import main

    folder = tmp_path_factory.mktemp("future")
    data = folder / "sales.csv"
    priced_sales().to_csv(data, index=False)
    code = main(
        ["train", str(data), "--target", "sales", "--time-column", "day", "--series", "store"]
        + ["--horizon", "7", "--max-trials", "2", "--time-budget", "600"]
        + ["--out", str(folder / "m"), "--quiet", "--no-reports"]
    )
    assert code == 0
    return folder


def test_cli_trains_with_the_detected_future_columns_and_info_lists_them(
    cli_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.cli import main

    capsys.readouterr()
    assert main(["info", str(cli_model / "m")]) == 0
    out = capsys.readouterr().out
    assert "future values (needed to forecast): price, promo" in out
    assert "series forecast by: the model" in out
    # a series forecast by a statistical method (alone or in a blend) is said to ignore them
    stats = [m for m in automl.load(cli_model / "m").timeseries.series.methods if m != "model"]
    ignore = "the statistical methods read only each series' own values: not the future-"
    assert (ignore in out) == bool(stats)
    assert main(["info", str(cli_model / "m"), "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["timeseries"]["layout"]["future_columns"] == ["price", "promo"]


def test_cli_forecast_takes_the_future_file(
    cli_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.cli import main

    model = automl.load(cli_model / "m")
    plan = cli_model / "plan.csv"
    model.future_template().to_csv(plan, index=False)
    out = cli_model / "fc.csv"
    assert main(["forecast", str(cli_model / "m"), "--future", str(plan), "--out", str(out)]) == 0
    got = pd.read_csv(out)
    assert len(got) == 14 and "p90" in got.columns
    capsys.readouterr()
    # without it: exit 2 naming what is needed
    assert main(["forecast", str(cli_model / "m"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--future FILE" in err and "price, promo" in err and "Traceback" not in err
    # a file that is not there, and a file without a needed column
    assert main(["forecast", str(cli_model / "m"), "--future", "nope.csv", "--out", str(out)]) == 2
    assert "nope.csv" in capsys.readouterr().err
    model.future_template().drop(columns=["promo"]).to_csv(plan, index=False)
    assert main(["forecast", str(cli_model / "m"), "--future", str(plan), "--out", str(out)]) == 2
    assert "missing 1 column: promo" in capsys.readouterr().err


def test_cli_writes_the_future_values_to_fill_in(
    cli_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--future-template writes the table --future takes (the last known values), without
    forecasting; the error without --future says so."""
    from automl.cli import main

    m = str(cli_model / "m")
    plan, out = cli_model / "to_fill.csv", cli_model / "fc2.csv"
    capsys.readouterr()
    assert main(["forecast", m, "--out", str(out)]) == 2
    assert "--future-template --out plan.csv" in " ".join(capsys.readouterr().err.split())
    assert main(["forecast", m, "--future-template", "--out", str(plan)]) == 0
    assert "--future " in capsys.readouterr().out and not out.exists()
    table = pd.read_csv(plan)
    want = automl.load(m).future_template()
    assert list(table.columns) == list(want.columns) and len(table) == len(want) == 14
    assert main(["forecast", m, "--future", str(plan), "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 14
    # both at once is refused
    assert main(["forecast", m, "--future-template", "--future", str(plan), "--out", "x.csv"]) == 2


def test_the_template_checks_the_horizon_and_the_series_as_the_forecast_does(
    cli_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --horizon or --series with --future-template is refused in words and writes
    nothing (it wrote an empty table, or failed inside numpy)."""
    from automl.cli import main

    m = str(cli_model / "m")
    plan = cli_model / "bad_plan.csv"
    capsys.readouterr()
    for extra, says in (
        (["--horizon", "-3"], "positive whole number"),
        (["--horizon", "0"], "positive whole number"),
        (["--horizon", "100000000"], "forecasts go at most 35 ahead"),
        (["--series", "ZZZ"], "Unknown series: ZZZ"),
    ):
        assert main(["forecast", m, "--future-template", *extra, "--out", str(plan)]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
        assert not plan.exists()
    # the command it suggests forecasts the periods and series the table was written for
    assert main(["forecast", m, "--future-template", "--horizon", "3", "--series", "B",
                 "--out", str(plan)]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert f"--future {plan} --horizon 3 --series B --out FILE" in said
    out = cli_model / "fc3.csv"
    assert main(["forecast", m, "--future", str(plan), "--horizon", "3", "--series", "B",
                 "--out", str(out)]) == 0  # fmt: skip
    assert len(pd.read_csv(out)) == 3
    model = automl.load(m)
    with pytest.raises(ParameterError, match="Unknown series"):
        model.future_template(series=["A", "nope"])
    assert len(model.future_template(horizon=3, series=["B"])) == 3


def test_cli_future_columns_none_and_a_wrong_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.cli import main

    data = tmp_path / "sales.csv"
    priced_sales().to_csv(data, index=False)
    base = ["train", str(data), "--target", "sales", "--time-column", "day", "--series", "store"]
    base += ["--horizon", "7", "--max-trials", "2", "--time-budget", "600", "--quiet"]
    base += ["--no-reports", "--out", str(tmp_path / "m")]
    assert main([*base, "--future-columns", "prize"]) == 2
    assert "'prize' cannot be a future-value column" in capsys.readouterr().err
    assert main([*base, "--future-columns", "none"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "future values (needed to forecast): none" in out
    assert "past values only (7 days before): price, promo" in out
    out_file = tmp_path / "fc.csv"
    assert main(["forecast", str(tmp_path / "m"), "--out", str(out_file)]) == 0


def test_forecast_settings_on_a_table_without_time_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--holidays, --fill, --future-columns, --horizon, --quantiles, --backtests, --series
    and --aggregate without a time column were silently ignored (a table model was built as if
    they had not been given)."""
    from automl.cli import main

    data = tmp_path / "sales.csv"
    priced_sales(20).to_csv(data, index=False)
    base = ["train", str(data), "--target", "sales", "--max-trials", "2", "--quiet"]
    base += ["--no-reports", "--out", str(tmp_path / "m")]
    for extra in (
        ["--holidays", "US"],
        ["--fill", "zero"],
        ["--future-columns", "price"],
        ["--horizon", "5"],
        ["--quantiles", "0.2,0.8"],
        ["--backtests", "4"],
        ["--series", "store"],
        ["--aggregate", "sum"],
    ):
        assert main([*base, *extra]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "is not a time series forecast: it has no time column" in err
        assert not (tmp_path / "m").exists()


def test_a_plan_for_newer_history_starts_where_it_ends(priced: automl.Model) -> None:
    newer = priced_sales(120)  # ends 2023-04-30
    plan = priced.future_template(history=newer)
    assert (plan.groupby("store")["day"].min().astype(str) == "2023-05-01").all()
    last = newer.groupby("store")["price"].last()
    assert (plan.groupby("store")["price"].first() == last).all()  # its last known price
    fc = priced.forecast(newer, future=plan)
    assert len(fc) == 14 and fc["day"].astype(str).min() == "2023-05-01"


def test_an_exported_bundle_of_a_model_with_future_values_imports(
    priced: automl.Model, tmp_path: Path
) -> None:
    from automl.bundle import export_bundle, import_bundle
    from automl.workspace import Workspace

    folder = priced.save(tmp_path / "m")
    zipped = export_bundle(folder, tmp_path / "m.zip", "sales")
    ws = Workspace(tmp_path / "ws")
    done = import_bundle(ws, zipped, "sales")
    assert automl.load(ws.root / done.record.path).future_columns == ["price", "promo"]


def test_one_series_forecasts_when_no_column_describes_the_series() -> None:
    """The what-if forecasts one series; without a constant column (size) it used to fail."""
    model = (
        automl.AutoML(**KW, max_trials=2, time_budget=600)
        .fit(priced_sales(days=80).drop(columns=["size", "note"]), "sales")
        .model_
    )
    plan = model.future_template()
    one = model.forecast(series=["B"], future=plan)
    every = model.forecast(future=plan)
    assert len(one) == 7 and set(one["store"]) == {"B"}
    mine = every[every["store"] == "B"].reset_index(drop=True)
    assert np.allclose(one["prediction"], mine["prediction"])


def test_newer_history_with_dates_written_in_several_ways_is_refused(
    priced: automl.Model,
) -> None:
    """Its rows of one day used to be averaged silently (02/01 read as 1 February)."""
    history = priced_sales()
    plan = priced.future_template(history=history)
    history.loc[history["day"] == "2023-01-02", "day"] = "02/01/2023"  # meets 1 February
    with pytest.raises(DataError, match=r"'day' writes its dates in several ways"):
        priced.forecast(history, future=plan)
