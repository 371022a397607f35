"""Drift: how far rows given for prediction moved from the rows the model learned from.

The reference is what the model file already keeps of its training data: the hold-out rows
(``holdout.parquet``, a random sample of the build's rows, at most 20,000; for a model with a
recipe, the prepared rows) and the categories its preparation learned. Nothing is added to the
model file, so every model that kept its hold-out rows can be checked, old ones too.

Each column the model uses is cut into bins on the reference:

- numbers (and yes/no columns): at most :data:`NUMBER_BINS` bins between the reference's
  quantiles, one for missing (or unreadable) values; also the share of values outside the
  reference's range;
- categories: the :data:`TOP_CATEGORIES` most frequent learned categories, the other learned
  ones, the values the model never learned (new, or too rare in training: "unseen"), missing;
- dates and text: present or missing.

Rows are counted into the bins chunk by chunk (:class:`DriftCounts`: a few numbers per column,
whatever the file's length; counts of chunks scored anywhere merge by adding up), and each
column's population stability index (PSI: ``sum((new - old) * ln(new / old))`` over the bins'
shares) says how far it moved. The thresholds are the usual ones: a column moved somewhat from
:data:`PSI_SOME` (0.1) and a lot from :data:`PSI_SEVERE` (0.25), and only when its PSI is also
above what chance alone gives two samples of these sizes 99 times in 100 (``chance_psi``: the
chi-square quantile of the bins times ``1/rows + 1/reference rows``), so a small batch or a small
hold-out raises no false alarm. The verdict is the worst column's: none, some or severe.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtri

from automl.coltypes import ColumnInfo, to_boolean, to_number
from automl.errors import ArtifactError, ParameterError
from automl.model import Model
from automl.preprocess import category_codes, category_text
from automl.words import plural

PSI_SOME = 0.10
PSI_SEVERE = 0.25
CHANCE = 0.01  # a PSI counts when chance gives one as large less than 1 time in 100
NUMBER_BINS = 10
TOP_CATEGORIES = 10
LEVELS = ("none", "some", "severe")
_SMOOTH = 0.5  # added to every bin's count, so an empty bin has a share and the PSI is finite


@dataclass
class _Column:
    """How one column is cut into bins, and the reference's counts in them (last: missing)."""

    name: str
    kind: str  # number, boolean, category, date, text
    reference: np.ndarray
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))
    low: float = math.nan  # the reference's smallest and largest number
    high: float = math.nan
    categories: list[str] = field(default_factory=list)  # the learned ones, most frequent first

    def bins(self, s: pd.Series) -> tuple[np.ndarray, int, int]:
        """Each value's bin; and how many values are outside the reference's range (numbers) or
        not among the learned categories (categories)."""
        if self.kind in ("number", "boolean"):
            x = (to_number(s) if self.kind == "number" else to_boolean(s)).to_numpy(
                "float64", na_value=np.nan
            )
            missing = np.isnan(x)
            out = np.searchsorted(self.edges, x, side="left")
            out[missing] = len(self.edges) + 1
            outside = int(((x < self.low) | (x > self.high)).sum()) if self.kind == "number" else 0
            return out, outside, 0
        if self.kind == "category":
            text = category_text(s)
            codes = category_codes(text, self.categories).astype(np.int64)
            k = min(TOP_CATEGORIES, len(self.categories))
            out = np.where(codes >= k, k, codes)  # the other learned categories
            unseen = codes < 0
            out[unseen] = k + 1
            out[text.isna().to_numpy(bool)] = k + 2
            return out, 0, int((unseen & text.notna().to_numpy(bool)).sum())
        return s.isna().to_numpy(bool).astype(np.int64), 0, 0  # present, missing

    def count(self, s: pd.Series) -> tuple[np.ndarray, int, int]:
        """How many values fall in each bin (what :meth:`bins` gives, counted), and the values
        outside the range or not learned."""
        if self.kind in ("number", "boolean"):
            return self._count_numbers(s)
        b, outside, unseen = self.bins(s)
        return np.bincount(b, minlength=len(self.reference)), outside, unseen

    def _count_numbers(self, s: pd.Series) -> tuple[np.ndarray, int, int]:
        """:meth:`count` for numbers, without a bin per value: a bin's count is how many values
        are at most its upper edge, less the bins before it (a handful of comparisons over the
        column instead of a binary search per value, about ten times faster)."""
        x = (to_number(s) if self.kind == "number" else to_boolean(s)).to_numpy(
            "float64", na_value=np.nan
        )
        k = len(self.edges)
        missing = int(np.count_nonzero(np.isnan(x)))
        at_most = np.array([np.count_nonzero(x <= e) for e in self.edges], dtype=np.int64)
        counts = np.zeros(k + 2, dtype=np.int64)
        counts[:k] = np.diff(at_most, prepend=0)
        counts[k] = len(x) - missing - (int(at_most[-1]) if k else 0)
        counts[k + 1] = missing
        outside = int(((x < self.low) | (x > self.high)).sum()) if self.kind == "number" else 0
        return counts, outside, 0


class DriftProfile:
    """The bins of every column a model uses, from the rows its file keeps of its training
    data (see the module's docstring). :meth:`from_model` raises ``ParameterError`` when the
    model keeps none."""

    def __init__(self, columns: list[_Column], reference_rows: int) -> None:
        self.columns = columns
        self.reference_rows = reference_rows

    @classmethod
    def from_model(cls, model: Model) -> DriftProfile:
        if model.is_forecast:
            raise ParameterError(
                "This model forecasts a time series; drift is measured for models that predict "
                "rows."
            )
        ref = model.holdout
        if ref is None or len(ref) == 0:
            raise ParameterError(
                "This model keeps no rows of its training data (its hold-out rows are missing), "
                "so there is nothing to compare new rows with. Rebuild the model to measure drift."
            )
        used = model.preprocessor.columns
        lost = [c.name for c in used if c.name not in ref.columns]
        if lost:
            raise ArtifactError(
                "The model's hold-out rows (holdout.parquet) lack the column(s) "
                f"{', '.join(lost[:10])}: the file was changed. Rebuild the model."
            )
        try:
            return cls([_reference(model, col, ref[col.name]) for col in used], len(ref))
        except (TypeError, ValueError, KeyError, OverflowError):
            raise ArtifactError(
                "The model's hold-out rows (holdout.parquet) cannot be read as its columns: the "
                "file was changed or damaged. Rebuild the model to measure drift."
            ) from None

    def counter(self) -> DriftCounts:
        """Empty counts to add rows to."""
        return DriftCounts(self)


def _reference(model: Model, col: ColumnInfo, s: pd.Series) -> _Column:
    """One used column's bins, with the reference rows counted into them."""
    if col.type in ("numeric", "boolean"):
        kind = "number" if col.type == "numeric" else "boolean"
        x = (to_number(s) if kind == "number" else to_boolean(s)).to_numpy(
            "float64", na_value=np.nan
        )
        x = x[~np.isnan(x)]
        cuts = np.linspace(0, 1, NUMBER_BINS + 1)[1:-1]
        edges = np.unique(np.quantile(x, cuts)) if len(x) else np.empty(0)
        spec = _Column(
            col.name,
            kind,
            np.zeros(len(edges) + 2, dtype=np.int64),
            edges=edges,
            low=float(x.min()) if len(x) else math.nan,
            high=float(x.max()) if len(x) else math.nan,
        )
    elif col.type == "categorical":
        learned = [str(c) for c in model.preprocessor.params_[col.name]["categories"]]
        k = min(TOP_CATEGORIES, len(learned))
        spec = _Column(col.name, "category", np.zeros(k + 3, dtype=np.int64), categories=learned)
    else:
        kind = "date" if col.type == "datetime" else "text"
        spec = _Column(col.name, kind, np.zeros(2, dtype=np.int64))
    spec.reference = spec.count(s)[0]
    return spec


class DriftCounts:
    """The rows given so far, counted into a profile's bins: a few numbers per column."""

    def __init__(self, profile: DriftProfile) -> None:
        self.profile = profile
        self.rows = 0
        self.bins = {c.name: np.zeros(len(c.reference), dtype=np.int64) for c in profile.columns}
        self.outside = dict.fromkeys(self.bins, 0)
        self.unseen = dict.fromkeys(self.bins, 0)

    def add(self, rows: pd.DataFrame) -> None:
        """Count a chunk of rows as the model reads them (after its recipe, if it has one)."""
        for c in self.profile.columns:
            counts, outside, unseen = c.count(rows[c.name])
            self.bins[c.name] += counts
            self.outside[c.name] += outside
            self.unseen[c.name] += unseen
        self.rows += len(rows)

    def merge(self, other: DriftCounts) -> None:
        """Add the counts of other rows (chunks counted elsewhere) to these."""
        for name in self.bins:
            self.bins[name] += other.bins[name]
            self.outside[name] += other.outside[name]
            self.unseen[name] += other.unseen[name]
        self.rows += other.rows

    def report(self) -> DriftReport:
        columns = []
        m = self.profile.reference_rows
        for c in self.profile.columns:
            new, old = self.bins[c.name], c.reference
            seen = (new + old) > 0
            psi = _psi(new[seen], old[seen])
            chance = float(chdtri(max(int(seen.sum()) - 1, 1), CHANCE)) * (
                1 / max(self.rows, 1) + 1 / max(m, 1)
            )
            level = _level(psi, chance) if self.rows else "none"
            n = max(self.rows, 1)
            k = min(TOP_CATEGORIES, len(c.categories))
            columns.append(
                ColumnDrift(
                    name=c.name,
                    kind=c.kind,
                    psi=round(psi, 4),
                    drifted=level != "none",
                    level=level,
                    chance_psi=round(chance, 4),
                    missing_share=round(float(new[-1]) / n, 4),
                    train_missing_share=round(float(old[-1]) / max(m, 1), 4),
                    unseen_share=(
                        round(self.unseen[c.name] / n, 4) if c.kind == "category" else None
                    ),
                    train_unseen_share=(
                        round(float(old[k + 1]) / max(m, 1), 4) if c.kind == "category" else None
                    ),
                    out_of_range_share=(
                        round(self.outside[c.name] / n, 4) if c.kind == "number" else None
                    ),
                )
            )
        columns.sort(key=lambda d: (-LEVELS.index(d.level), -d.psi, d.name))
        worst = max((LEVELS.index(d.level) for d in columns), default=0)
        return DriftReport(LEVELS[worst], columns, self.rows)


def _psi(new: np.ndarray, old: np.ndarray) -> float:
    if len(new) < 2:
        return 0.0
    a = (new + _SMOOTH) / (new.sum() + _SMOOTH * len(new))
    e = (old + _SMOOTH) / (old.sum() + _SMOOTH * len(old))
    return float(np.sum((a - e) * np.log(a / e)))


def _level(psi: float, chance: float) -> str:
    if psi >= max(PSI_SEVERE, chance):
        return "severe"
    if psi >= max(PSI_SOME, chance):
        return "some"
    return "none"


@dataclass
class ColumnDrift:
    """How far one column moved. Shares are of the rows given (``train_``: of the reference)."""

    name: str
    kind: str
    psi: float
    drifted: bool
    level: str
    chance_psi: float
    missing_share: float
    train_missing_share: float
    unseen_share: float | None = None  # categories: values the model never learned
    train_unseen_share: float | None = None
    out_of_range_share: float | None = None  # numbers: outside the training rows' range


@dataclass
class DriftReport:
    """The verdict (none, some, severe) and every column, the ones that moved most first."""

    verdict: str
    columns: list[ColumnDrift]
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """``{"verdict": ..., "columns": [{"name", "psi", "drifted", ...}]}``: what
        ``automl drift --json`` prints and what is stored with a batch prediction."""
        return {"verdict": self.verdict, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Any, rows: int = 0) -> DriftReport:
        """A stored report (a catalog row, a JSON file); anything else is a clear error."""
        try:
            verdict = str(data["verdict"])
            columns = [ColumnDrift(**c) for c in data["columns"]]
        except (KeyError, TypeError, ValueError):
            raise ParameterError(
                "This drift report is damaged or was not written by Easel."
            ) from None
        if verdict not in LEVELS:
            raise ParameterError(f"This drift report's verdict '{verdict[:20]}' is unknown.")
        return cls(verdict, columns, rows)

    def moved(self, limit: int = 5) -> list[ColumnDrift]:
        """The columns that moved (somewhat or a lot), most first."""
        return [c for c in self.columns if c.drifted][:limit]

    def summary(self) -> str:
        """One paragraph in plain words."""
        rows = f"the {plural(self.rows, 'row')}" if self.rows else "the rows"
        if self.verdict == "none":
            return (
                f"No drift: {rows} look like the rows the model learned from (no column changed "
                "more than chance would explain)."
            )
        moved = ", ".join(f"{c.name} ({c.psi:.2f})" for c in self.moved())
        if self.verdict == "some":
            return (
                f"Some drift: {rows} differ from the rows the model learned from in {moved} "
                "(change score; 0.1 or more is a change, 0.25 a large one). Predictions may be "
                "less accurate than the hold-out score says."
            )
        return (
            f"Severe drift: {rows} differ a lot from the rows the model learned from in {moved} "
            "(change score; 0.25 or more is a large change). Predictions may be much less "
            "accurate than the hold-out score says: check the data, or rebuild the model on "
            "newer rows."
        )


__all__ = ["ColumnDrift", "DriftCounts", "DriftProfile", "DriftReport"]
