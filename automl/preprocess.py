"""Preparation that lives inside the model: raw rows in, model-ready matrices out.

Everything learned here (medians, scales, category lists, date formats, text vocabularies) is plain
JSON, so a saved model needs no pickle and new rows get exactly the training-time treatment.

Two encodings are produced from the same learned state:

- ``tree``: one float32 matrix for gradient boosting. Numbers stay raw (missing stays NaN),
  categories become stable integer codes (LightGBM's native categorical handling), dates become
  parts, text becomes a few TF-IDF terms plus length counts.
- ``linear``: a sparse matrix for linear models: median-imputed and standardized numbers with
  missing indicators, one-hot categories, more TF-IDF terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from automl import fewrows
from automl.coltypes import (
    ColumnInfo,
    as_text,
    guess_date_format,
    to_boolean,
    to_datetime,
    to_number,
)
from automl.errors import DataError, SchemaError
from automl.words import plural

OTHER = "__other__"
MAX_LEVELS = 1000
MIN_LEVEL_COUNT = 3
# Past the MAX_LEVELS most frequent levels, a level is still learned when it has this many rows
# (enough for its own effect), up to MAX_LEARNED_LEVELS: on the 1,000,000-row interactions table
# grouping 1,500 of a column's 2,500 levels (each with over 100 rows) put a third of the rows in
# "other" and cost 0.008 test ROC AUC (LightGBM on all the rows: 0.8227 against 0.8310).
LEARNED_LEVEL_ROWS = 50
MAX_LEARNED_LEVELS = 10_000
TEXT_TERMS_LINEAR = 300
TEXT_TERMS_TREE = 30


def category_text(s: pd.Series) -> pd.Series:
    """Category values as strings; whole-number floats print without '.0' (1.0 -> '1')."""
    if pd.api.types.is_float_dtype(s.dtype):
        num = s.astype("float64")
        whole = num.notna() & (np.mod(num.fillna(0), 1) == 0)
        text = num.astype("string")
        text[whole] = num[whole].astype("int64").astype("string")
        return text
    return as_text(s)


def category_codes(text: pd.Series, categories: list[str]) -> np.ndarray:
    """Each value's position in ``categories`` as float64, -1 where it is not among them
    (missing values too). One vectorised lookup (Arrow's hash table), no Python per value."""
    values = pa.array(text, type=pa.string(), from_pandas=True)
    found = pc.index_in(values, value_set=pa.array(categories, type=pa.string()))
    codes = found.to_numpy(zero_copy_only=False).astype("float64")  # not found: NaN
    codes[np.isnan(codes)] = -1.0
    return codes


@dataclass
class InputReport:
    """What was found in rows given for prediction."""

    rows: int = 0
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    unreadable: dict[str, int] = field(default_factory=dict)
    unseen_categories: dict[str, int] = field(default_factory=dict)
    # prediction's added columns when the rows already had some of their names: each added
    # column's name -> the name used instead; own_columns: the rows' columns
    renamed_outputs: dict[str, str] = field(default_factory=dict)
    own_columns: list[str] = field(default_factory=list)

    def merge(self, other: InputReport) -> None:
        self.rows += other.rows
        if not self.renamed_outputs:
            self.renamed_outputs = dict(other.renamed_outputs)
            self.own_columns = list(other.own_columns)
        for mine, theirs in (
            (self.unreadable, other.unreadable),
            (self.unseen_categories, other.unseen_categories),
        ):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v

    def messages(self) -> list[str]:
        out = []
        if self.extra_columns:
            out.append(
                f"{plural(len(self.extra_columns), 'column')} not used by the model "
                f"{'was' if len(self.extra_columns) == 1 else 'were'} ignored: "
                f"{', '.join(self.extra_columns)}."
            )
        for col, n in self.unreadable.items():
            out.append(
                f"Column '{col}': {plural(n, 'value')} could not be read as the trained type and "
                f"{'was' if n == 1 else 'were'} treated as missing."
            )
        if self.renamed_outputs:
            taken = [k for k, v in self.renamed_outputs.items() if k != v and k in self.own_columns]
            out.append(
                f"The rows already have column(s) named {', '.join(map(repr, taken))}: they are "
                "kept as they were, and the model's answers are in "
                f"{', '.join(map(repr, self.renamed_outputs.values()))}."
            )
        for col, n in self.unseen_categories.items():
            out.append(
                f"Column '{col}': {plural(n, 'value')} {'is' if n == 1 else 'are'} not among the "
                "categories the model learned (new, or too rare in training) and "
                f"{'was' if n == 1 else 'were'} treated as 'other'."
            )
        return out


class Preprocessor:
    """Learns column preparation from training rows; applies it to any raw rows."""

    def __init__(self, columns: list[ColumnInfo], known: list[str] | None = None) -> None:
        self.columns = [c for c in columns if c.used]
        # Every column seen in training (used or not, and the target): not "extra" at predict time.
        self.known = list(known if known is not None else [c.name for c in columns])
        self.params_: dict[str, dict[str, Any]] = {}
        self._lookups: dict[str, tuple[list[str], dict[str, int]]] = {}

    # ---------------------------------------------------------------- fit
    def fit(self, df: pd.DataFrame) -> Preprocessor:
        for col in self.columns:
            s = df[col.name]
            if col.type == "numeric":
                num = to_number(s)
                self.params_[col.name] = self._num_stats(num)
            elif col.type == "boolean":
                self.params_[col.name] = self._num_stats(to_boolean(s))
            elif col.type == "categorical":
                counts = category_text(s).value_counts()
                keep = counts[counts >= MIN_LEVEL_COUNT]  # (most frequent first)
                learned = int((keep >= LEARNED_LEVEL_ROWS).sum())
                keep = keep.head(min(max(MAX_LEVELS, learned), MAX_LEARNED_LEVELS))
                if keep.empty:
                    keep = counts.head(MAX_LEVELS)
                self.params_[col.name] = {
                    "categories": [str(c) for c in keep.index],
                    "grouped_as_other": int(len(counts) - len(keep)),
                }
            elif col.type == "datetime":
                fmt = (
                    None if pd.api.types.is_datetime64_any_dtype(s.dtype) else guess_date_format(s)
                )
                ts = to_datetime(s, fmt)
                has_time = bool(
                    ts.notna().any() and (ts.dropna().dt.normalize() != ts.dropna()).any()
                )
                parts = self._date_parts(ts, has_time)
                self.params_[col.name] = {
                    "format": fmt,
                    "has_time": has_time,
                    "parts": {k: self._num_stats(v) for k, v in parts.items()},
                }
            elif col.type == "text":
                text = as_text(s).fillna("")
                self.params_[col.name] = self._fit_text(text)
        return self

    @staticmethod
    def _num_stats(num: pd.Series) -> dict[str, Any]:
        valid = num.dropna()
        median = float(valid.median()) if len(valid) else 0.0
        mean = float(valid.mean()) if len(valid) else 0.0
        std = float(valid.std()) if len(valid) > 1 else 0.0
        return {
            "median": median,
            "mean": mean,
            "std": std if std > 1e-12 else 1.0,
            "has_missing": bool(num.isna().any()),
        }

    @staticmethod
    def _fit_text(text: pd.Series) -> dict[str, Any]:
        vec = TfidfVectorizer(
            max_features=TEXT_TERMS_LINEAR, min_df=3, sublinear_tf=True, stop_words="english"
        )
        try:
            vec.fit(text)
        except ValueError:  # no term kept (empty vocabulary)
            return {"vocabulary": [], "idf": []}
        doc_freq = np.asarray((vec.transform(text) > 0).sum(axis=0)).ravel()
        terms = vec.get_feature_names_out()
        order = np.argsort(-doc_freq, kind="stable")
        return {
            "vocabulary": [str(terms[i]) for i in order],
            "idf": [float(vec.idf_[i]) for i in order],
        }

    @staticmethod
    def _date_parts(ts: pd.Series, has_time: bool) -> dict[str, pd.Series]:
        parts = {
            "year": ts.dt.year,
            "month": ts.dt.month,
            "day": ts.dt.day,
            "dayofweek": ts.dt.day_of_week,
            "dayofyear": ts.dt.day_of_year,
            "days": (ts - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0,
        }
        if has_time:
            parts["hour"] = ts.dt.hour
        return {k: v.astype("float64") for k, v in parts.items()}

    # ---------------------------------------------------------------- checks
    def check_columns(self, df: pd.DataFrame) -> InputReport:
        if len(df) == 0:
            raise DataError("The rows to predict are empty: give at least one row with values.")
        names = set(map(str, df.columns))
        needed = [c.name for c in self.columns]
        missing = [c for c in needed if c not in names]
        if missing:
            raise SchemaError(
                f"The data is missing {plural(len(missing), 'column')} the model was trained on: "
                f"{', '.join(missing)}. Add them (empty values are allowed) and try again."
            )
        known = set(self.known) | set(needed)
        extra = [str(c) for c in df.columns if str(c) not in known]
        return InputReport(rows=len(df), extra_columns=extra)

    # ---------------------------------------------------------------- base features
    def _base(self, df: pd.DataFrame, report: InputReport) -> list[tuple[str, str, np.ndarray]]:
        """(column, feature name, float64 values) for every numeric-ish feature. A few rows
        (:data:`automl.fewrows.FEW_ROWS`) are read value by value where that gives the same."""
        few = len(df) <= fewrows.FEW_ROWS
        out: list[tuple[str, str, np.ndarray]] = []
        for col in self.columns:
            s = df[col.name]
            p = self.params_[col.name]
            if col.type in ("numeric", "boolean"):
                read = fewrows.numbers if col.type == "numeric" else fewrows.booleans
                got = read(s) if few else None
                if got is None:
                    v = to_number(s) if col.type == "numeric" else to_boolean(s)
                    arr = v.to_numpy("float64", na_value=np.nan)
                    got = arr, s.notna().to_numpy(bool) & np.isnan(arr)
                self._count(report.unreadable, col.name, got[1])
                out.append((col.name, col.name, got[0]))
            elif col.type == "categorical":
                found = fewrows.category_codes(s, self._lookup(col.name)) if few else None
                if found is None:
                    text = category_text(s)
                    found = category_codes(text, p["categories"]), text.isna().to_numpy(bool)
                codes, seen_missing = found
                unseen = (codes < 0) & ~seen_missing
                self._count(report.unseen_categories, col.name, unseen)
                codes[unseen] = len(p["categories"])
                codes[seen_missing] = np.nan
                out.append((col.name, col.name, codes))
            elif col.type == "datetime":
                dated = fewrows.date_parts(s, p["format"], p["has_time"]) if few else None
                if dated is None:
                    present = s.notna().to_numpy(bool)
                    ts = to_datetime(s, p["format"])
                    if p["format"] and ts.isna().sum() > 0.5 * present.sum():
                        ts = to_datetime(s)
                    parts = self._date_parts(ts, p["has_time"])
                    dated = (
                        {k: v.to_numpy("float64") for k, v in parts.items()},
                        present & ts.isna().to_numpy(bool),
                    )
                self._count(report.unreadable, col.name, dated[1])
                for part, arr in dated[0].items():
                    out.append((col.name, f"{col.name}__{part}", arr))
            elif col.type == "text":
                values = self._texts(s, few)
                words = (
                    fewrows.word_counts(values)
                    if isinstance(values, list)
                    else values.str.count(r"\S+").to_numpy(float)
                )
                lengths = (
                    fewrows.text_lengths(values)
                    if isinstance(values, list)
                    else values.str.len().to_numpy(float)
                )
                out.append((col.name, f"{col.name}__words", words))
                out.append((col.name, f"{col.name}__chars", lengths))
        return out

    @staticmethod
    def _texts(s: pd.Series, few: bool) -> list[str] | pd.Series:
        """A text column's values, stripped, missing ones as '' (a list for a few rows)."""
        values = fewrows.texts(s) if few else None
        if values is None:
            return as_text(s).fillna("")
        return ["" if v is None else v for v in values]

    def _lookup(self, name: str) -> dict[str, int]:
        """A categorical column's learned categories -> their positions (made once)."""
        categories = self.params_[name]["categories"]
        cached = self._lookups.get(name)
        if cached is None or cached[0] is not categories:
            positions: dict[str, int] = {}
            for i, c in enumerate(categories):
                positions.setdefault(c, i)
            cached = self._lookups[name] = (categories, positions)
        return cached[1]

    @staticmethod
    def _count(store: dict[str, int], name: str, mask: np.ndarray) -> None:
        # Both encodings read the same rows (an ensemble may use both): count them once.
        n = int(mask.sum())
        if n:
            store[name] = max(store.get(name, 0), n)

    def _tfidf(self, df: pd.DataFrame, col: str, n_terms: int) -> sp.csr_matrix | None:
        p = self.params_[col]
        vocab = p["vocabulary"][:n_terms]
        if not vocab:
            return None
        vec = CountVectorizer(vocabulary=vocab, stop_words="english")
        counts = vec.transform(self._texts(df[col], len(df) <= fewrows.FEW_ROWS))
        counts = counts.astype("float64").tocsr()
        counts.data = 1.0 + np.log(counts.data)
        weighted = counts.multiply(np.asarray(p["idf"][:n_terms])[None, :]).tocsr()
        return normalize(weighted, norm="l2", copy=False).tocsr()

    # ---------------------------------------------------------------- encodings
    def transform_tree(self, df: pd.DataFrame, report: InputReport | None = None) -> np.ndarray:
        report = report if report is not None else InputReport()
        with np.errstate(over="ignore"):  # beyond float32's range: infinity, as trees read it
            blocks = [v.astype("float32")[:, None] for _, _, v in self._base(df, report)]
        for col in self.columns:
            if col.type == "text":
                m = self._tfidf(df, col.name, TEXT_TERMS_TREE)
                if m is not None:
                    blocks.append(m.toarray().astype("float32"))
        if not blocks:
            return np.zeros((len(df), 0), dtype="float32")
        return np.hstack(blocks)

    def tree_features(self) -> tuple[list[str], list[str], list[int]]:
        """Feature names, their source columns, and the indices of categorical features."""
        names: list[str] = []
        sources: list[str] = []
        cats: list[int] = []
        for col in self.columns:
            p = self.params_[col.name]
            if col.type == "datetime":
                parts = list(p["parts"])
                names += [f"{col.name}__{x}" for x in parts]
                sources += [col.name] * len(parts)
            elif col.type == "text":
                names += [f"{col.name}__words", f"{col.name}__chars"]
                sources += [col.name] * 2
            else:
                if col.type == "categorical":
                    cats.append(len(names))
                names.append(col.name)
                sources.append(col.name)
        for col in self.columns:
            if col.type == "text":
                terms = self.params_[col.name]["vocabulary"][:TEXT_TERMS_TREE]
                names += [f"{col.name}__tfidf_{t}" for t in terms]
                sources += [col.name] * len(terms)
        return names, sources, cats

    def linear_sources(self) -> list[str]:
        """The source column of every feature of :meth:`transform_linear`, in order."""
        dense: list[str] = []
        sparse: list[str] = []
        for col in self.columns:
            p = self.params_[col.name]
            if col.type in ("numeric", "boolean"):
                dense += [col.name] * (2 if p["has_missing"] else 1)
            elif col.type == "categorical":
                sparse += [col.name] * (len(p["categories"]) + 2)
            elif col.type == "datetime":
                for stats in p["parts"].values():
                    dense += [col.name] * (2 if stats["has_missing"] else 1)
            elif col.type == "text":
                dense += [col.name] * 2
        tfidf: list[str] = []
        for col in self.columns:
            if col.type == "text":
                tfidf += [col.name] * len(self.params_[col.name]["vocabulary"][:TEXT_TERMS_LINEAR])
        return dense + sparse + tfidf

    def transform_linear(
        self, df: pd.DataFrame, report: InputReport | None = None
    ) -> sp.csr_matrix:
        report = report if report is not None else InputReport()
        n = len(df)
        kinds = {c.name: c.type for c in self.columns}
        raw: list[np.ndarray] = []
        stats: list[dict[str, Any]] = []
        onehots: list[tuple[np.ndarray, int]] = []
        for col_name, feat, v in self._base(df, report):
            kind = kinds[col_name]
            p = self.params_[col_name]
            if kind == "categorical":
                k = len(p["categories"]) + 2  # known levels, other, missing
                onehots.append((np.where(np.isnan(v), k - 1, v).astype(np.int64), k))
                continue
            if kind == "datetime":
                stats.append(p["parts"][feat.split("__")[-1]])
            elif kind == "text":
                stats.append(_TEXT_STATS)
                v = np.log1p(v)
            else:
                stats.append(p)
            raw.append(v)
        dense = _standardized(raw, stats, n)
        tfidf = []
        for col in self.columns:
            if col.type == "text":
                m = self._tfidf(df, col.name, TEXT_TERMS_LINEAR)
                if m is not None:
                    tfidf.append(m)
        if n <= fewrows.FEW_ROWS:  # one dense matrix: the same values and order, at less cost
            width = dense.shape[1] + sum(k for _, k in onehots) + sum(m.shape[1] for m in tfidf)
            full = np.zeros((n, width))
            full[:, : dense.shape[1]] = dense
            j = dense.shape[1]
            for codes, k in onehots:
                full[np.arange(n), j + codes] = 1.0
                j += k
            for m in tfidf:
                full[:, j : j + m.shape[1]] = m.toarray()
                j += m.shape[1]
            return sp.csr_matrix(full)
        blocks: list[sp.csr_matrix] = []
        if dense.shape[1]:
            blocks.append(sp.csr_matrix(dense))
        for codes, k in onehots:
            blocks.append(
                sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, k), dtype="float64")
            )
        blocks += tfidf
        if not blocks:
            return sp.csr_matrix((n, 0))
        return sp.hstack(blocks, format="csr")

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "known": self.known,
            "params": self.params_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        obj = cls([ColumnInfo(**c) for c in data["columns"]], data.get("known"))
        obj.params_ = data["params"]
        return obj


_TEXT_STATS = {"median": 0.0, "mean": 0.0, "std": 1.0, "has_missing": False}


def _standardized(raw: list[np.ndarray], stats: list[dict[str, Any]], n: int) -> np.ndarray:
    """The linear encoding's dense features: each raw feature with missing values set to its
    median, centred, scaled and clipped to [-10, 10], followed by a 0/1 missing indicator when
    training rows had missing values."""
    if not raw:
        return np.zeros((n, 0))
    values = np.column_stack(raw)
    missing = np.isnan(values)
    median = np.asarray([st["median"] for st in stats], dtype="float64")
    mean = np.asarray([st["mean"] for st in stats], dtype="float64")
    std = np.asarray([st["std"] for st in stats], dtype="float64")
    scaled = np.clip((np.where(missing, median, values) - mean) / std, -10, 10)
    flagged = [i for i, st in enumerate(stats) if st["has_missing"]]
    spots = np.arange(len(stats)) + np.searchsorted(flagged, np.arange(len(stats)))
    out = np.empty((n, len(stats) + len(flagged)))
    out[:, spots] = scaled
    out[:, spots[flagged] + 1] = missing[:, flagged]
    return out
