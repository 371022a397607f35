"""Join two tables: key suggestions, a row-count preview with warnings before running, and the join.

Keys follow SQL semantics: a missing key value never matches anything (pandas alone would match
missing with missing). Keys whose types differ (numbers on one side, text on the other) are
compared as numbers when the text parses as numbers, else as text, and the preview says so.
Non-key columns present on both sides keep their name on the left and get ``_right`` on the right.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from automl.coltypes import infer_column, named_like_key
from automl.errors import DataError, ParameterError, invalid_parameter

How = Literal["inner", "left", "right", "outer"]
HOWS: tuple[str, ...] = ("inner", "left", "right", "outer")
RIGHT_SUFFIX = "_right"
EXPLOSION_WARN = 1.5  # result rows / larger input's rows above which we warn
MAX_RESULT_ROWS = 50_000_000
_SAMPLE = 50_000


@dataclass(frozen=True)
class JoinSpec:
    """How to join: left key columns, matching right key columns, and the join type."""

    left_on: tuple[str, ...]
    right_on: tuple[str, ...]
    how: str = "inner"

    @classmethod
    def on(cls, keys: str | list[str] | tuple[str, ...], how: str = "inner") -> JoinSpec:
        """Keys as ``"id"``, ``["id", "date"]`` or ``"cust_id=customer_id"`` (left=right)."""
        items = [k.strip() for k in keys.split(",")] if isinstance(keys, str) else list(keys)
        left, right = [], []
        for item in items:
            lk, sep, rk = item.partition("=")
            left.append(lk.strip())
            right.append((rk if sep else lk).strip())
        return cls(tuple(left), tuple(right), how)

    def to_dict(self) -> dict[str, Any]:
        return {"left_on": list(self.left_on), "right_on": list(self.right_on), "how": self.how}


@dataclass
class KeySuggestion:
    left: str
    right: str
    score: float
    reason: str


@dataclass
class JoinPreview:
    """What the join will produce, computed from key counts without running it."""

    rows: int
    left_rows: int
    right_rows: int
    left_matched: int
    right_matched: int
    factor: float
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _validate(left: pd.DataFrame, right: pd.DataFrame, spec: JoinSpec) -> None:
    if spec.how not in HOWS:
        raise invalid_parameter("how", "join", "one of " + ", ".join(HOWS), spec.how)
    if not spec.left_on or len(spec.left_on) != len(spec.right_on):
        raise ParameterError(
            "Give the same number of key columns for both tables (e.g. --on id, or "
            "--on cust_id=customer_id)."
        )
    for side, df, keys in (("left", left, spec.left_on), ("right", right, spec.right_on)):
        for k in keys:
            if k not in df.columns:
                near = difflib.get_close_matches(k, [str(c) for c in df.columns], n=3)
                hint = f" Did you mean {', '.join(near)}?" if near else ""
                raise ParameterError(f"The {side} table has no column '{k}'.{hint}")
        if len(set(keys)) != len(keys):
            raise ParameterError(f"A key column is listed twice for the {side} table.")


def _is_num(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _align_keys(
    left: pd.DataFrame, right: pd.DataFrame, spec: JoinSpec
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Make each key pair comparable; say what was converted."""
    notes: list[str] = []
    lk = left[list(spec.left_on)].copy()
    rk = right[list(spec.right_on)].copy()
    for a, b in zip(spec.left_on, spec.right_on, strict=True):
        ls, rs = lk[a], rk[b]
        if _is_num(ls) and _is_num(rs):
            lk[a], rk[b] = ls.astype("float64"), rs.astype("float64")
            continue
        if _is_num(ls) != _is_num(rs):
            text_side, text = ("left", ls) if _is_num(rs) else ("right", rs)
            as_num = pd.to_numeric(text, errors="coerce")
            if as_num.notna().sum() == text.notna().sum():
                lk[a] = pd.to_numeric(ls, errors="coerce").astype("float64")
                rk[b] = pd.to_numeric(rs, errors="coerce").astype("float64")
                notes.append(
                    f"Key {a}/{b}: the {text_side} table stores it as text; its values were "
                    "compared as numbers."
                )
                continue
            notes.append(
                f"Key {a}/{b} is a number on one side and text on the other; they were compared "
                "as text. If nothing matches, change one column's type."
            )
        lk[a] = _as_text(ls)
        rk[b] = _as_text(rs)
    return lk, rk, notes


def _as_text(s: pd.Series) -> pd.Series:
    if _is_num(s):
        vals = s.astype("float64")
        whole = vals.dropna()
        if len(whole) and np.isfinite(whole).all() and (whole == np.round(whole)).all():
            return vals.map(lambda v: str(int(v)), na_action="ignore").astype(object)
    return s.astype("string").str.strip().astype(object).where(s.notna())


def _key_counts(
    lk: pd.DataFrame, rk: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct key: its count on the left and the right (missing keys are left out).

    Returns (left counts, right counts for the same keys, right counts, left counts for them).
    """
    n_left = len(lk)
    codes = np.zeros(n_left + len(rk), dtype=np.int64)
    valid = np.ones(n_left + len(rk), dtype=bool)
    size = 1
    for col in lk.columns:
        both = pd.concat([lk[col], rk[col]], ignore_index=True)
        c, uniques = pd.factorize(both, use_na_sentinel=True)
        valid &= c >= 0
        codes = codes * (len(uniques) + 1) + np.maximum(c, 0)
        size *= len(uniques) + 1
    if len(lk.columns) > 1 or size > 4 * len(codes) + 1:
        codes = pd.factorize(codes)[0]
    codes = np.where(valid, codes, -1)
    k = int(codes.max()) + 1 if len(codes) else 0
    lcodes, rcodes = codes[:n_left], codes[n_left:]
    lcount = np.bincount(lcodes[lcodes >= 0], minlength=k)
    rcount = np.bincount(rcodes[rcodes >= 0], minlength=k)
    has_l, has_r = lcount > 0, rcount > 0
    return lcount[has_l], rcount[has_l], rcount[has_r], lcount[has_r]


def preview_join(left: pd.DataFrame, right: pd.DataFrame, spec: JoinSpec) -> JoinPreview:
    """Row counts and warnings for the join, from key value counts (cheap even for large tables)."""
    _validate(left, right, spec)
    lk, rk, notes = _align_keys(left, right, spec)
    names = [f"k{i}" for i in range(len(spec.left_on))]
    lk.columns = names
    rk.columns = names
    l_vals, r_on_l, r_vals, l_on_r = _key_counts(lk, rk)
    inner = int((l_vals * r_on_l).sum())
    left_matched = int(l_vals[r_on_l > 0].sum())
    right_matched = int(r_vals[l_on_r > 0].sum())
    left_unmatched = len(left) - left_matched
    right_unmatched = len(right) - right_matched
    rows = {
        "inner": inner,
        "left": inner + left_unmatched,
        "right": inner + right_unmatched,
        "outer": inner + left_unmatched + right_unmatched,
    }[spec.how]
    factor = rows / max(1, max(len(left), len(right)))
    warnings: list[str] = []
    keys = ", ".join(spec.left_on)
    if inner == 0:
        warnings.append(
            f"No rows match on {keys}: the key values of the two tables never agree. Check that "
            "the keys mean the same thing on both sides (and have the same type and format)."
        )
    many = int(((l_vals > 1) & (r_on_l > 1)).sum())
    if many:
        warnings.append(
            f"Many-to-many join: {many:,} key values repeat in both tables, so their rows "
            f"multiply ({rows:,} result rows, {factor:.1f}x the larger table). Usually one side "
            "should have each key once: deduplicate it or add a key column."
        )
    elif factor > EXPLOSION_WARN:
        warnings.append(
            f"The result has {factor:.1f}x the rows of the larger table ({rows:,} rows) because "
            "keys repeat. Check that this is what you want."
        )
    l_null = int(lk.isna().any(axis=1).sum())
    r_null = int(rk.isna().any(axis=1).sum())
    if l_null or r_null:
        warnings.append(
            f"Rows with a missing key never match: {l_null:,} on the left, {r_null:,} on the right."
        )
    if spec.how in ("left", "outer") and left_unmatched and inner:
        notes.append(f"{left_unmatched:,} left rows have no match; their right columns are empty.")
    if spec.how in ("right", "outer") and right_unmatched and inner:
        notes.append(f"{right_unmatched:,} right rows have no match; their left columns are empty.")
    return JoinPreview(
        rows, len(left), len(right), left_matched, right_matched, factor, warnings, notes
    )


def join(
    left: pd.DataFrame, right: pd.DataFrame, spec: JoinSpec, max_rows: int = MAX_RESULT_ROWS
) -> tuple[pd.DataFrame, JoinPreview]:
    """Run the join; refuses (with the factor) a result above ``max_rows`` rows."""
    pv = preview_join(left, right, spec)
    if pv.rows > max_rows:
        raise DataError(
            f"This join would make {pv.rows:,} rows ({pv.factor:.1f}x the larger table), over the "
            f"limit of {max_rows:,}. Keys repeat on both sides: deduplicate one table or join on "
            "more columns."
        )
    lk, rk, notes = _align_keys(left, right, spec)
    no_nulls = not lk.isna().any(axis=None) and not rk.isna().any(axis=None)
    if no_nulls and not any("compared as" in n for n in notes) and _same_kind(lk, rk):
        # plain case: pandas joins it directly with the same result
        same_names = list(spec.left_on) == list(spec.right_on)
        keys = (
            {"on": list(spec.left_on)}
            if same_names
            else {
                "left_on": list(spec.left_on),
                "right_on": list(spec.right_on),
            }
        )
        merged = left.merge(
            right,
            how=spec.how,
            sort=False,
            suffixes=("", RIGHT_SUFFIX),
            **keys,
        )
        return merged, pv
    tmp_names = [f"__easel_key_{i}" for i in range(len(spec.left_on))]
    lx = left.copy()
    rx = right.copy()
    for t, a, b in zip(tmp_names, spec.left_on, spec.right_on, strict=True):
        lx[t] = lk[a].to_numpy()
        rx[t] = rk[b].to_numpy()
    lnull = lx[tmp_names].isna().any(axis=1)
    rnull = rx[tmp_names].isna().any(axis=1)
    rest = [c for c in rx.columns if c not in tmp_names]
    clash = {c: f"{c}{RIGHT_SUFFIX}" for c in rest if c in lx.columns}
    rx = rx.rename(columns=clash)
    merged = lx[~lnull].merge(rx[~rnull], on=tmp_names, how=spec.how, sort=False)
    parts = [merged]
    if spec.how in ("left", "outer") and lnull.any():
        parts.append(lx[lnull])
    if spec.how in ("right", "outer") and rnull.any():
        parts.append(rx[rnull])
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else merged.reset_index(drop=True)
    out = out.drop(columns=tmp_names)
    for a, b in zip(spec.left_on, spec.right_on, strict=True):
        if a != b:
            continue
        # a key with one name on both sides is one column, filled from whichever side had the row
        twin = f"{b}{RIGHT_SUFFIX}"
        if spec.how in ("right", "outer"):
            filled = out[a].astype(object).where(out[a].notna(), out[twin].astype(object))
            out[a] = _restore_dtype(filled, left[a], right[b])
        out = out.drop(columns=[twin])
    return out, pv


def _same_kind(lk: pd.DataFrame, rk: pd.DataFrame) -> bool:
    """Key pairs of one kind and dtype family (so pandas compares them as we do)."""
    for a, b in zip(lk.columns, rk.columns, strict=True):
        la, rb = lk[a].dtype, rk[b].dtype
        if la != rb and not (_is_num(lk[a]) and _is_num(rk[b])):
            return False
    return True


def _restore_dtype(values: pd.Series, *like: pd.Series) -> pd.Series:
    for ref in like:
        try:
            if values.isna().any() and pd.api.types.is_integer_dtype(ref):
                continue
            return values.astype(ref.dtype)
        except (TypeError, ValueError):
            continue
    return values.infer_objects()


def suggest_keys(left: pd.DataFrame, right: pd.DataFrame, top: int = 5) -> list[KeySuggestion]:
    """Likely key pairs, best first, ranked by name similarity and value overlap.

    A pair is suggested only when the names agree (the same, or alike: ``CustID`` and
    ``cust_id``, ``customer_id`` and ``customer``) and one side looks like a key (an identifier,
    a code, a key name, or unique values), or when both columns are keys of the same kind (both
    whole numbers or both text) whose values overlap. Shared values alone are not enough: every
    small whole number (an age, a tenure in years) is also some worker's ID.
    """
    ls = left.head(_SAMPLE) if len(left) > _SAMPLE else left
    rs = right.head(_SAMPLE) if len(right) > _SAMPLE else right
    out: list[KeySuggestion] = []
    rinfo = {str(rc): _KeyColumn.of(str(rc), rs[rc]) for rc in rs.columns}
    for lc in ls.columns:
        a = _KeyColumn.of(str(lc), ls[lc])
        if len(a.values) < 2:
            continue
        for rc in rs.columns:
            b = rinfo[str(rc)]
            if len(b.values) < 2 or (a.kind != b.kind and not _numbers_as_text(a, b)):
                continue
            common = len(a.values & b.values)
            if common == 0:
                continue
            name = _name_similarity(a.name, b.name)
            overlap = common / min(len(a.values), len(b.values))
            uniq = max(a.unique_share, b.unique_share)
            if name >= NAME_ALIKE:
                # alike names, but two measurements (age and age) are not a key either
                if not (a.key_like or b.key_like or uniq >= 0.9):
                    continue
            elif not (a.key_like and b.key_like) or overlap < 0.8 or uniq < 0.9:
                continue
            score = 0.45 * name + 0.4 * overlap + 0.15 * uniq
            why = []
            if name == 1.0:
                why.append("same name")
            elif name >= NAME_ALIKE:
                why.append("similar name")
            else:
                why.append("both look like keys")
            why.append(f"{overlap:.0%} of values shared")
            if uniq > 0.95:
                why.append("unique on one side")
            out.append(KeySuggestion(a.name, b.name, round(score, 3), ", ".join(why)))
    out.sort(key=lambda s: -s.score)
    return out[:top]


NAME_ALIKE = 0.6  # name similarity from which two columns are "similar names"


@dataclass
class _KeyColumn:
    """What key suggestion needs to know about one column."""

    name: str
    kind: str  # "whole" (whole numbers), "text", "date", or "other" (decimals, true/false)
    key_like: bool  # typed as an identifier or a code, or named like a key
    values: set[str]
    unique_share: float

    @classmethod
    def of(cls, name: str, s: pd.Series) -> _KeyColumn:
        present = s.dropna()
        if pd.api.types.is_bool_dtype(s):
            kind = "other"
        elif pd.api.types.is_datetime64_any_dtype(s):
            kind = "date"
        elif _is_num(s):
            whole = bool(len(present) == 0 or (present == np.round(present)).all())
            kind = "whole" if whole else "other"
        else:
            kind = "text"
        typed = infer_column(name, s).type if kind in ("whole", "text") else "other"
        key_like = typed in ("identifier", "categorical") or named_like_key(name)
        values = set(_as_text(s).dropna().unique().tolist()) if kind != "other" else set()
        share = s.nunique(dropna=True) / max(1, len(present))
        return cls(name, kind, key_like, values, float(share))


def _numbers_as_text(a: _KeyColumn, b: _KeyColumn) -> bool:
    """Whole numbers on one side and text on the other still pair when the text is numbers (the
    join compares them as numbers then)."""
    kinds = {a.kind, b.kind}
    if kinds != {"whole", "text"}:
        return False
    text = a if a.kind == "text" else b
    return all(_WHOLE.match(v) for v in list(text.values)[:1000])


_WHOLE = re.compile(r"^[-+]?\d+$")


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


_KEY_WORDS = {"id", "key", "no", "nr", "number", "code", "uuid", "guid"}


def _name_similarity(a: str, b: str) -> float:
    """How alike two column names are, 0 to 1, the words for a key (id, key, no, code ...) set
    aside: 1 for the same name (case, spaces and underscores aside: ``CustID`` / ``cust_id``),
    0.9 when only a key word differs (``customer_id`` / ``customer``), 0.8 for an abbreviation
    (``cust_id`` / ``customer_id``), else the share of letters in common (0 below one half:
    ``worker_id`` / ``age``)."""
    if _norm(a) == _norm(b):
        return 1.0
    ta, tb = _tokens(a), _tokens(b)
    ca = "".join([t for t in ta if t not in _KEY_WORDS] or ta)
    cb = "".join([t for t in tb if t not in _KEY_WORDS] or tb)
    if ca == cb:
        return 0.9
    if min(len(ca), len(cb)) >= 3 and (ca.startswith(cb) or cb.startswith(ca)):
        return 0.8
    ratio = difflib.SequenceMatcher(None, ca, cb).ratio()
    return round(ratio, 3) if ratio >= 0.5 else 0.0


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace(" ", "").replace("-", "")
